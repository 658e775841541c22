//! End-to-end survival through each of the simulator's limiter shapes (token bucket,
//! penalty window, fixed window with and without quota headers, in-flight limit): the real
//! binary, default flags, must commit exactly the simulator's data, row for row, as an
//! unthrottled run does. How *fast* it gets there is a benchmark (`scripts/bench.sh
//! shapes`), not a test.

use crate::common::*;
use drata_etl::sim::{LimiterShape, RateLimit, RunningSim};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const PEOPLE: usize = 120;

type ChildRow = (String, String, Option<String>);

/// (personnel ids, training rows, background-check rows) as (personnel_id, ordinal, status).
fn snapshot(out: &Path) -> (BTreeSet<String>, BTreeSet<ChildRow>, BTreeSet<ChildRow>) {
    let ids = col(&read_table(out, "personnel"), "id").into_iter().map(Option::unwrap).collect();
    let child = |table: &str| {
        let b = read_table(out, table);
        let (p, o, s) = (col(&b, "personnel_id"), col(&b, "ordinal"), col(&b, "status"));
        (0..p.len()).map(|i| (p[i].clone().unwrap(), o[i].clone().unwrap(), s[i].clone())).collect()
    };
    (ids, child("personnel_training"), child("personnel_background_checks"))
}

/// Run against a simulator limited in `shape` and against an unlimited one with the same
/// data; both snapshots must be equal and complete, and the limiter must have refused
/// something (else the test proves nothing).
async fn survives(limit: RateLimit, shape: LimiterShape, headers: bool, latency: Duration) -> serde_json::Value {
    let plain = start(sim_config(PEOPLE)).await;
    let clean = tempfile::tempdir().unwrap();
    let r = run_etl(&plain, clean.path(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    let mut cfg = sim_config(PEOPLE);
    cfg.latency = latency;
    cfg.faults.rate_limit = Some(limit);
    cfg.faults.rate_shape = shape;
    cfg.faults.rate_headers = headers;
    let sim: RunningSim = start(cfg).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = snapshot(tmp.path());
    assert_eq!(got, snapshot(clean.path()), "same rows as the unthrottled run");
    assert_eq!(got.0.len(), PEOPLE);
    let b = read_table(tmp.path(), "personnel");
    assert!(col(&b, "training_fetch_status").iter().all(|s| s.as_deref() == Some("ok")));
    let s = r.summary();
    assert!(s["api"]["rate_limited"].as_u64().unwrap() > 0, "the limiter refused requests: {s}");
    assert_eq!(s["api"]["rate_limited"].as_u64(), Some(sim.sim.stats().rate_limited), "{s}");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_bucket_is_survived_with_exact_data() {
    survives(RateLimit { per_second: 150.0, burst: 10 }, LimiterShape::Bucket, true, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_penalty_window_is_survived_with_exact_data() {
    let shape = LimiterShape::Penalty { length: Duration::from_secs(1) };
    survives(RateLimit { per_second: 150.0, burst: 10 }, shape, true, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_window_without_quota_headers_is_survived_with_exact_data() {
    let shape = LimiterShape::Window { length: Duration::from_secs(1) };
    survives(RateLimit { per_second: 150.0, burst: 1 }, shape, false, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_window_with_quota_headers_is_survived_with_exact_data() {
    let shape = LimiterShape::Window { length: Duration::from_secs(2) };
    survives(RateLimit { per_second: 100.0, burst: 1 }, shape, true, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_flight_limit_is_survived_with_exact_data() {
    // Two requests in flight at 10 ms each (the client's default concurrency is higher).
    survives(RateLimit { per_second: 1.0, burst: 2 }, LimiterShape::InFlight, true, Duration::from_millis(10)).await;
}

/// `--rate-limit-headers false` sends no quota headers, on admitted requests or 429s, but a
/// 429 still says when to come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_quota_headers_only_retry_after_is_sent() {
    let mut cfg = sim_config(5);
    cfg.faults.rate_limit = Some(RateLimit { per_second: 1.0, burst: 1 });
    cfg.faults.rate_shape = LimiterShape::Window { length: Duration::from_secs(30) };
    cfg.faults.rate_headers = false;
    let sim = start(cfg).await;
    let http = reqwest::Client::new();
    let get = || http.get(format!("{}/public/personnel", sim.base_url())).bearer_auth(KEY).send();
    let mut seen = Vec::new();
    for _ in 0..40 {
        let r = get().await.unwrap();
        assert!(r.headers().keys().all(|k| !k.as_str().starts_with("x-ratelimit")), "{:?}", r.headers());
        seen.push((r.status().as_u16(), r.headers().get("retry-after").is_some()));
    }
    assert_eq!(seen.iter().filter(|(s, _)| *s == 200).count(), 30, "30 a 30-s window: {seen:?}");
    assert!(seen.iter().all(|(s, ra)| (*s == 429) == *ra), "{seen:?}");
}
