//! `drata-etl history`: answers over time, from every committed snapshot of a window at once
//! (streaks, trend, audit-sample, offboarding, training-due; one file per answer).
//!
//! This file holds what the answers share: the window (`--from`/`--to`, dates or snapshot
//! ids, checked: exit 64), the one scan of a table across all the window's snapshots (one
//! lazy Polars plan over exactly the files the manifests list, with `snap`, `snapshot_id` and
//! `snapshot_date` columns; projection and filters are pushed into the scan), gap
//! detection, and the answer model every format is rendered from (named tables as Polars
//! frames: JSON rows, CSV, Parquet, text, Markdown, HTML).
//!
//! Schema tolerance: tables may be missing from older snapshots (their snapshots simply add
//! no rows), and newer versions append columns to existing tables, so a column asked for is
//! read where a snapshot's files have it and is a typed null where they do not (checked once
//! per tool version), and each answer says "not available in these snapshots" for what it
//! could not see.
//!
//! Gaps (a night without a committed snapshot) are not status changes: every answer looks
//! only at the snapshots that exist, in run order. A status seen on both sides of a gap is
//! one streak; a change across a gap is dated at the first snapshot that shows it.

pub mod audit;
pub mod offboarding;
pub mod streaks;
pub mod training_due;
pub mod trend;

use super::people::days_since_epoch;
use super::polars_err;
use super::render::{Doc, LineChart, Section, Table};
use super::snapshot::Snapshots;
use crate::error::{EtlError, FailureKind};
use crate::load::Manifest;
use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;
use serde_json::{json, Map, Value};
use std::path::Path;

/// One end of the window as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    Date(NaiveDate),
    Snapshot(String),
}

/// `YYYY-MM-DD` or a snapshot id (`YYYYMMDDTHHMMSSZ`); anything else is exit 64.
pub fn parse_bound(flag: &str, s: &str) -> Result<Bound, EtlError> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Bound::Date(d));
    }
    if s.len() == 16 && chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").is_ok() {
        return Ok(Bound::Snapshot(s.to_string()));
    }
    Err(EtlError::usage(format!(
        "{flag} '{s}' is neither a date like 2026-01-31 nor a snapshot id like 20260131T020000Z"
    )))
}

/// The committed snapshots an answer reads: those of the scope whose run time falls in the
/// window, oldest first.
#[derive(Debug)]
pub struct Window<'a> {
    pub root: &'a Path,
    pub label: &'a str,
    pub workspace: Option<&'a str>,
    /// Every snapshot of the scope (for messages).
    pub all: &'a [Manifest],
    pub selected: Vec<&'a Manifest>,
    /// The window's first and last day (given, or the first and last snapshot's dates).
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

fn run_at(m: &Manifest) -> Result<DateTime<Utc>, EtlError> {
    DateTime::parse_from_rfc3339(&m.run_at)
        .map(|d| d.to_utc())
        .map_err(|e| EtlError::new(FailureKind::DataInvalid, format!("manifest of {}: run_at: {e}", m.snapshot_id)))
}

pub(crate) fn date_of(m: &Manifest) -> Result<NaiveDate, EtlError> {
    NaiveDate::parse_from_str(&m.snapshot_date, "%Y-%m-%d").map_err(|e| {
        EtlError::new(FailureKind::DataInvalid, format!("manifest of {}: snapshot_date: {e}", m.snapshot_id))
    })
}

