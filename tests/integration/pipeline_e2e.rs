//! End-to-end: the real binary against the in-process simulator. Every person, email,
//! training and background-check row must arrive exactly; the concurrency bound holds; a
//! rerun replaces its snapshot; the files match `schemas/`.

use crate::common::*;
use std::collections::BTreeSet;

type Row = Vec<Option<String>>;

fn expected_people(sim: &drata_etl::sim::RunningSim) -> Vec<Row> {
    let mut v: Vec<Row> = sim
        .sim
        .personnel_json()
        .iter()
        .map(|p| {
            vec![
                wire_str(p, "id"),
                wire_str(p, "email"),
                wire_str(p, "firstName"),
                wire_str(p, "lastName"),
                wire_str(p, "complianceStatus"),
                wire_str(p, "isActive"),
                wire_str(p, "managerId"),
                wire_str(p, "externalId"),
                wire_date(p, "startDate"),
                wire_date(p, "endDate"),
                wire_str(p, "employmentType"),
            ]
        })
        .collect();
    v.sort();
    v
}

fn actual_people(out: &std::path::Path) -> Vec<Row> {
    let b = read_table(out, "personnel");
    let cols: Vec<_> = [
        "id",
        "email",
        "first_name",
        "last_name",
        "compliance_status",
        "is_active",
        "manager_id",
        "external_id",
        "start_date",
        "end_date",
        "employment_type",
    ]
    .iter()
    .map(|c| col(&b, c))
    .collect();
    let mut v: Vec<Row> = (0..rows(&b)).map(|i| cols.iter().map(|c| c[i].clone()).collect()).collect();
    v.sort();
    v
}

fn expected_children(sim: &drata_etl::sim::RunningSim, training: bool) -> Vec<Row> {
    let mut v = Vec::new();
    for p in sim.sim.personnel_json() {
        let id = wire_str(&p, "id").unwrap();
        let list = if training { sim.sim.training_json(&id) } else { sim.sim.background_checks_json(&id) };
        for (i, r) in list.unwrap().iter().enumerate() {
            let mut row = vec![Some(id.clone()), Some(i.to_string())];
            if training {
                row.push(wire_str(r, "name"));
            }
            row.push(wire_str(r, "status"));
            row.push(wire_date(r, "completedAt"));
            v.push(row);
        }
    }
    v.sort();
    v
}

