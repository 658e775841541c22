//! Scale fixture for the "Analytics" section of BENCHMARKS.md (ignored: run by hand). Writes
//! two synthetic snapshots of N people (default 1,000,000) through the library's own writers,
//! `personnel_org` derivation and commit protocol, with realistic shapes (trainings, checks,
//! controls, a shallow wide org chart) and ~1% changes between them; prints the peak RSS of
//! each `personnel_org` derivation. `report` and `diff` are then timed on the output with the
//! release binary (see BENCHMARKS.md):
//!
//! ```text
//! DRATA_ETL_SCALE_OUT=/tmp/scale DRATA_ETL_SCALE_PEOPLE=1000000 \
//!   cargo test --release --test integration analytics_scale -- --ignored --nocapture
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use drata_etl::load::{FileEntry, OutputRoot, SnapshotKey, Table, TableWriter, WriterOptions};
use drata_etl::record::{BackgroundCheck, Control, EnrichedPerson, FetchStatus, Person, Training};
use serde_json::json;
use std::path::Path;

/// SplitMix64's finaliser: deterministic pseudo-random bits per index (shared with
/// `history_scale`).
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn h(i: u64, salt: u64) -> u64 {
    mix(mix(i) ^ salt)
}

/// Person `i`'s id, UUID-shaped.
pub(crate) fn id(i: u64) -> String {
    format!("{:08x}-{:04x}-4000-8000-{:012x}", h(i, 1) as u32, (h(i, 2) & 0xffff), i)
}

const DEPTS: [&str; 10] = [
    "Engineering",
    "Security",
    "Sales",
    "Marketing",
    "Finance",
    "People",
    "Product",
    "Customer Success",
    "Legal",
    "IT",
];
const COURSES: [&str; 6] =
    ["Security Awareness", "Privacy Training", "HIPAA Training", "Secure Coding", "Acceptable Use Policy", "Phishing"];

fn day(d: i64) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(2012, 1, 1).map(|s| s + chrono::Duration::days(d))
}

/// Person `i` as of snapshot `v` (0 or 1); `v = 1` changes ~1% of people.
fn person(i: u64, v: u64) -> EnrichedPerson {
    let r = |salt| h(i, salt);
    let changed = v == 1 && r(50) % 100 == 0;
    let is_active = r(3) % 10 != 0;
    let is_active = if changed && r(51) % 2 == 0 { !is_active } else { is_active };
    let status = [
        "COMPLIANT",
        "COMPLIANT",
        "COMPLIANT",
        "COMPLIANT",
        "COMPLIANT",
        "COMPLIANT",
        "COMPLIANT",
        "NON_COMPLIANT",
        "NON_COMPLIANT",
        "PENDING",
    ][(r(4).wrapping_add(if changed { r(52) } else { 0 }) % 10) as usize];
    let manager = if i == 0 || r(5) % 50 == 0 {
        None
    } else {
        let u = (r(6) >> 11) as f64 / (1u64 << 53) as f64;
        Some(id(((i as f64) * u * u * u) as u64))
    };
    let p = Person {
        id: id(i),
        email: Some(format!("user{i}@acme.example")),
        first_name: Some(["Ana", "Zoë", "Liam", "Priya", "伟", "Søren"][(r(7) % 6) as usize].into()),
        last_name: Some(["García", "Smith", "Nguyễn", "Okafor", "Müller"][(r(8) % 5) as usize].into()),
        department: Some(DEPTS[(r(9) % 10) as usize].into()),
        employment_type: Some(
            ["FULL_TIME", "FULL_TIME", "FULL_TIME", "CONTRACTOR", "PART_TIME"][(r(10) % 5) as usize].into(),
        ),
        start_date: day((r(11) % 4000) as i64),
        end_date: if !is_active && r(12) % 10 < 6 { day(4000 + (r(13) % 900) as i64) } else { None },
        is_active: Some(is_active),
        role: Some("MEMBER".into()),
        manager_id: manager,
        compliance_status: Some(status.into()),
        external_id: Some(format!("HR-{i:07}")),
        ..Default::default()
    };
    EnrichedPerson {
        list_fingerprint: p.fingerprint(),
        person: p,
        training_fetch: FetchStatus::Ok,
        background_check_fetch: FetchStatus::Ok,
        policies_fetch: None,
        enriched_at: None,
    }
}

