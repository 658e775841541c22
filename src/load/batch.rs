//! Canonical records -> Arrow `RecordBatch`es: the one place that fixes each table's
//! columns, types and order, also for the rows an incremental run reads back (`row_schema`).
//! `schemas/<table>.json` documents the same columns and a test keeps the two in step.
//!
//! Dates are `date32`, `snapshot_at` is a UTC microsecond timestamp, enums stay strings so
//! values the API adds later survive, and JSON-shaped values (`training_status`, `extra`)
//! are kept as JSON text.
//!
//! Columns added to a table after its first release go in its `appended` list, which
//! follows `snapshot_at`: a file written by an older version then holds a leading prefix
//! of today's columns (what `verify` accepts and `previous` refuses to reuse).

use crate::record::{
    BackgroundCheck, ComplianceCheck, Control, Device, DeviceCheck, EnrichedPerson, FetchStatus, Identity, OrgRow,
    PolicyAssignment, Training, TrainingDocument,
};
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Int32Array, ListArray, ListBuilder, RecordBatch, StringArray, StringBuilder,
    StructArray, TimestampMicrosecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use chrono::{DateTime, NaiveDate, Utc};
use std::sync::{Arc, OnceLock};

use super::layout::Table;

/// A record type that is one row of one output table.
pub trait TableRow: Send + 'static {
    const TABLE: Table;
    /// Where `snapshot_at` sits: after the table's first-release columns, before the
    /// appended ones.
    const SNAPSHOT_AT: usize;
    fn schema() -> SchemaRef;
    /// Columns for `rows`, in schema order, without `snapshot_at` (inserted by `to_batch`).
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
    let mut fields = schema.fields().to_vec();
    fields.remove(R::SNAPSHOT_AT);
    Arc::new(Schema::new(fields))
}

/// `columns` (a table's own, in `row_schema` order) plus `snapshot_at`. `Err` when a column
/// does not have the declared type, or holds nulls where the table allows none.
pub fn stamp<R: TableRow>(mut columns: Vec<ArrayRef>, snapshot_at_micros: i64) -> Result<RecordBatch, ArrowError> {
    let rows = columns.first().map_or(0, |c| c.len());
    let at = Arc::new(TimestampMicrosecondArray::from(vec![snapshot_at_micros; rows]).with_timezone("UTC"));
    if columns.len() < R::SNAPSHOT_AT {
        return Err(ArrowError::SchemaError(format!("{} columns, the table has more", columns.len())));
    }
    columns.insert(R::SNAPSHOT_AT, at);
    RecordBatch::try_new(R::schema(), columns)
}

fn snapshot_at() -> Field {
    Field::new("snapshot_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false)
}

fn schema_of(mut fields: Vec<Field>, appended: Vec<Field>) -> SchemaRef {
    fields.push(snapshot_at());
    fields.extend(appended);
    Arc::new(Schema::new(fields))
}

/// How a file's columns relate to its table's contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaFit {
    /// Exactly today's columns.
    Current,
    /// A leading prefix of today's columns that still includes `snapshot_at`: written by
    /// an older version, before the rest were appended.
    Older { missing: usize },
    /// Anything else (reordered, retyped, renamed, extra or too few columns).
    Differs,
}

