//! Canonical records -> Arrow `RecordBatch`es: the one place that fixes each table's
//! columns, types and order, also for the rows an incremental run reads back (`row_schema`).
//! `schemas/<table>.json` documents the same columns and a test keeps the two in step.
//!
//! Dates are `date32`, `snapshot_at` is a UTC microsecond timestamp, enums stay strings so
//! values the API adds later survive, and JSON-shaped values (`training_status`, `extra`)
//! are kept as JSON text.

use crate::record::{
    BackgroundCheck, ComplianceCheck, Control, EnrichedPerson, FetchStatus, OrgRow, PolicyAssignment, Training,
};
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Int32Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use chrono::{DateTime, NaiveDate, Utc};
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
    stamp::<R>(R::columns(rows), snapshot_at_micros).expect("columns match the table schema")
}

/// A table's own columns: its schema without `snapshot_at`, which every run stamps anew.
/// What an earlier snapshot's rows are read back as.
pub fn row_schema<R: TableRow>() -> SchemaRef {
    let schema = R::schema();
    let fields = &schema.fields()[..schema.fields().len() - 1];
    Arc::new(Schema::new(fields.to_vec()))
}

/// `columns` (a table's own, in `row_schema` order) plus `snapshot_at`. `Err` when a column
/// does not have the declared type, or holds nulls where the table allows none.
pub fn stamp<R: TableRow>(mut columns: Vec<ArrayRef>, snapshot_at_micros: i64) -> Result<RecordBatch, ArrowError> {
    let rows = columns.first().map_or(0, |c| c.len());
    columns.push(Arc::new(TimestampMicrosecondArray::from(vec![snapshot_at_micros; rows]).with_timezone("UTC")));
    RecordBatch::try_new(R::schema(), columns)
}

