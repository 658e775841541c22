//! Apache Spark reads the Parquet layout as a user would: the real binary against the
//! simulator writes snapshots, then scripts/interop/check_spark.py reads each table folder
//! with `spark.read.parquet` (Spark's own partition discovery) in one local SparkSession,
//! and its rows per table, per snapshot (and per workspace), the files it read and its
//! columns must equal what DuckDB gets from the manifest-listed files (the same script's
//! `duckdb` mode). Covers an unlabelled root with two snapshots, a `--workspace` root with
//! two workspaces, and a `--table-format delta` root (Spark must skip `_delta_log/`).
//!
//! Python: `$DRATA_ETL_SPARK_PYTHON` (else `.venv-spark`) with the pinned pyspark of
//! scripts/spark/requirements.txt and Java 17+; `$DRATA_ETL_PYTHON` (else `.venv`) with
//! duckdb. Both come from `scripts/test.sh`; without them the tests fail, never skip. One
//! Spark process per test: a JVM start costs seconds.

use crate::common::{run_etl, sim_config, start};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const T1: &str = "2026-03-01T05:00:00Z";
const T2: &str = "2026-03-02T05:00:00Z";
const ID1: &str = "20260301T050000Z";
const ID2: &str = "20260302T050000Z";

fn interpreter(var: &str, venv: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(venv).join("bin/python"),
    }
}

/// check_spark.py's report on `out` read by `reader` ("spark" or "duckdb").
async fn read(reader: &str, out: &Path) -> Value {
    let (py, from) = match reader {
        "spark" => (interpreter("DRATA_ETL_SPARK_PYTHON", ".venv-spark"), "DRATA_ETL_SPARK_PYTHON / .venv-spark"),
        _ => (interpreter("DRATA_ETL_PYTHON", ".venv"), "DRATA_ETL_PYTHON / .venv"),
    };
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/interop/check_spark.py");
    let o = tokio::process::Command::new(&py)
        .arg(&checker)
        .arg(reader)
        .arg(out)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {} (from {from}): {e}; run scripts/test.sh", py.display()));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "check_spark.py {reader} failed ({}; exit 3 = a package is missing, 4 = Spark could not start \
         (Java 17+): run scripts/test.sh):\n{stdout}\n{stderr}",
        o.status
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("check_spark.py output is not JSON ({e}): {stdout}"))
}

/// Spark's report and DuckDB's, read at the same time (the JVM start dominates).
async fn both(out: &Path) -> (Value, Value) {
    tokio::join!(read("spark", out), read("duckdb", out))
}

/// Spark, reading the table folders, sees exactly what the manifests commit: the same
/// tables, files, rows per snapshot (and workspace), the files' columns followed by the
/// path's partition levels, discovered with their types.
fn assert_spark_matches_manifests(spark: &Value, duck: &Value, partitions: &[&str]) {
    let names = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(spark), names(duck), "Spark's table folders are the manifests' tables");
    assert_eq!(names(duck).len(), 10, "every table: {duck}");
    for (table, d) in duck.as_object().unwrap() {
        let s = &spark[table];
        for key in ["rows", "by_snapshot", "by_workspace", "files"] {
            assert_eq!(s[key], d[key], "{table}: {key} differs (Spark {}, DuckDB {})", s[key], d[key]);
        }
        assert_eq!(s["partitions"], json!(partitions), "{table}: partition levels Spark discovered");
        assert_eq!(d["partitions"], json!(partitions), "{table}: partition levels of the manifests' paths");
        let mut expected = d["file_columns"].as_array().unwrap().clone();
        expected.extend(partitions.iter().map(|p| json!(p)));
        assert_eq!(s["columns"], Value::Array(expected), "{table}: Spark's columns = the files' + the partitions");
        let types: serde_json::Map<String, Value> = partitions
            .iter()
            .map(|p| (p.to_string(), json!(if *p == "snapshot_date" { "date" } else { "string" })))
            .collect();
        assert_eq!(s["partition_types"], Value::Object(types), "{table}: partition column types");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_reads_each_table_folder_with_partition_discovery() {
    let sim = start(sim_config(20)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for at in [T1, T2] {
        let r = run_etl(&sim, &out, &["--run-at", at]).await;
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    }
    let (spark, duck) = both(&out).await;
    assert_spark_matches_manifests(&spark, &duck, &["snapshot_date", "snapshot_id"]);
    assert_eq!(spark["personnel"]["by_snapshot"], json!({ ID1: 20, ID2: 20 }));
    assert_eq!(spark["personnel"]["rows"], 40);
    assert_eq!(spark["personnel"]["by_workspace"], Value::Null, "no workspace level in an unlabelled root");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_discovers_the_workspace_level_of_a_labelled_root() {
    let (acme, beta) = (start(sim_config(7)).await, start(sim_config(11)).await);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for (sim, ws, at) in [(&acme, "acme", T1), (&beta, "beta", T1), (&acme, "acme", T2)] {
        let r = run_etl(sim, &out, &["--run-at", at, "--workspace", ws]).await;
        assert_eq!(r.code, 0, "{ws} {at}: {}\n{}", r.stdout, r.stderr);
    }
    let (spark, duck) = both(&out).await;
    assert_spark_matches_manifests(&spark, &duck, &["workspace", "snapshot_date", "snapshot_id"]);
    assert_eq!(spark["personnel"]["by_workspace"], json!({ "acme": { ID1: 7, ID2: 7 }, "beta": { ID1: 11 } }));
    assert_eq!(spark["personnel"]["by_snapshot"], json!({ ID1: 18, ID2: 7 }));
}

#[cfg(feature = "delta")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_reads_a_delta_root_as_parquet_skipping_the_delta_log() {
    let sim = start(sim_config(9)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for at in [T1, T2] {
        let r = run_etl(&sim, &out, &["--run-at", at, "--table-format", "delta"]).await;
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    }
    assert!(out.join("personnel/_delta_log/00000000000000000001.json").is_file());
    let (spark, duck) = both(&out).await;
    // The files Spark read are the manifests' list: no `_delta_log/` entry among them (a
    // commit file read as Parquet would have failed the read).
    assert_spark_matches_manifests(&spark, &duck, &["snapshot_date", "snapshot_id"]);
    assert_eq!(spark["personnel"]["by_snapshot"], json!({ ID1: 9, ID2: 9 }));
}
