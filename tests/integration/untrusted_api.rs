//! End-to-end tests of what the API sends that becomes part of a request or a message: ids
//! that would leave their URL segment, per-person and per-control lists paged by a server
//! that ignores `page` or `cursor` or leaves out `total`, and a key the server echoes back
//! (in an error text, headers or a body) or that a proxy from the environment would see.
//!
//! Each test binds a small ad-hoc server on 127.0.0.1:0 speaking one dialect (guide, v1 or
//! v2) with one flaw, runs the real binary against it, and asserts the exact data committed
//! or the documented exit code and message, plus what the server was (not) asked. Every
//! run is bounded by a timeout, so a hang is a failure, not a stuck test.

use crate::common::*;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// The ad-hoc server
// ---------------------------------------------------------------------------------------

struct Req {
    path: String,
    query: BTreeMap<String, String>,
}

impl Req {
    fn num(&self, key: &str, default: u64) -> u64 {
        self.query.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
    }
    fn page(&self) -> u64 {
        self.num("page", 1).max(1)
    }
    fn limit(&self) -> u64 {
        self.num("limit", 25).clamp(1, 100)
    }
    /// The cursor as a page number (`c2` is page 2; no cursor is page 1).
    fn cursor_page(&self) -> u64 {
        self.query.get("cursor").and_then(|c| c.strip_prefix('c')?.parse().ok()).unwrap_or(1)
    }
}

type Handler = dyn Fn(&Req) -> Response + Send + Sync;

