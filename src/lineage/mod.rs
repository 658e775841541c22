//! OpenLineage for a run: a START event when it begins, COMPLETE or FAIL when it ends,
//! POSTed as JSON to `--openlineage-url` and/or appended as one JSON line to
//! `--openlineage-file`. The run calls `Lineage::start` and `Lineage::finish` and nothing
//! else; the events themselves are built in `event`.
//!
//! Delivery never changes a run's outcome: a receiver that is down, answers non-2xx or takes
//! longer than `DELIVERY_TIMEOUT` costs one warning per target (never its credentials or
//! query string, never a key) and the run goes on. START is delivered beside the run, so a
//! slow receiver does not delay the extract; the end event waits for it, so a receiver sees
//! START first. Messages are scrubbed of the run's keys before they leave.

pub mod event;

use crate::drata::ApiKey;
use crate::error::EtlError;
use crate::redact::display_url;
use event::{Ending, RunFacts};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The longest one delivery may take (connect, send and answer).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// `--openlineage-namespace`'s default.
pub const DEFAULT_NAMESPACE: &str = "drata-etl";
/// The OpenLineage HTTP transport's endpoint, added to a URL given without a path.
pub const DEFAULT_ENDPOINT: &str = "/api/v1/lineage";
/// The bearer token for the receiver: an environment variable only (argv is visible in `ps`,
/// config files end up in backups).
pub const API_KEY_ENV: &str = "DRATA_ETL_OPENLINEAGE_API_KEY";

/// Where a run's events go; `cli::resolve` builds it.
#[derive(Debug, Clone)]
pub struct LineageOptions {
    /// The endpoint events are POSTed to.
    pub url: Option<url::Url>,
    /// The file events are appended to, one JSON object per line.
    pub file: Option<PathBuf>,
    pub namespace: String,
    /// Sent as `Authorization: Bearer` to `url`.
    pub api_key: Option<ApiKey>,
}

