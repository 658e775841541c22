//! `--table-format delta`: each table folder `OUT/<table>/` is also a Delta Lake table whose
//! log (`_delta_log/`) lists exactly the files the committed manifests list.
//!
//! The Delta log is derived from the manifests, never the other way round: the manifest
//! stays the commit point and the record of what a run did. After its manifest is written a
//! run brings each table's log up to date in ONE Delta commit (`log::sync`): an `Add` for
//! every manifest-listed file the log does not hold as written (a new snapshot, or a rerun's
//! files replacing the same paths), a `Remove` for every file the log holds that no manifest
//! lists any more (a rerun that wrote fewer files, a pruned snapshot). So a Delta reader sees
//! a snapshot appear, or a rerun's rows replace the old ones, in a single version, and a
//! crash between the manifest and the Delta commit leaves the log one snapshot behind (never
//! ahead of the manifests), which the next run's sync (or `verify`'s report) catches up.
//!
//! This module plans (pure: manifests + the log's files -> actions); `log` talks to
//! delta-rs. Nothing here writes Parquet: the files are the layout's (`load::layout`).

pub mod log;

use super::layout::Table;
use super::manifest::Manifest;
use std::collections::{BTreeMap, BTreeSet};

/// The partition column a labelled (`--workspace`) root adds before the date.
pub const WORKSPACE_COLUMN: &str = "workspace";
pub const DATE_COLUMN: &str = "snapshot_date";
pub const ID_COLUMN: &str = "snapshot_id";

/// A Delta table's partition columns: the layout's Hive levels, in path order.
pub fn partition_columns(labelled: bool) -> Vec<String> {
    let mut cols = Vec::new();
    if labelled {
        cols.push(WORKSPACE_COLUMN.to_string());
    }
    cols.push(DATE_COLUMN.to_string());
    cols.push(ID_COLUMN.to_string());
    cols
}

/// A file some manifest lists, as the Delta log must hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedFile {
    /// Relative to the table folder (`snapshot_date=…/snapshot_id=…/part-00000.parquet`).
    pub path: String,
    pub partition: BTreeMap<String, String>,
    pub size: i64,
    pub rows: u64,
    /// When its snapshot was committed (the manifest's `finished_at`), in epoch ms: a rerun
    /// that rewrites the same path gets a new time, so its `Add` differs from the old one.
    pub modification_time: i64,
    pub snapshot_id: String,
}

impl WantedFile {
    /// Delta's per-file statistics: the row count is in the manifest; column bounds would
    /// need a read of every file and the tool's own readers do not use them.
    pub fn stats(&self) -> String {
        format!("{{\"numRecords\":{}}}", self.rows)
    }
}

/// A file the Delta log holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldFile {
    pub path: String,
    pub size: i64,
    pub modification_time: i64,
    pub workspace: Option<String>,
}

/// What one Delta commit must do to make the log match the manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub add: Vec<WantedFile>,
    /// Paths (relative to the table folder) to remove.
    pub remove: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// The snapshot ids this commit adds files of (for the commit's metadata).
    pub fn snapshots(&self) -> BTreeSet<String> {
        self.add.iter().map(|f| f.snapshot_id.clone()).collect()
    }
}

/// The manifests of one scope (a workspace label, or the unlabelled root).
pub fn of_scope<'a>(manifests: &'a [Manifest], workspace: Option<&str>) -> Vec<&'a Manifest> {
    manifests.iter().filter(|m| m.workspace.as_deref() == workspace).collect()
}

/// The files `table`'s log must hold for these manifests (all of one scope).
pub fn wanted(table: Table, manifests: &[&Manifest]) -> Vec<WantedFile> {
    let prefix = format!("{}/", table.name());
    let mut out = Vec::new();
    for m in manifests {
        let Some(entry) = m.tables.get(table.name()) else { continue };
        let committed = chrono::DateTime::parse_from_rfc3339(&m.finished_at).map(|t| t.timestamp_millis()).unwrap_or(0);
        let mut partition = BTreeMap::new();
        if let Some(w) = &m.workspace {
            partition.insert(WORKSPACE_COLUMN.to_string(), w.clone());
        }
        partition.insert(DATE_COLUMN.to_string(), m.snapshot_date.clone());
        partition.insert(ID_COLUMN.to_string(), m.snapshot_id.clone());
        for f in &entry.files {
            // `Manifest::parse` admitted only paths inside this table's partition folder.
            let Some(path) = f.path.strip_prefix(&prefix) else { continue };
            out.push(WantedFile {
                path: path.to_string(),
                partition: partition.clone(),
                size: i64::try_from(f.bytes).unwrap_or(i64::MAX),
                rows: f.rows,
                modification_time: committed,
                snapshot_id: m.snapshot_id.clone(),
            });
        }
    }
    out
}

/// The one commit that turns `held` (the log's files of this scope) into `wanted`: add
/// what is missing or was rewritten (size or commit time differ), remove what no manifest
/// lists. A path both held and wanted gets only an `Add` (its newer metadata replaces the
/// old in Delta's reconciliation), never a `Remove` of the same path in the same version.
pub fn plan(wanted: Vec<WantedFile>, held: &[HeldFile]) -> Plan {
    let held_by_path: BTreeMap<&str, &HeldFile> = held.iter().map(|h| (h.path.as_str(), h)).collect();
    let wanted_paths: BTreeSet<&str> = wanted.iter().map(|w| w.path.as_str()).collect();
    let remove = held.iter().filter(|h| !wanted_paths.contains(h.path.as_str())).map(|h| h.path.clone()).collect();
    let add = wanted
        .iter()
        .filter(|w| match held_by_path.get(w.path.as_str()) {
            Some(h) => h.size != w.size || h.modification_time != w.modification_time,
            None => true,
        })
        .cloned()
        .collect();
    Plan { add, remove }
}

#[cfg(test)]
mod tests;
