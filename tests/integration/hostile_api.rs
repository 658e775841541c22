//! End-to-end tests against hostile APIs that are *not* the project's simulator: each test
//! binds a small ad-hoc axum server on 127.0.0.1:0 that speaks the guide dialect but
//! misbehaves in one way production APIs do (ignores `page`, lies about `limit` or `total`,
//! repeats or drops pages, rate-limits without headers, stalls a body, answers the wrong
//! envelope, mixes up people, ...), runs the real binary against it, and asserts the exact
//! outcome: the exact data read back from the committed Parquet, or the documented exit code
//! with a message that says what happened. Every run is bounded by a timeout, so a hang is
//! a failure, not a stuck test. Fault modes the simulator already has are tested in
//! `resilience_e2e.rs`, not here.

use crate::common::*;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------
// The ad-hoc server
// ---------------------------------------------------------------------------------------

/// One request as a misbehaving handler sees it.
struct Req {
    path: String,
    query: BTreeMap<String, String>,
    /// How many times this exact path and query were asked before (0 on the first ask).
    seen: u64,
    /// The request's `Accept-Encoding` (empty when absent).
    accept_encoding: String,
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
    fn is_list(&self) -> bool {
        self.path == "/public/personnel"
    }
    /// `Some(id)` when this is `/public/personnel/{id}/{child}`.
    fn child_of(&self, child: &str) -> Option<&str> {
        let rest = self.path.strip_prefix("/public/personnel/")?;
        rest.strip_suffix(&format!("/{child}"))
    }
}

type Handler = dyn Fn(&Req) -> Response + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    /// Every request: when it came and its path and query.
    log: Mutex<Vec<(Instant, String)>>,
}

/// A hostile API server on 127.0.0.1:0, stopped when dropped.
struct Hostile {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(State(s): State<Arc<Shared>>, headers: HeaderMap, uri: Uri) -> Response {
    let key = uri.path_and_query().map_or_else(|| uri.path().to_string(), |pq| pq.as_str().to_string());
    let seen = {
        let mut log = s.log.lock().unwrap();
        let seen = log.iter().filter(|(_, k)| *k == key).count() as u64;
        log.push((Instant::now(), key));
        seen
    };
    let query = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    let accept_encoding = headers.get("accept-encoding").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (s.handler)(&Req { path: uri.path().to_string(), query, seen, accept_encoding })
}

impl Hostile {
    async fn start(handler: impl Fn(&Req) -> Response + Send + Sync + 'static) -> Hostile {
        let shared = Arc::new(Shared { handler: Box::new(handler), log: Mutex::new(Vec::new()) });
        let app = axum::Router::new().fallback(serve).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Hostile { addr, shared, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Times of the requests whose path and query equal `key`.
    fn asked(&self, key: &str) -> Vec<Instant> {
        self.shared.log.lock().unwrap().iter().filter(|(_, k)| k == key).map(|(t, _)| *t).collect()
    }

    /// Requests whose path starts with `prefix`.
    fn count(&self, prefix: &str) -> usize {
        self.shared.log.lock().unwrap().iter().filter(|(_, k)| k.starts_with(prefix)).count()
    }
}

fn respond(status: u16, headers: &[(&str, &str)], body: impl Into<Body>) -> Response {
    let mut b = Response::builder().status(StatusCode::from_u16(status).unwrap());
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.into()).unwrap()
}

fn json_resp(status: u16, v: &Value) -> Response {
    respond(status, &[("content-type", "application/json")], v.to_string())
}

/// A 200 that sends its headers and the start of the body, then nothing, forever.
fn stalled() -> Response {
    let start = futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b"{\"data\":[")) });
    let body = futures::StreamExt::chain(start, futures::stream::pending());
    respond(200, &[("content-type", "application/json")], Body::from_stream(body))
}

// ---------------------------------------------------------------------------------------
// The workspace the servers serve, and what a correct snapshot of it holds
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
struct Workspace {
    people: Vec<Value>,
}

fn person(i: usize) -> Value {
    json!({
        "id": format!("p-{i:04}"),
        "email": format!("person{i}@example.com"),
        "firstName": "Pat",
        "lastName": format!("Number {i}"),
        "isActive": i % 7 != 0,
        "role": "MEMBER",
        "complianceStatus": if i % 3 == 0 { "NON_COMPLIANT" } else { "COMPLIANT" },
        "managerId": if i == 0 { Value::Null } else { json!("p-0000") },
    })
}

fn trainings_of(id: &str) -> Vec<Value> {
    let n = id.bytes().last().unwrap_or(b'0') % 3;
    (0..n).map(|k| json!({"name": format!("Course {k}"), "status": "COMPLETED", "completedAt": "2025-01-15"})).collect()
}

fn checks_of(_id: &str) -> Vec<Value> {
    vec![json!({"status": "PASSED", "completedAt": "2024-11-01"})]
}

impl Workspace {
    fn new(n: usize) -> Self {
        Workspace { people: (0..n).map(person).collect() }
    }

    fn ids(&self) -> BTreeSet<String> {
        self.people.iter().map(|p| id_text(&p["id"])).collect()
    }

    fn has(&self, id: &str) -> bool {
        self.people.iter().any(|p| id_text(&p["id"]) == id)
    }

    /// `items[(page-1)*size ..][..size]`.
    fn slice(&self, page: u64, size: u64) -> Vec<Value> {
        let start = ((page - 1) * size) as usize;
        self.people.iter().skip(start).take(size as usize).cloned().collect()
    }

    /// A list page's envelope for `r`'s `page` and `limit`, with `total` only when given.
    fn page_body(&self, r: &Req, total: Option<Value>) -> Value {
        let mut body = json!({"data": self.slice(r.page(), r.limit()), "page": r.page(), "limit": r.limit()});
        if let Some(t) = total {
            body["total"] = t;
        }
        body
    }

    /// The documented answer to every guide-dialect GET.
    fn answer(&self, r: &Req) -> Response {
        let (status, body) = self.answer_json(r);
        json_resp(status, &body)
    }