impl<'a> Window<'a> {
    /// Select the snapshots between `from` and `to` (both included; a date covers its whole
    /// UTC day, a snapshot id its own run time). A reversed window or an unknown snapshot id
    /// is exit 64; a window with no snapshot in it is an empty answer, not an error.
    pub fn select(snaps: &'a Snapshots, from: Option<&Bound>, to: Option<&Bound>) -> Result<Window<'a>, EtlError> {
        let resolve = |b: &Bound, end: bool| -> Result<(DateTime<Utc>, NaiveDate), EtlError> {
            match b {
                Bound::Date(d) => {
                    let t = if end { d.and_hms_milli_opt(23, 59, 59, 999) } else { d.and_hms_opt(0, 0, 0) };
                    Ok((t.expect("valid time").and_utc(), *d))
                }
                Bound::Snapshot(id) => {
                    let m = snaps.get(id)?;
                    Ok((run_at(m)?, date_of(m)?))
                }
            }
        };
        let lo = from.map(|b| resolve(b, false)).transpose()?;
        let hi = to.map(|b| resolve(b, true)).transpose()?;
        if let (Some((a, ad)), Some((b, bd))) = (lo, hi) {
            if a > b {
                return Err(EtlError::usage(format!(
                    "the window is reversed: --from {ad} is after --to {bd}; swap them"
                )));
            }
        }
        let mut selected = Vec::new();
        for m in &snaps.manifests {
            let t = run_at(m)?;
            if lo.is_none_or(|(a, _)| t >= a) && hi.is_none_or(|(b, _)| t <= b) {
                selected.push(m);
            }
        }
        let from = match lo {
            Some((_, d)) => Some(d),
            None => selected.first().map(|m| date_of(m)).transpose()?,
        };
        let to = match hi {
            Some((_, d)) => Some(d),
            None => selected.last().map(|m| date_of(m)).transpose()?,
        };
        Ok(Window {
            root: &snaps.root,
            label: &snaps.label,
            workspace: snaps.workspace.as_deref(),
            all: &snaps.manifests,
            selected,
            from,
            to,
        })
    }

    /// The date of the window's last snapshot: what "now" means in every answer.
    pub fn as_of(&self) -> Result<Option<NaiveDate>, EtlError> {
        self.selected.last().map(|m| date_of(m)).transpose()
    }

    /// Whether any selected snapshot lists `table` (with at least one row).
    pub fn has_rows(&self, table: &str) -> bool {
        self.selected.iter().any(|m| m.tables.get(table).is_some_and(|t| t.rows > 0))
    }

    /// One lazy plan over `table` in every selected snapshot that lists it, with `columns`
    /// (each cast to its type; null where a snapshot's files lack it) plus `snap` (the
    /// snapshot's position in the window, 0 = oldest), `snapshot_id` and `snapshot_date`.
    /// `None` when no selected snapshot has it. Rows come in no particular order.
    pub fn scan(&self, table: &str, columns: &[(&str, DataType)]) -> Result<Option<LazyFrame>, EtlError> {
        self.scan_where(table, columns, |_| true)
    }

    /// `scan` of the window's last snapshot only (`snap` keeps its place in the window).
    pub fn scan_last(&self, table: &str, columns: &[(&str, DataType)]) -> Result<Option<LazyFrame>, EtlError> {
        let last = self.selected.len().saturating_sub(1);
        self.scan_where(table, columns, |i| i == last)
    }

    /// `scan` of the snapshots at the window positions `keep` accepts: the files of the
    /// others are never opened.
    ///
    /// One Parquet scan per tool version over all its snapshots' files (not one per
    /// snapshot: 8,760 hourly snapshots made 8,760 scan nodes, 18 s and 1 GB for a trend),
    /// with each row's file path; a join with the small file -> snapshot frame built from
    /// the manifests gives every row its `snap`, `snapshot_id` and `snapshot_date`. A file
    /// is read only when a manifest lists it, and the path column is a per-file constant
    /// the scan adds for free.
    pub fn scan_where(
        &self,
        table: &str,
        columns: &[(&str, DataType)],
        keep: impl Fn(usize) -> bool,
    ) -> Result<Option<LazyFrame>, EtlError> {
        let err = polars_err(table);
        // Per tool version: the columns its files have (read once, from a file's footer) and
        // its files, each with the snapshot that lists it.
        let mut versions: Vec<(&str, Vec<String>, Vec<PlRefPath>)> = Vec::new();
        let (mut file, mut snap, mut id, mut date) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, m) in self.selected.iter().enumerate().filter(|(i, _)| keep(*i)) {
            let Some(t) = m.tables.get(table) else { continue };
            if t.files.is_empty() {
                continue;
            }
            let paths: Vec<PlRefPath> = t
                .files
                .iter()
                .map(|f| PlRefPath::try_from_path(&self.root.join(&f.path)))
                .collect::<PolarsResult<_>>()
                .map_err(&err)?;
            let v = match versions.iter().position(|(v, _, _)| *v == m.tool_version) {
                Some(v) => v,
                None => {
                    let cols = file_columns(&paths[0]).map_err(&err)?;
                    versions.push((m.tool_version.as_str(), cols, Vec::new()));
                    versions.len() - 1
                }
            };
            let day = days_since_epoch(date_of(m)?);
            for p in paths {
                file.push(p.as_str().to_string());
                snap.push(i as i32);
                id.push(m.snapshot_id.clone());
                date.push(day);
                versions[v].2.push(p);
            }
        }
        if versions.is_empty() {
            return Ok(None);
        }
        let mut parts = Vec::new();
        for (_, present, paths) in versions {
            let args = ScanArgsParquet {
                hive_options: HiveOptions::new_disabled(),
                glob: false,
                include_file_paths: Some(FILE.into()),
                ..Default::default()
            };
            let lf = LazyFrame::scan_parquet_files(paths.into_iter().collect(), args).map_err(&err)?;
            let mut select: Vec<Expr> = columns
                .iter()
                .map(|(name, dtype)| {
                    if present.iter().any(|p| p == name) {
                        col(*name).cast(dtype.clone())
                    } else {
                        lit(NULL).cast(dtype.clone()).alias(*name)
                    }
                })
                .collect();
            select.push(col(FILE));
            parts.push(lf.select(select));
        }
        let rows = if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            let union = UnionArgs { parallel: true, rechunk: false, to_supertypes: false, ..Default::default() };
            concat(parts, union).map_err(&err)?
        };
        let files = DataFrame::new_infer_height(vec![
            Column::new(FILE.into(), file),
            Column::new("snap".into(), snap),
            Column::new("snapshot_id".into(), id),
            Column::new("snapshot_date".into(), date).cast(&DataType::Date).map_err(&err)?,
        ])
        .map_err(&err)?;
        let mut out: Vec<Expr> = columns.iter().map(|(name, _)| col(*name)).collect();
        out.extend([col("snap"), col("snapshot_id"), col("snapshot_date")]);
        Ok(Some(rows.join(files.lazy(), [col(FILE)], [col(FILE)], JoinArgs::new(JoinType::Inner)).select(out)))
    }

    /// The window's snapshots as a small frame: `snap` (position, 0 = oldest) and
    /// `snapshot_date`, to date a position computed over integers.
    pub(crate) fn snapshot_dates(&self) -> Result<LazyFrame, EtlError> {
        let err = polars_err("the window's snapshots");
        let snap: Vec<i32> = (0..self.selected.len() as i32).collect();
        let days: Vec<i32> =
            self.selected.iter().map(|m| date_of(m).map(days_since_epoch)).collect::<Result<_, _>>()?;
        let df = DataFrame::new_infer_height(vec![
            Column::new("snap".into(), snap),
            Column::new("snapshot_date".into(), days).cast(&DataType::Date).map_err(&err)?,
        ])
        .map_err(&err)?;
        Ok(df.lazy())
    }

    /// Nights the run cadence missed: consecutive snapshots further apart than 1.5 times
    /// the usual (median) interval. Needs three snapshots to know a cadence.
    pub fn gaps(&self) -> Result<Vec<Gap>, EtlError> {
        let times: Vec<DateTime<Utc>> = self.selected.iter().map(|m| run_at(m)).collect::<Result<_, _>>()?;
        if times.len() < 3 {
            return Ok(Vec::new());
        }
        let mut steps: Vec<i64> = times.windows(2).map(|w| (w[1] - w[0]).num_seconds()).collect();
        let mut sorted = steps.clone();
        sorted.sort_unstable();
        let cadence = sorted[sorted.len() / 2].max(1);
        let mut out = Vec::new();
        for (i, step) in steps.drain(..).enumerate() {
            if step * 2 > cadence * 3 {
                out.push(Gap {
                    after: self.selected[i].snapshot_id.clone(),
                    before: self.selected[i + 1].snapshot_id.clone(),
                    missing_runs: (step / cadence - 1).max(1) as u64,
                });
            }
        }
        Ok(out)
    }

    /// The facts every answer opens with: root, scope, window, snapshots, gaps.
    fn facts(&self, gaps: &[Gap]) -> Vec<(String, String)> {
        let mut f = vec![("root".to_string(), self.label.to_string())];
        if let Some(w) = self.workspace {
            f.push(("workspace".into(), w.into()));
        }
        let show = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
        f.push(("window".into(), format!("{} to {}", show(self.from), show(self.to))));
        f.push(("snapshots in window".into(), self.selected.len().to_string()));
        if let (Some(a), Some(b)) = (self.selected.first(), self.selected.last()) {
            f.push(("first / last snapshot".into(), format!("{} / {}", a.snapshot_id, b.snapshot_id)));
        }
        f.push((
            "gaps".into(),
            if gaps.is_empty() {
                "none".into()
            } else {
                gaps.iter()
                    .map(|g| format!("{} .. {} (~{} missing)", g.after, g.before, g.missing_runs))
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        ));
        f
    }

    /// What an answer says when its window holds no snapshot.
    pub fn empty_note(&self) -> String {
        let span = match (self.all.first(), self.all.last()) {
            (Some(a), Some(b)) => {
                format!("; {} holds snapshots from {} to {}", self.label, a.snapshot_date, b.snapshot_date)
            }
            _ => String::new(),
        };
        format!("No committed snapshot in this window{span}.")
    }
}

