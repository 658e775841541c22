//! End-to-end tests of what operators and schedulers use around a run, with the real binary
//! against the simulator: `check` (each failure class), `--config` precedence through
//! `config show`, the metrics file after a success and after a failure, `verify` (a deleted
//! file, a truncated file, a changed row count, an orphaned partition), `prune` (keeps what
//! it must, refuses while a run holds the lock), `list`, progress output, and the cron
//! wrapper.

use crate::common::*;
use drata_etl::sim::{ApiKeySpec, RunningSim};
use serde_json::Value;
use std::path::{Path, PathBuf};

async fn sim(personnel: usize, set: impl FnOnce(&mut drata_etl::sim::SimConfig)) -> RunningSim {
    let mut cfg = sim_config(personnel);
    set(&mut cfg);
    start(cfg).await
}

async fn etl(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = bin();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().await.expect("binary runs").into()
}

async fn check(sim: &RunningSim, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let base = sim.base_url();
    let mut args = vec!["check", "--base-url", base.as_str()];
    args.extend_from_slice(extra);
    etl(&args, env).await
}

fn only_line(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must be exactly one line: {stdout:?}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lines[0]))
}

/// The table row of one check: `  <status> <name>  <detail>`.
fn row<'a>(table: &'a str, name: &str) -> &'a str {
    table.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("no row {name} in:\n{table}"))
}

