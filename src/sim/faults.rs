//! Fault injection for the simulator: rate limiting (in one of four shapes: token bucket,
//! penalty window, fixed window, requests in flight), load-balancer HTML errors, cut
//! connections, truncated JSON, slow responses, a capped page size, list drift, bad
//! auth and the wrong host (an HTML login page).
//!
//! Every probabilistic decision is a pure function of `(fault_seed, request number,
//! fault kind)`, so a failing test replays the same faults. The token bucket is written
//! by hand (a dozen lines) because the simulator needs to *report* its state in
//! `X-RateLimit-*` headers and compute `Retry-After`, which `governor` does not expose.
//!
//! This module decides and shapes faults; it knows nothing about personnel data.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::data::{hash3, unit_f64};

/// Which faults the simulator injects. `Faults::default()` injects none.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// The limit (a token bucket unless `rate_shape` says otherwise); over it answers 429
    /// with `Retry-After` (alternating between delta-seconds and an HTTP-date). When set,
    /// every API response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
    /// `X-RateLimit-Reset` unless `rate_headers` is off.
    pub rate_limit: Option<RateLimit>,
    /// How that limiter behaves (`--rate-limit-shape`): the token bucket by default.
    pub rate_shape: LimiterShape,
    /// Whether responses carry the `X-RateLimit-*` quota headers (`Retry-After` on a 429
    /// is sent either way, and always honest).
    pub rate_headers: bool,
    /// Fraction of requests answered 502 or 503 with an HTML body, like a load balancer.
    pub html_error_rate: f64,
    /// Fraction of 200 responses whose connection is cut mid-body.
    pub cut_rate: f64,
    /// Fraction of 200 responses whose JSON body is truncated (valid HTTP, invalid JSON).
    pub truncate_rate: f64,
    /// Fraction of responses delayed by `slow` (meant to exceed the client's timeout).
    pub slow_rate: f64,
    pub slow: Duration,
    /// The server caps `limit` at this value (below 100) and echoes its own limit.
    pub max_page_limit: Option<u32>,
    /// The personnel list shifts under a paging reader.
    pub drift: Option<Drift>,
    /// 401 on every request.
    pub unauthorized: bool,
    /// Every request answers 200 with an HTML login page (what app.drata.com returns).
    pub html_login: bool,
    /// Fraction of people who stay listed but whose child endpoints answer 404, as if they
    /// were deleted between listing and enrichment (chosen per person, stable).
    pub vanished_rate: f64,
    /// Fraction of people whose child endpoints always answer 503 (a persistent failure no
    /// retry cures; chosen per person, stable).
    pub broken_rate: f64,
    /// Added to the personnel list's reported `total` (a server whose count is wrong).
    pub total_skew: i64,
    /// Fault decisions are deterministic from `(fault_seed, request number)`.
    pub fault_seed: u64,
    /// Offset listings (guide and v1 personnel) sort unstably: every page after the first
    /// starts a few places off where it should (a different few on every pass), so pages
    /// repeat some people and skip others while `total` stays put.
    pub unstable_order: bool,
    /// v2 listings hand back the cursor they were sent on their last page, instead of a
    /// null cursor (what some endpoints do).
    pub cursor_echo: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rate_limit: None,
            rate_shape: LimiterShape::Bucket,
            rate_headers: true,
            html_error_rate: 0.0,
            cut_rate: 0.0,
            truncate_rate: 0.0,
            slow_rate: 0.0,
            slow: Duration::from_secs(30),
            max_page_limit: None,
            drift: None,
            unauthorized: false,
            html_login: false,
            vanished_rate: 0.0,
            broken_rate: 0.0,
            total_skew: 0,
            fault_seed: 0,
            unstable_order: false,
            cursor_echo: false,
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// The limiter's shape, for `rate_limit`'s numbers. Real gateways differ in what a client
/// pays for going over, which is what the client's pacing must cope with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimiterShape {
    /// A token bucket: `per_second` refill, `burst` tokens; each refusal costs only itself.
    #[default]
    Bucket,
    /// The same bucket, but once it runs dry *every* request is refused for `length` (the
    /// bucket keeps refilling meanwhile), as many API gateways do.
    Penalty { length: Duration },
    /// A fixed window: `per_second x length` requests (at least one) per window of `length`,
    /// the count resetting at each window boundary (counted from the simulator's start).
    Window { length: Duration },
    /// At most `burst` requests in flight (from arrival, including the simulated latency);
    /// the rest are answered 429 at once, without the latency.
    InFlight,
}

