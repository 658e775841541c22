//! End to end (issue 17, identities and devices): the real binary against the simulator in
//! each dialect. `personnel_identities`, `personnel_devices` and `personnel_device_checks`
//! hold exactly what the simulator served (every column against the wire JSON), the
//! personnel columns derived from identities (manager_id, employment_type, title) follow
//! their documented rules, the org hierarchy equals the one the simulator generated, and
//! unresolvable managers and devices of nobody listed are counted in the manifest. The
//! guide dialect writes the tables empty. A 403 on the devices listing names `devices-get`.

use crate::common::*;
use arrow::array::{Array, AsArray, RecordBatch};
use drata_etl::sim::{RunningSim, SimConfig, SimDialect};
use serde_json::Value;
use std::collections::BTreeMap;

fn config(dialect: SimDialect, personnel: usize) -> SimConfig {
    SimConfig { dialect, controls: 10, ..sim_config(personnel) }
}

type Row = BTreeMap<String, Option<String>>;

/// Every row of a table, each column rendered as text: timestamps as their UTC
/// microseconds, lists as `a|b`, everything else as `col` renders it.
fn table_rows(out: &std::path::Path, table: &str) -> Vec<Row> {
    let batches = read_table(out, table);
    let mut rows = Vec::new();
    for b in &batches {
        let names: Vec<String> = b.schema().fields().iter().map(|f| f.name().clone()).collect();
        let cols: Vec<Vec<Option<String>>> = names.iter().map(|n| render(b, n)).collect();
        for i in 0..b.num_rows() {
            rows.push(names.iter().cloned().zip(cols.iter().map(|c| c[i].clone())).collect());
        }
    }
    rows
}

fn render(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    use arrow::datatypes::{DataType, Int64Type};
    let c = b.column_by_name(name).unwrap();
    match c.data_type() {
        DataType::Timestamp(_, _) => {
            let c = arrow::compute::cast(c, &DataType::Int64).unwrap();
            let c = c.as_primitive::<Int64Type>();
            (0..c.len()).map(|i| (!c.is_null(i)).then(|| c.value(i).to_string())).collect()
        }
        DataType::List(_) => {
            let l = c.as_list::<i32>();
            (0..l.len())
                .map(|i| {
                    (!l.is_null(i)).then(|| {
                        let v = l.value(i);
                        let s = v.as_string::<i32>();
                        (0..s.len()).map(|j| s.value(j).to_string()).collect::<Vec<_>>().join("|")
                    })
                })
                .collect()
        }
        _ => col(std::slice::from_ref(b), name),
    }
}

/// How a wire value becomes the column's text.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Bool,
    Time,
    Date,
    /// Text as sent, anything else as compact JSON.
    TextOrJson,
}

fn expect(v: &Value, key: &str, kind: Kind) -> Option<String> {
    let x = v.get(key).filter(|x| !x.is_null())?;
    Some(match kind {
        Kind::Text => x.as_str().map_or_else(|| x.to_string(), str::to_string),
        Kind::Bool => x.as_bool().expect("a boolean").to_string(),
        Kind::Time => {
            let t = chrono::DateTime::parse_from_rfc3339(x.as_str().unwrap()).unwrap();
            t.timestamp_micros().to_string()
        }
        Kind::Date => x.as_str().unwrap()[..10].to_string(),
        Kind::TextOrJson => x.as_str().map_or_else(|| x.to_string(), str::to_string),
    })
}

fn id_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

const IDENTITY_COLUMNS: [(&str, &str, Kind); 17] = [
    ("id", "id", Kind::Text),
    ("identity_id", "identityId", Kind::Text),
    ("connection_id", "connectionId", Kind::Text),
    ("username", "username", Kind::Text),
    ("email", "email", Kind::Text),
    ("secondary_email", "secondaryEmail", Kind::Text),
    ("first_name", "firstName", Kind::Text),
    ("last_name", "lastName", Kind::Text),
    ("has_mfa", "hasMfa", Kind::Bool),
    ("connected_at", "connectedAt", Kind::Time),
    ("disconnected_at", "disconnectedAt", Kind::Time),
    ("started_at", "startedAt", Kind::Date),
    ("separated_at", "separatedAt", Kind::Date),
    ("is_contractor", "isContractor", Kind::Bool),
    ("job_title", "jobTitle", Kind::Text),
    ("manager_id", "managerId", Kind::Text),
    ("manager_name", "managerName", Kind::Text),
];

