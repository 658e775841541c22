//! End-to-end resilience: one test per simulator fault mode, asserting the exact final
//! data or the exact exit code and message; plus deadlines, signals, a second concurrent
//! run, and plain-http refusal. Fault rates are high enough to prove the behaviour and low
//! enough to keep each test to a few seconds.

use crate::common::*;
use drata_etl::sim::{ApiKeySpec, Drift, RateLimit};
use std::collections::BTreeSet;
use std::time::Duration;

fn ids_in(out: &std::path::Path) -> BTreeSet<String> {
    col(&read_table(out, "personnel"), "id").into_iter().map(|s| s.unwrap()).collect()
}

fn sim_ids(sim: &drata_etl::sim::RunningSim) -> BTreeSet<String> {
    sim.sim.personnel_json().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
}

/// Rows of both child tables, as (personnel_id, ordinal, status) triples.
fn child_rows(out: &std::path::Path, table: &str) -> BTreeSet<(String, String, Option<String>)> {
    let b = read_table(out, table);
    let (p, o, s) = (col(&b, "personnel_id"), col(&b, "ordinal"), col(&b, "status"));
    (0..p.len()).map(|i| (p[i].clone().unwrap(), o[i].clone().unwrap(), s[i].clone())).collect()
}

fn expected_child_rows(sim: &drata_etl::sim::RunningSim, training: bool) -> BTreeSet<(String, String, Option<String>)> {
    let mut out = BTreeSet::new();
    for id in sim_ids(sim) {
        let rows = if training { sim.sim.training_json(&id) } else { sim.sim.background_checks_json(&id) };
        for (i, r) in rows.unwrap().iter().enumerate() {
            out.insert((id.clone(), i.to_string(), wire_str(r, "status")));
        }
    }
    out
}

/// The snapshot equals the simulator's data exactly.
fn assert_exact(sim: &drata_etl::sim::RunningSim, out: &std::path::Path) {
    assert_eq!(ids_in(out), sim_ids(sim), "personnel ids");
    assert_eq!(child_rows(out, "personnel_training"), expected_child_rows(sim, true), "training rows");
    assert_eq!(child_rows(out, "personnel_background_checks"), expected_child_rows(sim, false), "check rows");
    let b = read_table(out, "personnel");
    assert!(col(&b, "training_fetch_status").iter().all(|s| s.as_deref() == Some("ok")));
}