impl LineageOptions {
    /// Validate `--openlineage-url` (http or https with a host; `/api/v1/lineage` added when
    /// it has no path). A key over plain http to another machine is refused (exit 64).
    pub fn parse_url(raw: &str, has_key: bool) -> Result<url::Url, EtlError> {
        let mut url = url::Url::parse(raw.trim()).map_err(|e| {
            EtlError::usage(format!(
                "--openlineage-url is not a URL ({e}); give the receiver's endpoint, e.g. http://marquez:5000/api/v1/lineage"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(EtlError::usage(format!(
                "--openlineage-url {} must be an http(s) URL with a host, e.g. http://marquez:5000/api/v1/lineage",
                display_url(&url)
            )));
        }
        if has_key && url.scheme() == "http" && !is_loopback(&url) {
            return Err(EtlError::usage(format!(
                "--openlineage-url {} uses plain http with {API_KEY_ENV} set: the key would cross the network unencrypted. Use https",
                display_url(&url)
            )));
        }
        if url.path() == "/" || url.path().is_empty() {
            url.set_path(DEFAULT_ENDPOINT);
        }
        Ok(url)
    }

    pub fn enabled(&self) -> bool {
        self.url.is_some() || self.file.is_some()
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The targets and the secrets that must not leave with an event.
struct Sink {
    http: Option<(reqwest::Client, url::Url)>,
    api_key: Option<ApiKey>,
    file: Option<PathBuf>,
    secrets: Vec<String>,
    warned_http: AtomicBool,
    warned_file: AtomicBool,
}

impl Sink {
    async fn deliver(&self, event: &Value) {
        let line = serde_json::to_string(event).expect("events serialise");
        if let Some((client, url)) = &self.http {
            let mut req = client.post(url.clone()).header("content-type", "application/json").body(line.clone());
            if let Some(k) = &self.api_key {
                req = req.bearer_auth(k.expose());
            }
            let outcome = match req.send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("the receiver answered HTTP {}", r.status().as_u16())),
                Err(e) if e.is_timeout() => Err(format!("no answer within {}s", DELIVERY_TIMEOUT.as_secs())),
                // Without the URL: it may carry credentials.
                Err(e) => Err(error_chain(&e.without_url())),
            };
            if let Err(why) = outcome {
                self.warn(&self.warned_http, &display_url(url), &why);
            }
        }
        if let Some(path) = &self.file {
            if let Err(e) = append_line(path, &line) {
                self.warn(&self.warned_file, &path.display().to_string(), &e.to_string());
            }
        }
    }

    /// One warning per target and run; later failures of the same target are logged at debug.
    fn warn(&self, flag: &AtomicBool, target: &str, why: &str) {
        let mut secrets = self.secrets.clone();
        if let Some((_, url)) = &self.http {
            secrets.extend(url.password().map(str::to_string));
            secrets.push(url.to_string());
        }
        let why = scrub(why, &secrets);
        if flag.swap(true, Ordering::Relaxed) {
            tracing::debug!(target_ = %target, reason = %why, "OpenLineage event not delivered");
        } else {
            tracing::warn!(to = %target, reason = %why, "OpenLineage event not delivered; the run's outcome is unaffected (check the receiver)");
        }
    }
}

/// An error and its causes ("error sending request: tcp connect error: Connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// One event, one `write` of one line, so concurrent runs appending to one file interleave
/// whole lines.
fn append_line(path: &std::path::Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(format!("{line}\n").as_bytes())
}

/// Shorter "secrets" are not real keys (a test's `wrong`) and would mangle ordinary words.
const MIN_SECRET_LEN: usize = 8;

fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

/// A run's lineage: inert when no target is configured.
pub struct Lineage {
    active: Option<Active>,
}

struct Active {
    sink: Arc<Sink>,
    facts: RunFacts,
    run_id: String,
    start: tokio::task::JoinHandle<()>,
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Lineage {
    /// Begin: send START (beside the run). `secrets` (the API key) are scrubbed from every
    /// message an event carries.
    pub fn start(opts: Option<&LineageOptions>, facts: RunFacts, secrets: Vec<String>) -> Lineage {
        let Some(opts) = opts.filter(|o| o.enabled()) else { return Lineage { active: None } };
        let http = opts.url.as_ref().and_then(|url| {
            let mut b = reqwest::Client::builder().timeout(DELIVERY_TIMEOUT).connect_timeout(DELIVERY_TIMEOUT);
            if is_loopback(url) {
                b = b.no_proxy();
            }
            match b.build() {
                Ok(c) => Some((c, url.clone())),
                Err(e) => {
                    tracing::warn!(reason = %e.without_url(), "OpenLineage: cannot build an HTTP client; events go to the file only, if any");
                    None
                }
            }
        });
        let mut secrets = secrets;
        secrets.extend(opts.api_key.as_ref().map(|k| k.expose().to_string()));
        let sink = Arc::new(Sink {
            http,
            api_key: opts.api_key.clone(),
            file: opts.file.clone(),
            secrets,
            warned_http: AtomicBool::new(false),
            warned_file: AtomicBool::new(false),
        });
        let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
        let run_id = event::new_run_id(now_ms);
        let start = event::start(&facts, &run_id, &now_text());
        let task = {
            let sink = sink.clone();
            tokio::spawn(async move { sink.deliver(&start).await })
        };
        Lineage { active: Some(Active { sink, facts, run_id, start: task }) }
    }

    /// End: COMPLETE with what was committed, or FAIL with the error's exit code and message.
    pub async fn finish(self, outcome: Result<(&crate::load::Manifest, &str), &EtlError>) {
        let Some(a) = self.active else { return };
        let _ = a.start.await;
        let message;
        let ending = match outcome {
            Ok((manifest, manifest_path)) => Ending::Committed { manifest, manifest_path },
            Err(e) => {
                message = scrub(&e.message, &a.sink.secrets);
                Ending::Failed { exit_code: e.kind.exit_code(), kind: e.kind.as_str(), message: &message }
            }
        };
        let end = event::end(&a.facts, &a.run_id, &now_text(), &ending);
        a.sink.deliver(&end).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = LineageOptions::parse_url("http://127.0.0.1:5000", false).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:5000/api/v1/lineage");
        let u = LineageOptions::parse_url("https://ol.example.com/custom/path?x=1", true).unwrap();
        assert_eq!(u.as_str(), "https://ol.example.com/custom/path?x=1");
        assert!(LineageOptions::parse_url("http://ol.example.com/x", false).is_ok());
        for (bad, key) in [("ftp://x/y", false), ("not a url", false), ("http://ol.example.com/x", true)] {
            let e = LineageOptions::parse_url(bad, key).unwrap_err();
            assert_eq!(e.kind, crate::error::FailureKind::Usage, "{bad}");
        }
        // The message never spells out credentials.
        let e = LineageOptions::parse_url("http://u:pw-secret@ol.example.com/x", true).unwrap_err();
        assert!(!e.message.contains("pw-secret"), "{}", e.message);
    }

    #[test]
    fn secrets_are_scrubbed() {
        let secrets = ["sk-12345678".to_string(), String::new(), "wrong".into()];
        assert_eq!(scrub("key sk-12345678 echoed: wrong", &secrets), "key *** echoed: wrong");
    }

    #[tokio::test]
    async fn a_file_gets_start_then_end_on_one_line_each() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ol.jsonl");
        let opts = LineageOptions { url: None, file: Some(path.clone()), namespace: "ns".into(), api_key: None };
        let facts = RunFacts {
            namespace: "ns".into(),
            workspace: None,
            base_url: url::Url::parse("http://127.0.0.1:9/").unwrap(),
            out: tmp.path().join("out"),
            snapshot_id: "20260101T000000Z".into(),
            snapshot_date: "2026-01-01".into(),
            run_at: "2026-01-01T00:00:00Z".into(),
            dialect: None,
        };
        let l = Lineage::start(Some(&opts), facts, vec!["sk-9-secret".into()]);
        let e = EtlError::new(crate::error::FailureKind::Auth, "the key sk-9-secret was refused");
        l.finish(Err(&e)).await;
        let text = std::fs::read_to_string(&path).unwrap();
        let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["eventType"], "START");
        assert_eq!(events[1]["eventType"], "FAIL");
        assert_eq!(events[0]["run"]["runId"], events[1]["run"]["runId"]);
        assert!(!text.contains("sk-9-secret"));
        assert_eq!(events[1]["run"]["facets"]["drata_etl"]["exitCode"], 77);
    }

    #[tokio::test]
    async fn inert_without_a_target() {
        let opts = LineageOptions { url: None, file: None, namespace: "ns".into(), api_key: None };
        assert!(!opts.enabled());
        let facts = RunFacts {
            namespace: "ns".into(),
            workspace: None,
            base_url: url::Url::parse("http://127.0.0.1:9/").unwrap(),
            out: "out".into(),
            snapshot_id: String::new(),
            snapshot_date: String::new(),
            run_at: String::new(),
            dialect: None,
        };
        assert!(Lineage::start(Some(&opts), facts, vec![]).active.is_none());
    }
}
