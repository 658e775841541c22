//! The part of `drata-etl report` only real-dialect (v1/v2) snapshots can answer, from the
//! tables only they fill: devices failing their compliance checks, people who have not
//! accepted a current policy that requires acknowledgment, linked identities without MFA,
//! and leavers whose identities are still connected after their end date.
//!
//! Conventions, as in `report`: active unless `is_active` is false; a device counts unless
//! it is deleted (`deleted_at` set); a check or identity fails when its status is one of the
//! dialect's non-compliant values (`vocab`); an identity is linked while neither it
//! (`disconnected_at`) nor its connection (`connection_deleted_at`) is gone. People whose
//! policies could not be fetched (`policies_fetch_status` not `ok`) are counted apart, never
//! listed as not having accepted. Each section is `None` when the snapshot lacks its table
//! (written by an older version, or by the guide dialect).

use super::people::{
    active, inactive, ints, label, people, people_table, strs, PeopleList, PersonRef, NONE_LABEL, PERSON_COLS,
};
use super::polars_err;
use super::render::{Section, Table};
use super::snapshot::{scan, table_files};
use super::vocab::Vocab;
use crate::error::EtlError;
use crate::load::{Manifest, Table as T};
use polars::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Devices failing one compliance check type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceCheckFailure {
    pub check_type: String,
    /// Devices (not deleted) of active people whose check of this type is not compliant.
    pub devices: u64,
    /// ... and the active people owning them.
    pub people: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealFindings {
    /// Device failures by check type (most devices first); `None`: no device tables.
    pub device_failures: Option<Vec<DeviceCheckFailure>>,
    /// Active people with a failing device check; detail: the failing check types.
    pub people_with_failing_devices: Option<PeopleList>,
    /// Active people (policies fetched) with a current, acknowledgment-requiring policy
    /// version not accepted; detail: the policies' names.
    pub policies_not_accepted: Option<PeopleList>,
    /// Active people whose policies could not be fetched (left out above).
    pub policies_unknown: Option<u64>,
    /// Active people with a linked identity whose `has_mfa` is false; detail: the
    /// connections (client types).
    pub mfa_missing: Option<PeopleList>,
    /// Inactive people past their end date with an identity still linked; detail: days
    /// since the end date and the connections.
    pub leavers_still_connected: Option<PeopleList>,
}

fn has(m: &Manifest, t: T) -> bool {
    m.tables.contains_key(t.name())
}

/// Whether the snapshot's `t` files have column `c` (a column appended after the version
/// that wrote them is absent; one version writes all of a snapshot's files).
fn has_column(root: &Path, m: &Manifest, t: T, c: &str) -> bool {
    let Some(first) = table_files(root, m, t).and_then(|f| f.into_iter().next()) else { return false };
    std::fs::File::open(first)
        .ok()
        .and_then(|f| parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).ok())
        .is_some_and(|b| b.schema().field_with_name(c).is_ok())
}

/// Per person id, the sorted distinct values of `what` (a label column) in `pairs`.
fn per_person(pairs: &DataFrame, what: &str) -> PolarsResult<BTreeMap<String, BTreeSet<String>>> {
    let (who, vals) = (strs(pairs, "personnel_id")?, strs(pairs, what)?);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (p, v) in who.iter().zip(&vals) {
        out.entry(p.unwrap_or_default().to_string()).or_default().insert(v.unwrap_or(NONE_LABEL).to_string());
    }
    Ok(out)
}

/// The people of `ids` (from personnel), each with the detail `detail(id)`, cut at `limit`.
fn listed(personnel: LazyFrame, details: &BTreeMap<String, String>, limit: usize) -> PolarsResult<PeopleList> {
    let ids: Vec<&str> = details.keys().map(String::as_str).collect();
    let wanted = DataFrame::new(ids.len(), vec![Column::new("id".into(), &ids)])?;
    let df = personnel.join(wanted.lazy(), [col("id")], [col("id")], JoinArgs::new(JoinType::Inner)).collect()?;
    let mut list: Vec<PersonRef> = people(&df)?;
    for p in &mut list {
        p.detail = details.get(&p.id).cloned();
    }
    Ok(PeopleList::cut(list, limit))
}

