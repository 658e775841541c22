//! End-to-end tests of the listing behaviours production integrations report, each as a
//! simulator fault: a v2 endpoint that hands back the cursor it was sent on its last page
//! (`Faults::cursor_echo`), an offset list sorted unstably (`Faults::unstable_order`: pages
//! repeat and skip people while `total` stays put), and a 403 that must name the exact
//! permission to grant, in `check` and in `run`.

use crate::common::*;
use drata_etl::sim::{ApiKeySpec, Faults, RunningSim, SimConfig, SimDialect};
use serde_json::Value;
use std::collections::BTreeSet;

fn config(dialect: SimDialect, personnel: usize, faults: Faults) -> SimConfig {
    SimConfig { dialect, controls: 30, faults, ..sim_config(personnel) }
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn snapshot_ids(out: &std::path::Path) -> BTreeSet<String> {
    col(&read_table(out, "personnel"), "id").into_iter().flatten().collect()
}

fn sim_ids(sim: &RunningSim, dialect: SimDialect) -> BTreeSet<String> {
    let people = match dialect {
        SimDialect::Guide => sim.sim.personnel_json(),
        SimDialect::V1 => sim.sim.v1_personnel_json(),
        SimDialect::V2 => sim.sim.v2_personnel_json(),
    };
    people.iter().map(|p| id_text(&p["id"])).collect()
}

/// Every v2 listing's last page hands back its cursor: the echo ends each listing, which
/// is whole by its totalCount, so the run commits everyone (it used to fail with 65 on the
/// "repeated" cursor).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_cursor_echoed_on_the_last_page_ends_the_listing() {
    let sim = start(config(SimDialect::V2, 120, Faults { cursor_echo: true, ..Faults::default() })).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--page-size", "50"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.summary()["status"], "ok");
    assert_eq!(snapshot_ids(tmp.path()), sim_ids(&sim, SimDialect::V2), "everyone, once");
    // Every control of every workspace (their listings echo too).
    assert_eq!(rows(&read_table(tmp.path(), "controls")), 30);
    sim.shutdown().await;
}

/// A server that echoes the cursor on *every* page cuts each listing short: the echo ends
/// it, and its totalCount says it is not whole: 65 naming the endpoint and the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_cursor_echo_short_of_total_count_is_65_naming_the_endpoint() {
    let sim = start(SimConfig { v2_repeat_cursor: true, ..config(SimDialect::V2, 120, Faults::default()) }).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--page-size", "50"]).await;
    assert_eq!(r.code, 65, "{}", r.stderr);
    let msg = r.summary()["message"].as_str().unwrap().to_string();
    assert!(msg.contains("GET /public/v2/") && msg.contains("100 of the 120") && msg.contains("totalCount"), "{msg}");
    assert!(manifests(tmp.path()).is_empty());
    sim.shutdown().await;
}

/// Guide and v1: pages start a few places off on every pass (an unstable sort) while the
/// total stays put. No single pass is whole; the union of the passes is, and it is what
/// gets committed: exactly everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstable_offset_order_still_ends_with_everyone() {
    for dialect in [SimDialect::Guide, SimDialect::V1] {
        let faults = Faults { unstable_order: true, fault_seed: 3, ..Faults::default() };
        let sim = start(config(dialect, 1000, faults)).await;
        let tmp = tempfile::tempdir().unwrap();
        let r = run_etl(&sim, tmp.path(), &["--page-size", "100", "--max-list-passes", "8"]).await;
        assert_eq!(r.code, 0, "{dialect:?}: {}\n{}", r.stdout, r.stderr);
        assert_eq!(r.summary()["status"], "ok");
        let (got, want) = (snapshot_ids(tmp.path()), sim_ids(&sim, dialect));
        assert_eq!(want.len(), 1000);
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(missing.is_empty() && extra.is_empty(), "{dialect:?}: missing {missing:?}, extra {extra:?}");
        let m = &manifests(tmp.path())[0];
        assert!(m["listing"]["passes"].as_u64().unwrap() >= 2, "{dialect:?}: {}", m["listing"]);
        assert_eq!(m["listing"]["unique"], 1000);
        assert_eq!(m["listing"]["matches_total"], true);
        sim.shutdown().await;
    }
}

