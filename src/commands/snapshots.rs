//! The committed snapshots under an output root as the maintenance commands (`verify`,
//! `list`, `prune`) see them: the manifests (parsed, or unreadable), the partition folders
//! on disk, and the orphans between them (partition folders whose manifest is gone, e.g. a
//! prune killed between its two steps). Reads only; knows the layout from `crate::load`.

use crate::error::EtlError;
use crate::load::commit::{manifest_path, MANIFEST_FILE, SNAPSHOTS_DIR, STAGING_DIR};
use crate::load::layout::{scope_name, validate_workspace, Table};
use crate::load::Manifest;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One committed snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub manifest: Manifest,
    pub manifest_path: PathBuf,
    /// The logical run time (`--run-at`), which orders snapshots.
    pub run_at: DateTime<Utc>,
}

impl Snapshot {
    pub fn workspace(&self) -> Option<&str> {
        self.manifest.workspace.as_deref()
    }

    pub fn files(&self) -> usize {
        self.manifest.tables.values().map(|t| t.files.len()).sum()
    }

    pub fn bytes(&self) -> u64 {
        // Saturating: the numbers come from a file anyone with write access could edit.
        self.manifest.tables.values().flat_map(|t| t.files.iter().map(|f| f.bytes)).fold(0, u64::saturating_add)
    }

    pub fn rows(&self) -> u64 {
        self.manifest.tables.values().map(|t| t.rows).fold(0, u64::saturating_add)
    }
}

/// A `_manifest.json` that exists but does not parse or fails validation
/// (`Manifest::parse`): nothing it names is read, and no command acts on it.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub path: PathBuf,
    pub workspace: Option<String>,
    pub snapshot_id: String,
    pub error: String,
}

/// One `<table>/[workspace=…/]snapshot_date=…/snapshot_id=…` folder.
#[derive(Debug, Clone)]
pub struct Partition {
    pub table: Table,
    pub workspace: Option<String>,
    pub snapshot_id: String,
    pub path: PathBuf,
}

#[derive(Debug, Default)]
pub struct Scan {
    /// Oldest first (by run time, then workspace).
    pub snapshots: Vec<Snapshot>,
    pub unreadable: Vec<Unreadable>,
    pub partitions: Vec<Partition>,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> EtlError {
    EtlError::cannot_write(format!("cannot read {what} {}: {e}", path.display()))
}

fn dirs(path: &Path) -> Result<Vec<(String, PathBuf)>, EtlError> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("folder", path, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| io_err("folder", path, e))?;
        let p = entry.path();
        if p.is_dir() {
            out.push((entry.file_name().to_string_lossy().into_owned(), p));
        }
    }
    out.sort();
    Ok(out)
}

/// The logical run time of a manifest (falling back to when it finished).
fn run_time(m: &Manifest) -> DateTime<Utc> {
    [&m.run_at, &m.finished_at]
        .iter()
        .find_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc())
        .unwrap_or_default()
}

/// Read every manifest and partition folder under `root`.
pub fn scan(root: &Path) -> Result<Scan, EtlError> {
    let mut scan = Scan::default();
    let mut snapshot_dirs: Vec<(Option<String>, String, PathBuf)> = Vec::new();
    for (name, path) in dirs(&root.join(SNAPSHOTS_DIR))? {
        match name.strip_prefix("workspace=") {
            Some(ws) => {
                for (id, p) in dirs(&path)? {
                    snapshot_dirs.push((Some(ws.to_string()), id, p));
                }
            }
            None => snapshot_dirs.push((None, name, path)),
        }
    }
    for (workspace, id, dir) in snapshot_dirs {
        let path = dir.join(MANIFEST_FILE);
        let at = match &workspace {
            Some(w) => format!("{SNAPSHOTS_DIR}/workspace={w}/{id}/{MANIFEST_FILE}"),
            None => format!("{SNAPSHOTS_DIR}/{id}/{MANIFEST_FILE}"),
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("manifest", &path, e)),
        };
        match Manifest::parse(&bytes, &path.display().to_string(), Some(&at)) {
            Ok(manifest) => {
                let run_at = run_time(&manifest);
                scan.snapshots.push(Snapshot { manifest, manifest_path: path, run_at });
            }
            Err(e) => scan.unreadable.push(Unreadable {
                path,
                workspace,
                snapshot_id: id,
                error: format!("{}: {}", e.field, e.reason),
            }),
        }
    }
    scan.snapshots
        .sort_by(|a, b| a.run_at.cmp(&b.run_at).then_with(|| a.manifest.workspace.cmp(&b.manifest.workspace)));
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
    /// Every workspace scope that has a snapshot, an unreadable manifest or a partition.
    pub fn scopes(&self) -> BTreeSet<Option<String>> {
        let mut s: BTreeSet<Option<String>> = self.snapshots.iter().map(|x| x.manifest.workspace.clone()).collect();
        s.extend(self.unreadable.iter().map(|u| u.workspace.clone()));
        s.extend(self.partitions.iter().map(|p| p.workspace.clone()));
        s
    }

    /// A scope's snapshots, oldest first.
    pub fn of(&self, workspace: Option<&str>) -> Vec<&Snapshot> {
        self.snapshots.iter().filter(|s| s.workspace() == workspace).collect()
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
        let s = Snapshot { manifest, manifest_path: PathBuf::new(), run_at: DateTime::<Utc>::default() };
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
