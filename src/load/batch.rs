//! Canonical records -> Arrow `RecordBatch`es: the one place that fixes each table's
//! columns, types and order. `schemas/<table>.json` documents the same columns and a test
//! keeps the two in step.
//!
//! Dates are `date32`, `snapshot_at` is a UTC microsecond timestamp, enums stay strings so
//! values the API adds later survive, and JSON-shaped values (`training_status`, `extra`)
//! are kept as JSON text.

use crate::record::{BackgroundCheck, ComplianceCheck, Control, EnrichedPerson, OrgRow, Training};
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Int32Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use std::sync::{Arc, OnceLock};

use super::layout::Table;

/// A record type that is one row of one output table.
pub trait TableRow: Send + 'static {
    const TABLE: Table;
    fn schema() -> SchemaRef;
    /// Columns for `rows`, in schema order, without `snapshot_at` (appended by `to_batch`).
    fn columns(rows: &[Self]) -> Vec<ArrayRef>
    where
        Self: Sized;
}

/// Build one batch; every row carries the run's `snapshot_at`.
pub fn to_batch<R: TableRow>(rows: &[R], snapshot_at_micros: i64) -> RecordBatch {
    let mut cols = R::columns(rows);
    cols.push(Arc::new(TimestampMicrosecondArray::from(vec![snapshot_at_micros; rows.len()]).with_timezone("UTC")));
    RecordBatch::try_new(R::schema(), cols).expect("columns match the table schema")
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn date(name: &str) -> Field {
    Field::new(name, DataType::Date32, true)
}

fn timestamp(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), nullable)
}

fn timestamps(it: impl Iterator<Item = Option<chrono::DateTime<chrono::Utc>>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(it.map(|t| t.map(|t| t.timestamp_micros()))).with_timezone("UTC"))
}

/// A list of strings (items nullable, as the org table's `chain`).
fn string_list(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), nullable)
}

fn snapshot_at() -> Field {
    Field::new("snapshot_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false)
}

fn schema_of(fields: Vec<Field>) -> SchemaRef {
    let mut fields = fields;
    fields.push(snapshot_at());
    Arc::new(Schema::new(fields))
}

fn strings<'a>(it: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(it))
}

fn days(d: Option<NaiveDate>) -> Option<i32> {
    d.map(|d| (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32)
}

fn dates(it: impl Iterator<Item = Option<NaiveDate>>) -> ArrayRef {
    Arc::new(Date32Array::from_iter(it.map(days)))
}

impl TableRow for EnrichedPerson {
    const TABLE: Table = Table::Personnel;

    fn schema() -> SchemaRef {
        static S: OnceLock<SchemaRef> = OnceLock::new();
        S.get_or_init(|| {
            schema_of(vec![
                utf8("id", false),
                utf8("email", true),
                utf8("first_name", true),
                utf8("last_name", true),
                utf8("title", true),
                utf8("department", true),
                utf8("employment_type", true),
                date("start_date"),
                date("end_date"),
                Field::new("is_active", DataType::Boolean, true),
                utf8("role", true),
                utf8("manager_id", true),
                utf8("compliance_status", true),
                utf8("training_status", true),
                utf8("external_id", true),
                utf8("training_fetch_status", false),
                utf8("background_check_fetch_status", false),
                utf8("extra", true),
                utf8("list_fingerprint", false),
                timestamp("enriched_at", true),
                utf8("employment_status", true),
                utf8("user_id", true),
            ])
        })
        .clone()
    }

    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        let p = |f: fn(&EnrichedPerson) -> Option<&str>| strings(rows.iter().map(f));
        vec![
            p(|r| Some(r.person.id.as_str())),
            p(|r| r.person.email.as_deref()),
            p(|r| r.person.first_name.as_deref()),
            p(|r| r.person.last_name.as_deref()),
            p(|r| r.person.title.as_deref()),
            p(|r| r.person.department.as_deref()),
            p(|r| r.person.employment_type.as_deref()),
            dates(rows.iter().map(|r| r.person.start_date)),
            dates(rows.iter().map(|r| r.person.end_date)),
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.person.is_active))),
            p(|r| r.person.role.as_deref()),
            p(|r| r.person.manager_id.as_deref()),
            p(|r| r.person.compliance_status.as_deref()),
            p(|r| r.person.training_status.as_deref()),
            p(|r| r.person.external_id.as_deref()),
            p(|r| Some(r.training_fetch.as_str())),
            p(|r| Some(r.background_check_fetch.as_str())),
            p(|r| r.person.extra.as_deref()),
            p(|r| Some(r.list_fingerprint.as_str())),
            timestamps(rows.iter().map(|r| r.enriched_at)),
            p(|r| r.person.employment_status.as_deref()),
            p(|r| r.person.user_id.as_deref()),
        ]
    }
}

