//! The simulator's HTTP face: the router (the configured dialect's routes from `guide`,
//! `v1` or `v2`), a gate middleware that does counting, latency, rate limiting, auth and
//! fault injection for every request, and `spawn`/`shutdown` of a background server.
//! Knows no dialect's wire format.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::faults::{self, add_rate_headers, retry_after_value, Dice};
use super::respond::{account_rejection, error, not_found, unauthorized};
use super::{SimConfig, SimStats, Simulator};

// ---------------------------------------------------------------------------------------
// Endpoints and counters
// ---------------------------------------------------------------------------------------

/// The endpoint a request addresses, for counting and scope checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    PersonnelList = 0,
    PersonnelGet = 1,
    Training = 2,
    BackgroundChecks = 3,
    ControlsList = 4,
    Other = 5,
    /// v2 `GET /users/{userId}/assigned-policies`.
    Policies = 6,
}

impl Endpoint {
    const ALL: [Endpoint; 7] = [
        Endpoint::PersonnelList,
        Endpoint::PersonnelGet,
        Endpoint::Training,
        Endpoint::BackgroundChecks,
        Endpoint::ControlsList,
        Endpoint::Other,
        Endpoint::Policies,
    ];

    pub(crate) fn key(self) -> &'static str {
        match self {
            Endpoint::PersonnelList => "personnel_list",
            Endpoint::PersonnelGet => "personnel_get",
            Endpoint::Training => "training",
            Endpoint::BackgroundChecks => "background_checks",
            Endpoint::ControlsList => "controls_list",
            Endpoint::Other => "other",
            Endpoint::Policies => "policies",
        }
    }

    /// The scope a key needs; `None` for paths that do not exist (those answer 404).
    fn scope(self) -> Option<&'static str> {
        match self {
            Endpoint::PersonnelList | Endpoint::PersonnelGet | Endpoint::Training | Endpoint::BackgroundChecks => {
                Some(super::SCOPE_PERSONNEL_READ)
            }
            Endpoint::ControlsList => Some(super::SCOPE_CONTROLS_READ),
            Endpoint::Policies => Some(super::SCOPE_POLICIES_READ),
            Endpoint::Other => None,
        }
    }

    /// Mirrors the router below: must agree with it on what exists.
    pub(crate) fn classify(method: &Method, path: &str) -> Endpoint {
        if method != Method::GET && method != Method::HEAD {
            return Endpoint::Other;
        }
        let Some(rest) = path.strip_prefix("/public/") else {
            return Endpoint::Other;
        };
        let segs: Vec<&str> = rest.split('/').collect();
        match segs.as_slice() {
            ["personnel"] => Endpoint::PersonnelList,
            ["personnel", id] if !id.is_empty() => Endpoint::PersonnelGet,
            ["personnel", id, "training"] if !id.is_empty() => Endpoint::Training,
            ["personnel", id, "background-checks"] if !id.is_empty() => Endpoint::BackgroundChecks,
            ["controls"] => Endpoint::ControlsList,
            // The real v1/v2 dialects' paths (`sim::v1`, `sim::v2`).
            ["users", id, "documents"] | ["v2", "users", id, "documents"] if !id.is_empty() => Endpoint::Training,
            ["v2", "users", id, "assigned-policies"] if !id.is_empty() => Endpoint::Policies,
            ["v2", "personnel"] => Endpoint::PersonnelList,
            ["v2", "users"] => Endpoint::BackgroundChecks,
            // The devices join of the personnel listing.
            ["v2", "devices"] => Endpoint::PersonnelList,
            ["controls", id, "owners"] if !id.is_empty() => Endpoint::ControlsList,
            ["v2", "workspaces"] => Endpoint::ControlsList,
            ["v2", "workspaces", ws, "controls"] if !ws.is_empty() => Endpoint::ControlsList,
            ["v2", "workspaces", ws, "controls", id, "owners"] if !ws.is_empty() && !id.is_empty() => {
                Endpoint::ControlsList
            }
            _ => Endpoint::Other,
        }
    }
}

const STATUS_SLOTS: usize = 600;

/// Lock-free request counters.
#[derive(Debug)]
pub(crate) struct Counters {
    /// Request numbers for fault dice; never reset, so faults stay reproducible.
    seq: AtomicU64,
    /// Number of 429s sent; picks the `Retry-After` form; never reset.
    nth_429: AtomicU64,
    requests_total: AtomicU64,
    by_endpoint: [AtomicU64; 7],
    by_status: Vec<AtomicU64>,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    rate_limited: AtomicU64,
    faults_injected: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            seq: AtomicU64::new(0),
            nth_429: AtomicU64::new(0),
            requests_total: AtomicU64::new(0),
            by_endpoint: Default::default(),
            by_status: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            faults_injected: AtomicU64::new(0),
        }
    }
}

