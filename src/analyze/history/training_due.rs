//! `history training-due`: as of the window's last snapshot, what expires within `--within`
//! days, and new hires not trained within 30 days of their start date.
//!
//! - expiring_checks: compliance checks (real dialects' `personnel_compliance_checks`) of
//!   active people whose `expires_at` falls in [as_of, as_of + within];
//! - expiring_trainings: guide training rows carry no expiry date; with
//!   `--training-valid-for D` a COMPLETED training expires D days after `completed_at`
//!   (an annual-retraining policy), listed when that falls in [as_of, as_of + within];
//! - new_hires: active people who started inside the window whose first completed training
//!   (COMPLETED; PASS on real dialects) is missing or came more than 30 days after
//!   start_date: `overdue` (the 30 days are over, still untrained), `due` (still inside
//!   them), `trained_late`. People whose training list could not be fetched are left out.

use super::{collect, date_lit, days_between, person_columns, s, Answer, AnswerTable, Window, PERSON};
use crate::analyze::people::active;
use crate::error::EtlError;
use polars::prelude::*;

pub fn training_due(w: &Window, within_days: u32, valid_for: Option<u32>) -> Result<Answer, EtlError> {
    let mut a = Answer::new("training-due", "Training and checks due", w)?;
    a.facts.push(("within".into(), format!("{within_days} days")));
    let (Some(as_of), Some(from)) = (w.as_of()?, w.from) else {
        for n in ["new_hires", "expiring_trainings", "expiring_checks"] {
            a.tables.push(AnswerTable::new(n, n, super::empty(&[("id", s())])));
        }
        return Ok(a);
    };
    let horizon = as_of + chrono::Duration::days(i64::from(within_days));
    let last = w.selected.len() as i32 - 1;
    let mut cols = person_columns();
    cols.extend([("is_active", DataType::Boolean), ("start_date", DataType::Date), ("training_fetch_status", s())]);
    let people = w.scan_last("personnel", &cols)?.map(|p| {
        p.filter(col("snap").eq(lit(last)).and(active())).drop(by_name(["snapshot_id", "snapshot_date"], true, false))
    });
    let Some(people) = people else {
        for n in ["new_hires", "expiring_trainings", "expiring_checks"] {
            a.tables.push(AnswerTable::new(n, n, super::empty(&[("id", s())])));
        }
        return Ok(a);
    };
    let trainings = w
        .scan_last(
            "personnel_training",
            &[("personnel_id", s()), ("name", s()), ("status", s()), ("completed_at", DataType::Date)],
        )?
        .map(|t| t.filter(col("snap").eq(lit(last))));
    let done = crate::analyze::vocab::any_training_done("status");
    let person_out = || PERSON.iter().map(|c| col(*c)).collect::<Vec<_>>();

    // New hires not trained within 30 days.
    let first = match &trainings {
        Some(t) => t
            .clone()
            .group_by([col("personnel_id")])
            .agg([col("completed_at").filter(done.clone()).min().alias("first_training_completed_at")]),
        None => super::empty(&[("personnel_id", s()), ("first_training_completed_at", DataType::Date)]).lazy(),
    };
    let deadline = (col("start_date").cast(DataType::Int32) + lit(30)).cast(DataType::Date);
    let status = when(col("first_training_completed_at").is_null().and(col("deadline").lt(date_lit(as_of))))
        .then(lit("overdue"))
        .when(col("first_training_completed_at").is_null())
        .then(lit("due"))
        .when(col("first_training_completed_at").gt(col("deadline")))
        .then(lit("trained_late"))
        .otherwise(lit(NULL).cast(DataType::String));
    let mut out = person_out();
    out.extend(["start_date", "deadline", "first_training_completed_at", "status"].map(col));
    let hires = collect(
        people
            .clone()
            .filter(
                col("start_date")
                    .gt_eq(date_lit(from))
                    .and(col("start_date").lt_eq(date_lit(as_of)))
                    .and(col("training_fetch_status").eq(lit("ok")))
                    .fill_null(lit(false)),
            )
            .join(first, [col("id")], [col("personnel_id")], JoinArgs::new(JoinType::Left))
            .with_column(deadline.alias("deadline"))
            .with_column(status.alias("status"))
            .filter(col("status").is_not_null())
            .select(out)
            .sort(["deadline", "email", "id"], SortMultipleOptions::default().with_nulls_last(true)),
        "history training-due",
    )?;
    a.tables.push(
        AnswerTable::new("new_hires", "New hires not trained within 30 days of their start", hires)
            .note("Hires: active people in the last snapshot whose start_date is inside the window; deadline = start_date + 30 days."),
    );

    // Trainings expiring under a validity period.
    let mut t = match (valid_for, &trainings) {
        (Some(days), Some(t)) => {
            let mut out = person_out();
            out.extend(["course", "completed_at", "expires_on", "days_left"].map(col));
            let df = collect(
                t.clone()
                    .filter(done.clone())
                    .with_column((col("completed_at").cast(DataType::Int32) + lit(days as i32)).cast(DataType::Date).alias("expires_on"))
                    .filter(col("expires_on").gt_eq(date_lit(as_of)).and(col("expires_on").lt_eq(date_lit(horizon))))
                    .join(people.clone(), [col("personnel_id")], [col("id")], JoinArgs::new(JoinType::Inner))
                    .with_columns([col("personnel_id").alias("id"), col("name").alias("course"), days_between(date_lit(as_of), col("expires_on")).alias("days_left")])
                    .select(out)
                    .sort(["expires_on", "email", "id", "course"], SortMultipleOptions::default().with_nulls_last(true)),
                "history training-due",
            )?;
            AnswerTable::new("expiring_trainings", format!("Trainings expiring by {horizon} ({days}-day validity)"), df)
        }
        _ => AnswerTable::new("expiring_trainings", "Trainings expiring", super::empty(&[("id", s())]))
            .note("Training expiry: not available in these snapshots (training rows carry no expiry date); pass --training-valid-for 365d to treat each completion as valid for a period."),
    };
    t.notes.push(format!("As of {as_of}, horizon {horizon}."));
    a.tables.push(t);

    // Compliance checks expiring (real dialects).
    let checks = if w.has_rows("personnel_compliance_checks") {
        w.scan_last(
            "personnel_compliance_checks",
            &[
                ("personnel_id", s()),
                ("type", s()),
                ("status", s()),
                ("expires_at", DataType::Datetime(TimeUnit::Microseconds, Some(polars::prelude::TimeZone::UTC))),
            ],
        )?
    } else {
        None
    };
    match checks {
        Some(c) => {
            let mut out = person_out();
            out.extend(["check_type", "check_status", "expires_on", "days_left"].map(col));
            let df = collect(
                c.filter(col("snap").eq(lit(last)))
                    .with_column(col("expires_at").cast(DataType::Date).alias("expires_on"))
                    .filter(col("expires_on").gt_eq(date_lit(as_of)).and(col("expires_on").lt_eq(date_lit(horizon))))
                    .join(people, [col("personnel_id")], [col("id")], JoinArgs::new(JoinType::Inner))
                    .with_columns([
                        col("personnel_id").alias("id"),
                        col("type").alias("check_type"),
                        col("status").alias("check_status"),
                        days_between(date_lit(as_of), col("expires_on")).alias("days_left"),
                    ])
                    .select(out)
                    .sort(["expires_on", "email", "id", "check_type"], SortMultipleOptions::default().with_nulls_last(true)),
                "history training-due",
            )?;
            a.tables.push(AnswerTable::new("expiring_checks", format!("Compliance checks expiring by {horizon}"), df));
        }
        None => a.tables.push(
            AnswerTable::new("expiring_checks", "Compliance checks expiring", super::empty(&[("id", s())]))
                .note("Compliance check expiry: not available in these snapshots (no personnel_compliance_checks rows: the guide dialect has none)."),
        ),
    }
    Ok(a)
}
