//! End-to-end: policy acceptance (`personnel_policies`, issue 17 item 4). v2 runs hold one
//! row per assigned policy version of each person's user, exactly as the simulator's
//! documented rules (`sim::policies`) give them; `--incremental` reuses them without asking
//! again; a 403 names the permission, a 404 user makes the person gone, paging reads every
//! page; guide and v1 runs write the table empty with `policies_fetch_status` =
//! `not_available`.

use crate::common::*;
use arrow::array::RecordBatch;
use drata_etl::sim::{ApiKeySpec, RunningSim, SimConfig, SimDialect, SCOPE_CONTROLS_READ, SCOPE_PERSONNEL_READ};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn v2(personnel: usize) -> SimConfig {
    SimConfig { dialect: SimDialect::V2, controls: 10, ..sim_config(personnel) }
}

/// The columns of `personnel_policies` a row is compared on (all but the run's times).
const COLUMNS: [&str; 31] = [
    "personnel_id",
    "user_id",
    "ordinal",
    "user_policy_version_id",
    "policy_id",
    "policy_name",
    "policy_description",
    "policy_status",
    "assigned_to",
    "policy_renewal_date",
    "policy_created_at",
    "policy_updated_at",
    "policy_version_id",
    "version",
    "sub_version",
    "version_is_current",
    "version_type",
    "version_description",
    "version_changes_explanation",
    "requires_acknowledgment",
    "version_renewal_date",
    "published_at",
    "approved_at",
    "version_created_at",
    "version_updated_at",
    "accepted_at",
    "source_type",
    "details",
    "created_at",
    "updated_at",
    "extra",
];

type Row = Vec<Option<String>>;

/// `common::col`, with UTC timestamps rendered as `YYYY-MM-DDTHH:MM:SSZ`.
fn column(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, TimestampMicrosecondType};
    let Some(DataType::Timestamp(..)) =
        batches.first().and_then(|b| b.column_by_name(name)).map(|c| c.data_type().clone())
    else {
        return col(batches, name);
    };
    let mut out = Vec::new();
    for b in batches {
        let c = b.column_by_name(name).unwrap().as_primitive::<TimestampMicrosecondType>();
        for i in 0..c.len() {
            out.push((!c.is_null(i)).then(|| {
                let t = chrono::DateTime::from_timestamp_micros(c.value(i)).unwrap();
                t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            }));
        }
    }
    out
}

fn table_rows(batches: &[RecordBatch], names: &[&str]) -> Vec<Row> {
    let cols: Vec<_> = names.iter().map(|n| column(batches, n)).collect();
    (0..rows(batches)).map(|i| cols.iter().map(|c| c[i].clone()).collect()).collect()
}