struct Server {
    addr: SocketAddr,
    /// The path of every request, in order.
    log: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(handler: impl Fn(&Req) -> Response + Send + Sync + 'static) -> Server {
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (h, l) = (handler.clone(), log.clone());
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let (h, l) = (h.clone(), l.clone());
            async move {
                l.lock().unwrap().push(uri.path().to_string());
                let query = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
                h(&Req { path: uri.path().to_string(), query })
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server { addr, log, task }
    }

    fn paths(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn json_resp(status: u16, v: &Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(v.to_string().into())
        .unwrap()
}

fn not_found() -> Response {
    json_resp(404, &json!({"statusCode": 404, "message": "Cannot GET"}))
}

/// `items[(page-1)*size ..][..size]`.
fn slice(items: &[Value], page: u64, size: u64) -> Vec<Value> {
    items.iter().skip(((page - 1) * size) as usize).take(size as usize).cloned().collect()
}

/// A v2 cursor page: `size` items of page `page`, with the next cursor while more remain.
fn cursor_page(items: &[Value], page: u64, size: u64) -> Value {
    let more = (page * size) < items.len() as u64;
    json!({"data": slice(items, page, size), "pagination": {"cursor": more.then(|| format!("c{}", page + 1))}})
}

// ---------------------------------------------------------------------------------------
// One small workspace per dialect
// ---------------------------------------------------------------------------------------

/// The documented answers of a guide host: `ids` people, one control.
fn guide(ids: &[&str], r: &Req) -> Response {
    let people: Vec<Value> = ids.iter().map(|id| json!({"id": id, "email": format!("{id}@example.com")})).collect();
    match r.path.as_str() {
        "/public/personnel" => json_resp(
            200,
            &json!({"data": slice(&people, r.page(), r.limit()), "page": r.page(), "limit": r.limit(), "total": people.len()}),
        ),
        "/public/controls" => json_resp(
            200,
            &json!({"data": if r.page() == 1 { vec![json!({"id": "c-1", "name": "C"})] } else { vec![] }, "total": 1}),
        ),
        p => {
            let Some(rest) = p.strip_prefix("/public/personnel/") else { return not_found() };
            let (id, child) = rest.split_once('/').unwrap_or((rest, ""));
            if !ids.contains(&id) {
                return not_found();
            }
            match child {
                "training" => json_resp(200, &json!({"personnelId": id, "trainings": []})),
                "background-checks" => json_resp(200, &json!({"personnelId": id, "backgroundChecks": []})),
                _ => not_found(),
            }
        }
    }
}

/// A v1 person with user `user_id`.
fn v1_person(i: usize, user_id: &str) -> Value {
    json!({"id": i + 1, "employmentStatus": "CURRENT_EMPLOYEE",
           "user": {"id": user_id, "email": format!("u{i}@example.com")}, "complianceChecks": []})
}

/// A v1 host: people with the given user ids, one control (id `control_id`) with `owners`
/// (owner pages carry `total` only when `owners_total`), and `documents(user, page, limit)`.
struct V1 {
    users: Vec<String>,
    control_id: String,
    owners: Vec<Value>,
    owners_total: bool,
    documents: Documents,
}

/// `(user id, page, limit)` -> that page of the user's documents.
type Documents = Box<dyn Fn(&str, u64, u64) -> Vec<Value> + Send + Sync>;

impl V1 {
    fn plain(users: &[&str]) -> V1 {
        V1 {
            users: users.iter().map(|s| s.to_string()).collect(),
            control_id: "1".into(),
            owners: vec![json!({"id": 1})],
            owners_total: true,
            documents: Box::new(|_, _, _| Vec::new()),
        }
    }

    fn answer(&self, r: &Req) -> Response {
        let (page, limit) = (r.page(), r.num("limit", 50).clamp(1, 50));
        let people: Vec<Value> = self.users.iter().enumerate().map(|(i, u)| v1_person(i, u)).collect();
        if r.path == "/public/personnel" {
            let body = json!({"data": slice(&people, page, limit), "page": page, "limit": limit,
                              "total": people.len(), "dataAll": {}});
            return json_resp(200, &body);
        }
        if r.path == "/public/controls" {
            let all = vec![json!({"id": self.control_id, "name": "Access"})];
            return json_resp(
                200,
                &json!({"data": slice(&all, page, limit), "page": page, "limit": limit, "total": 1}),
            );
        }
        if r.path == format!("/public/controls/{}/owners", self.control_id) {
            let mut body = json!({"data": slice(&self.owners, page, limit), "page": page, "limit": limit});
            if self.owners_total {
                body["total"] = json!(self.owners.len());
            }
            return json_resp(200, &body);
        }
        if let Some(user) = r.path.strip_prefix("/public/users/").and_then(|p| p.strip_suffix("/documents")) {
            if self.users.iter().any(|u| u == user) {
                return json_resp(200, &json!({"documents": (self.documents)(user, page, limit)}));
            }
        }
        not_found()
    }
}

/// A v2 host: people with the given user ids; one workspace holding one control whose
/// owners (`owners`, more than the ten inline) come from its owner list; `documents` and
/// the owner list and the personnel list page by cursor unless `ignore_cursor` names them.
struct V2 {
    users: Vec<String>,
    owners: Vec<Value>,
    documents: Vec<Value>,
    /// Paths (`personnel`, `documents`, `owners`) that answer page 1 for every cursor, each
    /// time with a new next cursor.
    ignore_cursor: &'static [&'static str],
}

impl V2 {
    fn plain(users: &[&str]) -> V2 {
        V2 {
            users: users.iter().map(|s| s.to_string()).collect(),
            owners: vec![json!({"id": 1})],
            documents: Vec::new(),
            ignore_cursor: &[],
        }
    }

    fn paged(&self, what: &str, items: &[Value], r: &Req) -> Value {
        let size = r.num("size", 50).clamp(1, 500);
        if self.ignore_cursor.contains(&what) {
            let mut body = cursor_page(items, 1, size);
            body["pagination"]["cursor"] = json!(format!("c{}", r.cursor_page() + 1));
            return body;
        }
        cursor_page(items, r.cursor_page(), size)
    }

    fn answer(&self, r: &Req) -> Response {
        let people: Vec<Value> = self
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                json!({"id": i + 1, "userId": u, "employmentStatus": "CURRENT_EMPLOYEE",
                       "user": {"id": u, "email": format!("u{i}@example.com")}, "complianceChecks": []})
            })
            .collect();
        let users: Vec<Value> = self.users.iter().map(|u| json!({"id": u, "jobTitle": "Eng"})).collect();
        let owners_inline: Vec<Value> = self.owners.iter().take(10).cloned().collect();
        let controls = vec![json!({"id": 5, "name": "Access",
                                   "owners": {"data": owners_inline, "totalCount": self.owners.len()}})];
        let body = match r.path.as_str() {
            "/public/v2/personnel" => {
                let mut b = self.paged("personnel", &people, r);
                b["pagination"]["totalCount"] = json!(people.len());
                b
            }
            "/public/v2/users" => self.paged("users", &users, r),
            "/public/v2/devices" => self.paged("devices", &[], r),
            "/public/v2/workspaces" => self.paged("workspaces", &[json!({"id": 1})], r),
            "/public/v2/workspaces/1/controls" => self.paged("controls", &controls, r),
            "/public/v2/workspaces/1/controls/5/owners" => self.paged("owners", &self.owners, r),
            p => match p.strip_prefix("/public/v2/users/").and_then(|p| p.strip_suffix("/documents")) {
                Some(u) if self.users.iter().any(|x| x == u) => self.paged("documents", &self.documents, r),
                _ => return not_found(),
            },
        };
        json_resp(200, &body)
    }
}

