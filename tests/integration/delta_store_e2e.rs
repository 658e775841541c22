//! `--table-format delta` on an object store end to end: the real binary writes Delta tables
//! to moto's S3 server (each version of a log a conditional create of its `_delta_log/`
//! object), and Python `deltalake` and Polars read them straight from the bucket and must
//! get exactly the rows DuckDB gets from the manifest-listed Parquet files
//! (scripts/interop/check_delta.py). Runs, a rerun replacing a snapshot in one commit, time
//! travel, a lost Delta commit caught up, verify, list and prune on the bucket; two
//! workspaces' runs committing to the same logs at once.
//!
//! Python and moto: as `object_store_e2e` (`$DRATA_ETL_PYTHON`, else `.venv`; scripts/test.sh
//! installs them); without them these tests fail with a hint, never skip.

use crate::common::{sim_config, start, Run};
use crate::delta_e2e::{assert_readers_agree, by_snapshot, readers_of, versions, ID1, ID2, ID3, T1, T2, T3};
use crate::moto::{MotoServer, BUCKET, SECRET};
use serde_json::{json, Value};

async fn delta_run(
    moto: &MotoServer,
    sim: &drata_etl::sim::RunningSim,
    out: &str,
    run_at: &str,
    extra: &[&str],
) -> Run {
    let base = sim.base_url();
    let mut args = vec!["run", "--base-url", &base, "--out", out, "--table-format", "delta", "--run-at", run_at];
    args.extend_from_slice(extra);
    moto.run(&args).await
}

/// The Delta readers on the tables in the bucket.
fn readers(moto: &MotoServer, out: &str, versions: &[&str]) -> Value {
    let env = [("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", SECRET), ("AWS_REGION", "us-east-1")];
    readers_of(out.as_ref(), &["--s3-endpoint", &moto.endpoint], &env, versions)
}

fn log_versions(keys: &[String], table_prefix: &str) -> Vec<String> {
    keys.iter().filter_map(|k| k.strip_prefix(&format!("{table_prefix}/_delta_log/"))).map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_tables_in_a_bucket_follow_runs_reruns_verify_list_and_prune() {
    let moto = crate::moto::start().await;
    let sim = start(sim_config(20)).await;
    let out = format!("s3://{BUCKET}/lake");

    let v = versions(&delta_run(&moto, &sim, &out, T1, &[]).await);
    assert_eq!((v["personnel"].clone(), v["controls"].clone()), (json!(0), json!(0)));
    let v = versions(&delta_run(&moto, &sim, &out, T2, &[]).await);
    assert_eq!(v["personnel"], 1);
    let keys = moto.keys("lake/personnel/_delta_log/").await;
    assert_eq!(
        log_versions(&keys, "lake/personnel"),
        ["00000000000000000000.json", "00000000000000000001.json"],
        "one log object per version, nothing else: {keys:?}"
    );

    // Read from the bucket: the same rows as DuckDB over the manifest-listed files; version 0
    // is the first snapshot alone.
    let report = readers(&moto, &out, &["personnel=0"]);
    assert_readers_agree(&report);
    assert_eq!(by_snapshot(&report, "personnel"), json!({ ID1: 20, ID2: 20 }));
    assert_eq!(report["personnel"]["versions"]["0"]["by_snapshot"], json!({ ID1: 20 }));

    // A rerun of the first snapshot from a grown workspace: one commit replaces its rows.
    let grown = start(sim_config(26)).await;
    let r = delta_run(&moto, &grown, &out, T1, &[]).await;
    assert_eq!(versions(&r)["personnel"], 2);
    let report = readers(&moto, &out, &[]);
    assert_readers_agree(&report);
    assert_eq!(by_snapshot(&report, "personnel"), json!({ ID1: 26, ID2: 20 }), "no duplicates, no gap");

    // verify and list read the logs in the bucket.
    let r = moto.run(&["verify", "--out", &out, "--snapshot", "all"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("ok      Delta logs  no workspace: every manifest-listed file added, none stale"),
        "{}",
        r.stdout
    );
    let r = moto.run(&["list", "--out", &out]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("table format: delta (versions: personnel v2"), "{}", r.stdout);

    // A Delta commit lost after its manifest: verify says so (65); the next run catches up.
    moto.delete("lake/personnel/_delta_log/00000000000000000002.json");
    let r = moto.run(&["verify", "--out", &out, "--snapshot", "all"]).await;
    assert_eq!(r.code, 65, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAILED  Delta logs  no workspace: 2 problem(s)"), "{}", r.stdout);
    let v = versions(&delta_run(&moto, &grown, &out, T3, &[]).await);
    assert_eq!((v["personnel"].clone(), v["controls"].clone()), (json!(2), json!(3)));
    let report = readers(&moto, &out, &[]);
    assert_readers_agree(&report);
    assert_eq!(by_snapshot(&report, "personnel"), json!({ ID1: 26, ID2: 20, ID3: 26 }));

    // prune: the Remove commit, then the objects; the latest stays.
    let r = moto.run(&["prune", "--out", &out, "--keep", "2"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("removed {ID1}")), "{}", r.stdout);
    let gone = moto.keys("lake/personnel/snapshot_date=2026-03-01/").await;
    assert!(gone.is_empty(), "pruned objects left: {gone:?}");
    let report = readers(&moto, &out, &[]);
    assert_readers_agree(&report);
    assert_eq!(report["personnel"]["version"], 3);
    assert_eq!(by_snapshot(&report, "personnel"), json!({ ID2: 20, ID3: 26 }));
    let r = moto.run(&["verify", "--out", &out, "--snapshot", "all"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workspaces_commit_to_the_same_delta_logs_in_a_bucket_at_once() {
    let moto = crate::moto::start().await;
    let (a, b) = (start(sim_config(7)).await, start(sim_config(9)).await);
    let out = format!("s3://{BUCKET}/shared");
    // Both runs of each round reach their Delta commits about together: the version each
    // wants is taken by a conditional create, so the loser plans again on top of the winner.
    for (round, at) in [T1, T2].into_iter().enumerate() {
        let (ra, rb) = tokio::join!(
            delta_run(&moto, &a, &out, at, &["--workspace", "acme"]),
            delta_run(&moto, &b, &out, at, &["--workspace", "globex"]),
        );
        let (va, vb) = (versions(&ra), versions(&rb));
        let mut got = vec![va["personnel"].as_u64().unwrap(), vb["personnel"].as_u64().unwrap()];
        got.sort();
        let first = 2 * round as u64;
        assert_eq!(got, [first, first + 1], "one version each, none lost or doubled");
    }
    let keys = moto.keys("shared/personnel/_delta_log/").await;
    assert_eq!(log_versions(&keys, "shared/personnel").len(), 4, "{keys:?}");
    let report = readers(&moto, &out, &[]);
    assert_readers_agree(&report);
    assert_eq!(by_snapshot(&report, "personnel"), json!({ ID1: 16, ID2: 16 }));
    let cols = report["personnel"]["columns"].as_array().unwrap();
    assert!(cols.contains(&"workspace".into()), "{cols:?}");
    let r = moto.run(&["verify", "--out", &out, "--snapshot", "all"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}
