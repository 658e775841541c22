//! The committed snapshots under an output root as the maintenance commands (`verify`,
//! `list`, `prune`) see them: the catalogue (`crate::load::catalogue`, which alone decides
//! which snapshots exist, their order and which manifests are rejected), the partition
//! folders on disk, and the orphans between them (partition folders whose manifest is gone,
//! e.g. a prune killed between its two steps). Reads only; knows the layout from
//! `crate::load`.

use crate::error::EtlError;
use crate::load::catalogue::{sorted_dirs as dirs, Catalogue};
pub use crate::load::catalogue::{Rejected, Snapshot};
use crate::load::commit::{manifest_path, STAGING_DIR};
use crate::load::layout::{scope_name, validate_workspace, Table};
use std::collections::BTreeSet;
use std::ops::Deref;
use std::path::{Path, PathBuf};

/// One `<table>/[workspace=…/]snapshot_date=…/snapshot_id=…` folder.
#[derive(Debug, Clone)]
pub struct Partition {
    pub table: Table,
    pub workspace: Option<String>,
    pub snapshot_id: String,
    pub path: PathBuf,
}

/// The catalogue of the root (its snapshots, oldest first, and its rejected manifests)
/// plus the partition folders on disk.
#[derive(Debug, Default)]
pub struct Scan {
    pub catalogue: Catalogue,
    pub partitions: Vec<Partition>,
}

impl Deref for Scan {
    type Target = Catalogue;
    fn deref(&self) -> &Catalogue {
        &self.catalogue
    }
}

/// Read the catalogue and every partition folder under `root`.
pub fn scan(root: &Path) -> Result<Scan, EtlError> {
    let mut scan = Scan { catalogue: Catalogue::read(root, &root.display().to_string())?, partitions: Vec::new() };
    for table in Table::ALL {
        let mut scoped: Vec<(Option<String>, PathBuf)> = Vec::new();
        let table_dir = root.join(table.name());
        for (name, path) in dirs(&table_dir)? {
            if let Some(ws) = name.strip_prefix("workspace=") {
                for (date, p) in dirs(&path)? {
                    if date.starts_with("snapshot_date=") {
                        scoped.push((Some(ws.to_string()), p));
                    }
                }
            } else if name.starts_with("snapshot_date=") {
                scoped.push((None, path));
            }
        }
        for (workspace, date_dir) in scoped {
            for (name, path) in dirs(&date_dir)? {
                if let Some(id) = name.strip_prefix("snapshot_id=") {
                    scan.partitions.push(Partition {
                        table,
                        workspace: workspace.clone(),
                        snapshot_id: id.to_string(),
                        path,
                    });
                }
            }
        }
    }
    Ok(scan)
}

impl Scan {
    /// Every workspace scope that has a snapshot, a rejected manifest or a partition.
    pub fn scopes(&self) -> BTreeSet<Option<String>> {
        let mut s = self.catalogue.workspaces();
        s.extend(self.rejected.iter().map(|u| u.workspace.clone()));
        s.extend(self.partitions.iter().map(|p| p.workspace.clone()));
        s
    }

    /// Partition folders of one snapshot.
    pub fn partitions_of(&self, workspace: Option<&str>, snapshot_id: &str) -> Vec<&Partition> {
        self.partitions.iter().filter(|p| p.workspace.as_deref() == workspace && p.snapshot_id == snapshot_id).collect()
    }

    /// Partition folders without a manifest file (parsed or not) in the given scope.
    pub fn orphans(&self, root: &Path, workspace: Option<&str>) -> Vec<&Partition> {
        self.partitions
            .iter()
            .filter(|p| p.workspace.as_deref() == workspace)
            .filter(|p| !manifest_path(root, workspace, &p.snapshot_id).exists())
            .collect()
    }
}

/// Whether a run of this scope is (or was, when killed) between staging and commit: then
/// partitions without a manifest are expected for a moment and are not orphans.
pub fn run_in_flight(root: &Path, workspace: Option<&str>) -> bool {
    let staging = root.join(STAGING_DIR).join(scope_name(workspace));
    std::fs::read_dir(staging).map(|mut rd| rd.next().is_some()).unwrap_or(false)
}

pub fn workspace_arg(w: Option<&str>) -> Result<Option<String>, EtlError> {
    w.map(validate_workspace).transpose().map_err(|e| EtlError::usage(format!("--workspace: {e}")))
}

/// How a scope is named in reports.
pub fn scope_label(workspace: Option<&str>) -> String {
    match workspace {
        Some(w) => format!("workspace {w}"),
        None => "no workspace".to_string(),
    }
}

/// 1536 -> "1.5 KiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Manifest;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn huge_sizes_in_a_manifest_saturate_instead_of_overflowing() {
        let file = |n: u32| {
            serde_json::json!({"path": format!("controls/snapshot_date=2026-01-01/snapshot_id=20260101T000000Z/part-{n:05}.parquet"),
                               "rows": u64::MAX, "bytes": u64::MAX, "sha256": "0".repeat(64)})
        };
        let m = serde_json::json!({
            "format_version": 1, "run_id": "r", "snapshot_id": "20260101T000000Z", "snapshot_date": "2026-01-01",
            "run_at": "2026-01-01T00:00:00Z", "started_at": "", "finished_at": "", "tool_version": "", "api_dialect": "guide",
            "base_url": "", "tables": {"controls": {"rows": u64::MAX, "files": [file(0), file(1)]},
                                       "personnel": {"rows": u64::MAX, "files": []}},
            "listing": crate::stats::ListingStats::default(), "enrichment": crate::stats::EnrichmentStats::default(),
            "api": crate::stats::ApiStats::default(),
        });
        let manifest = Manifest::parse(&serde_json::to_vec(&m).unwrap(), "test", None).unwrap();
        let s = Snapshot { manifest, manifest_path: PathBuf::new(), run_at: Default::default() };
        assert_eq!((s.bytes(), s.rows(), s.files()), (u64::MAX, u64::MAX, 2));
        assert_eq!(human_bytes(s.bytes()), "16777216.0 TiB");
    }

    #[test]
    fn empty_root_scans_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let s = scan(tmp.path()).unwrap();
        assert!(s.snapshots.is_empty() && s.partitions.is_empty() && s.scopes().is_empty());
    }
}