    /// `answer`'s status and JSON body.
    fn answer_json(&self, r: &Req) -> (u16, Value) {
        if r.is_list() {
            return (200, self.page_body(r, Some(json!(self.people.len()))));
        }
        if let Some(id) = r.child_of("training") {
            if !self.has(id) {
                return (404, json!({"message": "not found"}));
            }
            return (200, json!({"personnelId": id, "trainings": trainings_of(id)}));
        }
        if let Some(id) = r.child_of("background-checks") {
            if !self.has(id) {
                return (404, json!({"message": "not found"}));
            }
            return (200, json!({"personnelId": id, "backgroundChecks": checks_of(id)}));
        }
        if r.path == "/public/controls" {
            let all: Vec<Value> = (0..3)
                .map(|i| json!({"id": format!("c-{i}"), "name": format!("Control {i}"), "status": "PASSING", "ownerId": "p-0000"}))
                .collect();
            let (page, limit) = (r.page(), r.limit());
            let data: Vec<Value> =
                all.iter().skip(((page - 1) * limit) as usize).take(limit as usize).cloned().collect();
            return (200, json!({"data": data, "total": all.len(), "page": page, "limit": limit}));
        }
        (404, json!({"statusCode": 404, "message": "Cannot GET"}))
    }
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Running the binary and checking what it committed
// ---------------------------------------------------------------------------------------

/// Short timeouts and few retries keep every run to seconds; `extra` may override them.
const FAST: [&str; 4] = ["--request-timeout", "2s", "--max-retries", "3"];

/// `drata-etl run` against `srv`. A run that does not end within 40 s fails the test (and
/// the child is killed): hanging is one of the behaviours under test.
async fn run(srv: &Hostile, extra: &[&str]) -> (Run, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.arg("run").arg("--base-url").arg(srv.url()).arg("--out").arg(tmp.path()).args(extra);
    for pair in FAST.chunks(2).filter(|pair| !extra.contains(&pair[0])) {
        c.args(pair);
    }
    let out = tokio::time::timeout(Duration::from_secs(40), c.output())
        .await
        .expect("the run ended within 40 s (it must never hang)")
        .expect("the binary runs");
    (out.into(), tmp)
}

fn ids_in(out: &Path) -> BTreeSet<String> {
    col(&read_table(out, "personnel"), "id").into_iter().map(|s| s.unwrap()).collect()
}

/// (personnel_id, ordinal) of every row of a child table.
fn child_keys(out: &Path, table: &str) -> BTreeSet<(String, String)> {
    let b = read_table(out, table);
    let (p, o) = (col(&b, "personnel_id"), col(&b, "ordinal"));
    p.into_iter().zip(o).map(|(p, o)| (p.unwrap(), o.unwrap())).collect()
}

/// Exit 0 and a snapshot that holds exactly `ws`: every person once, with every training
/// and background-check row, all fetched, and the controls.
fn assert_exact(r: &Run, out: &Path, ws: &Workspace) {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(manifests(out).len(), 1, "one committed snapshot");
    let b = read_table(out, "personnel");
    let ids = col(&b, "id");
    assert_eq!(ids.len(), ws.people.len(), "one row per person, no duplicates");
    assert_eq!(ids_in(out), ws.ids(), "personnel ids");
    let emails: BTreeMap<String, Option<String>> =
        ids.iter().cloned().map(Option::unwrap).zip(col(&b, "email")).collect();
    for p in &ws.people {
        assert_eq!(emails[&id_text(&p["id"])], wire_str(p, "email"), "email of {}", p["id"]);
    }
    assert!(col(&b, "training_fetch_status").iter().all(|s| s.as_deref() == Some("ok")), "all trainings fetched");
    assert!(col(&b, "background_check_fetch_status").iter().all(|s| s.as_deref() == Some("ok")), "all checks fetched");
    let want_t: BTreeSet<_> = ws
        .ids()
        .into_iter()
        .flat_map(|id| (0..trainings_of(&id).len()).map(move |k| (id.clone(), k.to_string())))
        .collect();
    assert_eq!(child_keys(out, "personnel_training"), want_t, "training rows");
    let want_c: BTreeSet<_> = ws.ids().into_iter().map(|id| (id, "0".to_string())).collect();
    assert_eq!(child_keys(out, "personnel_background_checks"), want_c, "background-check rows");
    let controls: BTreeSet<_> = col(&read_table(out, "controls"), "id").into_iter().map(Option::unwrap).collect();
    assert_eq!(controls, ["c-0", "c-1", "c-2"].map(String::from).into_iter().collect(), "controls");
}

/// The documented failure: exit `code`, an error summary line whose message holds every
/// needle (case-insensitive), and nothing committed or visible.
fn assert_failed(r: &Run, out: &Path, code: i32, needles: &[&str]) {
    assert_eq!(r.code, code, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let s = r.summary();
    assert_eq!(s["status"], "error");
    assert_eq!(s["exit_code"], code);
    let msg = s["message"].as_str().unwrap().to_lowercase();
    for n in needles {
        assert!(msg.contains(&n.to_lowercase()), "message lacks '{n}': {msg}");
    }
    assert!(manifests(out).is_empty(), "nothing committed");
    assert!(parquet_files(out).is_empty(), "no visible data files");
}

// ---------------------------------------------------------------------------------------
// Paging: `page`, `limit` and `total` that cannot be trusted
// ---------------------------------------------------------------------------------------

/// A server that ignores `page` answers page 1 forever. Paging must neither loop (with no
/// `total` nothing else would stop it) nor commit page 1 as if it were everyone: exit 65.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_page_parameter_is_65_not_an_endless_loop() {
    for with_total in [true, false] {
        let ws = Workspace::new(250);
        let srv = Hostile::start(move |r| {
            if r.is_list() {
                let mut body = json!({"data": ws.slice(1, r.limit()), "page": 1, "limit": r.limit()});
                if with_total {
                    body["total"] = json!(250);
                }
                return json_resp(200, &body);
            }
            ws.answer(r)
        })
        .await;
        let started = Instant::now();
        let (r, tmp) = run(&srv, &[]).await;
        assert_failed(&r, tmp.path(), 65, &["page=2", "ignores"]);
        assert!(started.elapsed() < Duration::from_secs(15), "total {with_total}: gave up quickly");
        assert!(srv.count("/public/personnel?") < 20, "total {with_total}: bounded requests");
    }
}

/// The controls list is paged the same way, and must not loop either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_list_ignoring_page_is_65_not_an_endless_loop() {
    let ws = Workspace::new(5);
    let srv = Hostile::start(move |r| {
        if r.path == "/public/controls" {
            let data: Vec<Value> = (0..r.limit()).map(|i| json!({"id": format!("c-{i}"), "name": "x"})).collect();
            return json_resp(200, &json!({"data": data}));
        }
        ws.answer(r)
    })
    .await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_failed(&r, tmp.path(), 65, &["/public/controls", "ignores"]);
    assert!(srv.count("/public/controls?") < 20, "bounded requests");
}

