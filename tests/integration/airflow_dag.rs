//! The Airflow DAG with a real Apache Airflow: `scripts/airflow/check_dag.py` loads
//! `drata_etl_dag.py` with `DagBag` (no import errors, the expected tasks, retry policy),
//! then runs the snapshot task's command (the real binary) against the simulator and prints
//! the JSON summary the task would push to XCom, which this test checks against the
//! simulator's data; a rejected key must fail the task without retry.
//!
//! Python: `$DRATA_ETL_AIRFLOW_PYTHON` if set, else `<repo>/.venv-airflow/bin/python`.
//! Without Airflow this test fails (it does not skip): run `scripts/test.sh`, which installs
//! the pinned set from `scripts/airflow/requirements.txt` into `.venv-airflow`.

use crate::common::*;
use std::path::{Path, PathBuf};

const HINT: &str = "run `scripts/test.sh` (it creates .venv-airflow from scripts/airflow/requirements.txt), \
                    or set DRATA_ETL_AIRFLOW_PYTHON to an interpreter with apache-airflow installed";

fn python(repo: &Path) -> PathBuf {
    match std::env::var_os("DRATA_ETL_AIRFLOW_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo.join(".venv-airflow/bin/python"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dag_loads_and_its_task_command_pushes_the_summary() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let py = python(repo);
    assert!(py.exists(), "no Airflow interpreter at {}: {HINT}", py.display());
    let sim = start(sim_config(45)).await;
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("acme.key");
    std::fs::write(&key, KEY).unwrap();
    let bad_key = tmp.path().join("revoked.key");
    std::fs::write(&bad_key, "revoked-key-9c1d").unwrap();
    let out = tmp.path().join("out");
    let home = tmp.path().join("airflow-home");
    std::fs::create_dir(&home).unwrap();

    let mut c = tokio::process::Command::new(&py);
    c.arg(repo.join("scripts/airflow/check_dag.py"))
        .args(["--bin", env!("CARGO_BIN_EXE_drata-etl"), "--base-url", &sim.base_url()])
        .arg("--key-file")
        .arg(&key)
        .arg("--bad-key-file")
        .arg(&bad_key)
        .arg("--out")
        .arg(&out)
        .env("AIRFLOW_HOME", &home)
        .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        .env("AIRFLOW__CORE__DAGS_FOLDER", repo.join("scripts/airflow"))
        .env_remove("DRATA_API_KEY")
        .kill_on_drop(true);
    let o = c.output().await.unwrap_or_else(|e| panic!("cannot start {}: {e}. {HINT}", py.display()));
    let r: Run = o.into();
    assert_eq!(r.code, 0, "check_dag.py failed\nstdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("check_dag: 8 passed, 0 failed"), "{}", r.stdout);

    // The XCom value: drata-etl's JSON summary line, as the task returns it.
    let xcom = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("XCOM "))
        .unwrap_or_else(|| panic!("no XCOM line in:\n{}", r.stdout));
    let v: serde_json::Value = serde_json::from_str(xcom).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["workspace"], "acme");
    assert_eq!(v["snapshot_id"], "20260131T020000Z");
    assert_eq!(v["rows"]["personnel"], sim.sim.personnel_json().len());
    assert_eq!(v["rows"]["controls"], sim.sim.controls_json().len());
    assert!(out.join("_snapshots/workspace=acme/20260131T020000Z/_manifest.json").is_file());
    assert!(!r.stdout.contains(KEY) && !r.stderr.contains(KEY), "the key leaked into the task output");
    assert!(!r.stderr.contains("revoked-key-9c1d"));
    sim.shutdown().await;
}
