//! Contract test (issue 6): the simulator's real-v2 face against Drata's published v2
//! OpenAPI spec, so the simulator cannot drift from the real contract.
//!
//! The spec is read at test time from `../shared/reference/drata-openapi-v2.json` (relative
//! to the crate root; it is never copied into the project; `$DRATA_ETL_OPENAPI_SPEC` names
//! another place, and then only that). A checkout without it fails, unless
//! `DRATA_ETL_SKIP_OPENAPI_CONTRACT=1` asks to skip (a loud SKIPPED warning, nothing
//! checked); a spec that is there but unreadable fails. The simulator runs on `127.0.0.1:0` in v2 mode; every v2
//! endpoint the pipeline calls is called with the pipeline's own queries (every page of
//! every listing), plus the error bodies the simulator produces (400, 401, 402, 403, 404,
//! 412), and each JSON body is validated against the response schema the spec declares for
//! that operation and status. All violations are reported at once, each with its JSON path.
//!
//! `openapi` below is a small OpenAPI 3.0 schema validator ($ref into the document, type,
//! properties, required, items, enum, nullable, allOf/oneOf/anyOf, additionalProperties,
//! formats date-time and date checked loosely). Its own tests prove it catches violations,
//! so the contract test cannot pass vacuously.

use crate::common::{sim_config, start, KEY};
use crate::openapi::{Options, Spec};
use drata_etl::sim::{AccountFault, ApiKeySpec, RunningSim, SimConfig, SimDialect};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// The stable order every v2 listing of the pipeline asks (`sort`/`sortDir`), and the
/// `totalCount` it asks on each listing's first page: checked against the spec's parameters.
const ORDER: &str = "&sort=createdAt&sortDir=ASC";
const TOTAL: &str = "&includeTotalCount=true";

/// Names the spec's path; when set, only that path is tried (a wrong path fails, it does
/// not fall back to another copy).
const SPEC_ENV: &str = "DRATA_ETL_OPENAPI_SPEC";
/// Set to 1 to run without the spec: the contract tests then check nothing and say so on
/// stderr. Without it a missing spec fails every contract test.
const SKIP_ENV: &str = "DRATA_ETL_SKIP_OPENAPI_CONTRACT";

/// Where the spec may live when `$DRATA_ETL_OPENAPI_SPEC` is not set: beside the project
/// (`../shared/reference/`, as in CI), else the workspace's shared folder
/// (`/work/shared/reference/`); never inside the project.
fn default_spec_candidates() -> Vec<PathBuf> {
    vec![
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/drata-openapi-v2.json"),
        PathBuf::from("/work/shared/reference/drata-openapi-v2.json"),
    ]
}

/// The spec's path: `explicit` when given (and then only it), else the first default
/// candidate that is a file. Not found: an error naming every place tried, unless `skip`
/// (then `None`, and the caller says loudly that nothing was checked).
fn locate_spec(explicit: Option<PathBuf>, skip: bool, defaults: Vec<PathBuf>) -> Result<Option<PathBuf>, String> {
    let candidates = match explicit {
        Some(p) => vec![p],
        None => defaults,
    };
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(Some(found.clone()));
    }
    let tried = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    if skip {
        return Ok(None);
    }
    Err(format!(
        "Drata's v2 OpenAPI spec was not found at {tried}: put the shared reference folder beside the project (../shared/reference/drata-openapi-v2.json), set {SPEC_ENV} to the spec's path, or set {SKIP_ENV}=1 to run without the contract checks"
    ))
}

/// The spec, read once per test binary. Not found: every contract test fails, unless
/// `$DRATA_ETL_SKIP_OPENAPI_CONTRACT=1` (then they say so loudly on stderr and check
/// nothing); found but unreadable: fails.
fn spec() -> Option<&'static Spec> {
    static SPEC: OnceLock<Result<Option<Spec>, String>> = OnceLock::new();
    let found = SPEC.get_or_init(|| {
        let skip = std::env::var_os(SKIP_ENV).is_some_and(|v| v == "1");
        let Some(path) = locate_spec(std::env::var_os(SPEC_ENV).map(PathBuf::from), skip, default_spec_candidates())?
        else {
            eprintln!(
                "\n*** WARNING: openapi_contract SKIPPED ({SKIP_ENV}=1): Drata's v2 OpenAPI spec was not found, NOTHING was checked against it ***\n"
            );
            return Ok(None);
        };
        Spec::load(&path).map(Some).map_err(|e| format!("cannot use Drata's v2 OpenAPI spec at {}: {e}", path.display()))
    });
    match found {
        Ok(spec) => spec.as_ref(),
        Err(e) => panic!("{e}"),
    }
}

