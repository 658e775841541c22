//! The commit protocol on an object store, which has no rename (see `crate::store` for the
//! whole picture). A snapshot already committed in the run's local work folder is published
//! in two phases:
//!
//! 1. `upload`: every file the manifest lists goes to
//!    `_staging/<scope>/<snapshot>.<run>/<same relative path>` (multipart above the part
//!    size), then the manifest goes there as `_commit.json`: the point of no return.
//!    Interrupted before that, the staging keys are garbage the next run deletes.
//! 2. `apply` (idempotent, so a later run can repeat it after a crash): delete the manifest
//!    of an earlier snapshot with the same id (from then on readers ignore it), delete that
//!    snapshot's objects the new manifest does not list, server-side copy each staged file
//!    to its final key, create `_snapshots/…/<id>/_manifest.json` with a conditional put
//!    (`If-None-Match: *`: if another writer's manifest appeared meanwhile, this one fails
//!    with 75 instead of overwriting it), then delete the intent and the staging keys.

use super::remote::{Created, Remote};
use crate::error::{EtlError, FailureKind};
use crate::load::commit::STAGING_DIR;
use crate::load::layout::{manifest_rel, partition_dir, Table};
use crate::load::{Manifest, Recovery};
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const COMMIT_INTENT: &str = "_commit.json";
/// Uploads and copies in flight at once.
const PARALLEL: usize = 4;

fn rel(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

/// Where this run's files are staged in the store.
pub fn staging_rel(scope: &str, m: &Manifest) -> String {
    format!("{STAGING_DIR}/{scope}/{}.{}", m.snapshot_id, m.run_id)
}

fn files(m: &Manifest) -> Vec<String> {
    m.tables.values().flat_map(|t| t.files.iter().map(|f| f.path.replace('\\', "/"))).collect()
}

/// Phase 1: upload the files of `m` from `local_root` into staging, then the intent.
pub async fn upload(remote: &Remote, local_root: &Path, scope: &str, m: &Manifest) -> Result<(), EtlError> {
    let staging = staging_rel(scope, m);
    futures::stream::iter(files(m))
        .map(|f| {
            let staging = &staging;
            async move { remote.upload(&local_root.join(&f), &format!("{staging}/{f}")).await }
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    let intent = serde_json::to_vec_pretty(m).expect("serialisable");
    remote.put(&format!("{staging}/{COMMIT_INTENT}"), intent).await
}

/// Phase 2: make the staged snapshot the committed one (see the module docs).
pub async fn apply(remote: &Remote, staging: &str, m: &Manifest) -> Result<(), EtlError> {
    let ws = m.workspace.as_deref();
    let manifest = rel(&manifest_rel(ws, &m.snapshot_id));
    if let Some(bytes) = remote.get(&manifest).await? {
        let same_run = serde_json::from_slice::<Manifest>(&bytes).is_ok_and(|old| old.run_id == m.run_id);
        if !same_run {
            remote.delete(&manifest).await?;
        }
    }
    let wanted: BTreeSet<String> = files(m).into_iter().collect();
    for table in Table::ALL {
        let dir = rel(&partition_dir(table, ws, &m.snapshot_date, &m.snapshot_id));
        for (key, _) in remote.list(&dir).await? {
            if !wanted.contains(&key) {
                remote.delete(&key).await?;
            }
        }
    }
    futures::stream::iter(wanted.iter())
        .map(|f| async move { remote.copy(&format!("{staging}/{f}"), f).await })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    let body = serde_json::to_vec_pretty(m).expect("serialisable");
    if remote.create(&manifest, body).await? == Created::AlreadyExists {
        let theirs = remote.get(&manifest).await?.and_then(|b| serde_json::from_slice::<Manifest>(&b).ok());
        if !theirs.is_some_and(|t| t.run_id == m.run_id) {
            return Err(EtlError::new(
                FailureKind::Temporary,
                format!(
                    "another writer committed snapshot {} at {} at the same time; this run's commit was refused (its files may have replaced the other run's: rerun with the same --run-at to rewrite the snapshot)",
                    m.snapshot_id,
                    remote.url_of(&manifest)
                ),
            ));
        }
    }
    remote.delete(&format!("{staging}/{COMMIT_INTENT}")).await?;
    remote.delete_prefix(staging).await?;
    Ok(())
}

/// Under the scope's lock: finish commits that passed their point of no return, delete the
/// staging keys of runs that did not. Returns what was done.
pub async fn recover(remote: &Remote, scope: &str) -> Result<Recovery, EtlError> {
    let prefix = format!("{STAGING_DIR}/{scope}");
    let mut runs: BTreeMap<String, bool> = BTreeMap::new();
    for (key, _) in remote.list(&prefix).await? {
        let Some(rest) = key.strip_prefix(&format!("{prefix}/")) else { continue };
        let Some((run, inner)) = rest.split_once('/') else {
            runs.entry(rest.to_string()).or_default();
            continue;
        };
        *runs.entry(run.to_string()).or_default() |= inner == COMMIT_INTENT;
    }
    let mut rec = Recovery::default();
    for (run, has_intent) in runs {
        let staging = format!("{prefix}/{run}");
        let intent = if has_intent { remote.get(&format!("{staging}/{COMMIT_INTENT}")).await? } else { None };
        match intent.and_then(|b| serde_json::from_slice::<Manifest>(&b).ok()) {
            Some(m) => {
                apply(remote, &staging, &m).await?;
                rec.rolled_forward += 1;
            }
            None => {
                remote.delete_prefix(&staging).await?;
                rec.discarded_staging += 1;
            }
        }
    }
    if rec != Recovery::default() {
        tracing::warn!(
            discarded = rec.discarded_staging,
            rolled_forward = rec.rolled_forward,
            store = %remote.url(),
            "cleaned up after an interrupted earlier run"
        );
    }
    Ok(rec)
}
