//! Scale fixture for the "History" section of BENCHMARKS.md (ignored: run by hand, or by
//! `scripts/bench_analytics.sh history`). Writes a history of committed snapshots through the
//! library's own writers, `personnel_org` derivation and commit protocol, exactly the tables
//! a guide-dialect run commits: DAYS snapshots (default 365, one every STEP_HOURS, default
//! 24) of a workspace of PEOPLE (default 10,000) with realistic churn:
//!
//! - ~15% of the starting people leave during the year (inactive from their leave day; 60%
//!   with an end date 0 to 5 days before it, so offboarding lags vary), 1 in 10 leavers comes
//!   back 30 days later; as many hires arrive, spread over the year (start date = hire day);
//! - compliance status is drawn per person per "epoch" of 20 to 120 days (75% COMPLIANT, 15%
//!   NON_COMPLIANT, 10% PENDING), so streaks of every length occur and flip;
//! - 0 to 4 trainings per person, each completing on a drawn day (hires within 0 to 60
//!   days of starting), one background check passing 0 to 20 days after start.
//!
//! ```text
//! DRATA_ETL_HISTORY_OUT=/tmp/history DRATA_ETL_HISTORY_PEOPLE=10000 DRATA_ETL_HISTORY_DAYS=365 \
//!   cargo test --test integration history_scale -- --ignored --nocapture
//! ```

use chrono::{DateTime, Duration, NaiveDate, Utc};
use drata_etl::load::{FileEntry, OutputRoot, SnapshotKey, Table, TableWriter, WriterOptions};
use drata_etl::record::{BackgroundCheck, ComplianceCheck, Control, EnrichedPerson, FetchStatus, Person, Training};
use std::path::Path;

use crate::analytics_scale::{h, id};
use crate::common::commit_staged;
use serde_json::json;

const DEPTS: [&str; 8] = ["Engineering", "Security", "Sales", "Marketing", "Finance", "People", "Product", "IT"];
const COURSES: [&str; 4] = ["Security Awareness", "Privacy Training", "Secure Coding", "Phishing"];

/// Day 0 of the history.
fn day0() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
}

fn date(d: i64) -> NaiveDate {
    day0() + Duration::days(d)
}

/// The people of the workspace over the year: (index, hire day or None for the starting
/// staff, leave day, return day).
struct Life {
    hire: Option<i64>,
    leave: Option<i64>,
    back: Option<i64>,
}

fn life(i: u64, n: u64, days: i64) -> Life {
    if i >= n {
        return Life { hire: Some((h(i, 10) % days as u64) as i64), leave: None, back: None };
    }
    let leaves = h(i, 11) % 100 < 15;
    let leave = leaves.then(|| (h(i, 12) % days as u64) as i64);
    let back = leave.filter(|_| h(i, 13) % 10 == 0).map(|l| l + 30);
    Life { hire: None, leave, back }
}

fn person(i: u64, n: u64, d: i64, days: i64) -> Option<(EnrichedPerson, i64)> {
    let l = life(i, n, days);
    if l.hire.is_some_and(|hd| d < hd) {
        return None;
    }
    let start = l.hire.unwrap_or(-((h(i, 14) % 3000) as i64) - 1);
    let gone = l.leave.is_some_and(|lv| d >= lv) && l.back.is_none_or(|b| d < b);
    let end = if gone && h(i, 15) % 10 < 6 { l.leave.map(|lv| lv - (h(i, 16) % 6) as i64) } else { None };
    let period = 20 + (h(i, 17) % 100) as i64;
    let epoch = (d + (h(i, 18) % period as u64) as i64) / period;
    let status = match h(i, 100 + epoch as u64) % 20 {
        0..=14 => "COMPLIANT",
        15..=17 => "NON_COMPLIANT",
        _ => "PENDING",
    };
    let p = Person {
        id: id(i),
        email: Some(format!("user{i}@acme.example")),
        first_name: Some(["Ana", "Zoë", "Liam", "Priya", "伟", "Søren"][(h(i, 7) % 6) as usize].into()),
        last_name: Some(["García", "Smith", "Nguyễn", "Okafor", "Müller"][(h(i, 8) % 5) as usize].into()),
        department: Some(DEPTS[(h(i, 9) % 8) as usize].into()),
        employment_type: Some(
            ["FULL_TIME", "FULL_TIME", "FULL_TIME", "CONTRACTOR", "PART_TIME"][(h(i, 19) % 5) as usize].into(),
        ),
        start_date: Some(date(start)),
        end_date: end.map(date),
        is_active: Some(!gone),
        role: Some("MEMBER".into()),
        compliance_status: Some(status.into()),
        external_id: Some(format!("HR-{i:07}")),
        ..Default::default()
    };
    Some((
        EnrichedPerson {
            list_fingerprint: p.fingerprint(),
            person: p,
            training_fetch: FetchStatus::Ok,
            background_check_fetch: FetchStatus::Ok,
            policies_fetch: None,
            enriched_at: None,
        },
        start,
    ))
}