/// The spec inside a test that already checked it is there.
fn the_spec() -> &'static Spec {
    spec().expect("checked at the start of the test")
}

/// Success bodies: every property must be one the spec declares (the simulator must not
/// invent contract). Error bodies are checked by the schema alone: the spec's
/// `ExceptionResponseDto` (401/403/412) omits the `name` the real API is documented to send
/// elsewhere (`reference/drata-real-api.md`, section 1), so "undeclared" would be wrong there.
const STRICT: Options = Options { undeclared_properties: true };
const ERRORS: Options = Options { undeclared_properties: false };

/// Calls the simulator and collects every contract violation of every response.
struct Contract<'a> {
    sim: &'a RunningSim,
    http: reqwest::Client,
    key: Option<&'a str>,
    violations: Vec<String>,
    /// Responses validated, by spec operation and status (proof the test checked something).
    checked: Vec<(String, u16)>,
}

impl<'a> Contract<'a> {
    fn new(sim: &'a RunningSim) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("http client");
        Contract { sim, http, key: Some(KEY), violations: Vec::new(), checked: Vec::new() }
    }

    /// GET `/public/v2{path_q}`, require `status` and JSON, validate the body against the
    /// schema the spec gives operation `template` for that status (or, for a status the
    /// operation does not declare, against every schema the spec uses for that status).
    async fn get(&mut self, template: &str, path_q: &str, status: u16) -> Value {
        // The request itself: every parameter the operation declares, with a valid value.
        let (path, query) = path_q.split_once('?').unwrap_or((path_q, ""));
        if status < 300 {
            for v in the_spec().request_violations(template, "get", path, query) {
                self.violations.push(format!("GET {path_q} ({template}) request: {v}"));
            }
        }
        let url = format!("{}/public/v2{path_q}", self.sim.base_url());
        let mut req = self.http.get(&url);
        if let Some(k) = self.key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("GET {path_q}: {e}"));
        let got = resp.status().as_u16();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let text = resp.text().await.unwrap_or_else(|e| panic!("GET {path_q}: body: {e}"));
        assert_eq!(got, status, "GET {path_q}: status {got}, body {text}");
        assert!(ct.starts_with("application/json"), "GET {path_q}: content-type {ct:?}");
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path_q}: not JSON ({e}): {text}"));
        let schemas = match the_spec().response_schema(template, "get", status) {
            Some(s) => vec![s.clone()],
            None => the_spec().schemas_for_status(status),
        };
        assert!(!schemas.is_empty(), "the spec has no response schema for {status} anywhere (GET {template})");
        for schema in &schemas {
            let opts = if status < 300 { STRICT } else { ERRORS };
            for v in the_spec().validate(schema, &body, opts) {
                self.violations.push(format!("GET {path_q} ({template}, {status}) against {schema}: {v}"));
            }
        }
        self.checked.push((template.to_string(), status));
        body
    }

    /// Every page of a cursor listing the way the pipeline pages it: `first` on the first
    /// call, then `cursor` added to `rest`. Returns every item.
    async fn listing(&mut self, template: &str, path: &str, first: &str, rest: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut query = first.to_string();
        loop {
            let body = self.get(template, &format!("{path}?{query}"), 200).await;
            items.extend(body["data"].as_array().cloned().unwrap_or_default());
            match body["pagination"]["cursor"].as_str() {
                Some(c) => {
                    assert!(seen.insert(c.to_string()), "GET {path}: cursor {c} repeated");
                    let c: String = url::form_urlencoded::byte_serialize(c.as_bytes()).collect();
                    query = format!("{rest}&cursor={c}");
                }
                None => return items,
            }
        }
    }

    fn finish(self, what: &str) {
        assert!(
            self.violations.is_empty(),
            "{what}: {} contract violation(s) against Drata's v2 OpenAPI spec:\n{}",
            self.violations.len(),
            self.violations.join("\n"),
        );
    }
}

