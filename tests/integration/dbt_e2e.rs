//! The dbt project (`scripts/dbt/`): `dbt build` with dbt-duckdb over real output roots (two
//! guide snapshots and a v2 snapshot of a second workspace) builds every staging model and
//! passes every test, the models hold exactly the committed rows, and a planted broken
//! reference makes the build fail (the tests can fail). dbt comes from .venv-dbt
//! (`scripts/test.sh` installs scripts/dbt/requirements.txt there; DRATA_ETL_DBT).

use crate::common::*;
use drata_etl::sim::{SimConfig, SimDialect};
use std::path::{Path, PathBuf};

fn dbt() -> PathBuf {
    match std::env::var_os("DRATA_ETL_DBT") {
        Some(p) if !p.is_empty() => p.into(),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-dbt/bin/dbt"),
    }
}

/// The python beside dbt (it has duckdb), for reading the models back.
fn dbt_python() -> PathBuf {
    dbt().with_file_name("python")
}

/// `dbt build` over `out`, its database and logs under `work`.
fn dbt_build(out: &Path, work: &Path) -> (bool, String) {
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dbt");
    let o = std::process::Command::new(dbt())
        .arg("build")
        .arg("--project-dir")
        .arg(&project)
        .arg("--profiles-dir")
        .arg(&project)
        .arg("--target-path")
        .arg(work.join("target"))
        .arg("--log-path")
        .arg(work.join("logs"))
        .arg("--vars")
        .arg(format!("{{out: '{}'}}", out.display()))
        .env("DRATA_ETL_DBT_DB", work.join("drata.duckdb"))
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .current_dir(work)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {} ({e}); run scripts/test.sh, which installs .venv-dbt", dbt().display())
        });
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

/// Every committed manifest under `out`, workspace partitions included.
fn all_manifests(out: &Path) -> Vec<serde_json::Value> {
    fn walk(dir: &Path, found: &mut Vec<serde_json::Value>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, found);
            } else if p.file_name().is_some_and(|n| n == "_manifest.json") {
                found.push(serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap());
            }
        }
    }
    let mut found = Vec::new();
    walk(&out.join("_snapshots"), &mut found);
    found
}

fn query(db: &Path, sql: &str) -> String {
    let o = std::process::Command::new(dbt_python())
        .arg("-c")
        .arg("import duckdb,sys; c=duckdb.connect(sys.argv[1], read_only=True); print(c.sql(sys.argv[2]).fetchall())")
        .arg(db)
        .arg(sql)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbt_build_passes_on_real_output_and_fails_on_a_broken_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let guide = start(sim_config(40)).await;
    for at in ["2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"] {
        let r = run_etl(&guide, &out, &["--run-at", at, "--workspace", "acme"]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let v2 = start(SimConfig { dialect: SimDialect::V2, controls: 12, ..sim_config(25) }).await;
    let r = run_etl(&v2, &out, &["--run-at", "2026-03-02T00:00:00Z", "--workspace", "globex"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    let work = tmp.path().join("dbt");
    std::fs::create_dir_all(&work).unwrap();
    let (ok, log) = dbt_build(&out, &work);
    assert!(ok && log.contains("ERROR=0"), "{log}");
    let db = work.join("drata.duckdb");
    // Exactly the committed rows: the latest of each workspace, and every snapshot.
    assert_eq!(
        query(&db, "select workspace, count(*) from stg_personnel group by 1 order by 1"),
        "[('acme', 40), ('globex', 25)]"
    );
    assert_eq!(query(&db, "select count(*) from stg_personnel_history"), "[(105,)]");
    assert_eq!(
        query(&db, "select count(distinct snapshot_id) from stg_personnel_history where workspace = 'acme'"),
        "[(2,)]"
    );
    let latest_training: u64 = all_manifests(&out)
        .iter()
        .filter(|m| m["snapshot_id"] == "20260302T000000Z")
        .map(|m| m["tables"]["personnel_training"]["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(query(&db, "select count(*) from stg_personnel_training"), format!("[({latest_training},)]"));
    // Real-dialect statuses pass the same tests (the v2 workspace has compliance checks).
    assert_eq!(
        query(&db, "select count(*) > 0 from stg_personnel_compliance_checks where workspace = 'globex'"),
        "[(True,)]"
    );

    // A training row whose person is not in its snapshot: the relationships test fails the build.
    let file = out.join(
        all_manifests(&out)
            .iter()
            .find(|m| m["workspace"] == "acme" && m["snapshot_id"] == "20260302T000000Z")
            .unwrap()["tables"]["personnel_training"]["files"][0]["path"]
            .as_str()
            .unwrap(),
    );
    let o = std::process::Command::new(dbt_python())
        .arg("-c")
        .arg(
            "import duckdb,sys,os; f=sys.argv[1]; c=duckdb.connect(); \
             c.execute(f\"copy (select * replace (case when ordinal = 0 then 'ghost' else personnel_id end as personnel_id) from read_parquet('{f}')) to '{f}.new' (format parquet)\"); \
             os.replace(f + '.new', f)",
        )
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (ok, log) = dbt_build(&out, &work);
    assert!(!ok, "{log}");
    assert!(log.contains("relationships_stg_personnel_training_person_key"), "{log}");
    guide.shutdown().await;
    v2.shutdown().await;
}
