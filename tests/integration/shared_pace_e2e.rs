//! `--shared-pace-file`: separate runs (processes) that name one file pace as one client. With
//! a fixed ceiling the ceiling holds for all of them together, so two concurrent runs take
//! at least as long as their requests at that rate; and the file holds the host's state.

use crate::common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_naming_one_file_share_one_ceiling() {
    let sim = start(sim_config(12)).await;
    let tmp = tempfile::tempdir().unwrap();
    let pace = tmp.path().join("pace.json");
    let rps = 20.0;
    let run = |out: &str| {
        let mut c = bin();
        c.arg("run")
            .arg("--base-url")
            .arg(sim.base_url())
            .arg("--out")
            .arg(tmp.path().join(out))
            .args(["--max-rps", "20", "--concurrency", "4", "--shared-pace-file"])
            .arg(&pace);
        c.output()
    };
    let t0 = Instant::now();
    let (a, b) = tokio::join!(run("a"), run("b"));
    let wall = t0.elapsed();
    let (a, b): (Run, Run) = (a.unwrap().into(), b.unwrap().into());
    assert_eq!((a.code, b.code), (0, 0), "{}\n{}", a.stderr, b.stderr);
    let requests = a.summary()["api"]["requests"].as_u64().unwrap() + b.summary()["api"]["requests"].as_u64().unwrap();
    assert!(requests > 40, "{requests}");
    // One schedule at 20/s for both: the last request is sent no sooner than this.
    let floor = Duration::from_secs_f64((requests - 2) as f64 / rps);
    assert!(wall >= floor, "{requests} requests in {wall:?}: faster than one shared 20/s ceiling allows ({floor:?})");
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(&pace).unwrap()).unwrap();
    let host = format!("127.0.0.1:{}", url::Url::parse(&sim.base_url()).unwrap().port().unwrap());
    assert!(state["hosts"][&host].is_object(), "{state}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_pace_file_is_a_usage_error_and_a_corrupt_one_a_fresh_start() {
    let sim = start(sim_config(5)).await;
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-dir/pace.json");
    let r = run_etl(&sim, &tmp.path().join("out"), &["--shared-pace-file", missing.to_str().unwrap()]).await;
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("--shared-pace-file"), "{}", r.stderr);
    let corrupt = tmp.path().join("pace.json");
    std::fs::write(&corrupt, "\u{0}garbage{").unwrap();
    let r = run_etl(&sim, &tmp.path().join("out"), &["--shared-pace-file", corrupt.to_str().unwrap()]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("shared pace file ignored"), "{}", r.stderr);
    sim.shutdown().await;
}