impl Counters {
    fn fault(&self) {
        self.faults_injected.fetch_add(1, Relaxed);
    }

    pub(crate) fn drift_event(&self) {
        self.fault();
    }
}

/// Counts a request as in flight until dropped (possibly inside a streaming body).
struct InFlight(Arc<Simulator>);

impl InFlight {
    fn enter(sim: Arc<Simulator>) -> Self {
        let now = sim.counters.in_flight.fetch_add(1, Relaxed) + 1;
        sim.counters.peak_in_flight.fetch_max(now, Relaxed);
        InFlight(sim)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.counters.in_flight.fetch_sub(1, Relaxed);
    }
}

impl Simulator {
    pub fn stats(&self) -> SimStats {
        let c = &self.counters;
        SimStats {
            requests_total: c.requests_total.load(Relaxed),
            requests_by_endpoint: Endpoint::ALL
                .iter()
                .map(|e| (e.key().to_string(), c.by_endpoint[*e as usize].load(Relaxed)))
                .collect(),
            responses_by_status: c
                .by_status
                .iter()
                .enumerate()
                .filter_map(|(code, n)| {
                    let n = n.load(Relaxed);
                    (n > 0).then_some((code as u16, n))
                })
                .collect(),
            peak_in_flight: c.peak_in_flight.load(Relaxed),
            rate_limited: c.rate_limited.load(Relaxed),
            faults_injected: c.faults_injected.load(Relaxed),
        }
    }

    /// Zero the counters. Requests in flight stay counted (the peak restarts from them);
    /// the request sequence behind fault decisions is not reset.
    pub fn reset_stats(&self) {
        let c = &self.counters;
        c.requests_total.store(0, Relaxed);
        c.by_endpoint.iter().for_each(|a| a.store(0, Relaxed));
        c.by_status.iter().for_each(|a| a.store(0, Relaxed));
        c.peak_in_flight.store(c.in_flight.load(Relaxed), Relaxed);
        c.rate_limited.store(0, Relaxed);
        c.faults_injected.store(0, Relaxed);
    }

    /// The axum router serving the configured dialect (guide by default) under `/public`.
    pub fn router(self: &Arc<Self>) -> Router {
        let routes = match self.cfg.dialect {
            super::SimDialect::Guide => super::guide::routes(),
            super::SimDialect::V1 => super::v1::routes(),
            super::SimDialect::V2 => super::v2::routes(),
        };
        routes
            .fallback(no_route)
            .method_not_allowed_fallback(no_route)
            .layer(axum::middleware::from_fn_with_state(self.clone(), gate))
            .with_state(self.clone())
    }

    /// Bind `addr` and serve in a background task.
    pub async fn spawn(cfg: SimConfig, addr: SocketAddr) -> std::io::Result<RunningSim> {
        use axum::serve::ListenerExt;
        let sim = Simulator::new(cfg);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        // Small JSON responses on keep-alive connections: do not let Nagle hold them.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let app = sim.router();
        let (tx, rx) = oneshot::channel::<()>();
        let join = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        Ok(RunningSim { addr, sim, shutdown: Some(tx), join: Some(join) })
    }

    /// The 401/403 answer for a request whose key may not call `endpoint`, if any.
    fn auth_rejection(&self, endpoint: Endpoint, headers: &HeaderMap) -> Option<Response> {
        let scope = endpoint.scope()?;
        let key = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
        let Some(key) = key else {
            return Some(unauthorized("Missing bearer token"));
        };
        match self.keys.get(key) {
            None => Some(unauthorized("Invalid API key")),
            Some(scopes) if !scopes.contains(scope) => Some(error(
                StatusCode::FORBIDDEN,
                "ForbiddenException",
                &format!("API key is missing the required scope: {scope}"),
            )),
            Some(_) => None,
        }
    }
}

