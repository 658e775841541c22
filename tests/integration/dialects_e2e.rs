//! End to end per API dialect (issue 6): the real binary against the simulator serving the
//! guide, real v1 or real v2 dialect. Exact data (people with their external id from the
//! user's identities, compliance checks, trainings, background checks, controls with every
//! owner), paging edge cases, v1's limit cap, v2's repeated-cursor guard, 429 rate limiting
//! (the same snapshot as an unthrottled run), auto-detection recorded in the manifest and
//! said by `check`, and the account-level 402/412 refusals.

use crate::common::*;
use arrow::array::{Array, AsArray, RecordBatch};
use drata_etl::sim::{AccountFault, Faults, RateLimit, RunningSim, SimConfig, SimDialect};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn config(dialect: SimDialect, personnel: usize) -> SimConfig {
    SimConfig { dialect, controls: 30, ..sim_config(personnel) }
}

/// A list<utf8> column as vectors (null as None).
fn list_col(batches: &[RecordBatch], name: &str) -> Vec<Option<Vec<String>>> {
    let mut out = Vec::new();
    for b in batches {
        let c = b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
        let l = c.as_list::<i32>();
        for i in 0..l.len() {
            if l.is_null(i) {
                out.push(None);
                continue;
            }
            let v = l.value(i);
            let s = v.as_string::<i32>();
            out.push(Some((0..s.len()).map(|j| s.value(j).to_string()).collect()));
        }
    }
    out
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The documented external-id rule (README, API dialects), written independently of the
/// client: the first identity still linked (no `disconnectedAt`, connection not deleted),
/// else the first identity at all, its `identityId`.
fn expected_external_id(user: &Value) -> Option<String> {
    let ids = user["identities"].as_array()?;
    let linked = |i: &&Value| i["disconnectedAt"].is_null() && i["connection"]["deletedAt"].is_null();
    let id = |i: &Value| i["identityId"].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    ids.iter().filter(linked).find_map(id).or_else(|| ids.iter().find_map(id))
}

/// What the committed snapshot must hold for a real-dialect simulator: checked field by field.
fn assert_real_snapshot(sim: &RunningSim, out: &std::path::Path, expected_people: &[Value]) {
    // personnel
    let p = read_table(out, "personnel");
    assert_eq!(rows(&p), expected_people.len());
    let ids = col(&p, "id");
    let by_id: BTreeMap<String, usize> = ids.iter().enumerate().map(|(i, id)| (id.clone().unwrap(), i)).collect();
    let (emails, users, statuses, active, compliance, external) = (
        col(&p, "email"),
        col(&p, "user_id"),
        col(&p, "employment_status"),
        col(&p, "is_active"),
        col(&p, "compliance_status"),
        col(&p, "external_id"),
    );
    // The simulator's identities cover every branch of the rule, and agree with the guide
    // view of the same people (the same list order: no drift in these runs).
    let guide = sim.sim.personnel_json();
    assert_eq!(guide.len(), expected_people.len());
    let mut decoy_first = 0;
    let mut unlinked_only = 0;
    for (w, g) in expected_people.iter().zip(&guide) {
        let want = expected_external_id(&w["user"]);
        assert_eq!(want.as_deref(), g["externalId"].as_str(), "identities of {} vs the guide view", w["id"]);
        let ids = w["user"]["identities"].as_array().expect("identities present");
        decoy_first += usize::from(ids.len() > 1 && ids[0]["identityId"].as_str() != want.as_deref());
        unlinked_only += usize::from(!ids.is_empty() && ids.iter().all(|i| !i["disconnectedAt"].is_null()));
    }
    if expected_people.len() > 50 {
        assert!(decoy_first > 0 && unlinked_only > 0, "fixture: {decoy_first} decoys, {unlinked_only} leavers");
        assert!(external.iter().any(Option::is_none) && external.iter().any(Option::is_some));
    }
    let mut checks_expected = 0;
    let mut trainings_expected = 0;
    let mut bgs_expected = 0;
    for w in expected_people {
        let id = id_text(&w["id"]);
        let i = *by_id.get(&id).unwrap_or_else(|| panic!("person {id} missing"));
        let user = &w["user"];
        assert_eq!(emails[i].as_deref(), user["email"].as_str(), "email of {id}");
        assert_eq!(users[i].as_deref(), Some(id_text(&user["id"]).as_str()));
        let status = w["employmentStatus"].as_str().unwrap();
        assert_eq!(statuses[i].as_deref(), Some(status));
        let is_active = matches!(status, "CURRENT_EMPLOYEE" | "CURRENT_CONTRACTOR");
        assert_eq!(active[i].as_deref(), Some(if is_active { "true" } else { "false" }));
        let checks = w["complianceChecks"].as_array().unwrap();
        let full = checks.iter().find(|c| c["type"] == "FULL_COMPLIANCE").unwrap();
        assert_eq!(compliance[i].as_deref(), full["status"].as_str());
        assert_eq!(external[i], expected_external_id(user), "external_id of {id}");
        checks_expected += checks.len();
        trainings_expected += checks
            .iter()
            .filter(|c| {
                ["SECURITY_TRAINING", "HIPAA_TRAINING", "NIST_AI_TRAINING"].contains(&c["type"].as_str().unwrap())
            })
            .count();
        let docs = sim.sim.real_documents_json(&id_text(&user["id"])).unwrap();
        let security = checks.iter().any(|c| c["type"] == "SECURITY_TRAINING");
        if !security && !docs.is_empty() {
            trainings_expected += 1;
        }
    }
    for status in col(&p, "training_fetch_status") {
        assert_eq!(status.as_deref(), Some("ok"));
    }
    // compliance checks: every check of every person, with its type and status
    let c = read_table(out, "personnel_compliance_checks");
    assert_eq!(rows(&c), checks_expected);
    let got: BTreeSet<(String, String, String)> = col(&c, "personnel_id")
        .into_iter()
        .zip(col(&c, "type"))
        .zip(col(&c, "status"))
        .map(|((a, b), s)| (a.unwrap(), b.unwrap(), s.unwrap()))
        .collect();
    for w in expected_people {
        for ch in w["complianceChecks"].as_array().unwrap() {
            let key = (id_text(&w["id"]), ch["type"].as_str().unwrap().into(), ch["status"].as_str().unwrap().into());
            assert!(got.contains(&key), "missing check {key:?}");
        }
    }
    let completion = c[0].column_by_name("completion_date").unwrap();
    assert!(
        matches!(completion.data_type(), arrow::datatypes::DataType::Timestamp(_, Some(tz)) if tz.as_ref() == "UTC")
    );
    // trainings: one per training check (+ documents)
    let t = read_table(out, "personnel_training");
    assert_eq!(rows(&t), trainings_expected);
    let with_docs = any_col(&t, "documents").iter().flatten().filter(|e| e.contains("certificate.pdf")).count();
    assert!(with_docs > 0, "the users' SEC_TRAINING documents arrive in the training rows");
    // background checks: the users'
    for w in expected_people {
        bgs_expected += w["user"].get("backgroundChecks").and_then(Value::as_array).map_or(0, Vec::len);
    }
    let b = read_table(out, "personnel_background_checks");
    if bgs_expected > 0 {
        assert_eq!(rows(&b), bgs_expected);
    }
    let statuses: BTreeSet<String> = col(&b, "status").into_iter().flatten().collect();
    assert!(statuses.iter().all(|s| ["OK", "ISSUE", "PENDING", "OUT_OF_SCOPE"].contains(&s.as_str())), "{statuses:?}");
    // controls with every owner
    let k = read_table(out, "controls");
    let expected = sim.sim.real_controls_owners();
    assert_eq!(rows(&k), expected.len());
    let (kid, owner, owners, owner_users) =
        (col(&k, "id"), col(&k, "owner_id"), list_col(&k, "owner_ids"), list_col(&k, "owner_user_ids"));
    let user_to_person: BTreeMap<String, String> =
        expected_people.iter().map(|w| (id_text(&w["user"]["id"]), id_text(&w["id"]))).collect();
    for (id, _code, users) in &expected {
        let i = kid.iter().position(|k| k.as_deref() == Some(id.to_string().as_str())).unwrap();
        let users: Vec<String> = users.iter().map(|u| u.to_string()).collect();
        if users.is_empty() {
            assert_eq!(owner_users[i], None);
            assert_eq!(owner[i], None);
        } else {
            assert_eq!(owner_users[i].as_ref(), Some(&users), "owners of control {id}");
            let persons: Vec<String> = users.iter().filter_map(|u| user_to_person.get(u).cloned()).collect();
            assert_eq!(owners[i].as_ref(), Some(&persons));
            assert_eq!(owner[i].as_ref(), user_to_person.get(&users[0]));
        }
    }
    assert!(expected.iter().any(|(_, _, o)| o.len() > 10), "some control has more than ten owners");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_end_to_end_exact_data() {
    let sim = start(config(SimDialect::V1, 123)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--api", "auto"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["listing"]["page_limit"], 50, "v1 caps pages at 50: {s}");
    let m = &manifests(tmp.path())[0];
    assert_eq!(m["api_dialect"], "v1");
    let people = sim.sim.v1_personnel_json();
    // v1 embeds background checks in the user; exactly those arrive.
    assert_real_snapshot(&sim, tmp.path(), &people);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_end_to_end_exact_data() {
    let sim = start(config(SimDialect::V2, 123)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--page-size", "40"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(manifests(tmp.path())[0]["api_dialect"], "v2");
    // v2's personnel carry no background checks: the simulator's v1 view of the same people
    // (same generator) says what the /v2/users join must deliver.
    let mut people = sim.sim.v2_personnel_json();
    let v1 = sim.sim.v1_personnel_json();
    for (p, w) in people.iter_mut().zip(&v1) {
        p["user"]["backgroundChecks"] = w["user"]["backgroundChecks"].clone();
        p["user"]["identities"] = w["user"]["identities"].clone();
    }
    assert_real_snapshot(&sim, tmp.path(), &people);
    // No per-person background-check calls: one users listing (4 pages of 40).
    let stats = sim.sim.stats();
    assert!(stats.requests_by_endpoint["background_checks"] <= 5, "{stats:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_edge_cases_per_dialect() {
    for dialect in [SimDialect::V1, SimDialect::V2] {
        for n in [0usize, 1, 50, 51] {
            let sim = start(config(dialect, n)).await;
            let tmp = tempfile::tempdir().unwrap();
            let r = run_etl(&sim, tmp.path(), &["--page-size", "50"]).await;
            assert_eq!(r.code, 0, "{dialect:?} {n}: {}", r.stderr);
            assert_eq!(rows(&read_table(tmp.path(), "personnel")), n, "{dialect:?} {n}");
            let ids: BTreeSet<_> = col(&read_table(tmp.path(), "personnel"), "id").into_iter().collect();
            assert_eq!(ids.len(), n, "no duplicates: {dialect:?} {n}");
            sim.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dialects_survive_faults_and_drift() {
    for dialect in [SimDialect::V1, SimDialect::V2] {
        let mut cfg = config(dialect, 140);
        cfg.faults = Faults {
            html_error_rate: 0.1,
            drift: Some(drata_etl::sim::Drift { inserts_per_page: 2, deletes_per_page: 1, max_events: 2 }),
            fault_seed: 3,
            ..Faults::default()
        };
        let sim = start(cfg).await;
        let tmp = tempfile::tempdir().unwrap();
        let r = run_etl(&sim, tmp.path(), &["--page-size", "50"]).await;
        assert_eq!(r.code, 0, "{dialect:?}: {}", r.stderr);
        let got: BTreeSet<String> = col(&read_table(tmp.path(), "personnel"), "id").into_iter().flatten().collect();
        let want: BTreeSet<String> = sim.sim.v1_personnel_json().iter().map(|p| id_text(&p["id"])).collect();
        assert_eq!(got, want, "{dialect:?}: the snapshot holds the final set");
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_repeated_cursor_fails_instead_of_looping() {
    let cfg = SimConfig { v2_repeat_cursor: true, ..config(SimDialect::V2, 120) };
    let sim = start(cfg).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--page-size", "50"]).await;
    assert_eq!(r.code, 65, "{}", r.stderr);
    assert!(r.summary()["message"].as_str().unwrap().contains("cursor"), "{}", r.stdout);
    assert!(manifests(tmp.path()).is_empty());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_detection_picks_each_dialect_and_check_says_it() {
    for (dialect, name) in [(SimDialect::Guide, "guide"), (SimDialect::V1, "v1"), (SimDialect::V2, "v2")] {
        let sim = start(config(dialect, 7)).await;
        let mut c = bin();
        c.arg("check").arg("--base-url").arg(sim.base_url()).arg("--format").arg("json");
        let r: Run = c.output().await.unwrap().into();
        assert_eq!(r.code, 0, "{name}: {}{}", r.stdout, r.stderr);
        let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
        assert_eq!(v["dialect"], name, "{v}");
        let tmp = tempfile::tempdir().unwrap();
        let r = run_etl(&sim, tmp.path(), &[]).await;
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_eq!(manifests(tmp.path())[0]["api_dialect"], name);
        // Every snapshot has the same tables; the guide's compliance-check table is empty.
        let cc = read_table(tmp.path(), "personnel_compliance_checks");
        assert_eq!(rows(&cc) == 0, dialect == SimDialect::Guide, "{name}");
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_dialect_and_account_refusals() {
    // --api v1 against a v1 host works without probing v2.
    let sim = start(config(SimDialect::V1, 5)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--api", "v1"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(manifests(tmp.path())[0]["api_dialect"], "v1");
    sim.shutdown().await;

    for (fault, words) in [(AccountFault::PlanUpgradeRequired, "402"), (AccountFault::TermsNotAccepted, "412")] {
        for dialect in [SimDialect::V1, SimDialect::V2] {
            let sim = start(SimConfig { account_fault: Some(fault), ..config(dialect, 5) }).await;
            let tmp = tempfile::tempdir().unwrap();
            let r = run_etl(&sim, tmp.path(), &[]).await;
            assert_eq!(r.code, 77, "{fault:?} {dialect:?}: {}", r.stderr);
            let msg = r.summary()["message"].as_str().unwrap().to_string();
            assert!(msg.contains(words), "{msg}");
            sim.shutdown().await;
        }
    }
}

/// One cell of a nested column (a list of structs) as text, its timestamps as raw integers.
fn nested_cell(c: &dyn Array, i: usize) -> String {
    use arrow::datatypes::{DataType, TimestampMicrosecondType};
    if c.is_null(i) {
        return "null".into();
    }
    match c.data_type() {
        DataType::Timestamp(_, _) => c.as_primitive::<TimestampMicrosecondType>().value(i).to_string(),
        DataType::List(_) => {
            let l = c.as_list::<i32>().value(i);
            let items: Vec<String> = (0..l.len()).map(|j| nested_cell(l.as_ref(), j)).collect();
            format!("[{}]", items.join(", "))
        }
        DataType::Struct(fields) => {
            let s = c.as_struct();
            let items: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(k, f)| format!("{}: {}", f.name(), nested_cell(s.column(k), i)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        _ => arrow::util::display::array_value_to_string(c, i).expect("displayable value"),
    }
}

/// Any column as strings (null as None): timestamps as their raw integer (Arrow cannot
/// render a named time zone without chrono-tz), lists of structs field by field, everything
/// else as `col` renders it.
fn any_col(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    use arrow::datatypes::{DataType, Int64Type};
    let kind = batches.first().and_then(|b| b.column_by_name(name).map(|c| c.data_type().clone()));
    if let Some(DataType::List(item)) = &kind {
        if matches!(item.data_type(), DataType::Struct(_)) {
            let mut out = Vec::new();
            for b in batches {
                let c = b.column_by_name(name).unwrap();
                out.extend((0..c.len()).map(|i| (!c.is_null(i)).then(|| nested_cell(c.as_ref(), i))));
            }
            return out;
        }
    }
    if !matches!(kind, Some(DataType::Timestamp(_, _))) {
        return col(batches, name);
    }
    let mut out = Vec::new();
    for b in batches {
        let c = arrow::compute::cast(b.column_by_name(name).unwrap(), &DataType::Int64).unwrap();
        let c = c.as_primitive::<Int64Type>();
        out.extend((0..c.len()).map(|i| (!c.is_null(i)).then(|| c.value(i).to_string())));
    }
    out
}

/// Every table of a snapshot as sorted rows of rendered values, without `enriched_at` (when
/// the child data was fetched, which differs between runs by design).
fn snapshot_rows(out: &std::path::Path) -> BTreeMap<&'static str, Vec<Vec<Option<String>>>> {
    let mut tables = BTreeMap::new();
    for t in drata_etl::load::Table::ALL {
        let batches = read_table(out, t.name());
        let mut names: Vec<String> =
            batches.first().map(|b| b.schema().fields().iter().map(|f| f.name().clone()).collect()).unwrap_or_default();
        names.retain(|n| n != "enriched_at");
        let cols: Vec<Vec<Option<String>>> = names.iter().map(|n| any_col(&batches, n)).collect();
        let mut rows: Vec<Vec<Option<String>>> =
            (0..rows(&batches)).map(|i| cols.iter().map(|c| c[i].clone()).collect()).collect();
        rows.sort();
        tables.insert(t.name(), rows);
    }
    tables
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dialects_under_429_rate_limits_write_the_unthrottled_snapshot() {
    let run_at = ["--run-at", "2026-01-31T02:00:00Z", "--page-size", "50"];
    for dialect in [SimDialect::V1, SimDialect::V2] {
        // The reference: the same workspace without a rate limit.
        let calm = start(config(dialect, 140)).await;
        let calm_out = tempfile::tempdir().unwrap();
        let r = run_etl(&calm, calm_out.path(), &run_at).await;
        assert_eq!(r.code, 0, "{dialect:?} unthrottled: {}", r.stderr);
        assert_eq!(calm.sim.stats().rate_limited, 0);
        calm.shutdown().await;

        let mut cfg = config(dialect, 140);
        cfg.faults = Faults { rate_limit: Some(RateLimit { per_second: 100.0, burst: 10 }), ..Faults::default() };
        let sim = start(cfg).await;
        let tmp = tempfile::tempdir().unwrap();
        let r = run_etl(&sim, tmp.path(), &run_at).await;
        assert_eq!(r.code, 0, "{dialect:?} throttled: {}", r.stderr);
        let stats = sim.sim.stats();
        assert!(stats.rate_limited > 0, "{dialect:?}: no 429 was served: {stats:?}");
        assert_eq!(stats.responses_by_status.get(&429).copied(), Some(stats.rate_limited), "{stats:?}");
        let s = r.summary();
        assert!(s["api"]["rate_limited"].as_u64().unwrap() > 0, "{dialect:?}: the client saw the 429s: {s}");
        assert_eq!(manifests(tmp.path())[0]["api_dialect"], dialect_name(dialect));

        let (want, got) = (snapshot_rows(calm_out.path()), snapshot_rows(tmp.path()));
        assert!(want["personnel"].len() == 140 && !want["personnel_compliance_checks"].is_empty());
        for (table, rows) in &want {
            assert_eq!(&got[table], rows, "{dialect:?}: table {table} differs from the unthrottled run");
        }
        sim.shutdown().await;
    }
}

fn dialect_name(d: SimDialect) -> &'static str {
    match d {
        SimDialect::Guide => "guide",
        SimDialect::V1 => "v1",
        SimDialect::V2 => "v2",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_asks_its_largest_page_unless_a_page_size_is_set() {
    // v2's cursor pages are read one after another: without --page-size the run asks 500 a
    // page (the spec's largest); a page size the user sets is kept.
    let mut counts = Vec::new();
    for extra in [&[][..], &["--page-size", "100"][..]] {
        let sim = start(config(SimDialect::V2, 1200)).await;
        let tmp = tempfile::tempdir().unwrap();
        let r = run_etl(&sim, tmp.path(), extra).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(rows(&read_table(tmp.path(), "personnel")), 1200);
        let stats = sim.sim.stats();
        // Personnel and device pages (both counted as personnel_list) and the users join.
        counts.push(stats.requests_by_endpoint["personnel_list"] + stats.requests_by_endpoint["background_checks"]);
        sim.shutdown().await;
    }
    let (default, hundred) = (counts[0], counts[1]);
    assert!(default <= 16, "500 a page: {default} list requests");
    assert!(hundred >= 36, "100 a page: {hundred} list requests");
}