fn trainings(i: u64, start: i64, d: i64) -> Vec<Training> {
    (0..h(i, 20) % 5)
        .map(|k| {
            let s = h(i, 21 + k);
            let done = if start >= 0 { start + (s % 61) as i64 } else { start + (s % 400) as i64 };
            let completed = d >= done;
            Training {
                personnel_id: id(i),
                ordinal: k as i32,
                name: Some(COURSES[k as usize].into()),
                status: Some(if completed { "COMPLETED" } else { "NOT_STARTED" }.into()),
                completed_at: completed.then(|| date(done)),
                ..Default::default()
            }
        })
        .collect()
}

fn check(i: u64, start: i64, d: i64) -> BackgroundCheck {
    let done = start + (h(i, 30) % 21) as i64;
    BackgroundCheck {
        personnel_id: id(i),
        ordinal: 0,
        status: Some(if d >= done { "PASSED" } else { "PENDING" }.into()),
        completed_at: (d >= done).then(|| date(done)),
        ..Default::default()
    }
}

fn writer<R: drata_etl::load::TableRow>(s: &drata_etl::load::Staging) -> TableWriter<R> {
    s.writer(WriterOptions::default()).unwrap()
}

fn snapshot(root: &Path, at: DateTime<Utc>, d: i64, n: u64, days: i64) {
    let key = SnapshotKey::from_run_at(at);
    let out = OutputRoot::open(root, None).unwrap();
    let staging = out.begin(&key, &format!("history-{d}")).unwrap();
    let (mut pw, mut tw, mut cw) =
        (writer::<EnrichedPerson>(&staging), writer::<Training>(&staging), writer::<BackgroundCheck>(&staging));
    let hires = n * 15 / 100;
    for i in 0..n + hires {
        let Some((p, start)) = person(i, n, d, days) else { continue };
        pw.push(p).unwrap();
        for t in trainings(i, start, d) {
            tw.push(t).unwrap();
        }
        cw.push(check(i, start, d)).unwrap();
    }
    let mut ctl = writer::<Control>(&staging);
    for k in 0..80u64 {
        ctl.push(Control {
            id: format!("DCF-{k}"),
            name: Some(format!("Control {k}")),
            owner_id: Some(id(h(k, 91) % n)),
            ..Default::default()
        })
        .unwrap();
    }
    let ccw = writer::<ComplianceCheck>(&staging);
    let files: Vec<(Table, Vec<FileEntry>)> = vec![
        (Table::Personnel, pw.finish().unwrap()),
        (Table::PersonnelTraining, tw.finish().unwrap()),
        (Table::PersonnelBackgroundChecks, cw.finish().unwrap()),
        (Table::Controls, ctl.finish().unwrap()),
        (Table::PersonnelComplianceChecks, ccw.finish().unwrap()),
    ];
    commit_staged(staging, &key, files, &format!("history-{d}"), "history-scale");
}

#[test]
#[ignore = "writes a year of snapshots; run by hand for BENCHMARKS.md"]
fn write_history_snapshots() {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let out = std::env::var("DRATA_ETL_HISTORY_OUT").unwrap_or_else(|_| "/tmp/drata-etl-history".into());
    let n = env("DRATA_ETL_HISTORY_PEOPLE", 10_000);
    let count = env("DRATA_ETL_HISTORY_DAYS", 365) as i64;
    let step = env("DRATA_ETL_HISTORY_STEP_HOURS", 24) as i64;
    // The churn calendar is in days whatever the step.
    let days = (count * step / 24).max(1);
    let started = std::time::Instant::now();
    for k in 0..count {
        let at = day0().and_hms_opt(2, 0, 0).unwrap().and_utc() + Duration::hours(k * step);
        snapshot(Path::new(&out), at, k * step / 24, n, days);
    }
    println!(
        "{}",
        json!({"snapshots": count, "people": n, "step_hours": step, "secs": started.elapsed().as_secs_f64()})
    );
}