/// The scan's per-row file path column (joined away before any answer sees it).
const FILE: &str = "__file";

/// Column names of one Parquet file.
fn file_columns(p: &PlRefPath) -> PolarsResult<Vec<String>> {
    let args = ScanArgsParquet { hive_options: HiveOptions::new_disabled(), glob: false, ..Default::default() };
    let mut lf = LazyFrame::scan_parquet_files(vec![p.clone()].into_iter().collect(), args)?;
    Ok(lf.collect_schema()?.iter_names().map(|n| n.to_string()).collect())
}

/// Missing runs between two consecutive snapshots.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    pub after: String,
    pub before: String,
    pub missing_runs: u64,
}

// ------------------------------------------------------------------------------------------
// The answer model
// ------------------------------------------------------------------------------------------

/// One named table of an answer.
#[derive(Debug, Clone)]
pub struct AnswerTable {
    /// Machine name (`--table`, JSON key).
    pub name: &'static str,
    pub title: String,
    pub notes: Vec<String>,
    pub frame: DataFrame,
    /// HTML line charts drawn above the table.
    pub charts: Vec<LineChart>,
}

impl AnswerTable {
    pub fn new(name: &'static str, title: impl Into<String>, frame: DataFrame) -> Self {
        AnswerTable { name, title: title.into(), notes: Vec::new(), frame, charts: Vec::new() }
    }
    pub fn note(mut self, n: impl Into<String>) -> Self {
        self.notes.push(n.into());
        self
    }
}

