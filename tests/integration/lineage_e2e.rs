//! OpenLineage end to end: the real binary runs against the simulator and sends its events to
//! a loopback HTTP receiver (an ad-hoc axum server on 127.0.0.1:0) or a JSON-lines file. The
//! events must name exactly what the committed manifest holds, never carry a key or URL
//! credentials, validate with `scripts/lineage/validate_events.py` (the spec's JSON schemas
//! and the openlineage-python client's classes), and never change a run's exit code, however
//! the receiver misbehaves.
//!
//! Python: `$DRATA_ETL_PYTHON`, else `<repo>/.venv/bin/python`, else `python3`; without
//! openlineage-python and jsonschema these tests fail (run `scripts/test.sh`).

use crate::common::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use drata_etl::sim::SimDialect;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The receiver's bearer token: distinctive, so a leak anywhere is found by a plain search.
const OL_KEY: &str = "ol-bearer-7c1e55d0a9b2f4";
/// A bound on every run (a hanging receiver costs a run at most two 5 s delivery timeouts).
const RUN_LIMIT: Duration = Duration::from_secs(120);

#[derive(Clone, Copy)]
enum Mode {
    Accept,
    Answer500,
    Hang,
}

#[derive(Default)]
struct Received {
    events: Vec<Value>,
    /// The `Authorization` header of each request, in order.
    auth: Vec<Option<String>>,
    paths: Vec<String>,
}

struct Receiver {
    url: String,
    got: Arc<Mutex<Received>>,
}

async fn receiver(mode: Mode) -> Receiver {
    let got = Arc::new(Mutex::new(Received::default()));
    let state = (mode, got.clone());
    let app = axum::Router::new()
        .fallback(
            |State((mode, got)): State<(Mode, Arc<Mutex<Received>>)>,
             uri: axum::http::Uri,
             headers: HeaderMap,
             body: Bytes| async move {
                {
                    let mut g = got.lock().unwrap();
                    g.paths.push(uri.path().to_string());
                    g.auth.push(headers.get("authorization").map(|v| v.to_str().unwrap().to_string()));
                    g.events.push(serde_json::from_slice(&body).expect("an event is JSON"));
                }
                match mode {
                    Mode::Accept => StatusCode::CREATED,
                    Mode::Answer500 => StatusCode::INTERNAL_SERVER_ERROR,
                    Mode::Hang => std::future::pending::<StatusCode>().await,
                }
            },
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url: format!("http://{addr}"), got }
}

async fn run(mut c: tokio::process::Command) -> Run {
    tokio::time::timeout(RUN_LIMIT, c.output()).await.expect("the run ends").expect("binary runs").into()
}

fn etl(sim_url: &str, out: &Path, extra: &[&str]) -> tokio::process::Command {
    let mut c = bin();
    c.args(["run", "--progress", "never", "--base-url", sim_url, "--out"]).arg(out).args(extra);
    c
}

fn python() -> PathBuf {
    match std::env::var_os("DRATA_ETL_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
            if venv.exists() {
                venv
            } else {
                PathBuf::from("python3")
            }
        }
    }
}

/// Run the validator on events written as JSON lines; its exit status and output.
fn validate(events: &[Value], dir: &Path) -> (bool, String) {
    let path = dir.join(format!("events-{}.jsonl", rand_suffix()));
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(&path, text).unwrap();
    validate_file(&path)
}

fn validate_file(path: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lineage/validate_events.py");
    let out = std::process::Command::new(python()).arg(&script).arg(path).output().unwrap_or_else(|e| {
        panic!(
            "cannot run Python {}: {e}; run scripts/test.sh (it installs openlineage-python and jsonschema into .venv)",
            python().display()
        )
    });
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn assert_valid(events: &[Value], dir: &Path) {
    let (ok, text) = validate(events, dir);
    assert!(ok, "the events do not validate: {text}");
}

/// No secret anywhere in what the run produced.
fn assert_no_secret(haystacks: &[&str], secrets: &[&str]) {
    for h in haystacks {
        for s in secrets {
            assert!(!h.contains(s), "secret {s} leaked into: {}", &h[..h.len().min(2000)]);
        }
    }
}

fn warnings(stderr: &str) -> usize {
    stderr.lines().filter(|l| l.contains("OpenLineage event not delivered")).count()
}

fn the_manifest(out: &Path, workspace: Option<&str>) -> Value {
    let root = match workspace {
        Some(w) => out.join("_snapshots").join(format!("workspace={w}")),
        None => out.join("_snapshots"),
    };
    let mut found: Vec<Value> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| std::fs::read(e.unwrap().path().join("_manifest.json")).ok())
        .map(|b| serde_json::from_slice(&b).unwrap())
        .collect();
    assert_eq!(found.len(), 1, "one committed snapshot");
    found.remove(0)
}