/// The page size the server really uses is not the one it says (or does not say). Every
/// person must still be listed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_size_the_server_misreports() {
    // (what the server pages by, given the asked limit; whether it echoes that size; the
    // `limit` it echoes otherwise; whether it sends `total`)
    type Size = fn(u64) -> u64;
    let cases: [(&str, Size, Option<u64>, bool); 5] = [
        ("caps at 30, echoes no limit", |l| l.min(30), None, true),
        ("pages by 40, echoes the asked limit", |_| 40, Some(0), true),
        ("pages by 150, more than asked", |_| 150, Some(0), true),
        ("pages by 40, no limit and no total", |_| 40, None, false),
        ("caps at 30, echoes 30, no total", |l| l.min(30), Some(30), false),
    ];
    for (name, size, echo, total) in cases {
        let ws = Workspace::new(250);
        let served = ws.clone();
        let srv = Hostile::start(move |r| {
            if r.is_list() {
                let mut body = json!({"data": served.slice(r.page(), size(r.num("limit", 25))), "page": r.page()});
                match echo {
                    Some(0) => body["limit"] = json!(r.num("limit", 25)),
                    Some(l) => body["limit"] = json!(l),
                    None => {}
                }
                if total {
                    body["total"] = json!(250);
                }
                return json_resp(200, &body);
            }
            served.answer(r)
        })
        .await;
        let (r, tmp) = run(&srv, &[]).await;
        eprintln!("case: {name}");
        assert_exact(&r, tmp.path(), &ws);
        assert!(srv.count("/public/personnel?") < 30, "{name}: bounded requests");
    }
}

/// `total` missing, null, a numeric string, or lower than the real count (by whole pages):
/// the snapshot still holds everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_missing_null_text_or_too_low() {
    let cases: [(&str, Option<Value>); 5] = [
        ("missing", None),
        ("null", Some(Value::Null)),
        ("a string", Some(json!("250"))),
        ("one page too low", Some(json!(150))),
        ("a whole-page multiple too low", Some(json!(100))),
    ];
    for (name, total) in cases {
        let ws = Workspace::new(250);
        let served = ws.clone();
        let srv = Hostile::start(move |r| {
            if r.is_list() {
                return json_resp(200, &served.page_body(r, total.clone()));
            }
            served.answer(r)
        })
        .await;
        let (r, tmp) = run(&srv, &[]).await;
        eprintln!("case: total {name}");
        assert_exact(&r, tmp.path(), &ws);
        assert_eq!(r.summary()["listing"]["unique"], 250, "{name}");
    }
}

/// Pages past the end of the list answer a JSON 404 instead of an empty `data` (as some
/// servers do), when paging has to look past the end: no `total` and a full last page, or a
/// `total` one page too low. The snapshot holds everyone; a 404 on page 1 is still the
/// wrong host (77).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_past_the_end_of_the_list_ends_it() {
    for (name, total) in [("no total", None), ("total one page too low", Some(100))] {
        let ws = Workspace::new(200);
        let served = ws.clone();
        let srv = Hostile::start(move |r| {
            if r.is_list() {
                if (r.page() - 1) * r.limit() >= 200 {
                    return json_resp(404, &json!({"statusCode": 404, "message": "Page not found"}));
                }
                return json_resp(200, &served.page_body(r, total.map(|t| json!(t))));
            }
            served.answer(r)
        })
        .await;
        let (r, tmp) = run(&srv, &[]).await;
        eprintln!("case: {name}");
        assert_exact(&r, tmp.path(), &ws);
        let passes = r.summary()["listing"]["passes"].as_u64().unwrap() as usize;
        assert_eq!(
            srv.count("/public/personnel?page=3&"),
            passes,
            "{name}: page 3 asked once a pass (a 404 is not retried)"
        );
    }
    let srv =
        Hostile::start(|r| json_resp(404, &json!({"statusCode": 404, "message": format!("Cannot GET {}", r.path)})))
            .await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_failed(&r, tmp.path(), 77, &["/public/personnel", "404"]);
}

/// One id listed twice with different content (a record that moved while paging, or a
/// server bug): it is written once, and the first occurrence in list order wins; the
/// duplicate is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_id_is_written_once_first_occurrence_wins() {
    let mut served = Workspace::new(250);
    let mut again = person(5);
    again["email"] = json!("moved@example.com");
    again["title"] = json!("Changed");
    served.people[150] = again; // p-0150 is never served; p-0005 twice (pages 1 and 2)
    let mut ws = served.clone();
    ws.people.remove(150);
    let srv = Hostile::start(move |r| served.answer(r)).await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_exact(&r, tmp.path(), &ws);
    let b = read_table(tmp.path(), "personnel");
    let title = col(&b, "id").iter().zip(col(&b, "title")).find(|(id, _)| id.as_deref() == Some("p-0005")).unwrap().1;
    assert_eq!(title, None, "the first occurrence (page 1) wins");
    let s = r.summary();
    assert!(s["listing"]["duplicates_dropped"].as_u64().unwrap() >= 1);
    assert_eq!(s["listing"]["matches_total"], false, "250 listed rows, 249 people");
}

/// An empty page before `total` is reached: once (a replica lagging) it is retried by
/// listing again; always (a server that filters after paging) the pages after it are still
/// read, so only what the server never sends is missing, and the mismatch is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_page_before_total() {
    for persistent in [false, true] {
        let ws = Workspace::new(250);
        let served = ws.clone();
        let srv = Hostile::start(move |r| {
            if r.is_list() && r.page() == 2 && (persistent || r.seen == 0) {
                return json_resp(200, &json!({"data": [], "total": 250, "page": 2, "limit": r.limit()}));
            }
            served.answer(r)
        })
        .await;
        let (r, tmp) = run(&srv, &[]).await;
        if !persistent {
            assert_exact(&r, tmp.path(), &ws);
            continue;
        }
        assert_eq!(r.code, 0, "{}", r.stderr);
        let want: BTreeSet<String> =
            ws.ids().into_iter().filter(|id| !(100..200).contains(&id[2..].parse().unwrap())).collect();
        assert_eq!(ids_in(tmp.path()), want, "pages 1 and 3, nothing invented, nothing after the hole dropped");
        assert_eq!(r.summary()["listing"]["matches_total"], false);
    }
}

// ---------------------------------------------------------------------------------------
// Rate limits, Retry-After, stalls
// ---------------------------------------------------------------------------------------

/// A token bucket that refuses over-limit requests.
struct Bucket {
    per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn new(per_second: f64, burst: f64) -> Self {
        Bucket { per_second, burst, state: Mutex::new((burst, Instant::now())) }
    }

