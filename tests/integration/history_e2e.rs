//! `drata-etl history` end to end: the real binary runs the pipeline against the simulator
//! on four of five days (2026-03-01, -02, -04, -05: the 3rd is a gap), the test mutates the
//! simulated workspace between runs (the evolution below), and then checks every answer:
//! exact figures for the people the evolution moved, and every row of every table against
//! the DuckDB equivalents in `scripts/queries/history_*.sql` run on the same snapshots.
//!
//! The evolution (people picked from the generated workspace by their day-1 state):
//! - day 2: `fixer` (active, NON_COMPLIANT) becomes COMPLIANT; `returner` (active) leaves
//!   (isActive false, endDate day 1); `hire` is created (startDate day 2, PENDING);
//! - day 3: no run (a gap);
//! - day 4: `late` (active) leaves with endDate day 2 (first seen inactive 2 days late);
//!   `lingerer` gets endDate day 3 but stays active; `returner` comes back (active, no
//!   endDate);
//! - day 5: `hire` becomes COMPLIANT; `stuck` (active, NON_COMPLIANT) never changes.
//!
//! A second workspace (`beta`) shares the output root, so every answer is run with
//! `--workspace acme` (and without it, exit 64).
#![cfg(feature = "analytics")]

use crate::common::*;
use drata_etl::sim::{SimConfig, SimDialect};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const DAYS: [&str; 4] = ["2026-03-01", "2026-03-02", "2026-03-04", "2026-03-05"];

struct Series {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    /// Role -> person id.
    who: BTreeMap<&'static str, String>,
}

impl Series {
    fn out(&self) -> &str {
        self.out.to_str().unwrap()
    }
    fn id(&self, role: &str) -> &str {
        &self.who[role]
    }
}

async fn series() -> Series {
    let sim = start(sim_config(40)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let people = sim.sim.personnel_json();
    let active: Vec<&Value> = people.iter().filter(|p| p["isActive"] == json!(true)).collect();
    let id = |p: &Value| p["id"].as_str().unwrap().to_string();
    let non_compliant: Vec<String> =
        active.iter().filter(|p| p["complianceStatus"] == "NON_COMPLIANT").map(|p| id(p)).collect();
    assert!(non_compliant.len() >= 2, "seed 7 has two active NON_COMPLIANT people");
    let others: Vec<String> = active
        .iter()
        .filter(|p| p["complianceStatus"] != "NON_COMPLIANT" && p["endDate"].is_null())
        .map(|p| id(p))
        .collect();
    let mut who: BTreeMap<&'static str, String> = BTreeMap::new();
    who.insert("fixer", non_compliant[0].clone());
    who.insert("stuck", non_compliant[1].clone());
    who.insert("returner", others[0].clone());
    who.insert("late", others[1].clone());
    who.insert("lingerer", others[2].clone());

    let run = |day: &str| {
        let (sim, out) = (&sim, &out);
        let at = format!("{day}T02:00:00Z");
        async move {
            let r = run_etl(sim, out, &["--run-at", &at, "--workspace", "acme"]).await;
            assert_eq!(r.code, 0, "run {at}: {}", r.stderr);
        }
    };
    let set = |role: &str, field: &str, v: Value| assert!(sim.sim.set_person_field(&who[role], field, v));

    run(DAYS[0]).await;
    // Day 2.
    set("fixer", "complianceStatus", json!("COMPLIANT"));
    set("returner", "isActive", json!(false));
    set("returner", "endDate", json!("2026-03-01"));
    let hire = sim.sim.add_person();
    assert!(sim.sim.set_person_field(&hire, "startDate", json!("2026-03-02")));
    assert!(sim.sim.set_person_field(&hire, "isActive", json!(true)));
    assert!(sim.sim.set_person_field(&hire, "endDate", Value::Null));
    assert!(sim.sim.set_person_field(&hire, "complianceStatus", json!("PENDING")));
    who.insert("hire", hire);
    run(DAYS[1]).await;
    // Day 3: no run. Day 4.
    let set = |role: &str, field: &str, v: Value| assert!(sim.sim.set_person_field(&who[role], field, v));
    set("late", "isActive", json!(false));
    set("late", "endDate", json!("2026-03-02"));
    set("lingerer", "endDate", json!("2026-03-03"));
    set("returner", "isActive", json!(true));
    set("returner", "endDate", Value::Null);
    run(DAYS[2]).await;
    // Day 5.
    set("hire", "complianceStatus", json!("COMPLIANT"));
    run(DAYS[3]).await;

    // Another workspace in the same root.
    let other = start(sim_config(5)).await;
    let r = run_etl(&other, &out, &["--run-at", "2026-03-05T03:00:00Z", "--workspace", "beta"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    Series { _tmp: tmp, out, who }
}

async fn cli(args: &[&str]) -> Run {
    let mut c = bin();
    c.env("DRATA_ETL_LOG", "warn").args(args);
    c.output().await.expect("binary runs").into()
}

/// `history <answer> --out OUT --workspace acme --format json ARGS`.
async fn answer(s: &Series, name: &str, args: &[&str]) -> Value {
    let mut all = vec!["history", name, "--out", s.out(), "--workspace", "acme", "--format", "json"];
    all.extend_from_slice(args);
    let r = cli(&all).await;
    assert_eq!(r.code, 0, "{all:?}: {}\n{}", r.stderr, r.stdout);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{all:?}: not JSON ({e}): {}", r.stdout))
}

fn rows<'a>(a: &'a Value, table: &str) -> &'a Vec<Value> {
    a["tables"][table]["rows"].as_array().unwrap_or_else(|| panic!("no table {table} in {a}"))
}

fn row<'a>(a: &'a Value, table: &str, id: &str) -> &'a Value {
    rows(a, table).iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("{id} not in {table}: {a:#}"))
}