// ---------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------

/// `drata-etl run` against `addr` with `extra` args (and the key `key` when given); a run
/// that does not end within 60 s fails the test.
async fn run_with(addr: SocketAddr, extra: &[&str], env: &[(&str, &str)]) -> (Run, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.arg("run")
        .arg("--base-url")
        .arg(format!("http://{addr}"))
        .arg("--out")
        .arg(tmp.path())
        .args(["--request-timeout", "2s", "--max-retries", "2"])
        .args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("the run ended within 60 s (it must never hang)")
        .expect("the binary runs");
    (out.into(), tmp)
}

async fn run(srv: &Server, extra: &[&str]) -> (Run, tempfile::TempDir) {
    run_with(srv.addr, extra, &[]).await
}

/// Exit `code`, a summary whose message holds every needle, nothing committed.
fn assert_failed(r: &Run, out: &std::path::Path, code: i32, needles: &[&str]) {
    assert_eq!(r.code, code, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let s = r.summary();
    assert_eq!(s["exit_code"], code);
    let msg = s["message"].as_str().unwrap();
    for n in needles {
        assert!(msg.contains(n), "message lacks '{n}': {msg}");
    }
    assert!(manifests(out).is_empty(), "nothing committed");
    assert!(parquet_files(out).is_empty(), "no visible data files");
}

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
}

/// The document ids in the committed training rows (`documents[].id`), sorted.
fn document_ids(out: &std::path::Path) -> Vec<u64> {
    use arrow::array::{Array, AsArray};
    let mut ids: Vec<u64> = Vec::new();
    for b in read_table(out, "personnel_training") {
        let docs = b.column_by_name("documents").expect("documents column").as_list::<i32>().clone();
        let values = docs.values().as_struct().clone();
        let id = values.column_by_name("id").unwrap().as_string::<i32>().clone();
        for i in 0..docs.len() {
            if docs.is_null(i) {
                continue;
            }
            let (from, to) = (docs.value_offsets()[i] as usize, docs.value_offsets()[i + 1] as usize);
            ids.extend((from..to).map(|j| id.value(j).parse::<u64>().unwrap()));
        }
    }
    ids.sort_unstable();
    ids
}

/// The committed owners of the one control, sorted.
fn owner_ids(out: &std::path::Path) -> Vec<u64> {
    let owners = col(&read_table(out, "controls"), "owner_user_ids");
    assert_eq!(owners.len(), 1, "one control");
    let text = owners[0].clone().unwrap();
    let mut ids: Vec<u64> =
        text.trim_matches(|c| c == '[' || c == ']').split(',').map(|s| s.trim().parse().unwrap()).collect();
    ids.sort_unstable();
    ids
}

fn numbered(n: u64) -> Vec<Value> {
    (1..=n).map(|i| json!({"id": i, "name": format!("doc-{i}.pdf"), "type": "SEC_TRAINING"})).collect()
}

// ---------------------------------------------------------------------------------------
// Ids that are not one URL segment
// ---------------------------------------------------------------------------------------

