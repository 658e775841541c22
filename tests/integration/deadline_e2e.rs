//! `--deadline` bounds the whole run, not only its API requests: the real binary against
//! the simulator, with a disk made slow (the debug-only `DRATA_ETL_TEST_SLOW_WRITE` hook in
//! `load/writer.rs`) or an S3 store made slow (a loopback proxy in front of moto that stalls
//! chosen requests). A run that would pass its deadline in the lock, the previous-snapshot
//! download, the writing, the upload or before the commit intent exits 75 soon after the
//! deadline (not when the slow stage would have finished), names the stage, and commits
//! nothing.
//!
//! Python for moto: `$DRATA_ETL_PYTHON`, else `<repo>/.venv/bin/python` (as in
//! `object_store_e2e.rs`); without it the S3 test fails with a hint (it does not skip).

use crate::common::{bin, manifests, sim_config, start, Run};
use crate::moto::{MotoServer, BUCKET};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a slowed step takes: far longer than any deadline below, so a run that waits
/// for it cannot finish within the bounds these tests check.
const STALL: Duration = Duration::from_secs(120);

/// A test's upper bound on a run that must stop at its deadline (the deadline plus ample
/// slack for start-up and a loaded machine, yet far below what the slowed stage takes).
const WITHIN: Duration = Duration::from_secs(40);

async fn timed(mut cmd: tokio::process::Command) -> (Run, Duration) {
    let started = Instant::now();
    let limit = WITHIN + Duration::from_secs(20);
    let out = tokio::time::timeout(limit, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("the run was still going {limit:?} after its start: --deadline did not bound it"))
        .expect("binary runs");
    (out.into(), started.elapsed())
}

fn assert_deadline_failure(r: &Run, took: Duration, stage: &str) {
    assert_eq!(r.code, 75, "expected exit 75\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    let s = r.summary();
    let msg = s["message"].as_str().unwrap();
    assert!(msg.contains("--deadline") && msg.contains(stage), "the message names the stage ({stage}): {msg}");
    assert!(took < WITHIN, "exited {took:?} after start, not soon after its deadline");
    eprintln!("stopped in {stage:?} {took:?} after its start");
}

async fn list_local(out: &Path) -> serde_json::Value {
    let r: Run = bin().args(["list", "--format", "json", "--out"]).arg(out).output().await.unwrap().into();
    assert_eq!(r.code, 0, "list: {}", r.stderr);
    serde_json::from_str(r.stdout.trim()).unwrap()
}

/// Every part file takes STALL to close: the run's writing ends at the deadline with 75.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_disk_ends_the_run_at_its_deadline_with_nothing_committed() {
    let sim = start(sim_config(30)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut cmd = bin();
    cmd.arg("run").arg("--base-url").arg(sim.base_url()).arg("--out").arg(&out);
    cmd.args(["--deadline", "5s"]).env("DRATA_ETL_TEST_SLOW_WRITE", STALL.as_millis().to_string());
    let (r, took) = timed(cmd).await;
    assert_deadline_failure(&r, took, "writing");
    assert!(manifests(&out).is_empty(), "no snapshot is committed");
    assert_eq!(list_local(&out).await, serde_json::json!([]));
    // Without the slow disk the same output takes a run at once (the staging left is discarded).
    let ok = crate::common::run_etl(&sim, &out, &["--deadline", "60s"]).await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(manifests(&out).len(), 1);
    crate::common::assert_no_leftovers(&out);
}

/// A blocking step that cannot be cut (deriving the org table, here slowed to outlast the
/// deadline) is caught by the check right before the commit intent: 75, nothing committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_passed_in_a_blocking_step_is_caught_before_the_commit_intent() {
    let sim = start(sim_config(30)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut cmd = bin();
    cmd.arg("run").arg("--base-url").arg(sim.base_url()).arg("--out").arg(&out);
    // Long enough past the deadline, short enough that the old code would commit.
    cmd.args(["--deadline", "4s"]).env("DRATA_ETL_TEST_SLOW_WRITE", "personnel_org:8000");
    let (r, took) = timed(cmd).await;
    assert_deadline_failure(&r, took, "personnel_org");
    assert!(manifests(&out).is_empty(), "no snapshot is committed");
    assert_eq!(list_local(&out).await, serde_json::json!([]));
    let staged = out.join("_staging/_default");
    let left: Vec<PathBuf> =
        std::fs::read_dir(&staged).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "the run discards its own staging: {left:?}");
}

// ---- S3 (moto) behind a proxy that stalls chosen requests ----