    fn admit(&self) -> bool {
        let mut st = self.state.lock().unwrap();
        let now = Instant::now();
        st.0 = (st.0 + (now - st.1).as_secs_f64() * self.per_second).min(self.burst);
        st.1 = now;
        if st.0 >= 1.0 {
            st.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Runs `people` through a token bucket (`per_second`, `burst`) that refuses with a 429
/// carrying `headers` (and no body); returns the run, its output, what it must hold, when
/// the server answered each 429 (in order) and the run's wall time.
async fn through_a_bucket(
    people: usize,
    per_second: f64,
    burst: f64,
    headers: &'static [(&'static str, &'static str)],
) -> (Run, tempfile::TempDir, Workspace, Vec<Instant>, Duration) {
    let ws = Workspace::new(people);
    let served = ws.clone();
    let limited = Arc::new(Mutex::new(Vec::new()));
    let refusals = limited.clone();
    let bucket = Bucket::new(per_second, burst);
    let srv = Hostile::start(move |r| {
        if !bucket.admit() {
            refusals.lock().unwrap().push(Instant::now());
            return respond(429, headers, "");
        }
        served.answer(r)
    })
    .await;
    let started = Instant::now();
    let (r, tmp) = run(&srv, &[]).await;
    let elapsed = started.elapsed();
    let refused = limited.lock().unwrap().clone();
    (r, tmp, ws, refused, elapsed)
}

/// A rate limiter that answers a bare 429: no `Retry-After`, no rate-limit headers, no
/// body. Backed off and retried until everything is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_without_any_headers_is_retried() {
    let (r, tmp, ws, refused, elapsed) = through_a_bucket(120, 150.0, 10.0, &[]).await;
    assert_exact(&r, tmp.path(), &ws);
    assert!(!refused.is_empty(), "the limit was hit");
    assert!(r.summary()["api"]["rate_limited"].as_u64().unwrap() > 0);
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

/// A token bucket (100 requests/s, burst 10) that answers every 429 with `Retry-After: 3`,
/// a fixed penalty: each refusal stops every request for 3 s, so the pace learns that a
/// refusal is costly and probes rarely (README "Pacing", rule 4). 600 people (~1,210
/// requests, 12.1 s at the limit). Counted, not timed: the pauses the run caused, i.e.
/// stretches of 429s (a 429 more than a second after the previous one starts a new one; no
/// request is sent during a 3-s pause). The first burst, its overshoot and a probe or two
/// are expected; a pace that probed as often as under a short `Retry-After` pays 8 or more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_long_retry_after_on_every_429_costs_few_pauses() {
    let (r, tmp, ws, refused, elapsed) = through_a_bucket(600, 100.0, 10.0, &[("retry-after", "3")]).await;
    assert_exact(&r, tmp.path(), &ws);
    let requests = r.summary()["api"]["requests"].as_u64().unwrap();
    let pauses = 1 + refused.windows(2).filter(|w| w[1] - w[0] > Duration::from_secs(1)).count();
    eprintln!("{requests} requests, {} answered 429 in {pauses} pause(s), {elapsed:?}", refused.len());
    assert!(!refused.is_empty(), "the limit was hit");
    assert!(pauses <= 4, "{pauses} pauses ({} refusals of {requests} requests) in {elapsed:?}", refused.len());
}

/// How a fixed-window limiter reports its quota.
#[derive(Clone, Copy, Debug)]
enum Quota {
    /// `X-RateLimit-Limit`, `-Remaining`, `-Reset` (whole seconds until the window ends),
    /// and `Retry-After` on a 429.
    XRateLimit,
    /// The IETF draft's `RateLimit-Limit`, `-Remaining`, `-Reset`, and no `Retry-After`.
    Ietf,
    /// The draft's structured field, `RateLimit: "window";r=N;t=S`, and no `Retry-After`.
    Structured,
    /// `X-RateLimit-Remaining` with `X-RateLimit-Reset` as a Unix time in milliseconds, and
    /// no `Retry-After`.
    EpochMillis,
}

/// Bare 429s from a short-term limit while the responses also report a daily quota with
/// plenty left (`X-RateLimit-Remaining: 4000`, reset in an hour): the quota did not refuse
/// them, so they are backed off and retried, not held until the quota's reset (which would
/// be 75 here, past the deadline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_under_a_quota_with_requests_left_is_not_held_to_its_reset() {
    let ws = Workspace::new(120);
    let served = ws.clone();
    let bucket = Bucket::new(150.0, 10.0);
    let srv = Hostile::start(move |r| {
        let quota = [("x-ratelimit-remaining", "4000"), ("x-ratelimit-reset", "3600")];
        if !bucket.admit() {
            return respond(429, &quota, "");
        }
        let (status, body) = served.answer_json(r);
        respond(status, &[quota[0], quota[1], ("content-type", "application/json")], body.to_string())
    })
    .await;
    let (r, tmp) = run(&srv, &["--deadline", "30s"]).await;
    assert_exact(&r, tmp.path(), &ws);
    assert!(r.summary()["api"]["rate_limited"].as_u64().unwrap() > 0, "the short-term limit was hit");
}

/// Counts a request in flight until dropped.
struct InFlight(Arc<AtomicU64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A limit on requests in flight rather than on their rate (how some gateways protect a
/// backend): at most 4 at once, each answered after 50 ms, and a bare 429 for a fifth. A
/// pace is a number of requests in flight at a given latency, so the adaptive pace settles
/// under it like under a rate limit. 200 people (402 requests admitted, 5.0 s at 4 in
/// flight): 7.2 s and 78 requests answered 429 (16%) in measured runs, most of them in the
/// unpaced first burst and slow start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_on_requests_in_flight_is_found_like_a_rate() {
    let ws = Workspace::new(200);
    let served = ws.clone();
    let (in_flight, limited) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (gauge, counter) = (in_flight.clone(), limited.clone());
    let srv = Hostile::start(move |r| {
        let guard = InFlight(gauge.clone());
        if gauge.fetch_add(1, Ordering::Relaxed) >= 4 {
            counter.fetch_add(1, Ordering::Relaxed);
            return respond(429, &[], "");
        }
        let (status, body) = served.answer_json(r);
        let slow = futures::stream::once(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(guard);
            Ok::<_, std::io::Error>(Bytes::from(body.to_string()))
        });
        let mut resp = Response::new(Body::from_stream(slow));
        *resp.status_mut() = StatusCode::from_u16(status).unwrap();
        resp
    })
    .await;
    let started = Instant::now();
    let (r, tmp) = run(&srv, &[]).await;
    let elapsed = started.elapsed();
    assert_exact(&r, tmp.path(), &ws);
    let requests = r.summary()["api"]["requests"].as_u64().unwrap();
    let refused = limited.load(Ordering::Relaxed);
    eprintln!("{requests} requests, {refused} answered 429, {elapsed:?}");
    assert!(refused * 10 < requests * 3, "{refused} of {requests} answered 429");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
}

/// A fixed-window limiter (how "N requests per minute" limits are often built), scaled
/// down: `quota` requests per `window`, every response reporting what is left of the
/// quota (in the `style` given), and a 429 past it. Runs `people` through it and returns
/// (requests the client sent, requests answered 429, wall time, windows the admitted
/// requests needed).
async fn through_a_fixed_window(
    quota: u64,
    window: Duration,
    people: usize,
    style: Quota,
) -> (u64, u64, Duration, u64) {
    let ws = Workspace::new(people);
    let served = ws.clone();
    let epoch = Instant::now();
    let current = Mutex::new((0u64, 0u64)); // (window number, requests in it)
    let limited = Arc::new(AtomicU64::new(0));
    let counter = limited.clone();
    let srv = Hostile::start(move |r| {
        let now = epoch.elapsed().as_millis() as u64;
        let n = now / window.as_millis() as u64;
        let used = {
            let mut w = current.lock().unwrap();
            if w.0 != n {
                *w = (n, 0);
            }
            w.1 += 1;
            w.1
        };
        let reset_ms = (n + 1) * window.as_millis() as u64 - now;
        let reset = reset_ms.div_ceil(1000).to_string();
        let (limit, remaining) = (quota.to_string(), quota.saturating_sub(used).to_string());
        let at_ms = (SystemTime::now() + Duration::from_millis(reset_ms)).duration_since(UNIX_EPOCH).unwrap();
        let (at_ms, structured) = (at_ms.as_millis().to_string(), format!("\"window\";r={remaining};t={reset}"));
        let mut h = match style {
            Quota::XRateLimit => vec![
                ("x-ratelimit-limit", limit.as_str()),
                ("x-ratelimit-remaining", remaining.as_str()),
                ("x-ratelimit-reset", reset.as_str()),
            ],
            Quota::Ietf => vec![
                ("ratelimit-limit", limit.as_str()),
                ("ratelimit-remaining", remaining.as_str()),
                ("ratelimit-reset", reset.as_str()),
            ],
            Quota::Structured => vec![("ratelimit", structured.as_str())],
            Quota::EpochMillis => {
                vec![("x-ratelimit-remaining", remaining.as_str()), ("x-ratelimit-reset", at_ms.as_str())]
            }
        };
        if used > quota {
            counter.fetch_add(1, Ordering::Relaxed);
            if matches!(style, Quota::XRateLimit) {
                h.push(("retry-after", reset.as_str()));
            }
            return respond(429, &h, "");
        }
        let (status, body) = served.answer_json(r);
        h.push(("content-type", "application/json"));
        respond(status, &h, body.to_string())
    })
    .await;
    let started = Instant::now();
    let (r, tmp) = run(&srv, &["--max-retries", "8"]).await;
    let elapsed = started.elapsed();
    assert_exact(&r, tmp.path(), &ws);
    let requests = r.summary()["api"]["requests"].as_u64().unwrap();
    let refused = limited.load(Ordering::Relaxed);
    eprintln!("{quota} per {window:?} ({style:?}): {requests} requests, {refused} answered 429, {elapsed:?}");
    (requests, refused, elapsed, (requests - refused).div_ceil(quota))
}

/// A window longer than two seconds: when `X-RateLimit-Remaining` reaches 0 every request
/// waits for the reset (a global pause, which also holds requests already past the pacing
/// gate but still waiting for a connection slot), so only requests in flight are refused:
/// at most the concurrency (16) a window, 1-6 in measured runs (23-25 before waiting
/// requests were held too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_window_limit_pauses_everyone_at_an_exhausted_quota() {
    let window = Duration::from_secs(4);
    let (_, refused, elapsed, windows) = through_a_fixed_window(150, window, 150, Quota::XRateLimit).await;
    assert!(refused <= 16 * windows, "{refused} answered 429 over ~{windows} windows");
    assert!(elapsed < window * (windows as u32 + 2), "{elapsed:?} for ~{windows} windows");
}