fn snapshot_at() -> Field {
    Field::new("snapshot_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false)
}

fn schema_of(mut fields: Vec<Field>) -> SchemaRef {
    fields.push(snapshot_at());
    Arc::new(Schema::new(fields))
}

/// The column kinds a table may have: each fixes the Arrow type and how a column is built
/// from the rows' values (`None` is null).
mod kind {
    use super::*;

    pub struct Utf8;
    impl Utf8 {
        pub fn data_type() -> DataType {
            DataType::Utf8
        }
        pub fn build<'a>(it: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
            Arc::new(StringArray::from_iter(it))
        }
    }

    /// Days since 1970-01-01.
    pub struct Date;
    impl Date {
        pub fn data_type() -> DataType {
            DataType::Date32
        }
        pub fn build(it: impl Iterator<Item = Option<NaiveDate>>) -> ArrayRef {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
            Arc::new(Date32Array::from_iter(it.map(|d| d.map(|d| (d - epoch).num_days() as i32))))
        }
    }

    /// UTC microseconds.
    pub struct Timestamp;
    impl Timestamp {
        pub fn data_type() -> DataType {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        pub fn build(it: impl Iterator<Item = Option<DateTime<Utc>>>) -> ArrayRef {
            Arc::new(
                TimestampMicrosecondArray::from_iter(it.map(|t| t.map(|t| t.timestamp_micros()))).with_timezone("UTC"),
            )
        }
    }

    pub struct Int32;
    impl Int32 {
        pub fn data_type() -> DataType {
            DataType::Int32
        }
        pub fn build(it: impl Iterator<Item = Option<i32>>) -> ArrayRef {
            Arc::new(Int32Array::from_iter(it))
        }
    }

    pub struct Boolean;
    impl Boolean {
        pub fn data_type() -> DataType {
            DataType::Boolean
        }
        pub fn build(it: impl Iterator<Item = Option<bool>>) -> ArrayRef {
            Arc::new(BooleanArray::from_iter(it))
        }
    }

    /// A list of strings (items nullable); `None` is a null list.
    pub struct StrList;
    impl StrList {
        pub fn data_type() -> DataType {
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
        }
        pub fn build<'a>(it: impl Iterator<Item = Option<&'a [String]>>) -> ArrayRef {
            let mut b = ListBuilder::new(StringBuilder::new());
            for v in it {
                match v {
                    Some(items) => b.append_value(items.iter().map(Some)),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
    }
}

/// Declares a table's columns once: name, kind, nullability and the value of each row. Its
/// schema (plus `snapshot_at`) and its batches both come from this one list, in its order.
macro_rules! table_row {
    ($row:ty => $table:expr, [$($name:literal: $kind:ident $($nullable:ident)?, |$r:ident| $get:expr;)*]) => {
        impl TableRow for $row {
            const TABLE: Table = $table;

            fn schema() -> SchemaRef {
                static S: OnceLock<SchemaRef> = OnceLock::new();
                S.get_or_init(|| {
                    schema_of(vec![$(Field::new($name, kind::$kind::data_type(), table_row!(@nullable $($nullable)?))),*])
                })
                .clone()
            }

            fn columns(rows: &[Self]) -> Vec<ArrayRef> {
                vec![$(kind::$kind::build(rows.iter().map(|$r: &$row| $get))),*]
            }
        }
    };
    (@nullable) => { true };
    (@nullable required) => { false };
}

table_row!(EnrichedPerson => Table::Personnel, [
    "id": Utf8 required, |r| Some(r.person.id.as_str());
    "email": Utf8, |r| r.person.email.as_deref();
    "first_name": Utf8, |r| r.person.first_name.as_deref();
    "last_name": Utf8, |r| r.person.last_name.as_deref();
    "title": Utf8, |r| r.person.title.as_deref();
    "department": Utf8, |r| r.person.department.as_deref();
    "employment_type": Utf8, |r| r.person.employment_type.as_deref();
    "start_date": Date, |r| r.person.start_date;
    "end_date": Date, |r| r.person.end_date;
    "is_active": Boolean, |r| r.person.is_active;
    "role": Utf8, |r| r.person.role.as_deref();
    "manager_id": Utf8, |r| r.person.manager_id.as_deref();
    "compliance_status": Utf8, |r| r.person.compliance_status.as_deref();
    "training_status": Utf8, |r| r.person.training_status.as_deref();
    "external_id": Utf8, |r| r.person.external_id.as_deref();
    "training_fetch_status": Utf8 required, |r| Some(r.training_fetch.as_str());
    "background_check_fetch_status": Utf8 required, |r| Some(r.background_check_fetch.as_str());
    "extra": Utf8, |r| r.person.extra.as_deref();
    "list_fingerprint": Utf8 required, |r| Some(r.list_fingerprint.as_str());
    "enriched_at": Timestamp, |r| r.enriched_at;
    "employment_status": Utf8, |r| r.person.employment_status.as_deref();
    "user_id": Utf8, |r| r.person.user_id.as_deref();
    // `None`: the dialect has no assigned-policies endpoint (guide, v1).
    "policies_fetch_status": Utf8 required, |r| Some(r.policies_fetch.map_or(POLICIES_NOT_AVAILABLE, FetchStatus::as_str));
]);

/// `personnel.policies_fetch_status` where the dialect has no assigned-policies endpoint.
pub const POLICIES_NOT_AVAILABLE: &str = "not_available";

table_row!(Training => Table::PersonnelTraining, [
    "personnel_id": Utf8 required, |r| Some(r.personnel_id.as_str());
    "ordinal": Int32 required, |r| Some(r.ordinal);
    "name": Utf8, |r| r.name.as_deref();
    "status": Utf8, |r| r.status.as_deref();
    "completed_at": Date, |r| r.completed_at;
    "extra": Utf8, |r| r.extra.as_deref();
    "enriched_at": Timestamp, |r| r.enriched_at;
]);

table_row!(BackgroundCheck => Table::PersonnelBackgroundChecks, [
    "personnel_id": Utf8 required, |r| Some(r.personnel_id.as_str());
    "ordinal": Int32 required, |r| Some(r.ordinal);
    "status": Utf8, |r| r.status.as_deref();
    "completed_at": Date, |r| r.completed_at;
    "extra": Utf8, |r| r.extra.as_deref();
    "enriched_at": Timestamp, |r| r.enriched_at;
]);

table_row!(Control => Table::Controls, [
    "id": Utf8 required, |r| Some(r.id.as_str());
    "name": Utf8, |r| r.name.as_deref();
    "status": Utf8, |r| r.status.as_deref();
    "owner_id": Utf8, |r| r.owner_id.as_deref();
    "extra": Utf8, |r| r.extra.as_deref();
    "owner_ids": StrList required, |r| Some(r.owner_ids.as_slice());
    // Null (not empty) when the dialect has no user ids (the guide).
    "owner_user_ids": StrList, |r| (!r.owner_user_ids.is_empty()).then_some(r.owner_user_ids.as_slice());
]);

table_row!(OrgRow => Table::PersonnelOrg, [
    "id": Utf8 required, |r| Some(r.id.as_str());
    "manager_id": Utf8, |r| r.manager_id.as_deref();
    "manager_email": Utf8, |r| r.manager_email.as_deref();
    "depth": Int32, |r| r.depth;
    "top_manager_id": Utf8, |r| r.top_manager_id.as_deref();
    "chain": StrList required, |r| Some(r.chain.as_slice());
    "chain_status": Utf8 required, |r| Some(r.chain_status.as_str());
    "manager_dangling": Boolean required, |r| Some(r.manager_dangling);
    "in_cycle": Boolean required, |r| Some(r.in_cycle);
]);

table_row!(ComplianceCheck => Table::PersonnelComplianceChecks, [
    "personnel_id": Utf8 required, |r| Some(r.personnel_id.as_str());
    "ordinal": Int32 required, |r| Some(r.ordinal);
    "check_id": Utf8, |r| r.check_id.as_deref();
    "type": Utf8, |r| r.check_type.as_deref();
    "status": Utf8, |r| r.status.as_deref();
    "check_frequency": Utf8, |r| r.check_frequency.as_deref();
    "completion_date": Timestamp, |r| r.completion_date;
    "expires_at": Timestamp, |r| r.expires_at;
    "last_checked_at": Timestamp, |r| r.last_checked_at;
    "extra": Utf8, |r| r.extra.as_deref();
]);

table_row!(PolicyAssignment => Table::PersonnelPolicies, [
    "personnel_id": Utf8 required, |r| Some(r.personnel_id.as_str());
    "user_id": Utf8, |r| r.user_id.as_deref();
    "ordinal": Int32 required, |r| Some(r.ordinal);
    "user_policy_version_id": Utf8, |r| r.user_policy_version_id.as_deref();
    "policy_id": Utf8, |r| r.policy_id.as_deref();
    "policy_name": Utf8, |r| r.policy_name.as_deref();
    "policy_description": Utf8, |r| r.policy_description.as_deref();
    "policy_status": Utf8, |r| r.policy_status.as_deref();
    "assigned_to": Utf8, |r| r.assigned_to.as_deref();
    "policy_renewal_date": Date, |r| r.policy_renewal_date;
    "policy_created_at": Timestamp, |r| r.policy_created_at;
    "policy_updated_at": Timestamp, |r| r.policy_updated_at;
    "policy_version_id": Utf8, |r| r.policy_version_id.as_deref();
    "version": Int32, |r| r.version;
    "sub_version": Int32, |r| r.sub_version;
    "version_is_current": Boolean, |r| r.version_is_current;
    "version_type": Utf8, |r| r.version_type.as_deref();
    "version_description": Utf8, |r| r.version_description.as_deref();
    "version_changes_explanation": Utf8, |r| r.version_changes_explanation.as_deref();
    "requires_acknowledgment": Boolean, |r| r.requires_acknowledgment;
    "version_renewal_date": Date, |r| r.version_renewal_date;
    "published_at": Timestamp, |r| r.published_at;
    "approved_at": Timestamp, |r| r.approved_at;
    "version_created_at": Timestamp, |r| r.version_created_at;
    "version_updated_at": Timestamp, |r| r.version_updated_at;
    "accepted_at": Timestamp, |r| r.accepted_at;
    "source_type": Utf8, |r| r.source_type.as_deref();
    "details": Utf8, |r| r.details.as_deref();
    "created_at": Timestamp, |r| r.created_at;
    "updated_at": Timestamp, |r| r.updated_at;
    "extra": Utf8, |r| r.extra.as_deref();
    "enriched_at": Timestamp, |r| r.enriched_at;
]);

/// The Arrow schema of a table by name (for verification and schema checks).
pub fn schema_for(table: Table) -> SchemaRef {
    match table {
        Table::Personnel => EnrichedPerson::schema(),
        Table::PersonnelTraining => Training::schema(),
        Table::PersonnelBackgroundChecks => BackgroundCheck::schema(),
        Table::Controls => Control::schema(),
        Table::PersonnelOrg => OrgRow::schema(),
        Table::PersonnelComplianceChecks => ComplianceCheck::schema(),
        Table::PersonnelPolicies => PolicyAssignment::schema(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Person;

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
            policies_fetch: None,
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
        let policies = b.column_by_name("policies_fetch_status").unwrap();
        assert_eq!(policies.as_any().downcast_ref::<StringArray>().unwrap().value(0), "not_available");
        let last = EnrichedPerson::schema().fields().len() - 2;
        assert_eq!(EnrichedPerson::schema().field(last).name(), "policies_fetch_status", "appended at the end");
    }

    #[test]
    fn every_table_builds_an_empty_batch() {
        assert_eq!(to_batch::<EnrichedPerson>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<Training>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<BackgroundCheck>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<Control>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<OrgRow>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<ComplianceCheck>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<PolicyAssignment>(&[], 0).num_rows(), 0);
    }
}
