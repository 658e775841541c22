//! The HTTP client every dialect uses: auth, timeouts, the shared concurrency budget, the
//! pacing gate, retries and request statistics.
//!
//! Every request holds one permit of a single semaphore while it is in flight (pages and
//! child calls share it), passes the pacing gate first (and, holding its permit, the cap on
//! requests in flight the pacer may have learnt), and is wrapped in a timeout. Backoff
//! waits happen *without* a permit so a sleeping retry does not starve other work. The API
//! key lives only in a sensitive header value: it is never formatted into logs or errors.

use super::pacing::{InFlight, Pacer};
use super::retry::{
    classify, parse_rate_limit_quota, parse_rate_limit_reset, parse_retry_after, server_clock, Attempt, Backoff,
    Decision, RetryReason, MAX_BODY_BYTES,
};
use crate::error::{EtlError, FailureKind};
use crate::stats::ApiStats;
use rand::SeedableRng;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

/// An API key. `Debug`/`Display` never show it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Which API operation a request belongs to (for stats and messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    PersonnelList,
    Training,
    BackgroundChecks,
    ControlsList,
    /// v2's `/devices` listing (the devices join).
    Devices,
    /// v2 `GET /users/{userId}/assigned-policies`.
    Policies,
}

impl Endpoint {
    const ALL: [Endpoint; 6] = [
        Endpoint::PersonnelList,
        Endpoint::Training,
        Endpoint::BackgroundChecks,
        Endpoint::ControlsList,
        Endpoint::Devices,
        Endpoint::Policies,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::PersonnelList => "personnel_list",
            Endpoint::Training => "training",
            Endpoint::BackgroundChecks => "background_checks",
            Endpoint::ControlsList => "controls_list",
            Endpoint::Devices => "devices",
            Endpoint::Policies => "policies",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Scheme and host (and port); `/public/...` paths are appended.
    pub base_url: Url,
    pub api_key: ApiKey,
    pub concurrency: usize,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts per request for server errors and transport failures.
    pub max_attempts: u32,
    /// Attempts per request when the server keeps answering 429 (bounded by the deadline).
    pub max_rate_limited_attempts: u32,
    pub backoff: Backoff,
    pub deadline: Option<Instant>,
    /// The longest server-requested wait sat through (`--max-wait`); a longer one is 75.
    pub max_wait: Duration,
    pub max_rps: Option<f64>,
    pub adaptive_pacing: bool,
    /// `--shared-pace-file`: one pace with every other run naming the same file.
    pub shared_pace_file: Option<std::path::PathBuf>,
}

#[derive(Default)]
struct Counters {
    requests: [AtomicU64; Endpoint::ALL.len()],
    retries: AtomicU64,
    rate_limited: AtomicU64,
    timeouts: AtomicU64,
    transport_errors: AtomicU64,
    statuses: Mutex<BTreeMap<u16, u64>>,
}

pub struct DrataClient {
    http: reqwest::Client,
    cfg: ClientConfig,
    auth: HeaderValue,
    permits: Arc<Semaphore>,
    pacer: Pacer,
    counters: Counters,
    rng: Mutex<rand::rngs::SmallRng>,
    /// The echoed-key warning was given (once per run).
    warned_echo: std::sync::atomic::AtomicBool,
}

/// What a GET produced when it did not fail the run.
#[derive(Debug)]
pub enum Fetched {
    Json(serde_json::Value),
    NotFound,
}

impl DrataClient {
    pub fn new(cfg: ClientConfig) -> Result<Self, EtlError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder();
        if cfg.base_url.scheme() == "http" {
            // Over plain http the bearer key would reach a proxy from HTTP_PROXY/ALL_PROXY
            // unencrypted; plain http is for a local simulator or test server: no proxy.
            builder = builder.no_proxy();
        }
        let http = builder
            .user_agent(concat!("drata-etl/", env!("CARGO_PKG_VERSION")))
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.connect_timeout)
            // A redirect from the API host means the wrong host; following it could also
            // carry the key somewhere else. Classified as a give-up instead.
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(cfg.concurrency.max(1))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| EtlError::new(FailureKind::Usage, format!("cannot build HTTP client: {e}")))?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", cfg.api_key.expose())).map_err(|_| {
            EtlError::usage("the API key contains characters that cannot be sent in an HTTP header; check DRATA_API_KEY or the key file for stray quotes or line breaks")
        })?;
        auth.set_sensitive(true);
        let mut pacer = Pacer::new(cfg.max_rps, cfg.adaptive_pacing)
            .with_max_pause(cfg.max_wait)
            .with_known_limit(super::pacing::documented_limit(cfg.base_url.host_str()));
        if let Some(path) = &cfg.shared_pace_file {
            // One pace per API host: runs against other hosts sharing the file do not interact.
            let host = format!(
                "{}:{}",
                cfg.base_url.host_str().unwrap_or(""),
                cfg.base_url.port_or_known_default().unwrap_or(0)
            );
            let shared = super::pacing::SharedPace::open(path, &host).map_err(|e| {
                EtlError::usage(format!(
                    "cannot open --shared-pace-file {}: {e}. Give a file in a folder every run sharing the pace can write",
                    path.display()
                ))
            })?;
            pacer = pacer.with_shared(shared);
        }
        Ok(DrataClient {
            http,
            permits: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
            pacer,
            auth,
            counters: Counters::default(),
            rng: Mutex::new(rand::rngs::SmallRng::from_entropy()),
            warned_echo: Default::default(),
            cfg,
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.cfg.base_url
    }

    pub fn concurrency(&self) -> usize {
        self.cfg.concurrency.max(1)
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.cfg.base_url.clone();
        url.set_path(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    fn deadline_error(&self, path: &str) -> EtlError {
        EtlError::new(
            FailureKind::Temporary,
            format!("the run deadline (--deadline) passed while requesting {path}; nothing was committed. Retry later or allow a longer deadline"),
        )
    }

    /// GET a JSON document, retrying what the retry policy says to retry.
    pub async fn get_json(&self, ep: Endpoint, path: &str, query: &[(&str, String)]) -> Result<Fetched, EtlError> {
        let url = self.url(path, query);
        let mut attempts: u32 = 0;
        let mut rate_limited_attempts: u32 = 0;
        loop {
            if self.cfg.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(self.deadline_error(path));
            }
            let sent = match self.pacer.wait(self.cfg.deadline).await {
                Ok(sent) => sent,
                Err(past) => return Err(self.too_long_error(path, past.wait, "the API's rate limit")),
            };
            let (attempt, left, refused_by_cap) = {
                let _permit = self.permits.acquire().await.expect("semaphore never closed");
                // Within the cap on requests in flight, if the refusals taught one.
                let in_flight = self.pacer.enter().await;
                // A global pause (an exhausted quota, a long Retry-After) that began while
                // this request waited for a connection slot holds it back too, and so does a
                // slowdown: sent at the old pace, it would only be refused.
                if self.pacer.ask_again(sent) {
                    continue;
                }
                self.counters.requests[ep as usize].fetch_add(1, Ordering::Relaxed);
                // When it actually leaves (its slot may have come long after its pace slot).
                let left = Instant::now();
                // The request timeout bounds one attempt; the run deadline bounds it too, so
                // a body that stalls cannot carry the run past --deadline.
                let attempt = match self.cfg.deadline {
                    Some(d) => match tokio::time::timeout_at(d, self.send_once(url.clone(), left, &in_flight)).await {
                        Ok(a) => a,
                        Err(_) => return Err(self.deadline_error(path)),
                    },
                    None => self.send_once(url.clone(), left, &in_flight).await,
                };
                (attempt, left, in_flight.refused_by_cap())
            };
            let (attempt, body, message) = attempt;
            let decision = classify(&attempt);
            match (decision, body) {
                (Decision::Success, Some(value)) => return Ok(Fetched::Json(value)),
                (Decision::Success, None) => unreachable!("success is only classified for parsed JSON"),
                (decision, _) => match decision {
                    Decision::Success => unreachable!("handled above"),
                    Decision::NotFound => return Ok(Fetched::NotFound),
                    Decision::GiveUp { kind, why } => {
                        let status = match attempt {
                            Attempt::Response { status, .. } | Attempt::TooLarge { status } => status,
                            Attempt::Transport { .. } => 0,
                        };
                        let server = message.map(|m| format!("; server said: {m}")).unwrap_or_default();
                        // A 403 names the permission this endpoint needs, not only "a permission".
                        let grant = if status == 403 { super::permissions::hint(path) } else { String::new() };
                        let err =
                            EtlError::new(kind, format!("GET {path} failed with HTTP {status}: {why}{grant}{server}"));
                        return Err(if status == 0 { err } else { err.with_status(status) });
                    }
                    Decision::Retry { reason, after } => {
                        self.counters.retries.fetch_add(1, Ordering::Relaxed);
                        let exhausted = if reason == RetryReason::RateLimited {
                            rate_limited_attempts += 1;
                            rate_limited_attempts >= self.cfg.max_rate_limited_attempts
                        } else {
                            attempts += 1;
                            attempts >= self.cfg.max_attempts
                        };
                        if exhausted {
                            return Err(self.exhausted_error(path, reason, &attempt, attempts + rate_limited_attempts));
                        }
                        let backoff_attempt = attempts.max(rate_limited_attempts);
                        let jitter = self.cfg.backoff.delay(backoff_attempt, &mut *self.rng.lock().expect("rng"));
                        let wait = match after {
                            // Honour the server's wait, plus a little jitter so workers do not return in lockstep.
                            Some(a) => a + jitter.min(Duration::from_millis(250)),
                            None => jitter,
                        };
                        if reason == RetryReason::RateLimited && !refused_by_cap {
                            self.pacer.on_rate_limited(after.unwrap_or(wait), sent, left);
                        }
                        let too_long = after.is_some_and(|a| a > self.cfg.max_wait);
                        if too_long || self.cfg.deadline.is_some_and(|d| Instant::now() + wait >= d) {
                            return Err(self.too_long_error(path, wait, reason_text(reason)));
                        }
                        tracing::debug!(
                            path,
                            reason = reason_text(reason),
                            wait_ms = wait.as_millis() as u64,
                            "retrying"
                        );
                        tokio::time::sleep(wait).await;
                    }
                },
            }
        }
    }

    /// A wait of `wait` (asked for by the server, for `why`) that would pass the run
    /// deadline or `--max-wait`: 75 now, with the time the server gave.
    fn too_long_error(&self, path: &str, wait: Duration, why: &str) -> EtlError {
        let until = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
        let until = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let deadline = self.cfg.deadline.is_some_and(|d| Instant::now() + wait >= d);
        let bound = if deadline {
            "past the run deadline (--deadline)".to_string()
        } else {
            format!("longer than --max-wait ({})", humantime::format_duration(self.cfg.max_wait))
        };
        EtlError::new(
            FailureKind::Temporary,
            format!(
                "GET {path}: the server asked to wait {:.1}s ({why}), {bound}; nothing was committed. Retry after {until}",
                wait.as_secs_f64()
            ),
        )
    }

    fn exhausted_error(&self, path: &str, reason: RetryReason, attempt: &Attempt, tries: u32) -> EtlError {
        let kind = if reason == RetryReason::RateLimited { FailureKind::Temporary } else { FailureKind::Unavailable };
        let last = match attempt {
            Attempt::Response { status, .. } | Attempt::TooLarge { status } => format!("HTTP {status}"),
            Attempt::Transport { timeout: true } => "a timeout".to_string(),
            Attempt::Transport { .. } => "a connection error".to_string(),
        };
        EtlError::new(
            kind,
            format!(
                "GET {path} still failing after {tries} attempts (last: {last}, {}); the API is unavailable or overloaded. Nothing was committed; retry later",
                reason_text(reason)
            ),
        )
    }

    /// One attempt, leaving at `left`: send, read the whole body, reduce to an `Attempt`.
    /// `in_flight` is told the status as soon as it arrives.
    async fn send_once(
        &self,
        url: Url,
        left: Instant,
        in_flight: &InFlight<'_>,
    ) -> (Attempt, Option<serde_json::Value>, Option<String>) {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.auth.clone());
        headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static("application/json"));
        let resp = match self.http.get(url).headers(headers).send().await {
            Ok(r) => r,
            Err(e) => return (self.transport_failure(&e), None, None),
        };
        let status = resp.status().as_u16();
        in_flight.answered(status == 429);
        let h = resp.headers();
        let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let now = server_clock(header("date").as_deref(), SystemTime::now());
        let quota = parse_rate_limit_quota(header, now);
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v, now)).or_else(|| {
            // A 429 without Retry-After waits for its quota's reset only when that quota is
            // what ran out: a daily quota with requests left did not refuse this request.
            match quota {
                _ if status != 429 => None,
                Some((remaining, reset)) => (remaining < 1.0).then_some(reset),
                None => header("x-ratelimit-reset").and_then(|v| parse_rate_limit_reset(&v, now)),
            }
        });
        if let Some((remaining, reset)) = quota {
            self.pacer.on_rate_headers(remaining, reset);
        }
        // A wait asked for on a refusal (429, 503 for maintenance, ...) holds back everyone
        // from now on, before this request's connection slot goes to another one.
        if let Some(after) = retry_after.filter(|_| status == 408 || status == 429 || status >= 500) {
            self.pacer.on_retry_after(after);
        }
        let html_type = header("content-type").is_some_and(|c| c.to_ascii_lowercase().contains("html"));
        let body = match read_capped(resp, MAX_BODY_BYTES).await {
            Ok(Some(b)) => b,
            Ok(None) => return (Attempt::TooLarge { status }, None, None),
            Err(e) => return (self.transport_failure(&e), None, None),
        };
        *self.counters.statuses.lock().expect("stats").entry(status).or_default() += 1;
        if status == 429 {
            self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        } else {
            self.pacer.on_admitted(left);
        }
        // A UTF-8 byte-order mark before the JSON (some Windows-hosted proxies add one) is not data.
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&body);
        let html = html_type || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
        if (200..300).contains(&status) {
            let mut value = serde_json::from_slice::<serde_json::Value>(body).ok();
            // A body that echoes the key (a debugging proxy, a hostile host) must not carry it
            // into records, ids that end up in error messages, or the output.
            if let Some(v) = value.as_mut() {
                let scrubbed = scrub_echoed_key(v, body, self.cfg.api_key.expose());
                // Data changed on purpose must not change silently: a key short enough to
                // occur inside names or emails (a test key like "k") would otherwise rewrite
                // them without a word. Said once per run, without the key.
                if scrubbed > 0 && !self.warned_echo.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(
                        values = scrubbed,
                        "a response contained the API key; it was replaced by *** in those values before use (if the key is short enough to occur in ordinary data, use a real key: the replaced values are wrong)"
                    );
                }
            }
            let json_ok = value.is_some();
            (Attempt::Response { status, json_ok, html, retry_after }, value, None)
        } else {
            let message = server_message(body, self.cfg.api_key.expose());
            (Attempt::Response { status, json_ok: false, html, retry_after }, None, message)
        }
    }

    fn transport_failure(&self, e: &reqwest::Error) -> Attempt {
        if e.is_timeout() {
            self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
            Attempt::Transport { timeout: true }
        } else {
            self.counters.transport_errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "transport error");
            Attempt::Transport { timeout: false }
        }
    }

    pub fn stats(&self) -> ApiStats {
        let c = &self.counters;
        let requests_by_endpoint: BTreeMap<String, u64> = Endpoint::ALL
            .iter()
            .map(|e| (e.name().to_string(), c.requests[*e as usize].load(Ordering::Relaxed)))
            .collect();
        ApiStats {
            requests: requests_by_endpoint.values().sum(),
            requests_by_endpoint,
            responses_by_status: c.statuses.lock().expect("stats").iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            retries: c.retries.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            transport_errors: c.transport_errors.load(Ordering::Relaxed),
        }
    }
}

