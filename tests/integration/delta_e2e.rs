//! `--table-format delta` end to end: the real binary against the simulator writes Delta
//! tables beside the Parquet layout; Python `deltalake` and Polars (scripts/interop/
//! check_delta.py) read every table and must get exactly the rows DuckDB gets from the
//! manifest-listed Parquet files; time travel, a rerun replacing a snapshot in one Delta
//! commit, a Delta commit lost after its manifest (caught up by the next run, reported by
//! `verify`), `list`, `prune` (Remove actions, then the files), and the refusals (exit 64).
//! The same on an object store: `delta_store_e2e`.
//!
//! Python: as `interop.rs` (`$DRATA_ETL_PYTHON`, else `.venv`); it needs the pinned
//! `deltalake`, `polars` and `duckdb` of scripts/python-requirements.txt, and fails (never
//! skips) without them.

use crate::common::{bin, run_etl, sim_config, start, Run};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub(crate) const T1: &str = "2026-03-01T05:00:00Z";
pub(crate) const T2: &str = "2026-03-02T05:00:00Z";
pub(crate) const T3: &str = "2026-03-03T05:00:00Z";
pub(crate) const ID1: &str = "20260301T050000Z";
pub(crate) const ID2: &str = "20260302T050000Z";
pub(crate) const ID3: &str = "20260303T050000Z";

fn python() -> PathBuf {
    match std::env::var_os("DRATA_ETL_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
    }
}

/// The independent readers' report on `out` (see scripts/interop/check_delta.py).
fn readers(out: &Path, versions: &[&str]) -> Value {
    readers_of(out.as_os_str(), &[], &[], versions)
}

/// check_delta.py on `root` (a folder, or an `s3://` URL with `args` naming the endpoint and
/// `env` the credentials), with `--version` for each of `versions`.
pub(crate) fn readers_of(root: &std::ffi::OsStr, args: &[&str], env: &[(&str, &str)], versions: &[&str]) -> Value {
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/interop/check_delta.py");
    let mut c = std::process::Command::new(python());
    c.arg(&checker).arg(root).args(args).env("PYTHONDONTWRITEBYTECODE", "1");
    c.envs(env.iter().copied());
    for v in versions {
        c.args(["--version", v]);
    }
    let o = c.output().unwrap_or_else(|e| panic!("cannot run {}: {e}; run scripts/test.sh", python().display()));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "check_delta.py failed ({}; exit 3 = packages missing: run scripts/test.sh):\n{stdout}\n{stderr}",
        o.status
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("checker output is not JSON ({e}): {stdout}"))
}

async fn delta_run(sim: &drata_etl::sim::RunningSim, out: &Path, run_at: &str, extra: &[&str]) -> Run {
    let mut args = vec!["--table-format", "delta", "--run-at", run_at];
    args.extend_from_slice(extra);
    run_etl(sim, out, &args).await
}

async fn etl(args: &[&str]) -> Run {
    bin().args(args).output().await.expect("binary runs").into()
}

/// `{table: version}` from a run's summary line.
pub(crate) fn versions(r: &Run) -> serde_json::Map<String, Value> {
    assert_eq!(r.code, 0, "run failed:\n{}\n{}", r.stdout, r.stderr);
    r.summary()["delta"]
        .as_array()
        .unwrap_or_else(|| panic!("no delta in the summary: {}", r.stdout))
        .iter()
        .map(|t| (t["table"].as_str().unwrap().to_string(), t["version"].clone()))
        .collect()
}

pub(crate) fn by_snapshot(report: &Value, table: &str) -> Value {
    report[table]["by_snapshot"].clone()
}

