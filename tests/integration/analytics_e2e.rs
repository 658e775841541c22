//! Analytics end to end (`report`, `diff`, `reconcile`, and the derived `personnel_org`
//! table): two small snapshots with known gaps, transitions, dangling references and a
//! manager cycle are committed through the library's own writers and commit protocol, then
//! the real binary answers about them in every format, and the exact lists and counts are
//! checked. A second test runs the pipeline against the simulator, mutates it between runs,
//! and checks `personnel_org`, the CLI and `scripts/queries/*.sql` (DuckDB) agree.
#![cfg(feature = "analytics")]

use crate::common::*;
use crate::queries::sql;
use chrono::{DateTime, NaiveDate, Utc};
use drata_etl::load::{FileEntry, OutputRoot, SnapshotKey, Table, TableWriter, WriterOptions};
use drata_etl::record::{BackgroundCheck, Control, EnrichedPerson, FetchStatus, Person, Training};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

// ------------------------------------------------------------------------------------------
// Synthetic snapshots
// ------------------------------------------------------------------------------------------

fn d(s: &str) -> Option<NaiveDate> {
    Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
}

#[allow(clippy::too_many_arguments)]
fn person(
    id: &str,
    first: &str,
    dept: Option<&str>,
    emp: Option<&str>,
    active: Option<bool>,
    end: Option<NaiveDate>,
    status: &str,
    manager: Option<&str>,
    ext: Option<&str>,
) -> EnrichedPerson {
    let person = Person {
        id: id.into(),
        email: Some(format!("{id}@x.example")),
        first_name: Some(first.into()),
        last_name: Some(id.to_uppercase()),
        department: dept.map(Into::into),
        employment_type: emp.map(Into::into),
        end_date: end,
        is_active: active,
        manager_id: manager.map(Into::into),
        compliance_status: Some(status.into()),
        external_id: ext.map(Into::into),
        ..Default::default()
    };
    EnrichedPerson {
        list_fingerprint: person.fingerprint(),
        person,
        training_fetch: FetchStatus::Ok,
        background_check_fetch: FetchStatus::Ok,
        policies_fetch: None,
        enriched_at: None,
    }
}

fn training(pid: &str, ordinal: i32, name: &str, status: &str, at: Option<NaiveDate>) -> Training {
    Training {
        personnel_id: pid.into(),
        ordinal,
        name: Some(name.into()),
        status: Some(status.into()),
        completed_at: at,
        ..Default::default()
    }
}

fn check(pid: &str, ordinal: i32, status: &str, at: Option<NaiveDate>) -> BackgroundCheck {
    BackgroundCheck {
        personnel_id: pid.into(),
        ordinal,
        status: Some(status.into()),
        completed_at: at,
        ..Default::default()
    }
}

fn control(id: &str, owner: Option<&str>) -> Control {
    Control {
        id: id.into(),
        name: Some(format!("Control {id}")),
        owner_id: owner.map(Into::into),
        ..Default::default()
    }
}

struct Snap {
    people: Vec<EnrichedPerson>,
    trainings: Vec<Training>,
    checks: Vec<BackgroundCheck>,
    controls: Vec<Control>,
}

fn write<R: drata_etl::load::TableRow>(staging: &drata_etl::load::Staging, rows: Vec<R>) -> (Table, Vec<FileEntry>) {
    let mut w: TableWriter<R> = staging.writer(WriterOptions::default()).unwrap();
    for r in rows {
        w.push(r).unwrap();
    }
    (R::TABLE, w.finish().unwrap())
}

/// Commit a snapshot through the library's writers, org derivation and commit protocol.
fn commit(root: &Path, run_at: &str, s: Snap) {
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(run_at).unwrap().to_utc();
    let key = SnapshotKey::from_run_at(at);
    let out = OutputRoot::open(root, None).unwrap();
    let staging = out.begin(&key, "test-run").unwrap();
    let files = vec![
        write(&staging, s.people),
        write(&staging, s.trainings),
        write(&staging, s.checks),
        write(&staging, s.controls),
    ];
    commit_staged(staging, &key, files, "test-run", "test");
}

const S1: &str = "20260301T000000Z";
const S2: &str = "20260302T000000Z";

