//! The catalogue: the one module that decides which committed snapshots exist under an
//! output root and which is the latest of a workspace. Every reader asks it: `list`,
//! `verify` and `prune` (through `commands::snapshots`), `report`/`diff`/`reconcile`
//! (`analyze::snapshot`), the incremental run (`load::previous`) and the download of the
//! previous snapshot from an object store (`store`). It reads a local folder only; an
//! object-store root is mirrored locally first by `crate::store`.
//!
//! **What exists.** A snapshot is a `_snapshots/[workspace=W/]<id>/_manifest.json` that
//! passes `Manifest::parse`, which also checks that the manifest lies where its own
//! workspace and id place it. Partition folders without a manifest are not snapshots (a
//! run killed before its commit point, or a prune killed between its two steps).
//!
//! **Order (the one rule).** Oldest first by snapshot id, then by workspace (none first);
//! the latest of a workspace is the last of its snapshots. By id rather than by the
//! manifest's `run_at`: the id is what `Manifest::parse` has validated (its fixed-width
//! shape, its date, the folder it lies in), it names the partition, and
//! `SnapshotKey::from_run_at` derives it from the run time with fixed-width fields, so ids
//! sorted as text are sorted by run time to the microsecond (`…07Z` before `…07_250000Z`,
//! as `Z` < `_`). `run_at` is free text nothing checks against the id: ordering by it would
//! let one edited field decide which snapshot an incremental run trusts. Ties cannot occur
//! within a workspace (one id, one manifest folder; a rerun with the same `--run-at`
//! replaces it); across workspaces the same id is ordered by workspace.
//!
//! **Rejected manifests** (present but failing `Manifest::parse`) are never dropped
//! silently, and nothing they name is read. `Catalogue::read` returns them beside the
//! snapshots, for the commands that report them (`list`, `verify`) or leave them in place
//! (`prune`); `Catalogue::trusted` turns the first one into exit 65, for the readers that
//! would otherwise act on a different set of snapshots than the root holds (`report`,
//! `diff`, the incremental run).

use super::commit::{MANIFEST_FILE, SNAPSHOTS_DIR};
use super::manifest::{Manifest, ManifestError};
use crate::error::EtlError;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

/// One committed snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub manifest: Manifest,
    pub manifest_path: PathBuf,
    /// The logical run time (`--run-at`; when it does not parse, when the run finished),
    /// for age-based retention. Not the order: see the module docs.
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

/// A `_manifest.json` that exists but does not parse or fails validation.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub path: PathBuf,
    /// The scope its folder names (not validated: the folder may be hostile too).
    pub workspace: Option<String>,
    pub snapshot_id: String,
    /// `field: reason`, for reports.
    pub error: String,
    pub cause: ManifestError,
}

/// The committed snapshots under one root, and the manifests that were rejected.
#[derive(Debug, Default)]
pub struct Catalogue {
    /// Oldest first (see the module docs).
    pub snapshots: Vec<Snapshot>,
    /// In folder order.
    pub rejected: Vec<Rejected>,
}

fn read_err(p: &Path, e: io::Error) -> EtlError {
    EtlError::cannot_write(format!("cannot read {}: {e}. Check that this user may read the output root", p.display()))
}

