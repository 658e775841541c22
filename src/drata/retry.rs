//! Retry classification and backoff: the one place that decides, for every outcome of an
//! HTTP request, whether to retry, give up, or record-and-continue.
//!
//! Rules (see DESIGN.md): retry 429 (honouring `Retry-After` in seconds or as an HTTP date),
//! 408/500/502/503/504 and other 5xx, connect errors, resets, timeouts, and a 200 whose body
//! is truncated or invalid JSON. Never retry 400/401/402/403/412. A 404 is reported to the
//! caller, which knows whether it means "this person vanished" or "wrong base URL".
//! HTML where JSON was expected on a 2xx, or on a 404, means the wrong host (the web app or
//! a proxy, not the API); an HTML 5xx is a load balancer's error page and is retried.

use crate::error::FailureKind;
use rand::Rng;
use std::time::{Duration, SystemTime};

/// What came back from one attempt, reduced to what classification needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// No usable HTTP response: connect failure, reset, timeout, body cut short.
    Transport { timeout: bool },
    /// A body (after decompression) longer than `MAX_BODY_BYTES`: not read further.
    TooLarge { status: u16 },
    Response {
        status: u16,
        /// The body parsed as JSON.
        json_ok: bool,
        /// The body (or content type) is HTML.
        html: bool,
        retry_after: Option<Duration>,
    },
}

/// Why a request is being retried (for stats and the final error if retries run out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    RateLimited,
    ServerError,
    Transport,
    Timeout,
    BadBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Success,
    Retry { reason: RetryReason, after: Option<Duration> },
    NotFound,
    GiveUp { kind: FailureKind, why: &'static str },
}

/// The longest response body read (after decompression). A page of 100 people is tens of
/// kilobytes; anything near this is not the documented API (or a decompression bomb), and
/// reading it whole would put the run's memory at the server's mercy.
pub const MAX_BODY_BYTES: usize = 64 << 20;

pub fn classify(attempt: &Attempt) -> Decision {
    match *attempt {
        Attempt::TooLarge { .. } => Decision::GiveUp {
            kind: FailureKind::DataInvalid,
            why: "the response body is over 64 MiB (a page of 100 people is tens of kilobytes): \
                  the server is not answering what the API documents; check --base-url and any \
                  proxy in front of the API",
        },
        Attempt::Transport { timeout } => {
            Decision::Retry { reason: if timeout { RetryReason::Timeout } else { RetryReason::Transport }, after: None }
        }
        Attempt::Response { status, json_ok, html, retry_after } => match status {
            200..=299 if json_ok => Decision::Success,
            200..=299 if html => Decision::GiveUp {
                kind: FailureKind::Auth,
                why: "the server answered with an HTML page instead of JSON: --base-url points \
                      at a web host (for example app.drata.com) instead of the API host \
                      (https://public-api.drata.com)",
            },
            200..=299 => Decision::Retry { reason: RetryReason::BadBody, after: None },
            300..=399 => Decision::GiveUp {
                kind: FailureKind::Auth,
                why: "the server answered with a redirect: --base-url is probably not the API \
                      host (use https://public-api.drata.com or your region's API host)",
            },
            401 => Decision::GiveUp {
                kind: FailureKind::Auth,
                why: "the API rejected the key (401): it is wrong, expired or revoked, or belongs \
                      to another region; generate a new key under Settings > API Keys and set \
                      DRATA_API_KEY or --api-key-file",
            },
            402 => Decision::GiveUp {
                kind: FailureKind::Auth,
                why: "the API refused for plan reasons (402): API access needs a plan that \
                      includes it",
            },
            403 => Decision::GiveUp {
                kind: FailureKind::Auth,
                why: "the key lacks a permission this endpoint needs (403): give the key read \
                      access to personnel and controls (scopes personnel:read, controls:read), \
                      or check the workspace's plan includes API access",
            },
            412 => Decision::GiveUp {
                kind: FailureKind::Auth,
                why: "the API requires the workspace to accept Drata's terms and conditions \
                      before it can be used (412)",
            },
            // The API answers its 404s in JSON; an HTML 404 comes from a web server or proxy
            // that does not route the path to the API, so it cannot mean "this person
            // vanished" (which would quietly mark everyone `gone`).
            404 if html => Decision::GiveUp {
                kind: FailureKind::Auth,
                why: "the server answered 404 with an HTML page, not the API's JSON: --base-url \
                      points at a web host or proxy that does not serve the Drata public API \
                      (use https://public-api.drata.com or your region's API host)",
            },
            404 => Decision::NotFound,
            408 => Decision::Retry { reason: RetryReason::Timeout, after: retry_after },
            429 => Decision::Retry { reason: RetryReason::RateLimited, after: retry_after },
            500..=599 => Decision::Retry { reason: RetryReason::ServerError, after: retry_after },
            400 => Decision::GiveUp {
                kind: FailureKind::Usage,
                why: "the API rejected the request as malformed (400): check --page-size and \
                      --base-url",
            },
            _ => Decision::GiveUp { kind: FailureKind::Unavailable, why: "the API answered with an unexpected status" },
        },
    }
}