const DEVICE_COLUMNS: [(&str, &str, Kind); 28] = [
    ("device_id", "id", Kind::Text),
    ("asset_id", "assetId", Kind::Text),
    ("os_version", "osVersion", Kind::Text),
    ("serial_number", "serialNumber", Kind::Text),
    ("model", "model", Kind::Text),
    ("mac_address", "macAddress", Kind::Text),
    ("last_checked_at", "lastCheckedAt", Kind::Time),
    ("source_type", "sourceType", Kind::Text),
    ("created_at", "createdAt", Kind::Time),
    ("updated_at", "updatedAt", Kind::Time),
    ("deleted_at", "deletedAt", Kind::Time),
    ("apps_count", "appsCount", Kind::Text),
    ("is_device_compliant", "isDeviceCompliant", Kind::Bool),
    ("screen_lock_time", "screenLockTime", Kind::Text),
    ("screen_lock_explanation", "screenLockExplanation", Kind::TextOrJson),
    ("antivirus_enabled", "antivirusEnabled", Kind::Bool),
    ("antivirus_explanation", "antivirusExplanation", Kind::TextOrJson),
    ("auto_update_enabled", "autoUpdateEnabled", Kind::Bool),
    ("auto_update_explanation", "autoUpdateExplanation", Kind::TextOrJson),
    ("password_manager_enabled", "passwordManagerEnabled", Kind::Bool),
    ("password_manager_explanation", "passwordManagerExplanation", Kind::TextOrJson),
    ("encryption_enabled", "encryptionEnabled", Kind::Bool),
    ("encryption_explanation", "encryptionExplanation", Kind::TextOrJson),
    ("firewall_enabled", "firewallEnabled", Kind::Bool),
    ("firewall_explanation", "firewallExplanation", Kind::TextOrJson),
    ("user_id", "userId", Kind::Text),
    ("personnel_id", "personnelId", Kind::Text),
    ("external_id", "externalId", Kind::Text),
];

const CHECK_COLUMNS: [(&str, &str, Kind); 9] = [
    ("check_id", "id", Kind::Text),
    ("type", "type", Kind::Text),
    ("status", "status", Kind::Text),
    ("check_frequency", "checkFrequency", Kind::Text),
    ("completion_date", "completionDate", Kind::Time),
    ("expires_at", "expiresAt", Kind::Time),
    ("last_checked_at", "lastCheckedAt", Kind::Time),
    ("created_at", "createdAt", Kind::Time),
    ("updated_at", "updatedAt", Kind::Time),
];

fn assert_columns(what: &str, row: &Row, wire: &Value, columns: &[(&str, &str, Kind)]) {
    for (column, key, kind) in columns {
        assert_eq!(row[*column], expect(wire, key, *kind), "{what}: column {column} (wire {key}: {})", wire[key]);
    }
}

/// Identities: one row per `user.identities[]` entry of each person, every column as sent.
fn assert_identities(out: &std::path::Path, people: &[Value]) -> usize {
    let rows = table_rows(out, "personnel_identities");
    let by_key: BTreeMap<(String, String), &Row> =
        rows.iter().map(|r| ((r["personnel_id"].clone().unwrap(), r["ordinal"].clone().unwrap()), r)).collect();
    assert_eq!(by_key.len(), rows.len(), "one row per (person, ordinal)");
    let mut expected = 0;
    for p in people {
        let pid = id_text(&p["id"]);
        for (k, i) in p["user"]["identities"].as_array().unwrap().iter().enumerate() {
            expected += 1;
            let what = format!("identity {k} of person {pid}");
            let row = by_key.get(&(pid.clone(), k.to_string())).unwrap_or_else(|| panic!("{what} missing"));
            assert_columns(&what, row, i, &IDENTITY_COLUMNS);
            assert_eq!(row["user_id"], Some(id_text(&p["user"]["id"])), "{what}");
            let conn = &i["connection"];
            assert_eq!(row["connection_client_type"], expect(conn, "clientType", Kind::Text), "{what}");
            assert_eq!(row["connection_client_id"], expect(conn, "clientId", Kind::Text), "{what}");
            assert_eq!(row["connection_state"], expect(conn, "state", Kind::Text), "{what}");
            assert_eq!(row["connection_deleted_at"], expect(conn, "deletedAt", Kind::Time), "{what}");
            let extra: Value = serde_json::from_str(row["extra"].as_deref().unwrap()).unwrap();
            assert_eq!(extra.as_object().unwrap().keys().collect::<Vec<_>>(), ["connection"], "{what}: {extra}");
        }
    }
    assert_eq!(rows.len(), expected);
    expected
}