fn v2_config(personnel: usize) -> SimConfig {
    SimConfig { dialect: SimDialect::V2, controls: 30, ..sim_config(personnel) }
}

#[test]
fn a_missing_spec_fails_unless_skipping_is_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nonexistent.json");
    let present = tmp.path().join("spec.json");
    std::fs::write(&present, "{}").unwrap();

    // Named explicitly but missing: an error, even though a default candidate exists.
    let e = locate_spec(Some(missing.clone()), false, vec![present.clone()]).unwrap_err();
    assert!(e.contains(&missing.display().to_string()) && e.contains(SKIP_ENV), "{e}");
    // No default candidate there either: an error naming both places.
    let e = locate_spec(None, false, vec![missing.clone(), tmp.path().join("other.json")]).unwrap_err();
    assert!(e.contains("nonexistent.json") && e.contains("other.json"), "{e}");
    // Skipping only when asked for.
    assert_eq!(locate_spec(Some(missing.clone()), true, vec![]), Ok(None));
    // Found: the explicit path, else the first default candidate that exists.
    assert_eq!(locate_spec(Some(present.clone()), false, vec![]), Ok(Some(present.clone())));
    assert_eq!(locate_spec(None, false, vec![missing, present.clone()]), Ok(Some(present)));
}

/// The whole test binary run as CI would run it, with the spec pointed at a missing file:
/// the contract test fails (and passes, loudly skipped, only with the opt-out variable).
#[test]
fn the_contract_test_fails_when_the_spec_path_is_missing() {
    if std::env::var_os("DRATA_ETL_CONTRACT_CHILD").is_some() {
        return; // the child below runs only the named test, but never recurse
    }
    let run = |skip: bool| {
        let mut c = std::process::Command::new(std::env::current_exe().unwrap());
        c.args(["openapi_contract::the_spec_is_read_from_the_shared_reference_folder", "--exact", "--nocapture"])
            .env(SPEC_ENV, "/nonexistent/drata-openapi-v2.json")
            .env("DRATA_ETL_CONTRACT_CHILD", "1")
            .env_remove(SKIP_ENV);
        if skip {
            c.env(SKIP_ENV, "1");
        }
        c.output().unwrap()
    };
    let failed = run(false);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert!(!failed.status.success(), "passed without the spec:\n{stdout}\n{stderr}");
    assert!(stderr.contains("/nonexistent/drata-openapi-v2.json") && stderr.contains("was not found"), "{stderr}");
    let skipped = run(true);
    let stderr = String::from_utf8_lossy(&skipped.stderr);
    assert!(skipped.status.success(), "{stderr}");
    assert!(stderr.contains("SKIPPED") && stderr.contains("NOTHING was checked"), "{stderr}");
    // The child really ran the test (not zero tests matched).
    assert!(
        String::from_utf8_lossy(&skipped.stdout).contains("1 passed"),
        "{}",
        String::from_utf8_lossy(&skipped.stdout)
    );
}

