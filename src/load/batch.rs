//! Canonical records -> Arrow `RecordBatch`es: the one place that fixes each table's
//! columns, types and order, also for the rows an incremental run reads back (`row_schema`).
//! `schemas/<table>.json` documents the same columns and a test keeps the two in step.
//!
//! Dates are `date32`, `snapshot_at` is a UTC microsecond timestamp, enums stay strings so
//! values the API adds later survive, and JSON-shaped values (`training_status`, `extra`)
//! are kept as JSON text.

use crate::record::{
    BackgroundCheck, ComplianceCheck, Control, Device, DeviceCheck, EnrichedPerson, Identity, OrgRow, Training,
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
]);

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

table_row!(Identity => Table::PersonnelIdentities, [
    "personnel_id": Utf8 required, |r| Some(r.personnel_id.as_str());
    "user_id": Utf8, |r| r.user_id.as_deref();
    "ordinal": Int32 required, |r| Some(r.ordinal);
    "id": Utf8, |r| r.id.as_deref();
    "identity_id": Utf8, |r| r.identity_id.as_deref();
    "connection_id": Utf8, |r| r.connection_id.as_deref();
    "connection_client_type": Utf8, |r| r.connection_client_type.as_deref();
    "connection_client_id": Utf8, |r| r.connection_client_id.as_deref();
    "connection_client_alias": Utf8, |r| r.connection_client_alias.as_deref();
    "connection_state": Utf8, |r| r.connection_state.as_deref();
    "connection_deleted_at": Timestamp, |r| r.connection_deleted_at;
    "username": Utf8, |r| r.username.as_deref();
    "email": Utf8, |r| r.email.as_deref();
    "secondary_email": Utf8, |r| r.secondary_email.as_deref();
    "first_name": Utf8, |r| r.first_name.as_deref();
    "last_name": Utf8, |r| r.last_name.as_deref();
    "has_mfa": Boolean, |r| r.has_mfa;
    "connected_at": Timestamp, |r| r.connected_at;
    "disconnected_at": Timestamp, |r| r.disconnected_at;
    "started_at": Date, |r| r.started_at;
    "separated_at": Date, |r| r.separated_at;
    "is_contractor": Boolean, |r| r.is_contractor;
    "job_title": Utf8, |r| r.job_title.as_deref();
    "manager_id": Utf8, |r| r.manager_id.as_deref();
    "manager_name": Utf8, |r| r.manager_name.as_deref();
    "created_at": Timestamp, |r| r.created_at;
    "updated_at": Timestamp, |r| r.updated_at;
    "extra": Utf8, |r| r.extra.as_deref();
]);

table_row!(Device => Table::PersonnelDevices, [
    "personnel_id": Utf8 required, |r| Some(r.personnel_id.as_str());
    "device_id": Utf8, |r| r.device_id.as_deref();
    "asset_id": Utf8, |r| r.asset_id.as_deref();
    "os_version": Utf8, |r| r.os_version.as_deref();
    "serial_number": Utf8, |r| r.serial_number.as_deref();
    "model": Utf8, |r| r.model.as_deref();
    "mac_address": Utf8, |r| r.mac_address.as_deref();
    "last_checked_at": Timestamp, |r| r.last_checked_at;
    "source_type": Utf8, |r| r.source_type.as_deref();
    "created_at": Timestamp, |r| r.created_at;
    "updated_at": Timestamp, |r| r.updated_at;
    "deleted_at": Timestamp, |r| r.deleted_at;
    "apps_count": Int32, |r| r.apps_count;
    "is_device_compliant": Boolean, |r| r.is_device_compliant;
    "screen_lock_time": Int32, |r| r.screen_lock_time;
    "screen_lock_explanation": Utf8, |r| r.screen_lock_explanation.as_deref();
    "antivirus_enabled": Boolean, |r| r.antivirus_enabled;
    "antivirus_explanation": Utf8, |r| r.antivirus_explanation.as_deref();
    "auto_update_enabled": Boolean, |r| r.auto_update_enabled;
    "auto_update_explanation": Utf8, |r| r.auto_update_explanation.as_deref();
    "password_manager_enabled": Boolean, |r| r.password_manager_enabled;
    "password_manager_explanation": Utf8, |r| r.password_manager_explanation.as_deref();
    "encryption_enabled": Boolean, |r| r.encryption_enabled;
    "encryption_explanation": Utf8, |r| r.encryption_explanation.as_deref();
    "firewall_enabled": Boolean, |r| r.firewall_enabled;
    "firewall_explanation": Utf8, |r| r.firewall_explanation.as_deref();
    "user_id": Utf8, |r| r.user_id.as_deref();
    "external_id": Utf8, |r| r.external_id.as_deref();
    "identifiers": StrList, |r| r.identifiers.as_deref();
    "extra": Utf8, |r| r.extra.as_deref();
]);

table_row!(DeviceCheck => Table::PersonnelDeviceChecks, [
    "personnel_id": Utf8 required, |r| Some(r.personnel_id.as_str());
    "device_id": Utf8, |r| r.device_id.as_deref();
    "ordinal": Int32 required, |r| Some(r.ordinal);
    "check_id": Utf8, |r| r.check_id.as_deref();
    "type": Utf8, |r| r.check_type.as_deref();
    "status": Utf8, |r| r.status.as_deref();
    "check_frequency": Utf8, |r| r.check_frequency.as_deref();
    "completion_date": Timestamp, |r| r.completion_date;
    "expires_at": Timestamp, |r| r.expires_at;
    "last_checked_at": Timestamp, |r| r.last_checked_at;
    "created_at": Timestamp, |r| r.created_at;
    "updated_at": Timestamp, |r| r.updated_at;
    "extra": Utf8, |r| r.extra.as_deref();
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
        Table::PersonnelIdentities => Identity::schema(),
        Table::PersonnelDevices => Device::schema(),
        Table::PersonnelDeviceChecks => DeviceCheck::schema(),
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
        assert_eq!(to_batch::<Identity>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<Device>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<DeviceCheck>(&[], 0).num_rows(), 0);
    }
}
