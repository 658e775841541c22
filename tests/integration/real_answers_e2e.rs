//! Answers on real-dialect snapshots: `report` on a v1 and a v2 snapshot reads the real
//! statuses (FULL_COMPLIANCE PASS / FAIL / MISCONFIGURED, PASS trainings, OK background
//! checks), says why people are not compliant (their failing compliance checks), and agrees
//! with the simulator's own records and with the DuckDB queries of `scripts/queries/`;
//! and the sections only real snapshots have (devices failing checks, policies not
//! accepted, MFA missing on a linked identity, leavers still connected) agree with their
//! `real_*.sql` queries.

use crate::common::*;
use crate::queries::sql;
use drata_etl::sim::{SimConfig, SimDialect};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn id_text(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => panic!("not an id: {other}"),
    }
}

async fn report_json(out: &std::path::Path) -> Value {
    let o = bin()
        .args(["report", "--out", out.to_str().unwrap(), "--format", "json", "--limit", "0"])
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn list_ids(list: &Value) -> Vec<String> {
    list["people"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
}

/// What the answers must be, computed from the simulator's v1 records (the v2 view is the
/// same generated people): active = a CURRENT_* status; not compliant = FULL_COMPLIANCE FAIL
/// or MISCONFIGURED; a failing check = any other check with one of those statuses.
struct Expected {
    non_compliant: BTreeSet<String>,
    failing_by_type: BTreeMap<String, u64>,
    failing_of: BTreeMap<String, Vec<String>>,
    security_training_passed: u64,
    without_ok_check: u64,
}

fn expected(people: &[Value]) -> Expected {
    let failing = |s: &Value| s == "FAIL" || s == "MISCONFIGURED";
    let mut e = Expected {
        non_compliant: BTreeSet::new(),
        failing_by_type: BTreeMap::new(),
        failing_of: BTreeMap::new(),
        security_training_passed: 0,
        without_ok_check: 0,
    };
    for p in people {
        let status = p["employmentStatus"].as_str().unwrap();
        if !matches!(status, "CURRENT_EMPLOYEE" | "CURRENT_CONTRACTOR") {
            continue;
        }
        let id = id_text(&p["id"]);
        let checks = p["complianceChecks"].as_array().unwrap();
        let of_type = |t: &str| checks.iter().find(|c| c["type"] == t);
        if of_type("SECURITY_TRAINING").is_some_and(|c| c["status"] == "PASS") {
            e.security_training_passed += 1;
        }
        let bgs = p["user"]["backgroundChecks"].as_array().map(Vec::as_slice).unwrap_or_default();
        if !bgs.iter().any(|b| b["status"] == "OK") {
            e.without_ok_check += 1;
        }
        if !of_type("FULL_COMPLIANCE").is_some_and(|c| failing(&c["status"])) {
            continue;
        }
        e.non_compliant.insert(id.clone());
        let mut types: Vec<String> = checks
            .iter()
            .filter(|c| c["type"] != "FULL_COMPLIANCE" && failing(&c["status"]))
            .map(|c| c["type"].as_str().unwrap().to_string())
            .collect();
        types.sort();
        types.dedup();
        for t in &types {
            *e.failing_by_type.entry(t.clone()).or_default() += 1;
        }
        e.failing_of.insert(id, types);
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_answers_real_dialect_snapshots_and_agrees_with_sql() {
    for (dialect, name) in [(SimDialect::V1, "v1"), (SimDialect::V2, "v2")] {
        let sim = start(SimConfig { dialect, controls: 20, ..sim_config(160) }).await;
        let tmp = tempfile::tempdir().unwrap();
        let r = run_etl(&sim, tmp.path(), &[]).await;
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let report = report_json(tmp.path()).await;
        assert_eq!(report["api_dialect"], name);
        let want = expected(&sim.sim.v1_personnel_json());
        assert!(want.non_compliant.len() > 5 && !want.failing_by_type.is_empty(), "{name}: a workspace with failures");

        // Who is not compliant, and why.
        let got: BTreeSet<String> = list_ids(&report["non_compliant_active"]).into_iter().collect();
        assert_eq!(got, want.non_compliant, "{name}: non-compliant active people");
        let by_type: BTreeMap<String, u64> = report["failing_checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["check_type"].as_str().unwrap().to_string(), f["people"].as_u64().unwrap()))
            .collect();
        assert_eq!(by_type, want.failing_by_type, "{name}: failing checks by type");
        for p in report["non_compliant_active"]["people"].as_array().unwrap() {
            let types = &want.failing_of[p["id"].as_str().unwrap()];
            let detail = p.get("detail").and_then(Value::as_str).map(str::to_string);
            assert_eq!(detail, (!types.is_empty()).then(|| types.join(", ")), "{name}: detail of {p}");
        }
        // Statuses mean what the dialect says: PASS is compliant, PASS trainings are done,
        // OK background checks passed.
        assert!(report["compliance_status"]["PASS"].as_u64().unwrap() > 0, "{name}: {}", report["compliance_status"]);
        let all_compliant_pct: f64 = {
            let active = report["active"].as_u64().unwrap() as f64;
            let pass = report["compliance_status"]["PASS"].as_u64().unwrap() as f64;
            (1000.0 * pass / active).round() / 10.0
        };
        let dept = &report["compliance_by_department"][0];
        assert_eq!(dept["department"], "(none)", "{name}: real records carry no department");
        assert_eq!(dept["compliant_pct"].as_f64().unwrap(), all_compliant_pct, "{name}");
        let security = report["trainings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["course"] == "SECURITY_TRAINING")
            .unwrap_or_else(|| panic!("{name}: {}", report["trainings"]));
        assert_eq!(security["completed"].as_u64().unwrap(), want.security_training_passed, "{name}");
        assert!(want.security_training_passed > 0);
        assert_eq!(
            report["without_passed_background_check"]["count"].as_u64().unwrap(),
            want.without_ok_check,
            "{name}: active people without an OK background check"
        );

        // DuckDB over the same committed files, through the same status vocabulary.
        let q = sql(tmp.path(), &[]);
        let sql_ids: Vec<String> =
            q["non_compliant_active"].iter().map(|r| r[4].as_str().unwrap().to_string()).collect();
        assert_eq!(sql_ids, list_ids(&report["non_compliant_active"]), "{name}: SQL non_compliant_active");
        let sql_failing: BTreeMap<String, u64> =
            q["failing_checks"].iter().map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap())).collect();
        assert_eq!(sql_failing, by_type, "{name}: SQL failing_checks");
        let courses: Vec<(String, u64, u64)> = q["training_completion"]
            .iter()
            .map(|r| (r[0].as_str().unwrap().into(), r[1].as_u64().unwrap(), r[2].as_u64().unwrap()))
            .collect();
        let want_courses: Vec<(String, u64, u64)> = report["trainings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["course"].as_str().unwrap().into(),
                    c["assigned"].as_u64().unwrap(),
                    c["completed"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(courses, want_courses, "{name}: SQL training_completion");
        assert_eq!(
            q["missing_background_check"].len() as u64,
            want.without_ok_check,
            "{name}: SQL missing_background_check"
        );

        // Devices, policies and identities: the report's real sections against their SQL.
        let real = &report["real"];
        let devices: Vec<(String, u64, u64)> = real["device_failures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["check_type"].as_str().unwrap().into(),
                    r["devices"].as_u64().unwrap(),
                    r["people"].as_u64().unwrap(),
                )
            })
            .collect();
        let sql_devices: Vec<(String, u64, u64)> = q["real_device_failures"]
            .iter()
            .map(|r| (r[0].as_str().unwrap().into(), r[1].as_u64().unwrap(), r[2].as_u64().unwrap()))
            .collect();
        assert_eq!(devices, sql_devices, "{name}: device failures");
        assert!(!devices.is_empty(), "{name}: the simulator has failing devices");
        for (section, query, detail_col) in [
            ("policies_not_accepted", "real_policies_not_accepted", 5),
            ("mfa_missing", "real_mfa_missing", 5),
            ("leavers_still_connected", "real_leavers_still_connected", 6),
        ] {
            let got: Vec<(String, String)> = real[section]["people"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p["id"].as_str().unwrap().into(), p["detail"].as_str().unwrap_or_default().into()))
                .collect();
            let want: Vec<(String, String)> = q[query]
                .iter()
                .map(|r| {
                    let detail = match section {
                        "leavers_still_connected" => {
                            format!("{} days since end_date ({})", r[5].as_i64().unwrap(), r[6].as_str().unwrap())
                        }
                        _ => r[detail_col].as_str().unwrap().to_string(),
                    };
                    (r[4].as_str().unwrap().to_string(), detail)
                })
                .collect();
            assert_eq!(got, want, "{name}: {section}");
            assert_eq!(real[section]["count"].as_u64().unwrap(), want.len() as u64, "{name}: {section}");
            // Policies are v2 only; the simulator has unaccepted ones, MFA gaps and lagging leavers.
            if section != "policies_not_accepted" || name == "v2" {
                assert!(!got.is_empty(), "{name}: {section} is empty");
            }
        }
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_text_names_the_real_statuses() {
    let sim = start(SimConfig { dialect: SimDialect::V2, ..sim_config(60) }).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let o = bin().args(["report", "--out", tmp.path().to_str().unwrap()]).output().await.unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("Active people who are FAIL or MISCONFIGURED:"), "{text}");
    assert!(text.contains("Why people are not compliant: failing compliance checks"), "{text}");
    assert!(!text.contains("NON_COMPLIANT"), "{text}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_on_v2_snapshots_reads_the_real_statuses() {
    // Two v2 snapshots three days apart of an unchanged workspace: every active person whose
    // FULL_COMPLIANCE check is FAIL or MISCONFIGURED has been so for 3 days, and is alerted
    // with --days 2; the trend counts them as non-compliant and PASS as compliant.
    let sim = start(SimConfig { dialect: SimDialect::V2, ..sim_config(80) }).await;
    let tmp = tempfile::tempdir().unwrap();
    for at in ["2026-05-01T00:00:00Z", "2026-05-04T00:00:00Z"] {
        let r = run_etl(&sim, tmp.path(), &["--run-at", at]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let want = expected(&sim.sim.v1_personnel_json());
    let history = |answer: &'static str, extra: &'static [&'static str]| {
        let out = tmp.path().to_str().unwrap().to_string();
        async move {
            let o = bin()
                .args(["history", answer, "--out", &out, "--format", "json", "--limit", "0"])
                .args(extra)
                .output()
                .await
                .unwrap();
            assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
            serde_json::from_slice::<Value>(&o.stdout).unwrap()
        }
    };
    let a = history("streaks", &["--days", "2"]).await;
    let alerted: BTreeSet<String> = a["tables"]["alerts"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(alerted, want.non_compliant, "alerts: every active FAIL or MISCONFIGURED person");
    assert!(a["tables"]["alerts"]["rows"].as_array().unwrap().iter().all(|r| r["days"] == 3), "{a}");
    let t = history("trend", &[]).await;
    let overall = t["tables"]["overall"]["rows"].as_array().unwrap();
    assert!(!overall.is_empty(), "{t}");
    for r in overall {
        assert_eq!(r["non_compliant"].as_u64().unwrap(), want.non_compliant.len() as u64, "{r}");
    }
    sim.shutdown().await;
}