/// The same window reported only in the IETF draft's headers (`RateLimit-Remaining` and
/// `-Reset`, or the structured `RateLimit` field) or with a reset in epoch milliseconds,
/// and 429s without `Retry-After`: the quota is read from whichever form is there, so the
/// run pauses at an exhausted quota as with `X-RateLimit-*` instead of backing off blind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_in_any_rate_limit_header_form_pauses_everyone() {
    let window = Duration::from_secs(4);
    for style in [Quota::Ietf, Quota::Structured, Quota::EpochMillis] {
        let (_, refused, elapsed, windows) = through_a_fixed_window(150, window, 100, style).await;
        assert!(refused <= 16 * windows, "{style:?}: {refused} answered 429 over ~{windows} windows");
        assert!(elapsed < window * (windows as u32 + 2), "{style:?}: {elapsed:?} for ~{windows} windows");
    }
}

/// A short window (2 s, under the global-pause threshold): read exactly at about the
/// window's rate. The pacer models a token bucket, so each window's quota is spent in a
/// burst and what is sent after it until the window ends is refused: 22-30% of all
/// requests in measured runs (bounded here at under half), each retried after the server's
/// `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_fixed_window_limit_is_read_at_its_rate() {
    let window = Duration::from_secs(2);
    let (requests, refused, elapsed, windows) = through_a_fixed_window(60, window, 150, Quota::XRateLimit).await;
    assert!(refused * 2 < requests, "{refused} of {requests} answered 429");
    assert!(elapsed < window * (windows as u32 + 3), "{elapsed:?} for ~{windows} windows");
}

/// `503` with `Retry-After: 2`: the retry waits the two seconds the server asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_on_a_503_is_honoured() {
    let ws = Workspace::new(250);
    let served = ws.clone();
    let srv = Hostile::start(move |r| {
        if r.is_list() && r.page() == 2 && r.seen == 0 {
            return respond(503, &[("retry-after", "2"), ("content-type", "text/html")], "<h1>down</h1>");
        }
        served.answer(r)
    })
    .await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_exact(&r, tmp.path(), &ws);
    let asks = srv.asked("/public/personnel?page=2&limit=100");
    assert!(asks.len() >= 2, "{asks:?}");
    let waited = asks[1] - asks[0];
    assert!(waited >= Duration::from_millis(1900), "waited only {waited:?}");
}

/// Down for maintenance: from the 100th request on (mid-enrichment, with many requests on
/// their way), the server answers everything with `503` and `Retry-After: 3` for three
/// seconds. The first such answer holds back every request, not only the refused one:
/// only requests already in flight (at most the concurrency, 16) reach the server until the
/// wait is over: 9-16 in measured runs, 77 before (every other task kept asking, was refused
/// and slept on its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_with_a_long_retry_after_holds_back_every_request() {
    let ws = Workspace::new(250);
    let served = ws.clone();
    let down_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let (down, seen) = (down_at.clone(), arrivals.clone());
    let srv = Hostile::start(move |r| {
        let now = Instant::now();
        seen.lock().unwrap().push(now);
        let start = {
            let mut d = down.lock().unwrap();
            if d.is_none() && seen.lock().unwrap().len() >= 100 {
                *d = Some(now);
            }
            *d
        };
        match start {
            Some(t) if now < t + Duration::from_secs(3) => respond(
                503,
                &[("retry-after", "3"), ("content-type", "application/json")],
                r#"{"message":"maintenance"}"#,
            ),
            _ => served.answer(r),
        }
    })
    .await;
    let (r, tmp) = run(&srv, &["--max-retries", "6"]).await;
    assert_exact(&r, tmp.path(), &ws);
    let t = down_at.lock().unwrap().expect("the maintenance began");
    let during = arrivals.lock().unwrap().iter().filter(|a| **a >= t && **a < t + Duration::from_secs(3)).count();
    eprintln!("{during} requests during the maintenance");
    assert!(during <= 16, "{during} requests reached the server while it asked everyone to wait");
}

