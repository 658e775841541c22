//! The output layout: table names, snapshot ids and the Hive-partitioned paths readers glob.
//!
//! `OUT/<table>/[workspace=<label>/]snapshot_date=YYYY-MM-DD/snapshot_id=<id>/part-NNNNN.parquet`,
//! all in UTC; manifests at `OUT/_snapshots/[workspace=<label>/]<id>/_manifest.json`.
//! Snapshot ids avoid characters that object stores, Hive or Windows dislike (no colons);
//! workspace labels are restricted to `[A-Za-z0-9][A-Za-z0-9_-]*` for the same reason.

use chrono::{DateTime, NaiveDate, SecondsFormat, Timelike, Utc};
use std::path::PathBuf;

/// The tables every snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Personnel,
    PersonnelTraining,
    PersonnelBackgroundChecks,
    Controls,
    /// Derived at the end of a run from `personnel` (manager hierarchy; `load::org`).
    PersonnelOrg,
    /// The real dialects' `complianceChecks[]`, one row per check (empty in guide runs).
    PersonnelComplianceChecks,
    /// The real dialects' user identities, one row per identity (empty in guide runs).
    PersonnelIdentities,
    /// The real dialects' devices, one row per device (empty in guide runs).
    PersonnelDevices,
    /// The devices' compliance checks, one row per check (empty in guide runs).
    PersonnelDeviceChecks,
    /// v2's assigned policy versions per person's user (empty in guide and v1 runs).
    PersonnelPolicies,
}

impl Table {
    pub const ALL: [Table; 10] = [
        Table::Personnel,
        Table::PersonnelTraining,
        Table::PersonnelBackgroundChecks,
        Table::Controls,
        Table::PersonnelOrg,
        Table::PersonnelComplianceChecks,
        Table::PersonnelIdentities,
        Table::PersonnelDevices,
        Table::PersonnelDeviceChecks,
        Table::PersonnelPolicies,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Personnel => "personnel",
            Table::PersonnelTraining => "personnel_training",
            Table::PersonnelBackgroundChecks => "personnel_background_checks",
            Table::Controls => "controls",
            Table::PersonnelOrg => "personnel_org",
            Table::PersonnelComplianceChecks => "personnel_compliance_checks",
            Table::PersonnelIdentities => "personnel_identities",
            Table::PersonnelDevices => "personnel_devices",
            Table::PersonnelDeviceChecks => "personnel_device_checks",
            Table::PersonnelPolicies => "personnel_policies",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Computed from other tables of the same snapshot rather than fetched; snapshots
    /// committed before a derived table existed do not have it.
    pub fn is_derived(self) -> bool {
        matches!(self, Table::PersonnelOrg)
    }

    /// Added after snapshots were already being committed: older snapshots lack it, and
    /// that is not damage (derived tables are in the same position).
    pub fn may_be_absent(self) -> bool {
        self.is_derived()
            || matches!(
                self,
                Table::PersonnelComplianceChecks
                    | Table::PersonnelIdentities
                    | Table::PersonnelDevices
                    | Table::PersonnelDeviceChecks
                    | Table::PersonnelPolicies
            )
    }
}

/// Which snapshot a run writes: derived from the run time only, so a rerun with the same
/// `--run-at` targets (and replaces) the same partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotKey {
    pub run_at: DateTime<Utc>,
    pub id: String,
    pub date: NaiveDate,
    /// Several workspaces may share one output root; each gets its own partition level.
    pub workspace: Option<String>,
}

/// Check a `--workspace` label: 1-64 characters, letters, digits, `-` and `_`, starting
/// with a letter or digit (so it is safe in paths, Hive partition values and object keys).
pub fn validate_workspace(label: &str) -> Result<String, String> {
    let ok = !label.is_empty()
        && label.len() <= 64
        && label.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(label.to_string())
    } else {
        Err(format!(
            "workspace label '{label}' must be 1-64 letters, digits, '-' or '_', starting with a letter or digit"
        ))
    }
}