/// A simulator serving in a background task. Dropping it without [`RunningSim::shutdown`]
/// aborts the server task.
#[derive(Debug)]
pub struct RunningSim {
    pub addr: SocketAddr,
    pub sim: Arc<Simulator>,
    shutdown: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningSim {
    /// `http://127.0.0.1:PORT`, without `/public` (clients add it).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop accepting, let in-flight requests finish (for up to 2 s), then stop.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut join) = self.join.take() {
            if tokio::time::timeout(Duration::from_secs(2), &mut join).await.is_err() {
                join.abort();
            }
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(join) = self.join.take() {
            join.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The gate: counting, latency, rate limit, auth, faults
// ---------------------------------------------------------------------------------------

async fn gate(State(sim): State<Arc<Simulator>>, req: Request, next: Next) -> Response {
    let c = &sim.counters;
    let mut guard = Some(InFlight::enter(sim.clone()));
    let seq = c.seq.fetch_add(1, Relaxed);
    let endpoint = Endpoint::classify(req.method(), req.uri().path());
    c.requests_total.fetch_add(1, Relaxed);
    c.by_endpoint[endpoint as usize].fetch_add(1, Relaxed);
    // An in-flight limiter decides on arrival and holds the slot through the latency (the
    // backend's time); its refusals are answered at once.
    let (arrival, _slot) = sim.limiter.as_ref().map_or((None, None), |l| l.enter());

    if !sim.cfg.latency.is_zero() && arrival.is_none_or(|d| d.allowed) {
        tokio::time::sleep(sim.cfg.latency).await;
    }
    let resp = respond(&sim, seq, endpoint, req, next, &mut guard, arrival).await;
    let status = resp.status().as_u16() as usize;
    c.by_status[status.min(STATUS_SLOTS - 1)].fetch_add(1, Relaxed);
    drop(guard);
    resp
}

async fn respond(
    sim: &Arc<Simulator>,
    seq: u64,
    endpoint: Endpoint,
    req: Request,
    next: Next,
    guard: &mut Option<InFlight>,
    arrival: Option<faults::RateDecision>,
) -> Response {
    let f = &sim.cfg.faults;
    let c = &sim.counters;
    if f.html_login {
        // A different host altogether: no API headers.
        return faults::html_login();
    }
    let dice = Dice::new(f.fault_seed, seq);
    let rate = arrival.or_else(|| sim.limiter.as_ref().map(|l| l.check()));

    let mut resp = if let Some(d) = rate.filter(|d| !d.allowed) {
        c.rate_limited.fetch_add(1, Relaxed);
        let nth = c.nth_429.fetch_add(1, Relaxed);
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "ThrottlerException", "ThrottlerException: Too Many Requests");
        r.headers_mut().insert(header::RETRY_AFTER, retry_after_value(nth, d.retry_after_secs));
        r
    } else if f.unauthorized {
        unauthorized("Invalid API key")
    } else if let Some(r) = sim.cfg.account_fault.filter(|_| endpoint != Endpoint::Other).map(account_rejection) {
        r
    } else if let Some(r) = sim.auth_rejection(endpoint, req.headers()) {
        r
    } else if let Some(code) = dice.html_error(f) {
        c.fault();
        faults::html_error(code)
    } else {
        if dice.slow(f) {
            c.fault();
            tokio::time::sleep(f.slow).await;
        }
        let r = next.run(req).await;
        if r.status() == StatusCode::OK && (f.cut_rate > 0.0 || f.truncate_rate > 0.0) {
            mangle(sim, dice, r, guard).await
        } else {
            r
        }
    };
    if let Some(d) = rate.filter(|_| f.rate_headers) {
        add_rate_headers(resp.headers_mut(), &d);
    }
    resp
}

/// Maybe cut or truncate a 200 body.
async fn mangle(sim: &Arc<Simulator>, dice: Dice, resp: Response, guard: &mut Option<InFlight>) -> Response {
    let f = &sim.cfg.faults;
    let (parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if let Some(keep) = dice.cut(f, bytes.len()) {
        sim.counters.fault();
        return faults::cut(parts, bytes, keep, guard.take());
    }
    if let Some(keep) = dice.truncate(f, bytes.len()) {
        sim.counters.fault();
        return faults::truncated(parts, bytes, keep);
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn no_route(method: Method, uri: Uri) -> Response {
    not_found(&format!("Cannot {method} {}", uri.path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_paths() {
        let g = Method::GET;
        assert_eq!(Endpoint::classify(&g, "/public/personnel"), Endpoint::PersonnelList);
        assert_eq!(Endpoint::classify(&g, "/public/personnel/abc"), Endpoint::PersonnelGet);
        assert_eq!(Endpoint::classify(&g, "/public/personnel/abc/training"), Endpoint::Training);
        assert_eq!(Endpoint::classify(&g, "/public/personnel/abc/background-checks"), Endpoint::BackgroundChecks);
        assert_eq!(Endpoint::classify(&g, "/public/controls"), Endpoint::ControlsList);
        assert_eq!(Endpoint::classify(&g, "/public/v2/users/100001/assigned-policies"), Endpoint::Policies);
        for other in ["/", "/public", "/public/personnel/", "/public/personnel//training", "/personnel"] {
            assert_eq!(Endpoint::classify(&g, other), Endpoint::Other, "{other}");
        }
        assert_eq!(Endpoint::classify(&Method::POST, "/public/personnel"), Endpoint::Other);
    }
}
