//! `--metrics-file PATH`: the Prometheus textfile-collector view of the last run, written
//! atomically (an exclusively created temporary sibling, fsync, rename) when a run ends, successful or not, so
//! node_exporter never reads half a file and an alert can fire on a stale success time.
//!
//! Every metric is a gauge named `drata_etl_*` describing the last run, labelled
//! `workspace="…"` when `--workspace` is set. Two things survive a failed run, read back from
//! the previous file: the last success time and the rows per table of the last committed
//! snapshot. Use one file per workspace (node_exporter rejects the same series from two
//! files). No secrets: the file holds numbers, a workspace label and table names only.

use crate::error::EtlError;
use crate::run::progress::ProgressSnapshot;
use crate::run::RunSummary;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// Everything one metrics file says about a finished run.
#[derive(Debug)]
pub struct RunMetrics<'a> {
    pub workspace: Option<&'a str>,
    pub exit_code: i32,
    pub finished_at: DateTime<Utc>,
    pub duration: Duration,
    /// The summary of a successful run.
    pub summary: Option<&'a RunSummary>,
    /// The live counters (what a failed run got through).
    pub progress: &'a ProgressSnapshot,
}

/// What a previous file said that a failed run keeps.
#[derive(Debug, Default, PartialEq)]
struct Kept {
    last_success: Option<f64>,
    rows: BTreeMap<String, f64>,
}

fn parse_previous(text: &str) -> Kept {
    let mut kept = Kept::default();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(char::is_whitespace) else { continue };
        let Ok(value) = value.trim().parse::<f64>() else { continue };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        match name.trim() {
            "drata_etl_last_success_timestamp_seconds" => kept.last_success = Some(value),
            "drata_etl_last_success_rows" => {
                if let Some(table) = label(labels, "table") {
                    kept.rows.insert(table, value);
                }
            }
            _ => {}
        }
    }
    kept
}

fn label(labels: &str, name: &str) -> Option<String> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &labels[start..];
    Some(rest[..rest.find('"')?].to_string())
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

struct Out<'a> {
    text: String,
    workspace: Option<&'a str>,
}

impl Out<'_> {
    fn family(&mut self, name: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP drata_etl_{name} {help}");
        let _ = writeln!(self.text, "# TYPE drata_etl_{name} gauge");
    }

    fn sample(&mut self, name: &str, extra: Option<(&str, &str)>, value: f64) {
        let mut labels = Vec::new();
        if let Some(w) = self.workspace {
            labels.push(format!("workspace=\"{}\"", escape(w)));
        }
        if let Some((k, v)) = extra {
            labels.push(format!("{k}=\"{}\"", escape(v)));
        }
        let labels = if labels.is_empty() { String::new() } else { format!("{{{}}}", labels.join(",")) };
        let _ = writeln!(self.text, "drata_etl_{name}{labels} {}", number(value));
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, help);
        self.sample(name, None, value);
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

/// The file's text. `previous` is the old file's text, if any.
pub fn render(m: &RunMetrics<'_>, previous: Option<&str>) -> String {
    let kept = previous.map(parse_previous).unwrap_or_default();
    let ok = m.exit_code == 0 && m.summary.is_some();
    let now = m.finished_at.timestamp_millis() as f64 / 1000.0;
    let mut o = Out { text: String::new(), workspace: m.workspace };

    o.gauge("last_run_timestamp_seconds", "When the last run ended (Unix time).", now);
    o.gauge(
        "last_success_timestamp_seconds",
        "When the last successful run ended (Unix time); kept from the previous file when a run fails, 0 if none yet.",
        if ok { now } else { kept.last_success.unwrap_or(0.0) },
    );
    o.gauge("last_run_success", "1 if the last run committed a snapshot, else 0.", if ok { 1.0 } else { 0.0 });
    o.gauge(
        "last_run_exit_code",
        "Exit code of the last run: 0 ok, 64 usage, 65 data invalid, 69 unavailable, 73 cannot write, 75 temporary, 77 auth, 130 interrupted.",
        m.exit_code as f64,
    );
    o.gauge("last_run_duration_seconds", "Wall-clock duration of the last run.", m.duration.as_secs_f64());

    let api = m.summary.map(|s| &s.api).or(m.progress.api.as_ref());
    let (requests, retries, limited) = api.map_or((0, 0, 0), |a| (a.requests, a.retries, a.rate_limited));
    o.gauge("last_run_api_requests", "API requests the last run sent (retries included).", requests as f64);
    o.gauge("last_run_api_retries", "Requests the last run retried.", retries as f64);
    o.gauge("last_run_api_rate_limited", "429 (rate-limited) responses the last run received.", limited as f64);

    let p = m.progress;
    let (listed, enriched, failed, gone) = match m.summary {
        Some(s) => (s.listing.unique, s.enrichment.people, s.enrichment.failed, s.enrichment.gone),
        None => (p.listed, p.enriched, p.failed, p.gone),
    };
    o.family(
        "last_run_people",
        "People in the last run by state: listed, enriched, failed (enrichment failed after retries), gone (vanished after listing).",
    );
    for (state, n) in [("listed", listed), ("enriched", enriched), ("failed", failed), ("gone", gone)] {
        o.sample("last_run_people", Some(("state", state)), n as f64);
    }

    let rows: BTreeMap<String, f64> = match m.summary {
        Some(s) if ok => s.rows.iter().map(|(k, v)| (k.clone(), *v as f64)).collect(),
        _ => kept.rows,
    };
    if !rows.is_empty() {
        o.family(
            "last_success_rows",
            "Rows per table in the last committed snapshot; kept from the previous file when a run fails.",
        );
        for (table, n) in &rows {
            o.sample("last_success_rows", Some(("table", table)), *n);
        }
    }
    o.text
}