/// The same server with one pass allowed cannot be read whole: 65 saying so, nothing
/// committed (it used to commit the one pass, 99x of 1,000 people, with exit 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstable_offset_order_that_does_not_converge_is_65() {
    for dialect in [SimDialect::Guide, SimDialect::V1] {
        let faults = Faults { unstable_order: true, fault_seed: 3, ..Faults::default() };
        let sim = start(config(dialect, 1000, faults)).await;
        let tmp = tempfile::tempdir().unwrap();
        let r = run_etl(&sim, tmp.path(), &["--page-size", "100", "--max-list-passes", "1"]).await;
        assert_eq!(r.code, 65, "{dialect:?}: {}\n{}", r.stdout, r.stderr);
        let s = r.summary();
        assert_eq!(s["status"], "error");
        let msg = s["message"].as_str().unwrap();
        assert!(msg.contains("did not converge") && msg.contains("of 1000 people after 1 passes"), "{msg}");
        assert!(msg.contains("unstable"), "{msg}");
        assert!(manifests(tmp.path()).is_empty(), "{dialect:?}: nothing committed");
        sim.shutdown().await;
    }
}

async fn check(sim: &RunningSim) -> Run {
    let mut c = bin();
    c.arg("check").arg("--base-url").arg(sim.base_url());
    c.output().await.expect("binary runs").into()
}

/// A key without the controls permission: `check` and `run` both name the exact
/// permission the spec lists for the endpoint that answered 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_names_the_permission_to_grant() {
    for (dialect, permission) in [(SimDialect::V2, "`workspaces-get`"), (SimDialect::V1, "`controls-get`")] {
        let mut cfg = config(dialect, 10, Faults::default());
        cfg.keys = vec![ApiKeySpec::new(KEY, &["personnel:read"])];
        let sim = start(cfg).await;
        let r = check(&sim).await;
        assert_eq!(r.code, 77, "{dialect:?}: {}", r.stdout);
        assert!(r.stdout.contains(&format!("needs the permission {permission}")), "{dialect:?}: {}", r.stdout);
        let tmp = tempfile::tempdir().unwrap();
        let r = run_etl(&sim, tmp.path(), &[]).await;
        assert_eq!(r.code, 77, "{dialect:?}: {}", r.stderr);
        let msg = r.summary()["message"].as_str().unwrap().to_string();
        assert!(
            msg.contains("403") && msg.contains(&format!("needs the permission {permission}")),
            "{dialect:?}: {msg}"
        );
        sim.shutdown().await;
    }
}

/// A v2 server that answers a one-person workspace and logs every request's path and query.
async fn logging_v2_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    use axum::http::Uri;
    use axum::response::IntoResponse;
    use serde_json::json;
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = log.clone();
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(uri.to_string());
            let page = |data: Value| json!({"data": data, "pagination": {"cursor": null, "totalCount": data.as_array().map(Vec::len)}});
            let body = match uri.path() {
                "/public/v2/personnel" => page(json!([{"id": 1, "userId": 7, "employmentStatus": "CURRENT_EMPLOYEE",
                    "user": {"id": 7, "email": "ana@example.com"}, "complianceChecks": []}])),
                "/public/v2/users" => page(json!([{"id": 7, "email": "ana@example.com", "backgroundChecks": [], "identities": []}])),
                "/public/v2/users/7/documents" => page(json!([])),
                "/public/v2/workspaces" => page(json!([{"id": 1}])),
                "/public/v2/devices" => page(json!([])),
                "/public/v2/workspaces/1/controls" => page(json!([{"id": 5, "name": "Access", "owners": {"data": [], "totalCount": 0}}])),
                _ => return (axum::http::StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response(),
            };
            axum::Json(body).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, log, task)
}

/// Every v2 listing the pipeline pages asks the stable order the spec allows on it
/// (`sort=createdAt&sortDir=ASC`); only the one-record probes (`size=1`) go without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_listings_ask_a_stable_order() {
    let (url, log, task) = logging_v2_server().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.arg("run").arg("--base-url").arg(&url).arg("--out").arg(tmp.path()).args(["--api", "v2"]);
    let r: Run = c.output().await.expect("binary runs").into();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let log = log.lock().unwrap().clone();
    task.abort();
    let listings: Vec<&String> = log.iter().filter(|u| !u.contains("size=1&") && !u.ends_with("size=1")).collect();
    for path in [
        "/public/v2/personnel?",
        "/public/v2/users?",
        "/public/v2/users/7/documents?",
        "/public/v2/devices?",
        "/public/v2/workspaces?",
        "/public/v2/workspaces/1/controls?",
    ] {
        assert!(listings.iter().any(|u| u.starts_with(path)), "{path} listed: {log:?}");
    }
    for u in listings {
        assert!(u.contains("sort=createdAt") && u.contains("sortDir=ASC"), "no stable order asked: {u}");
    }
}