/// The COMPLETE event's outputs say exactly what the manifest committed.
fn assert_outputs_match(event: &Value, manifest: &Value, out: &Path) {
    let root = out.to_path_buf();
    let tables = manifest["tables"].as_object().unwrap();
    let outputs = event["outputs"].as_array().unwrap();
    let mut want = BTreeMap::new();
    for (name, entry) in tables {
        let files = entry["files"].as_array().unwrap();
        let bytes: u64 = files.iter().map(|f| f["bytes"].as_u64().unwrap()).sum();
        want.insert(
            format!("{}/{name}", root.display()),
            (entry["rows"].as_u64().unwrap(), bytes, files.len() as u64, name.clone()),
        );
    }
    let mut got = BTreeMap::new();
    for o in outputs {
        assert_eq!(o["namespace"], "file");
        let s = &o["outputFacets"]["outputStatistics"];
        let name = o["name"].as_str().unwrap().to_string();
        let table = name.rsplit('/').next().unwrap().to_string();
        got.insert(
            name,
            (
                s["rowCount"].as_u64().unwrap(),
                s["size"].as_u64().unwrap(),
                s["fileCount"].as_u64().unwrap(),
                table.clone(),
            ),
        );
        // The schema facet lists the documented columns, in order.
        let doc: Value = serde_json::from_str(
            &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schemas/{table}.json")))
                .unwrap(),
        )
        .unwrap();
        let documented: Vec<(&str, &str)> = doc["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap(), c["type"].as_str().unwrap()))
            .collect();
        let facet: Vec<(&str, &str)> = o["facets"]["schema"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["name"].as_str().unwrap(), f["type"].as_str().unwrap()))
            .collect();
        assert_eq!(facet, documented, "{table}");
    }
    assert_eq!(got, want);
    assert!(want.values().any(|(rows, ..)| *rows > 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_gets_start_then_complete_naming_what_the_manifest_committed() {
    let sim = start(sim_config(25)).await;
    let rx = receiver(Mode::Accept).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut c = etl(&sim.base_url(), &out, &["--workspace", "acme", "--openlineage-url", &rx.url]);
    c.env("DRATA_ETL_OPENLINEAGE_API_KEY", OL_KEY);
    let r = run(c).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(warnings(&r.stderr), 0, "{}", r.stderr);
    let got = std::mem::take(&mut *rx.got.lock().unwrap());
    let types: Vec<&str> = got.events.iter().map(|e| e["eventType"].as_str().unwrap()).collect();
    assert_eq!(types, ["START", "COMPLETE"]);
    // A URL without a path gets the OpenLineage HTTP transport's endpoint.
    assert_eq!(got.paths, ["/api/v1/lineage", "/api/v1/lineage"]);
    assert_eq!(got.auth, [Some(format!("Bearer {OL_KEY}")), Some(format!("Bearer {OL_KEY}"))]);
    let (start_e, end) = (&got.events[0], &got.events[1]);
    assert_eq!(start_e["run"]["runId"], end["run"]["runId"]);
    for e in [start_e, end] {
        assert_eq!(e["job"]["namespace"], "drata-etl");
        assert_eq!(e["job"]["name"], "acme");
    }
    let manifest = the_manifest(&out, Some("acme"));
    let summary = r.summary();
    let facet = &end["run"]["facets"]["drata_etl"];
    assert_eq!(facet["snapshotId"], manifest["snapshot_id"]);
    assert_eq!(start_e["run"]["facets"]["drata_etl"]["snapshotId"], manifest["snapshot_id"]);
    assert_eq!(facet["manifest"], summary["manifest"]);
    assert_eq!(facet["toolRunId"], manifest["run_id"]);
    assert_eq!(facet["exitCode"], 0);
    assert_outputs_match(end, &manifest, &out);
    // Inputs: the guide's endpoint families, in the API's scheme://host:port namespace.
    let inputs: Vec<(&str, &str)> = end["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["namespace"].as_str().unwrap(), i["name"].as_str().unwrap()))
        .collect();
    let ns = sim.base_url();
    assert_eq!(
        inputs,
        [
            (ns.as_str(), "/public/personnel"),
            (ns.as_str(), "/public/personnel/{id}/training"),
            (ns.as_str(), "/public/personnel/{id}/background-checks"),
            (ns.as_str(), "/public/controls"),
        ]
    );
    let all = serde_json::to_string(&got.events).unwrap();
    assert_no_secret(&[&all, &r.stderr, &r.stdout], &[KEY, OL_KEY]);
    assert_valid(&got.events, tmp.path());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_from_the_config_gets_each_runs_events_appended() {
    let mut cfg = sim_config(12);
    cfg.dialect = SimDialect::V2;
    let sim = start(cfg).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // A relative path in the config file is relative to the file's folder.
    let conf_dir = tmp.path().join("conf");
    std::fs::create_dir(&conf_dir).unwrap();
    let config = conf_dir.join("etl.toml");
    std::fs::write(&config, "openlineage_file = \"lineage.jsonl\"\n").unwrap();
    let file = conf_dir.join("lineage.jsonl");
    for run_at in ["2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"] {
        let mut c = etl(&sim.base_url(), &out, &["--config", config.to_str().unwrap(), "--run-at", run_at]);
        c.env("DRATA_ETL_OPENLINEAGE_NAMESPACE", "prod-compliance");
        let r = run(c).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert_no_secret(&[&text], &[KEY]);
    let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let types: Vec<&str> = events.iter().map(|e| e["eventType"].as_str().unwrap()).collect();
    assert_eq!(types, ["START", "COMPLETE", "START", "COMPLETE"]);
    assert_eq!(events[0]["run"]["runId"], events[1]["run"]["runId"]);
    assert_eq!(events[2]["run"]["runId"], events[3]["run"]["runId"]);
    assert_ne!(events[0]["run"]["runId"], events[2]["run"]["runId"]);
    // Unlabelled: the job is the API's host and port.
    let host = sim.base_url().trim_start_matches("http://").to_string();
    for e in &events {
        assert_eq!(
            e["job"],
            serde_json::json!({"namespace": "prod-compliance", "name": host, "facets": e["job"]["facets"]})
        );
    }
    assert_eq!(events[1]["run"]["facets"]["drata_etl"]["apiDialect"], "v2");
    assert_eq!(events[3]["run"]["facets"]["drata_etl"]["snapshotId"], "20260302T000000Z");
    let names: Vec<&str> =
        events[1]["inputs"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"/public/v2/personnel") && names.contains(&"/public/v2/devices"), "{names:?}");
    let (ok, why) = validate_file(&file);
    assert!(ok, "{why}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_sends_fail_with_its_exit_code_and_keeps_it() {
    let sim = start(sim_config(5)).await;
    let rx = receiver(Mode::Accept).await;
    let tmp = tempfile::tempdir().unwrap();
    let wrong = "wrong-key-0d9e8f7a6b5c";
    let file = tmp.path().join("ol.jsonl");
    let mut c = etl(
        &sim.base_url(),
        &tmp.path().join("out"),
        &["--openlineage-url", &format!("{}/api/v1/lineage", rx.url), "--openlineage-file", file.to_str().unwrap()],
    );
    c.env("DRATA_API_KEY", wrong);
    let r = run(c).await;
    assert_eq!(r.code, 77, "{}", r.stderr);
    assert_eq!(r.summary()["exit_code"], 77);
    let got = std::mem::take(&mut *rx.got.lock().unwrap());
    let types: Vec<&str> = got.events.iter().map(|e| e["eventType"].as_str().unwrap()).collect();
    assert_eq!(types, ["START", "FAIL"]);
    let fail = &got.events[1];
    assert_eq!(fail["run"]["runId"], got.events[0]["run"]["runId"]);
    assert_eq!(fail["run"]["facets"]["drata_etl"]["exitCode"], 77);
    assert_eq!(fail["run"]["facets"]["drata_etl"]["errorKind"], "auth");
    let message = fail["run"]["facets"]["errorMessage"]["message"].as_str().unwrap();
    assert!(message.starts_with("exit 77 (auth): ") && message.contains("401"), "{message}");
    assert_eq!(fail["outputs"], serde_json::json!([]));
    // The file got the same two events.
    let lines: Vec<Value> =
        std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, got.events);
    let all = serde_json::to_string(&got.events).unwrap();
    assert_no_secret(&[&all, &r.stderr, &r.stdout], &[wrong]);
    assert_valid(&got.events, tmp.path());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_hangs_or_is_down_never_changes_the_exit_code() {
    let sim = start(sim_config(6)).await;
    let tmp = tempfile::tempdir().unwrap();
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        url
    };
    let r500 = receiver(Mode::Answer500).await;
    let hang = receiver(Mode::Hang).await;
    let cases = [("500", r500.url.clone()), ("hang", hang.url.clone()), ("down", down)];
    for (i, (what, base)) in cases.iter().enumerate() {
        // Credentials and a token in the URL must not reach a warning.
        let url = base.replace("http://", "http://user:pw-lineage-secret@") + "/hook?token=tok-lineage-secret";
        let out = tmp.path().join(format!("out-{i}"));
        let r = run(etl(&sim.base_url(), &out, &["--openlineage-url", &url])).await;
        assert_eq!(r.code, 0, "{what}: {}", r.stderr);
        assert_eq!(r.summary()["status"], "ok", "{what}");
        assert_eq!(warnings(&r.stderr), 1, "{what}: one warning for the run: {}", r.stderr);
        assert_no_secret(&[&r.stderr, &r.stdout], &["pw-lineage-secret", "tok-lineage-secret", KEY]);
        assert!(r.stderr.contains(&format!("{base}/hook")), "{what}: the warning names the receiver: {}", r.stderr);
    }
    // Both events reached the receivers that answered (or hung).
    assert_eq!(r500.got.lock().unwrap().events.len(), 2);
    assert_eq!(hang.got.lock().unwrap().events.len(), 2);
    // A failing run keeps its own exit code too.
    let mut c = etl(&sim.base_url(), &tmp.path().join("out-f"), &["--openlineage-url", &r500.url]);
    c.env("DRATA_API_KEY", "wrong-key-1a2b3c4d5e6f");
    let r = run(c).await;
    assert_eq!(r.code, 77, "{}", r.stderr);
    assert_eq!(warnings(&r.stderr), 1, "{}", r.stderr);
    sim.shutdown().await;
}

#[test]
fn the_validator_refuses_what_the_spec_or_the_client_refuses() {
    use drata_etl::lineage::event::{self, Ending, RunFacts};
    let tmp = tempfile::tempdir().unwrap();
    let facts = RunFacts {
        namespace: "drata-etl".into(),
        workspace: Some("acme".into()),
        base_url: url::Url::parse("https://public-api.drata.com/").unwrap(),
        out: "s3://bucket/prefix".into(),
        snapshot_id: "20260131T020000Z".into(),
        snapshot_date: "2026-01-31".into(),
        run_at: "2026-01-31T02:00:00Z".into(),
        dialect: Some(drata_etl::drata::dialect::Dialect::V1),
    };
    let id = event::new_run_id(1_760_000_000_000);
    let start = event::start(&facts, &id, "2026-01-31T02:00:00.100Z");
    let fail = event::end(
        &facts,
        &id,
        "2026-01-31T02:00:01.100Z",
        &Ending::Failed { exit_code: 69, kind: "unavailable", message: "the API kept answering 503" },
    );
    assert_valid(&[start.clone(), fail.clone()], tmp.path());
    type Mutation = fn(&mut Value);
    let broken: [(&str, Mutation); 8] = [
        ("unknown top-level field", |e| e["extra"] = 1.into()),
        ("missing job name", |e| {
            e["job"].as_object_mut().unwrap().remove("name");
        }),
        ("run id not a UUID", |e| e["run"]["runId"] = "1234".into()),
        ("unknown event type", |e| e["eventType"] = "BEGIN".into()),
        ("unknown field in the run facet", |e| e["run"]["facets"]["drata_etl"]["bogus"] = true.into()),
        ("run facet without _producer", |e| {
            e["run"]["facets"]["drata_etl"].as_object_mut().unwrap().remove("_producer");
        }),
        ("a facet of unknown schema", |e| {
            e["run"]["facets"]["other"] =
                serde_json::json!({"_producer": "x", "_schemaURL": "https://example.com/x.json#/x"})
        }),
        ("error facet without programmingLanguage", |e| {
            e["run"]["facets"]["errorMessage"].as_object_mut().unwrap().remove("programmingLanguage");
        }),
    ];
    for (what, mutate) in broken {
        let mut e = fail.clone();
        mutate(&mut e);
        let (ok, text) = validate(&[start.clone(), e], tmp.path());
        assert!(!ok, "{what}: the validator accepted it");
        assert!(text.contains("event 2"), "{what}: {text}");
    }
}

#[tokio::test]
async fn config_show_lists_the_settings_without_url_credentials() {
    let mut c = bin();
    c.args([
        "config",
        "show",
        "--format",
        "json",
        "--out",
        "x",
        "--openlineage-url",
        "https://user:pw-show-secret@ol.example.com/api/v1/lineage?token=tok-show-secret",
        "--openlineage-file",
        "/var/log/ol.jsonl",
    ]);
    let r: Run = c.output().await.unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_no_secret(&[&r.stdout, &r.stderr], &["pw-show-secret", "tok-show-secret"]);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let s = &v["settings"];
    assert_eq!(s["openlineage_url"]["value"], "https://ol.example.com/api/v1/lineage");
    assert_eq!(s["openlineage_url"]["source"], "flag --openlineage-url");
    assert_eq!(s["openlineage_file"]["value"], "/var/log/ol.jsonl");
    assert_eq!(s["openlineage_namespace"]["value"], "drata-etl");
    assert_eq!(s["openlineage_namespace"]["source"], "default");
}

fn events_in(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The run's clean exits for a deadline and a signal send FAIL with their exit code (75).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_or_a_signal_ends_the_run_with_fail() {
    let mut cfg = sim_config(300);
    cfg.latency = Duration::from_millis(30);
    let sim = start(cfg).await;
    let tmp = tempfile::tempdir().unwrap();

    // The deadline passes while the org table is derived (slowed far past it).
    let file = tmp.path().join("deadline.jsonl");
    let mut c = etl(
        &sim.base_url(),
        &tmp.path().join("out-d"),
        &["--deadline", "3s", "--concurrency", "16", "--openlineage-file", file.to_str().unwrap()],
    );
    c.env("DRATA_ETL_TEST_SLOW_WRITE", "personnel_org:8000");
    let r = run(c).await;
    assert_eq!(r.code, 75, "{}", r.stderr);
    let events = events_in(&file);
    let types: Vec<&str> = events.iter().map(|e| e["eventType"].as_str().unwrap()).collect();
    assert_eq!(types, ["START", "FAIL"]);
    let f = &events[1]["run"]["facets"];
    assert_eq!(f["drata_etl"]["exitCode"], 75);
    assert_eq!(f["drata_etl"]["errorKind"], "temporary");
    assert!(f["errorMessage"]["message"].as_str().unwrap().contains("--deadline"), "{}", f["errorMessage"]);
    assert_valid(&events, tmp.path());

    // SIGTERM once the run has begun writing (its staging folder exists: past the preflight,
    // where the signal handler is installed), long before it could finish.
    let file = tmp.path().join("signal.jsonl");
    let out = tmp.path().join("out-s");
    let mut c = etl(&sim.base_url(), &out, &["--concurrency", "2", "--openlineage-file", file.to_str().unwrap()]);
    c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let began = tokio::time::timeout(RUN_LIMIT, async {
        loop {
            let staged = std::fs::read_dir(out.join("_staging")).map(|mut d| d.next().is_some()).unwrap_or(false);
            if staged {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(began.is_ok(), "the run never began writing");
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let r: Run = tokio::time::timeout(RUN_LIMIT, child.wait_with_output()).await.unwrap().unwrap().into();
    assert_eq!(r.code, 75, "{}", r.stderr);
    let events = events_in(&file);
    let types: Vec<&str> = events.iter().map(|e| e["eventType"].as_str().unwrap()).collect();
    assert_eq!(types, ["START", "FAIL"]);
    assert_eq!(events[1]["run"]["facets"]["drata_etl"]["exitCode"], 75);
    assert!(manifests(&out).is_empty());
    assert_valid(&events, tmp.path());
    sim.shutdown().await;
}
