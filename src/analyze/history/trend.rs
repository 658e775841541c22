//! `history trend`: per snapshot, active headcount and compliant share, overall and by
//! department and employment type, and (real dialects) people failing each compliance check
//! type. The HTML draws them as line charts over the snapshots' dates.
//!
//! Active: `is_active` not false. Compliant share: active people whose compliance_status is
//! COMPLIANT (guide) or PASS (real dialects' FULL_COMPLIANCE check), over active people.

use super::{collect, s, Answer, AnswerTable, Window};
use crate::analyze::people::{active, label};
use crate::analyze::render::LineChart;
use crate::error::EtlError;
use polars::prelude::*;
use std::collections::BTreeMap;

fn compliant() -> Expr {
    active().and(crate::analyze::vocab::any_compliant("compliance_status"))
}

fn counts() -> [Expr; 4] {
    [
        len().cast(DataType::Int64).alias("people"),
        active().cast(DataType::Int64).sum().alias("active"),
        compliant().cast(DataType::Int64).sum().alias("compliant"),
        crate::analyze::vocab::any_non_compliant("compliance_status")
            .and(active())
            .fill_null(lit(false))
            .cast(DataType::Int64)
            .sum()
            .alias("non_compliant"),
    ]
}

fn share() -> Expr {
    when(col("active").gt(lit(0)))
        .then(col("compliant").cast(DataType::Float64) * lit(100.0) / col("active").cast(DataType::Float64))
        .otherwise(lit(0.0))
        .alias("compliant_pct")
}

pub fn trend(w: &Window) -> Result<Answer, EtlError> {
    let mut a = Answer::new("trend", "Compliance trend", w)?;
    // `id` joins the real dialects' compliance checks to their (active) people below.
    let cols = [
        ("id", s()),
        ("department", s()),
        ("employment_type", s()),
        ("is_active", DataType::Boolean),
        ("compliance_status", s()),
    ];
    let snap_cols = [col("snap"), col("snapshot_id"), col("snapshot_date")];
    let Some(p) = w.scan("personnel", &cols)? else {
        let e = super::empty(&[("snapshot_id", s()), ("snapshot_date", DataType::Date)]);
        a.tables.push(AnswerTable::new("overall", "Per snapshot", e));
        return Ok(a);
    };
    // One pass over the window: the counts per snapshot, department and employment type
    // (a few hundred thousand groups at most); the three tables are sums of it.
    let fine = collect(
        p.clone()
            .group_by([
                col("snap"),
                col("snapshot_id"),
                col("snapshot_date"),
                label("department").alias("department"),
                label("employment_type").alias("employment_type"),
            ])
            .agg(counts()),
        "history trend",
    )?
    .lazy();
    let roll_up = |keys: Vec<Expr>, sort: Vec<&str>| -> Result<DataFrame, EtlError> {
        collect(
            fine.clone()
                .group_by(keys)
                .agg(["people", "active", "compliant", "non_compliant"].map(|c| col(c).sum()))
                .with_column(share())
                .sort(sort, Default::default())
                .drop(by_name(["snap"], true, false)),
            "history trend",
        )
    };
    let overall = roll_up(snap_cols.to_vec(), vec!["snap"])?;
    let by = |key: &str| -> Result<DataFrame, EtlError> {
        let mut keys = snap_cols.to_vec();
        keys.push(col(key));
        roll_up(keys, vec!["snap", key])
    };
    let by_department = by("department")?;
    let by_type = by("employment_type")?;

    let x: Vec<String> = dates(&overall)?;
    let mut t = AnswerTable::new("overall", "Per snapshot", overall.clone());
    t.charts.push(LineChart {
        title: "Compliant share of active people (%)".into(),
        x: x.clone(),
        series: vec![("compliant %".into(), floats(&overall, "compliant_pct")?)],
        percent: true,
    });
    t.charts.push(LineChart {
        title: "Active headcount".into(),
        x: x.clone(),
        series: vec![
            ("active".into(), floats(&overall, "active")?),
            ("compliant".into(), floats(&overall, "compliant")?),
        ],
        percent: false,
    });
    a.tables.push(t);
    let mut t = AnswerTable::new("by_department", "Per snapshot and department", by_department.clone());
    t.charts.push(series_chart("Compliant share by department (%)", &x, &by_department, "department")?);
    a.tables.push(t);
    let mut t = AnswerTable::new("by_employment_type", "Per snapshot and employment type", by_type.clone());
    t.charts.push(series_chart("Compliant share by employment type (%)", &x, &by_type, "employment_type")?);
    a.tables.push(t);

    // Failing compliance checks by type: real dialects only (guide snapshots hold none).
    let checks = if w.has_rows("personnel_compliance_checks") {
        w.scan("personnel_compliance_checks", &[("personnel_id", s()), ("type", s()), ("status", s())])?
    } else {
        None
    };
    match checks {
        Some(c) => {
            let df = collect(
                c.filter(crate::analyze::vocab::any_non_compliant("status"))
                    .join(
                        p.clone().filter(active()).select([col("snap").alias("p_snap"), col("id")]).unique(None, UniqueKeepStrategy::Any),
                        [col("snap"), col("personnel_id")],
                        [col("p_snap"), col("id")],
                        JoinArgs::new(JoinType::Inner),
                    )
                    .group_by([col("snap"), col("snapshot_id"), col("snapshot_date"), label("type").alias("check_type")])
                    .agg([col("personnel_id").n_unique().cast(DataType::Int64).alias("failing_active_people")])
                    .sort(["snap", "check_type"], Default::default())
                    .drop(by_name(["snap"], true, false)),
                "history trend",
            )?;
            a.tables.push(AnswerTable::new("failing_checks", "Active people failing each compliance check type", df));
        }
        None => a.tables.push(
            AnswerTable::new(
                "failing_checks",
                "Active people failing each compliance check type",
                super::empty(&[("snapshot_id", s()), ("snapshot_date", DataType::Date), ("check_type", s()), ("failing_active_people", DataType::Int64)]),
            )
            .note("Not available in these snapshots: no personnel_compliance_checks rows (the guide dialect has no compliance checks; v1/v2 runs record them)."),
        ),
    }
    Ok(a)
}

