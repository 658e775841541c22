//! `history streaks`: how long each person has been in their current state, and who has been
//! non-compliant for more than `--days` days.
//!
//! A person's state in a snapshot is `INACTIVE` when `is_active` is false, otherwise their
//! `compliance_status` (`(none)` when null). The current streak is the run of the person's
//! last states that equal their state in the window's last snapshot; it starts ("since") at
//! the first snapshot of that run. Snapshots missing from the history (gaps) and snapshots
//! that do not list the person are skipped, not counted as changes: the same state on both
//! sides of a gap is one streak, and a change across a gap is dated at the first snapshot
//! that shows it. `days` counts calendar days from "since" to the last snapshot; when the
//! streak already ran in the window's first snapshot it is a lower bound
//! (`since_window_start`). Only people listed in the window's last snapshot are shown.

use super::{collect, date_lit, days_between, empty, person_columns, s, Answer, AnswerTable, Window, PERSON};
use crate::error::EtlError;
use polars::prelude::*;

/// The state a streak follows.
fn state() -> Expr {
    when(col("is_active").eq(lit(false)).fill_null(lit(false)))
        .then(lit("INACTIVE"))
        .otherwise(col("compliance_status").fill_null(lit(super::super::people::NONE_LABEL)))
}

fn out_columns() -> Vec<(&'static str, DataType)> {
    let mut c = person_columns();
    c.extend([
        ("status", s()),
        ("since", DataType::Date),
        ("days", DataType::Int32),
        ("since_window_start", DataType::Boolean),
        ("transitions", DataType::Int32),
        ("first_seen", DataType::Date),
    ]);
    c
}

pub fn streaks(w: &Window, days: u32) -> Result<Answer, EtlError> {
    let mut a = Answer::new("streaks", "Compliance streaks", w)?;
    a.facts.push(("alert threshold".into(), format!("non-compliant for more than {days} days")));
    // The people shown are those of the last snapshot: their current state is their state
    // there. Over the whole window only small integers travel into the per-person pass
    // (which Polars runs in memory: its ordered comparisons do not stream): a code per
    // person of the last snapshot instead of a 36-character id, a code per distinct state
    // instead of its text, and the snapshot's position instead of its date (an hourly year,
    // 9.4M rows, needed 1.3 GB with ids and states as text). The state codes come from a
    // categorical of this answer's own, filled as the rows stream by, so the window is read
    // once (collecting its distinct states first cost a pass over every file: 3 s of 9 over
    // 8,760 hourly snapshots); `categories` keeps the mapping alive while both plans run.
    let mut last_cols = person_columns();
    last_cols.extend([("is_active", DataType::Boolean), ("compliance_status", s())]);
    let cols = [("id", s()), ("is_active", DataType::Boolean), ("compliance_status", s())];
    let (Some(lf), Some(last_people), Some(as_of)) =
        (w.scan("personnel", &cols)?, w.scan_last("personnel", &last_cols)?, w.as_of()?)
    else {
        a.tables.push(AnswerTable::new("people", "Current streak per person", empty(&out_columns())));
        a.tables.push(AnswerTable::new("alerts", "Non-compliant too long", empty(&out_columns())));
        return Ok(a);
    };
    let inner = || JoinArgs::new(JoinType::Inner);
    let categories = DataType::from_categories(Categories::random("history streaks".into(), CategoricalPhysical::U32));
    let state_code = || state().cast(categories.clone()).to_physical();
    let mut current: Vec<Expr> = PERSON.iter().map(|c| col(*c)).collect();
    current.extend([state().alias("status"), state_code().alias("status_code")]);
    let current = collect(last_people.select(current).with_row_index("code", None), "history streaks")?;
    let rows = lf
        .select([col("id"), col("snap"), state_code().alias("state_code")])
        .join(
            current.clone().lazy().select([col("id"), col("code"), col("status_code")]),
            [col("id")],
            [col("id")],
            inner(),
        )
        .select([
            col("code"),
            col("snap"),
            col("state_code"),
            col("state_code").neq(col("status_code")).alias("other"),
        ]);
    // One pass per person, each group in snapshot order: the transitions between
    // consecutive appearances, the first appearance, the last snapshot that showed another
    // state (`break_snap`) and the streak's start after it.
    let ordered = col("state_code").sort_by([col("snap")], SortMultipleOptions::default());
    let break_snap = col("snap").filter(col("other")).max().fill_null(lit(-1));
    let per = rows.group_by([col("code")]).agg([
        ordered.clone().neq(ordered.shift(lit(1))).cast(DataType::Int32).sum().alias("transitions"),
        col("snap").min().alias("first_snap"),
        col("snap").filter(col("snap").gt(break_snap)).min().alias("since_snap"),
    ]);
    let date_of = |snap: &str, name: &str| {
        w.snapshot_dates().map(|d| d.select([col("snap").alias(snap), col("snapshot_date").alias(name)]))
    };
    let people = current
        .lazy()
        .join(per, [col("code")], [col("code")], inner())
        .join(date_of("first_snap", "first_seen")?, [col("first_snap")], [col("first_snap")], inner())
        .join(date_of("since_snap", "since")?, [col("since_snap")], [col("since_snap")], inner())
        .with_columns([
            days_between(col("since"), date_lit(as_of)).alias("days"),
            col("since_snap").eq(lit(0)).alias("since_window_start"),
        ])
        .select(out_columns().iter().map(|(n, _)| col(*n)).collect::<Vec<_>>())
        .sort(
            ["days", "email", "id"],
            SortMultipleOptions::default().with_order_descending_multi([true, false, false]).with_nulls_last(true),
        );
    let people = collect(people, "history streaks")?;
    let alerts = collect(
        people
            .clone()
            .lazy()
            .filter(crate::analyze::vocab::any_non_compliant("status").and(col("days").gt(lit(days as i32)))),
        "history streaks alerts",
    )?;
    a.tables.push(
        AnswerTable::new("people", "Current streak per person", people)
            .note("State: INACTIVE when is_active is false, else compliance_status. Gaps and snapshots that do not list a person are skipped, never counted as changes; `since_window_start` marks streaks already running in the window's first snapshot (days is then a lower bound)."),
    );
    a.tables.push(AnswerTable::new("alerts", format!("Non-compliant for more than {days} days"), alerts));
    Ok(a)
}
