//! `history offboarding`: for the window's leavers (as in `audit-sample`), how long after
//! their end date the history first shows them inactive, and (real dialects, when the
//! snapshots have a `personnel_identities` table) when their identities disconnected.
//!
//! `inactive_lag_days` = first inactive snapshot's date - end_date. Over a gap the first
//! inactive snapshot may come late, so the lag is an upper bound there. People already
//! inactive in the window's first snapshot have no observable lag (`inactive_before_window`).
//! Leavers still active in the window's last snapshot although their end date has passed
//! are flagged `still_active_after_end_date` (their lag is at least `days_past_end_date`).
//! `problems` lists the over-threshold ones (`--max-lag`).

use super::audit::people_in_window;
use super::{collect, date_lit, days_between, s, Answer, AnswerTable, Window, PERSON};
use crate::analyze::people::active;
use crate::error::EtlError;
use polars::prelude::*;

pub fn offboarding(w: &Window, max_lag_days: u32) -> Result<Answer, EtlError> {
    let mut a = Answer::new("offboarding", "Offboarding timeliness", w)?;
    a.facts.push(("max lag".into(), format!("{max_lag_days} days")));
    let (Some(from), Some(to), Some(as_of)) = (w.from, w.to, w.as_of()?) else {
        a.tables.push(AnswerTable::new("leavers", "Leavers", super::empty(&[("id", s())])));
        a.tables.push(AnswerTable::new("problems", "Over the threshold", super::empty(&[("id", s())])));
        return Ok(a);
    };
    let Some((per, needed)) = people_in_window(w, from, to)? else {
        a.tables.push(AnswerTable::new("leavers", "Leavers", super::empty(&[("id", s())])));
        a.tables.push(AnswerTable::new("problems", "Over the threshold", super::empty(&[("id", s())])));
        return Ok(a);
    };
    let mut leavers = per.filter(col("leaver")).with_columns([
        col("first_inactive_snap").eq(lit(0)).fill_null(lit(false)).alias("inactive_before_window"),
        // Still active in their latest record (and that record is the window's last).
        active()
            .and(col("last_snap").eq(lit(w.selected.len() as i32 - 1)))
            .and(col("end_date").lt(date_lit(as_of)).fill_null(lit(false)))
            .alias("still_active_after_end_date"),
    ]);
    leavers = leavers.with_columns([
        when(col("inactive_before_window"))
            .then(lit(NULL).cast(DataType::Int32))
            .otherwise(days_between(col("end_date"), col("first_inactive_date")))
            .alias("inactive_lag_days"),
        when(col("still_active_after_end_date"))
            .then(days_between(col("end_date"), date_lit(as_of)))
            .otherwise(lit(NULL).cast(DataType::Int32))
            .alias("days_past_end_date"),
    ]);
    let identities = w.has_rows("personnel_identities");
    let mut notes = Vec::new();
    if identities {
        let cols = [("personnel_id", s()), ("disconnected_at", DataType::Datetime(TimeUnit::Microseconds, None))];
        if let Some(i) = w.scan_where("personnel_identities", &cols, |i| needed.contains(&i))? {
            let i = i
                .join(
                    leavers.clone().select([col("id").alias("pid"), col("last_snap")]),
                    [col("personnel_id"), col("snap")],
                    [col("pid"), col("last_snap")],
                    JoinArgs::new(JoinType::Inner),
                )
                .group_by([col("personnel_id")])
                .agg([
                    len().cast(DataType::Int64).alias("identities"),
                    col("disconnected_at").is_null().cast(DataType::Int64).sum().alias("identities_connected"),
                    col("disconnected_at").max().cast(DataType::Date).alias("identity_disconnected_at"),
                ]);
            leavers = leavers
                .join(i, [col("id")], [col("personnel_id")], JoinArgs::new(JoinType::Left))
                .with_column(days_between(col("end_date"), col("identity_disconnected_at")).alias("identity_lag_days"));
        }
    } else {
        notes.push("Identity disconnection: not available in these snapshots (no personnel_identities rows; real-dialect runs of newer versions record identities).".to_string());
    }
    let mut out: Vec<Expr> = PERSON.iter().map(|c| col(*c)).collect();
    out.extend(
        [
            "end_date",
            "is_active",
            "last_active_date",
            "first_inactive_date",
            "inactive_lag_days",
            "inactive_before_window",
            "still_active_after_end_date",
            "days_past_end_date",
        ]
        .map(col),
    );
    if identities {
        out.extend(["identities", "identities_connected", "identity_disconnected_at", "identity_lag_days"].map(col));
    }
    let all = collect(
        leavers.select(out).sort(["email", "id"], SortMultipleOptions::default().with_nulls_last(true)),
        "history offboarding",
    )?;
    let max = lit(max_lag_days as i32);
    let mut problem = when(col("still_active_after_end_date"))
        .then(lit("still_active_after_end_date"))
        .when(col("inactive_lag_days").gt(max.clone()).fill_null(lit(false)))
        .then(lit("inactive_lag_over_threshold"));
    if identities {
        problem = problem
            .when(col("identity_lag_days").gt(max.clone()).fill_null(lit(false)))
            .then(lit("identity_lag_over_threshold"))
            .when(col("identities_connected").gt(lit(0)).fill_null(lit(false)))
            .then(lit("identity_still_connected"));
    }
    let problems = collect(
        all.clone()
            .lazy()
            .with_column(problem.otherwise(lit(NULL).cast(DataType::String)).alias("problem"))
            .filter(col("problem").is_not_null()),
        "history offboarding",
    )?;
    let mut t = AnswerTable::new("leavers", "Leavers and when the history shows them inactive", all);
    t.notes.push("inactive_lag_days = first snapshot showing them inactive - end_date (an upper bound across a gap); inactive_before_window: already inactive in the window's first snapshot (no observable lag).".into());
    t.notes.extend(notes);
    a.tables.push(t);
    a.tables.push(AnswerTable::new("problems", format!("Leavers over {max_lag_days} days or still active"), problems));
    Ok(a)
}
