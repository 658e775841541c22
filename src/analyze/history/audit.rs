//! `history audit-sample`: the populations an auditor samples from for a window
//! (`--from`/`--to`), each person with what the auditor checks.
//!
//! - current: listed in the window's last snapshot and active there;
//! - hires: start_date inside the window;
//! - leavers: end_date inside the window, or active in one of the window's snapshots and
//!   inactive in their latest one (a leaver without an end date).
//!
//! Each person is described by their latest record in the window (their status at the
//! window's end) and the training and background-check rows of that same snapshot:
//! the first completed training (COMPLETED; PASS on real dialects) and whether it came
//! within 30 days of start_date, the background check (passed: PASSED, or OK on real
//! dialects; the status of the last check listed; the latest date), and policy acceptance
//! when the snapshots have a `personnel_policies` table.
//! `history offboarding` uses the same per-person view (`people_in_window`).

use super::{collect, date_lit, person_columns, s, Answer, AnswerTable, Window, PERSON};
use crate::analyze::people::{active, inactive};
use crate::error::EtlError;
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::BTreeSet;

/// Per person: their latest record in the window, `last_snap`, `last_active_snap` /
/// `last_active_date` (null if never active in the window), `first_inactive_date` /
/// `first_inactive_snap` (the first snapshot after their last active one that shows them
/// inactive) and `leaver` (see the module docs); and the window positions holding someone's
/// latest record (usually just the last snapshot), the only snapshots whose other tables
/// an answer needs. `None` for an empty window.
pub(crate) fn people_in_window(
    w: &Window,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Option<(LazyFrame, BTreeSet<usize>)>, EtlError> {
    let mut cols = person_columns();
    cols.extend([
        ("employment_type", s()),
        ("start_date", DataType::Date),
        ("end_date", DataType::Date),
        ("is_active", DataType::Boolean),
        ("compliance_status", s()),
        ("training_fetch_status", s()),
        ("background_check_fetch_status", s()),
    ]);
    // First over the whole window with two columns: where each person's latest record is
    // and when they were last active, then when they were first inactive after that. Both
    // are plain per-person reductions (no filter inside an aggregation), which Polars'
    // streaming engine runs without materialising the window's rows.
    let Some(rows) = w.scan("personnel", &[("id", s()), ("is_active", DataType::Boolean)])? else { return Ok(None) };
    let if_active = |c: &str| when(active()).then(col(c)).otherwise(lit(NULL));
    let agg = collect(
        rows.clone().group_by([col("id")]).agg([
            col("snap").max().alias("last_snap"),
            if_active("snap").max().alias("last_active_snap"),
            if_active("snapshot_date").max().alias("last_active_date"),
        ]),
        "history: people in the window",
    )?;
    let first_inactive = rows
        .filter(inactive())
        .join(
            agg.clone().lazy().select([col("id"), col("last_active_snap")]),
            [col("id")],
            [col("id")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("snap").gt(col("last_active_snap").fill_null(lit(-1))))
        .group_by([col("id")])
        .agg([col("snapshot_date").min().alias("first_inactive_date"), col("snap").min().alias("first_inactive_snap")]);
    let agg = collect(
        agg.lazy().join(first_inactive, [col("id")], [col("id")], JoinArgs::new(JoinType::Left)),
        "history: people in the window",
    )?;
    let needed: BTreeSet<usize> = agg
        .column("last_snap")
        .and_then(|c| c.cast(&DataType::Int64))
        .map_err(crate::analyze::polars_err("history: people in the window"))?
        .i64()
        .map_err(crate::analyze::polars_err("history: people in the window"))?
        .into_no_null_iter()
        .map(|v| v.max(0) as usize)
        .collect();
    // Then the full records, from those snapshots only.
    let Some(full) = w.scan_where("personnel", &cols, |i| needed.contains(&i))? else { return Ok(None) };
    let in_window = |c: &str| col(c).gt_eq(date_lit(from)).and(col(c).lt_eq(date_lit(to))).fill_null(lit(false));
    let per = full
        .join(agg.lazy(), [col("id"), col("snap")], [col("id"), col("last_snap")], JoinArgs::new(JoinType::Inner))
        .with_column(col("snap").alias("last_snap"))
        .drop(by_name(["snap", "snapshot_id", "snapshot_date"], true, false))
        .with_column(
            in_window("end_date")
                .or(col("is_active").eq(lit(false)).fill_null(lit(false)).and(col("last_active_snap").is_not_null()))
                .alias("leaver"),
        );
    Ok(Some((per, needed)))
}

fn completed(c: &str) -> Expr {
    crate::analyze::vocab::any_training_done(c)
}

pub fn audit_sample(w: &Window) -> Result<Answer, EtlError> {
    let mut a = Answer::new("audit-sample", "Audit sample populations", w)?;
    let last = w.selected.len() as i32 - 1;
    let (Some(from), Some(to)) = (w.from, w.to) else {
        for (name, title) in POPULATIONS {
            a.tables.push(AnswerTable::new(name, title, super::empty(&[("id", s())])));
        }
        return Ok(a);
    };
    let Some((per, needed)) = people_in_window(w, from, to)? else {
        for (name, title) in POPULATIONS {
            a.tables.push(AnswerTable::new(name, title, super::empty(&[("id", s())])));
        }
        return Ok(a);
    };
    let keys = || per.clone().select([col("id").alias("pid"), col("last_snap")]);
    let on = |lf: LazyFrame| {
        lf.join(
            keys(),
            [col("personnel_id"), col("snap")],
            [col("pid"), col("last_snap")],
            JoinArgs::new(JoinType::Inner),
        )
    };
    let mut sample = per.clone();
    if let Some(t) = w.scan_where(
        "personnel_training",
        &[("personnel_id", s()), ("status", s()), ("completed_at", DataType::Date)],
        |i| needed.contains(&i),
    )? {
        let t = on(t).group_by([col("personnel_id")]).agg([
            col("completed_at").filter(completed("status")).min().alias("first_training_completed_at"),
            completed("status").cast(DataType::Int64).sum().alias("trainings_completed"),
            len().cast(DataType::Int64).alias("trainings_assigned"),
        ]);
        sample = sample.join(t, [col("id")], [col("personnel_id")], JoinArgs::new(JoinType::Left));
    } else {
        sample = sample.with_columns([
            lit(NULL).cast(DataType::Date).alias("first_training_completed_at"),
            lit(NULL).cast(DataType::Int64).alias("trainings_completed"),
            lit(NULL).cast(DataType::Int64).alias("trainings_assigned"),
        ]);
    }
    let passed = crate::analyze::vocab::any_check_passed("status");
    if let Some(b) = w.scan_where(
        "personnel_background_checks",
        &[("personnel_id", s()), ("ordinal", DataType::Int32), ("status", s()), ("completed_at", DataType::Date)],
        |i| needed.contains(&i),
    )? {
        let b = on(b).group_by([col("personnel_id")]).agg([
            col("status")
                .sort_by([col("ordinal")], SortMultipleOptions::default())
                .last()
                .alias("background_check_status"),
            passed.max().alias("background_check_passed"),
            col("completed_at").max().alias("background_check_date"),
        ]);
        sample = sample.join(b, [col("id")], [col("personnel_id")], JoinArgs::new(JoinType::Left));
    } else {
        sample = sample.with_columns([
            lit(NULL).cast(DataType::String).alias("background_check_status"),
            lit(NULL).cast(DataType::Boolean).alias("background_check_passed"),
            lit(NULL).cast(DataType::Date).alias("background_check_date"),
        ]);
    }
    let policies = w.has_rows("personnel_policies");
    if policies {
        // accepted_at as written, a UTC timestamp (Polars cannot cast one to text).
        let utc = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        if let Some(p) =
            w.scan_where("personnel_policies", &[("personnel_id", s()), ("accepted_at", utc)], |i| needed.contains(&i))?
        {
            let p = on(p).group_by([col("personnel_id")]).agg([
                len().cast(DataType::Int64).alias("policies_assigned"),
                col("accepted_at").is_not_null().cast(DataType::Int64).sum().alias("policies_accepted"),
            ]);
            sample = sample.join(p, [col("id")], [col("personnel_id")], JoinArgs::new(JoinType::Left));
        }
    }
    let within = when(col("start_date").is_null())
        .then(lit(NULL).cast(DataType::Boolean))
        .otherwise(
            (col("first_training_completed_at").cast(DataType::Int32) - col("start_date").cast(DataType::Int32))
                .lt_eq(lit(30))
                .fill_null(lit(false)),
        )
        .alias("training_within_30_days");
    let mut out: Vec<Expr> = PERSON.iter().map(|c| col(*c)).collect();
    out.extend(
        ["employment_type", "start_date", "end_date", "is_active", "compliance_status", "first_training_completed_at"]
            .map(col),
    );
    out.push(within);
    out.extend(
        [
            "trainings_completed",
            "trainings_assigned",
            "background_check_status",
            "background_check_passed",
            "background_check_date",
        ]
        .map(col),
    );
    if policies {
        out.extend([col("policies_assigned"), col("policies_accepted")]);
    }
    out.extend([col("training_fetch_status"), col("background_check_fetch_status")]);
    let base = collect(sample, "history audit-sample")?.lazy();
    let pick = |filter: Expr| {
        collect(
            base.clone()
                .filter(filter)
                .select(out.clone())
                .sort(["email", "id"], SortMultipleOptions::default().with_nulls_last(true)),
            "history audit-sample",
        )
    };
    let in_window = |c: &str| col(c).gt_eq(date_lit(from)).and(col(c).lt_eq(date_lit(to))).fill_null(lit(false));
    let policy_note = "Policy acceptance: not available in these snapshots (no personnel_policies rows; real-dialect runs of newer versions record assigned policies).";
    let mut tables = vec![
        AnswerTable::new(POPULATIONS[0].0, POPULATIONS[0].1, pick(col("last_snap").eq(lit(last)).and(active()))?),
        AnswerTable::new(POPULATIONS[1].0, POPULATIONS[1].1, pick(in_window("start_date"))?),
        AnswerTable::new(POPULATIONS[2].0, POPULATIONS[2].1, pick(col("leaver"))?),
    ];
    if !policies {
        for t in &mut tables {
            t.notes.push(policy_note.into());
        }
    }
    tables[2].notes.push(
        "Leavers: end_date inside the window, or active in one of its snapshots and inactive in their latest one."
            .into(),
    );
    a.tables.extend(tables);
    Ok(a)
}

const POPULATIONS: [(&str, &str); 3] = [
    ("current", "Current employees at the window's end"),
    ("hires", "New hires who started inside the window"),
    ("leavers", "People who left inside the window"),
];