impl TableRow for Training {
    const TABLE: Table = Table::PersonnelTraining;

    fn schema() -> SchemaRef {
        static S: OnceLock<SchemaRef> = OnceLock::new();
        S.get_or_init(|| {
            schema_of(vec![
                utf8("personnel_id", false),
                Field::new("ordinal", DataType::Int32, false),
                utf8("name", true),
                utf8("status", true),
                date("completed_at"),
                utf8("extra", true),
                timestamp("enriched_at", true),
            ])
        })
        .clone()
    }

    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        vec![
            strings(rows.iter().map(|r| Some(r.personnel_id.as_str()))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.ordinal))),
            strings(rows.iter().map(|r| r.name.as_deref())),
            strings(rows.iter().map(|r| r.status.as_deref())),
            dates(rows.iter().map(|r| r.completed_at)),
            strings(rows.iter().map(|r| r.extra.as_deref())),
            timestamps(rows.iter().map(|r| r.enriched_at)),
        ]
    }
}

impl TableRow for BackgroundCheck {
    const TABLE: Table = Table::PersonnelBackgroundChecks;

    fn schema() -> SchemaRef {
        static S: OnceLock<SchemaRef> = OnceLock::new();
        S.get_or_init(|| {
            schema_of(vec![
                utf8("personnel_id", false),
                Field::new("ordinal", DataType::Int32, false),
                utf8("status", true),
                date("completed_at"),
                utf8("extra", true),
                timestamp("enriched_at", true),
            ])
        })
        .clone()
    }

    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        vec![
            strings(rows.iter().map(|r| Some(r.personnel_id.as_str()))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.ordinal))),
            strings(rows.iter().map(|r| r.status.as_deref())),
            dates(rows.iter().map(|r| r.completed_at)),
            strings(rows.iter().map(|r| r.extra.as_deref())),
            timestamps(rows.iter().map(|r| r.enriched_at)),
        ]
    }
}

impl TableRow for Control {
    const TABLE: Table = Table::Controls;

    fn schema() -> SchemaRef {
        static S: OnceLock<SchemaRef> = OnceLock::new();
        S.get_or_init(|| {
            schema_of(vec![
                utf8("id", false),
                utf8("name", true),
                utf8("status", true),
                utf8("owner_id", true),
                utf8("extra", true),
                string_list("owner_ids", false),
                string_list("owner_user_ids", true),
            ])
        })
        .clone()
    }

    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        let mut owner_ids = ListBuilder::new(StringBuilder::new());
        let mut owner_user_ids = ListBuilder::new(StringBuilder::new());
        for r in rows {
            owner_ids.append_value(r.owner_ids.iter().map(Some));
            if r.owner_user_ids.is_empty() {
                owner_user_ids.append_null();
            } else {
                owner_user_ids.append_value(r.owner_user_ids.iter().map(Some));
            }
        }
        vec![
            strings(rows.iter().map(|r| Some(r.id.as_str()))),
            strings(rows.iter().map(|r| r.name.as_deref())),
            strings(rows.iter().map(|r| r.status.as_deref())),
            strings(rows.iter().map(|r| r.owner_id.as_deref())),
            strings(rows.iter().map(|r| r.extra.as_deref())),
            Arc::new(owner_ids.finish()),
            Arc::new(owner_user_ids.finish()),
        ]
    }
}

impl TableRow for OrgRow {
    const TABLE: Table = Table::PersonnelOrg;