/// Sub-folders of `path`, sorted by name; none when `path` does not exist. Public for the
/// commands that also walk the partition folders (`commands::snapshots`).
pub fn sorted_dirs(path: &Path) -> Result<Vec<(String, PathBuf)>, EtlError> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(read_err(path, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| read_err(path, e))?;
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

impl Catalogue {
    /// Every manifest under `root`, validated. `label` is the root as the user named it (a
    /// folder, or the URL of the store `root` mirrors), for messages.
    pub fn read(root: &Path, label: &str) -> Result<Catalogue, EtlError> {
        let mut cat = Catalogue::default();
        // (workspace named by the folder, snapshot id, folder)
        let mut snapshot_dirs: Vec<(Option<String>, String, PathBuf)> = Vec::new();
        for (name, path) in sorted_dirs(&root.join(SNAPSHOTS_DIR))? {
            match name.strip_prefix("workspace=") {
                Some(ws) => {
                    for (id, p) in sorted_dirs(&path)? {
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
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(read_err(&path, e)),
            };
            let from = format!("{}/{at}", label.trim_end_matches('/'));
            match Manifest::parse(&bytes, &from, Some(&at)) {
                Ok(manifest) => {
                    let run_at = run_time(&manifest);
                    cat.snapshots.push(Snapshot { manifest, manifest_path: path, run_at });
                }
                Err(cause) => cat.rejected.push(Rejected {
                    path,
                    workspace,
                    snapshot_id: id,
                    error: format!("{}: {}", cause.field, cause.reason),
                    cause,
                }),
            }
        }
        cat.snapshots.sort_by(|a, b| order(&a.manifest, &b.manifest));
        Ok(cat)
    }

    /// As `read`, but a rejected manifest is exit 65 naming it and the field: a reader that
    /// skipped it would answer about a different set of snapshots than the root holds.
    pub fn trusted(root: &Path, label: &str) -> Result<Catalogue, EtlError> {
        let cat = Catalogue::read(root, label)?;
        match cat.rejected.into_iter().next() {
            Some(r) => Err(r.cause.into_error()),
            None => Ok(Catalogue { snapshots: cat.snapshots, rejected: Vec::new() }),
        }
    }

    /// One workspace's snapshots, oldest first.
    pub fn of(&self, workspace: Option<&str>) -> Vec<&Snapshot> {
        self.snapshots.iter().filter(|s| s.workspace() == workspace).collect()
    }

    /// The latest snapshot of `workspace` (`None`: the default scope), if any.
    pub fn latest(&self, workspace: Option<&str>) -> Option<&Snapshot> {
        self.snapshots.iter().rfind(|s| s.workspace() == workspace)
    }

    /// The workspace scopes that have a snapshot.
    pub fn workspaces(&self) -> BTreeSet<Option<String>> {
        self.snapshots.iter().map(|s| s.manifest.workspace.clone()).collect()
    }
}

/// The manifests of every committed snapshot under a local `root`, all workspaces, in the
/// catalogue's order; a rejected manifest is exit 65 (`Catalogue::trusted`).
pub fn committed_manifests(root: &Path) -> Result<Vec<Manifest>, EtlError> {
    let cat = Catalogue::trusted(root, &root.display().to_string())?;
    Ok(cat.snapshots.into_iter().map(|s| s.manifest).collect())
}

/// The catalogue's order (see the module docs).
fn order(a: &Manifest, b: &Manifest) -> std::cmp::Ordering {
    a.snapshot_id.cmp(&b.snapshot_id).then_with(|| a.workspace.cmp(&b.workspace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::layout::{manifest_rel, SnapshotKey};

    fn commit(root: &Path, at: &str, workspace: Option<&str>, edit: impl FnOnce(&mut serde_json::Value)) {
        let k = SnapshotKey::from_run_at(DateTime::parse_from_rfc3339(at).unwrap().to_utc());
        let mut m = serde_json::json!({
            "format_version": 1, "run_id": "r", "snapshot_id": k.id, "snapshot_date": k.date.to_string(),
            "workspace": workspace, "run_at": k.run_at_rfc3339(), "started_at": "", "finished_at": "",
            "tool_version": "", "api_dialect": "guide", "base_url": "", "tables": {},
            "listing": crate::stats::ListingStats::default(), "enrichment": crate::stats::EnrichmentStats::default(),
            "api": crate::stats::ApiStats::default(),
        });
        edit(&mut m);
        let p = root.join(manifest_rel(workspace, &k.id));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, serde_json::to_vec(&m).unwrap()).unwrap();
    }

    fn ids(snaps: &[&Snapshot]) -> Vec<String> {
        snaps.iter().map(|s| s.manifest.snapshot_id.clone()).collect()
    }

    #[test]
    fn snapshots_are_ordered_by_id_and_the_latest_is_the_last_of_its_workspace() {
        let tmp = tempfile::tempdir().unwrap();
        commit(tmp.path(), "2026-01-02T00:00:00Z", None, |_| {});
        commit(tmp.path(), "2026-01-01T00:00:00.250Z", None, |_| {});
        commit(tmp.path(), "2026-01-01T00:00:00Z", None, |_| {});
        // An edited run_at does not reorder: the id, which lies where it says, decides.
        commit(tmp.path(), "2026-01-01T12:00:00Z", None, |m| m["run_at"] = "2099-01-01T00:00:00Z".into());
        commit(tmp.path(), "2026-01-03T00:00:00Z", Some("acme"), |_| {});
        let cat = Catalogue::trusted(tmp.path(), "out").unwrap();
        assert_eq!(
            ids(&cat.of(None)),
            ["20260101T000000Z", "20260101T000000_250000Z", "20260101T120000Z", "20260102T000000Z"]
        );
        assert_eq!(cat.latest(None).unwrap().manifest.snapshot_id, "20260102T000000Z");
        assert_eq!(cat.latest(Some("acme")).unwrap().manifest.snapshot_id, "20260103T000000Z");
        assert!(cat.latest(Some("other")).is_none());
        assert_eq!(cat.workspaces().len(), 2);
    }

    #[test]
    fn the_same_id_in_two_workspaces_orders_by_workspace() {
        let tmp = tempfile::tempdir().unwrap();
        commit(tmp.path(), "2026-01-01T00:00:00Z", Some("b"), |_| {});
        commit(tmp.path(), "2026-01-01T00:00:00Z", Some("a"), |_| {});
        commit(tmp.path(), "2026-01-01T00:00:00Z", None, |_| {});
        let cat = Catalogue::read(tmp.path(), "out").unwrap();
        let ws: Vec<Option<&str>> = cat.snapshots.iter().map(|s| s.workspace()).collect();
        assert_eq!(ws, [None, Some("a"), Some("b")]);
    }

    #[test]
    fn a_rejected_manifest_is_kept_aside_by_read_and_refused_by_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        commit(tmp.path(), "2026-01-01T00:00:00Z", None, |_| {});
        commit(tmp.path(), "2026-01-02T00:00:00Z", None, |m| m["snapshot_date"] = "2026-01-09".into());
        let cat = Catalogue::read(tmp.path(), "s3://b/out/").unwrap();
        assert_eq!(ids(&cat.of(None)), ["20260101T000000Z"]);
        assert_eq!(cat.rejected.len(), 1);
        assert_eq!(cat.rejected[0].snapshot_id, "20260102T000000Z");
        assert!(cat.rejected[0].error.starts_with("snapshot_date: "), "{}", cat.rejected[0].error);
        let e = Catalogue::trusted(tmp.path(), "s3://b/out/").unwrap_err();
        assert_eq!(e.kind, crate::error::FailureKind::DataInvalid);
        assert!(e.to_string().contains("s3://b/out/_snapshots/20260102T000000Z/_manifest.json"), "{e}");
    }

    #[test]
    fn an_empty_root_has_no_snapshots() {
        let tmp = tempfile::tempdir().unwrap();
        let cat = Catalogue::trusted(&tmp.path().join("missing"), "out").unwrap();
        assert!(cat.snapshots.is_empty() && cat.rejected.is_empty() && cat.latest(None).is_none());
    }
}
