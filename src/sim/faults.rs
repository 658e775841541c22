//! Fault injection for the simulator: rate limiting, load-balancer HTML errors, cut
//! connections, truncated JSON, slow responses, a capped page size, list drift, bad
//! auth and the wrong host (an HTML login page).
//!
//! Every probabilistic decision is a pure function of `(fault_seed, request number,
//! fault kind)`, so a failing test replays the same faults. The token bucket is written
//! by hand (a dozen lines) because the simulator needs to *report* its state in
//! `X-RateLimit-*` headers and compute `Retry-After`, which `governor` does not expose.
//!
//! This module decides and shapes faults; it knows nothing about personnel data.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::data::{hash3, unit_f64};

/// Which faults the simulator injects. `Faults::default()` injects none.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Token bucket; over the limit answers 429 with `Retry-After` (alternating between
    /// delta-seconds and an HTTP-date). When set, every API response carries
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.
    pub rate_limit: Option<RateLimit>,
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
    pub(crate) fn new(cfg: RateLimit) -> Self {
        TokenBucket { cfg, state: Mutex::new((f64::from(cfg.burst), Instant::now())) }
    }

    pub(crate) fn check(&self) -> RateDecision {
        let burst = f64::from(self.cfg.burst.max(1));
        let rate = self.cfg.per_second.max(1e-9);
        let now = Instant::now();
        let (allowed, tokens) = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let elapsed = now.saturating_duration_since(st.1).as_secs_f64();
            st.0 = (st.0 + elapsed * rate).min(burst);
            st.1 = now;
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
        let b = TokenBucket::new(RateLimit { per_second: 0.5, burst: 2 });
        let a = b.check();
        assert!(a.allowed);
        assert_eq!(a.remaining, 1);
        assert!(b.check().allowed);
        let c = b.check();
        assert!(!c.allowed);
        assert_eq!(c.retry_after_secs, 2);
        assert_eq!(c.limit, 2);
        assert_eq!(c.remaining, 0);
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