/// A history answer: facts about the window, then tables.
#[derive(Debug, Clone)]
pub struct Answer {
    pub answer: &'static str,
    pub title: String,
    pub facts: Vec<(String, String)>,
    pub gaps: Vec<Gap>,
    pub notes: Vec<String>,
    pub tables: Vec<AnswerTable>,
}

impl Answer {
    pub(crate) fn new(answer: &'static str, title: &str, w: &Window) -> Result<Answer, EtlError> {
        let gaps = w.gaps()?;
        let mut notes = Vec::new();
        if w.selected.is_empty() {
            notes.push(w.empty_note());
        }
        Ok(Answer { answer, title: title.to_string(), facts: w.facts(&gaps), gaps, notes, tables: Vec::new() })
    }

    /// The table `--table` names (default: the first).
    pub fn table(&self, name: Option<&str>) -> Result<&AnswerTable, EtlError> {
        match name {
            None => self.tables.first().ok_or_else(|| EtlError::usage(format!("{} has no table", self.answer))),
            Some(n) => self.tables.iter().find(|t| t.name == n).ok_or_else(|| {
                let names: Vec<&str> = self.tables.iter().map(|t| t.name).collect();
                EtlError::usage(format!(
                    "history {} has no table '{n}'; its tables are: {}",
                    self.answer,
                    names.join(", ")
                ))
            }),
        }
    }

    pub fn to_json(&self) -> Result<Value, EtlError> {
        let mut tables = Map::new();
        for t in &self.tables {
            tables
                .insert(t.name.to_string(), json!({"title": t.title, "notes": t.notes, "rows": frame_json(&t.frame)?}));
        }
        let facts: Map<String, Value> = self.facts.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
        Ok(json!({"answer": self.answer, "facts": facts, "gaps": self.gaps, "notes": self.notes, "tables": tables}))
    }