/// A `Retry-After` that reaches past `--deadline` (seconds on a 503, an HTTP date on a 429)
/// ends the run with 75 at once instead of sleeping into the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_past_the_deadline_is_75_at_once() {
    let in_an_hour = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
    for (status, value) in [(503, "600".to_string()), (429, in_an_hour)] {
        let ws = Workspace::new(250);
        let srv = Hostile::start(move |r| {
            if r.is_list() && r.page() == 2 {
                return respond(status, &[("retry-after", value.as_str())], "");
            }
            ws.answer(r)
        })
        .await;
        let started = Instant::now();
        let (r, tmp) = run(&srv, &["--deadline", "8s"]).await;
        assert_failed(&r, tmp.path(), 75, &["deadline"]);
        assert!(started.elapsed() < Duration::from_secs(6), "{status}: did not sleep toward the deadline");
    }
}

/// A server whose clock is an hour ahead (its `Date` header says so) answers a 429 with
/// `Retry-After` as a date two seconds after its own clock, and a 503 with an
/// `X-RateLimit-Reset` Unix time two seconds after it: both are two-second waits, not an
/// hour (which would be 75 here, past the deadline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_dates_are_read_against_a_skewed_server_clock() {
    let ws = Workspace::new(250);
    let served = ws.clone();
    let srv = Hostile::start(move |r| {
        let server_now = SystemTime::now() + Duration::from_secs(3600);
        let date = httpdate::fmt_http_date(server_now);
        let later = server_now + Duration::from_secs(2);
        let retry = httpdate::fmt_http_date(later);
        let reset = later.duration_since(UNIX_EPOCH).unwrap().as_secs().to_string();
        let h = [("date", date.as_str()), ("content-type", "application/json")];
        match (r.is_list(), r.page(), r.seen) {
            (true, 2, 0) => respond(429, &[("date", date.as_str()), ("retry-after", retry.as_str())], ""),
            (true, 3, 0) => respond(
                429,
                &[("date", date.as_str()), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)],
                "",
            ),
            _ => {
                let (status, body) = served.answer_json(r);
                respond(status, &h, body.to_string())
            }
        }
    })
    .await;
    let started = Instant::now();
    let (r, tmp) = run(&srv, &["--deadline", "20s"]).await;
    assert_exact(&r, tmp.path(), &ws);
    for page in [2, 3] {
        let asks = srv.asked(&format!("/public/personnel?page={page}&limit=100"));
        assert!(asks.len() >= 2, "page {page}: {asks:?}");
        // Whole-second dates: at least one second, at most three.
        let waited = asks[1] - asks[0];
        assert!(waited >= Duration::from_millis(900), "page {page}: waited only {waited:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

/// With no deadline, a wait longer than `--max-wait` (default 15 minutes) is not slept
/// through: a 429 or 503 asking for 20 minutes, an exhausted quota whose reset is two hours
/// away, or (with `--max-wait 1m`) one resetting in two minutes, end the run at once with 75
/// and the time to retry, instead of leaving a scheduled job asleep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_longer_than_max_wait_is_75_at_once() {
    type Case = (u16, &'static [(&'static str, &'static str)], &'static [&'static str]);
    let cases: [Case; 4] = [
        (429, &[("retry-after", "1200")], &[]),
        (503, &[("retry-after", "1200")], &[]),
        (200, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "120")], &["--max-wait", "1m"]),
        (200, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "7200")], &[]),
    ];
    for (status, headers, extra) in cases {
        let ws = Workspace::new(250);
        let srv = Hostile::start(move |r| {
            if r.is_list() && r.page() == 2 {
                if status == 200 {
                    let (status, body) = ws.answer_json(r);
                    let mut h = headers.to_vec();
                    h.push(("content-type", "application/json"));
                    return respond(status, &h, body.to_string());
                }
                return respond(status, headers, "");
            }
            ws.answer(r)
        })
        .await;
        let started = Instant::now();
        let (r, tmp) = run(&srv, extra).await;
        assert_failed(&r, tmp.path(), 75, &["--max-wait", "Retry after 20"]);
        assert!(started.elapsed() < Duration::from_secs(6), "{status}: slept toward the wait");
    }
}

/// `Retry-After: 0`, negative, empty, out of range or garbage: retried promptly (with
/// backoff), not slept on and not fatal. (Three bad values per request: a run of 429s on
/// one request backs off exponentially, by design. `--max-rps` fixes the pace so this
/// tests the header's handling alone; how adaptive pacing recovers from early 429s is
/// `an_early_burst_of_429s_does_not_pin_the_run_at_a_crawl`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_zero_negative_or_garbage_is_retried() {
    let ws = Workspace::new(60);
    let served = ws.clone();
    let srv = Hostile::start(move |r| {
        let values = match r.page() {
            2 => ["0", "-3", "soon"],
            3 => ["", "1e9999", "Wed, 99 Foo 2024 99:99:99 GMT"],
            _ => return served.answer(r),
        };
        match values.get(r.seen as usize) {
            Some(v) if r.is_list() => respond(429, &[("retry-after", v)], ""),
            _ => served.answer(r),
        }
    })
    .await;
    let started = Instant::now();
    let (r, tmp) = run(&srv, &["--page-size", "20", "--max-rps", "1000"]).await;
    assert_exact(&r, tmp.path(), &ws);
    assert_eq!(srv.asked("/public/personnel?page=2&limit=20").len(), 4);
    assert_eq!(srv.asked("/public/personnel?page=3&limit=20").len(), 4);
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

/// A short burst of 429s at the very start of a run (a gateway's burst bucket, here with
/// `Retry-After: 0`) must not pin the rest of the run far below what the server admits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_burst_of_429s_does_not_pin_the_run_at_a_crawl() {
    let ws = Workspace::new(300);
    let served = ws.clone();
    let srv = Hostile::start(move |r| {
        if r.is_list() && r.page() == 2 && r.seen < 2 {
            return respond(429, &[("retry-after", "0")], "");
        }
        served.answer(r)
    })
    .await;
    let started = Instant::now();
    let (r, tmp) = run(&srv, &[]).await;
    assert_exact(&r, tmp.path(), &ws);
    assert!(started.elapsed() < Duration::from_secs(10), "600 child requests took {:?}", started.elapsed());
}