/// The server's clock at this response, for reading the dates and Unix times in its
/// rate-limit headers: its `Date` header when that is more than `SKEW` off our clock (a
/// server an hour ahead would otherwise make `Retry-After: <date 2 s later>` an hour's
/// wait), else our own clock (finer than `Date`'s whole seconds).
pub fn server_clock(date: Option<&str>, local: SystemTime) -> SystemTime {
    const SKEW: Duration = Duration::from_secs(2);
    let Some(server) = date.and_then(|d| httpdate::parse_http_date(d.trim()).ok()) else { return local };
    let off = server.duration_since(local).or_else(|_| local.duration_since(server)).unwrap_or_default();
    if off > SKEW {
        server
    } else {
        local
    }
}

/// Parse `Retry-After`: delta-seconds (integer or decimal) or an HTTP date. A date in the
/// past means "now". Absurd values are capped so one header cannot stall a run for days.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    const CAP: Duration = Duration::from_secs(3600);
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(CAP.as_secs_f64())));
        }
        return None;
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO).min(CAP))
}

/// Parse a rate-limit reset (`X-RateLimit-Reset`, `RateLimit-Reset`), used when a 429
/// carries no `Retry-After`: seconds until the reset, or a Unix timestamp in seconds or in
/// milliseconds (values that large cannot be a delay). Capped like `Retry-After`.
pub fn parse_rate_limit_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let n = value.trim().parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0)?;
    let epoch = || now.duration_since(SystemTime::UNIX_EPOCH).ok().map(|d| d.as_secs_f64());
    let secs = if n > 100_000_000_000.0 {
        n / 1000.0 - epoch()?
    } else if n > 1_000_000_000.0 {
        n - epoch()?
    } else {
        n
    };
    Some(Duration::from_secs_f64(secs.clamp(0.0, 3600.0)))
}

/// The quota a response reports: requests remaining and the time until it resets. Read
/// from `X-RateLimit-Remaining`/`-Reset` (the de-facto form), the IETF draft's
/// `RateLimit-Remaining`/`-Reset`, or its structured `RateLimit` field in either the
/// older `limit=100, remaining=50, reset=5` or the newer `"policy";r=50;t=5` form.
/// `header` looks a header up by lower-case name.
pub fn parse_rate_limit_quota(header: impl Fn(&str) -> Option<String>, now: SystemTime) -> Option<(f64, Duration)> {
    let number = |v: &str| v.trim().trim_matches('"').parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0);
    const PAIRS: [(&str, &str); 3] = [
        ("x-ratelimit-remaining", "x-ratelimit-reset"),
        ("ratelimit-remaining", "ratelimit-reset"),
        ("x-rate-limit-remaining", "x-rate-limit-reset"),
    ];
    for (remaining, reset) in PAIRS {
        let remaining = header(remaining).and_then(|v| number(&v));
        let reset = header(reset).and_then(|v| parse_rate_limit_reset(&v, now));
        if let (Some(remaining), Some(reset)) = (remaining, reset) {
            return Some((remaining, reset));
        }
    }
    // Structured field. The older form is one policy whose parameters are separated by
    // commas; the newer one lists policies separated by commas, each with `;` parameters,
    // and the binding one is the one with the fewest requests left.
    let field = header("ratelimit")?;
    let policy = |params: &mut dyn Iterator<Item = &str>| {
        let (mut remaining, mut reset) = (None, None);
        for param in params {
            let Some((key, value)) = param.split_once('=') else { continue };
            match key.trim() {
                "remaining" | "r" => remaining = number(value),
                "reset" | "t" => reset = number(value).map(|s| Duration::from_secs_f64(s.min(3600.0))),
                _ => {}
            }
        }
        Some((remaining?, reset?))
    };
    if field.contains(';') {
        field
            .split(',')
            .filter_map(|item| policy(&mut item.split(';')))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
    } else {
        policy(&mut field.split(','))
    }
}