/// The whole body, or `None` as soon as it (decompressed) passes `cap` bytes; a declared
/// `Content-Length` over the cap is refused before reading. The buffer reserved up front is
/// bounded too: a length the server only claims does not allocate.
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let declared = resp.content_length();
    if declared.is_some_and(|n| n > cap as u64) {
        return Ok(None);
    }
    let mut body = Vec::with_capacity(declared.map_or(0, |n| n as usize).min(1 << 20));
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

fn reason_text(r: RetryReason) -> &'static str {
    match r {
        RetryReason::RateLimited => "rate limited",
        RetryReason::ServerError => "server error",
        RetryReason::Transport => "connection failed or was cut",
        RetryReason::Timeout => "timed out",
        RetryReason::BadBody => "response body was not valid JSON",
    }
}

/// The forms a key can take in JSON text: as it is, and JSON-escaped (`"`, `\\`, `/`).
fn key_forms(key: &str) -> Vec<String> {
    let mut forms = vec![key.to_string()];
    let escaped = serde_json::to_string(key).unwrap_or_default();
    let escaped = escaped.trim_matches('"');
    for form in [escaped.to_string(), escaped.replace('/', "\\/")] {
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms.retain(|f| !f.is_empty());
    forms
}

/// `text` with every occurrence of the key (in any of its JSON forms) replaced by `***`.
fn scrub(text: &str, key: &str) -> String {
    if key.is_empty() {
        return text.to_string();
    }
    let mut out = text.to_string();
    for form in key_forms(key) {
        out = out.replace(&form, "***");
    }
    out
}

/// Replace the key in every string value of a parsed body that holds it (`raw` is checked
/// first, so the common case costs one search). Only string values change: field names and
/// the document's shape stay as the server sent them, so a key that happens to equal a field
/// name or an enum value cannot break or rename the data.
/// Returns how many string values changed.
fn scrub_echoed_key(v: &mut serde_json::Value, raw: &[u8], key: &str) -> usize {
    // A body that is not UTF-8 holds no string value to scrub (it did not parse as JSON).
    let Ok(text) = std::str::from_utf8(raw) else { return 0 };
    if key.is_empty() || !key_forms(key).iter().any(|f| text.contains(f.as_str())) {
        return 0;
    }
    fn walk(v: &mut serde_json::Value, key: &str) -> usize {
        match v {
            serde_json::Value::String(s) if s.contains(key) => {
                *s = s.replace(key, "***");
                1
            }
            serde_json::Value::Array(items) => items.iter_mut().map(|i| walk(i, key)).sum(),
            serde_json::Value::Object(map) => map.values_mut().map(|i| walk(i, key)).sum(),
            _ => 0,
        }
    }
    walk(v, key)
}

/// The `message` of a JSON error body, shortened, with the key scrubbed in case a server
/// echoes the Authorization header back. Control characters go first (one inside an echoed
/// key would hide it from the scrub, then vanish), the key next, the cut last: cutting
/// first could split an echoed key and leave its first part in the message.
fn server_message(body: &[u8], key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let msg = v.get("message")?;
    let text = match msg {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    Some(scrub(&text, key).chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_never_formatted() {
        let k = ApiKey::new("sekrit-123");
        assert!(!format!("{k:?}").contains("sekrit"));
    }

    #[test]
    fn server_message_scrubs_key() {
        let body = br#"{"statusCode":401,"message":"bad token Bearer sekrit-123"}"#;
        assert_eq!(server_message(body, "sekrit-123").unwrap(), "bad token Bearer ***");
        assert_eq!(server_message(b"<html>", "k"), None);
    }

    /// No fragment of the key (any 4 characters of it in a row) is in `text`.
    fn no_fragment(text: &str, key: &str) {
        let k: Vec<char> = key.chars().collect();
        for w in k.windows(4) {
            let frag: String = w.iter().collect();
            assert!(!text.contains(&frag), "fragment {frag:?} of the key in {text:?}");
        }
    }

    #[test]
    fn a_key_across_the_cut_leaves_no_fragment() {
        let key = "sk_live_Q7x9Zr2mW4pL8vT1";
        for pad in 270..=300 {
            let message = format!("{}Bearer {key} was refused", "x".repeat(pad));
            let body = serde_json::json!({ "message": message }).to_string();
            let text = server_message(body.as_bytes(), key).unwrap();
            assert!(text.chars().count() <= 300);
            no_fragment(&text, key);
        }
        // A control character inside the echo, a key in a non-string message, a JSON-escaped key.
        let body = serde_json::json!({ "message": format!("Bearer sk_live_\u{7}Q7x9Zr2mW4pL8vT1") }).to_string();
        no_fragment(&server_message(body.as_bytes(), key).unwrap(), key);
        let body = serde_json::json!({ "message": { "auth": format!("Bearer {key}") } }).to_string();
        no_fragment(&server_message(body.as_bytes(), key).unwrap(), key);
        let odd = "k/e\"y\\x-12345678";
        let body = serde_json::json!({ "message": { "auth": odd } }).to_string();
        no_fragment(&server_message(body.as_bytes(), odd).unwrap(), odd);
    }

    fn scrubbed(body: &str, key: &str) -> serde_json::Value {
        let mut v: serde_json::Value = serde_json::from_str(body).unwrap();
        scrub_echoed_key(&mut v, body.as_bytes(), key);
        v
    }

    #[test]
    fn a_body_echoing_the_key_is_scrubbed_before_use() {
        let key = "sk_live_Q7x9Zr2mW4pL8vT1";
        let body = format!(r#"{{"personnelId":"{key}","trainings":[{{"name":"Bearer {key}"}}]}}"#);
        let v = scrubbed(&body, key);
        assert_eq!(v["personnelId"], "***");
        assert_eq!(v["trainings"][0]["name"], "Bearer ***");
        no_fragment(&v.to_string(), key);
        let untouched = r#"{"data":[]}"#;
        assert_eq!(scrubbed(untouched, key), serde_json::json!({"data": []}));
    }

    #[test]
    fn a_key_equal_to_a_field_name_never_changes_the_documents_shape() {
        // A (short) key that is also a field name: the field survives, only values holding
        // the key are masked.
        let body = r#"{"personnelId":"a","backgroundChecks":[{"status":"PASSED"}],"note":"backgroundChecks"}"#;
        let v = scrubbed(body, "backgroundChecks");
        assert_eq!(v["backgroundChecks"][0]["status"], "PASSED");
        assert_eq!(v["note"], "***");
    }
}