/// Headers sent, then the body never finishes: the request times out per
/// `--request-timeout` and is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_after_the_headers_times_out_and_is_retried() {
    let ws = Workspace::new(250);
    let served = ws.clone();
    let srv = Hostile::start(move |r| {
        let stall = (r.is_list() && r.page() == 2) || r.child_of("training") == Some("p-0042");
        if stall && r.seen == 0 {
            return stalled();
        }
        served.answer(r)
    })
    .await;
    let (r, tmp) = run(&srv, &["--request-timeout", "700ms"]).await;
    assert_exact(&r, tmp.path(), &ws);
    assert!(r.summary()["api"]["timeouts"].as_u64().unwrap() >= 2);
}

/// A stalled body with a long `--request-timeout` but a short `--deadline`: the deadline
/// wins, exit 75 within seconds, not after the request timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_cannot_outlast_the_deadline() {
    let ws = Workspace::new(250);
    let srv = Hostile::start(move |r| if r.is_list() && r.page() == 2 { stalled() } else { ws.answer(r) }).await;
    let started = Instant::now();
    let (r, tmp) = run(&srv, &["--request-timeout", "30s", "--deadline", "3s"]).await;
    assert_failed(&r, tmp.path(), 75, &["deadline"]);
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------
// Bodies: wrong envelopes, odd framing, odd content
// ---------------------------------------------------------------------------------------

/// A 200 whose JSON is not the list envelope is a changed API (or not the API): 65 at once,
/// no retries, with a message that names the request and says the body is not the
/// documented response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_body_that_is_not_the_envelope_is_65() {
    let bodies = [
        json!({"data": null, "total": 3}),
        json!([person(0), person(1)]),
        json!({"data": {"items": []}}),
        json!({"items": [person(0)], "total": 1}),
        json!("ok"),
    ];
    for body in bodies {
        let ws = Workspace::new(10);
        let b = body.clone();
        let srv = Hostile::start(move |r| if r.is_list() { json_resp(200, &b) } else { ws.answer(r) }).await;
        let (r, tmp) = run(&srv, &[]).await;
        assert_failed(&r, tmp.path(), 65, &["/public/personnel", "not the documented response"]);
        assert!(srv.count("/public/personnel?") <= 3, "{body}: not retried");
    }
}

/// Bodies compressed with gzip (pages) or deflate (per-person answers), as servers and their
/// proxies send them, are decoded; and every request offers both (`Accept-Encoding`), which
/// cuts the bytes of a page of 100 people several-fold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_deflate_bodies_are_decoded_and_asked_for() {
    use flate2::write::{GzEncoder, ZlibEncoder};
    use std::io::Write;
    let ws = Workspace::new(120);
    let offered = Arc::new(AtomicU64::new(0));
    let (served, counter) = (ws.clone(), offered.clone());
    let srv = Hostile::start(move |r| {
        let codings: Vec<&str> = r.accept_encoding.split(',').map(str::trim).collect();
        if codings.contains(&"gzip") && codings.contains(&"deflate") {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let (status, body) = served.answer_json(r);
        let text = body.to_string();
        let (coding, bytes) = if r.is_list() {
            let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(text.as_bytes()).unwrap();
            ("gzip", e.finish().unwrap())
        } else {
            let mut e = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(text.as_bytes()).unwrap();
            ("deflate", e.finish().unwrap())
        };
        respond(status, &[("content-type", "application/json"), ("content-encoding", coding)], bytes)
    })
    .await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_exact(&r, tmp.path(), &ws);
    assert_eq!(offered.load(Ordering::Relaxed) as usize, srv.count("/"), "every request offers gzip and deflate");
}

/// A decompression bomb: a 200 whose gzip body is ~80 KB on the wire and 80 MiB decoded.
/// The client stops reading past its 64 MiB cap and fails with 65 at once (no retries, no
/// run holding the whole thing in memory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_is_65_without_reading_it_whole() {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::best());
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..80 {
        e.write_all(&spaces).unwrap();
    }
    e.write_all(b"{\"data\": [], \"total\": 0}").unwrap();
    let bomb = Bytes::from(e.finish().unwrap());
    assert!(bomb.len() < 200_000, "{}", bomb.len());
    let ws = Workspace::new(10);
    let srv = Hostile::start(move |r| {
        if r.is_list() {
            return respond(200, &[("content-type", "application/json"), ("content-encoding", "gzip")], bomb.clone());
        }
        ws.answer(r)
    })
    .await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_failed(&r, tmp.path(), 65, &["/public/personnel", "over 64 MiB"]);
    assert_eq!(srv.count("/public/personnel?"), 1, "not retried");
}

/// A per-person body in the wrong shape (a paged envelope instead of `trainings`) is 65.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_body_that_is_not_the_documented_shape_is_65() {
    let ws = Workspace::new(10);
    let srv = Hostile::start(move |r| match r.child_of("training") {
        Some(_) => json_resp(200, &json!({"data": [{"name": "SA"}], "total": 1, "page": 1})),
        None => ws.answer(r),
    })
    .await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_failed(&r, tmp.path(), 65, &["/training", "no trainings array"]);
}

/// A child answer that names another person (a cache in front of the API mixing up
/// responses) must never be written under the person asked about: 65.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_answer_for_another_person_is_65() {
    let ws = Workspace::new(30);
    let srv = Hostile::start(move |r| match r.child_of("background-checks") {
        Some("p-0017") => json_resp(200, &json!({"personnelId": "p-0003", "backgroundChecks": checks_of("p-0003")})),
        _ => ws.answer(r),
    })
    .await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_failed(&r, tmp.path(), 65, &["p-0017", "p-0003"]);
}

/// A UTF-8 byte-order mark before the JSON (some Windows-hosted gateways add one) is still
/// the API's JSON, not a body to retry until the run gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_utf8_bom_before_the_json_is_accepted() {
    let ws = Workspace::new(120);
    let served = ws.clone();
    let srv = Hostile::start(move |r| {
        let resp = served.answer(r);
        let status = resp.status().as_u16();
        let body = futures::executor::block_on(axum::body::to_bytes(resp.into_body(), usize::MAX)).unwrap();
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend_from_slice(&body);
        respond(status, &[("content-type", "application/json; charset=utf-8")], with_bom)
    })
    .await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_exact(&r, tmp.path(), &ws);
    assert_eq!(r.summary()["api"]["retries"], 0);
}

/// `Content-Type: text/plain` on valid JSON, and `Connection: close` on every response:
/// the JSON is read as JSON and a new connection opened per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_plain_and_connection_close_on_every_response() {
    let ws = Workspace::new(150);
    let served = ws.clone();
    let srv = Hostile::start(move |r| {
        let mut resp = served.answer(r);
        let h = resp.headers_mut();
        h.insert("content-type", "text/plain; charset=utf-8".parse().unwrap());
        h.insert("connection", "close".parse().unwrap());
        resp
    })
    .await;
    let (r, tmp) = run(&srv, &["--concurrency", "8"]).await;
    assert_exact(&r, tmp.path(), &ws);
    assert_eq!(r.summary()["api"]["retries"], 0);
}