pub(crate) fn assert_readers_agree(report: &Value) {
    let tables = report.as_object().unwrap();
    assert_eq!(tables.len(), 10, "every table is a Delta table: {report}");
    for (table, t) in tables {
        assert_eq!(t["same_rows"], true, "{table}: the readers disagree: {t}");
        let r = &t["rows"];
        assert!(
            r["deltalake"] == r["duckdb"] && r["polars"] == r["duckdb"] && r["polars_scan"] == r["duckdb"],
            "{table}: {r}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_tables_follow_runs_reruns_verify_list_and_prune() {
    let sim = start(sim_config(20)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");

    // Two snapshots: one Delta commit each, version 0 holding the first one's files.
    let first = delta_run(&sim, &out, T1, &[]).await;
    // The Delta libraries' own narration stays out of the run's log at the default level.
    assert!(!first.stderr.contains("Created snapshot") && !first.stderr.contains("snap.build"), "{}", first.stderr);
    let v = versions(&first);
    assert_eq!(v["personnel"], 0);
    assert_eq!(v["controls"], 0);
    let v = versions(&delta_run(&sim, &out, T2, &[]).await);
    assert_eq!(v["personnel"], 1);
    assert!(out.join("personnel/_delta_log/00000000000000000001.json").is_file());

    let report = readers(&out, &["personnel=0"]);
    assert_readers_agree(&report);
    assert_eq!(by_snapshot(&report, "personnel"), serde_json::json!({ ID1: 20, ID2: 20 }));
    assert_eq!(report["personnel"]["version"], 1);
    // Time travel: version 0 is the first snapshot alone.
    assert_eq!(report["personnel"]["versions"]["0"]["by_snapshot"], serde_json::json!({ ID1: 20 }));
    assert_eq!(report["personnel"]["versions"]["0"]["same_rows"], true);
    // The partition columns come from the log: the files do not hold them.
    let cols = report["personnel"]["columns"].as_array().unwrap();
    assert!(cols.contains(&"snapshot_date".into()) && cols.contains(&"snapshot_id".into()), "{cols:?}");

    // A rerun of the first snapshot from a workspace that grew: ONE commit replaces its rows.
    let grown = start(sim_config(26)).await;
    let r = delta_run(&grown, &out, T1, &[]).await;
    let v = versions(&r);
    assert_eq!(v["personnel"], 2);
    let personnel =
        r.summary()["delta"].as_array().unwrap().iter().find(|t| t["table"] == "personnel").unwrap().clone();
    // The rerun's files have new names (its run id): added, and the replaced ones removed.
    assert_eq!((personnel["added"].as_u64(), personnel["removed"].as_u64()), (Some(1), Some(1)), "{personnel}");
    let rerun_id = r.summary()["run_id"].as_str().unwrap().to_string();
    let report = readers(&out, &["personnel=1"]);
    assert_readers_agree(&report);
    assert_eq!(by_snapshot(&report, "personnel"), serde_json::json!({ ID1: 26, ID2: 20 }), "no duplicates, no gap");
    // Version 1 lists the replaced files, which the rerun's commit deleted: reading it fails
    // (as after a vacuum) instead of returning the rerun's rows under the old version.
    let before = report["personnel"]["versions"]["1"]["error"].as_str().unwrap_or_else(|| panic!("{report}"));
    assert!(before.to_lowercase().contains("not found") || before.contains("No such file"), "{before}");
    assert_eq!(report["personnel"]["rows"]["deltalake"], 46);

    // verify checks the logs against the manifests; list names the versions.
    let r = etl(&["verify", "--out", out.to_str().unwrap(), "--snapshot", "all"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("ok      Delta logs  no workspace: every manifest-listed file added, none stale"),
        "{}",
        r.stdout
    );
    let r = etl(&["list", "--out", out.to_str().unwrap()]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("table format: delta (versions: personnel v2, personnel_training v2"), "{}", r.stdout);
    let r = etl(&["list", "--out", out.to_str().unwrap(), "--format", "json"]).await;
    let listed: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let dv = |id: &str| {
        listed.as_array().unwrap().iter().find(|s| s["snapshot_id"] == id).unwrap()["delta_versions"].clone()
    };
    assert_eq!(dv(ID1)["personnel"], 2);
    assert_eq!(dv(ID2)["personnel"], 1);

    // A crash between a manifest and its Delta commit: the log is a version behind.
    std::fs::remove_file(out.join("personnel/_delta_log/00000000000000000002.json")).unwrap();
    let r = etl(&["verify", "--out", out.to_str().unwrap(), "--snapshot", "all"]).await;
    assert_eq!(r.code, 65, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAILED  Delta logs  no workspace: 2 problem(s)"), "{}", r.stdout);
    assert!(r.stderr.contains("the Delta logs do not list exactly those files"), "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "personnel/snapshot_date=2026-03-01/snapshot_id={ID1}/part-00000-{rerun_id}.parquet: listed by the manifest of snapshot {ID1} but not added to the Delta log (version 1) as written"
        )),
        "{}",
        r.stdout
    );
    // The next run catches up in its own commit: the rerun's files and the new snapshot.
    let v = versions(&delta_run(&grown, &out, T3, &[]).await);
    assert_eq!(v["personnel"], 2);
    assert_eq!(v["controls"], 3);
    let report = readers(&out, &[]);
    assert_readers_agree(&report);
    assert_eq!(by_snapshot(&report, "personnel"), serde_json::json!({ ID1: 26, ID2: 20, ID3: 26 }));
    let r = etl(&["verify", "--out", out.to_str().unwrap(), "--snapshot", "all"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);

    // prune: Remove actions first, then the files; the latest is never removed.
    let r = etl(&["prune", "--out", out.to_str().unwrap(), "--keep", "2"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("removed {ID1}")), "{}", r.stdout);
    assert!(!out.join(format!("personnel/snapshot_date=2026-03-01/snapshot_id={ID1}")).exists());
    let report = readers(&out, &[]);
    assert_readers_agree(&report);
    assert_eq!(report["personnel"]["version"], 3);
    assert_eq!(by_snapshot(&report, "personnel"), serde_json::json!({ ID2: 20, ID3: 26 }));
    let r = etl(&["verify", "--out", out.to_str().unwrap(), "--snapshot", "all"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);

    // The answers read the manifest-listed files: a Delta root is an ordinary root to them.
    #[cfg(feature = "analytics")]
    for cmd in [&["report"][..], &["diff"], &["history", "trend"]] {
        let mut args = cmd.to_vec();
        args.extend(["--out", out.to_str().unwrap()]);
        let r = etl(&args).await;
        assert_eq!(r.code, 0, "{cmd:?}: {}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.contains(ID3), "{cmd:?} answers about the latest snapshot: {}", r.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_output_files_are_the_parquet_layouts_files() {
    // The same snapshot in both formats: the same data files with the same columns, and the
    // Parquet root has no Delta log.
    let sim = start(sim_config(12)).await;
    let tmp = tempfile::tempdir().unwrap();
    let (plain, delta) = (tmp.path().join("plain"), tmp.path().join("delta"));
    let r = run_etl(&sim, &plain, &["--run-at", T1]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.summary().get("delta").is_none(), "{}", r.stdout);
    // The format through the environment this time (flag, env and config key are one setting).
    let mut c = bin();
    c.env("DRATA_ETL_TABLE_FORMAT", "delta")
        .args(["run", "--base-url", &sim.base_url(), "--run-at", T1, "--out"])
        .arg(&delta);
    let r: Run = c.output().await.unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The same files, each holding the same columns: no partition column inside (Delta
    // readers take those from the log, glob readers from the path).
    let files = |out: &Path| -> Vec<(String, Vec<String>)> {
        let m: Value =
            serde_json::from_slice(&std::fs::read(out.join(format!("_snapshots/{ID1}/_manifest.json"))).unwrap())
                .unwrap();
        let mut v: Vec<(String, Vec<String>)> = m["tables"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|t| t["files"].as_array().unwrap().clone())
            .map(|f| {
                let path = f["path"].as_str().unwrap().to_string();
                let file = std::fs::File::open(out.join(&path)).unwrap();
                let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
                let cols = reader.schema().fields().iter().map(|f| f.name().clone()).collect();
                (path, cols)
            })
            .collect();
        v.sort();
        v
    };
    // Named alike but for the run id a Delta run's files carry.
    let run_id = r.summary()["run_id"].as_str().unwrap().to_string();
    let (plain_files, delta_files) = (files(&plain), files(&delta));
    let untagged: Vec<(String, Vec<String>)> = delta_files
        .iter()
        .map(|(p, c)| {
            assert!(p.ends_with(&format!("-{run_id}.parquet")), "{p}");
            (p.replace(&format!("-{run_id}"), ""), c.clone())
        })
        .collect();
    assert_eq!(plain_files, untagged);
    assert_eq!(plain_files.len(), 10);
    for (path, cols) in &delta_files {
        assert!(
            cols.contains(&"snapshot_at".to_string())
                && !cols.iter().any(|c| c == "snapshot_date" || c == "snapshot_id"),
            "{path}: {cols:?}"
        );
    }
    assert!(!plain.join("personnel/_delta_log").exists());
    assert!(delta.join("personnel/_delta_log/00000000000000000000.json").is_file());

    // config show names the setting and where it came from.
    let r = etl(&["config", "show", "--format", "json", "--table-format", "delta"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["settings"]["table_format"]["value"], "delta");
    assert_eq!(v["settings"]["table_format"]["source"], "flag --table-format");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_refuses_mixed_roots() {
    let sim = start(sim_config(5)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    assert_eq!(delta_run(&sim, &out, T1, &[]).await.code, 0);
    // A labelled run into a root whose Delta tables have no workspace column.
    let r = delta_run(&sim, &out, T2, &["--workspace", "acme"]).await;
    assert_eq!(r.code, 64, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("cannot mix runs with and without --workspace in Delta format"), "{}", r.stderr);
    assert!(!out.join("_snapshots/workspace=acme").exists(), "nothing committed");

    // A Parquet root holding labelled snapshots cannot become an unlabelled Delta root.
    let mixed = tmp.path().join("mixed");
    assert_eq!(run_etl(&sim, &mixed, &["--run-at", T1, "--workspace", "acme"]).await.code, 0);
    let r = delta_run(&sim, &mixed, T2, &[]).await;
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("holds snapshot {ID1} of workspace acme committed with --workspace")),
        "{}",
        r.stderr
    );
    // ... but its labelled runs can: the first Delta commit takes the existing snapshot too.
    let r = delta_run(&sim, &mixed, T2, &["--workspace", "acme"]).await;
    let v = versions(&r);
    assert_eq!(v["personnel"], 0);
    let report = readers(&mixed, &[]);
    assert_readers_agree(&report);
    assert_eq!(by_snapshot(&report, "personnel"), serde_json::json!({ ID1: 5, ID2: 5 }));
}