fn trainings(i: u64, v: u64) -> Vec<Training> {
    let n = h(i, 20) % 5;
    (0..n)
        .map(|k| {
            let s = h(i, 21 + k);
            let mut status =
                ["COMPLETED", "COMPLETED", "COMPLETED", "IN_PROGRESS", "NOT_STARTED", "EXPIRED"][(s % 6) as usize];
            if v == 1 && status != "COMPLETED" && h(i, 60 + k) % 50 == 0 {
                status = "COMPLETED";
            }
            Training {
                personnel_id: id(i),
                ordinal: k as i32,
                name: Some(COURSES[((s >> 8) % 6) as usize].into()),
                status: Some(status.into()),
                completed_at: if status == "COMPLETED" { day(3000 + (s >> 16) as i64 % 1500) } else { None },
                ..Default::default()
            }
        })
        .collect()
}

fn checks(i: u64, v: u64) -> Vec<BackgroundCheck> {
    let n = [0, 1, 1, 1, 1, 1, 2][(h(i, 30) % 7) as usize];
    (0..n)
        .map(|k| {
            let s = h(i, 31 + k);
            let mut status = ["PASSED", "PASSED", "PASSED", "PASSED", "PENDING", "FAILED"][(s % 6) as usize];
            if v == 1 && status == "PENDING" && h(i, 70) % 4 == 0 {
                status = "PASSED";
            }
            BackgroundCheck {
                personnel_id: id(i),
                ordinal: k as i32,
                status: Some(status.into()),
                completed_at: if status == "PENDING" { None } else { day(2000 + (s >> 8) as i64 % 2000) },
                ..Default::default()
            }
        })
        .collect()
}

fn writer<R: drata_etl::load::TableRow>(s: &drata_etl::load::Staging) -> TableWriter<R> {
    s.writer(WriterOptions::default()).unwrap()
}

/// Peak RSS (kB) since the last reset, and a reset (Linux: /proc/self/clear_refs).
fn peak_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn current_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn snapshot(root: &Path, run_at: &str, n: u64, v: u64) {
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(run_at).unwrap().to_utc();
    let key = SnapshotKey::from_run_at(at);
    let out = OutputRoot::open(root, None).unwrap();
    let staging = out.begin(&key, &format!("scale-{v}")).unwrap();
    let (mut pw, mut tw, mut cw) =
        (writer::<EnrichedPerson>(&staging), writer::<Training>(&staging), writer::<BackgroundCheck>(&staging));
    let started = std::time::Instant::now();
    // Snapshot 1 drops ~0.1% of people and adds as many new ones.
    let added = if v == 1 { n / 1000 } else { 0 };
    for i in 0..n + added {
        if v == 1 && i < n && h(i, 40) % 1000 == 0 {
            continue;
        }
        pw.push(person(i, v)).unwrap();
        for t in trainings(i, v) {
            tw.push(t).unwrap();
        }
        for c in checks(i, v) {
            cw.push(c).unwrap();
        }
    }
    let mut ctl = writer::<Control>(&staging);
    for k in 0..80u64 {
        let owner = match h(k, 90 + v * (k % 7 == 0) as u64) % 10 {
            0 => None,
            o => Some(id(h(k, 91 + o) % n)),
        };
        ctl.push(Control {
            id: format!("DCF-{k}"),
            name: Some(format!("Control {k}")),
            owner_id: owner,
            ..Default::default()
        })
        .unwrap();
    }
    let mut files: Vec<(Table, Vec<FileEntry>)> = vec![
        (Table::Personnel, pw.finish().unwrap()),
        (Table::PersonnelTraining, tw.finish().unwrap()),
        (Table::PersonnelBackgroundChecks, cw.finish().unwrap()),
        (Table::Controls, ctl.finish().unwrap()),
    ];
    let written = started.elapsed().as_secs_f64();
    let before = current_kb();
    reset_peak();
    let t = std::time::Instant::now();
    files
        .push((Table::PersonnelOrg, drata_etl::load::org::derive(&staging, &files, WriterOptions::default()).unwrap()));
    println!(
        "{}",
        json!({"snapshot": key.id, "people": files[0].1.iter().map(|f| f.rows).sum::<u64>(), "write_secs": written,
               "org_derive_secs": t.elapsed().as_secs_f64(), "rss_before_kb": before, "org_derive_peak_rss_kb": peak_kb(),
               "org_derive_added_kb": peak_kb().saturating_sub(before)})
    );
    crate::common::commit_manifest(staging, &key, files, &format!("scale-{v}"), "scale");
}

#[test]
#[ignore = "writes two large snapshots; run by hand for BENCHMARKS.md"]
fn write_scale_snapshots() {
    let out = std::env::var("DRATA_ETL_SCALE_OUT").unwrap_or_else(|_| "/tmp/drata-etl-scale".into());
    let n: u64 = std::env::var("DRATA_ETL_SCALE_PEOPLE").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let root = Path::new(&out);
    snapshot(root, "2026-05-01T00:00:00Z", n, 0);
    snapshot(root, "2026-05-02T00:00:00Z", n, 1);
}