/// A 1 MiB string field and non-BMP Unicode round-trip into Parquet byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_very_large_string_field_round_trips() {
    let mut ws = Workspace::new(30);
    let big: String = "Ünïcødé 👩🏽‍💻 ".repeat(1 << 16);
    assert!(big.len() > 1 << 20);
    ws.people[7]["title"] = json!(big.clone());
    let served = ws.clone();
    let srv = Hostile::start(move |r| served.answer(r)).await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_exact(&r, tmp.path(), &ws);
    let b = read_table(tmp.path(), "personnel");
    let title = col(&b, "id").iter().zip(col(&b, "title")).find(|(id, _)| id.as_deref() == Some("p-0007")).unwrap().1;
    assert!(title.as_deref() == Some(big.as_str()), "the 1 MiB title round-trips exactly");
}

/// A guide workspace whose ids are numbers where the guide documents strings, with one
/// person listed again on page 2 as a string id.
fn numeric_id_workspace() -> (Workspace, Workspace) {
    let mut ws = Workspace::new(120);
    for (i, p) in ws.people.iter_mut().enumerate() {
        p["id"] = json!(1000 + i);
    }
    let mut served = ws.clone();
    served.people.insert(110, json!({"id": "1003", "email": "person3@example.com"}));
    (ws, served)
}

/// Numeric ids (`--api guide`): kept as their text, used in child paths, and `1003` and
/// `"1003"` are the same person (listed once, the duplicate counted once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_ids_are_kept_as_text() {
    let (ws, served) = numeric_id_workspace();
    let srv = Hostile::start(move |r| served.answer(r)).await;
    let (r, tmp) = run(&srv, &["--api", "guide"]).await;
    assert_exact(&r, tmp.path(), &ws);
    assert_eq!(r.summary()["listing"]["duplicates_dropped"], 1);
}

/// The same workspace with `--api auto` (the default): flat guide records with numeric ids
/// must still be read as the guide dialect, not as v1 (whose records nest `user`), or every
/// email, training and check is silently lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_ids_do_not_make_the_guide_look_like_v1() {
    let (ws, served) = numeric_id_workspace();
    let srv = Hostile::start(move |r| served.answer(r)).await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_exact(&r, tmp.path(), &ws);
}

/// A redirect (here http to https, as a load balancer in front of the wrong host does) is
/// not followed (it could carry the key elsewhere): 77, and the message says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_77_and_not_followed() {
    let srv = Hostile::start(|_| respond(301, &[("location", "https://app.drata.com/login")], "")).await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_failed(&r, tmp.path(), 77, &["redirect", "--base-url"]);
    assert!(srv.count("/") <= 3, "not retried");
}

// ---------------------------------------------------------------------------------------
// Per-person endpoints
// ---------------------------------------------------------------------------------------

/// One person's training endpoint answers an HTML 500 every time: with room in
/// `--max-failed-enrichments` that person alone is marked failed (never "no trainings");
/// without room the run commits nothing and says why (69).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_500_on_one_persons_child_endpoint() {
    let ws = Workspace::new(60);
    let served = ws.clone();
    let srv = Hostile::start(move |r| match r.child_of("training") {
        Some("p-0031") => {
            respond(500, &[("content-type", "text/html")], "<html><body>Internal Server Error</body></html>")
        }
        _ => served.answer(r),
    })
    .await;
    let (r, tmp) = run(&srv, &["--max-retries", "2", "--max-failed-enrichments", "1"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let b = read_table(tmp.path(), "personnel");
    let (ids, t, c) = (col(&b, "id"), col(&b, "training_fetch_status"), col(&b, "background_check_fetch_status"));
    for i in 0..ids.len() {
        let want = if ids[i].as_deref() == Some("p-0031") { "failed" } else { "ok" };
        assert_eq!(t[i].as_deref(), Some(want), "{:?}", ids[i]);
        assert_eq!(c[i].as_deref(), Some("ok"));
    }
    assert_eq!(ids_in(tmp.path()), ws.ids());
    assert!(child_keys(tmp.path(), "personnel_training").iter().all(|(p, _)| p != "p-0031"));
    assert_eq!(r.summary()["enrichment"]["failed"], 1);

    let (r, tmp) = run(&srv, &["--max-retries", "2"]).await;
    assert_failed(&r, tmp.path(), 69, &["1 of 60", "--max-failed-enrichments"]);
}

/// The per-person endpoints answer a web server's HTML 404 (a proxy that routes only the
/// list paths to the API): that is the wrong host, not everyone vanished: 77.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_404_on_the_child_endpoints_is_the_wrong_host() {
    let ws = Workspace::new(20);
    let srv = Hostile::start(move |r| {
        if r.child_of("training").is_some() || r.child_of("background-checks").is_some() {
            return respond(
                404,
                &[("content-type", "text/html")],
                "<html><body><h1>404 Not Found</h1><hr>nginx</body></html>",
            );
        }
        ws.answer(r)
    })
    .await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_failed(&r, tmp.path(), 77, &["404", "html", "--base-url"]);
}

/// JSON 404s from every per-person endpoint (a host that does not serve them, e.g. real
/// Drata with `--api guide` forced) are not "every person vanished": the run must not
/// commit a snapshot in which everyone is `gone`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_404s_for_every_person_are_not_everyone_vanished() {
    let ws = Workspace::new(20);
    let srv = Hostile::start(move |r| {
        if r.child_of("training").is_some() || r.child_of("background-checks").is_some() {
            return json_resp(404, &json!({"statusCode": 404, "message": format!("Cannot GET {}", r.path)}));
        }
        ws.answer(r)
    })
    .await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_failed(&r, tmp.path(), 77, &["404", "--base-url"]);
}

/// One person with 20,000 training records: every one written, ordinals 0..20000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_child_list_is_written_in_full() {
    let ws = Workspace::new(20);
    let served = ws.clone();
    const N: usize = 20_000;
    let srv = Hostile::start(move |r| match r.child_of("training") {
        Some("p-0004") => {
            let rows: Vec<Value> = (0..N)
                .map(|k| json!({"name": format!("Module {k}"), "status": "COMPLETED", "completedAt": "2025-02-01"}))
                .collect();
            json_resp(200, &json!({"personnelId": "p-0004", "trainings": rows}))
        }
        _ => served.answer(r),
    })
    .await;
    let (r, tmp) = run(&srv, &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let keys = child_keys(tmp.path(), "personnel_training");
    let mine: BTreeSet<usize> = keys.iter().filter(|(p, _)| p == "p-0004").map(|(_, o)| o.parse().unwrap()).collect();
    assert_eq!(mine, (0..N).collect());
    assert_eq!(
        keys.len(),
        N + ws.ids().iter().filter(|id| *id != "p-0004").map(|id| trainings_of(id).len()).sum::<usize>()
    );
}