/// List drift while a client pages personnel: on each list request with `page >= 2`,
/// `inserts_per_page` new people appear at the front (before the reader) and
/// `deletes_per_page` already-listed people (behind the reader) are deleted. After
/// `max_events` such requests the list stops moving, so a re-listing client converges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drift {
    pub inserts_per_page: usize,
    pub deletes_per_page: usize,
    pub max_events: usize,
}

// Independent hash streams per fault kind.
const KIND_HTML: u64 = 11;
const KIND_HTML_CODE: u64 = 12;
const KIND_CUT: u64 = 13;
const KIND_CUT_AT: u64 = 14;
const KIND_TRUNCATE: u64 = 15;
const KIND_TRUNCATE_AT: u64 = 16;
const KIND_SLOW: u64 = 17;
const KIND_DRIFT: u64 = 18;
const KIND_VANISHED: u64 = 19;
const KIND_BROKEN: u64 = 20;

/// A per-person fault of the child endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonFault {
    /// Listed, but the child endpoints answer 404.
    Vanished,
    /// The child endpoints always answer 503.
    Broken,
}

/// The stable fault (if any) of the person at `index`.
pub fn person_fault(f: &Faults, index: u64) -> Option<PersonFault> {
    let roll = |kind, rate: f64| rate > 0.0 && unit_f64(hash3(f.fault_seed, kind, index)) < rate;
    if roll(KIND_VANISHED, f.vanished_rate) {
        Some(PersonFault::Vanished)
    } else if roll(KIND_BROKEN, f.broken_rate) {
        Some(PersonFault::Broken)
    } else {
        None
    }
}

/// Deterministic dice for one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dice {
    seed: u64,
    request: u64,
}

impl Dice {
    pub(crate) fn new(seed: u64, request: u64) -> Self {
        Dice { seed, request }
    }

    fn hash(&self, kind: u64) -> u64 {
        hash3(self.seed, kind, self.request)
    }

    fn roll(&self, kind: u64, rate: f64) -> bool {
        rate > 0.0 && unit_f64(self.hash(kind)) < rate
    }

    /// `Some(502 | 503)` when this request gets a load-balancer HTML error.
    pub(crate) fn html_error(&self, f: &Faults) -> Option<StatusCode> {
        self.roll(KIND_HTML, f.html_error_rate).then(|| {
            if self.hash(KIND_HTML_CODE) & 1 == 0 {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            }
        })
    }

    pub(crate) fn slow(&self, f: &Faults) -> bool {
        self.roll(KIND_SLOW, f.slow_rate)
    }

    /// `Some(bytes to send)` when this 200 body of `len` bytes is cut mid-stream.
    pub(crate) fn cut(&self, f: &Faults, len: usize) -> Option<usize> {
        (len >= 2 && self.roll(KIND_CUT, f.cut_rate)).then(|| 1 + (self.hash(KIND_CUT_AT) % (len as u64 - 1)) as usize)
    }

    /// `Some(new length)` (1..len) when this 200 body of `len` bytes is truncated.
    pub(crate) fn truncate(&self, f: &Faults, len: usize) -> Option<usize> {
        (len >= 2 && self.roll(KIND_TRUNCATE, f.truncate_rate))
            .then(|| 1 + (self.hash(KIND_TRUNCATE_AT) % (len as u64 - 1)) as usize)
    }
}