fn actual_children(out: &std::path::Path, training: bool) -> Vec<Row> {
    let table = if training { "personnel_training" } else { "personnel_background_checks" };
    let b = read_table(out, table);
    let names: &[&str] = if training {
        &["personnel_id", "ordinal", "name", "status", "completed_at"]
    } else {
        &["personnel_id", "ordinal", "status", "completed_at"]
    };
    let cols: Vec<_> = names.iter().map(|c| col(&b, c)).collect();
    let mut v: Vec<Row> = (0..rows(&b)).map(|i| cols.iter().map(|c| c[i].clone()).collect()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_arrives_exactly() {
    for n in [0usize, 1, 100, 101, 2345] {
        let sim = start(sim_config(n)).await;
        let tmp = tempfile::tempdir().unwrap();
        let r = run_etl(&sim, tmp.path(), &["--run-at", "2026-01-31T02:00:00Z"]).await;
        assert_eq!(r.code, 0, "n={n} stderr: {}", r.stderr);
        let s = r.summary();
        assert_eq!(s["status"], "ok");
        assert_eq!(s["rows"]["personnel"], n as u64);

        let people = actual_people(tmp.path());
        assert_eq!(people.len(), n);
        assert_eq!(people, expected_people(&sim), "n={n}: personnel differ");
        let ids: BTreeSet<_> = people.iter().map(|r| r[0].clone()).collect();
        assert_eq!(ids.len(), n, "ids unique");
        let emails: BTreeSet<_> = people.iter().map(|r| r[1].clone()).collect();
        assert_eq!(emails.len(), n, "emails unique");
        assert_eq!(actual_children(tmp.path(), true), expected_children(&sim, true), "n={n}: trainings differ");
        assert_eq!(actual_children(tmp.path(), false), expected_children(&sim, false), "n={n}: checks differ");

        let controls = read_table(tmp.path(), "controls");
        let mut got: Vec<_> = col(&controls, "id").into_iter().zip(col(&controls, "owner_id")).collect();
        let mut want: Vec<_> =
            sim.sim.controls_json().iter().map(|c| (wire_str(c, "id"), wire_str(c, "ownerId"))).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want);

        // Everything fetched ok, nothing invented.
        let b = read_table(tmp.path(), "personnel");
        assert!(col(&b, "training_fetch_status").iter().all(|s| s.as_deref() == Some("ok")));

        // The manifest is the commit record.
        let m = manifests(tmp.path());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["tables"]["personnel"]["rows"], n as u64);
        assert_eq!(m[0]["snapshot_id"], "20260131T020000Z");
        assert_eq!(m[0]["listing"]["matches_total"], true);
        let listed = m[0]["api"]["requests_by_endpoint"]["training"].as_u64().unwrap();
        assert_eq!(listed, n as u64, "one training request per person");
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_and_odd_values_survive() {
    let sim = start(sim_config(300)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let b = read_table(tmp.path(), "personnel");
    let names: Vec<_> = col(&b, "first_name").into_iter().flatten().collect();
    assert!(names.iter().any(|n| !n.is_ascii()), "non-ASCII names arrive intact");
    // trainingStatus is kept as JSON text.
    for ts in col(&b, "training_status").into_iter().flatten() {
        assert!(serde_json::from_str::<serde_json::Value>(&ts).unwrap().is_object());
    }
    // Whatever the simulator sent beyond the documented fields is in `extra`.
    let documented = [
        "id",
        "email",
        "firstName",
        "lastName",
        "title",
        "department",
        "employmentType",
        "startDate",
        "endDate",
        "isActive",
        "role",
        "managerId",
        "complianceStatus",
        "trainingStatus",
        "externalId",
    ];
    let extra = col(&b, "extra");
    let ids = col(&b, "id");
    for p in sim.sim.personnel_json() {
        let unknown: Vec<_> =
            p.as_object().unwrap().keys().filter(|k| !documented.contains(&k.as_str())).cloned().collect();
        if unknown.is_empty() {
            continue;
        }
        let i = ids.iter().position(|x| x.as_deref() == p["id"].as_str()).unwrap();
        let e: serde_json::Value = serde_json::from_str(extra[i].as_deref().expect("extra present")).unwrap();
        for k in unknown {
            assert_eq!(e[&k], p[&k], "unknown field {k} kept");
        }
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_never_exceed_concurrency() {
    let mut cfg = sim_config(400);
    cfg.latency = std::time::Duration::from_millis(5);
    let sim = start(cfg).await;
    for c in [1u64, 3, 8] {
        sim.sim.reset_stats();
        let tmp = tempfile::tempdir().unwrap();
        let r = run_etl(&sim, tmp.path(), &["--concurrency", &c.to_string()]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let peak = sim.sim.stats().peak_in_flight;
        assert!(peak <= c, "peak {peak} > concurrency {c}");
        assert!(peak >= c.min(2), "the bound is used: peak {peak}");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_with_same_run_at_replaces_the_snapshot() {
    let sim = start(sim_config(150)).await;
    let tmp = tempfile::tempdir().unwrap();
    let at = ["--run-at", "2026-02-01T00:00:00Z"];
    assert_eq!(run_etl(&sim, tmp.path(), &at).await.code, 0);
    // The data changes between the runs; the rerun must hold the new state only.
    let first = sim.sim.personnel_json()[0]["id"].as_str().unwrap().to_string();
    assert!(sim.sim.delete_person(&first));
    let r = run_etl(&sim, tmp.path(), &at).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    for table in [
        "personnel",
        "personnel_training",
        "personnel_background_checks",
        "controls",
        "personnel_org",
        "personnel_compliance_checks",
    ] {
        let dirs: Vec<_> =
            std::fs::read_dir(tmp.path().join(table).join("snapshot_date=2026-02-01")).unwrap().collect();
        assert_eq!(dirs.len(), 1, "{table}: one snapshot partition");
    }
    let b = read_table(tmp.path(), "personnel");
    assert_eq!(rows(&b), 149);
    assert!(!col(&b, "id").contains(&Some(first)));
    assert_eq!(manifests(tmp.path()).len(), 1);
    // Nothing is left in staging.
    assert_no_leftovers(tmp.path());
    // A second, different run time is a second snapshot.
    assert_eq!(run_etl(&sim, tmp.path(), &["--run-at", "2026-02-01T01:00:00Z"]).await.code, 0);
    assert_eq!(manifests(tmp.path()).len(), 2);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_schema_matches_schemas_dir() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let sim = start(sim_config(20)).await;
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(run_etl(&sim, tmp.path(), &[]).await.code, 0);
    for table in [
        "personnel",
        "personnel_training",
        "personnel_background_checks",
        "controls",
        "personnel_org",
        "personnel_compliance_checks",
        "personnel_identities",
        "personnel_devices",
        "personnel_device_checks",
        "personnel_policies",
    ] {
        let doc: serde_json::Value = serde_json::from_slice(
            &std::fs::read(format!("{}/schemas/{table}.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
        )
        .unwrap();
        let file = &parquet_files(&tmp.path().join(table))[0];
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap()).unwrap();
        let schema = reader.schema();
        let documented: Vec<(String, String, bool)> = doc["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().into(),
                    c["type"].as_str().unwrap().into(),
                    c["nullable"].as_bool().unwrap(),
                )
            })
            .collect();
        let written: Vec<(String, String, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), drata_etl::load::batch::type_name(f.data_type()), f.is_nullable()))
            .collect();
        assert_eq!(written, documented, "{table}: schemas/{table}.json and the written Parquet disagree");
        for c in doc["columns"].as_array().unwrap() {
            assert!(!c["description"].as_str().unwrap().is_empty());
        }
        // Partition keys are in the path, not the file.
        assert!(schema.field_with_name("snapshot_date").is_err());
        assert!(schema.field_with_name("snapshot_id").is_err());
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_share_an_output_root_and_run_in_parallel() {
    let mut cfg = sim_config(120);
    cfg.latency = std::time::Duration::from_millis(5);
    let a = start(cfg.clone()).await;
    cfg.seed = 8;
    cfg.personnel = 80;
    let b = start(cfg).await;
    let tmp = tempfile::tempdir().unwrap();
    let args_a = ["--run-at", "2026-02-01T00:00:00Z", "--workspace", "acme"];
    let args_b = ["--run-at", "2026-02-01T00:00:00Z", "--workspace", "globex"];
    let (ra, rb) = tokio::join!(run_etl(&a, tmp.path(), &args_a), run_etl(&b, tmp.path(), &args_b));
    assert_eq!(ra.code, 0, "{}", ra.stderr);
    assert_eq!(rb.code, 0, "{}", rb.stderr);
    assert_eq!(ra.summary()["workspace"], "acme");
    assert_eq!(rows(&read_table(&tmp.path().join("personnel"), "workspace=acme")), 120);
    assert_eq!(rows(&read_table(&tmp.path().join("personnel"), "workspace=globex")), 80);
    assert!(manifests(tmp.path()).is_empty(), "workspace manifests live one level down");
    let ws: Vec<_> = drata_etl::load::catalogue::committed_manifests(tmp.path())
        .unwrap()
        .into_iter()
        .map(|m| (m.workspace.unwrap(), m.tables["personnel"].rows))
        .collect();
    assert_eq!(ws, vec![("acme".to_string(), 120), ("globex".to_string(), 80)]);
    // The label is in each file's footer too.
    let f = &parquet_files(&tmp.path().join("controls/workspace=acme"))[0];
    let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(f).unwrap()).unwrap();
    use parquet::file::reader::FileReader;
    let kv = reader.metadata().file_metadata().key_value_metadata().unwrap();
    assert!(kv.iter().any(|k| k.key == "drata_etl.workspace" && k.value.as_deref() == Some("acme")));
    // A bad label is a usage error.
    let r = run_etl(&a, tmp.path(), &["--workspace", "../x"]).await;
    assert_eq!(r.code, 64);
}