/// Compare a file's fields with `table`'s contract.
pub fn schema_fit(table: Table, file: &arrow::datatypes::Fields) -> SchemaFit {
    let want = schema_for(table);
    let want = want.fields();
    let at = want.iter().position(|f| f.name() == "snapshot_at").expect("every table has snapshot_at");
    if file == want {
        SchemaFit::Current
    } else if file.len() > at && file.len() < want.len() && file.iter().zip(want.iter()).all(|(a, b)| a == b) {
        SchemaFit::Older { missing: want.len() - file.len() }
    } else {
        SchemaFit::Differs
    }
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

    /// A list of training documents, each a struct of the documented fields (and `extra`);
    /// `None` is a null list.
    pub struct DocList;
    impl DocList {
        fn fields() -> Fields {
            Fields::from(vec![
                Field::new("id", DataType::Utf8, true),
                Field::new("user_id", DataType::Utf8, true),
                Field::new("name", DataType::Utf8, true),
                Field::new("type", DataType::Utf8, true),
                Field::new("file_url", DataType::Utf8, true),
                Field::new("renewal_date", DataType::Date32, true),
                Field::new("created_at", Timestamp::data_type(), true),
                Field::new("updated_at", Timestamp::data_type(), true),
                Field::new("extra", DataType::Utf8, true),
            ])
        }
        fn item() -> Arc<Field> {
            Arc::new(Field::new("item", DataType::Struct(Self::fields()), true))
        }
        pub fn data_type() -> DataType {
            DataType::List(Self::item())
        }
        pub fn build<'a>(it: impl Iterator<Item = Option<&'a [TrainingDocument]>>) -> ArrayRef {
            let lists: Vec<Option<&[TrainingDocument]>> = it.collect();
            let docs: Vec<&TrainingDocument> = lists.iter().flatten().flat_map(|l| l.iter()).collect();
            let s = |f: fn(&TrainingDocument) -> Option<&str>| Utf8::build(docs.iter().map(|d| f(d)));
            let values = StructArray::new(
                Self::fields(),
                vec![
                    s(|d| d.id.as_deref()),
                    s(|d| d.user_id.as_deref()),
                    s(|d| d.name.as_deref()),
                    s(|d| d.doc_type.as_deref()),
                    s(|d| d.file_url.as_deref()),
                    Date::build(docs.iter().map(|d| d.renewal_date)),
                    Timestamp::build(docs.iter().map(|d| d.created_at)),
                    Timestamp::build(docs.iter().map(|d| d.updated_at)),
                    s(|d| d.extra.as_deref()),
                ],
                None,
            );
            let offsets = OffsetBuffer::from_lengths(lists.iter().map(|l| l.map_or(0, <[_]>::len)));
            let nulls = NullBuffer::from_iter(lists.iter().map(Option::is_some));
            Arc::new(ListArray::new(Self::item(), offsets, Arc::new(values), Some(nulls)))
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
/// schema (with `snapshot_at` between the first-release and the `appended` columns) and its
/// batches both come from this one list, in its order.
macro_rules! table_row {
    ($row:ty => $table:expr, [$($name:literal: $kind:ident $($nullable:ident)?, |$r:ident| $get:expr;)*]
     $(, appended [$($aname:literal: $akind:ident $($anullable:ident)?, |$ar:ident| $aget:expr;)*])?) => {
        impl TableRow for $row {
            const TABLE: Table = $table;
            const SNAPSHOT_AT: usize = [$($name),*].len();

            fn schema() -> SchemaRef {
                static S: OnceLock<SchemaRef> = OnceLock::new();
                S.get_or_init(|| {
                    schema_of(
                        vec![$(Field::new($name, kind::$kind::data_type(), table_row!(@nullable $($nullable)?))),*],
                        vec![$($(Field::new($aname, kind::$akind::data_type(), table_row!(@nullable $($anullable)?))),*)?],
                    )
                })
                .clone()
            }

            fn columns(rows: &[Self]) -> Vec<ArrayRef> {
                vec![
                    $(kind::$kind::build(rows.iter().map(|$r: &$row| $get)),)*
                    $($(kind::$akind::build(rows.iter().map(|$ar: &$row| $aget)),)*)?
                ]
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
], appended [
    "status_updated_at": Timestamp, |r| r.person.details.status_updated_at;
    "not_human_reason": Utf8, |r| r.person.details.not_human_reason.as_deref();
    "reason_provider_user_id": Utf8, |r| r.person.details.reason_provider_user_id.as_deref();
    "created_at": Timestamp, |r| r.person.details.created_at;
    "updated_at": Timestamp, |r| r.person.details.updated_at;
    "user_created_at": Timestamp, |r| r.person.details.user_created_at;
    "user_updated_at": Timestamp, |r| r.person.details.user_updated_at;
    "roles": StrList, |r| r.person.details.roles.as_deref();
    "avatar_url": Utf8, |r| r.person.details.avatar_url.as_deref();
    "drata_terms_agreed_at": Timestamp, |r| r.person.details.drata_terms_agreed_at;
    "user_entry_id": Utf8, |r| r.person.details.user_entry_id.as_deref();
    "os_version": Utf8, |r| r.person.details.os_version.as_deref();
    "serial_number": Utf8, |r| r.person.details.serial_number.as_deref();
    "agent_enabled": Boolean, |r| r.person.details.agent_enabled;
    "manual_upload_enabled": Boolean, |r| r.person.details.manual_upload_enabled;
    "devices_count": Int32, |r| r.person.details.devices_count;
    "devices_failing_compliance_count": Int32, |r| r.person.details.devices_failing_compliance_count;
    "agent_version": Utf8, |r| r.person.details.agent_version.as_deref();
    "agent_os_version": Utf8, |r| r.person.details.agent_os_version.as_deref();
    "agent_serial_number": Utf8, |r| r.person.details.agent_serial_number.as_deref();
    "agent_mac_address": Utf8, |r| r.person.details.agent_mac_address.as_deref();
    "agent_screen_lock_time": Utf8, |r| r.person.details.agent_screen_lock_time.as_deref();
    "agent_last_checked_at": Timestamp, |r| r.person.details.agent_last_checked_at;
    "agent_created_at": Timestamp, |r| r.person.details.agent_created_at;
    "agent_updated_at": Timestamp, |r| r.person.details.agent_updated_at;
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
], appended [
    "check_id": Utf8, |r| r.check_id.as_deref();
    "check_frequency": Utf8, |r| r.check_frequency.as_deref();
    "expires_at": Timestamp, |r| r.expires_at;
    "last_checked_at": Timestamp, |r| r.last_checked_at;
    "documents": DocList, |r| r.documents.as_deref();
]);

table_row!(BackgroundCheck => Table::PersonnelBackgroundChecks, [
    "personnel_id": Utf8 required, |r| Some(r.personnel_id.as_str());
    "ordinal": Int32 required, |r| Some(r.ordinal);
    "status": Utf8, |r| r.status.as_deref();
    "completed_at": Date, |r| r.completed_at;
    "extra": Utf8, |r| r.extra.as_deref();
    "enriched_at": Timestamp, |r| r.enriched_at;
], appended [
    "id": Utf8, |r| r.id.as_deref();
    "user_id": Utf8, |r| r.user_id.as_deref();
    "type": Utf8, |r| r.check_type.as_deref();
    "source": Utf8, |r| r.source.as_deref();
    "case_id": Utf8, |r| r.case_id.as_deref();
    "case_invitation_id": Utf8, |r| r.case_invitation_id.as_deref();
    "url": Utf8, |r| r.url.as_deref();
    "manually_check_url": Utf8, |r| r.manually_check_url.as_deref();
    "report_data": Utf8, |r| r.report_data.as_deref();
    "out_of_scope_reason": Utf8, |r| r.out_of_scope_reason.as_deref();
    "out_of_scope_at": Timestamp, |r| r.out_of_scope_at;
    "invitation_email": Utf8, |r| r.invitation_email.as_deref();
    "linked_at": Timestamp, |r| r.linked_at;
    "created_at": Timestamp, |r| r.created_at;
    "updated_at": Timestamp, |r| r.updated_at;
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
], appended [
    "code": Utf8, |r| r.details.code.as_deref();
    "slug": Utf8, |r| r.details.slug.as_deref();
    "description": Utf8, |r| r.details.description.as_deref();
    "question": Utf8, |r| r.details.question.as_deref();
    "activity": Utf8, |r| r.details.activity.as_deref();
    "archived_at": Timestamp, |r| r.details.archived_at;
    "rationale": Utf8, |r| r.details.rationale.as_deref();
    "control_template_id": Utf8, |r| r.details.control_template_id.as_deref();
    "created_at": Timestamp, |r| r.details.created_at;
    "updated_at": Timestamp, |r| r.details.updated_at;
    "workspace_id": Utf8, |r| r.details.workspace_id.as_deref();
    "framework_tags": StrList, |r| r.details.framework_tags.as_deref();
    "topics": StrList, |r| r.details.topics.as_deref();
    "has_evidence": Boolean, |r| r.details.has_evidence;
    "has_policy": Boolean, |r| r.details.has_policy;
    "has_owner": Boolean, |r| r.details.has_owner;
    "is_monitored": Boolean, |r| r.details.is_monitored;
    "is_ready": Boolean, |r| r.details.is_ready;
    "has_ticket": Boolean, |r| r.details.has_ticket;
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
], appended [
    "created_at": Timestamp, |r| r.created_at;
    "updated_at": Timestamp, |r| r.updated_at;
    "exclusion_id": Utf8, |r| r.exclusion_id.as_deref();
    "exclusion_reason": Utf8, |r| r.exclusion_reason.as_deref();
    "exclusion_created_by_id": Utf8, |r| r.exclusion_created_by_id.as_deref();
    "exclusion_created_by_email": Utf8, |r| r.exclusion_created_by_email.as_deref();
    "exclusion_created_at": Timestamp, |r| r.exclusion_created_at;
    "exclusion_start_date": Timestamp, |r| r.exclusion_start_date;
    "exclusion_end_date": Timestamp, |r| r.exclusion_end_date;
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

/// A column type as `schemas/<table>.json` spells it (lineage facets use the same words).
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "utf8".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::Boolean => "bool".into(),
        DataType::Date32 => "date32".into(),
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) => format!("timestamp[us, {tz}]"),
        DataType::List(item) => format!("list<{}>", type_name(item.data_type())),
        DataType::Struct(fields) => {
            let f: Vec<String> = fields.iter().map(|f| format!("{}: {}", f.name(), type_name(f.data_type()))).collect();
            format!("struct<{}>", f.join(", "))
        }
        other => format!("{other:?}"),
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
        Table::PersonnelIdentities => Identity::schema(),
        Table::PersonnelDevices => Device::schema(),
        Table::PersonnelDeviceChecks => DeviceCheck::schema(),
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
        let last = EnrichedPerson::schema().fields().len() - 1;
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
        assert_eq!(to_batch::<Identity>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<Device>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<DeviceCheck>(&[], 0).num_rows(), 0);
        assert_eq!(to_batch::<PolicyAssignment>(&[], 0).num_rows(), 0);
    }

    #[test]
    fn snapshot_at_sits_between_first_release_and_appended_columns() {
        for table in Table::ALL {
            let s = schema_for(table);
            let at = s.index_of("snapshot_at").unwrap();
            let own = match table {
                Table::Personnel => row_schema::<EnrichedPerson>(),
                Table::PersonnelTraining => row_schema::<Training>(),
                Table::PersonnelBackgroundChecks => row_schema::<BackgroundCheck>(),
                Table::Controls => row_schema::<Control>(),
                Table::PersonnelOrg => row_schema::<OrgRow>(),
                Table::PersonnelComplianceChecks => row_schema::<ComplianceCheck>(),
                Table::PersonnelIdentities => row_schema::<Identity>(),
                Table::PersonnelDevices => row_schema::<Device>(),
                Table::PersonnelDeviceChecks => row_schema::<DeviceCheck>(),
                Table::PersonnelPolicies => row_schema::<PolicyAssignment>(),
            };
            assert_eq!(own.fields().len() + 1, s.fields().len(), "{table:?}");
            assert!(own.field_with_name("snapshot_at").is_err());
            assert_eq!(&own.fields()[..at], &s.fields()[..at], "{table:?}");
            assert_eq!(schema_fit(table, s.fields()), SchemaFit::Current);
            // A file that stops at snapshot_at (or later, before the end) is an older version's.
            let prefix = arrow::datatypes::Fields::from(s.fields()[..=at].to_vec());
            let missing = s.fields().len() - at - 1;
            let want = if missing == 0 { SchemaFit::Current } else { SchemaFit::Older { missing } };
            assert_eq!(schema_fit(table, &prefix), want, "{table:?}");
            // Without snapshot_at, or with one column retyped: differs.
            let short = arrow::datatypes::Fields::from(s.fields()[..at].to_vec());
            assert_eq!(schema_fit(table, &short), SchemaFit::Differs);
            let mut retyped: Vec<Field> = s.fields().iter().map(|f| f.as_ref().clone()).collect();
            retyped[0] = Field::new(retyped[0].name(), DataType::Int32, retyped[0].is_nullable());
            assert_eq!(schema_fit(table, &retyped.into()), SchemaFit::Differs);
        }
        // Every table that gained columns for the real dialects has them after snapshot_at.
        for (table, first_appended) in [
            (Table::Personnel, "status_updated_at"),
            (Table::PersonnelTraining, "check_id"),
            (Table::PersonnelBackgroundChecks, "id"),
            (Table::Controls, "code"),
            (Table::PersonnelComplianceChecks, "created_at"),
        ] {
            let s = schema_for(table);
            assert_eq!(s.index_of(first_appended).unwrap(), s.index_of("snapshot_at").unwrap() + 1, "{table:?}");
        }
    }

    #[test]
    fn training_documents_are_a_list_of_structs() {
        use arrow::array::Array;
        let doc = TrainingDocument {
            id: Some("3".into()),
            name: Some("cert.pdf".into()),
            renewal_date: NaiveDate::from_ymd_opt(1970, 1, 3),
            ..Default::default()
        };
        let rows = [
            Training { personnel_id: "a".into(), documents: Some(vec![doc.clone(), doc]), ..Default::default() },
            Training { personnel_id: "a".into(), ordinal: 1, documents: None, ..Default::default() },
            Training { personnel_id: "b".into(), documents: Some(vec![]), ..Default::default() },
        ];
        let b = to_batch(&rows, 0);
        let docs = b.column_by_name("documents").unwrap().as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!((docs.value_length(0), docs.is_null(1), docs.value_length(2), docs.is_null(2)), (2, true, 0, false));
        let first = docs.value(0);
        let s = first.as_any().downcast_ref::<StructArray>().unwrap();
        let names = s.column_by_name("name").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(names.value(1), "cert.pdf");
        let renew = s.column_by_name("renewal_date").unwrap().as_any().downcast_ref::<Date32Array>().unwrap();
        assert_eq!(renew.value(0), 2);
        assert!(s.column_by_name("file_url").unwrap().is_null(0));
    }
}