async fn faulty(personnel: usize, set: impl FnOnce(&mut drata_etl::sim::Faults)) -> drata_etl::sim::RunningSim {
    let mut cfg = sim_config(personnel);
    cfg.faults.fault_seed = 99;
    set(&mut cfg.faults);
    start(cfg).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_502_503_are_retried() {
    let sim = faulty(300, |f| f.html_error_rate = 0.15).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_exact(&sim, tmp.path());
    assert!(r.summary()["api"]["retries"].as_u64().unwrap() > 10);
    assert!(sim.sim.stats().faults_injected > 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_are_retried() {
    let sim = faulty(300, |f| f.cut_rate = 0.1).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_exact(&sim, tmp.path());
    assert!(r.summary()["api"]["transport_errors"].as_u64().unwrap() > 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_json_is_retried() {
    let sim = faulty(300, |f| f.truncate_rate = 0.1).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_exact(&sim, tmp.path());
    assert!(r.summary()["api"]["retries"].as_u64().unwrap() > 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_responses_time_out_and_are_retried() {
    let sim = faulty(120, |f| {
        f.slow_rate = 0.05;
        f.slow = Duration::from_secs(5);
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--request-timeout", "300ms", "--concurrency", "32"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_exact(&sim, tmp.path());
    assert!(r.summary()["api"]["timeouts"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_capped_limit_is_trusted() {
    let sim = faulty(333, |f| f.max_page_limit = Some(30)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--page-size", "100"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_exact(&sim, tmp.path());
    let s = r.summary();
    assert_eq!(s["listing"]["page_limit"], 30);
    assert_eq!(s["api"]["requests_by_endpoint"]["personnel_list"], 12); // ceil(333/30)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_while_paging_is_relisted_until_stable() {
    let sim = faulty(1000, |f| f.drift = Some(Drift { inserts_per_page: 3, deletes_per_page: 2, max_events: 6 })).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--concurrency", "4"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The snapshot holds the set that exists at the end: nobody skipped, nobody deleted.
    assert_exact(&sim, tmp.path());
    let m = &manifests(tmp.path())[0];
    assert_eq!(m["listing"]["drift"], "resolved");
    assert!(m["listing"]["passes"].as_u64().unwrap() >= 2);
    assert!(m["listing"]["totals_seen"].as_array().unwrap().len() >= 2);
    assert_eq!(m["listing"]["unique"], sim_ids(&sim).len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_429_is_honoured() {
    let sim = faulty(150, |f| f.rate_limit = Some(RateLimit { per_second: 150.0, burst: 10 })).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_exact(&sim, tmp.path());
    let s = r.summary();
    let requests = s["api"]["requests"].as_u64().unwrap();
    let limited = s["api"]["rate_limited"].as_u64().unwrap();
    assert!(limited > 0, "the limit was hit");
    assert!(limited * 4 < requests, "pacing keeps 429s a minority: {limited} of {requests}");
}

async fn expect_failure(sim: &drata_etl::sim::RunningSim, code: i32, needles: &[&str]) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(sim, tmp.path(), &[]).await;
    assert_eq!(r.code, code, "stdout: {} stderr: {}", r.stdout, r.stderr);
    let s = r.summary();
    assert_eq!(s["status"], "error");
    assert_eq!(s["exit_code"], code);
    let msg = s["message"].as_str().unwrap().to_lowercase();
    for n in needles {
        assert!(msg.contains(n), "message lacks '{n}': {msg}");
    }
    assert!(manifests(tmp.path()).is_empty(), "nothing committed");
    assert!(parquet_files(tmp.path()).is_empty(), "no visible data files");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_fails_fast_with_77() {
    let sim = faulty(50, |f| f.unauthorized = true).await;
    expect_failure(&sim, 77, &["401", "key"]).await;
    assert!(sim.sim.stats().requests_total <= 2, "no retries on 401");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_fails_with_77() {
    let sim = start(sim_config(10)).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.env("DRATA_API_KEY", "not-the-key").arg("run").arg("--base-url").arg(sim.base_url()).arg("--out").arg(tmp.path());
    let r: Run = c.output().await.unwrap().into();
    assert_eq!(r.code, 77, "{}", r.stderr);
    assert!(r.summary()["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_scope_fails_with_77() {
    let mut cfg = sim_config(10);
    cfg.keys = vec![ApiKeySpec::new(KEY, &["personnel:read"])];
    let sim = start(cfg).await;
    expect_failure(&sim, 77, &["403", "controls:read"]).await;
    let mut cfg = sim_config(10);
    cfg.keys = vec![ApiKeySpec::new(KEY, &["controls:read"])];
    let sim = start(cfg).await;
    expect_failure(&sim, 77, &["403", "personnel:read"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_login_page_means_wrong_host() {
    let sim = faulty(10, |f| f.html_login = true).await;
    expect_failure(&sim, 77, &["html", "api host"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_exhausted_is_69() {
    let sim = faulty(10, |f| f.html_error_rate = 1.0).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--max-retries", "3"]).await;
    assert_eq!(r.code, 69, "{}", r.stderr);
    assert!(r.summary()["message"].as_str().unwrap().contains("after 3 attempts"));
    assert!(manifests(tmp.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_is_75_and_commits_nothing() {
    let mut cfg = sim_config(200);
    cfg.latency = Duration::from_millis(100);
    let sim = start(cfg).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--deadline", "1s", "--concurrency", "2"]).await;
    assert_eq!(r.code, 75, "{}", r.stderr);
    assert!(r.summary()["message"].as_str().unwrap().contains("deadline"));
    assert!(manifests(tmp.path()).is_empty());
    assert!(parquet_files(tmp.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_outlasting_the_deadline_is_75() {
    // One token, refilled every 20 s: the second request is told to wait far past the deadline.
    let sim = faulty(50, |f| f.rate_limit = Some(RateLimit { per_second: 0.05, burst: 1 })).await;
    let tmp = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let r = run_etl(&sim, tmp.path(), &["--deadline", "3s"]).await;
    assert_eq!(r.code, 75, "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(10), "gives up without sleeping past the deadline");
    assert!(manifests(tmp.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_remote_host_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.args(["run", "--base-url", "http://public-api.drata.com", "--out"]).arg(tmp.path());
    let r: Run = c.output().await.unwrap().into();
    assert_eq!(r.code, 64);
    assert!(r.summary()["message"].as_str().unwrap().contains("https"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_key_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.env_remove("DRATA_API_KEY").args(["run", "--base-url", "https://public-api.drata.com", "--out"]).arg(tmp.path());
    let r: Run = c.output().await.unwrap().into();
    assert_eq!(r.code, 64);
    assert!(r.summary()["message"].as_str().unwrap().contains("DRATA_API_KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_output_is_73() {
    let sim = start(sim_config(5)).await;
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let r = run_etl(&sim, &blocker.join("out"), &[]).await;
    assert_eq!(r.code, 73, "{}", r.stderr);
    assert!(r.summary()["message"].as_str().unwrap().contains("writable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_concurrent_run_exits_at_once() {
    let mut cfg = sim_config(100);
    cfg.latency = Duration::from_millis(50);
    let sim = start(cfg).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut first = bin();
    first.arg("run").arg("--base-url").arg(sim.base_url()).arg("--out").arg(tmp.path()).arg("--concurrency").arg("2");
    first.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let first = first.spawn().unwrap();
    // Wait until the first run holds the lock (its staging folder exists).
    let staging = tmp.path().join("_staging");
    for _ in 0..200 {
        if staging.is_dir() && std::fs::read_dir(&staging).unwrap().next().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = std::time::Instant::now();
    let second = run_etl(&sim, tmp.path(), &[]).await;
    assert_eq!(second.code, 75, "{}", second.stderr);
    assert!(second.summary()["message"].as_str().unwrap().contains("another drata-etl run"));
    assert!(started.elapsed() < Duration::from_secs(3));
    let first: Run = first.wait_with_output().await.unwrap().into();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(manifests(tmp.path()).len(), 1);
}

async fn signal_run(sig: &str) -> (Run, tempfile::TempDir) {
    let mut cfg = sim_config(300);
    cfg.latency = Duration::from_millis(30);
    let sim = start(cfg).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.arg("run").arg("--base-url").arg(sim.base_url()).arg("--out").arg(tmp.path()).arg("--concurrency").arg("2");
    c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill").args([sig, &pid]).status().unwrap();
    assert!(status.success());
    let r: Run = child.wait_with_output().await.unwrap().into();
    (r, tmp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_aborts_without_commit_75() {
    let (r, tmp) = signal_run("-TERM").await;
    assert_eq!(r.code, 75, "{}", r.stderr);
    assert!(manifests(tmp.path()).is_empty());
    assert!(parquet_files(tmp.path()).is_empty());
    assert_no_leftovers(tmp.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_aborts_without_commit_130() {
    let (r, tmp) = signal_run("-INT").await;
    assert_eq!(r.code, 130, "{}", r.stderr);
    assert!(manifests(tmp.path()).is_empty());
}

/// People whose child endpoints 404 are kept and marked `gone`, never written as "no rows".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_people_are_recorded_as_gone() {
    let sim = faulty(400, |f| f.vanished_rate = 0.05).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let b = read_table(tmp.path(), "personnel");
    let (ids, t, c) = (col(&b, "id"), col(&b, "training_fetch_status"), col(&b, "background_check_fetch_status"));
    let mut gone = BTreeSet::new();
    for i in 0..ids.len() {
        let id = ids[i].clone().unwrap();
        let vanished = sim.sim.person_fault(&id) == Some(drata_etl::sim::PersonFault::Vanished);
        let want = if vanished { "gone" } else { "ok" };
        assert_eq!(t[i].as_deref(), Some(want), "{id}");
        assert_eq!(c[i].as_deref(), Some(want), "{id}");
        if vanished {
            gone.insert(id);
        }
    }
    assert!(!gone.is_empty());
    let training = child_rows(tmp.path(), "personnel_training");
    assert!(training.iter().all(|(pid, _, _)| !gone.contains(pid)));
    assert_eq!(r.summary()["enrichment"]["gone"], gone.len());
    assert_eq!(manifests(tmp.path())[0]["enrichment"]["gone"], gone.len());
}

/// A child call that fails after retries: with the default budget (0) the run fails
/// without committing; with a budget it commits and marks those people `failed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_enrichments_obey_the_budget() {
    let sim = faulty(200, |f| f.broken_rate = 0.02).await;
    let broken: BTreeSet<String> = sim_ids(&sim)
        .into_iter()
        .filter(|id| sim.sim.person_fault(id) == Some(drata_etl::sim::PersonFault::Broken))
        .collect();
    assert!(!broken.is_empty() && broken.len() < 10, "{}", broken.len());
    let fast = ["--max-retries", "2"];

    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &fast).await;
    assert_eq!(r.code, 69, "{}", r.stderr);
    assert!(r.summary()["message"].as_str().unwrap().contains("--max-failed-enrichments"));
    assert!(manifests(tmp.path()).is_empty() && parquet_files(tmp.path()).is_empty());

    for budget in ["10", "5%"] {
        let tmp = tempfile::tempdir().unwrap();
        let r = run_etl(&sim, tmp.path(), &[&fast[..], &["--max-failed-enrichments", budget]].concat()).await;
        assert_eq!(r.code, 0, "{budget}: {}", r.stderr);
        let b = read_table(tmp.path(), "personnel");
        let (ids, t) = (col(&b, "id"), col(&b, "training_fetch_status"));
        let failed: BTreeSet<String> =
            (0..ids.len()).filter(|i| t[*i].as_deref() == Some("failed")).map(|i| ids[i].clone().unwrap()).collect();
        assert_eq!(failed, broken);
        assert_eq!(r.summary()["enrichment"]["failed"], broken.len());
    }
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &[&fast[..], &["--max-failed-enrichments", "0.1%"]].concat()).await;
    assert_eq!(r.code, 69, "{}", r.stderr);
}

/// A `total` that lies (far too high, or too low) never makes the run page forever or
/// drop people: paging stops at the first empty page, and the mismatch is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_total_is_survived_and_recorded() {
    for skew in [1_000_000_000i64, 7, -30] {
        let sim = faulty(250, |f| f.total_skew = skew).await;
        let tmp = tempfile::tempdir().unwrap();
        let r = run_etl(&sim, tmp.path(), &["--concurrency", "4"]).await;
        assert_eq!(r.code, 0, "skew {skew}: {}", r.stderr);
        assert_exact(&sim, tmp.path());
        let s = r.summary();
        assert_eq!(s["listing"]["matches_total"], false, "skew {skew}");
        assert!(
            s["api"]["requests_by_endpoint"]["personnel_list"].as_u64().unwrap() < 40,
            "skew {skew}: bounded paging"
        );
    }
}