/// A wire date-time as `col` renders a UTC timestamp column.
fn ts(v: &Value, key: &str) -> Option<String> {
    let s = wire_str(v, key)?;
    let t = chrono::DateTime::parse_from_rfc3339(&s).unwrap_or_else(|e| panic!("{key}={s}: {e}")).to_utc();
    Some(t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// The row the pipeline must write for one wire item (policy and version expanded).
fn expected_row(personnel_id: &str, user_id: &str, ordinal: usize, w: &Value) -> Row {
    let (p, v) = (&w["policy"], &w["policyVersion"]);
    vec![
        Some(personnel_id.to_string()),
        Some(user_id.to_string()),
        Some(ordinal.to_string()),
        wire_str(w, "id"),
        wire_str(w, "policyId"),
        wire_str(p, "name"),
        wire_str(p, "description"),
        wire_str(p, "policyStatus"),
        wire_str(p, "assignedTo"),
        wire_date(p, "renewalDate"),
        ts(p, "createdAt"),
        ts(p, "updatedAt"),
        wire_str(w, "policyVersionId"),
        wire_str(v, "version"),
        wire_str(v, "subVersion"),
        wire_str(v, "current"),
        wire_str(v, "type"),
        wire_str(v, "description"),
        wire_str(v, "changesExplanation"),
        wire_str(v, "requiresAcknowledgment"),
        wire_date(v, "renewalDate"),
        ts(v, "publishedAt"),
        ts(v, "approvedAt"),
        ts(v, "createdAt"),
        ts(v, "updatedAt"),
        ts(w, "acceptedAt"),
        wire_str(w, "sourceType"),
        wire_str(w, "details"),
        ts(w, "createdAt"),
        ts(w, "updatedAt"),
        None,
    ]
}

/// (user id, is_active, policies_fetch_status) of one personnel row.
type PersonCells = (Option<String>, Option<String>, Option<String>);

/// personnel id -> its cells.
fn people(out: &Path) -> BTreeMap<String, PersonCells> {
    let b = read_table(out, "personnel");
    let (id, user, active, status) =
        (col(&b, "id"), col(&b, "user_id"), col(&b, "is_active"), col(&b, "policies_fetch_status"));
    (0..id.len()).map(|i| (id[i].clone().unwrap(), (user[i].clone(), active[i].clone(), status[i].clone()))).collect()
}

fn by_person(rows: &[Row]) -> BTreeMap<String, Vec<Row>> {
    let mut out: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for r in rows {
        out.entry(r[0].clone().unwrap()).or_default().push(r.clone());
    }
    for v in out.values_mut() {
        v.sort_by_key(|r| r[2].as_ref().unwrap().parse::<i32>().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_writes_every_assigned_policy_exactly() {
    let sim = start(v2(40)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(
        s["rows"]["personnel_policies"].as_u64(),
        Some(rows(&read_table(tmp.path(), "personnel_policies")) as u64)
    );
    // One call per person's user (the preflight's probe is on its own client).
    assert_eq!(s["api"]["requests_by_endpoint"]["policies"], 40);

    let people = people(tmp.path());
    assert_eq!(people.len(), 40);
    let batches = read_table(tmp.path(), "personnel_policies");
    let written = by_person(&table_rows(&batches, &COLUMNS));
    assert!(column(&batches, "enriched_at").iter().all(Option::is_some));
    let mut total = 0;
    for (pid, (user, _, status)) in &people {
        assert_eq!(status.as_deref(), Some("ok"), "{pid}");
        let user = user.as_deref().unwrap();
        let wire = sim.sim.v2_assigned_policies_json(user).unwrap();
        let want: Vec<Row> = wire.iter().enumerate().map(|(i, w)| expected_row(pid, user, i, w)).collect();
        assert_eq!(written.get(pid).cloned().unwrap_or_default(), want, "person {pid}");
        total += want.len();
    }
    assert_eq!(rows(&batches), total);

    // The documented rules, by hand, for person index 3 (personnel 4, user 100004, current):
    // 31, 41 (3 % 3), 22, 13 oldest first; 41 and 13 unaccepted (3 % 2, 3 % 4); the rest
    // accepted through BambooHR (3 % 10) on publication + 3 days at 09:03.
    assert_eq!(people["4"].1.as_deref(), Some("true"), "the rules below are a current person's");
    let brief = [
        "policy_name",
        "policy_version_id",
        "version",
        "sub_version",
        "version_is_current",
        "requires_acknowledgment",
        "accepted_at",
        "source_type",
        "details",
        "user_policy_version_id",
    ];
    let got: Vec<Row> = table_rows(&batches, &["personnel_id", "ordinal"])
        .into_iter()
        .zip(table_rows(&batches, &brief))
        .filter(|(k, _)| k[0].as_deref() == Some("4"))
        .map(|(k, r)| [vec![k[1].clone()], r].concat())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let s = |x: &str| Some(x.to_string());
    let bamboo = s("Acknowledged in BambooHR");
    assert_eq!(
        got,
        vec![
            vec![
                s("0"),
                s("Code of Conduct"),
                s("31"),
                s("1"),
                s("0"),
                s("true"),
                s("true"),
                s("2021-09-04T09:03:00Z"),
                s("BAMBOO_HR"),
                bamboo.clone(),
                s("10000431")
            ],
            vec![
                s("1"),
                s("Data Retention Policy"),
                s("41"),
                s("1"),
                s("0"),
                s("true"),
                s("false"),
                None,
                s("UNKNOWN"),
                None,
                s("10000441")
            ],
            vec![
                s("2"),
                s("Acceptable Use Policy"),
                s("22"),
                s("2"),
                s("0"),
                s("true"),
                s("true"),
                s("2024-06-06T09:03:00Z"),
                s("BAMBOO_HR"),
                bamboo,
                s("10000422")
            ],
            vec![
                s("3"),
                s("Information Security Policy"),
                s("13"),
                s("3"),
                s("1"),
                s("true"),
                s("true"),
                None,
                s("UNKNOWN"),
                None,
                s("10000413")
            ],
        ]
    );

    // A leaver: the versions of their time, all accepted (publication + i % 28 days).
    let (leaver, _) = people.iter().find(|(_, p)| p.1.as_deref() == Some("false")).expect("a leaver among 40");
    let i: i64 = leaver.parse::<i64>().unwrap() - 1;
    let rows_of = &written[leaver];
    let at = |d: &str| {
        let d = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap() + chrono::Duration::days(i % 28);
        Some(format!("{d}T09:{:02}:00Z", i % 60))
    };
    let summary: Vec<_> = rows_of.iter().map(|r| (r[5].clone(), r[12].clone(), r[15].clone(), r[25].clone())).collect();
    assert_eq!(
        summary,
        vec![
            (s("Remote Work Policy"), s("61"), s("false"), at("2021-03-01")),
            (s("Code of Conduct"), s("31"), s("true"), at("2021-09-01")),
            (s("Acceptable Use Policy"), s("21"), s("false"), at("2022-03-01")),
            (s("Information Security Policy"), s("12"), s("false"), at("2023-01-09")),
        ],
        "leaver {leaver}"
    );
    assert_eq!(rows_of[0][7].as_deref(), Some("ARCHIVED"));
    assert_eq!(rows_of[0][9], None, "an archived policy has no renewal date");

    // The question the table is for has answers: current, acknowledgment required, not accepted.
    let open = table_rows(&batches, &["version_is_current", "requires_acknowledgment", "accepted_at"])
        .into_iter()
        .filter(|r| r[0].as_deref() == Some("true") && r[1].as_deref() == Some("true") && r[2].is_none())
        .count();
    assert!(open > 0 && open < total, "{open} of {total}");
    sim.shutdown().await;
}

/// Every batch of the Parquet files under one partition folder.
fn partition(dir: &Path) -> Vec<RecordBatch> {
    parquet_files(dir)
        .iter()
        .flat_map(|f| {
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .map(Result::unwrap)
        })
        .collect()
}

/// Child content of a table without the columns that legitimately differ between runs.
fn content(out: &Path, table: &str) -> BTreeSet<Row> {
    let b = read_table(out, table);
    let names: Vec<String> = b[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != "snapshot_at" && n != "enriched_at")
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    table_rows(&b, &names).into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_reuses_policies_without_asking_again() {
    let sim = start(v2(30)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--run-at", "2026-04-01T00:00:00Z"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = content(tmp.path(), "personnel_policies");
    assert!(first.len() > 30);

    sim.sim.reset_stats();
    let r = run_etl(&sim, tmp.path(), &["--run-at", "2026-04-01T01:00:00Z", "--incremental"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["incremental"]["reused"], 30, "{s}");
    // The simulator saw only the preflight's probe; the run itself asked nothing.
    assert_eq!(sim.sim.stats().requests_by_endpoint["policies"], 1);
    assert_eq!(s["api"]["requests_by_endpoint"]["policies"], 0);
    let at = |table: &str, id: &str| partition(&tmp.path().join(table).join("snapshot_date=2026-04-01").join(id));
    let first_cols: BTreeSet<Row> =
        table_rows(&at("personnel_policies", "snapshot_id=20260401T000000Z"), &COLUMNS).into_iter().collect();
    let second: BTreeSet<Row> =
        table_rows(&at("personnel_policies", "snapshot_id=20260401T010000Z"), &COLUMNS).into_iter().collect();
    assert_eq!(first_cols.len(), first.len());
    assert_eq!(second, first_cols, "the same rows, copied from the previous snapshot");
    let statuses = col(&at("personnel", "snapshot_id=20260401T010000Z"), "policies_fetch_status");
    assert_eq!(statuses.len(), 30);
    assert!(statuses.iter().all(|s| s.as_deref() == Some("ok")), "{statuses:?}");

    // A previous snapshot written before policies were fetched (no personnel_policies
    // table) cannot stand in for them: everyone is fetched, and the reason is given.
    let manifest = tmp.path().join("_snapshots").join("20260401T010000Z").join("_manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["tables"].as_object_mut().unwrap().remove("personnel_policies").unwrap();
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    sim.sim.reset_stats();
    let r = run_etl(&sim, tmp.path(), &["--run-at", "2026-04-01T02:00:00Z", "--incremental"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["incremental"]["reused"], 0, "{s}");
    let reason = s["incremental"]["ignored_reason"].as_str().unwrap();
    assert!(reason.contains("no personnel_policies table") && reason.contains("20260401T010000Z"), "{reason}");
    assert_eq!(s["api"]["requests_by_endpoint"]["policies"], 30);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_without_the_policies_permission_fails_check_and_run_naming_it() {
    let mut cfg = v2(5);
    cfg.keys = vec![ApiKeySpec::new(KEY, &[SCOPE_PERSONNEL_READ, SCOPE_CONTROLS_READ])];
    let sim = start(cfg).await;
    let permission = "needs the permission `user-policies-get-user-policies`";

    let mut c = bin();
    c.arg("check").arg("--base-url").arg(sim.base_url());
    let r: Run = c.output().await.unwrap().into();
    assert_eq!(r.code, 77, "{}", r.stdout);
    let row = r.stdout.lines().find(|l| l.contains("policies endpoint")).unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(row.contains("FAIL") && row.contains("403") && row.contains(permission), "{row}");
    for other in ["scope personnel:read", "scope controls:read", "training endpoint"] {
        let l = r.stdout.lines().find(|l| l.contains(other)).unwrap();
        assert!(l.trim_start().starts_with("ok"), "{l}");
    }

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let r = run_etl(&sim, &out, &[]).await;
    assert_eq!(r.code, 77, "{}", r.stderr);
    let msg = r.summary()["message"].as_str().unwrap().to_string();
    assert!(msg.starts_with("preflight:") && msg.contains("403") && msg.contains(permission), "{msg}");
    assert!(!out.exists(), "refused before the output was touched");
    sim.shutdown().await;
}

/// A v2 server with three people: user 7's policies come in three pages of two (its own
/// page size, whatever is asked), user 8 answers 404, user 9 has one. Logs every request.
async fn paging_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::Uri;
    use axum::response::IntoResponse;
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = log.clone();
    let item = |n: u64| {
        json!({"id": n, "acceptedAt": if n % 2 == 0 { Value::Null } else { json!(format!("2025-0{n}-01T10:00:00.000Z")) },
               "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-01-01T00:00:00.000Z",
               "sourceType": "MY_DRATA", "details": null, "policyId": n, "policyVersionId": n * 10,
               "policy": {"id": n, "name": format!("Policy {n}"), "description": "d", "createdAt": "2025-01-01T00:00:00.000Z",
                          "updatedAt": "2025-01-01T00:00:00.000Z", "assignedTo": "ALL", "policyStatus": "ACTIVE", "renewalDate": null},
               "policyVersion": {"id": n * 10, "version": n, "current": true, "type": "BUILDER", "createdAt": "2025-01-01T00:00:00.000Z",
                                 "updatedAt": "2025-01-01T00:00:00.000Z", "renewalDate": "2026-01-01T00:00:00.000Z", "subVersion": 0,
                                 "description": null, "approvedAt": null, "changesExplanation": null, "publishedAt": null,
                                 "requiresAcknowledgment": true}})
    };
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(uri.to_string());
            let q = uri.query().unwrap_or("");
            let page = |data: Value, cursor: Value| {
                let n = data.as_array().map(Vec::len);
                json!({"data": data, "pagination": {"cursor": cursor, "totalCount": n}})
            };
            let person = |id: u64, user: u64| {
                json!({"id": id, "userId": user, "employmentStatus": "CURRENT_EMPLOYEE",
                "user": {"id": user, "email": format!("u{user}@example.com")}, "complianceChecks": []})
            };
            let body = match uri.path() {
                "/public/v2/personnel" => page(json!([person(1, 7), person(2, 8), person(3, 9)]), Value::Null),
                "/public/v2/users" => page(json!([]), Value::Null),
                "/public/v2/users/7/documents" | "/public/v2/users/8/documents" | "/public/v2/users/9/documents" => {
                    page(json!([]), Value::Null)
                }
                "/public/v2/users/7/assigned-policies" => {
                    if q.contains("cursor=p3") {
                        page(json!([item(5)]), Value::Null)
                    } else if q.contains("cursor=p2") {
                        page(json!([item(3), item(4)]), json!("p3"))
                    } else {
                        json!({"data": [item(1), item(2)], "pagination": {"cursor": "p2", "totalCount": 5}})
                    }
                }
                "/public/v2/users/9/assigned-policies" => page(json!([item(6)]), Value::Null),
                "/public/v2/workspaces" => page(json!([{"id": 1}]), Value::Null),
                "/public/v2/workspaces/1/controls" => page(json!([]), Value::Null),
                "/public/v2/devices" => page(json!([]), Value::Null),
                _ => {
                    return (axum::http::StatusCode::NOT_FOUND, axum::Json(json!({"message": "User not found"})))
                        .into_response()
                }
            };
            axum::Json(body).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_read_whole_and_a_vanished_user_makes_the_person_gone() {
    let (url, log) = paging_server().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.args(["run", "--api", "v2", "--run-at", "2026-06-01T00:00:00Z", "--base-url", &url, "--out"]).arg(tmp.path());
    let r: Run = c.output().await.unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["enrichment"]["gone"], 1, "{s}");

    let people = people(tmp.path());
    let status: Vec<_> = people.values().map(|p| p.2.clone().unwrap()).collect();
    assert_eq!(status, ["ok", "gone", "ok"]);
    let training = col(&read_table(tmp.path(), "personnel"), "training_fetch_status");
    assert_eq!(
        training,
        [Some("ok".to_string()), Some("ok".into()), Some("ok".into())],
        "only the policies call 404ed"
    );

    let b = read_table(tmp.path(), "personnel_policies");
    let got = by_person(&table_rows(
        &b,
        &["personnel_id", "user_id", "ordinal", "policy_name", "policy_version_id", "accepted_at"],
    ));
    let s = |x: &str| Some(x.to_string());
    let row = |p: &str, o: &str, n: u64, accepted: Option<String>| {
        let user = if p == "1" { "7" } else { "9" };
        vec![s(p), s(user), s(o), Some(format!("Policy {n}")), Some((n * 10).to_string()), accepted]
    };
    assert_eq!(
        got["1"],
        vec![
            row("1", "0", 1, s("2025-01-01T10:00:00Z")),
            row("1", "1", 2, None),
            row("1", "2", 3, s("2025-03-01T10:00:00Z")),
            row("1", "3", 4, None),
            row("1", "4", 5, s("2025-05-01T10:00:00Z")),
        ],
        "every page, in order"
    );
    assert_eq!(got["3"], vec![row("3", "0", 6, None)]);
    assert!(!got.contains_key("2"), "a gone person has no policy rows");

    // Each listing asked the expansions and the stable order; pages 2 and 3 by cursor.
    let log_handle = log;
    let log = log_handle.lock().unwrap().clone();
    let asked: Vec<&String> = log.iter().filter(|u| u.starts_with("/public/v2/users/7/assigned-policies")).collect();
    assert_eq!(asked.len(), 3 * 2, "three pages, for the preflight's probe and for the run: {asked:?}");
    for u in &asked {
        assert!(
            u.contains("expand%5B%5D=policy&expand%5B%5D=policyVersion")
                || u.contains("expand[]=policy&expand[]=policyVersion"),
            "{u}"
        );
        assert!(u.contains("sort=createdAt&sortDir=ASC"), "{u}");
    }
    assert_eq!(asked.iter().filter(|u| u.contains("cursor=p2")).count(), 2);
    assert_eq!(asked.iter().filter(|u| u.contains("cursor=p3")).count(), 2);

    // An incremental run reuses the two complete people; the gone one is asked again.
    let before =
        |user: u64| log.iter().filter(|u| u.starts_with(&format!("/public/v2/users/{user}/assigned-policies"))).count();
    let (seven, eight) = (before(7), before(8));
    let mut c = bin();
    c.args(["run", "--api", "v2", "--incremental", "--run-at", "2026-06-01T01:00:00Z", "--base-url", &url, "--out"])
        .arg(tmp.path());
    let r: Run = c.output().await.unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!((s["incremental"]["reused"].as_u64(), s["incremental"]["new"].as_u64()), (Some(2), Some(1)), "{s}");
    assert_eq!(s["api"]["requests_by_endpoint"]["policies"], 1, "only the gone person's user: {s}");
    let log = log_handle.lock().unwrap().clone();
    let after =
        |user: u64| log.iter().filter(|u| u.starts_with(&format!("/public/v2/users/{user}/assigned-policies"))).count();
    assert_eq!(
        (after(7) - seven, after(8) - eight),
        (3, 1),
        "the preflight's probe of user 7 (3 pages), user 8 by the run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guide_and_v1_write_an_empty_table_and_say_not_available() {
    for dialect in [SimDialect::Guide, SimDialect::V1] {
        let sim: RunningSim = start(SimConfig { dialect, controls: 10, ..sim_config(12) }).await;
        let tmp = tempfile::tempdir().unwrap();
        let r = run_etl(&sim, tmp.path(), &["--run-at", "2026-05-01T00:00:00Z"]).await;
        assert_eq!(r.code, 0, "{dialect:?}: {}", r.stderr);
        assert_eq!(r.summary()["rows"]["personnel_policies"], 0, "{dialect:?}");
        assert_eq!(rows(&read_table(tmp.path(), "personnel_policies")), 0);
        let statuses = col(&read_table(tmp.path(), "personnel"), "policies_fetch_status");
        assert_eq!(statuses.len(), 12);
        assert!(statuses.iter().all(|s| s.as_deref() == Some("not_available")), "{dialect:?}: {statuses:?}");
        assert_eq!(sim.sim.stats().requests_by_endpoint["policies"], 0, "{dialect:?}: nothing asked");

        // An incremental run reuses everyone: not_available is complete data.
        let r = run_etl(&sim, tmp.path(), &["--incremental", "--run-at", "2026-05-01T01:00:00Z"]).await;
        assert_eq!(r.code, 0, "{dialect:?}: {}", r.stderr);
        assert_eq!(r.summary()["incremental"]["reused"], 12, "{dialect:?}");
        sim.shutdown().await;
    }
}