/// Devices and their checks: every device of `devices` (wire JSON naming its personnelId),
/// every column as sent; the checks one row each.
fn assert_devices(out: &std::path::Path, devices: &[Value]) {
    let rows = table_rows(out, "personnel_devices");
    assert_eq!(rows.len(), devices.len());
    let by_id: BTreeMap<String, &Row> = rows.iter().map(|r| (r["device_id"].clone().unwrap(), r)).collect();
    let checks = table_rows(out, "personnel_device_checks");
    let checks_by: BTreeMap<(String, String), &Row> =
        checks.iter().map(|r| ((r["device_id"].clone().unwrap(), r["ordinal"].clone().unwrap()), r)).collect();
    let mut expected_checks = 0;
    for d in devices {
        let id = id_text(&d["id"]);
        let what = format!("device {id}");
        let row = by_id.get(&id).unwrap_or_else(|| panic!("{what} missing"));
        assert_columns(&what, row, d, &DEVICE_COLUMNS);
        let identifiers: Vec<String> = d["identifiers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| format!("{}:{}", i["type"].as_str().unwrap(), i["identifier"].as_str().unwrap()))
            .collect();
        assert_eq!(row["identifiers"], Some(identifiers.join("|")), "{what}");
        assert_eq!(row["extra"], None, "{what}: every field is documented");
        for (k, c) in d["complianceChecks"].as_array().unwrap().iter().enumerate() {
            expected_checks += 1;
            let what = format!("check {k} of device {id}");
            let row = checks_by.get(&(id.clone(), k.to_string())).unwrap_or_else(|| panic!("{what} missing"));
            assert_columns(&what, row, c, &CHECK_COLUMNS);
            assert_eq!(row["personnel_id"], Some(id_text(&d["personnelId"])), "{what}");
            assert_eq!(row["extra"], None, "{what}");
        }
    }
    assert_eq!(checks.len(), expected_checks);
    // The fixture covers the failures a compliance team asks about.
    for flag in ["encryption_enabled", "antivirus_enabled", "is_device_compliant"] {
        assert!(rows.iter().any(|r| r[flag].as_deref() == Some("false")), "some device fails {flag}");
    }
    assert!(rows.iter().any(|r| r["deleted_at"].is_some()), "some device is deleted");
    assert!(checks
        .iter()
        .any(|r| r["type"].as_deref() == Some("LOCK_SCREEN") && r["status"].as_deref() == Some("FAIL")));
}

/// The personnel columns derived from identities, and the org hierarchy, against the
/// simulator's own generation: the guide view of the same people names each one's manager
/// (`managerId`, a guide id) and IdP id (`externalId`). Returns the number of people whose
/// identity names a manager that has no identity (unresolvable).
fn assert_derived(sim: &RunningSim, out: &std::path::Path, people: &[Value]) -> u64 {
    let guide = sim.sim.personnel_json();
    assert_eq!(guide.len(), people.len());
    let position: BTreeMap<&str, usize> =
        guide.iter().enumerate().map(|(i, g)| (g["id"].as_str().unwrap(), i)).collect();
    let has_identity = |g: &Value| g["externalId"].as_str().is_some();
    let rows = table_rows(out, "personnel");
    let by_id: BTreeMap<String, &Row> = rows.iter().map(|r| (r["id"].clone().unwrap(), r)).collect();
    let org = table_rows(out, "personnel_org");
    let org_by: BTreeMap<String, &Row> = org.iter().map(|r| (r["id"].clone().unwrap(), r)).collect();
    let (mut unresolved, mut managed, mut fallback_titles) = (0u64, 0, 0);
    for (p, g) in people.iter().zip(&guide) {
        let pid = id_text(&p["id"]);
        let row = by_id[&pid];
        // manager_id: the guide manager's personnel id, when both have an identity.
        let manager = g["managerId"].as_str().map(|m| position[m]);
        let want = match manager {
            Some(m) if has_identity(g) && has_identity(&guide[m]) => Some(id_text(&people[m]["id"])),
            Some(_) if has_identity(g) => {
                unresolved += 1;
                None
            }
            _ => None,
        };
        managed += usize::from(want.is_some());
        assert_eq!(row["manager_id"], want, "manager_id of {pid}");
        assert_eq!(org_by[&pid]["manager_id"], want, "personnel_org manager of {pid}");
        assert_eq!(org_by[&pid]["chain_status"].as_deref(), Some("ok"), "{pid}");
        // employment_type: from the status.
        let status = p["employmentStatus"].as_str().unwrap();
        let want = if status.ends_with("CONTRACTOR") { "CONTRACTOR" } else { "FULL_TIME" };
        assert_eq!(row["employment_type"].as_deref(), Some(want), "employment_type of {pid}");
        // title: the user's, else the first linked identity's, else the first identity's.
        let identities = p["user"]["identities"].as_array().unwrap();
        let linked = |i: &&Value| i["disconnectedAt"].is_null() && i["connection"]["deletedAt"].is_null();
        let title = |i: &Value| i["jobTitle"].as_str().map(str::to_string);
        let user_title = p["user"]["jobTitle"].as_str().map(str::to_string);
        let from_identity =
            identities.iter().filter(linked).find_map(title).or_else(|| identities.iter().find_map(title));
        fallback_titles += usize::from(user_title.is_none() && from_identity.is_some());
        assert_eq!(row["title"], user_title.or(from_identity), "title of {pid}");
    }
    assert!(managed > 50 && unresolved > 0 && fallback_titles > 0, "fixture: {managed} {unresolved} {fallback_titles}");
    unresolved
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_identities_devices_and_org_exact() {
    let sim = start(config(SimDialect::V1, 160)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--api", "v1"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let people = sim.sim.v1_personnel_json();
    assert!(assert_identities(tmp.path(), &people) > 100);
    let devices: Vec<Value> = people.iter().flat_map(|p| p["devices"].as_array().unwrap().iter().cloned()).collect();
    assert!(devices.len() > 100, "{}", devices.len());
    assert_devices(tmp.path(), &devices);
    let unresolved = assert_derived(&sim, tmp.path(), &people);
    let m = &manifests(tmp.path())[0];
    assert_eq!(m["listing"]["unresolved_managers"], unresolved, "{}", m["listing"]);
    assert_eq!(m["listing"]["unmatched_devices"], 0);
    assert_eq!(r.summary()["listing"]["unresolved_managers"], unresolved);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_identities_devices_and_org_exact() {
    let sim = start(config(SimDialect::V2, 160)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--api", "v2", "--page-size", "40"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // v2 personnel carry neither identities nor devices: the simulator's v1 view of the same
    // people says what the /v2/users join must deliver; /v2/devices says the devices.
    let mut people = sim.sim.v2_personnel_json();
    for (p, w) in people.iter_mut().zip(sim.sim.v1_personnel_json()) {
        p["user"]["identities"] = w["user"]["identities"].clone();
        p["user"]["jobTitle"] = w["user"]["jobTitle"].clone();
    }
    assert!(assert_identities(tmp.path(), &people) > 100);
    let listed: Vec<String> = people.iter().map(|p| id_text(&p["id"])).collect();
    let all = sim.sim.v2_devices_json();
    let (devices, orphans): (Vec<Value>, Vec<Value>) =
        all.into_iter().partition(|d| listed.contains(&id_text(&d["personnelId"])));
    assert_eq!(orphans.len(), 1, "the simulator serves one device of nobody listed");
    assert_devices(tmp.path(), &devices);
    let unresolved = assert_derived(&sim, tmp.path(), &people);
    let m = &manifests(tmp.path())[0];
    assert_eq!(m["listing"]["unresolved_managers"], unresolved);
    assert_eq!(m["listing"]["unmatched_devices"], 1, "counted, not written");
    assert!(r.stderr.contains("devices whose personnelId is nobody listed"), "{}", r.stderr);
    // One devices listing: ceil(devices / 40) pages, no per-person device calls.
    let pages = (devices.len() + orphans.len()).div_ceil(40) as u64;
    assert_eq!(r.summary()["api"]["requests_by_endpoint"]["devices"], pages);
    sim.shutdown().await;
}

/// Identities and devices are written afresh for everyone on an incremental run, and do not
/// make anyone look changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_runs_rewrite_identities_and_devices_without_refetching() {
    let sim = start(config(SimDialect::V2, 60)).await;
    let tmp = tempfile::tempdir().unwrap();
    let first = ["--api", "v2", "--incremental", "--run-at", "2026-03-01T00:00:00Z"];
    assert_eq!(run_etl(&sim, tmp.path(), &first).await.code, 0);
    let second = ["--api", "v2", "--incremental", "--run-at", "2026-03-02T00:00:00Z"];
    let r = run_etl(&sim, tmp.path(), &second).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["incremental"]["reused"], 60, "{s}");
    for table in ["personnel_identities", "personnel_devices", "personnel_device_checks"] {
        let rows = table_rows(tmp.path(), table);
        let count = |day: &str| rows.iter().filter(|r| r["snapshot_at"].as_deref() == Some(day)).count();
        let (one, two) = (count("1772323200000000"), count("1772409600000000"));
        assert!(one > 0 && one == two, "{table}: {one} rows, then {two}");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guide_writes_the_tables_empty_and_keeps_its_managers() {
    let sim = start(config(SimDialect::Guide, 40)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    for table in ["personnel_identities", "personnel_devices", "personnel_device_checks"] {
        assert!(!parquet_files(&tmp.path().join(table)).is_empty(), "{table} is in the snapshot");
        assert_eq!(rows(&read_table(tmp.path(), table)), 0, "{table}");
    }
    let guide = sim.sim.personnel_json();
    let p = read_table(tmp.path(), "personnel");
    let got: BTreeMap<Option<String>, Option<String>> = col(&p, "id").into_iter().zip(col(&p, "manager_id")).collect();
    let want: BTreeMap<Option<String>, Option<String>> = guide
        .iter()
        .map(|g| (g["id"].as_str().map(str::to_string), g["managerId"].as_str().map(str::to_string)))
        .collect();
    assert_eq!(got, want);
    let m = &manifests(tmp.path())[0];
    assert_eq!(
        (m["listing"]["unresolved_managers"].as_u64(), m["listing"]["unmatched_devices"].as_u64()),
        (Some(0), Some(0))
    );
    sim.shutdown().await;
}

/// A v2 server whose key may list everything but devices: `run` fails with 77 and names the
/// permission the spec gives `GET /devices`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_on_the_devices_listing_names_devices_get() {
    use axum::http::{StatusCode, Uri};
    use axum::response::IntoResponse;
    use serde_json::json;
    let app = axum::Router::new().fallback(|uri: Uri| async move {
        let page = |data: Value| json!({"data": data, "pagination": {"cursor": null, "totalCount": data.as_array().map(Vec::len)}});
        let body = match uri.path() {
            "/public/v2/personnel" => page(json!([{"id": 1, "userId": 7, "employmentStatus": "CURRENT_EMPLOYEE",
                "user": {"id": 7, "email": "ana@example.com"}, "complianceChecks": []}])),
            "/public/v2/users" => page(json!([{"id": 7, "email": "ana@example.com", "backgroundChecks": [], "identities": []}])),
            "/public/v2/workspaces" => page(json!([{"id": 1}])),
            "/public/v2/workspaces/1/controls" => page(json!([])),
            "/public/v2/devices" => {
                let body = json!({"statusCode": 403, "message": "Forbidden resource", "error": "Forbidden"});
                return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
            }
            _ => return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response(),
        };
        axum::Json(body).into_response()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let tmp = tempfile::tempdir().unwrap();
    // `check` names the permission on its devices row, before any run.
    let mut c = bin();
    c.arg("check").arg("--base-url").arg(&url).args(["--api", "v2"]);
    let r: Run = c.output().await.expect("binary runs").into();
    assert_eq!(r.code, 77, "{}\n{}", r.stdout, r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("devices endpoint") && all.contains("`devices-get`"), "{all}");
    let mut c = bin();
    c.arg("run").arg("--base-url").arg(&url).arg("--out").arg(tmp.path()).args(["--api", "v2"]);
    let r: Run = c.output().await.expect("binary runs").into();
    task.abort();
    assert_eq!(r.code, 77, "{}\n{}", r.stdout, r.stderr);
    let msg = r.summary()["message"].as_str().unwrap().to_string();
    assert!(msg.contains("403") && msg.contains("/public/v2/devices") && msg.contains("`devices-get`"), "{msg}");
    assert!(manifests(tmp.path()).is_empty());
}