fn has(a: &Value, table: &str, id: &str) -> bool {
    rows(a, table).iter().any(|r| r["id"] == id)
}

// ------------------------------------------------------------------------------------------
// DuckDB
// ------------------------------------------------------------------------------------------

fn python() -> PathBuf {
    match std::env::var_os("DRATA_ETL_PYTHON") {
        Some(p) if !p.is_empty() => p.into(),
        _ => {
            let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
            if venv.exists() {
                venv
            } else {
                "python3".into()
            }
        }
    }
}

/// `scripts/queries/run.py OUT --workspace acme --json --var ... QUERY`: (columns, rows).
fn sql(s: &Series, query: &str, vars: &[&str]) -> (Vec<String>, Vec<Vec<Value>>) {
    sql_in(&s.out, &["--workspace", "acme"], query, vars)
}

/// `scripts/queries/run.py OUT ARGS --json --var ... QUERY`: (columns, rows).
fn sql_in(out: &Path, args: &[&str], query: &str, vars: &[&str]) -> (Vec<String>, Vec<Vec<Value>>) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/queries/run.py");
    let mut c = std::process::Command::new(python());
    c.arg(&script).arg(out).args(args).arg("--json");
    for v in vars {
        c.args(["--var", v]);
    }
    let o = c.arg(query).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{query} failed ({}; run scripts/test.sh so .venv has duckdb):\n{}\n{stdout}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    let cols = v["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    let rows = v["rows"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().clone()).collect();
    (cols, rows)
}