/// The real-dialect findings of snapshot `m`, or `None` for a guide snapshot.
pub fn findings(root: &Path, m: &Manifest, limit: usize, snapshot_day: i32) -> Result<Option<RealFindings>, EtlError> {
    let v = Vocab::of(m);
    if !v.has_checks {
        return Ok(None);
    }
    let err = polars_err("the report's real-dialect sections");
    let personnel = |cols: &[&str]| scan(root, m, T::Personnel, cols);
    let active_ids = || personnel(&["id", "is_active"]).map(|lf| lf.filter(active()).select([col("id")]));
    let mut f = RealFindings {
        device_failures: None,
        people_with_failing_devices: None,
        policies_not_accepted: None,
        policies_unknown: None,
        mfa_missing: None,
        leavers_still_connected: None,
    };

    if has(m, T::PersonnelDevices) && has(m, T::PersonnelDeviceChecks) {
        let live = scan(root, m, T::PersonnelDevices, &["personnel_id", "device_id", "deleted_at"])?
            .filter(col("deleted_at").is_null())
            .select([col("personnel_id"), col("device_id")]);
        let failing = scan(root, m, T::PersonnelDeviceChecks, &["personnel_id", "device_id", "type", "status"])?
            .filter(v.is_non_compliant("status"))
            .join(
                live,
                [col("personnel_id"), col("device_id")],
                [col("personnel_id"), col("device_id")],
                JoinArgs::new(JoinType::Inner),
            )
            .join(active_ids()?, [col("personnel_id")], [col("id")], JoinArgs::new(JoinType::Inner))
            .select([col("personnel_id"), col("device_id"), label("type").alias("check_type")])
            .unique(None, UniqueKeepStrategy::First);
        let by_type = failing
            .clone()
            .group_by([col("check_type")])
            .agg([len().alias("devices"), col("personnel_id").n_unique().alias("people")])
            .collect()
            .map_err(&err)?;
        let (t, d, p) = (
            strs(&by_type, "check_type").map_err(&err)?,
            ints(&by_type, "devices").map_err(&err)?,
            ints(&by_type, "people").map_err(&err)?,
        );
        let mut rows: Vec<DeviceCheckFailure> = (0..by_type.height())
            .map(|i| DeviceCheckFailure {
                check_type: t[i].unwrap_or(NONE_LABEL).to_string(),
                devices: d[i],
                people: p[i],
            })
            .collect();
        rows.sort_by(|a, b| b.devices.cmp(&a.devices).then_with(|| a.check_type.cmp(&b.check_type)));
        let pairs = failing.select([col("personnel_id"), col("check_type")]).collect().map_err(&err)?;
        let details: BTreeMap<String, String> = per_person(&pairs, "check_type")
            .map_err(&err)?
            .into_iter()
            .map(|(id, types)| (id, types.into_iter().collect::<Vec<_>>().join(", ")))
            .collect();
        f.people_with_failing_devices = Some(listed(personnel(&PERSON_COLS)?, &details, limit).map_err(&err)?);
        f.device_failures = Some(rows);
    }

    if has(m, T::PersonnelPolicies) && has_column(root, m, T::Personnel, "policies_fetch_status") {
        let fetched = personnel(&["id", "is_active", "policies_fetch_status"])?.filter(active());
        let unknown = fetched
            .clone()
            .filter(col("policies_fetch_status").neq(lit("ok")).fill_null(lit(true)))
            .select([len().alias("n")])
            .collect()
            .map_err(&err)?;
        f.policies_unknown = Some(ints(&unknown, "n").map_err(&err)?.first().copied().unwrap_or(0));
        let ok = fetched.filter(col("policies_fetch_status").eq(lit("ok"))).select([col("id")]);
        let pairs = scan(
            root,
            m,
            T::PersonnelPolicies,
            &["personnel_id", "policy_name", "version_is_current", "requires_acknowledgment", "accepted_at"],
        )?
        .filter(
            col("version_is_current")
                .eq(lit(true))
                .and(col("requires_acknowledgment").eq(lit(true)))
                .and(col("accepted_at").is_null())
                .fill_null(lit(false)),
        )
        .join(ok, [col("personnel_id")], [col("id")], JoinArgs::new(JoinType::Inner))
        .select([col("personnel_id"), label("policy_name").alias("policy")])
        .collect()
        .map_err(&err)?;
        let details = per_person(&pairs, "policy")
            .map_err(&err)?
            .into_iter()
            .map(|(id, p)| (id, p.into_iter().collect::<Vec<_>>().join(", ")))
            .collect();
        f.policies_not_accepted = Some(listed(personnel(&PERSON_COLS)?, &details, limit).map_err(&err)?);
    }

    if has(m, T::PersonnelIdentities) {
        let identities = |extra: &[&str]| {
            scan(
                root,
                m,
                T::PersonnelIdentities,
                &[&["personnel_id", "connection_client_type", "disconnected_at", "connection_deleted_at"][..], extra]
                    .concat(),
            )
            .map(|lf| lf.filter(col("disconnected_at").is_null().and(col("connection_deleted_at").is_null())))
        };
        let pairs = identities(&["has_mfa"])?
            .filter(col("has_mfa").eq(lit(false)).fill_null(lit(false)))
            .join(active_ids()?, [col("personnel_id")], [col("id")], JoinArgs::new(JoinType::Inner))
            .select([col("personnel_id"), label("connection_client_type").alias("connection")])
            .collect()
            .map_err(&err)?;
        let details = per_person(&pairs, "connection")
            .map_err(&err)?
            .into_iter()
            .map(|(id, c)| (id, c.into_iter().collect::<Vec<_>>().join(", ")))
            .collect();
        f.mfa_missing = Some(listed(personnel(&PERSON_COLS)?, &details, limit).map_err(&err)?);

        // Leavers past their end date whose identities are still linked.
        let leavers = personnel(&["id", "is_active", "end_date"])?
            .filter(inactive().and(col("end_date").cast(DataType::Int32).lt(lit(snapshot_day))))
            .select([col("id"), (lit(snapshot_day) - col("end_date").cast(DataType::Int32)).alias("days")]);
        let df = identities(&[])?
            .join(leavers, [col("personnel_id")], [col("id")], JoinArgs::new(JoinType::Inner))
            .select([col("personnel_id"), col("days"), label("connection_client_type").alias("connection")])
            .collect()
            .map_err(&err)?;
        let days: BTreeMap<String, u64> = strs(&df, "personnel_id")
            .map_err(&err)?
            .into_iter()
            .zip(ints(&df, "days").map_err(&err)?)
            .map(|(p, d)| (p.unwrap_or_default().to_string(), d))
            .collect();
        let details = per_person(&df, "connection")
            .map_err(&err)?
            .into_iter()
            .map(|(id, c)| {
                let d = days.get(&id).copied().unwrap_or(0);
                let c = c.into_iter().collect::<Vec<_>>().join(", ");
                (id, format!("{d} days since end_date ({c})"))
            })
            .collect();
        f.leavers_still_connected = Some(listed(personnel(&PERSON_COLS)?, &details, limit).map_err(&err)?);
    }
    Ok(Some(f))
}