/// Render and write `path` atomically, keeping what a failed run must keep from the old file.
pub fn write(path: &Path, m: &RunMetrics<'_>) -> Result<(), EtlError> {
    let previous = std::fs::read_to_string(path).ok();
    let text = render(m, previous.as_deref());
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let target = parent.join(
        path.file_name()
            .ok_or_else(|| EtlError::usage(format!("--metrics-file {} names a folder, not a file", path.display())))?,
    );
    crate::load::commit::write_atomically(&target, text.as_bytes()).map_err(|e| {
        EtlError::cannot_write(format!(
            "cannot write --metrics-file {}: {e}. Check that its folder exists and this user may write there",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics<'a>(code: i32, p: &'a ProgressSnapshot) -> RunMetrics<'a> {
        RunMetrics {
            workspace: Some("acme"),
            exit_code: code,
            finished_at: DateTime::parse_from_rfc3339("2026-02-01T00:00:10Z").unwrap().to_utc(),
            duration: Duration::from_millis(1500),
            summary: None,
            progress: p,
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_planted_in_a_shared_folder_is_not_followed() {
        let shared = tempfile::tempdir().unwrap();
        let victim = shared.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = shared.path().join("drata.prom");
        // Another user of the textfile folder plants the name the temporary file had before.
        let planted = shared.path().join(format!(".drata.prom.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let p = ProgressSnapshot::default();
        write(&path, &metrics(69, &p)).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious", "the symlink's target was written");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert!(std::fs::read_to_string(&path).unwrap().contains("drata_etl_last_run_exit_code"));
    }

    #[test]
    fn a_failure_keeps_the_last_success_and_rows() {
        let previous = "# HELP x\ndrata_etl_last_success_timestamp_seconds{workspace=\"acme\"} 1769904000\n\
                        drata_etl_last_success_rows{workspace=\"acme\",table=\"personnel\"} 42\n";
        let p = ProgressSnapshot { listed: 7, enriched: 3, ..Default::default() };
        let text = render(&metrics(77, &p), Some(previous));
        assert!(text.contains("drata_etl_last_success_timestamp_seconds{workspace=\"acme\"} 1769904000\n"), "{text}");
        assert!(text.contains("drata_etl_last_success_rows{workspace=\"acme\",table=\"personnel\"} 42\n"));
        assert!(text.contains("drata_etl_last_run_exit_code{workspace=\"acme\"} 77\n"));
        assert!(text.contains("drata_etl_last_run_success{workspace=\"acme\"} 0\n"));
        assert!(text.contains("drata_etl_last_run_people{workspace=\"acme\",state=\"listed\"} 7\n"));
        assert!(text.contains("drata_etl_last_run_duration_seconds{workspace=\"acme\"} 1.500\n"));
        let fresh = render(&metrics(69, &p), None);
        assert!(fresh.contains("drata_etl_last_success_timestamp_seconds{workspace=\"acme\"} 0\n"));
        assert!(!fresh.contains("last_success_rows"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("drata_etl_"), "{line}");
        }
    }
}
