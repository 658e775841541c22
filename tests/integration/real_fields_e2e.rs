//! Every documented real-API field a typed column (issue 17 item 1), end to end: the real
//! binary against the simulator in v1 and v2, every appended column of every table checked
//! row by row against the wire record it came from, and against the simulator's documented
//! generation rules (`src/sim/real_fields.rs`) for known people and every control; the guide
//! dialect leaves them all null. Schema evolution: a snapshot written before the columns
//! were appended verifies, is not reused by `--incremental`, and `report`, `diff` and
//! `reconcile` read a root holding it and a current one.

use crate::common::*;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Int32Type, TimestampMicrosecondType};
use drata_etl::sim::{RunningSim, SimConfig, SimDialect};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

const USER_ID_BASE: u64 = 100_001;
const STAMP: &str = "2025-01-01T00:00:00.000Z";

fn config(dialect: SimDialect, personnel: usize) -> SimConfig {
    SimConfig { dialect, controls: 30, ..sim_config(personnel) }
}

/// One Arrow cell as the JSON the API would have sent: text, booleans, integers, dates as
/// `YYYY-MM-DD`, times as `YYYY-MM-DDTHH:MM:SS.mmmZ`, lists as arrays, structs as objects.
fn cell(c: &dyn Array, i: usize) -> Value {
    if c.is_null(i) {
        return Value::Null;
    }
    match c.data_type() {
        DataType::Utf8 => json!(c.as_string::<i32>().value(i)),
        DataType::Boolean => json!(c.as_boolean().value(i)),
        DataType::Int32 => json!(c.as_primitive::<Int32Type>().value(i)),
        DataType::Date32 => {
            let d = c.as_primitive::<Date32Type>().value(i);
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
            json!((epoch + chrono::Duration::days(d.into())).to_string())
        }
        DataType::Timestamp(_, _) => {
            let m = c.as_primitive::<TimestampMicrosecondType>().value(i);
            json!(chrono::DateTime::from_timestamp_micros(m).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        }
        DataType::List(_) => {
            let l = c.as_list::<i32>().value(i);
            Value::Array((0..l.len()).map(|j| cell(l.as_ref(), j)).collect())
        }
        DataType::Struct(fields) => {
            let s = c.as_struct();
            Value::Object(fields.iter().enumerate().map(|(k, f)| (f.name().clone(), cell(s.column(k), i))).collect())
        }
        other => panic!("no rendering for {other:?}"),
    }
}

/// Every row of a table as a JSON object of its columns.
fn table_rows(out: &Path, table: &str) -> Vec<Map<String, Value>> {
    let batches: Vec<RecordBatch> = read_table(out, table);
    let mut rows = Vec::new();
    for b in &batches {
        for i in 0..b.num_rows() {
            let row =
                b.schema().fields().iter().enumerate().map(|(k, f)| (f.name().clone(), cell(b.column(k), i))).collect();
            rows.push(row);
        }
    }
    rows
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A wire value as its column holds it: ids and numbers-as-text as text.
fn as_text(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        v => Value::String(text(v)),
    }
}

/// `a.b.c` inside a wire record (null when any step is missing).
fn at(v: &Value, path: &str) -> Value {
    path.split('.').fold(v.clone(), |v, k| v.get(k).cloned().unwrap_or(Value::Null))
}

/// Compare columns with wire paths; `kind` "text" renders the wire value as text (ids,
/// numbers kept as text), "date" keeps its calendar date, anything else compares as is.
fn check(row: &Map<String, Value>, wire: &Value, pairs: &[(&str, &str, &str)], what: &str) {
    for (column, path, kind) in pairs {
        let w = at(wire, path);
        let want = match *kind {
            "text" => as_text(&w),
            "date" => w.as_str().map_or(Value::Null, |s| json!(&s[..10])),
            _ => w,
        };
        assert_eq!(row[*column], want, "{what}: column {column} from {path}");
    }
}

const PERSON_BOTH: &[(&str, &str, &str)] = &[
    ("status_updated_at", "statusUpdatedAt", ""),
    ("not_human_reason", "notHumanReason", "text"),
    ("created_at", "createdAt", ""),
    ("updated_at", "updatedAt", ""),
    ("user_created_at", "user.createdAt", ""),
    ("user_updated_at", "user.updatedAt", ""),
    ("roles", "user.roles", ""),
    ("avatar_url", "user.avatarUrl", "text"),
    ("drata_terms_agreed_at", "user.drataTermsAgreedAt", ""),
];
const PERSON_V1: &[(&str, &str, &str)] = &[
    ("os_version", "osVersion", "text"),
    ("serial_number", "serialNumber", "text"),
    ("agent_enabled", "agentEnabled", ""),
    ("manual_upload_enabled", "manualUploadEnabled", ""),
    ("devices_count", "devicesCount", ""),
    ("devices_failing_compliance_count", "devicesFailingComplianceCount", ""),
    ("agent_version", "data.agentVersion", "text"),
    ("agent_os_version", "data.osVersion", "text"),
    ("agent_serial_number", "data.serialNumber", "text"),
    ("agent_mac_address", "data.macAddress", "text"),
    ("agent_screen_lock_time", "data.screenLockTime", "text"),
    ("agent_last_checked_at", "data.lastcheckedAt", ""),
    ("agent_created_at", "data.createdAt", ""),
    ("agent_updated_at", "data.updatedAt", ""),
];
const BACKGROUND: &[(&str, &str, &str)] = &[
    ("status", "status", "text"),
    ("completed_at", "manualCheckDate", "date"),
    ("id", "id", "text"),
    ("user_id", "userId", "text"),
    ("type", "type", "text"),
    ("source", "source", "text"),
    ("case_id", "caseId", "text"),
    ("case_invitation_id", "caseInvitationId", "text"),
    ("url", "url", "text"),
    ("manually_check_url", "manuallyCheckUrl", "text"),
    ("report_data", "reportData", "text"),
    ("out_of_scope_reason", "outOfScopeReason", "text"),
    ("out_of_scope_at", "outOfScopeAt", ""),
    ("invitation_email", "invitationEmail", "text"),
    ("linked_at", "linkedAt", ""),
    ("created_at", "createdAt", ""),
    ("updated_at", "updatedAt", ""),
];
const COMPLIANCE: &[(&str, &str, &str)] = &[
    ("check_id", "id", "text"),
    ("created_at", "createdAt", ""),
    ("updated_at", "updatedAt", ""),
    ("exclusion_id", "exclusion.id", "text"),
    ("exclusion_reason", "exclusion.reason", "text"),
    ("exclusion_created_by_id", "exclusion.createdById", "text"),
    ("exclusion_created_by_email", "exclusion.createdByEmail", "text"),
    ("exclusion_created_at", "exclusion.createdAt", ""),
    ("exclusion_start_date", "exclusion.startDate", ""),
    ("exclusion_end_date", "exclusion.endDate", ""),
];

fn by_key(rows: Vec<Map<String, Value>>, key: &[&str]) -> BTreeMap<Vec<String>, Map<String, Value>> {
    rows.into_iter().map(|r| (key.iter().map(|k| text(&r[*k])).collect(), r)).collect()
}

/// Check every appended column of a real-dialect snapshot against `people` (the wire
/// records, v1-shaped: the user's fields under `user`).
fn assert_real_columns(sim: &RunningSim, out: &Path, people: &[Value], v2: bool) {
    let persons = by_key(table_rows(out, "personnel"), &["id"]);
    assert_eq!(persons.len(), people.len());
    let checks = by_key(table_rows(out, "personnel_compliance_checks"), &["personnel_id", "ordinal"]);
    let bgs = by_key(table_rows(out, "personnel_background_checks"), &["personnel_id", "ordinal"]);
    let trainings = table_rows(out, "personnel_training");
    let (mut bg_seen, mut excluded) = (0, 0);
    for w in people {
        let id = text(&w["id"]);
        let row = &persons[&vec![id.clone()]];
        check(row, w, PERSON_BOTH, &format!("person {id}"));
        if v2 {
            for (column, _, _) in PERSON_V1 {
                assert_eq!(row[*column], Value::Null, "v2 has no {column}");
            }
        } else {
            check(row, w, PERSON_V1, &format!("person {id}"));
        }
        // Nobody is out of scope and no entryId is sent; v2 leaves nothing in extra (v1
        // keeps identities and devices there, which are tables of their own).
        for column in ["reason_provider_user_id", "user_entry_id"] {
            assert_eq!(row[column], Value::Null, "person {id}: {column}");
        }
        if v2 {
            assert_eq!(row["extra"], Value::Null, "person {id}");
        }
        for (k, c) in w["complianceChecks"].as_array().unwrap().iter().enumerate() {
            let r = &checks[&vec![id.clone(), k.to_string()]];
            check(r, c, COMPLIANCE, &format!("check {k} of {id}"));
            assert_eq!(r["extra"], Value::Null);
            excluded += usize::from(!r["exclusion_id"].is_null());
        }
        for (k, b) in w["user"]["backgroundChecks"].as_array().unwrap().iter().enumerate() {
            let r = &bgs[&vec![id.clone(), k.to_string()]];
            check(r, b, BACKGROUND, &format!("background check {k} of {id}"));
            assert_eq!(r["extra"], Value::Null);
            bg_seen += 1;
        }
        // The SECURITY_TRAINING row: its check and the user's documents, field by field.
        let sec = w["complianceChecks"].as_array().unwrap().iter().find(|c| c["type"] == "SECURITY_TRAINING").unwrap();
        let t = trainings.iter().find(|t| t["personnel_id"] == json!(id) && t["name"] == "SECURITY_TRAINING").unwrap();
        let pairs = [
            ("check_id", "id", "text"),
            ("check_frequency", "checkFrequency", "text"),
            ("expires_at", "expiresAt", ""),
            ("last_checked_at", "lastCheckedAt", ""),
        ];
        check(t, sec, &pairs, &format!("training of {id}"));
        assert_eq!(t["extra"], Value::Null, "training of {id}");
        let user_id = text(&w["user"]["id"]);
        let docs = sim.sim.real_documents_json(&user_id).unwrap();
        let want: Vec<Value> = docs
            .iter()
            .map(|d| {
                json!({"id": text(&d["id"]), "user_id": if v2 { json!(user_id) } else { Value::Null }, "name": d["name"],
                       "type": d["type"], "file_url": d["fileUrl"], "renewal_date": d["renewalDate"],
                       "created_at": d["createdAt"], "updated_at": d["updatedAt"], "extra": null})
            })
            .collect();
        assert_eq!(t["documents"], Value::Array(want), "documents of {id}");
    }
    assert_eq!(bg_seen, bgs.len(), "every background check row came from the wire");
    assert_eq!(excluded > 0, v2, "v2 alone sends exclusions");
    // Other training rows carry no documents.
    assert!(trainings.iter().filter(|t| t["name"] != "SECURITY_TRAINING").all(|t| t["documents"].is_null()));
}

/// The documented rules for the people whose indices are given (personnel id = index + 1).
fn assert_person_rules(out: &Path, v2: bool) {
    let persons = by_key(table_rows(out, "personnel"), &["id"]);
    let p = |index: u64| &persons[&vec![(index + 1).to_string()]];
    // Index 0: agent enabled (macOS), TECHGOV added to the role, an avatar, terms agreed.
    let (a, b) = (p(0), p(1));
    assert!(a["roles"].as_array().unwrap().contains(&json!("TECHGOV")), "{:?}", a["roles"]);
    assert_eq!(a["avatar_url"], json!(format!("https://avatars.example/{USER_ID_BASE}.png")));
    assert_eq!(a["drata_terms_agreed_at"], json!(STAMP));
    assert_eq!(a["status_updated_at"], Value::Null);
    assert_eq!(b["status_updated_at"], json!("2024-06-01T12:00:00.000Z"), "index 1: status set by hand");
    assert_eq!(b["roles"].as_array().unwrap().len(), 1);
    assert_eq!(b["avatar_url"], Value::Null);
    assert_eq!(p(3)["drata_terms_agreed_at"], Value::Null, "index 3 never agreed");
    if v2 {
        return;
    }
    assert_eq!(
        [&a["agent_enabled"], &a["manual_upload_enabled"], &a["os_version"], &a["serial_number"]],
        [&json!(true), &json!(false), &json!("macOS 14.5"), &json!("SN00000001")]
    );
    assert_eq!(
        [&a["agent_version"], &a["agent_screen_lock_time"], &a["agent_mac_address"], &a["agent_last_checked_at"]],
        [&json!("3.0.0"), &json!("60"), &json!("02:00:00:00:00:01"), &json!("2025-01-01T06:00:00.000Z")]
    );
    assert_eq!(
        [&b["agent_enabled"], &b["manual_upload_enabled"], &b["os_version"]],
        [&json!(false), &json!(true), &Value::Null]
    );
    assert_eq!(b["agent_version"], Value::Null);
    let c = p(4);
    assert_eq!(
        [&c["os_version"], &c["agent_version"], &c["agent_screen_lock_time"]],
        [&json!("Windows 11 23H2"), &json!("3.4.0"), &json!("300")]
    );
}

/// The background-check rules: type and source by `(user_id + k) % 4`, manual checks with
/// their file and no case, out of scope only for pending checks of `user_id % 5 == 0`.
fn assert_background_rules(out: &Path) {
    let rows = table_rows(out, "personnel_background_checks");
    let mut types = BTreeMap::new();
    for r in &rows {
        let user: u64 = text(&r["user_id"]).parse().unwrap();
        let k: u64 = text(&r["ordinal"]).parse().unwrap();
        let (t, source) = [
            ("CHECKR", json!("CHECKR")),
            ("KARMACHECK", json!("KARMACHECK")),
            ("MANUAL", Value::Null),
            ("HRIS_RIPPLING", json!("RIPPLING_CHECKR")),
        ][((user + k) % 4) as usize]
            .clone();
        assert_eq!((&r["type"], &r["source"]), (&json!(t), &source), "{r:?}");
        assert_eq!(text(&r["personnel_id"]).parse::<u64>().unwrap() + USER_ID_BASE - 1, user);
        assert_eq!(r["id"], json!((user * 10 + k).to_string()));
        if t == "MANUAL" {
            assert_eq!((&r["case_id"], &r["manually_check_url"]), (&Value::Null, &r["url"]));
            assert_eq!(r["url"], json!(format!("https://files.example/bg/{user}-{k}.pdf")));
        } else {
            assert_eq!((&r["case_id"], &r["manually_check_url"]), (&json!(format!("case-{user}-{k}")), &Value::Null));
        }
        assert_eq!(r["linked_at"].is_null(), t != "HRIS_RIPPLING");
        if r["status"] == "OUT_OF_SCOPE" {
            assert_eq!(user % 5, 0);
            assert_eq!(
                (&r["out_of_scope_reason"], &r["out_of_scope_at"]),
                (&json!("Screened by their agency"), &json!("2024-09-01T00:00:00.000Z"))
            );
        } else {
            assert_eq!(r["out_of_scope_at"], Value::Null);
        }
        *types.entry(text(&r["status"]) + "/" + t).or_insert(0) += 1;
    }
    for t in ["CHECKR", "KARMACHECK", "MANUAL", "HRIS_RIPPLING"] {
        assert!(types.keys().any(|k| k.ends_with(t)), "type {t} exercised: {types:?}");
    }
    assert!(types.keys().any(|k| k.starts_with("OUT_OF_SCOPE/")), "{types:?}");
    // The analyst's question, in plain SQL terms: which checks were manual uploads.
    let manual = rows.iter().filter(|r| r["type"] == "MANUAL").count();
    assert!(manual > 0 && manual < rows.len());
}

/// Every control by the documented rules (`id` = position + 1).
fn assert_control_rules(sim: &RunningSim, out: &Path, v2: bool) {
    let rows = by_key(table_rows(out, "controls"), &["id"]);
    let expected = sim.sim.real_controls_owners();
    assert_eq!(rows.len(), expected.len());
    let tags: [Value; 4] = [json!(["SOC_2"]), json!(["SOC_2", "ISO27001"]), json!(["HIPAA"]), json!([])];
    let topics: [Value; 3] = [json!(["SECURITY"]), json!(["AVAILABILITY", "CONFIDENTIALITY"]), json!([])];
    let mut archived = 0;
    for (id, code, owners) in &expected {
        let r = &rows[&vec![id.to_string()]];
        let name = r["name"].as_str().unwrap();
        let v2_only = |v: Value| if v2 { v } else { Value::Null };
        let want = json!({
            "code": code, "slug": code.to_ascii_lowercase(), "description": format!("{name} control"),
            "question": v2_only(if id % 2 == 0 { json!(format!("Is {name} in place?")) } else { Value::Null }),
            "activity": v2_only(if id % 3 == 0 { json!("Review quarterly") } else { Value::Null }),
            "archived_at": if id % 9 == 5 { json!("2025-06-30T00:00:00.000Z") } else { Value::Null },
            "rationale": v2_only(if id % 4 == 1 { json!("Required by SOC 2 CC6.1") } else { Value::Null }),
            "control_template_id": v2_only(if id % 2 == 1 { json!((1000 + id).to_string()) } else { Value::Null }),
            "created_at": v2_only(json!(STAMP)), "updated_at": v2_only(json!(STAMP)),
            "workspace_id": "1", "framework_tags": tags[(id % 4) as usize], "topics": topics[(id % 3) as usize],
            "has_evidence": id % 4 != 0, "has_policy": v2_only(json!(id % 5 == 0)), "has_owner": !owners.is_empty(),
            "is_monitored": id % 2 == 0, "is_ready": id % 3 != 0, "has_ticket": id % 6 == 5,
            "extra": if v2 { Value::Null } else { json!(r#"{"frameworkRequirements":[]}"#) },
        });
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&r[k], v, "control {id} ({code}): {k}");
        }
        archived += usize::from(!r["archived_at"].is_null());
    }
    assert!(archived > 0, "archived controls are exercised");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_documented_fields_are_columns() {
    let sim = start(config(SimDialect::V1, 64)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--api", "v1"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_real_columns(&sim, tmp.path(), &sim.sim.v1_personnel_json(), false);
    assert_person_rules(tmp.path(), false);
    assert_background_rules(tmp.path());
    assert_control_rules(&sim, tmp.path(), false);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_documented_fields_are_columns() {
    let sim = start(config(SimDialect::V2, 64)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--api", "v2", "--page-size", "25"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // v2 carries the user's roles, avatar, terms and background checks on /v2/users: the
    // v1 view of the same people (same generator) says what the join must deliver.
    let mut people = sim.sim.v2_personnel_json();
    for (p, w) in people.iter_mut().zip(sim.sim.v1_personnel_json()) {
        for k in ["roles", "avatarUrl", "drataTermsAgreedAt", "backgroundChecks"] {
            p["user"][k] = w["user"][k].clone();
        }
    }
    assert_real_columns(&sim, tmp.path(), &people, true);
    assert_person_rules(tmp.path(), true);
    assert_background_rules(tmp.path());
    assert_control_rules(&sim, tmp.path(), true);
    sim.shutdown().await;
}

/// The columns a table gained after `snapshot_at` (issue 17).
fn appended(out: &Path, table: &str) -> Vec<String> {
    let b = read_table(out, table);
    let names: Vec<String> = b[0].schema().fields().iter().map(|f| f.name().clone()).collect();
    let at = names.iter().position(|n| n == "snapshot_at").unwrap();
    names[at + 1..].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guide_dialect_leaves_every_appended_column_null() {
    let sim = start(config(SimDialect::Guide, 30)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    for table in ["personnel", "personnel_training", "personnel_background_checks", "controls"] {
        let cols = appended(tmp.path(), table);
        assert!(!cols.is_empty(), "{table}");
        let rows = table_rows(tmp.path(), table);
        assert!(!rows.is_empty(), "{table}");
        for r in &rows {
            for c in &cols {
                // The one appended column that is never null: the guide has no policies
                // endpoint, and says so.
                let want = if c == "policies_fetch_status" { Value::from("not_available") } else { Value::Null };
                assert_eq!(r[c], want, "{table}.{c} in the guide dialect");
            }
        }
    }
    sim.shutdown().await;
}

/// Rewrite every file of the snapshot under `out` as a version before the appended columns
/// would have (its columns through `snapshot_at`), or through `shape`, and make its manifest
/// match the new files (sizes and checksums), as that version's commit would have.
fn rewrite_snapshot(out: &Path, shape: impl Fn(&arrow::datatypes::Schema) -> Vec<usize>) {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use sha2::{Digest, Sha256};
    let snaps: Vec<_> = std::fs::read_dir(out.join("_snapshots")).unwrap().map(|e| e.unwrap().path()).collect();
    let newest = snaps.iter().max().unwrap().join("_manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&newest).unwrap()).unwrap();
    for (_, t) in m["tables"].as_object_mut().unwrap() {
        for f in t["files"].as_array_mut().unwrap() {
            let path = out.join(f["path"].as_str().unwrap());
            let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap();
            let keep = shape(reader.schema());
            let schema = std::sync::Arc::new(reader.schema().project(&keep).unwrap());
            let batches: Vec<RecordBatch> =
                reader.build().unwrap().map(|b| b.unwrap().project(&keep).unwrap()).collect();
            let mut w =
                parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
            for b in &batches {
                w.write(b).unwrap();
            }
            w.close().unwrap();
            let bytes = std::fs::read(&path).unwrap();
            f["bytes"] = json!(bytes.len());
            f["sha256"] = json!(hex::encode(Sha256::digest(&bytes)));
        }
    }
    std::fs::write(&newest, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

fn first_release(s: &arrow::datatypes::Schema) -> Vec<usize> {
    (0..=s.index_of("snapshot_at").unwrap()).collect()
}

async fn cli(args: &[&str]) -> Run {
    let mut c = bin();
    c.env("DRATA_ETL_LOG", "warn").args(args);
    c.output().await.expect("binary runs").into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_snapshot_verifies_is_not_reused_and_is_still_analysed() {
    let sim = start(config(SimDialect::V2, 40)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap().to_string();
    let r = run_etl(&sim, tmp.path(), &["--run-at", "2026-04-01T00:00:00Z"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    rewrite_snapshot(tmp.path(), first_release);
    assert!(appended(tmp.path(), "personnel").is_empty(), "the snapshot now looks written before issue 17");

    // verify: intact, and says which tables an older version wrote.
    let v = cli(&["verify", "--out", &out]).await;
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("written by an older version") && v.stdout.contains("personnel_background_checks"),
        "{}",
        v.stdout
    );

    // An incremental run does not reuse its rows (they lack the new columns): a full fetch.
    sim.sim.reset_stats();
    let r = run_etl(&sim, tmp.path(), &["--run-at", "2026-04-01T01:00:00Z", "--incremental"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let inc = &r.summary()["incremental"];
    let reason = inc["ignored_reason"].as_str().unwrap_or_else(|| panic!("no ignored_reason: {inc}"));
    assert!(reason.contains("older version of drata-etl") && reason.contains("20260401T000000Z"), "{reason}");
    assert_eq!((inc["reused"].as_u64(), inc["new"].as_u64()), (Some(0), Some(40)), "{inc}");
    // Every person's documents are asked for again (the preflight probe may add one).
    assert!(sim.sim.stats().requests_by_endpoint["training"] >= 40, "{:?}", sim.sim.stats());
    let bg = table_rows(tmp.path(), "personnel_background_checks");
    let newest: Vec<_> = bg.iter().filter(|r| r.contains_key("type")).collect();
    assert!(!newest.is_empty() && newest.iter().all(|r| !r["type"].is_null()), "the new snapshot has every column");

    // The analytics commands (cargo feature `analytics`) read the root holding both.
    #[cfg(feature = "analytics")]
    analytics_read_old_and_new(tmp.path()).await;
    sim.shutdown().await;
}

#[cfg(feature = "analytics")]
async fn analytics_read_old_and_new(root: &Path) {
    let out = root.to_str().unwrap().to_string();
    let mut answers = Vec::new();
    for id in ["20260401T000000Z", "latest"] {
        let r = cli(&["report", "--out", &out, "--snapshot", id, "--format", "json"]).await;
        assert_eq!(r.code, 0, "report {id}: {}{}", r.stdout, r.stderr);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        answers.push((v["people"].clone(), v["active"].clone(), v["compliance_status"].clone()));
        let hris = root.join("hris.csv");
        std::fs::write(&hris, "external_id,email,status\nX-1,nobody@example.com,active\n").unwrap();
        let r =
            cli(&["reconcile", "--out", &out, "--snapshot", id, "--hris", hris.to_str().unwrap(), "--format", "json"])
                .await;
        assert_eq!(r.code, 0, "reconcile {id}: {}{}", r.stdout, r.stderr);
    }
    // The same people, read from the older files and from the current ones.
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, json!(40));
    let d = cli(&["diff", "--out", &out, "--format", "json"]).await;
    assert_eq!(d.code, 0, "diff: {}{}", d.stdout, d.stderr);
    let d: Value = serde_json::from_str(&d.stdout).unwrap();
    assert_eq!(d["from"]["snapshot_id"], "20260401T000000Z", "{d}");
    for k in ["added", "removed"] {
        assert_eq!(d[k]["people"], json!([]), "nobody changed between the two: {d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_refuses_reordered_columns() {
    let sim = start(config(SimDialect::V1, 10)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The appended columns present but in another order: not an older version's file.
    rewrite_snapshot(tmp.path(), |s| {
        let mut keep: Vec<usize> = (0..s.fields().len()).collect();
        let at = s.index_of("snapshot_at").unwrap();
        if keep.len() > at + 2 {
            keep.swap(at + 1, at + 2);
        }
        keep
    });
    let v = cli(&["verify", "--out", tmp.path().to_str().unwrap()]).await;
    assert_eq!(v.code, 65, "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("schema differs"), "{}", v.stdout);
    sim.shutdown().await;
}