impl RealFindings {
    /// The report sections these findings add.
    pub fn sections(&self) -> Vec<Section> {
        let mut out = Vec::new();
        if let (Some(rows), Some(people)) = (&self.device_failures, &self.people_with_failing_devices) {
            let mut t = Table::new(&["device check", "devices failing", "people"]);
            for r in rows {
                t.row(vec![r.check_type.clone(), r.devices.to_string(), r.people.to_string()]);
            }
            out.push(
                Section::new(format!("Devices failing compliance checks: {} active people", people.count))
                    .para("Devices not deleted, of active people, per compliance check type they fail.")
                    .table(t)
                    .table(people_table(people, Some("failing device checks"))),
            );
        }
        if let Some(list) = &self.policies_not_accepted {
            let unknown = self.policies_unknown.unwrap_or(0);
            out.push(
                Section::new(format!("Policies not accepted: {} active people", list.count))
                    .para(format!(
                        "A current policy version that requires acknowledgment, not accepted. {unknown} active people whose policies could not be fetched are left out."
                    ))
                    .table(people_table(list, Some("policies"))),
            );
        }
        if let Some(list) = &self.mfa_missing {
            out.push(
                Section::new(format!("MFA missing on a linked identity: {} active people", list.count))
                    .table(people_table(list, Some("connections"))),
            );
        }
        if let Some(list) = &self.leavers_still_connected {
            out.push(
                Section::new(format!("Leavers whose identities are still connected: {}", list.count))
                    .para("Inactive people past their end_date with an identity neither disconnected nor on a deleted connection.")
                    .table(people_table(list, Some("since end_date"))),
            );
        }
        out
    }
}