    /// Text, Markdown and HTML; tables cut at `limit` rows (0 = all).
    pub fn to_doc(&self, limit: usize) -> Result<Doc, EtlError> {
        let mut sections = Vec::new();
        if !self.notes.is_empty() {
            let mut s = Section::new("Notes");
            for n in &self.notes {
                s = s.para(n.clone());
            }
            sections.push(s);
        }
        for t in &self.tables {
            let mut s = Section::new(format!("{} ({})", t.title, t.frame.height()));
            for n in &t.notes {
                s = s.para(n.clone());
            }
            for c in &t.charts {
                s = s.lines(c.clone());
            }
            sections.push(s.table(frame_table(&t.frame, limit)?));
        }
        Ok(Doc { title: self.title.clone(), facts: self.facts.clone(), sections })
    }
}

/// Cells as text: null is empty, floats with one decimal, dates ISO.
fn frame_cells(df: &DataFrame) -> Result<Vec<Vec<String>>, EtlError> {
    let err = polars_err("rendering a history table");
    let mut cols = Vec::new();
    for c in df.columns() {
        let s = c.as_materialized_series();
        let cells: Vec<String> = match s.dtype() {
            DataType::Float64 | DataType::Float32 => {
                let f = s.cast(&DataType::Float64).map_err(&err)?;
                f.f64().map_err(&err)?.iter().map(|v| v.map(|v| format!("{v:.1}")).unwrap_or_default()).collect()
            }
            _ => {
                let t = s.cast(&DataType::String).map_err(&err)?;
                t.str().map_err(&err)?.iter().map(|v| v.unwrap_or_default().to_string()).collect()
            }
        };
        cols.push(cells);
    }
    Ok((0..df.height()).map(|i| cols.iter().map(|c| c[i].clone()).collect()).collect())
}

pub(crate) fn frame_table(df: &DataFrame, limit: usize) -> Result<Table, EtlError> {
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    let mut t = Table { columns: names, rows: Vec::new(), more: 0 };
    let cut = if limit == 0 { df.clone() } else { df.head(Some(limit)) };
    t.rows = frame_cells(&cut)?;
    t.more = (df.height() - cut.height()) as u64;
    Ok(t)
}

/// Rows as JSON objects: numbers and booleans typed, dates and times as ISO text.
pub(crate) fn frame_json(df: &DataFrame) -> Result<Vec<Value>, EtlError> {
    let err = polars_err("rendering a history table");
    let mut cols: Vec<(String, Vec<Value>)> = Vec::new();
    for c in df.columns() {
        let s = c.as_materialized_series();
        let values: Vec<Value> = match s.dtype() {
            DataType::Boolean => {
                s.bool().map_err(&err)?.iter().map(|v| v.map(Value::from).unwrap_or(Value::Null)).collect()
            }
            d if d.is_integer() => {
                let i = s.cast(&DataType::Int64).map_err(&err)?;
                i.i64().map_err(&err)?.iter().map(|v| v.map(Value::from).unwrap_or(Value::Null)).collect()
            }
            d if d.is_float() => {
                let f = s.cast(&DataType::Float64).map_err(&err)?;
                f.f64()
                    .map_err(&err)?
                    .iter()
                    .map(|v| v.map(|v| Value::from((v * 10.0).round() / 10.0)).unwrap_or(Value::Null))
                    .collect()
            }
            _ => {
                let t = s.cast(&DataType::String).map_err(&err)?;
                t.str().map_err(&err)?.iter().map(|v| v.map(Value::from).unwrap_or(Value::Null)).collect()
            }
        };
        cols.push((c.name().to_string(), values));
    }
    Ok((0..df.height()).map(|i| Value::Object(cols.iter().map(|(n, v)| (n.clone(), v[i].clone())).collect())).collect())
}

/// One table as CSV (header row; null is an empty field).
pub fn frame_csv(df: &DataFrame) -> Result<Vec<u8>, EtlError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    let fail = |e: csv::Error| EtlError::new(FailureKind::CannotWrite, format!("writing CSV: {e}"));
    w.write_record(&header).map_err(fail)?;
    let mut raw = Vec::new();
    for c in df.columns() {
        let t = c.as_materialized_series().cast(&DataType::String).map_err(polars_err("writing CSV"))?;
        raw.push(
            t.str()
                .map_err(polars_err("writing CSV"))?
                .iter()
                .map(|v| v.unwrap_or_default().to_string())
                .collect::<Vec<_>>(),
        );
    }
    for i in 0..df.height() {
        w.write_record(raw.iter().map(|c| c[i].as_str())).map_err(fail)?;
    }
    w.into_inner().map_err(|e| EtlError::new(FailureKind::CannotWrite, format!("writing CSV: {e}")))
}