/// A deterministic draw for the `k`-th choice of the `event`-th drift event.
pub(crate) fn drift_draw(seed: u64, event: u64, k: u64) -> u64 {
    hash3(seed ^ KIND_DRIFT, event, k)
}

/// With `unstable_order`: how many places page `page` (2 or later) of the `pass`-th reading
/// of the list starts off its offset, in `-s..=s` with `s = max(1, limit / 50)`. A pure
/// function of the pass and page (not of request order), so concurrent page requests get
/// the same shifts on every replay.
pub(crate) fn unstable_shift(seed: u64, pass: u64, page: u64, limit: u64) -> i64 {
    const KIND_UNSTABLE: u64 = 31;
    let s = (limit / 50).max(1);
    (hash3(seed ^ KIND_UNSTABLE, pass, page) % (2 * s + 1)) as i64 - s as i64
}

// ---------------------------------------------------------------------------------------
// Rate limiting
// ---------------------------------------------------------------------------------------

/// Outcome of one token-bucket check, with what the headers report.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// Seconds until one token is available (for `Retry-After`); 0 when allowed.
    pub retry_after_secs: u64,
}

#[derive(Debug)]
pub(crate) struct TokenBucket {
    cfg: RateLimit,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    fn new_at(cfg: RateLimit, now: Instant) -> Self {
        TokenBucket { cfg, state: Mutex::new((f64::from(cfg.burst), now)) }
    }

    fn check_at(&self, now: Instant) -> RateDecision {
        let burst = f64::from(self.cfg.burst.max(1));
        let rate = self.cfg.per_second.max(1e-9);
        let (allowed, tokens) = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let elapsed = now.saturating_duration_since(st.1).as_secs_f64();
            st.0 = (st.0 + elapsed * rate).min(burst);
            st.1 = st.1.max(now);
            if st.0 >= 1.0 {
                st.0 -= 1.0;
                (true, st.0)
            } else {
                (false, st.0)
            }
        };
        let secs = |deficit: f64| -> u64 {
            if deficit <= 0.0 {
                0
            } else {
                (deficit / rate).ceil().max(1.0) as u64
            }
        };
        RateDecision {
            allowed,
            limit: self.cfg.burst,
            remaining: tokens.floor().max(0.0) as u32,
            reset_secs: secs(burst - tokens),
            retry_after_secs: if allowed { 0 } else { secs(1.0 - tokens) },
        }
    }
}

/// Whole seconds covering `d`, at least one (a `Retry-After` of 0 would invite a retry
/// that is refused again).
fn ceil_secs(d: Duration) -> u64 {
    (d.as_secs_f64().ceil() as u64).max(1)
}

/// The simulator's rate limiter in one of its shapes (`LimiterShape`).
#[derive(Debug)]
pub(crate) enum Limiter {
    Bucket(TokenBucket),
    Penalty {
        bucket: TokenBucket,
        length: Duration,
        until: Mutex<Option<Instant>>,
    },
    /// `state`: (index of the current window, requests admitted in it).
    Window {
        start: Instant,
        length: Duration,
        quota: u32,
        state: Mutex<(u64, u32)>,
    },
    InFlight {
        max: u32,
        now: Arc<AtomicU32>,
    },
}

/// One admitted request of an in-flight limiter; the slot frees when this is dropped.
#[derive(Debug)]
pub(crate) struct InFlightSlot(Arc<AtomicU32>);

impl Drop for InFlightSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Limiter {
    pub(crate) fn new(cfg: RateLimit, shape: LimiterShape) -> Self {
        Self::new_at(cfg, shape, Instant::now())
    }