/// Every SQL row whose column `selector` is `value` (`*`: every row) equals the answer's
/// table, row by row and column by column (the SQL's other columns, renamed by `rename`;
/// renamed to "" is not compared).
fn same(
    answer: &Value,
    table: &str,
    sql: &(Vec<String>, Vec<Vec<Value>>),
    selector: &str,
    value: &str,
    rename: &[(&str, &str)],
) {
    let (cols, sql_rows) = sql;
    let sel = cols.iter().position(|c| c == selector).unwrap();
    let expected: Vec<&Vec<Value>> = sql_rows.iter().filter(|r| value == "*" || r[sel] == value).collect();
    let got = rows(answer, table);
    assert_eq!(
        got.len(),
        expected.len(),
        "{table}: {} rows from the CLI, {} from DuckDB\n{got:#?}\n{expected:#?}",
        got.len(),
        expected.len()
    );
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        for (j, c) in cols.iter().enumerate() {
            if j == sel {
                continue;
            }
            let name = rename.iter().find(|(from, _)| from == c).map(|(_, to)| *to).unwrap_or(c);
            if name.is_empty() {
                continue;
            }
            let (gv, ev) = (&g[name], &e[j]);
            let equal = match (gv.as_f64(), ev.as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                _ => gv == ev,
            };
            assert!(equal, "{table} row {i} column {name}: CLI {gv} vs DuckDB {ev}\nCLI row {g}\nSQL row {e:?}");
        }
    }
}