async fn start_moto() -> (MotoServer, String) {
    let server = crate::moto::start().await;
    let endpoint = server.endpoint.clone();
    (server, endpoint)
}

/// Which requests the proxy stalls: (method, path) -> stall?
type Stall = fn(&str, &str) -> bool;

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    stall: Stall,
}

/// Forward every request to moto unchanged, except that the chosen ones first wait STALL.
async fn forward(State(p): State<Arc<Proxy>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    if (p.stall)(parts.method.as_str(), parts.uri.path()) {
        tokio::time::sleep(STALL).await;
    }
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut headers = parts.headers.clone();
    headers.remove(axum::http::header::HOST);
    let sent = p
        .http
        .request(parts.method.clone(), format!("{}{path_and_query}", p.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await
        .expect("moto answers");
    let mut resp = Response::builder().status(sent.status());
    for (k, v) in sent.headers() {
        resp = resp.header(k, v);
    }
    resp.body(Body::from(sent.bytes().await.unwrap())).unwrap()
}

/// A proxy on a free loopback port in front of `upstream`; returns its endpoint.
async fn slow_proxy(upstream: &str, stall: Stall) -> String {
    let http = reqwest::Client::builder().no_gzip().no_deflate().build().unwrap();
    let state = Arc::new(Proxy { upstream: upstream.to_string(), http, stall });
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn s3_cmd(endpoint: &str) -> tokio::process::Command {
    let mut c = bin();
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
        .env("AWS_REGION", "us-east-1")
        .env("DRATA_ETL_S3_ENDPOINT", endpoint)
        .env("DRATA_ETL_LOG", "info");
    c
}

async fn keys(endpoint: &str, prefix: &str) -> Vec<String> {
    let body =
        reqwest::get(format!("{endpoint}/{BUCKET}?list-type=2&prefix={prefix}")).await.unwrap().text().await.unwrap();
    body.split("<Key>").skip(1).map(|s| s.split("</Key>").next().unwrap().to_string()).collect()
}

async fn committed(moto: &str, prefix: &str) -> Vec<serde_json::Value> {
    let url = format!("s3://{BUCKET}/{prefix}");
    let r: Run = s3_cmd(moto).args(["list", "--format", "json", "--out", &url]).output().await.unwrap().into();
    assert_eq!(r.code, 0, "list: {}", r.stderr);
    serde_json::from_str::<Vec<serde_json::Value>>(r.stdout.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_store_ends_the_run_at_its_deadline_in_every_stage() {
    let (_moto, moto) = start_moto().await;
    let sim = start(sim_config(40)).await;
    let base = sim.base_url().to_string();
    let run = |endpoint: &str, prefix: &str, extra: &[&str]| {
        let mut c = s3_cmd(endpoint);
        c.args(["run", "--base-url", &base, "--out", &format!("s3://{BUCKET}/{prefix}")]).args(extra);
        c
    };

    // 1. The upload stalls (every PUT under _staging/): 75 at the deadline, no manifest.
    let stalled_upload: Stall = |m, p| m == "PUT" && p.contains("/_staging/");
    let proxy = slow_proxy(&moto, stalled_upload).await;
    let (r, took) = timed(run(&proxy, "upload", &["--deadline", "8s"])).await;
    assert_deadline_failure(&r, took, "uploading");
    let k = keys(&moto, "upload/").await;
    assert!(!k.iter().any(|k| k.ends_with("_manifest.json") || k.ends_with("_commit.json")), "{k:?}");
    assert!(committed(&moto, "upload").await.is_empty());
    // The lock was released on the way out: a run straight to the store commits at once.
    let ok: Run = run(&moto, "upload", &[]).output().await.unwrap().into();
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(committed(&moto, "upload").await.len(), 1);

    // 2. Taking the lock stalls.
    let stalled_lock: Stall = |m, p| m == "PUT" && p.contains("/_locks/");
    let proxy = slow_proxy(&moto, stalled_lock).await;
    let (r, took) = timed(run(&proxy, "locked", &["--deadline", "5s"])).await;
    assert_deadline_failure(&r, took, "lock");
    assert!(committed(&moto, "locked").await.is_empty());

    // 3. `run --incremental`: downloading the previous snapshot's files stalls.
    let stalled_download: Stall = |m, p| m == "GET" && p.ends_with(".parquet");
    let proxy = slow_proxy(&moto, stalled_download).await;
    let (r, took) = timed(run(&proxy, "upload", &["--incremental", "--deadline", "8s"])).await;
    assert_deadline_failure(&r, took, "previous snapshot");
    assert_eq!(committed(&moto, "upload").await.len(), 1, "only the earlier snapshot is committed");
}