/// One table as a zstd Parquet file, typed as computed (dates date32, counts integers).
pub fn frame_parquet(df: &DataFrame) -> Result<Vec<u8>, EtlError> {
    let mut buf = Vec::new();
    let mut df = df.clone();
    ParquetWriter::new(&mut buf)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(&mut df)
        .map_err(|e| EtlError::new(FailureKind::CannotWrite, format!("writing Parquet: {e}")))?;
    Ok(buf)
}

// ------------------------------------------------------------------------------------------
// Expressions the answers share
// ------------------------------------------------------------------------------------------

/// A date as the `Date` literal Polars compares with.
pub(crate) fn date_lit(d: NaiveDate) -> Expr {
    lit(days_since_epoch(d)).cast(DataType::Date)
}

/// Days from `a` to `b` (both Date expressions), as Int32.
pub(crate) fn days_between(a: Expr, b: Expr) -> Expr {
    b.cast(DataType::Int32) - a.cast(DataType::Int32)
}

pub(crate) fn s() -> DataType {
    DataType::String
}

/// The personnel columns every person-list shows first.
pub(crate) const PERSON: [&str; 5] = ["email", "first_name", "last_name", "department", "id"];

pub(crate) fn person_columns() -> Vec<(&'static str, DataType)> {
    PERSON.iter().map(|c| (*c, s())).collect()
}

/// An empty frame with these columns (an answer over an empty window).
pub(crate) fn empty(columns: &[(&str, DataType)]) -> DataFrame {
    DataFrame::new_infer_height(columns.iter().map(|(n, t)| Column::new_empty((*n).into(), t)).collect())
        .unwrap_or_default()
}

/// Collect with the standard error, on Polars' streaming engine: the window's rows flow
/// through the scans, filters and aggregations in batches instead of being materialised
/// whole (a year of daily snapshots held 0.9 to 2.6 GB in memory otherwise; operations the
/// streaming engine lacks fall back to in-memory for their part of the plan).
pub(crate) fn collect(lf: LazyFrame, what: &str) -> Result<DataFrame, EtlError> {
    // One query, one sink: the result is always a single frame.
    lf.collect_with_engine(Engine::Streaming).map(|r| r.unwrap_single()).map_err(polars_err(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_dates_or_snapshot_ids() {
        assert_eq!(
            parse_bound("--from", " 2026-01-31 ").unwrap(),
            Bound::Date(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap())
        );
        assert_eq!(parse_bound("--to", "20260131T020000Z").unwrap(), Bound::Snapshot("20260131T020000Z".into()));
        for bad in ["2026-02-30", "31/01/2026", "20261331T020000Z", "latest", ""] {
            let e = parse_bound("--to", bad).unwrap_err();
            assert_eq!(e.kind, FailureKind::Usage, "{bad}");
            assert!(e.message.contains("is neither a date like 2026-01-31 nor a snapshot id"), "{}", e.message);
        }
    }

    #[test]
    fn frames_render_as_cells_json_and_csv() {
        let df = df!(
            "who" => [Some("a,b"), None],
            "n" => [1i64, 2],
            "pct" => [12.345f64, 50.0],
            "ok" => [Some(true), None],
        )
        .unwrap();
        let t = frame_table(&df, 1).unwrap();
        assert_eq!(t.rows, vec![vec!["a,b".to_string(), "1".into(), "12.3".into(), "true".into()]]);
        assert_eq!(t.more, 1);
        let j = frame_json(&df).unwrap();
        assert_eq!(j[0], json!({"who": "a,b", "n": 1, "pct": 12.3, "ok": true}));
        assert_eq!(j[1], json!({"who": null, "n": 2, "pct": 50.0, "ok": null}));
        let csv = String::from_utf8(frame_csv(&df).unwrap()).unwrap();
        assert_eq!(csv, "who,n,pct,ok\n\"a,b\",1,12.345,true\n,2,50.0,\n");
    }
}