    fn schema() -> SchemaRef {
        static S: OnceLock<SchemaRef> = OnceLock::new();
        S.get_or_init(|| {
            schema_of(vec![
                utf8("id", false),
                utf8("manager_id", true),
                utf8("manager_email", true),
                Field::new("depth", DataType::Int32, true),
                utf8("top_manager_id", true),
                Field::new("chain", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false),
                utf8("chain_status", false),
                Field::new("manager_dangling", DataType::Boolean, false),
                Field::new("in_cycle", DataType::Boolean, false),
            ])
        })
        .clone()
    }

    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        let mut chain = ListBuilder::new(StringBuilder::new());
        for r in rows {
            chain.append_value(r.chain.iter().map(Some));
        }
        vec![
            strings(rows.iter().map(|r| Some(r.id.as_str()))),
            strings(rows.iter().map(|r| r.manager_id.as_deref())),
            strings(rows.iter().map(|r| r.manager_email.as_deref())),
            Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.depth))),
            strings(rows.iter().map(|r| r.top_manager_id.as_deref())),
            Arc::new(chain.finish()),
            strings(rows.iter().map(|r| Some(r.chain_status.as_str()))),
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.manager_dangling)))),
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.in_cycle)))),
        ]
    }
}

impl TableRow for ComplianceCheck {
    const TABLE: Table = Table::PersonnelComplianceChecks;

    fn schema() -> SchemaRef {
        static S: OnceLock<SchemaRef> = OnceLock::new();
        S.get_or_init(|| {
            schema_of(vec![
                utf8("personnel_id", false),
                Field::new("ordinal", DataType::Int32, false),
                utf8("check_id", true),
                utf8("type", true),
                utf8("status", true),
                utf8("check_frequency", true),
                timestamp("completion_date", true),
                timestamp("expires_at", true),
                timestamp("last_checked_at", true),
                utf8("extra", true),
            ])
        })
        .clone()
    }

    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        vec![
            strings(rows.iter().map(|r| Some(r.personnel_id.as_str()))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.ordinal))),
            strings(rows.iter().map(|r| r.check_id.as_deref())),
            strings(rows.iter().map(|r| r.check_type.as_deref())),
            strings(rows.iter().map(|r| r.status.as_deref())),
            strings(rows.iter().map(|r| r.check_frequency.as_deref())),
            timestamps(rows.iter().map(|r| r.completion_date)),
            timestamps(rows.iter().map(|r| r.expires_at)),
            timestamps(rows.iter().map(|r| r.last_checked_at)),
            strings(rows.iter().map(|r| r.extra.as_deref())),
        ]
    }
}

/// The Arrow schema of a table by name (for verification and schema checks).
pub fn schema_for(table: Table) -> SchemaRef {
    match table {
        Table::Personnel => EnrichedPerson::schema(),
        Table::PersonnelTraining => Training::schema(),
        Table::PersonnelBackgroundChecks => BackgroundCheck::schema(),
        Table::Controls => Control::schema(),
        Table::PersonnelOrg => OrgRow::schema(),
        Table::PersonnelComplianceChecks => ComplianceCheck::schema(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FetchStatus, Person};

    #[test]
    fn person_batch_maps_types() {
        let p = EnrichedPerson {
            person: Person {
                id: "a".into(),
                email: Some("zoë@example.com".into()),
                start_date: NaiveDate::from_ymd_opt(1970, 1, 2),
                is_active: Some(false),
                ..Default::default()
            },
            training_fetch: FetchStatus::Ok,
            background_check_fetch: FetchStatus::Gone,
            list_fingerprint: "f".into(),
            enriched_at: None,
        };
        let b = to_batch(&[p], 1_000_000);
        assert_eq!(b.num_rows(), 1);
        assert_eq!(b.num_columns(), EnrichedPerson::schema().fields().len());
        let start = b.column_by_name("start_date").unwrap();
        let start = start.as_any().downcast_ref::<Date32Array>().unwrap();
        assert_eq!(start.value(0), 1);
        let status = b.column_by_name("background_check_fetch_status").unwrap();
        let status = status.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(status.value(0), "gone");
    }

    #[test]
    fn every_table_builds_an_empty_batch() {
        assert_eq!(to_batch::<EnrichedPerson>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<Training>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<BackgroundCheck>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<Control>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<OrgRow>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<ComplianceCheck>(&[], 0).num_rows(), 0);
    }
}