fn dates(df: &DataFrame) -> Result<Vec<String>, EtlError> {
    let c = df.column("snapshot_id").map_err(crate::analyze::polars_err("trend"))?;
    let ids: Vec<String> = c
        .str()
        .map_err(crate::analyze::polars_err("trend"))?
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect();
    let d = df
        .column("snapshot_date")
        .and_then(|c| c.cast(&DataType::String))
        .map_err(crate::analyze::polars_err("trend"))?;
    let d: Vec<String> = d
        .str()
        .map_err(crate::analyze::polars_err("trend"))?
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect();
    // Hourly snapshots share a date: label them by id then.
    let unique = d.iter().collect::<std::collections::BTreeSet<_>>().len() == d.len();
    Ok(if unique { d } else { ids })
}

fn floats(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>, EtlError> {
    let c = df.column(name).and_then(|c| c.cast(&DataType::Float64)).map_err(crate::analyze::polars_err("trend"))?;
    Ok(c.f64().map_err(crate::analyze::polars_err("trend"))?.iter().collect())
}

/// One line per group (the 8 largest by active people in the last snapshot).
fn series_chart(title: &str, x: &[String], df: &DataFrame, key: &str) -> Result<LineChart, EtlError> {
    let err = crate::analyze::polars_err("trend");
    let ids: Vec<String> = df
        .column("snapshot_id")
        .map_err(&err)?
        .str()
        .map_err(&err)?
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect();
    let keys: Vec<String> =
        df.column(key).map_err(&err)?.str().map_err(&err)?.iter().map(|v| v.unwrap_or_default().to_string()).collect();
    let pct = floats(df, "compliant_pct")?;
    let act = floats(df, "active")?;
    let mut order: Vec<String> = Vec::new();
    for id in &ids {
        if order.last() != Some(id) {
            order.push(id.clone());
        }
    }
    let pos: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let mut series: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    let mut size: BTreeMap<String, f64> = BTreeMap::new();
    for i in 0..df.height() {
        let v = series.entry(keys[i].clone()).or_insert_with(|| vec![None; x.len()]);
        if let Some(p) = pos.get(ids[i].as_str()) {
            if *p < v.len() {
                v[*p] = pct[i];
            }
            if *p + 1 == order.len() {
                size.insert(keys[i].clone(), act[i].unwrap_or(0.0));
            }
        }
    }
    let mut names: Vec<String> = series.keys().cloned().collect();
    names.sort_by(|a, b| size.get(b).unwrap_or(&0.0).total_cmp(size.get(a).unwrap_or(&0.0)).then_with(|| a.cmp(b)));
    names.truncate(8);
    Ok(LineChart {
        title: title.into(),
        x: x.to_vec(),
        series: names.into_iter().map(|n| (n.clone(), series.remove(&n).unwrap_or_default())).collect(),
        percent: true,
    })
}