#[test]
fn the_spec_is_read_from_the_shared_reference_folder() {
    let Some(s) = spec() else { return };
    // The operations the pipeline uses exist, with the schemas the contract test relies on.
    for (path, schema) in [
        ("/personnel", "PersonnelResponsePublicV2Dto"),
        ("/users", "UsersResponsePublicV2Dto"),
        ("/users/{userId}/documents", "UserDocumentsResponsePublicV2Dto"),
        ("/users/{userId}/assigned-policies", "UserPolicyVersionsResponsePublicV2Dto"),
        ("/workspaces", "WorkspacesResponsePublicV2Dto"),
        ("/workspaces/{workspaceId}/controls", "ControlsResponsePublicV2Dto"),
        ("/workspaces/{workspaceId}/controls/{controlId}/owners", "ControlOwnersResponsePublicV2Dto"),
    ] {
        let got = s.response_schema(path, "get", 200).unwrap_or_else(|| panic!("no 200 schema for GET {path}"));
        assert_eq!(got["$ref"], format!("#/components/schemas/{schema}"));
    }
    // The real spec is not vacuous to the validator: a documented page with one wrong type
    // and one missing required field fails with both paths.
    let schema = s.response_schema("/personnel", "get", 200).unwrap();
    let mut page = serde_json::json!({"data": [{"id": 42, "userId": 7, "employmentStatus": "CURRENT_EMPLOYEE",
        "startedAt": "2023-02-01T00:00:00.000Z", "statusUpdatedAt": null, "createdAt": "2023-02-01T00:00:00.000Z",
        "updatedAt": "2023-02-01T00:00:00.000Z"}], "pagination": {"cursor": null}});
    assert!(s.validate(schema, &page, STRICT).is_empty());
    page["data"][0]["userId"] = Value::from("7");
    page["data"][0].as_object_mut().unwrap().remove("employmentStatus");
    let got: Vec<String> = s.validate(schema, &page, STRICT).iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "$.data[0]: missing required property \"employmentStatus\"".to_string(),
            "$.data[0].userId: expected number, got string".to_string(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_v2_responses_follow_the_openapi_spec() {
    if spec().is_none() {
        return;
    }
    let sim = start(v2_config(75)).await;
    let mut c = Contract::new(&sim);

    // Personnel: the auto-detection probe, the total probe, and the full listing as the
    // pipeline pages it (user and compliance checks expanded, totalCount on page one).
    let probe = c.get("/personnel", "/personnel?size=1&expand%5B%5D=user", 200).await;
    assert!(probe["data"][0]["user"].is_object() && probe["data"][0].get("complianceChecks").is_none(), "{probe}");
    let total = c.get("/personnel", "/personnel?size=1&includeTotalCount=true", 200).await;
    assert_eq!(total["pagination"]["totalCount"], 75);
    assert!(total["data"][0].get("user").is_none(), "user only with expand[]=user: {total}");
    let expand = format!("size=20&expand%5B%5D=user&expand%5B%5D=complianceChecks{ORDER}");
    let people = c.listing("/personnel", "/personnel", &format!("{expand}{TOTAL}"), &expand).await;
    assert_eq!(people.len(), 75);
    assert!(people.iter().all(|p| p["user"].is_object() && p["complianceChecks"].is_array()));
    let exclusions =
        people.iter().flat_map(|p| p["complianceChecks"].as_array().unwrap()).filter(|c| c["exclusion"].is_object());
    assert!(exclusions.count() > 0, "EXCLUDED checks with their exclusion are exercised");

    // Users with background checks and identities (the pipeline's one join listing).
    let users_q = format!("size=20&expand%5B%5D=backgroundChecks&expand%5B%5D=identities&expand%5B%5D=roles{ORDER}");
    let users = c.listing("/users", "/users", &format!("{users_q}{TOTAL}"), &users_q).await;
    assert_eq!(users.len(), 75);
    let with = |k: &str| users.iter().filter(|u| u[k].as_array().is_some_and(|a| !a.is_empty())).count();
    assert!(with("backgroundChecks") > 0 && with("identities") > 0, "the join data is exercised");
    assert_eq!(with("roles"), 75, "roles with expand[]=roles");
    assert!(users.iter().any(|u| u["roles"].as_array().unwrap().len() > 1), "several roles are exercised");
    for k in ["avatarUrl", "drataTermsAgreedAt"] {
        assert!(users.iter().any(|u| u[k].is_null()) && users.iter().any(|u| u[k].is_string()), "{k} both ways");
    }
    // Every documented background-check shape: each provider type, a manual check with its
    // file, an out-of-scope check, a linked HRIS check, null and text caseIds.
    let checks: Vec<&Value> = users.iter().flat_map(|u| u["backgroundChecks"].as_array().unwrap()).collect();
    for t in ["CHECKR", "KARMACHECK", "MANUAL", "HRIS_RIPPLING"] {
        assert!(checks.iter().any(|b| b["type"] == t), "type {t} is exercised");
    }
    assert!(checks.iter().any(|b| b["type"] == "MANUAL" && b["manuallyCheckUrl"].is_string() && b["source"].is_null()));
    assert!(checks.iter().any(|b| b["status"] == "OUT_OF_SCOPE" && b["outOfScopeAt"].is_string()));
    assert!(checks.iter().any(|b| b["linkedAt"].is_string()) && checks.iter().any(|b| b["caseId"].is_null()));

    // Devices with compliance checks and identifiers (the pipeline's devices join listing).
    let devices_q = format!("size=20&expand%5B%5D=complianceChecks&expand%5B%5D=identifiers{ORDER}");
    let devices = c.listing("/devices", "/devices", &format!("{devices_q}{TOTAL}"), &devices_q).await;
    assert_eq!(devices.len(), sim.sim.v2_devices_json().len());
    assert!(devices.len() > 75, "devices are exercised: {}", devices.len());
    assert!(devices.iter().all(|d| d["complianceChecks"].is_array() && d["isDeviceCompliant"].is_boolean()));
    assert!(
        devices.iter().any(|d| d["isDeviceCompliant"] == false) && devices.iter().any(|d| !d["deletedAt"].is_null())
    );
    let plain = c.get("/devices", "/devices?size=1", 200).await;
    assert!(plain["data"][0].get("complianceChecks").is_none(), "checks only with expand[]: {plain}");

    // Each user's SEC_TRAINING documents.
    let mut documents = 0;
    for u in &users {
        let path = format!("/users/{}/documents", u["id"]);
        let q = format!("type=SEC_TRAINING&size=50{ORDER}");
        documents += c.listing("/users/{userId}/documents", &path, &format!("{q}{TOTAL}"), &q).await.len();
    }
    assert!(documents > 0, "documents are exercised");

    // Workspaces, their controls with owners expanded, and the full owner lists.
    let ws_q = format!("size=20{ORDER}");
    let workspaces = c.listing("/workspaces", "/workspaces", &format!("{ws_q}{TOTAL}"), &ws_q).await;
    assert!(!workspaces.is_empty());
    let probe = c.get("/workspaces", "/workspaces?size=1", 200).await;
    assert_eq!(probe["data"].as_array().map(Vec::len), Some(1));
    let mut long_owner_lists = 0;
    for ws in &workspaces {
        let path = format!("/workspaces/{}/controls", ws["id"]);
        // As the pipeline lists them: owners, flags, framework tags and topics expanded.
        let q = format!(
            "size=20&expand%5B%5D=owners&expand%5B%5D=flags&expand%5B%5D=frameworkTags&expand%5B%5D=topics{ORDER}"
        );
        let controls = c.listing("/workspaces/{workspaceId}/controls", &path, &format!("{q}{TOTAL}"), &q).await;
        assert_eq!(controls.len(), 30);
        assert!(controls
            .iter()
            .all(|c| c["flags"].is_object() && c["frameworkTags"].is_array() && c["topics"].is_array()));
        for k in ["archivedAt", "question", "activity", "rationale", "controlTemplateId"] {
            assert!(
                controls.iter().any(|c| c[k].is_null()) && controls.iter().any(|c| !c[k].is_null()),
                "{k} both ways"
            );
        }
        for ctl in &controls {
            let total = ctl["owners"]["totalCount"].as_u64().expect("owners expanded");
            long_owner_lists += usize::from(total > 10);
            let path = format!("/workspaces/{}/controls/{}/owners", ws["id"], ctl["id"]);
            let q = format!("size=50{ORDER}");
            let owners = c
                .listing("/workspaces/{workspaceId}/controls/{controlId}/owners", &path, &format!("{q}{TOTAL}"), &q)
                .await;
            assert_eq!(owners.len() as u64, total);
        }
    }
    assert!(long_owner_lists > 0, "controls with more than ten owners are exercised");

    // Error bodies: 400, 404 (declared by the controls operations; for documents, which
    // declare none, every 404 schema the spec uses), 401 (no key, wrong key). 402, 403 and
    // 412: the next test.
    c.get("/personnel", "/personnel?size=0", 400).await;
    c.get("/personnel", "/personnel?cursor=not-a-cursor", 400).await;
    c.get("/workspaces/{workspaceId}/controls", "/workspaces/999/controls", 404).await;
    c.get("/workspaces/{workspaceId}/controls/{controlId}/owners", "/workspaces/1/controls/99999/owners", 404).await;
    c.get("/users/{userId}/documents", "/users/1/documents?type=SEC_TRAINING", 404).await;
    c.key = None;
    c.get("/personnel", "/personnel", 401).await;
    c.key = Some("not-the-key");
    c.get("/users", "/users", 401).await;
    let checked = c.checked.len();
    c.finish("the v2 simulator");
    sim.shutdown().await;
    assert!(checked > 100, "only {checked} responses were validated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_v2_refusals_follow_the_openapi_spec() {
    if spec().is_none() {
        return;
    }
    // 403: a key without the personnel scope.
    let mut cfg = v2_config(3);
    cfg.keys.push(ApiKeySpec::new("controls-only", &[drata_etl::sim::SCOPE_CONTROLS_READ]));
    let sim = start(cfg).await;
    let mut c = Contract::new(&sim);
    c.key = Some("controls-only");
    c.get("/personnel", "/personnel", 403).await;
    c.get("/users", "/users?expand%5B%5D=backgroundChecks", 403).await;
    let checked = c.checked.len();
    c.finish("403");
    sim.shutdown().await;
    assert_eq!(checked, 2);

    // 402 (plan) and 412 (terms) on every operation the pipeline calls.
    for (fault, status) in [(AccountFault::PlanUpgradeRequired, 402), (AccountFault::TermsNotAccepted, 412)] {
        let sim = start(SimConfig { account_fault: Some(fault), ..v2_config(3) }).await;
        let mut c = Contract::new(&sim);
        c.get("/personnel", "/personnel?size=1&expand%5B%5D=user", status).await;
        c.get("/users", "/users?expand%5B%5D=backgroundChecks", status).await;
        c.get("/users/{userId}/documents", "/users/100001/documents?type=SEC_TRAINING", status).await;
        c.get("/workspaces", "/workspaces", status).await;
        c.get("/workspaces/{workspaceId}/controls", "/workspaces/1/controls?expand%5B%5D=owners", status).await;
        c.get("/workspaces/{workspaceId}/controls/{controlId}/owners", "/workspaces/1/controls/1/owners", status).await;
        c.finish(&format!("{fault:?}"));
        sim.shutdown().await;
    }
}

/// Each user's assigned policies as the pipeline asks them (policy and version expanded,
/// stable order, every page), their refusals (403 without the permission, 404 for an
/// unknown user), against the spec's `UserPolicyVersionsResponsePublicV2Dto`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_v2_assigned_policies_follow_the_openapi_spec() {
    if spec().is_none() {
        return;
    }
    let template = "/users/{userId}/assigned-policies";
    assert_eq!(
        the_spec().response_schema(template, "get", 200).map(|s| s["$ref"].clone()),
        Some(Value::from("#/components/schemas/UserPolicyVersionsResponsePublicV2Dto"))
    );
    let mut cfg = v2_config(40);
    cfg.keys.push(ApiKeySpec::new("no-policies", &[drata_etl::sim::SCOPE_PERSONNEL_READ]));
    let sim = start(cfg).await;
    let mut c = Contract::new(&sim);
    let expand = "expand%5B%5D=policy&expand%5B%5D=policyVersion";
    let (mut rows, mut unaccepted, mut superseded) = (0, 0, 0);
    for user in 100_001..100_041u64 {
        // A page size of 2 so every user's list spans pages (cursors checked too).
        let q = format!("size=2&{expand}{ORDER}");
        let items = c.listing(template, &format!("/users/{user}/assigned-policies"), &format!("{q}{TOTAL}"), &q).await;
        assert!(items.len() >= 3, "user {user}: {}", items.len());
        for i in &items {
            assert!(i["policy"].is_object() && i["policyVersion"].is_object(), "{i}");
            unaccepted += usize::from(i["acceptedAt"].is_null());
            superseded += usize::from(i["policyVersion"]["current"] == false);
        }
        rows += items.len();
    }
    assert!(rows > 120 && unaccepted > 0 && superseded > 0, "{rows} {unaccepted} {superseded}");
    // Without expansions: the compact row only.
    let bare = c.get(template, &format!("/users/100001/assigned-policies?size=50{ORDER}"), 200).await;
    assert!(bare["data"][0].get("policy").is_none() && bare["data"][0].get("policyVersion").is_none(), "{bare}");
    c.get(template, "/users/1/assigned-policies", 404).await;
    c.key = Some("no-policies");
    c.get(template, "/users/100001/assigned-policies", 403).await;
    let checked = c.checked.len();
    c.finish("assigned policies");
    sim.shutdown().await;
    assert!(checked > 80, "only {checked} responses were validated");
}