/// The folder name that keeps one workspace's locks, staging and trash apart from another's.
pub fn scope_name(workspace: Option<&str>) -> String {
    match workspace {
        Some(w) => format!("workspace={w}"),
        None => "_default".to_string(),
    }
}

/// `<table>/[workspace=…/]snapshot_date=…/snapshot_id=…`, relative to the output root.
pub fn partition_dir(table: Table, workspace: Option<&str>, date: &str, id: &str) -> PathBuf {
    let mut p = PathBuf::from(table.name());
    if let Some(w) = workspace {
        p.push(format!("workspace={w}"));
    }
    p.join(format!("snapshot_date={date}")).join(format!("snapshot_id={id}"))
}

/// `_snapshots/[workspace=…/]<id>/_manifest.json`, relative to the output root.
pub fn manifest_rel(workspace: Option<&str>, id: &str) -> PathBuf {
    let mut p = PathBuf::from("_snapshots");
    if let Some(w) = workspace {
        p.push(format!("workspace={w}"));
    }
    p.join(id).join("_manifest.json")
}

impl SnapshotKey {
    pub fn from_run_at(run_at: DateTime<Utc>) -> Self {
        // Whole seconds unless the caller asked for sub-second precision.
        let id = if run_at.nanosecond() == 0 {
            run_at.format("%Y%m%dT%H%M%SZ").to_string()
        } else {
            run_at.format("%Y%m%dT%H%M%S%.6fZ").to_string().replace('.', "_")
        };
        SnapshotKey { run_at, id, date: run_at.date_naive(), workspace: None }
    }

    pub fn with_workspace(mut self, workspace: Option<String>) -> Self {
        self.workspace = workspace;
        self
    }

    pub fn run_at_rfc3339(&self) -> String {
        self.run_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    pub fn partition_dir(&self, table: Table) -> PathBuf {
        partition_dir(table, self.workspace.as_deref(), &self.date.format("%Y-%m-%d").to_string(), &self.id)
    }
}

/// The name of the `n`th data file of a table within a snapshot: `part-00000.parquet`, or
/// with the writing run's id, `part-00000-<run>.parquet` (`--table-format delta`: a rerun's
/// files get new names, so a Delta version never finds other rows under a path it lists).
pub fn part_file_name(n: usize, run_tag: Option<&str>) -> String {
    match run_tag {
        Some(tag) => format!("part-{n:05}-{tag}.parquet"),
        None => format!("part-{n:05}.parquet"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ids_have_no_colons() {
        let t = DateTime::parse_from_rfc3339("2026-03-04T05:06:07Z").unwrap().to_utc();
        let k = SnapshotKey::from_run_at(t);
        assert_eq!(k.id, "20260304T050607Z");
        assert_eq!(
            k.partition_dir(Table::Personnel),
            PathBuf::from("personnel/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z")
        );
        let t = DateTime::parse_from_rfc3339("2026-03-04T23:06:07.25-02:00").unwrap().to_utc();
        let k = SnapshotKey::from_run_at(t);
        assert_eq!(k.id, "20260305T010607_250000Z");
        assert_eq!(k.date.to_string(), "2026-03-05");
        assert!(!k.id.contains(':'));
    }

    #[test]
    fn workspaces_get_their_own_partition_level() {
        let t = DateTime::parse_from_rfc3339("2026-03-04T05:06:07Z").unwrap().to_utc();
        let k = SnapshotKey::from_run_at(t).with_workspace(Some("acme-eu".into()));
        assert_eq!(
            k.partition_dir(Table::Controls),
            PathBuf::from("controls/workspace=acme-eu/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z")
        );
        assert_eq!(
            manifest_rel(Some("acme-eu"), &k.id),
            PathBuf::from("_snapshots/workspace=acme-eu/20260304T050607Z/_manifest.json")
        );
        assert!(validate_workspace("acme_1-b").is_ok());
        for bad in ["", "_x", "a/b", "a b", "ü", &"x".repeat(65)] {
            assert!(validate_workspace(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn table_names_round_trip() {
        for t in Table::ALL {
            assert_eq!(Table::from_name(t.name()), Some(t));
        }
    }
}