// ---------------------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_against_a_healthy_api() {
    let s = sim(30, |c| c.faults.max_page_limit = Some(25)).await;
    let r = check(&s, &[], &[]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for name in [
        "API host",
        "API key",
        "scope personnel:read",
        "scope controls:read",
        "training endpoint",
        "background-checks endpoint",
        "page size",
        "dialect",
    ] {
        assert!(row(&r.stdout, name).trim_start().starts_with("ok"), "{name}: {}", r.stdout);
    }
    assert!(row(&r.stdout, "page size").contains("caps pages at 25"), "{}", r.stdout);
    assert!(row(&r.stdout, "dialect").contains("guide"));
    assert!(r.stdout.contains("result: ok"));

    let r = check(&s, &["--format", "json"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = only_line(&r.stdout);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["page_limit"], 25);
    assert_eq!(v["people_total"], 30);
    assert_eq!(v["dialect"], "guide");
    assert!(v["checks"].as_array().unwrap().iter().all(|c| c["status"] == "ok"), "{v}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_each_failure_class_with_its_exit_code() {
    // 401: a key the API does not know.
    let s = sim(10, |_| {}).await;
    let r = check(&s, &[], &[("DRATA_API_KEY", "not-a-valid-key")]).await;
    assert_eq!(r.code, 77, "{}\n{}", r.stdout, r.stderr);
    assert!(row(&r.stdout, "API key").contains("FAIL") && row(&r.stdout, "API key").contains("401"), "{}", r.stdout);
    assert!(row(&r.stdout, "API host").contains("ok"));
    assert!(!r.stdout.contains("not-a-valid-key") && !r.stderr.contains("not-a-valid-key"), "the key leaked");

    // No key at all: a usage error before any request.
    let r = etl(&["check", "--base-url", &s.base_url()], &[("DRATA_API_KEY", "")]).await;
    assert_eq!(r.code, 64, "{}", r.stderr);
    s.shutdown().await;

    // 403: the key lacks controls:read.
    let s = sim(10, |c| c.keys = vec![ApiKeySpec::new(KEY, &["personnel:read"])]).await;
    let r = check(&s, &[], &[]).await;
    assert_eq!(r.code, 77, "{}", r.stdout);
    let scope = row(&r.stdout, "scope controls:read");
    assert!(scope.contains("FAIL") && scope.contains("403") && scope.contains("controls:read"), "{}", r.stdout);
    assert!(row(&r.stdout, "scope personnel:read").trim_start().starts_with("ok"), "{}", r.stdout);
    assert!(row(&r.stdout, "API key").trim_start().starts_with("ok"), "{}", r.stdout);
    s.shutdown().await;

    // An HTML login page: the wrong host.
    let s = sim(10, |c| c.faults.html_login = true).await;
    let r = check(&s, &["--format", "json"], &[]).await;
    assert_eq!(r.code, 77, "{}", r.stdout);
    let v = only_line(&r.stdout);
    assert_eq!(v["error_kind"], "auth");
    let host = &v["checks"].as_array().unwrap()[0];
    assert_eq!(host["name"], "API host");
    assert_eq!(host["status"], "fail");
    assert!(host["detail"].as_str().unwrap().contains("HTML"), "{host}");
    s.shutdown().await;

    // Every request fails: unavailable after (the check's few) retries.
    let s = sim(10, |c| c.faults.html_error_rate = 1.0).await;
    let started = std::time::Instant::now();
    let r = check(&s, &[], &[]).await;
    assert_eq!(r.code, 69, "{}", r.stdout);
    assert!(row(&r.stdout, "API host").contains("FAIL"));
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "check answers in seconds");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_fails_in_the_preflight_before_touching_the_output() {
    let s = sim(10, |c| c.keys = vec![ApiKeySpec::new(KEY, &["controls:read"])]).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let r = run_etl(&s, &out, &[]).await;
    assert_eq!(r.code, 77, "{}", r.stderr);
    let msg = r.summary()["message"].as_str().unwrap().to_string();
    assert!(msg.starts_with("preflight:") && msg.contains("personnel:read"), "{msg}");
    assert!(!out.exists(), "nothing written, not even the lock");
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// --config and config show
// ---------------------------------------------------------------------------------------

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

async fn show(args: &[&str], env: &[(&str, &str)]) -> (Run, Value) {
    let mut all = vec!["config", "show", "--format", "json"];
    all.extend_from_slice(args);
    let r = etl(&all, env).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = only_line(&r.stdout);
    (r, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_precedence_is_flag_env_file_default() {
    let tmp = tempfile::tempdir().unwrap();
    let key_file = write(&tmp.path().join("acme.key"), "key-from-file-7f3a");
    let cfg = write(
        &tmp.path().join("etl.toml"),
        "page_size = 11\nconcurrency = 3\nmax_retries = 5\nrequest-timeout = \"7s\"\nout = \"data\"\napi_key_file = \"acme.key\"\n",
    );
    let cfg_s = cfg.to_str().unwrap();
    let env = [("DRATA_ETL_PAGE_SIZE", "22"), ("DRATA_ETL_CONCURRENCY", "4"), ("DRATA_ETL_CONFIG", cfg_s)];
    let (r, v) = show(&["--page-size", "33"], &env).await;
    let s = &v["settings"];
    assert_eq!(s["page_size"]["value"], 33);
    assert_eq!(s["page_size"]["source"], "flag --page-size");
    assert_eq!(s["concurrency"]["value"], 4);
    assert_eq!(s["concurrency"]["source"], "env DRATA_ETL_CONCURRENCY");
    assert_eq!(s["max_retries"]["value"], 5);
    assert_eq!(s["max_retries"]["source"], format!("file {cfg_s}"));
    assert_eq!(s["request_timeout"]["value"], "7s");
    assert_eq!(s["max_list_passes"]["value"], 5);
    assert_eq!(s["max_list_passes"]["source"], "default");
    assert_eq!(s["deadline"]["value"], Value::Null);
    assert_eq!(s["out"]["value"], tmp.path().join("data").to_str().unwrap(), "relative to the config file");
    assert_eq!(v["config_file"], cfg_s);
    // The key: DRATA_API_KEY (environment) beats api_key_file from the file; never shown.
    assert_eq!(s["api_key"]["value"], "***");
    assert_eq!(s["api_key"]["source"], "env DRATA_API_KEY");
    assert!(!r.stdout.contains(KEY) && !r.stderr.contains(KEY));
    // Without it, the file's key file is used.
    let (r, v) = show(&[], &[("DRATA_API_KEY", ""), ("DRATA_ETL_CONFIG", cfg_s)]).await;
    let src = v["settings"]["api_key"]["source"].as_str().unwrap();
    assert!(src.contains("acme.key") && src.contains("file "), "{src}");
    assert!(!r.stdout.contains("key-from-file-7f3a"));
    // A flag beats both.
    let other = write(&tmp.path().join("other.key"), "other-key");
    let (_, v) = show(&["--api-key-file", other.to_str().unwrap()], &env).await;
    assert!(v["settings"]["api_key"]["source"].as_str().unwrap().contains("flag --api-key-file"));
    let _ = key_file;

    // TOML output round-trips as a config file.
    let r = etl(&["config", "show", "--config", cfg_s], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("page_size = 11  # file "), "{}", r.stdout);
    assert!(r.stdout.contains("# api_key = \"***\""), "{}", r.stdout);
    let again = write(&tmp.path().join("again.toml"), &r.stdout);
    let (_, v) = show(&["--config", again.to_str().unwrap()], &[]).await;
    assert_eq!(v["settings"]["page_size"]["value"], 11);

    // The example shipped for cron users stays valid.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cron/config.toml.example");
    let (_, v) = show(&["--config", example.to_str().unwrap()], &[]).await;
    assert_eq!(v["settings"]["workspace"]["value"], "acme");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_mistakes_are_usage_errors_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    for (text, needle) in [
        ("page_sise = 3\n", "unknown key `page_sise`"),
        ("api_key = \"sekrit-in-file\"\n", "`api_key` is not allowed"),
        ("concurrency = 0\n", "`concurrency`"),
        ("out = [1]\n", "`out` must be a single value"),
    ] {
        let cfg = write(&tmp.path().join("bad.toml"), text);
        for cmd in [&["run"][..], &["config", "show"][..], &["check"][..]] {
            let mut args = cmd.to_vec();
            args.extend(["--config", cfg.to_str().unwrap()]);
            let r = etl(&args, &[]).await;
            assert_eq!(r.code, 64, "{cmd:?} {text}: {}", r.stderr);
            assert!(r.stderr.contains(needle), "{cmd:?}: {needle} not in {}", r.stderr);
            assert!(!r.stderr.contains("sekrit") && !r.stdout.contains("sekrit"));
        }
    }
    let r = etl(&["run", "--config", "/nonexistent/drata.toml"], &[]).await;
    assert_eq!(r.code, 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_takes_its_settings_from_the_config_file() {
    let s = sim(40, |_| {}).await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(
        &tmp.path().join("etl.toml"),
        &format!(
            "base_url = \"{}\"\nout = \"snapshots\"\nworkspace = \"acme\"\nrun_at = 2026-03-01T05:00:00Z\npage_size = 15\n",
            s.base_url()
        ),
    );
    let r = etl(&["run", "--config", cfg.to_str().unwrap()], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = only_line(&r.stdout);
    assert_eq!(v["workspace"], "acme");
    assert_eq!(v["snapshot_id"], "20260301T050000Z");
    assert_eq!(v["listing"]["page_limit"], 15);
    assert!(tmp.path().join("snapshots/_snapshots/workspace=acme/20260301T050000Z/_manifest.json").is_file());
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// --metrics-file
// ---------------------------------------------------------------------------------------

fn metric(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_file_after_success_and_after_failure() {
    let s = sim(60, |_| {}).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let prom_dir = tmp.path().join("textfile");
    std::fs::create_dir(&prom_dir).unwrap();
    let prom = prom_dir.join("drata_etl_acme.prom");
    let args = ["--workspace", "acme", "--metrics-file", prom.to_str().unwrap()];
    let r = run_etl(&s, &out, &args).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary = r.summary();
    let text = std::fs::read_to_string(&prom).unwrap();
    let ws = "{workspace=\"acme\"}";
    assert_eq!(metric(&text, &format!("drata_etl_last_run_exit_code{ws}")), 0.0);
    assert_eq!(metric(&text, &format!("drata_etl_last_run_success{ws}")), 1.0);
    let success = metric(&text, &format!("drata_etl_last_success_timestamp_seconds{ws}"));
    assert!(success > 1.7e9, "{success}");
    assert_eq!(metric(&text, &format!("drata_etl_last_run_timestamp_seconds{ws}")), success);
    assert!(metric(&text, &format!("drata_etl_last_run_duration_seconds{ws}")) > 0.0);
    assert_eq!(
        metric(&text, &format!("drata_etl_last_run_api_requests{ws}")),
        summary["api"]["requests"].as_f64().unwrap()
    );
    assert_eq!(metric(&text, &format!("drata_etl_last_run_api_retries{ws}")), 0.0);
    assert_eq!(metric(&text, &format!("drata_etl_last_run_api_rate_limited{ws}")), 0.0);
    assert_eq!(metric(&text, "drata_etl_last_run_people{workspace=\"acme\",state=\"listed\"}"), 60.0);
    assert_eq!(metric(&text, "drata_etl_last_run_people{workspace=\"acme\",state=\"enriched\"}"), 60.0);
    assert_eq!(metric(&text, "drata_etl_last_run_people{workspace=\"acme\",state=\"failed\"}"), 0.0);
    for table in ["personnel", "personnel_training", "personnel_background_checks", "controls"] {
        let series = format!("drata_etl_last_success_rows{{workspace=\"acme\",table=\"{table}\"}}");
        assert_eq!(metric(&text, &series), summary["rows"][table].as_f64().unwrap(), "{table}");
    }
    for name in text.lines().filter(|l| !l.starts_with('#')).map(|l| l.split(['{', ' ']).next().unwrap()) {
        assert!(name.starts_with("drata_etl_"), "{name}");
        assert!(text.contains(&format!("# HELP {name} ")), "{name} has HELP");
        assert!(text.contains(&format!("# TYPE {name} gauge")), "{name} has TYPE");
    }

    // A failed run (the key is rejected): exit code and time change, the last success stays.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut c = bin();
    c.env("DRATA_API_KEY", "revoked-key-41")
        .arg("run")
        .arg("--base-url")
        .arg(s.base_url())
        .arg("--out")
        .arg(&out)
        .args(args);
    let r: Run = c.output().await.unwrap().into();
    assert_eq!(r.code, 77, "{}", r.stderr);
    let after = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(metric(&after, &format!("drata_etl_last_run_exit_code{ws}")), 77.0);
    assert_eq!(metric(&after, &format!("drata_etl_last_run_success{ws}")), 0.0);
    assert_eq!(metric(&after, &format!("drata_etl_last_success_timestamp_seconds{ws}")), success, "kept");
    assert!(metric(&after, &format!("drata_etl_last_run_timestamp_seconds{ws}")) > success);
    assert_eq!(
        metric(&after, "drata_etl_last_success_rows{workspace=\"acme\",table=\"personnel\"}"),
        60.0,
        "rows of the last committed snapshot are kept"
    );
    assert!(!after.contains("revoked-key-41") && !after.contains(KEY), "no secrets in metrics");
    let files: Vec<_> = std::fs::read_dir(&prom_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "no temporary files left: {files:?}");

    // A usage error still writes the file, so an alert sees the broken cron line.
    let r = etl(
        &["run", "--out", out.to_str().unwrap(), "--run-at", "someday", "--metrics-file", prom.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(r.code, 64);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(metric(&text, "drata_etl_last_run_exit_code"), 64.0);
    assert_eq!(metric(&text, "drata_etl_last_success_timestamp_seconds"), success, "kept from the previous file");
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// verify, list, prune
// ---------------------------------------------------------------------------------------

async fn snapshot(sim: &RunningSim, out: &Path, run_at: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--run-at", run_at];
    args.extend_from_slice(extra);
    let r = run_etl(sim, out, &args).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.summary()
}

fn manifest_of(out: &Path, id: &str) -> (PathBuf, Value) {
    let p = out.join("_snapshots").join(id).join("_manifest.json");
    let v = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    (p, v)
}

async fn root_cmd(cmd: &str, out: &Path, extra: &[&str]) -> Run {
    let mut args = vec![cmd, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    etl(&args, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_detects_deleted_truncated_and_recounted_files() {
    let s = sim(40, |_| {}).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let ids = ["20260105T010000Z", "20260105T020000Z", "20260105T030000Z"];
    for at in ["2026-01-05T01:00:00Z", "2026-01-05T02:00:00Z", "2026-01-05T03:00:00Z"] {
        snapshot(&s, out, at, &[]).await;
    }
    let r = root_cmd("verify", out, &["--snapshot", "all"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.lines().filter(|l| l.starts_with("ok")).count(), 3, "{}", r.stdout);

    // 1: a deleted data file.
    let (_, m1) = manifest_of(out, ids[0]);
    let deleted = m1["tables"]["personnel_training"]["files"][0]["path"].as_str().unwrap().to_string();
    std::fs::remove_file(out.join(&deleted)).unwrap();
    // 2: a truncated data file.
    let (_, m2) = manifest_of(out, ids[1]);
    let truncated = m2["tables"]["controls"]["files"][0]["path"].as_str().unwrap().to_string();
    let f = std::fs::OpenOptions::new().write(true).open(out.join(&truncated)).unwrap();
    f.set_len(f.metadata().unwrap().len() / 2).unwrap();
    // 3: the manifest claims another row count.
    let (p3, mut m3) = manifest_of(out, ids[2]);
    let rows = m3["tables"]["personnel"]["files"][0]["rows"].as_u64().unwrap();
    m3["tables"]["personnel"]["files"][0]["rows"] = (rows + 1).into();
    m3["tables"]["personnel"]["rows"] = (rows + 1).into();
    std::fs::write(&p3, serde_json::to_vec_pretty(&m3).unwrap()).unwrap();

    let r = root_cmd("verify", out, &["--snapshot", ids[0]]).await;
    assert_eq!(r.code, 65, "{}", r.stdout);
    assert!(r.stdout.contains(&deleted) && r.stdout.contains("cannot read"), "{}", r.stdout);
    assert_eq!(r.summary()["error_kind"], "data_invalid");
    let r = root_cmd("verify", out, &["--snapshot", ids[1]]).await;
    assert_eq!(r.code, 65, "{}", r.stdout);
    assert!(r.stdout.contains(&truncated) && r.stdout.contains("size"), "{}", r.stdout);
    let r = root_cmd("verify", out, &[]).await; // latest = ids[2]
    assert_eq!(r.code, 65, "{}", r.stdout);
    assert!(r.stdout.contains(&format!("{} rows, manifest says {}", rows, rows + 1)), "{}", r.stdout);
    let r = root_cmd("verify", out, &["--snapshot", "all"]).await;
    assert_eq!(r.code, 65);
    assert_eq!(r.stdout.lines().filter(|l| l.starts_with("FAILED")).count(), 3, "{}", r.stdout);

    // Nothing to verify is a usage error that says what exists.
    let r = root_cmd("verify", out, &["--snapshot", "20990101T000000Z"]).await;
    assert_eq!(r.code, 64);
    assert!(r.summary()["message"].as_str().unwrap().contains(ids[2]));
    let r = root_cmd("verify", &out.join("nope"), &[]).await;
    assert_eq!(r.code, 64);
    s.shutdown().await;
}

fn rfc3339_ago(hours: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::hours(hours);
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn committed_ids(out: &Path) -> Vec<String> {
    drata_etl::load::catalogue::committed_manifests(out).unwrap().into_iter().map(|m| m.snapshot_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_what_it_must() {
    let s = sim(25, |_| {}).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let mut ids = Vec::new();
    for hours in [240, 120, 48, 1] {
        ids.push(snapshot(&s, out, &rfc3339_ago(hours), &[]).await["snapshot_id"].as_str().unwrap().to_string());
    }
    let data_dirs = |id: &str| -> usize {
        drata_etl::load::Table::ALL
            .iter()
            .filter(|t| {
                std::fs::read_dir(out.join(t.name()))
                    .unwrap()
                    .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
                    .any(|e| e.unwrap().file_name().to_string_lossy() == format!("snapshot_id={id}"))
            })
            .count()
    };
    assert_eq!(data_dirs(&ids[0]), drata_etl::load::Table::ALL.len());

    // A dry run decides but removes nothing.
    let r = root_cmd("prune", out, &["--keep-days", "3", "--dry-run"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.matches("would remove").count(), 3, "{}", r.stdout); // 2 + the summary line
    assert_eq!(committed_ids(out).len(), 4);

    // --keep 3: the oldest goes, manifest and data.
    let r = root_cmd("prune", out, &["--keep", "3"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&format!("removed {}", ids[0])), "{}", r.stdout);
    assert_eq!(committed_ids(out), ids[1..].to_vec());
    assert_eq!(data_dirs(&ids[0]), 0, "partitions removed");

    // --keep-days 3: the 5-day-old one goes.
    let r = root_cmd("prune", out, &["--keep-days", "3"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(committed_ids(out), ids[2..].to_vec());

    // The latest is never removed, whatever the rule says.
    let r = root_cmd("prune", out, &["--keep-days", "0"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(committed_ids(out), vec![ids[3].clone()]);
    assert!(r.stdout.contains("the latest"), "{}", r.stdout);
    let r = root_cmd("verify", out, &[]).await;
    assert_eq!(r.code, 0, "{}", r.stdout);

    // Retention is a usage error when missing, ambiguous or zero.
    assert_eq!(root_cmd("prune", out, &[]).await.code, 64);
    assert_eq!(root_cmd("prune", out, &["--keep", "0"]).await.code, 64);
    assert_eq!(root_cmd("prune", out, &["--keep", "2", "--keep-days", "2"]).await.code, 64);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_refuses_while_a_run_holds_the_lock_and_cleans_orphans() {
    let s = sim(20, |_| {}).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let old = snapshot(&s, out, "2026-01-01T00:00:00Z", &["--workspace", "acme"]).await;
    snapshot(&s, out, "2026-01-02T00:00:00Z", &["--workspace", "acme"]).await;
    snapshot(&s, out, "2026-01-01T00:00:00Z", &["--workspace", "globex"]).await;
    snapshot(&s, out, "2026-01-02T00:00:00Z", &["--workspace", "globex"]).await;
    {
        // What a run holds while it writes.
        let _held = drata_etl::load::OutputRoot::open(out, Some("acme")).unwrap();
        let r = root_cmd("prune", out, &["--keep", "1"]).await;
        assert_eq!(r.code, 75, "{}\n{}", r.stdout, r.stderr);
        assert!(r.summary()["message"].as_str().unwrap().contains("lock"), "{}", r.stdout);
        assert!(r.stdout.contains("skipped workspace acme"), "{}", r.stdout);
        let left: Vec<_> = drata_etl::load::catalogue::committed_manifests(out)
            .unwrap()
            .into_iter()
            .map(|m| (m.workspace.unwrap(), m.snapshot_id))
            .collect();
        assert_eq!(left.iter().filter(|(w, _)| w == "acme").count(), 2, "acme untouched: {left:?}");
        assert_eq!(left.iter().filter(|(w, _)| w == "globex").count(), 1, "globex pruned: {left:?}");
        let r = root_cmd("prune", out, &["--keep", "1", "--workspace", "acme"]).await;
        assert_eq!(r.code, 75);
    }
    // An orphan: a snapshot whose manifest went missing (a prune killed half-way).
    let id = old["snapshot_id"].as_str().unwrap();
    std::fs::remove_file(out.join(format!("_snapshots/workspace=acme/{id}/_manifest.json"))).unwrap();
    let r = root_cmd("verify", out, &["--workspace", "acme"]).await;
    assert_eq!(r.code, 65, "{}", r.stdout);
    assert!(r.stdout.contains("has no manifest"), "{}", r.stdout);
    let r = root_cmd("prune", out, &["--keep", "1", "--workspace", "acme"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("orphaned partition"), "{}", r.stdout);
    let r = root_cmd("verify", out, &["--snapshot", "all"]).await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_committed_snapshots_as_text_and_json() {
    let s = sim(35, |_| {}).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let r = root_cmd("list", out, &[]).await;
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("no committed snapshots"), "{}", r.stdout);
    let a = snapshot(&s, out, "2026-02-01T00:00:00Z", &[]).await;
    snapshot(&s, out, "2026-02-01T01:00:00Z", &["--workspace", "acme"]).await;

    let r = root_cmd("list", out, &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("WORKSPACE") && lines[0].contains("PERSONNEL"), "{}", r.stdout);
    assert!(lines.iter().any(|l| l.contains("20260201T000000Z") && l.contains(" 35 ")), "{}", r.stdout);
    assert!(lines.iter().any(|l| l.starts_with("acme") && l.contains("20260201T010000Z")), "{}", r.stdout);
    assert!(lines.last().unwrap().starts_with("2 snapshot(s)"), "{}", r.stdout);

    let r = root_cmd("list", out, &["--format", "json"]).await;
    assert_eq!(r.code, 0);
    let v = only_line(&r.stdout);
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    let plain = arr.iter().find(|x| x["workspace"].is_null()).unwrap();
    assert_eq!(plain["snapshot_id"], a["snapshot_id"]);
    assert_eq!(plain["rows"]["personnel"], 35);
    assert_eq!(plain["rows"]["controls"], a["rows"]["controls"]);
    assert!(plain["bytes"].as_u64().unwrap() > 0 && plain["files"].as_u64().unwrap() >= 4);
    let r = root_cmd("list", out, &["--format", "json", "--workspace", "acme"]).await;
    let v = only_line(&r.stdout);
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["workspace"], "acme");
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// progress
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_goes_to_stderr_only_and_only_when_asked() {
    let s = sim(150, |c| c.latency = std::time::Duration::from_millis(2)).await;
    let tmp = tempfile::tempdir().unwrap();
    // Not a terminal: auto (the default) prints nothing.
    let r = run_etl(&s, &tmp.path().join("a"), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    only_line(&r.stdout);
    assert!(!r.stderr.contains("progress:"), "{}", r.stderr);
    let r = run_etl(&s, &tmp.path().join("b"), &["--progress", "never"]).await;
    assert!(!r.stderr.contains("progress:"));
    only_line(&r.stdout);
    // always: plain progress lines on stderr, stdout still exactly the summary.
    let r = run_etl(&s, &tmp.path().join("c"), &["--progress", "always"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(only_line(&r.stdout)["status"], "ok");
    let progress: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("progress:")).collect();
    assert!(progress.len() >= 2, "{}", r.stderr);
    let last = progress.last().unwrap();
    assert!(last.contains("people 150/150") && last.contains("requests") && last.contains("429"), "{last}");
    // The environment variable does the same.
    let mut c = bin();
    c.env("DRATA_ETL_PROGRESS", "always")
        .arg("run")
        .arg("--base-url")
        .arg(s.base_url())
        .arg("--out")
        .arg(tmp.path().join("d"));
    let r: Run = c.output().await.unwrap().into();
    assert!(r.stderr.contains("progress:"));
    only_line(&r.stdout);
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// the cron wrapper
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_wrapper_runs_a_workspace_from_its_env_file() {
    let s = sim(20, |_| {}).await;
    let tmp = tempfile::tempdir().unwrap();
    let env_dir = tmp.path().join("etc");
    std::fs::create_dir(&env_dir).unwrap();
    let key = write(&env_dir.join("acme.key"), KEY);
    let out = tmp.path().join("out");
    let env_file = write(
        &env_dir.join("acme.env"),
        &format!(
            "# test\nDRATA_API_KEY_FILE={}\nDRATA_ETL_OUT={}\nDRATA_BASE_URL={}\nDRATA_ETL_RUN_AT=2000-01-01T00:00:00Z\n",
            key.display(),
            out.display(),
            s.base_url()
        ),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cron/drata-etl-cron.sh");
    let run = |extra_env: Option<(&'static str, &'static str)>| {
        let mut c = tokio::process::Command::new("sh");
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DRATA_ETL_ENV_DIR", &env_dir)
            .env("DRATA_ETL_BIN", env!("CARGO_BIN_EXE_drata-etl"))
            .arg(&script)
            .arg("acme")
            .kill_on_drop(true);
        if let Some((k, v)) = extra_env {
            c.env(k, v);
        }
        c.output()
    };
    let r: Run = run(None).await.unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = only_line(&r.stdout);
    assert_eq!(v["workspace"], "acme");
    let run_at = v["run_at"].as_str().unwrap();
    assert!(run_at.ends_with(":00:00Z") && !run_at.starts_with("2000"), "on the hour, from the clock: {run_at}");
    assert!(r.stderr.contains("drata-etl-cron:") && r.stderr.contains("workspace acme"));
    // A rerun in the same hour replaces the snapshot (unless the hour just turned).
    let r: Run = run(None).await.unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(committed_ids(&out).len() <= 2);
    // An explicit earlier hour from the caller's environment.
    let r: Run = run(Some(("DRATA_ETL_RUN_AT", "2026-01-31T02:00:00Z"))).await.unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(only_line(&r.stdout)["snapshot_id"], "20260131T020000Z");
    // A missing env file is a usage error.
    let mut c = tokio::process::Command::new("sh");
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DRATA_ETL_ENV_DIR", &env_dir)
        .arg(&script)
        .arg("globex");
    let r: Run = c.output().await.unwrap().into();
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("globex.env"));
    s.shutdown().await;
}