/// Exponential backoff with full jitter: a uniform wait in `[0, min(cap, base * 2^attempt)]`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << attempt.min(20)).min(self.cap);
        ceiling.mul_f64(rng.gen::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16) -> Attempt {
        Attempt::Response { status, json_ok: true, html: false, retry_after: None }
    }

    #[test]
    fn classification_table() {
        assert_eq!(classify(&resp(200)), Decision::Success);
        for s in [429, 500, 502, 503, 504, 408] {
            assert!(matches!(classify(&resp(s)), Decision::Retry { .. }), "{s}");
        }
        for (s, k) in [
            (401, FailureKind::Auth),
            (403, FailureKind::Auth),
            (402, FailureKind::Auth),
            (412, FailureKind::Auth),
            (400, FailureKind::Usage),
            (418, FailureKind::Unavailable),
        ] {
            assert!(matches!(classify(&resp(s)), Decision::GiveUp { kind, .. } if kind == k), "{s}");
        }
        assert_eq!(classify(&resp(404)), Decision::NotFound);
        let html_404 = Attempt::Response { status: 404, json_ok: false, html: true, retry_after: None };
        assert!(matches!(classify(&html_404), Decision::GiveUp { kind: FailureKind::Auth, .. }));
        assert!(matches!(
            classify(&Attempt::Transport { timeout: true }),
            Decision::Retry { reason: RetryReason::Timeout, .. }
        ));
        let truncated = Attempt::Response { status: 200, json_ok: false, html: false, retry_after: None };
        assert!(matches!(classify(&truncated), Decision::Retry { reason: RetryReason::BadBody, .. }));
        let login = Attempt::Response { status: 200, json_ok: false, html: true, retry_after: None };
        assert!(matches!(classify(&login), Decision::GiveUp { kind: FailureKind::Auth, .. }));
        // An HTML 502 from a load balancer is still a retryable server error.
        let lb = Attempt::Response { status: 502, json_ok: false, html: true, retry_after: None };
        assert!(matches!(classify(&lb), Decision::Retry { reason: RetryReason::ServerError, .. }));
    }

    #[test]
    fn an_oversized_body_is_65_not_retried() {
        let d = classify(&Attempt::TooLarge { status: 200 });
        assert!(matches!(d, Decision::GiveUp { kind: FailureKind::DataInvalid, .. }), "{d:?}");
        assert_eq!(FailureKind::DataInvalid.exit_code(), 65);
        let Decision::GiveUp { why, .. } = d else { unreachable!() };
        assert!(!why.contains("  "), "one line of prose, not runs of spaces: {why}");
    }

    #[test]
    fn retry_after_both_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 1.5 ", now), Some(Duration::from_millis(1500)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("99999999", now), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn a_skewed_server_clock_is_read_from_its_date_header() {
        let local = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ahead = local + Duration::from_secs(3600);
        let date = |t: SystemTime| Some(httpdate::fmt_http_date(t));
        assert_eq!(server_clock(date(ahead).as_deref(), local), ahead);
        assert_eq!(
            server_clock(date(local - Duration::from_secs(600)).as_deref(), local),
            local - Duration::from_secs(600)
        );
        // Within the skew allowance (or no usable header): our own, finer clock.
        assert_eq!(server_clock(date(local + Duration::from_secs(1)).as_deref(), local), local);
        assert_eq!(server_clock(Some("yesterday"), local), local);
        assert_eq!(server_clock(None, local), local);
        // Retry-After as a date two seconds after the server's clock is two seconds.
        let retry = httpdate::fmt_http_date(ahead + Duration::from_secs(2));
        let now = server_clock(date(ahead).as_deref(), local);
        assert_eq!(parse_retry_after(&retry, now), Some(Duration::from_secs(2)));
    }

    #[test]
    fn rate_limit_reset_delta_or_epoch() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_rate_limit_reset("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_rate_limit_reset("1700000005", now), Some(Duration::from_secs(5)));
        assert_eq!(parse_rate_limit_reset("1700000005500", now), Some(Duration::from_millis(5500)));
        assert_eq!(parse_rate_limit_reset("1699999990", now), Some(Duration::ZERO));
        assert_eq!(parse_rate_limit_reset("x", now), None);
    }

    #[test]
    fn rate_limit_quota_in_each_header_form() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let quota = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            parse_rate_limit_quota(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()), now)
        };
        let s = Duration::from_secs;
        assert_eq!(quota(&[("x-ratelimit-remaining", "7"), ("x-ratelimit-reset", "3")]), Some((7.0, s(3))));
        assert_eq!(quota(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1700000010")]), Some((0.0, s(10))));
        assert_eq!(quota(&[("ratelimit-remaining", "4"), ("ratelimit-reset", "9")]), Some((4.0, s(9))));
        assert_eq!(quota(&[("x-rate-limit-remaining", "1"), ("x-rate-limit-reset", "2")]), Some((1.0, s(2))));
        assert_eq!(quota(&[("ratelimit", "limit=100, remaining=50, reset=5")]), Some((50.0, s(5))));
        assert_eq!(quota(&[("ratelimit", "\"daily\";r=900;t=3600, \"default\";r=0;t=30")]), Some((0.0, s(30))));
        assert_eq!(quota(&[("ratelimit", "\"default\";r=12;t=1")]), Some((12.0, s(1))));
        // Half a quota is none.
        assert_eq!(quota(&[("x-ratelimit-remaining", "7")]), None);
        assert_eq!(quota(&[("ratelimit", "limit=100")]), None);
        assert_eq!(quota(&[("x-ratelimit-remaining", "-3"), ("x-ratelimit-reset", "3")]), None);
    }

    #[test]
    fn full_jitter_stays_under_the_cap() {
        let b = Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(2) };
        let mut rng = rand::thread_rng();
        for attempt in 0..30 {
            let d = b.delay(attempt, &mut rng);
            assert!(d <= Duration::from_secs(2));
            assert!(d <= Duration::from_millis(100) * (1 << attempt.min(5)));
        }
    }
}
