//! The preflight: a handful of cheap requests that prove, in seconds, that `--base-url` is
//! the API (JSON, not an HTML login page), the key is valid, it carries the scopes a run
//! needs (`personnel:read`, `controls:read`, probed on the list endpoints and on one
//! person's training and background-check endpoints, and in v2 that person's user's
//! assigned policies), the page-size cap the server echoes,
//! and the dialect. `drata-etl check` (`commands::check`) prints it as a table; the run
//! performs it before it takes the output lock, so a wrong key fails the run at once instead of an hour in.
//!
//! It goes through `DrataClient`/`GuideApi` like the run (same auth, timeouts, retry rules),
//! but on a client of its own, so the manifest's request counts stay the snapshot's.
//! A person's child endpoint that stays unavailable after retries is a warning, not a
//! failure: the lists answered, so the API is up and that one person's records are broken
//! (the run's failure budget decides about those). This module knows no wire format.

use crate::drata::dialect::{Api, ApiChoice, Dialect};
use crate::drata::wire::Child;
use crate::drata::{ClientConfig, DrataClient};
use crate::error::{EtlError, FailureKind};
use serde::Serialize;
use std::fmt::Write;
use std::time::{Duration, Instant};

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// One row of the report.
#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

/// What the preflight found.
#[derive(Debug)]
pub struct PreflightReport {
    pub base_url: String,
    pub checks: Vec<Check>,
    pub dialect: Option<Dialect>,
    /// The page size asked for and the `limit` the server echoed on page 1.
    pub page_size_asked: u64,
    pub page_limit: Option<u64>,
    /// `total` of the personnel list on page 1.
    pub people_total: Option<u64>,
    pub elapsed: Duration,
    /// The first failure, which decides the exit code.
    pub error: Option<EtlError>,
}

impl PreflightReport {
    pub fn exit_code(&self) -> i32 {
        self.error.as_ref().map_or(0, |e| e.kind.exit_code())
    }

    /// Personnel pages a full listing pass needs, as far as page 1 tells.
    pub fn expected_pages(&self) -> Option<u64> {
        let total = self.people_total?;
        let limit = self.page_limit.filter(|l| *l > 0).unwrap_or(self.page_size_asked.max(1));
        Some(total.div_ceil(limit).max(1))
    }

    /// One JSON object (the `--format json` output of `check`).
    pub fn to_json(&self) -> serde_json::Value {
        let code = self.exit_code();
        let mut v = serde_json::json!({
            "status": if code == 0 { "ok" } else { "error" },
            "exit_code": code,
            "base_url": self.base_url,
            "dialect": self.dialect.map(Dialect::name),
            "page_size_asked": self.page_size_asked,
            "page_limit": self.page_limit,
            "people_total": self.people_total,
            "elapsed_ms": self.elapsed.as_millis() as u64,
            "checks": self.checks,
        });
        if let Some(e) = &self.error {
            v["error_kind"] = e.kind.as_str().into();
            v["message"] = e.message.clone().into();
        }
        v
    }

    /// The table `check` prints.
    pub fn to_table(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "drata-etl check: {} ({:.2}s)", self.base_url, self.elapsed.as_secs_f64());
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &self.checks {
            let _ = writeln!(o, "  {:<5} {:<width$}  {}", c.status.label(), c.name, c.detail);
        }
        match &self.error {
            None => {
                let _ = writeln!(o, "result: ok (exit 0)");
            }
            Some(e) => {
                let _ = writeln!(o, "result: FAILED (exit {}, {}): {}", e.kind.exit_code(), e.kind.as_str(), e.message);
            }
        }
        o
    }
}

/// Which check a failed list probe speaks against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blame {
    /// Not the API at all, or not reachable: HTML, redirect, 404 on a list, 5xx, timeouts.
    Host,
    /// The key itself (401), or the account (402 plan, 412 terms).
    Key,
    /// The key lacks a permission (403).
    Scope,
}