// ------------------------------------------------------------------------------------------
// The tests
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_answers_match_the_evolution_and_duckdb() {
    let s = series().await;

    // Streaks.
    let a = answer(&s, "streaks", &["--days", "3"]).await;
    assert_eq!(a["facts"]["snapshots in window"], "4");
    assert_eq!(a["gaps"], json!([{"after": "20260302T020000Z", "before": "20260304T020000Z", "missing_runs": 1}]));
    let fixer = row(&a, "people", s.id("fixer"));
    assert_eq!(
        (&fixer["status"], &fixer["since"], &fixer["days"]),
        (&json!("COMPLIANT"), &json!("2026-03-02"), &json!(3))
    );
    assert_eq!((&fixer["transitions"], &fixer["since_window_start"]), (&json!(1), &json!(false)));
    let stuck = row(&a, "people", s.id("stuck"));
    assert_eq!(
        (&stuck["status"], &stuck["since"], &stuck["days"]),
        (&json!("NON_COMPLIANT"), &json!("2026-03-01"), &json!(4))
    );
    assert_eq!((&stuck["transitions"], &stuck["since_window_start"]), (&json!(0), &json!(true)));
    let back = row(&a, "people", s.id("returner"));
    assert_eq!((&back["since"], &back["days"], &back["transitions"]), (&json!("2026-03-04"), &json!(1), &json!(2)));
    let late = row(&a, "people", s.id("late"));
    assert_eq!((&late["status"], &late["since"], &late["days"]), (&json!("INACTIVE"), &json!("2026-03-04"), &json!(1)));
    let hire = row(&a, "people", s.id("hire"));
    assert_eq!(
        (&hire["status"], &hire["since"], &hire["first_seen"]),
        (&json!("COMPLIANT"), &json!("2026-03-05"), &json!("2026-03-02"))
    );
    assert!(has(&a, "alerts", s.id("stuck")) && !has(&a, "alerts", s.id("fixer")));
    assert!(rows(&a, "alerts").iter().all(|r| r["status"] == "NON_COMPLIANT" && r["days"].as_i64().unwrap() > 3));
    let q = sql(&s, "history_streaks", &["days=3"]);
    same(&a, "people", &q, "tbl", "people", &[]);
    same(&a, "alerts", &q, "tbl", "alerts", &[]);

    // Trend.
    let a = answer(&s, "trend", &[]).await;
    let overall = rows(&a, "overall");
    assert_eq!(overall.len(), 4);
    let act: Vec<i64> = overall.iter().map(|r| r["active"].as_i64().unwrap()).collect();
    // Day 2: returner out, hire in; day 4: late out, returner back; day 5: no change.
    assert_eq!(act[1], act[0]);
    assert_eq!(act[2], act[1]);
    assert_eq!(act[3], act[2]);
    let comp: Vec<i64> = overall.iter().map(|r| r["compliant"].as_i64().unwrap()).collect();
    assert_eq!(comp[3], comp[2] + 1, "hire became compliant on day 5");
    let q = sql(&s, "history_trend", &[]);
    same(&a, "overall", &q, "dimension", "overall", &[("value", "")]);
    same(&a, "by_department", &q, "dimension", "department", &[("value", "department")]);
    same(&a, "by_employment_type", &q, "dimension", "employment_type", &[("value", "employment_type")]);
    assert!(rows(&a, "failing_checks").is_empty());
    assert!(a["tables"]["failing_checks"]["notes"][0].as_str().unwrap().contains("Not available in these snapshots"));

    // Audit sample over 2026-03-02 .. 2026-03-05.
    let window = ["--from", "2026-03-02", "--to", "2026-03-05"];
    let vars = ["history_from=2026-03-02", "history_to=2026-03-05"];
    let a = answer(&s, "audit-sample", &window).await;
    assert_eq!(a["facts"]["snapshots in window"], "3");
    for role in ["fixer", "stuck", "returner", "lingerer", "hire"] {
        assert!(has(&a, "current", s.id(role)), "{role} is current");
    }
    assert!(!has(&a, "current", s.id("late")));
    assert!(has(&a, "hires", s.id("hire")));
    assert!(has(&a, "leavers", s.id("late")) && has(&a, "leavers", s.id("lingerer")));
    assert!(!has(&a, "leavers", s.id("returner")), "left on day 2 but came back");
    assert!(a["tables"]["current"]["notes"][0].as_str().unwrap().contains("not available in these snapshots"));
    let q = sql(&s, "history_audit_sample", &vars);
    for p in ["current", "hires", "leavers"] {
        same(&a, p, &q, "population", p, &[]);
    }
    // Guide snapshots have no assigned policies: the CLI leaves the columns out, the SQL
    // has them null.
    assert!(rows(&a, "current")[0].get("policies_assigned").is_none());
    let pa = q.0.iter().position(|c| c == "policies_assigned").expect("SQL has policies_assigned");
    assert!(q.1.iter().all(|r| r[pa].is_null() && r[pa + 1].is_null()));

    // Offboarding.
    let a = answer(&s, "offboarding", &["--max-lag", "1d"]).await;
    let late = row(&a, "leavers", s.id("late"));
    assert_eq!(
        (&late["end_date"], &late["first_inactive_date"], &late["inactive_lag_days"]),
        (&json!("2026-03-02"), &json!("2026-03-04"), &json!(2))
    );
    let ling = row(&a, "leavers", s.id("lingerer"));
    assert_eq!((&ling["still_active_after_end_date"], &ling["days_past_end_date"]), (&json!(true), &json!(2)));
    assert_eq!(row(&a, "problems", s.id("late"))["problem"], "inactive_lag_over_threshold");
    assert_eq!(row(&a, "problems", s.id("lingerer"))["problem"], "still_active_after_end_date");
    assert!(!has(&a, "leavers", s.id("returner")));
    assert!(a["tables"]["leavers"]["notes"][1].as_str().unwrap().contains("Identity disconnection: not available"));
    let q = sql(&s, "history_offboarding", &["max_lag_days=1"]);
    same(&a, "leavers", &q, "problem", "*", &[]);
    let problems: Vec<&Value> = rows(&a, "problems").iter().collect();
    let (cols, sql_rows) = &q;
    let pi = cols.iter().position(|c| c == "problem").unwrap();
    let ii = cols.iter().position(|c| c == "id").unwrap();
    let sql_problems: Vec<(Value, Value)> =
        sql_rows.iter().filter(|r| !r[pi].is_null()).map(|r| (r[ii].clone(), r[pi].clone())).collect();
    let cli_problems: Vec<(Value, Value)> = problems.iter().map(|r| (r["id"].clone(), r["problem"].clone())).collect();
    assert_eq!(cli_problems, sql_problems);
    // With a 2-day threshold `late` is fine.
    let a = answer(&s, "offboarding", &["--max-lag", "2d"]).await;
    assert!(!has(&a, "problems", s.id("late")));

    // Training due.
    let a = answer(&s, "training-due", &["--within", "400d", "--training-valid-for", "1800d"]).await;
    let q = sql(&s, "history_training_due", &["within_days=400", "training_valid_days=1800"]);
    same(
        &a,
        "new_hires",
        &q,
        "tbl",
        "new_hires",
        &[("date1", "start_date"), ("date2", "deadline"), ("date3", "first_training_completed_at"), ("days_left", "")],
    );
    same(
        &a,
        "expiring_trainings",
        &q,
        "tbl",
        "expiring_trainings",
        &[("date1", "completed_at"), ("date2", "expires_on"), ("date3", ""), ("status", "course")],
    );
    assert!(!rows(&a, "expiring_trainings").is_empty(), "a long validity brings some completions into the horizon");
    let hire_row = rows(&a, "new_hires").iter().find(|r| r["id"] == s.id("hire"));
    if let Some(h) = hire_row {
        assert_eq!(h["deadline"], "2026-04-01");
        assert_eq!(h["status"], "due");
    }
    let a = answer(&s, "training-due", &[]).await;
    assert!(a["tables"]["expiring_trainings"]["notes"][0]
        .as_str()
        .unwrap()
        .contains("not available in these snapshots"));
    assert!(a["tables"]["expiring_checks"]["notes"][0].as_str().unwrap().contains("not available in these snapshots"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_edge_cases_formats_and_bad_input() {
    let s = series().await;

    // One snapshot: no transitions, no gaps, every streak 0 days.
    let a = answer(&s, "streaks", &["--from", "2026-03-01", "--to", "2026-03-01"]).await;
    assert_eq!(a["facts"]["snapshots in window"], "1");
    assert_eq!(a["gaps"], json!([]));
    assert!(rows(&a, "people")
        .iter()
        .all(|r| r["days"] == 0 && r["transitions"] == 0 && r["since_window_start"] == true));
    let q = sql(&s, "history_streaks", &["history_from=2026-03-01", "history_to=2026-03-01"]);
    same(&a, "people", &q, "tbl", "people", &[]);
    // Snapshot ids as bounds.
    let a = answer(&s, "streaks", &["--from", "20260304T020000Z", "--to", "20260305T020000Z"]).await;
    assert_eq!(a["facts"]["snapshots in window"], "2");

    // An empty window is an empty answer that says so.
    for name in ["streaks", "trend", "audit-sample", "offboarding", "training-due"] {
        let a = answer(&s, name, &["--from", "2027-01-01", "--to", "2027-02-01"]).await;
        assert_eq!(a["facts"]["snapshots in window"], "0", "{name}");
        assert!(a["notes"][0].as_str().unwrap().contains("No committed snapshot in this window"), "{name}: {a}");
        for (_, t) in a["tables"].as_object().unwrap() {
            assert!(t["rows"].as_array().unwrap().is_empty(), "{name}");
        }
    }

    // Bad input: exit 64 with a message that says what to do.
    let out = s.out();
    for (args, needle) in [
        (
            vec!["--from", "2026-03-05", "--to", "2026-03-01"],
            "the window is reversed: --from 2026-03-05 is after --to 2026-03-01",
        ),
        (vec!["--from", "20260303T020000Z"], "unknown snapshot id '20260303T020000Z'"),
        (vec!["--to", "March 5th"], "--to 'March 5th' is neither a date like 2026-01-31 nor a snapshot id"),
        (vec!["--table", "nope"], "history streaks has no table 'nope'; its tables are: people, alerts"),
    ] {
        let mut all = vec!["history", "streaks", "--out", out, "--workspace", "acme"];
        all.extend(args.iter().copied());
        let r = cli(&all).await;
        assert_eq!(r.code, 64, "{all:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{all:?}: stderr lacks {needle:?}:\n{}", r.stderr);
    }
    let r = cli(&["history", "offboarding", "--out", out, "--workspace", "acme", "--max-lag", "one day"]).await;
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("is not a number of days like 30d"), "{}", r.stderr);
    // Two workspaces share the root: the answer must be told which.
    let r = cli(&["history", "trend", "--out", out]).await;
    assert_eq!(r.code, 64);
    assert!(r.stderr.contains("several workspaces share"), "{}", r.stderr);
    // The workspace filter: beta's one snapshot of 5 people.
    let r = cli(&["history", "trend", "--out", out, "--workspace", "beta", "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let b: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rows(&b, "overall").len(), 1);
    assert_eq!(rows(&b, "overall")[0]["people"], 5);

    // Formats: text, Markdown, CSV, HTML with line charts, Parquet.
    let base = ["history", "trend", "--out", out, "--workspace", "acme"];
    let r = cli(&[&base[..], &["--format", "html"]].concat()).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("<!DOCTYPE html>") && r.stdout.contains("<path d=\"M"), "line charts");
    assert!(r.stdout.contains("Compliant share of active people (%)"));
    for external in ["<script", "src=", "href=", "<link"] {
        assert!(!r.stdout.contains(external), "no scripts or external assets: {external}");
    }
    let r = cli(&[&base[..], &["--format", "markdown"]].concat()).await;
    assert!(r.stdout.contains("## Per snapshot (4)") && r.stdout.contains("| 2026-03-05 |"), "{}", r.stdout);
    let r = cli(&["history", "streaks", "--out", out, "--workspace", "acme", "--limit", "2"]).await;
    assert!(
        r.stdout.contains("gaps") && r.stdout.contains("20260302T020000Z .. 20260304T020000Z (~1 missing)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("more (raise --limit"), "{}", r.stdout);

    let tmp = tempfile::tempdir().unwrap();
    let pq = tmp.path().join("hires.parquet");
    let r = cli(&[
        "history",
        "audit-sample",
        "--out",
        out,
        "--workspace",
        "acme",
        "--from",
        "2026-03-02",
        "--format",
        "csv",
        "--table",
        "hires",
        "--output-parquet",
        pq.to_str().unwrap(),
    ])
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut lines = r.stdout.lines();
    assert!(lines.next().unwrap().starts_with("email,first_name,last_name,department,id,employment_type,start_date,"));
    let csv_rows: Vec<&str> = lines.collect();
    assert!(csv_rows.iter().any(|l| l.contains(s.id("hire")) && l.contains(",2026-03-02,")), "{}", r.stdout);
    let file = std::fs::File::open(&pq).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = reader.schema().clone();
    let n: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(n, csv_rows.len());
    assert_eq!(schema.field_with_name("start_date").unwrap().data_type(), &arrow::datatypes::DataType::Date32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_sample_policy_acceptance_on_v2_matches_duckdb() {
    // Two v2 snapshots (their runs record assigned policies): every person of every
    // population carries policies_assigned (their personnel_policies rows in their latest
    // snapshot) and policies_accepted (those with accepted_at), equal to the SQL's.
    let sim = start(SimConfig { dialect: SimDialect::V2, ..sim_config(30) }).await;
    let tmp = tempfile::tempdir().unwrap();
    for at in ["2026-05-01T00:00:00Z", "2026-05-04T00:00:00Z"] {
        let r = run_etl(&sim, tmp.path(), &["--run-at", at]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let out = tmp.path().to_str().unwrap();
    let r = cli(&["history", "audit-sample", "--out", out, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let a: Value = serde_json::from_str(&r.stdout).unwrap();
    let current = rows(&a, "current");
    // (accepted, assigned) of the people with assigned policies.
    let counts: Vec<(i64, i64)> = current
        .iter()
        .filter_map(|r| Some((r["policies_accepted"].as_i64()?, r["policies_assigned"].as_i64()?)))
        .collect();
    assert!(counts.len() * 2 > current.len(), "most current people have assigned policies: {a:#}");
    assert!(counts.iter().all(|(acc, all)| acc <= all && *all > 0), "{counts:?}");
    assert!(counts.iter().any(|(acc, all)| acc < all) && counts.iter().any(|(acc, all)| acc == all), "{counts:?}");
    assert!(a["tables"]["current"]["notes"].as_array().unwrap().is_empty(), "no 'not available' note: {a:#}");
    let q = sql_in(tmp.path(), &[], "history_audit_sample", &[]);
    for p in ["current", "hires", "leavers"] {
        same(&a, p, &q, "population", p, &[]);
    }
    sim.shutdown().await;
}