    fn new_at(cfg: RateLimit, shape: LimiterShape, now: Instant) -> Self {
        match shape {
            LimiterShape::Bucket => Limiter::Bucket(TokenBucket::new_at(cfg, now)),
            LimiterShape::Penalty { length } => {
                Limiter::Penalty { bucket: TokenBucket::new_at(cfg, now), length, until: Mutex::new(None) }
            }
            LimiterShape::Window { length } => {
                let length = length.max(Duration::from_millis(1));
                let quota = (cfg.per_second * length.as_secs_f64()).round().clamp(1.0, f64::from(u32::MAX)) as u32;
                Limiter::Window { start: now, length, quota, state: Mutex::new((0, 0)) }
            }
            LimiterShape::InFlight => Limiter::InFlight { max: cfg.burst.max(1), now: Arc::new(AtomicU32::new(0)) },
        }
    }

    /// An in-flight limiter's decision for a request arriving now, and its slot if admitted.
    /// The other shapes admit here and decide in `check`.
    pub(crate) fn enter(&self) -> (Option<RateDecision>, Option<InFlightSlot>) {
        let Limiter::InFlight { max, now } = self else {
            return (None, None);
        };
        let taken = now.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < *max).then_some(n + 1));
        let (allowed, busy) = match taken {
            Ok(n) => (true, n + 1),
            Err(n) => (false, n),
        };
        let decision = RateDecision {
            allowed,
            limit: *max,
            remaining: max.saturating_sub(busy),
            reset_secs: 0,
            // A slot frees when a request in flight is answered (within the simulated
            // latency); the smallest whole second covers that.
            retry_after_secs: if allowed { 0 } else { 1 },
        };
        (Some(decision), allowed.then(|| InFlightSlot(now.clone())))
    }

    /// The decision for a request reaching the limiter now (in-flight limiters: `enter`).
    pub(crate) fn check(&self) -> RateDecision {
        self.check_at(Instant::now())
    }

    fn check_at(&self, now: Instant) -> RateDecision {
        match self {
            Limiter::Bucket(b) => b.check_at(now),
            Limiter::Penalty { bucket, length, until } => {
                let mut until = until.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(end) = until.filter(|end| *end > now) {
                    let left = ceil_secs(end - now);
                    return RateDecision {
                        allowed: false,
                        limit: bucket.cfg.burst,
                        remaining: 0,
                        reset_secs: left,
                        retry_after_secs: left,
                    };
                }
                let mut d = bucket.check_at(now);
                if !d.allowed {
                    // Dry: everyone is refused for the whole penalty, whatever the bucket holds.
                    *until = Some(now + *length);
                    d.retry_after_secs = ceil_secs(*length);
                    d.reset_secs = d.reset_secs.max(d.retry_after_secs);
                }
                d
            }
            Limiter::Window { start, length, quota, state } => {
                let since = now.saturating_duration_since(*start).as_nanos();
                let index = (since / length.as_nanos()) as u64;
                let window_end = *start + length.mul_f64((index + 1) as f64);
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                if st.0 != index {
                    *st = (index, 0);
                }
                let allowed = st.1 < *quota;
                if allowed {
                    st.1 += 1;
                }
                let reset = ceil_secs(window_end.saturating_duration_since(now));
                RateDecision {
                    allowed,
                    limit: *quota,
                    remaining: quota - st.1,
                    reset_secs: reset,
                    retry_after_secs: if allowed { 0 } else { reset },
                }
            }
            // Decided on arrival (`enter`); nothing is counted over time.
            Limiter::InFlight { max, now } => {
                let busy = now.load(Ordering::Acquire);
                RateDecision {
                    allowed: true,
                    limit: *max,
                    remaining: max.saturating_sub(busy),
                    reset_secs: 0,
                    retry_after_secs: 0,
                }
            }
        }
    }
}

pub(crate) fn add_rate_headers(h: &mut HeaderMap, d: &RateDecision) {
    h.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(d.reset_secs));
}

/// The `Retry-After` value: even-numbered 429s send delta-seconds, odd ones an HTTP-date
/// (rounded *up* to the whole second so the date is never earlier than intended).
pub(crate) fn retry_after_value(nth_429: u64, secs: u64) -> HeaderValue {
    if nth_429 % 2 == 0 {
        HeaderValue::from(secs)
    } else {
        let target = SystemTime::now() + Duration::from_secs(secs);
        let since = target.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let whole = if since.subsec_nanos() > 0 { since.as_secs() + 1 } else { since.as_secs() };
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(whole);
        HeaderValue::from_str(&httpdate::fmt_http_date(date)).unwrap_or_else(|_| HeaderValue::from(secs))
    }
}

