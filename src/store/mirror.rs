//! What the reading commands (`list`, `verify`, `prune`, `report`, `diff`, `reconcile`) and
//! an incremental run see of an output root, local or remote, as one local folder.
//!
//! A local root is used in place. A remote root is mirrored into a temporary folder with the
//! same layout: every manifest is downloaded, every partition and staging "folder" that has
//! objects is created empty (so orphans and runs in flight show exactly as on disk), and data
//! files are downloaded only for the snapshots a command actually reads (`fetch`). The code
//! that reads snapshots thus follows one rule for both kinds of root: only what a manifest
//! lists is data.

use super::remote::Remote;
use super::{Output, StoreOptions};
use crate::error::EtlError;
use crate::load::commit::{MANIFEST_FILE, SNAPSHOTS_DIR, STAGING_DIR};
use crate::load::manifest::{check_relative, ManifestError};
use crate::load::Manifest;
use futures::{StreamExt, TryStreamExt};
use std::path::{Path, PathBuf};

/// An output root as a local folder.
pub struct RootView {
    path: PathBuf,
    label: String,
    remote: Option<Remote>,
    _mirror: Option<tempfile::TempDir>,
}

fn temp_err(e: std::io::Error) -> EtlError {
    EtlError::cannot_write(format!(
        "cannot create a temporary folder for the object-store mirror: {e}. Set TMPDIR to a writable folder with room for one snapshot"
    ))
}

/// A temporary work folder (TMPDIR) for a remote root.
pub fn work_dir() -> Result<tempfile::TempDir, EtlError> {
    tempfile::Builder::new().prefix("drata-etl-").tempdir().map_err(temp_err)
}

impl RootView {
    /// `--out` of a reading command: given, and an existing folder or a reachable store.
    pub async fn open(out: Option<&Path>, opts: &StoreOptions) -> Result<RootView, EtlError> {
        let out = out.ok_or_else(|| {
            EtlError::usage("no output root: pass --out DIR or URL (the --out of `run`), set DRATA_ETL_OUT, or put `out` in the --config file")
        })?;
        match Output::parse(out, opts)? {
            Output::Local(root) => {
                if !root.is_dir() {
                    return Err(EtlError::usage(format!(
                        "--out {} is not a folder; pass the output root that `drata-etl run --out` wrote to",
                        root.display()
                    )));
                }
                Ok(RootView { label: root.display().to_string(), path: root, remote: None, _mirror: None })
            }
            Output::Remote(remote) => Self::mirror(remote).await,
        }
    }

    /// Mirror the manifests and the folder structure of a remote root.
    pub async fn mirror(remote: Remote) -> Result<RootView, EtlError> {
        Self::mirror_under(remote, "").await
    }

    /// Mirror the manifests alone (one listing of `_snapshots/`, not of every data file):
    /// enough for the catalogue of committed snapshots.
    pub async fn mirror_manifests(remote: Remote) -> Result<RootView, EtlError> {
        Self::mirror_under(remote, SNAPSHOTS_DIR).await
    }

    async fn mirror_under(remote: Remote, under: &str) -> Result<RootView, EtlError> {
        let tmp = work_dir()?;
        let path = tmp.path().to_path_buf();
        let keys = remote.list(under).await?;
        let mut manifests = Vec::new();
        for (key, _) in &keys {
            // Keys become local paths under the mirror: one that could leave it is skipped
            // (object_store already refuses most; this does not depend on that).
            if let Err(why) = check_relative(key) {
                tracing::warn!(key = %key, why, "object key skipped: not a safe relative path");
                continue;
            }
            let Some((dir, name)) = key.rsplit_once('/') else { continue };
            if key.starts_with(&format!("{SNAPSHOTS_DIR}/")) && name == MANIFEST_FILE {
                manifests.push(key.clone());
            } else if let Some(rest) = key.strip_prefix(&format!("{STAGING_DIR}/")) {
                // `_staging/<scope>/<run>/…`: the run's folder marks a run in flight.
                let mut parts = rest.splitn(3, '/');
                if let (Some(scope), Some(run), Some(_)) = (parts.next(), parts.next(), parts.next()) {
                    mkdir(&path.join(STAGING_DIR).join(scope).join(run))?;
                }
            } else if dir.rsplit('/').next().is_some_and(|last| last.starts_with("snapshot_id=")) {
                mkdir(&path.join(dir))?;
            }
        }
        let view = RootView { path, label: remote.url().to_string(), remote: Some(remote), _mirror: Some(tmp) };
        let remote = view.remote.as_ref().expect("just set");
        futures::stream::iter(manifests)
            .map(|key| {
                let local = view.path.join(&key);
                async move { remote.download(&key, &local).await.map(drop) }
            })
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(view)
    }

    /// The local folder to read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root as the user named it (a path or a URL), for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref()
    }

    /// Where the root's table-format logs are: the folder itself, or the store (a mirror
    /// holds manifests only; the logs are read and committed in the store).
    pub fn log_root(&self) -> crate::load::log_root::LogRoot {
        match &self.remote {
            Some(r) => r.log_root(),
            None => crate::load::log_root::LogRoot::folder(&self.path),
        }
    }

    /// A path inside the view as a key relative to the root (`/`-separated).
    pub fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.path).unwrap_or(p).to_string_lossy().replace('\\', "/")
    }

    /// A path inside the view as the user would name it: the local path, or the object's URL.
    pub fn display(&self, p: &Path) -> String {
        match (&self.remote, p.strip_prefix(&self.path)) {
            (Some(r), Ok(rel)) => r.url_of(&rel.to_string_lossy()),
            _ => p.display().to_string(),
        }
    }

    /// Make the data files of these snapshots readable locally (a no-op for a local root).
    pub async fn fetch(&self, manifests: &[&Manifest]) -> Result<(), EtlError> {
        let Some(remote) = &self.remote else { return Ok(()) };
        fetch_files(remote, &self.path, manifests).await
    }
}

/// Download the files a manifest lists into `root` (skipping those already there with the
/// listed size). A missing object is left missing: verification reports it.
///
/// Every manifest is checked again (`Manifest::check`) before any path it lists is joined
/// onto `root`, so a caller handing in an unvalidated one cannot write outside it (65).
pub async fn fetch_files(remote: &Remote, root: &Path, manifests: &[&Manifest]) -> Result<(), EtlError> {
    for m in manifests {
        if let Err((field, reason)) = m.check() {
            let from = remote
                .url_of(&crate::load::layout::manifest_rel(m.workspace.as_deref(), &m.snapshot_id).to_string_lossy());
            return Err(ManifestError { from, field, reason }.into_error());
        }
    }
    let files: Vec<(String, u64)> = manifests
        .iter()
        .flat_map(|m| m.tables.values().flat_map(|t| t.files.iter().map(|f| (f.path.clone(), f.bytes))))
        .collect();
    futures::stream::iter(files)
        .map(|(rel, bytes)| async move {
            let local = root.join(&rel);
            if std::fs::metadata(&local).is_ok_and(|m| m.len() == bytes) {
                return Ok(());
            }
            if !remote.download(&rel, &local).await? {
                tracing::warn!(file = %remote.url_of(&rel), "a file the manifest lists is missing from the store");
            }
            Ok(())
        })
        .buffer_unordered(4)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

fn mkdir(p: &Path) -> Result<(), EtlError> {
    std::fs::create_dir_all(p).map_err(temp_err)
}
