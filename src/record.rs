//! The canonical records every API dialect produces and every writer consumes.
//!
//! Nothing here knows HTTP, a dialect's wire format, Arrow or Parquet. Values a dialect
//! cannot express are `None`; values the canonical shape has no column for are kept as a
//! JSON object in `extra`, so nothing the API sent is lost.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One personnel record as listed by the API (before enrichment).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub department: Option<String>,
    /// Kept as a string so values the guide does not list survive.
    pub employment_type: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub is_active: Option<bool>,
    pub role: Option<String>,
    pub manager_id: Option<String>,
    pub compliance_status: Option<String>,
    /// The server's training summary, as compact JSON text (its shape is undocumented).
    pub training_status: Option<String>,
    pub external_id: Option<String>,
    /// Unknown fields and values that did not fit their column, as a JSON object.
    pub extra: Option<String>,
}

/// What happened when a person's child records were fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchStatus {
    /// Fetched; the child rows written are the person's complete list.
    Ok,
    /// The API answered 404: the person vanished between listing and enrichment.
    Gone,
    /// Still failing after retries: the person's child rows are unknown, not empty.
    Failed,
}

impl FetchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FetchStatus::Ok => "ok",
            FetchStatus::Gone => "gone",
            FetchStatus::Failed => "failed",
        }
    }
}

/// A person after enrichment: the listed record plus how each child fetch ended.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrichedPerson {
    pub person: Person,
    pub training_fetch: FetchStatus,
    pub background_check_fetch: FetchStatus,
}

/// One training record of one person. Retakes of a course are separate rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Training {
    pub personnel_id: String,
    /// Position in the API's list for this person (0-based), so retakes stay distinct.
    pub ordinal: i32,
    pub name: Option<String>,
    pub status: Option<String>,
    pub completed_at: Option<NaiveDate>,
    pub extra: Option<String>,
}

/// One background check of one person.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackgroundCheck {
    pub personnel_id: String,
    pub ordinal: i32,
    pub status: Option<String>,
    pub completed_at: Option<NaiveDate>,
    pub extra: Option<String>,
}

/// One control; `owner_id` points at a personnel id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub id: String,
    pub name: Option<String>,
    pub status: Option<String>,
    pub owner_id: Option<String>,
    pub extra: Option<String>,
}

/// Parse a documented ISO date leniently: a plain date, or a date-time whose date part is
/// taken as written (no time-zone shift). Returns `None` for anything else, so the caller
/// can keep the raw text in `extra` instead of failing the record.
pub fn parse_lenient_date(raw: &str) -> Option<NaiveDate> {
    let s = raw.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    // A date-time: validate the whole thing, then keep its calendar date.
    if chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").is_ok()
    {
        return s.get(..10).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_dates() {
        let d = NaiveDate::from_ymd_opt(2025, 1, 15).unwrap();
        assert_eq!(parse_lenient_date("2025-01-15"), Some(d));
        assert_eq!(parse_lenient_date(" 2025-01-15 "), Some(d));
        assert_eq!(parse_lenient_date("2025-01-15T23:30:00-05:00"), Some(d));
        assert_eq!(parse_lenient_date("2025-01-15T10:00:00Z"), Some(d));
        assert_eq!(parse_lenient_date("2025-01-15T10:00:00.123"), Some(d));
        assert_eq!(parse_lenient_date("15/01/2025"), None);
        assert_eq!(parse_lenient_date("2025-02-30"), None);
        assert_eq!(parse_lenient_date(""), None);
        assert_eq!(parse_lenient_date("2025-01-15Tgarbage"), None);
    }
}