/// An id of `.` or `..` (or an empty one) is not percent-encoded away and the URL parser
/// resolves it, so its child call would go to another endpoint (`/public/personnel/../
/// training` is `/public/training`) and that answer would be written as the person's data.
/// In every dialect the run fails with 65 naming the record, and the resolved-away path is
/// never asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_and_empty_ids_are_malformed_records_not_other_endpoints() {
    // (dialect, bad id, what it names, paths it would have resolved to)
    let cases: [(&str, &str, &str, &[&str]); 8] = [
        ("guide", "..", "personnel", &["/public/training", "/public/background-checks"]),
        ("guide", ".", "personnel", &["/public/personnel/training", "/public/personnel/background-checks"]),
        ("v1", "..", "user", &["/public/documents"]),
        ("v1", ".", "user", &["/public/users/documents"]),
        ("v1", "", "user", &["/public/users//documents"]),
        ("v1-control", "..", "control", &["/public/owners"]),
        ("v2", "..", "user", &["/public/v2/documents"]),
        ("v2", ".", "user", &["/public/v2/users/documents"]),
    ];
    for (dialect, bad, what, resolved) in cases {
        let (srv, api) = match dialect {
            "guide" => {
                let ids: &'static [&'static str] = if bad == ".." { &["p-1", ".."] } else { &["p-1", "."] };
                (Server::start(move |r| guide(ids, r)).await, "guide")
            }
            "v1" => {
                let v1 = V1::plain(&["7", bad]);
                (Server::start(move |r| v1.answer(r)).await, "v1")
            }
            "v1-control" => {
                let mut v1 = V1::plain(&["7"]);
                v1.control_id = bad.to_string();
                (Server::start(move |r| v1.answer(r)).await, "v1")
            }
            _ => {
                let v2 = V2::plain(&["7", bad]);
                (Server::start(move |r| v2.answer(r)).await, "v2")
            }
        };
        let (r, tmp) = run(&srv, &["--api", api]).await;
        let named = format!("{what} record with id {bad:?}");
        assert_failed(&r, tmp.path(), 65, &[&named]);
        let paths = srv.paths();
        for p in resolved {
            assert!(!paths.iter().any(|x| x == p), "{dialect} {bad:?}: the server was asked {p}: {paths:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Per-person and per-control lists
// ---------------------------------------------------------------------------------------

/// v1 training documents page until a short page (no `total`): 120 documents in pages of
/// 50 are all committed; a documents endpoint that ignores `page` (every page is page 1,
/// full) is 65 naming the endpoint, not 1000 copies of page 1 nor page 1 alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_training_documents_are_read_whole_or_fail() {
    let mut v1 = V1::plain(&["7"]);
    v1.documents = Box::new(|_, page, limit| slice(&numbered(120), page, limit));
    let srv = Server::start(move |r| v1.answer(r)).await;
    let (r, tmp) = run(&srv, &["--api", "v1"]).await;
    ok(&r);
    assert_eq!(document_ids(tmp.path()), (1..=120).collect::<Vec<_>>(), "every document once");

    let mut v1 = V1::plain(&["7"]);
    v1.documents = Box::new(|_, _, limit| slice(&numbered(500), 1, limit));
    let srv = Server::start(move |r| v1.answer(r)).await;
    let (r, tmp) = run(&srv, &["--api", "v1"]).await;
    assert_failed(&r, tmp.path(), 65, &["/public/users/7/documents?page=2", "ignores the `page`"]);
    let asked = srv.paths().iter().filter(|p| p.ends_with("/documents")).count();
    assert!(asked <= 3, "gave up at once ({asked} document requests)");
}

/// v1 control owners without `total`: every page is read until one adds nothing (120
/// owners, pages of 50: all 120, not the first 50); with `total` the same owners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_control_owners_without_total_are_all_read() {
    for with_total in [false, true] {
        let mut v1 = V1::plain(&["7"]);
        v1.owners = (1..=120).map(|i| json!({"id": i, "email": format!("o{i}@example.com")})).collect();
        v1.owners_total = with_total;
        let srv = Server::start(move |r| v1.answer(r)).await;
        let (r, tmp) = run(&srv, &["--api", "v1"]).await;
        ok(&r);
        assert_eq!(owner_ids(tmp.path()), (1..=120).collect::<Vec<_>>(), "total {with_total}: every owner");
    }
}

/// v2 cursor lists: documents and a control's owners paged across several cursors are read
/// whole; a server that ignores `cursor` while handing out new ones (so the repeated-cursor
/// guard cannot see it) is 65 naming the list, for documents, owners and personnel alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_cursor_lists_are_read_whole_or_fail() {
    let mut v2 = V2::plain(&["7"]);
    v2.documents = numbered(120);
    v2.owners = (1..=120).map(|i| json!({"id": i})).collect();
    let srv = Server::start(move |r| v2.answer(r)).await;
    let (r, tmp) = run(&srv, &["--api", "v2"]).await;
    ok(&r);
    assert_eq!(document_ids(tmp.path()), (1..=120).collect::<Vec<_>>(), "every document once");
    assert_eq!(owner_ids(tmp.path()), (1..=120).collect::<Vec<_>>(), "every owner once");

    let lists: [(&'static [&'static str], &str); 3] = [
        (&["documents"], "/public/v2/users/7/documents"),
        (&["owners"], "/public/v2/workspaces/1/controls/5/owners"),
        (&["personnel"], "/public/v2/personnel"),
    ];
    for (ignore, path) in lists {
        let mut v2 = V2::plain(&["7", "8", "9"]);
        v2.documents = numbered(120);
        v2.owners = (1..=120).map(|i| json!({"id": i})).collect();
        v2.ignore_cursor = ignore;
        let srv = Server::start(move |r| v2.answer(r)).await;
        let (r, tmp) = run(&srv, &["--api", "v2", "--page-size", "2"]).await;
        assert_failed(&r, tmp.path(), 65, &[path, "ignores the `cursor`"]);
        assert!(srv.paths().len() < 200, "{path}: gave up at once");
    }
}

