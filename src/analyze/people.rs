//! People in answers, shared by `report`, `diff` and `reconcile`: the list types
//! (`PersonRef`, `PeopleList` and its one sort-and-cut rule), the conventions every answer
//! uses (a null `is_active` is active; a null label is `(none)`; status order), and the
//! column helpers that turn Polars frames into people. Knows no particular answer.

use super::render::Table;
use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;

/// One person in a list, with a detail the list is about (a date, a status, a chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonRef {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A list with its exact size; `people` is cut at the limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PeopleList {
    pub count: u64,
    pub people: Vec<PersonRef>,
}

impl PeopleList {
    /// The one rule every list follows: sorted by email, then id (then detail, so equal
    /// people stay in a stable order), cut at `limit` (0 = all), with the exact count kept.
    pub(crate) fn cut(mut people: Vec<PersonRef>, limit: usize) -> PeopleList {
        people
            .sort_by(|a, b| a.email.cmp(&b.email).then_with(|| a.id.cmp(&b.id)).then_with(|| a.detail.cmp(&b.detail)));
        let count = people.len() as u64;
        if limit > 0 {
            people.truncate(limit);
        }
        PeopleList { count, people }
    }
}

pub(crate) const NONE_LABEL: &str = "(none)";

/// `is_active` with the API's default (true) for null.
pub(crate) fn active() -> Expr {
    col("is_active").fill_null(lit(true))
}

/// Explicitly inactive (`is_active = false`).
pub(crate) fn inactive() -> Expr {
    col("is_active").eq(lit(false)).fill_null(lit(false))
}

pub(crate) fn label(c: &str) -> Expr {
    col(c).fill_null(lit(NONE_LABEL))
}

pub(crate) fn strs<'a>(df: &'a DataFrame, name: &str) -> PolarsResult<Vec<Option<&'a str>>> {
    Ok(df.column(name)?.str()?.iter().collect())
}

pub(crate) fn ints(df: &DataFrame, name: &str) -> PolarsResult<Vec<u64>> {
    let c = df.column(name)?.cast(&DataType::Int64)?;
    Ok(c.i64()?.iter().map(|v| v.unwrap_or(0).max(0) as u64).collect())
}

pub(crate) fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// Columns of a person shown in lists.
pub(crate) const PERSON_COLS: [&str; 5] = ["id", "email", "first_name", "last_name", "department"];

/// Turn a frame holding `PERSON_COLS` (and optionally a `detail` column) into a sorted,
/// limited list.
pub(crate) fn people_list(df: &DataFrame, limit: usize) -> PolarsResult<PeopleList> {
    Ok(PeopleList::cut(people(df)?, limit))
}

pub(crate) fn people(df: &DataFrame) -> PolarsResult<Vec<PersonRef>> {
    let id = strs(df, "id")?;
    let email = strs(df, "email")?;
    let first = strs(df, "first_name")?;
    let last = strs(df, "last_name")?;
    let dept = strs(df, "department")?;
    let detail = match df.column("detail") {
        Ok(c) => c.cast(&DataType::String)?.str()?.iter().map(|s| s.map(str::to_string)).collect(),
        Err(_) => vec![None; df.height()],
    };
    Ok((0..df.height())
        .map(|i| PersonRef {
            id: id[i].unwrap_or_default().to_string(),
            email: email[i].map(str::to_string),
            name: full_name(first[i], last[i]),
            department: dept[i].map(str::to_string),
            detail: detail[i].clone(),
        })
        .collect())
}

pub(crate) fn full_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    match (first, last) {
        (None, None) => None,
        (f, l) => Some(format!("{} {}", f.unwrap_or(""), l.unwrap_or("")).trim().to_string()),
    }
}

pub(crate) fn people_table(list: &PeopleList, detail: Option<&str>) -> Table {
    let mut cols = vec!["email", "name", "department", "id"];
    if let Some(d) = detail {
        cols.push(d);
    }
    let mut t = Table::new(&cols);
    for p in &list.people {
        let mut row = vec![
            p.email.clone().unwrap_or_default(),
            p.name.clone().unwrap_or_default(),
            p.department.clone().unwrap_or_default(),
            p.id.clone(),
        ];
        if detail.is_some() {
            row.push(p.detail.clone().unwrap_or_default());
        }
        t.row(row);
    }
    t.more = list.count - list.people.len() as u64;
    t
}