// ---------------------------------------------------------------------------------------
// Fault-shaped responses
// ---------------------------------------------------------------------------------------

/// What a load balancer in front of the API answers when the upstream is sick.
pub(crate) fn html_error(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let body = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n\
         <center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    (status, [(header::CONTENT_TYPE, "text/html")], [(header::SERVER, "awselb/2.0")], body).into_response()
}

/// What `app.drata.com` answers: the web app's login page, with a 200.
pub(crate) fn html_login() -> Response {
    const PAGE: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
        <title>Drata | Log in</title></head><body><div id=\"root\">\
        <form action=\"/login\" method=\"post\"><label>Work email\
        <input type=\"email\" name=\"email\"></label><button type=\"submit\">Continue</button>\
        </form></div><script src=\"/static/js/main.js\"></script></body></html>";
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

/// Rebuild a response with its body truncated to `keep` bytes; the body is a plain
/// buffer, so hyper sends a `Content-Length` that matches the truncated body.
pub(crate) fn truncated(mut parts: axum::http::response::Parts, body: Bytes, keep: usize) -> Response {
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.slice(..keep)))
}

/// Rebuild a response that announces the full `Content-Length`, sends `keep` bytes, then
/// fails the body stream so hyper drops the connection mid-body. `guard` is held until
/// the stream ends so in-flight accounting covers the whole body.
pub(crate) fn cut<G: Send + 'static>(
    mut parts: axum::http::response::Parts,
    body: Bytes,
    keep: usize,
    guard: G,
) -> Response {
    use futures::StreamExt;
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let first = body.slice(..keep);
    let head = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(first) });
    let tail = futures::stream::once(async move {
        // Yield long enough for hyper to flush the bytes already written, so the client
        // really sees "status + partial body", then abort.
        tokio::time::sleep(Duration::from_millis(2)).await;
        drop(guard);
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "simulated connection cut"))
    });
    Response::from_parts(parts, Body::from_stream(head.chain(tail)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dice_are_deterministic_and_roughly_calibrated() {
        let f = Faults { html_error_rate: 0.2, truncate_rate: 0.5, fault_seed: 3, ..Faults::default() };
        let hits = (0..10_000).filter(|&n| Dice::new(3, n).html_error(&f).is_some()).count();
        assert!((1_700..2_300).contains(&hits), "{hits}");
        for n in 0..100 {
            assert_eq!(Dice::new(3, n).truncate(&f, 50), Dice::new(3, n).truncate(&f, 50));
            if let Some(k) = Dice::new(3, n).truncate(&f, 50) {
                assert!((1..50).contains(&k));
            }
        }
        let none = Faults::default();
        assert!((0..1000).all(|n| Dice::new(0, n).html_error(&none).is_none()
            && !Dice::new(0, n).slow(&none)
            && Dice::new(0, n).cut(&none, 100).is_none()));
    }

    #[test]
    fn bucket_limits_then_refuses() {
        let t0 = Instant::now();
        let b = TokenBucket::new_at(RateLimit { per_second: 0.5, burst: 2 }, t0);
        let a = b.check_at(t0);
        assert!(a.allowed);
        assert_eq!(a.remaining, 1);
        assert!(b.check_at(t0).allowed);
        let c = b.check_at(t0);
        assert!(!c.allowed);
        assert_eq!(c.retry_after_secs, 2);
        assert_eq!(c.limit, 2);
        assert_eq!(c.remaining, 0);
    }

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn penalty_refuses_everyone_for_its_length_once_the_bucket_runs_dry() {
        let t0 = Instant::now();
        let shape = LimiterShape::Penalty { length: 5 * SEC };
        let l = Limiter::new_at(RateLimit { per_second: 10.0, burst: 2 }, shape, t0);
        assert!(l.check_at(t0).allowed && l.check_at(t0).allowed);
        let dry = l.check_at(t0);
        assert!(!dry.allowed);
        assert_eq!(dry.retry_after_secs, 5, "the honest wait is the whole penalty");
        // The bucket refills meanwhile (2 tokens within 0.2 s), but the penalty holds.
        let t = t0 + Duration::from_millis(4_500);
        let held = l.check_at(t);
        assert!(!held.allowed);
        assert_eq!((held.retry_after_secs, held.remaining), (1, 0));
        // Refusals during the penalty do not extend it.
        let after = t0 + 5 * SEC;
        assert!(l.check_at(after).allowed && l.check_at(after).allowed);
        assert!(!l.check_at(after).allowed, "dry again: a new penalty");
        assert!(!l.check_at(after + Duration::from_millis(4_999)).allowed);
        assert!(l.check_at(after + 5 * SEC).allowed);
    }

    #[test]
    fn a_fixed_window_admits_its_quota_and_resets_at_the_boundary() {
        let t0 = Instant::now();
        let shape = LimiterShape::Window { length: 2 * SEC };
        // 3 requests/s over 2-s windows: 6 a window, however they bunch.
        let l = Limiter::new_at(RateLimit { per_second: 3.0, burst: 1 }, shape, t0);
        let t = t0 + Duration::from_millis(500);
        for k in 0..6 {
            let d = l.check_at(t);
            assert!(d.allowed, "request {k}");
            assert_eq!((d.limit, d.remaining), (6, 5 - k));
        }
        let refused = l.check_at(t);
        assert!(!refused.allowed);
        assert_eq!((refused.retry_after_secs, refused.reset_secs), (2, 2), "1.5 s to the boundary, in whole seconds");
        assert!(!l.check_at(t0 + Duration::from_millis(1_999)).allowed);
        let next = t0 + 2 * SEC;
        assert!((0..6).all(|_| l.check_at(next).allowed), "a new window, a new quota");
        assert!(!l.check_at(next).allowed);
        // A window with nothing sent does not carry over.
        assert!((0..6).all(|_| l.check_at(t0 + 10 * SEC).allowed));
        assert!(!l.check_at(t0 + 10 * SEC).allowed);
    }

    #[test]
    fn an_in_flight_limit_refuses_while_its_slots_are_taken_and_frees_them_on_drop() {
        let l = Limiter::new(RateLimit { per_second: 1.0, burst: 2 }, LimiterShape::InFlight);
        let (a, slot_a) = l.enter();
        let (b, slot_b) = l.enter();
        assert!(a.unwrap().allowed && b.unwrap().allowed);
        assert_eq!(b.unwrap().remaining, 0);
        let (c, none) = l.enter();
        let c = c.unwrap();
        assert!(!c.allowed && none.is_none());
        assert_eq!(c.retry_after_secs, 1);
        drop(slot_a);
        let (d, slot_d) = l.enter();
        assert!(d.unwrap().allowed, "a slot freed when a request was answered");
        drop((slot_b, slot_d));
        assert_eq!(l.check().remaining, 2);
        // The time-based shapes decide nothing on arrival.
        let bucket = Limiter::new(RateLimit { per_second: 1.0, burst: 1 }, LimiterShape::Bucket);
        assert!(matches!(bucket.enter(), (None, None)));
    }

    #[test]
    fn retry_after_alternates() {
        assert_eq!(retry_after_value(0, 3).to_str().unwrap(), "3");
        let date = retry_after_value(1, 3);
        let parsed = httpdate::parse_http_date(date.to_str().unwrap()).unwrap();
        let ahead = parsed.duration_since(SystemTime::now()).unwrap_or_default().as_secs_f64();
        assert!(ahead > 2.0 && ahead <= 4.0, "{ahead}");
    }
}