// ---------------------------------------------------------------------------------------
// The key
// ---------------------------------------------------------------------------------------

const LEAKY_KEY: &str = "sk_live_Q7x9Zr2mW4pL8vT1nB6cY3hJ";

/// No four characters of the key in a row anywhere in `text`.
fn assert_no_fragment(text: &str, what: &str) {
    let k: Vec<char> = LEAKY_KEY.chars().collect();
    for w in k.windows(4) {
        let frag: String = w.iter().collect();
        assert!(!text.contains(&frag), "{what} holds {frag:?}, a fragment of the key:\n{text}");
    }
}

/// A server that echoes the key back, in the error text (across the 300-character cut of
/// the message, for every offset around it), in headers, and as the `personnelId` of an
/// answer (which the mixed-up-response error quotes): neither stderr nor the summary line
/// holds any fragment of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoed_key_leaves_no_fragment_in_logs_or_summary() {
    for pad in [280usize, 285, 290, 295, 299] {
        let srv = Server::start(move |_r| {
            let message = format!("{}Bearer {LEAKY_KEY} is not valid", "x".repeat(pad));
            Response::builder()
                .status(401)
                .header("content-type", "application/json")
                .header("www-authenticate", format!("Bearer error=\"invalid_token\", token=\"{LEAKY_KEY}\""))
                .header("x-echo-authorization", format!("Bearer {LEAKY_KEY}"))
                .body(json!({"statusCode": 401, "message": message}).to_string().into())
                .unwrap()
        })
        .await;
        let (r, tmp) = run_with(srv.addr, &["--api", "guide"], &[("DRATA_API_KEY", LEAKY_KEY)]).await;
        assert_failed(&r, tmp.path(), 77, &["HTTP 401", "server said"]);
        assert_no_fragment(&r.stderr, "stderr");
        assert_no_fragment(&r.stdout, "stdout");
    }

    let srv = Server::start(|r| {
        if r.path.ends_with("/training") {
            return json_resp(200, &json!({"personnelId": LEAKY_KEY, "trainings": []}));
        }
        guide(&["p-1"], r)
    })
    .await;
    let (r, tmp) = run_with(srv.addr, &["--api", "guide"], &[("DRATA_API_KEY", LEAKY_KEY)]).await;
    assert_failed(&r, tmp.path(), 65, &["mixed up responses"]);
    assert_no_fragment(&r.stderr, "stderr");
    assert_no_fragment(&r.stdout, "stdout");
}

/// With a plain-http base URL, HTTP_PROXY / ALL_PROXY are not used: the bearer key would
/// reach the proxy unencrypted. A loopback listener stands in for the proxy and counts
/// connections: it gets none, and the run against the simulator succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_never_goes_through_a_proxy() {
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let connections = Arc::new(AtomicU64::new(0));
    let seen = connections.clone();
    let task = tokio::spawn(async move {
        // Accept and hold each connection without answering: a proxy that got the request.
        let mut held = Vec::new();
        while let Ok((sock, _)) = proxy.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            held.push(sock);
        }
    });
    let sim = start(sim_config(20)).await;
    let addr = sim.addr;
    let env = [
        ("HTTP_PROXY", proxy_url.as_str()),
        ("http_proxy", proxy_url.as_str()),
        ("ALL_PROXY", proxy_url.as_str()),
        ("all_proxy", proxy_url.as_str()),
    ];
    let (r, tmp) = run_with(addr, &[], &env).await;
    task.abort();
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the proxy was connected to");
    ok(&r);
    assert_eq!(col(&read_table(tmp.path(), "personnel"), "id").len(), 20);
}
