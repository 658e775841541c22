//! End-to-end: `run --incremental` reuses unchanged people's child rows from the previous
//! snapshot, fetches exactly the people whose list record changed, honours
//! `--refresh-after`, and falls back to a full run (with a warning) when the previous
//! snapshot cannot be trusted.

use crate::common::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;

type Rows = BTreeSet<Vec<Option<String>>>;

/// A table's rows without the columns that legitimately differ between runs.
fn content(out: &Path, table: &str) -> Rows {
    let b = read_table(out, table);
    let names: Vec<String> = b[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != "snapshot_at" && n != "enriched_at")
        .collect();
    let cols: Vec<_> = names.iter().map(|n| col(&b, n)).collect();
    (0..rows(&b)).map(|i| cols.iter().map(|c| c[i].clone()).collect()).collect()
}

/// The preflight at the start of every run probes one person's two child endpoints.
const PREFLIGHT_CHILD_REQUESTS: u64 = 2;

/// Child requests made for enrichment (the preflight's probe excluded).
fn child_requests(sim: &drata_etl::sim::RunningSim) -> u64 {
    let s = sim.sim.stats();
    s.requests_by_endpoint["training"] + s.requests_by_endpoint["background_checks"] - PREFLIGHT_CHILD_REQUESTS
}

async fn full_then(sim: &drata_etl::sim::RunningSim, out: &Path) {
    let r = run_etl(sim, out, &["--run-at", "2026-04-01T00:00:00Z"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_data_gives_identical_content_with_far_fewer_requests() {
    let sim = start(sim_config(500)).await;
    let full = tempfile::tempdir().unwrap();
    full_then(&sim, full.path()).await;
    let full_children = child_requests(&sim);
    assert_eq!(full_children, 1000);

    sim.sim.reset_stats();
    let r = run_etl(&sim, full.path(), &["--run-at", "2026-04-01T01:00:00Z", "--incremental"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let inc_children = child_requests(&sim);
    assert!(inc_children * 10 <= full_children, "at least 90% fewer child requests: {inc_children}");
    let s = r.summary();
    assert_eq!(s["incremental"]["reused"], 500);
    assert_eq!(s["incremental"]["previous_snapshot"], "20260401T000000Z");

    // Same content as a fresh full run of the same data, apart from snapshot_at/enriched_at.
    let fresh = tempfile::tempdir().unwrap();
    full_then(&sim, fresh.path()).await;
    let inc_out = full.path().join("inc");
    std::fs::create_dir_all(&inc_out).unwrap();
    // Compare only the incremental snapshot's partition.
    let pick = |table: &str| {
        let dir = full.path().join(table).join("snapshot_date=2026-04-01").join("snapshot_id=20260401T010000Z");
        let tmp = inc_out.join(table);
        std::fs::create_dir_all(&tmp).unwrap();
        for f in std::fs::read_dir(dir).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, tmp.join(f.file_name().unwrap())).unwrap();
        }
    };
    for table in ["personnel", "personnel_training", "personnel_background_checks", "controls"] {
        pick(table);
        assert_eq!(content(&inc_out, table), content(fresh.path(), table), "{table} differs");
    }
    // Reused rows keep the time they were actually fetched.
    let m = &drata_etl::load::catalogue::committed_manifests(full.path()).unwrap()[1];
    assert_eq!(m.incremental.as_ref().unwrap().reused, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_list_record_is_refetched_alone() {
    let sim = start(sim_config(200)).await;
    let tmp = tempfile::tempdir().unwrap();
    full_then(&sim, tmp.path()).await;
    let people = sim.sim.personnel_json();
    let changed = people[17]["id"].as_str().unwrap().to_string();
    assert!(sim.sim.set_person_field(&changed, "complianceStatus", json!("NON_COMPLIANT_X")));
    let added = sim.sim.add_person();
    sim.sim.reset_stats();
    let r = run_etl(&sim, tmp.path(), &["--run-at", "2026-04-01T01:00:00Z", "--incremental"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = sim.sim.stats();
    assert_eq!(s.requests_by_endpoint["training"], 1 + 2, "the preflight probe, the changed and the new person only");
    assert_eq!(s.requests_by_endpoint["background_checks"], 1 + 2);
    let inc = &r.summary()["incremental"];
    assert_eq!((inc["reused"].as_u64(), inc["changed"].as_u64(), inc["new"].as_u64()), (Some(199), Some(1), Some(1)));
    let ids = col(&read_table(tmp.path(), "personnel"), "id");
    assert!(ids.contains(&Some(added)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_after_elapsed_refetches_everyone() {
    let sim = start(sim_config(100)).await;
    let tmp = tempfile::tempdir().unwrap();
    full_then(&sim, tmp.path()).await;
    sim.sim.reset_stats();
    let r = run_etl(&sim, tmp.path(), &["--run-at", "2026-04-01T01:00:00Z", "--incremental", "--refresh-after", "0s"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(child_requests(&sim), 200);
    assert_eq!(r.summary()["incremental"]["stale"], 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_previous_snapshot_means_a_full_run_with_a_warning() {
    let sim = start(sim_config(100)).await;
    let tmp = tempfile::tempdir().unwrap();
    full_then(&sim, tmp.path()).await;
    // Damage one child file of the committed snapshot.
    let victim = parquet_files(&tmp.path().join("personnel_training"))[0].clone();
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    sim.sim.reset_stats();
    let r = run_etl(&sim, tmp.path(), &["--run-at", "2026-04-01T01:00:00Z", "--incremental"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(child_requests(&sim), 200, "full run");
    assert!(r.stderr.contains("previous snapshot ignored"), "{}", r.stderr);
    let inc = &r.summary()["incremental"];
    assert!(inc["ignored_reason"].as_str().unwrap().contains("verification"));
    assert_eq!(inc["new"], 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_workspace_is_never_trusted() {
    let sim = start(sim_config(50)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--workspace", "a", "--run-at", "2026-04-01T00:00:00Z"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    sim.sim.reset_stats();
    let r = run_etl(&sim, tmp.path(), &["--workspace", "b", "--incremental"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(child_requests(&sim), 100);
    assert!(r.summary()["incremental"]["previous_snapshot"].is_null());
}