/// The first snapshot. See each person's comment for what the report must say about them.
fn snap1() -> Snap {
    let mut p10 =
        person("p10", "Judy", Some("Eng"), Some("FULL_TIME"), Some(true), None, "COMPLIANT", Some("p2"), None);
    p10.training_fetch = FetchStatus::Failed; // training list unknown: counted apart
    Snap {
        people: vec![
            person("p1", "Alice", Some("Eng"), Some("FULL_TIME"), Some(true), None, "COMPLIANT", None, Some("HR-1")),
            person(
                "p2",
                "Bob",
                Some("Eng"),
                Some("FULL_TIME"),
                Some(true),
                None,
                "NON_COMPLIANT",
                Some("p1"),
                Some("HR-2"),
            ),
            person(
                "p3",
                "Carol",
                Some("Sales"),
                Some("CONTRACTOR"),
                Some(true),
                None,
                "COMPLIANT",
                Some("p1"),
                Some("HR-3"),
            ),
            // Inactive without an end date: an offboarding gap.
            person(
                "p4",
                "Dan",
                Some("Sales"),
                Some("FULL_TIME"),
                Some(false),
                None,
                "COMPLIANT",
                Some("p3"),
                Some("HR-4"),
            ),
            // Active although the end date is past: an offboarding gap.
            person(
                "p5",
                "Eve",
                Some("Sales"),
                Some("PART_TIME"),
                Some(true),
                d("2026-02-01"),
                "PENDING",
                Some("p3"),
                Some("HR-5"),
            ),
            // p6 and p7 manage each other: a cycle.
            person(
                "p6",
                "Frank",
                Some("Eng"),
                Some("FULL_TIME"),
                Some(true),
                None,
                "COMPLIANT",
                Some("p7"),
                Some("HR-6"),
            ),
            person(
                "p7",
                "Grace",
                Some("Eng"),
                Some("FULL_TIME"),
                Some(true),
                None,
                "COMPLIANT",
                Some("p6"),
                Some("HR-7"),
            ),
            // is_active null (= active), no department or type, manager unknown: dangling.
            person("p8", "Heidi", None, None, None, None, "NON_COMPLIANT", Some("ghost"), Some("HR-8")),
            // Fully offboarded.
            person(
                "p9",
                "Ivan",
                Some("Eng"),
                Some("FULL_TIME"),
                Some(false),
                d("2025-12-31"),
                "COMPLIANT",
                Some("p1"),
                Some("HR-9"),
            ),
            p10,
        ],
        trainings: vec![
            training("p1", 0, "Security Awareness", "COMPLETED", d("2025-01-01")),
            training("p2", 0, "Security Awareness", "IN_PROGRESS", None),
            training("p2", 1, "Privacy Training", "COMPLETED", d("2025-02-01")),
            training("p3", 0, "Security Awareness", "COMPLETED", d("2025-01-05")),
            training("p3", 1, "Security Awareness", "EXPIRED", d("2025-06-05")),
            training("p4", 0, "Security Awareness", "NOT_STARTED", None),
            training("p5", 0, "Privacy Training", "NOT_STARTED", None),
            training("p6", 0, "Security Awareness", "NOT_STARTED", None),
        ],
        checks: vec![
            check("p1", 0, "PASSED", d("2024-01-01")),
            check("p2", 0, "PENDING", None),
            check("p3", 0, "PASSED", d("2024-01-02")),
            check("p5", 0, "FAILED", d("2024-01-03")),
            check("p7", 0, "PASSED", d("2024-01-04")),
            check("p8", 0, "PASSED", d("2024-01-05")),
            check("p10", 0, "PASSED", d("2024-01-06")),
        ],
        controls: vec![
            control("C1", Some("p1")),
            control("C2", None),
            control("C3", Some("p4")),
            control("C4", Some("nobody")),
            control("C5", Some("p2")),
        ],
    }
}

/// The second snapshot: p9 removed, p11 added, p3 deactivated, p4 reactivated, two
/// compliance transitions, two trainings completed, two check changes, three control changes.
fn snap2() -> Snap {
    let mut s = snap1();
    s.people.retain(|p| p.person.id != "p9");
    for p in &mut s.people {
        let q = &mut p.person;
        match q.id.as_str() {
            "p2" => q.compliance_status = Some("COMPLIANT".into()),
            "p3" => {
                q.is_active = Some(false);
                q.end_date = d("2026-03-01");
            }
            "p4" => q.is_active = Some(true),
            "p5" => q.compliance_status = Some("NON_COMPLIANT".into()),
            _ => {}
        }
    }
    s.people.push(person(
        "p11",
        "Ken",
        Some("Eng"),
        Some("FULL_TIME"),
        Some(true),
        None,
        "PENDING",
        Some("p1"),
        Some("HR-11"),
    ));
    s.trainings.retain(|t| t.personnel_id != "p9");
    for t in &mut s.trainings {
        match (t.personnel_id.as_str(), t.ordinal) {
            ("p2", 0) => {
                t.status = Some("COMPLETED".into());
                t.completed_at = d("2026-03-01");
            }
            ("p5", 0) => {
                t.status = Some("COMPLETED".into());
                t.completed_at = d("2026-03-01");
            }
            _ => {}
        }
    }
    for c in &mut s.checks {
        if c.personnel_id == "p2" {
            c.status = Some("PASSED".into());
            c.completed_at = d("2026-03-01");
        }
    }
    s.checks.push(check("p6", 0, "PENDING", None));
    s.controls.retain(|c| c.id != "C5");
    s.controls[0].owner_id = Some("p2".into());
    s.controls.push(control("C6", Some("p3")));
    s
}