/// Which check an error belongs to, by the HTTP status the API answered with.
fn blame(e: &EtlError) -> Blame {
    match e.status {
        Some(403) => Blame::Scope,
        Some(401 | 402 | 412) => Blame::Key,
        _ => Blame::Host,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Run every check against `client` (which should be fresh: its stats are the preflight's).
pub async fn run_checks(client: &DrataClient, page_size: u64, choice: ApiChoice) -> PreflightReport {
    let started = Instant::now();
    // The dialect first: every probe below speaks it. If detection fails, the probes run in
    // the guide dialect so the host/key rows report the failure as they always have.
    let detected = crate::drata::dialect::resolve(client, choice).await;
    let api = Api::new(detected.as_ref().map_or(Dialect::Guide, |d| *d), client);
    // A detection that failed on the key, the host or availability would fail the probes the
    // same way: report it without more requests (a rejected key costs one request, not three).
    // Only a 403 goes on to the probes, which tell which scope is missing.
    let (people, controls) = match &detected {
        Err(e) if blame(e) != Blame::Scope => (Err(e.clone()), Err(e.clone())),
        _ => tokio::join!(api.probe_personnel(page_size), api.probe_controls()),
    };
    let mut rows = Rows::default();

    let errors: Vec<&EtlError> = [people.as_ref().err(), controls.as_ref().err()].into_iter().flatten().collect();
    let host_error = (people.is_err() && controls.is_err())
        .then(|| errors.iter().copied().find(|e| blame(e) == Blame::Host))
        .flatten();
    let key_error = errors.iter().copied().find(|e| blame(e) == Blame::Key);

    // 1. The host answers the API's JSON.
    let host_ok = host_error.is_none();
    match host_error {
        None => rows.ok("API host", "answers the Drata API's JSON at /public".into()),
        Some(e) => rows.fail("API host", e),
    }
    // 2. The key is accepted.
    match (host_ok, key_error) {
        (false, _) => rows.skip("API key", "host check failed"),
        (true, Some(e)) => rows.fail("API key", e),
        (true, None) => rows.ok("API key", "accepted".into()),
    }
    let key_ok = host_ok && key_error.is_none();
    // 3, 4. Scopes on the list endpoints.
    let count = |t: Option<u64>| t.map_or_else(|| "an unknown number of".to_string(), |t| t.to_string());
    for (name, r) in [
        (
            "scope personnel:read",
            people.as_ref().map(|p| format!("personnel list readable ({} people)", count(p.total))),
        ),
        ("scope controls:read", controls.as_ref().map(|t| format!("controls list readable ({} controls)", count(*t)))),
    ] {
        match (key_ok, r) {
            (false, _) => rows.skip(name, "host or key check failed"),
            (true, Ok(detail)) => rows.ok(name, detail),
            (true, Err(e)) => rows.fail(name, e),
        }
    }

    // 5, 6. One person's child endpoints (personnel:read covers them too).
    let first = people.as_ref().ok().filter(|_| key_ok).and_then(|p| p.items.first().cloned());
    match first {
        None => {
            let why = if people.is_ok() && key_ok { "no people to probe" } else { "personnel list failed" };
            rows.skip("training endpoint", why);
            rows.skip("background-checks endpoint", why);
            if api.has_policies() {
                rows.skip("policies endpoint", why);
            }
        }
        Some(person) => {
            let (t, b, p) = tokio::join!(api.training(&person), api.background_checks(&person), api.policies(&person));
            let mut outcomes = vec![
                ("training endpoint", t.map(|c| child_rows(c, "training record", "training records"))),
                ("background-checks endpoint", b.map(|c| child_rows(c, "background check", "background checks"))),
            ];
            // v2 only: a key without the assigned-policies permission fails here, before
            // the run touches its output, not person by person.
            if let Some(p) = p {
                outcomes.push(("policies endpoint", p.map(|c| child_rows(c, "assigned policy", "assigned policies"))));
            }
            for (name, r) in outcomes {
                match r {
                    Ok(detail) => rows.ok(name, detail),
                    Err(e) if e.kind == FailureKind::Unavailable => rows.push(
                        name,
                        Status::Warn,
                        format!(
                            "one person's endpoint stayed unavailable ({}); the lists answer, so the API is up",
                            e.message
                        ),
                    ),
                    Err(e) => rows.fail(name, &e),
                }
            }
        }
    }

    // v2 lists devices apart (one listing, not per person): its permission is checked here.
    if let Some(d) = api.probe_devices().await.filter(|_| key_ok) {
        match d {
            Ok(()) => rows.ok("devices endpoint", "devices list readable".into()),
            Err(e) => rows.fail("devices endpoint", &e),
        }
    }

    // 7. The page size the server actually uses.
    let page_limit = people.as_ref().ok().and_then(|p| p.limit);
    match people.as_ref() {
        Ok(_) if api.dialect() == Dialect::V2 => rows.ok(
            "page size",
            format!("v2 pages by cursor ({} per page)", page_size.clamp(1, crate::drata::v2::MAX_SIZE)),
        ),
        Ok(p) => match p.limit {
            Some(l) if l < page_size => {
                rows.ok("page size", format!("the server caps pages at {l} (asked {page_size}); paging uses {l}"))
            }
            Some(l) => rows.ok("page size", format!("the server accepts {page_size} per page (echoed limit {l})")),
            None => {
                rows.push("page size", Status::Warn, "the server echoed no limit; paging uses what page 1 held".into())
            }
        },
        Err(_) => rows.skip("page size", "personnel list failed"),
    }

    // 8. The dialect.
    let dialect = if host_ok {
        match detected {
            Ok(d) => {
                let how = if choice.is_some() { "as set by --api" } else { "detected" };
                rows.ok("dialect", format!("{} ({how})", d.name()));
                Some(d)
            }
            Err(e) => {
                rows.fail("dialect", &e);
                None
            }
        }
    } else {
        rows.skip("dialect", "host check failed");
        None
    };

    PreflightReport {
        base_url: crate::redact::display_url(client.base_url()),
        checks: rows.checks,
        dialect,
        page_size_asked: page_size,
        page_limit,
        people_total: people.as_ref().ok().and_then(|p| p.total),
        elapsed: started.elapsed(),
        error: rows.error,
    }
}

/// The report's rows and its first failure.
#[derive(Default)]
struct Rows {
    checks: Vec<Check>,
    error: Option<EtlError>,
}

impl Rows {
    fn push(&mut self, name: &'static str, status: Status, detail: String) {
        self.checks.push(Check { name, status, detail });
    }
    fn ok(&mut self, name: &'static str, detail: String) {
        self.push(name, Status::Ok, detail);
    }
    fn skip(&mut self, name: &'static str, why: &str) {
        self.push(name, Status::Skip, why.into());
    }
    fn fail(&mut self, name: &'static str, e: &EtlError) {
        if self.error.is_none() {
            self.error = Some(e.clone());
        }
        self.push(name, Status::Fail, e.message.clone());
    }
}

fn child_rows<T>(c: Child<T>, one: &str, many: &str) -> String {
    match c {
        Child::Rows(rows) => format!("readable ({} for one person)", plural(rows.len(), one, many)),
        Child::Gone => "answers (the probed person vanished meanwhile: 404)".into(),
    }
}

/// The preflight at the start of `run`: the report when every check passed (warnings are
/// logged), else the first failure, with its exit code, prefixed `preflight:`.
pub async fn before_run(cfg: &ClientConfig, page_size: u64, choice: ApiChoice) -> Result<PreflightReport, EtlError> {
    let client = DrataClient::new(cfg.clone())?;
    let mut report = run_checks(&client, page_size, choice).await;
    if let Some(e) = report.error.take() {
        return Err(EtlError::new(e.kind, format!("preflight: {}", e.message)));
    }
    for c in report.checks.iter().filter(|c| c.status == Status::Warn) {
        tracing::warn!(check = c.name, "preflight: {}", c.detail);
    }
    tracing::info!(
        dialect = report.dialect.map(Dialect::name).unwrap_or("?"),
        page_limit = report.page_limit,
        people = report.people_total,
        requests = client.stats().requests,
        elapsed_ms = report.elapsed.as_millis() as u64,
        "preflight ok"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_blamed_on_the_right_check() {
        let e = |kind, status: Option<u16>| {
            let e = EtlError::new(kind, "GET /p failed");
            match status {
                Some(s) => e.with_status(s),
                None => e,
            }
        };
        assert_eq!(blame(&e(FailureKind::Auth, Some(403))), Blame::Scope);
        for key in [401, 402, 412] {
            assert_eq!(blame(&e(FailureKind::Auth, Some(key))), Blame::Key, "{key}");
        }
        assert_eq!(blame(&e(FailureKind::Auth, Some(200))), Blame::Host);
        assert_eq!(blame(&e(FailureKind::Unavailable, None)), Blame::Host);
        // The status decides, never the text: a 403 quoted in a server's message is no 403.
        let quoted = EtlError::new(FailureKind::Auth, "GET /p failed with HTTP 200: server said: HTTP 403");
        assert_eq!(blame(&quoted), Blame::Host);
    }
}