// ------------------------------------------------------------------------------------------
// Running the binary
// ------------------------------------------------------------------------------------------

async fn cli(args: &[&str]) -> Run {
    let mut c = bin();
    c.env("DRATA_ETL_LOG", "warn").args(args);
    c.output().await.expect("binary runs").into()
}

async fn json_of(args: &[&str]) -> Value {
    let r = cli(args).await;
    assert_eq!(r.code, 0, "{args:?}: {}\n{}", r.stderr, r.stdout);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", r.stdout))
}

fn ids(list: &Value) -> Vec<String> {
    list["people"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
}

fn details(list: &Value) -> Vec<(String, String)> {
    list["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_string(), p["detail"].as_str().unwrap_or_default().to_string()))
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_diff_and_org_on_known_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap().to_string();

    // No snapshot yet: a usage error that says what to do.
    let r = cli(&["report", "--out", &out]).await;
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("no committed snapshot"), "{}", r.stderr);

    commit(tmp.path(), "2026-03-01T00:00:00Z", snap1());

    // personnel_org, derived and committed with the snapshot.
    let org = read_table(&tmp.path().join("personnel_org"), "snapshot_date=2026-03-01");
    let org_ids = col(&org, "id");
    let at = |id: &str| org_ids.iter().position(|x| x.as_deref() == Some(id)).unwrap();
    let depth = col(&org, "depth");
    let status = col(&org, "chain_status");
    let top = col(&org, "top_manager_id");
    assert_eq!(depth[at("p1")].as_deref(), Some("0"));
    assert_eq!(depth[at("p4")].as_deref(), Some("2"));
    assert_eq!(top[at("p4")].as_deref(), Some("p1"));
    assert_eq!(depth[at("p10")].as_deref(), Some("2"));
    assert_eq!(status[at("p6")].as_deref(), Some("cycle"));
    assert_eq!(depth[at("p6")], None);
    assert_eq!(status[at("p8")].as_deref(), Some("dangling"));
    assert_eq!(col(&org, "manager_email")[at("p4")].as_deref(), Some("p3@x.example"));
    assert_eq!(col(&org, "in_cycle").iter().filter(|c| c.as_deref() == Some("true")).count(), 2);
    assert_eq!(col(&org, "manager_dangling").iter().filter(|c| c.as_deref() == Some("true")).count(), 1);

    // report --format json: exact lists and counts.
    let r = json_of(&["report", "--out", &out, "--format", "json"]).await;
    assert_eq!(r["snapshot_id"], S1);
    assert_eq!((r["people"].as_u64(), r["active"].as_u64(), r["inactive"].as_u64()), (Some(10), Some(8), Some(2)));
    assert_eq!(
        r["headcount"],
        json!([
            {"employment_type": "FULL_TIME", "active": 5, "inactive": 2, "total": 7},
            {"employment_type": "(none)", "active": 1, "inactive": 0, "total": 1},
            {"employment_type": "CONTRACTOR", "active": 1, "inactive": 0, "total": 1},
            {"employment_type": "PART_TIME", "active": 1, "inactive": 0, "total": 1},
        ])
    );
    assert_eq!(r["compliance_status"], json!({"COMPLIANT": 5, "NON_COMPLIANT": 2, "PENDING": 1}));
    assert_eq!(
        r["compliance_by_department"],
        json!([
            {"department": "Eng", "active": 5, "statuses": {"COMPLIANT": 4, "NON_COMPLIANT": 1}, "compliant_pct": 80.0},
            {"department": "Sales", "active": 2, "statuses": {"COMPLIANT": 1, "PENDING": 1}, "compliant_pct": 50.0},
            {"department": "(none)", "active": 1, "statuses": {"NON_COMPLIANT": 1}, "compliant_pct": 0.0},
        ])
    );
    assert_eq!(ids(&r["non_compliant_active"]), strings(&["p2", "p8"]));
    assert_eq!(r["non_compliant_active"]["people"][0]["name"], "Bob P2");
    assert_eq!(ids(&r["inactive_without_end_date"]), strings(&["p4"]));
    assert_eq!(details(&r["active_past_end_date"]), vec![("p5".to_string(), "2026-02-01".to_string())]);
    let courses: Vec<(String, u64, u64, Vec<String>)> = r["trainings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["course"].as_str().unwrap().to_string(),
                c["assigned"].as_u64().unwrap(),
                c["completed"].as_u64().unwrap(),
                ids(&c["not_completed"]),
            )
        })
        .collect();
    assert_eq!(
        courses,
        vec![
            ("Privacy Training".to_string(), 2, 1, strings(&["p5"])),
            ("Security Awareness".to_string(), 4, 2, strings(&["p2", "p6"])),
        ]
    );
    assert_eq!(r["training_unknown"], 1);
    assert_eq!(ids(&r["without_passed_background_check"]), strings(&["p2", "p5", "p6"]));
    assert_eq!(r["background_check_unknown"], 0);
    assert_eq!(r["controls"], 5);
    let problems: Vec<(String, String)> = r["control_problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["problem"].as_str().unwrap().to_string(), p["id"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        problems,
        vec![
            ("no_owner".to_string(), "C2".to_string()),
            ("owner_inactive".to_string(), "C3".to_string()),
            ("owner_unknown".to_string(), "C4".to_string()),
        ]
    );
    assert_eq!(r["org_source"], "personnel_org");
    assert_eq!(details(&r["dangling_manager"]), vec![("p8".to_string(), "ghost".to_string())]);
    assert_eq!(
        details(&r["manager_cycles"]),
        vec![("p6".to_string(), "p6 > p7 > p6".to_string()), ("p7".to_string(), "p7 > p6 > p7".to_string())]
    );

    // --limit cuts lists, never counts.
    let r1 = json_of(&["report", "--out", &out, "--format", "json", "--limit", "1"]).await;
    assert_eq!(r1["without_passed_background_check"]["count"], 3);
    assert_eq!(ids(&r1["without_passed_background_check"]), strings(&["p2"]));

    // The other formats carry the same answers.
    let text = cli(&["report", "--out", &out]).await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    for needle in [
        "Active people who are NON_COMPLIANT: 2",
        "Offboarding gaps: 1 inactive without end_date, 1 active past end_date",
        "Active people without a passed background check: 3",
        "Controls without an active owner: 3 of 5",
        "Manager references: 1 dangling, 2 people on cycles",
        "p6 > p7 > p6",
        "p2@x.example",
        "Security Awareness: 2 of 4 not completed",
    ] {
        assert!(text.stdout.contains(needle), "text lacks {needle:?}:\n{}", text.stdout);
    }
    let md = cli(&["report", "--out", &out, "--format", "markdown"]).await;
    assert!(md.stdout.contains("## Active people who are NON_COMPLIANT: 2"), "{}", md.stdout);
    assert!(md.stdout.contains("| p8@x.example | Heidi P8 |  | p8 |"), "{}", md.stdout);
    assert!(md.stdout.contains("| Eng | 5 | 4 | 80.0% |"), "{}", md.stdout);
    let html_path = tmp.path().join("report.html");
    let h = cli(&["report", "--out", &out, "--format", "html", "--output", html_path.to_str().unwrap()]).await;
    assert_eq!(h.code, 0, "{}", h.stderr);
    assert!(h.stdout.is_empty(), "--output writes the file, not stdout");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<style>") && html.matches("<svg").count() >= 3, "inline CSS and SVG charts");
    for external in ["<script", "src=", "href=", "<link", "url("] {
        assert!(!html.contains(external), "self-contained: found {external}");
    }
    assert!(html.contains("Active people who are NON_COMPLIANT: 2"));
    assert!(html.contains("p6 &gt; p7 &gt; p6"));

    // Unknown snapshot id; diff with only one snapshot.
    let r = cli(&["report", "--out", &out, "--snapshot", "20990101T000000Z"]).await;
    assert_eq!(r.code, 64);
    assert!(r.stderr.contains("unknown snapshot id '20990101T000000Z'") && r.stderr.contains(S1), "{}", r.stderr);
    let r = cli(&["diff", "--out", &out]).await;
    assert_eq!(r.code, 64);
    assert!(r.stderr.contains("diff needs two committed snapshots"), "{}", r.stderr);

    commit(tmp.path(), "2026-03-02T00:00:00Z", snap2());

    // diff (default: the two latest).
    let df = json_of(&["diff", "--out", &out, "--format", "json"]).await;
    assert_eq!((df["from"]["snapshot_id"].as_str(), df["to"]["snapshot_id"].as_str()), (Some(S1), Some(S2)));
    assert_eq!(ids(&df["added"]), strings(&["p11"]));
    assert_eq!(ids(&df["removed"]), strings(&["p9"]));
    assert_eq!(ids(&df["deactivated"]), strings(&["p3"]));
    assert_eq!(ids(&df["reactivated"]), strings(&["p4"]));
    assert_eq!(
        df["compliance_transitions"],
        json!([
            {"from": "NON_COMPLIANT", "to": "COMPLIANT", "count": 1},
            {"from": "PENDING", "to": "NON_COMPLIANT", "count": 1},
        ])
    );
    assert_eq!(
        details(&df["compliance_changed"]),
        vec![
            ("p2".to_string(), "NON_COMPLIANT -> COMPLIANT".to_string()),
            ("p5".to_string(), "PENDING -> NON_COMPLIANT".to_string())
        ]
    );
    assert_eq!(
        details(&df["trainings_completed"]),
        vec![
            ("p2".to_string(), "Security Awareness (2026-03-01)".to_string()),
            ("p5".to_string(), "Privacy Training (2026-03-01)".to_string())
        ]
    );
    assert_eq!(
        details(&df["background_checks_changed"]),
        vec![
            ("p2".to_string(), "#0: PENDING -> PASSED 2026-03-01".to_string()),
            ("p6".to_string(), "#0: (none) -> PENDING".to_string())
        ]
    );
    let controls: Vec<(String, String, Value, Value)> = df["control_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["change"].as_str().unwrap().into(),
                c["id"].as_str().unwrap().into(),
                c["from_owner_id"].clone(),
                c["to_owner_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        controls,
        vec![
            ("added".to_string(), "C6".to_string(), Value::Null, json!("p3")),
            ("owner_changed".to_string(), "C1".to_string(), json!("p1"), json!("p2")),
            ("removed".to_string(), "C5".to_string(), json!("p2"), Value::Null),
        ]
    );
    // --from/--to explicitly, and the reverse direction.
    let back = json_of(&["diff", "--out", &out, "--from", S2, "--to", S1, "--format", "json"]).await;
    assert_eq!(ids(&back["added"]), strings(&["p9"]));
    assert_eq!(ids(&back["deactivated"]), strings(&["p4"]));

    let text = cli(&["diff", "--out", &out]).await;
    for needle in
        ["People added: 1", "People removed: 1", "Compliance status transitions: 2", "Control ownership changes: 3"]
    {
        assert!(text.stdout.contains(needle), "diff text lacks {needle:?}:\n{}", text.stdout);
    }
    let md = cli(&["diff", "--out", &out, "--format", "markdown"]).await;
    assert!(md.stdout.contains("| NON_COMPLIANT | COMPLIANT | 1 |"), "{}", md.stdout);
    let html = cli(&["diff", "--out", &out, "--format", "html"]).await;
    assert!(html.stdout.contains("<h2>Trainings completed: 2</h2>"), "{}", html.stdout);

    // --format parquet: the change table.
    let r = cli(&["diff", "--out", &out, "--format", "parquet"]).await;
    assert_eq!(r.code, 64, "parquet needs --output");
    let pq = tmp.path().join("changes.parquet");
    let r = cli(&["diff", "--out", &out, "--format", "parquet", "--output", pq.to_str().unwrap()]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&pq).unwrap())
            .unwrap();
    let batches: Vec<_> = reader.build().unwrap().map(|b| b.unwrap()).collect();
    let change = col(&batches, "change");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in change.iter().flatten() {
        *counts.entry(c.clone()).or_default() += 1;
    }
    assert_eq!(
        counts,
        [
            ("added", 1),
            ("background_check_changed", 2),
            ("compliance_changed", 2),
            ("control_added", 1),
            ("control_owner_changed", 1),
            ("control_removed", 1),
            ("deactivated", 1),
            ("reactivated", 1),
            ("removed", 1),
            ("training_completed", 2),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    );
    let i = change.iter().position(|c| c.as_deref() == Some("compliance_changed")).unwrap();
    assert_eq!(col(&batches, "from_value")[i].as_deref(), Some("NON_COMPLIANT"));
    assert_eq!(col(&batches, "to_value")[i].as_deref(), Some("COMPLIANT"));
    assert!(col(&batches, "to_snapshot_id").iter().all(|s| s.as_deref() == Some(S2)));

    // The report on the older snapshot is still available by id.
    let r = json_of(&["report", "--out", &out, "--snapshot", S1, "--format", "json"]).await;
    assert_eq!(r["people"], 10);
    // A snapshot committed before personnel_org existed: the report derives it on the fly.
    let manifest = tmp.path().join("_snapshots").join(S1).join("_manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["tables"].as_object_mut().unwrap().remove("personnel_org");
    std::fs::write(&manifest, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let old = json_of(&["report", "--out", &out, "--snapshot", S1, "--format", "json"]).await;
    assert_eq!(old["org_source"], "derived");
    assert_eq!(old["dangling_manager"], r["dangling_manager"]);
    assert_eq!(old["manager_cycles"], r["manager_cycles"]);

    // reconcile against the latest snapshot.
    let hris = tmp.path().join("hris.csv");
    std::fs::write(
        &hris,
        "\u{feff}External_ID, email ,first_name,last_name,department,manager_email,status,termination_date,notes\n\
         HR-1,p1@x.example,Alice,P1,Eng,,active,,ignored column\n\
         HR-2,P2@X.example,Bob,Builder,Eng,p1@x.example,active,,\n\
         HR-3,p3@x.example,Carol,P3,Sales,p1@x.example,terminated,2026-03-01,\n\
         HR-5,p5@x.example,Eve,P5,Marketing,p3@x.example,terminated,2026-02-01,\n\
         HR-6,p6-new@x.example,Frank,P6,Eng,p1@x.example,leave,,\n\
         \n\
         HR-7,p7@x.example,Grace,P7,Eng,p6@x.example,active,,\n\
         HR-11,p11@x.example,Ken,P11,Eng,p1@x.example,active,,\n\
         HR-12,new@x.example,New,Hire,Eng,,active,,\n\
         HR-13,gone@x.example,Old,Timer,Eng,,terminated,2025-01-01,\n",
    )
    .unwrap();
    let rc = json_of(&["reconcile", "--out", &out, "--hris", hris.to_str().unwrap(), "--format", "json"]).await;
    assert_eq!(rc["snapshot_id"], S2);
    assert_eq!(rc["hris_rows"], 9);
    assert_eq!(rc["matched"], 7);
    let missing: Vec<(u64, String)> = rc["missing_from_drata"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["key"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(missing, vec![(10, "HR-12".to_string())], "terminated HR-13 is not expected in Drata");
    assert_eq!(ids(&rc["not_in_hris"]), strings(&["p4", "p8"]));
    assert_eq!(ids(&rc["drata_without_key"]), strings(&["p10"]));
    assert_eq!(details(&rc["terminated_but_active"]), vec![("p5".to_string(), "2026-02-01".to_string())]);
    let mismatches: Vec<(String, String, String, Value)> = rc["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["key"].as_str().unwrap().into(),
                m["field"].as_str().unwrap().into(),
                m["hris"].as_str().unwrap().into(),
                m["drata"].clone(),
            )
        })
        .collect();
    assert_eq!(
        mismatches,
        vec![
            ("HR-2".to_string(), "name".to_string(), "Bob Builder".to_string(), json!("Bob P2")),
            ("HR-5".to_string(), "department".to_string(), "Marketing".to_string(), json!("Sales")),
            ("HR-6".to_string(), "email".to_string(), "p6-new@x.example".to_string(), json!("p6@x.example")),
            ("HR-6".to_string(), "manager".to_string(), "p1@x.example".to_string(), json!("p7@x.example")),
        ]
    );
    assert_eq!(rc["mismatch_counts"], json!({"department": 1, "email": 1, "manager": 1, "name": 1}));
    let text = cli(&["reconcile", "--out", &out, "--hris", hris.to_str().unwrap()]).await;
    for needle in ["Missing from Drata: 1", "Terminated in the HRIS, still active in Drata: 1", "Field mismatches: 4"] {
        assert!(text.stdout.contains(needle), "reconcile text lacks {needle:?}:\n{}", text.stdout);
    }
    let md = cli(&["reconcile", "--out", &out, "--hris", hris.to_str().unwrap(), "--format", "markdown"]).await;
    assert!(md.stdout.contains("| 6 | HR-6 | manager | p1@x.example | p7@x.example | p6 |"), "{}", md.stdout);
    // By email (case-insensitive).
    let rc =
        json_of(&["reconcile", "--out", &out, "--hris", hris.to_str().unwrap(), "--key", "email", "--format", "json"])
            .await;
    assert_eq!(ids(&rc["not_in_hris"]), strings(&["p10", "p4", "p6", "p8"]));
    assert_eq!(rc["matched"], 6);

    // Bad HRIS files: exit 64, naming the line and why.
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "email,first_name\np1@x.example,Alice\n").unwrap();
    let r = cli(&["reconcile", "--out", &out, "--hris", bad.to_str().unwrap()]).await;
    assert_eq!(r.code, 64);
    assert!(r.stderr.contains("missing required column(s) status, external_id"), "{}", r.stderr);
    std::fs::write(
        &bad,
        "external_id,status,termination_date,email\n\
         HR-1,active,,p1@x.example\n\
         HR-2,fired,,p2@x.example\n\
         HR-1,active,,p1@x.example\n\
         HR-4,terminated,31/01/2026,p4@x.example\n\
         HR-5,active,,p5@x.example,extra\n\
         ,active,,nobody-at-example\n",
    )
    .unwrap();
    let r = cli(&["reconcile", "--out", &out, "--hris", bad.to_str().unwrap()]).await;
    assert_eq!(r.code, 64);
    for needle in [
        "line 3: status 'fired' is not one of active, leave, terminated",
        "line 4: external_id 'HR-1' repeats line 2",
        "line 5: termination_date '31/01/2026' is not a date like 2025-01-31",
        "line 6: 5 fields, but the header has 4",
        "line 7: external_id is empty (it is the join key); email 'nobody-at-example' has no @",
    ] {
        assert!(r.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", r.stderr);
    }
    let r = cli(&["reconcile", "--out", &out, "--hris", "/nonexistent/hris.csv"]).await;
    assert_eq!(r.code, 64);
}

// ------------------------------------------------------------------------------------------
// Simulator, CLI and DuckDB SQL agree
// ------------------------------------------------------------------------------------------

fn column_of(rows: &[Vec<Value>], i: usize) -> Vec<String> {
    rows.iter().map(|r| r[i].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_snapshots_cli_and_sql_agree() {
    let sim = start(sim_config(400)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap().to_string();
    let r = run_etl(&sim, tmp.path(), &["--run-at", "2026-04-01T00:00:00Z"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary()["rows"]["personnel_org"], 400);

    // Mutate the workspace between the runs.
    let people = sim.sim.personnel_json();
    let id = |p: &Value| p["id"].as_str().unwrap().to_string();
    let manager_of = |p: &Value| p["managerId"].as_str().map(str::to_string);
    let mut reports: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &people {
        if let Some(m) = manager_of(p) {
            reports.entry(m).or_default().push(id(p));
        }
    }
    // A manager with a few reports leaves: their reports' manager_id now dangles.
    let (gone, mut orphans) =
        reports.iter().find(|(_, r)| (2..=6).contains(&r.len())).map(|(m, r)| (m.clone(), r.clone())).unwrap();
    assert!(sim.sim.delete_person(&gone));
    // Two people (neither involved above) manage each other.
    let free: Vec<String> = people
        .iter()
        .filter(|p| p["isActive"] == json!(true))
        .map(id)
        .filter(|i| *i != gone && !orphans.contains(i) && !reports.contains_key(i))
        .take(3)
        .collect();
    let (a, b, leaver) = (free[0].clone(), free[1].clone(), free[2].clone());
    assert!(sim.sim.set_person_field(&a, "managerId", json!(b)));
    assert!(sim.sim.set_person_field(&b, "managerId", json!(a)));
    // Someone active leaves without an end date; someone is found non-compliant.
    assert!(sim.sim.set_person_field(&leaver, "isActive", json!(false)));
    assert!(sim.sim.set_person_field(&leaver, "endDate", Value::Null));
    let flipped = people
        .iter()
        .find(|p| {
            p["isActive"] == json!(true)
                && p["complianceStatus"] == "COMPLIANT"
                && ![&a, &b, &leaver, &gone].contains(&&id(p))
        })
        .map(id)
        .unwrap();
    assert!(sim.sim.set_person_field(&flipped, "complianceStatus", json!("NON_COMPLIANT")));
    let hired = sim.sim.add_person();
    let r = run_etl(&sim, tmp.path(), &["--run-at", "2026-04-02T00:00:00Z"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    // personnel_org of the second snapshot flags exactly what was broken.
    let org = read_table(&tmp.path().join("personnel_org"), "snapshot_date=2026-04-02");
    let ids = col(&org, "id");
    let flagged = |c: &str| -> Vec<String> {
        let mut v: Vec<String> = col(&org, c)
            .iter()
            .zip(&ids)
            .filter(|(f, _)| f.as_deref() == Some("true"))
            .map(|(_, i)| i.clone().unwrap())
            .collect();
        v.sort();
        v
    };
    orphans.sort();
    assert_eq!(flagged("manager_dangling"), orphans);
    let mut cycle = vec![a.clone(), b.clone()];
    cycle.sort();
    assert_eq!(flagged("in_cycle"), cycle);
    assert_eq!(rows(&org), 400);

    // The CLI.
    let report = json_of(&["report", "--out", &out, "--format", "json", "--limit", "0"]).await;
    let mut dangling = ids_sorted(&report["dangling_manager"]);
    dangling.sort();
    assert_eq!(dangling, orphans);
    assert_eq!(ids_sorted(&report["manager_cycles"]), cycle);
    assert!(ids_sorted(&report["inactive_without_end_date"]).contains(&leaver));
    assert!(ids_sorted(&report["non_compliant_active"]).contains(&flipped));
    let diff = json_of(&["diff", "--out", &out, "--format", "json", "--limit", "0"]).await;
    assert_eq!(ids_sorted(&diff["removed"]), vec![gone.clone()]);
    assert_eq!(ids_sorted(&diff["added"]), vec![hired.clone()]);
    assert_eq!(ids_sorted(&diff["deactivated"]), vec![leaver.clone()]);
    assert_eq!(ids_sorted(&diff["reactivated"]), Vec::<String>::new());
    assert_eq!(diff["compliance_transitions"], json!([{"from": "COMPLIANT", "to": "NON_COMPLIANT", "count": 1}]));

    // DuckDB over the same committed files.
    let q = sql(tmp.path(), &[]);
    let hc: Vec<(String, u64, u64, u64)> = q["headcount"]
        .iter()
        .map(|r| {
            (r[0].as_str().unwrap().into(), r[1].as_u64().unwrap(), r[2].as_u64().unwrap(), r[3].as_u64().unwrap())
        })
        .collect();
    let want: Vec<(String, u64, u64, u64)> = report["headcount"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["employment_type"].as_str().unwrap().into(),
                h["active"].as_u64().unwrap(),
                h["inactive"].as_u64().unwrap(),
                h["total"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(hc, want, "headcount");
    let n = |name: &str| q[name].len() as u64;
    assert_eq!(n("non_compliant_active"), report["non_compliant_active"]["count"].as_u64().unwrap());
    assert_eq!(column_of(&q["non_compliant_active"], 4), ids_in_order(&report["non_compliant_active"]));
    let gaps = &q["offboarding_gaps"];
    let gap_count = |g: &str| gaps.iter().filter(|r| r[0] == g).count() as u64;
    assert_eq!(gap_count("inactive_without_end_date"), report["inactive_without_end_date"]["count"].as_u64().unwrap());
    assert_eq!(gap_count("active_past_end_date"), report["active_past_end_date"]["count"].as_u64().unwrap());
    let courses: Vec<(String, u64, u64)> = q["training_completion"]
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_u64().unwrap(), r[2].as_u64().unwrap()))
        .collect();
    let want: Vec<(String, u64, u64)> = report["trainings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (c["course"].as_str().unwrap().into(), c["assigned"].as_u64().unwrap(), c["completed"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(courses, want, "training completion");
    let not_done: u64 =
        report["trainings"].as_array().unwrap().iter().map(|c| c["not_completed"]["count"].as_u64().unwrap()).sum();
    assert_eq!(n("training_not_completed"), not_done);
    assert_eq!(n("missing_background_check"), report["without_passed_background_check"]["count"].as_u64().unwrap());
    let problems: Vec<(String, String)> = q["control_owner_problems"]
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect();
    let want: Vec<(String, String)> = report["control_problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["problem"].as_str().unwrap().into(), p["id"].as_str().unwrap().into()))
        .collect();
    assert_eq!(problems, want, "control owner problems");
    let anomalies = &q["manager_anomalies"];
    let mut sql_dangling: Vec<String> =
        anomalies.iter().filter(|r| r[0] == "dangling").map(|r| r[5].as_str().unwrap().into()).collect();
    sql_dangling.sort();
    assert_eq!(sql_dangling, orphans);
    let mut sql_cycle: Vec<String> =
        anomalies.iter().filter(|r| r[0] == "cycle").map(|r| r[5].as_str().unwrap().into()).collect();
    sql_cycle.sort();
    assert_eq!(sql_cycle, cycle);
    let change_ids = |c: &str| -> Vec<String> {
        q["diff_people"].iter().filter(|r| r[0] == c).map(|r| r[5].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(change_ids("added"), vec![hired]);
    assert_eq!(change_ids("removed"), vec![gone]);
    assert_eq!(change_ids("deactivated"), vec![leaver]);
    assert!(change_ids("reactivated").is_empty());
    assert_eq!(q["diff_compliance_transitions"], vec![vec![json!("COMPLIANT"), json!("NON_COMPLIANT"), json!(1)]]);
    assert_eq!(n("diff_trainings_completed"), diff["trainings_completed"]["count"].as_u64().unwrap());
    assert_eq!(n("diff_background_checks"), diff["background_checks_changed"]["count"].as_u64().unwrap());
    assert_eq!(n("diff_controls"), diff["control_change_count"].as_u64().unwrap());

    // The older snapshot by id, through the SQL variables too.
    let q1 = sql(tmp.path(), &["--snapshot", "20260401T000000Z", "headcount"]);
    let total: u64 = q1["headcount"].iter().map(|r| r[3].as_u64().unwrap()).sum();
    assert_eq!(total, 400);
    sim.shutdown().await;
}

fn ids_sorted(list: &Value) -> Vec<String> {
    let mut v = ids(list);
    v.sort();
    v
}

fn ids_in_order(list: &Value) -> Vec<String> {
    ids(list)
}
