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

use super::lock::LeaseLock;
use super::remote::{Created, Remote};
use super::test_hook;
use crate::deadline::RunDeadline;
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

/// What a run that loses its lock before its point of no return leaves behind.
const BEFORE_INTENT: &str = "nothing was committed (the next run deletes its staged files); retry later";
/// ... and after it: the intent is in the store, so the next holder finishes the commit.
const AFTER_INTENT: &str = "this run stopped committing; its commit intent is in the store and the next run (or prune) of this scope finishes the commit";

/// Phase 1: upload the files of `m` from `local_root` into staging, then (still holding
/// the lease, proven by a compare-and-swap renewal, and unless the run's deadline passed
/// meanwhile: checked immediately before the intent, 75, nothing committed) the intent.
pub async fn upload(
    remote: &Remote,
    local_root: &Path,
    scope: &str,
    m: &Manifest,
    lock: &LeaseLock,
    deadline: &RunDeadline,
) -> Result<(), EtlError> {
    let staging = staging_rel(scope, m);
    futures::stream::iter(files(m))
        .map(|f| {
            let staging = &staging;
            async move {
                lock.keep(BEFORE_INTENT).await?;
                remote.upload(&local_root.join(&f), &format!("{staging}/{f}")).await
            }
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    test_hook::pause(test_hook::Point::BeforeIntent, true).await;
    deadline.check("uploading the snapshot, before its commit intent")?;
    lock.confirm(BEFORE_INTENT).await?;
    let intent = serde_json::to_vec_pretty(m).expect("serialisable");
    // The confirm just renewed the lease; an intent that lands after it could lapse would
    // race a successor, so the write gets a third of the lease (a late one is caught by
    // `recover`, which rolls forward only an intent whose files are all staged).
    let within = remote.opts.lock_lease / 3;
    let rel = format!("{staging}/{COMMIT_INTENT}");
    match tokio::time::timeout(within, remote.put(&rel, intent)).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(EtlError::new(
                FailureKind::Temporary,
                format!(
                    "writing the commit intent {} took longer than {} ms (a third of --lock-lease); nothing was committed, retry later",
                    remote.url_of(&rel),
                    within.as_millis()
                ),
            ))
        }
    }
    test_hook::pause(test_hook::Point::AfterIntent, true).await;
    Ok(())
}

/// Phase 2: make the staged snapshot the committed one (see the module docs). Every
/// destructive step first proves the lease is still this run's.
pub async fn apply(remote: &Remote, staging: &str, m: &Manifest, lock: &LeaseLock) -> Result<(), EtlError> {
    let ws = m.workspace.as_deref();
    let manifest = rel(&manifest_rel(ws, &m.snapshot_id));
    if let Some(bytes) = remote.get(&manifest).await? {
        let same_run = Manifest::parse(&bytes, &remote.url_of(&manifest), None).is_ok_and(|old| old.run_id == m.run_id);
        if !same_run {
            lock.confirm(AFTER_INTENT).await?;
            remote.delete(&manifest).await?;
        }
    }
    let wanted: BTreeSet<String> = files(m).into_iter().collect();
    lock.confirm(AFTER_INTENT).await?;
    for table in Table::ALL {
        let dir = rel(&partition_dir(table, ws, &m.snapshot_date, &m.snapshot_id));
        for (key, _) in remote.list(&dir).await? {
            if !wanted.contains(&key) {
                lock.keep(AFTER_INTENT).await?;
                remote.delete(&key).await?;
            }
        }
    }
    lock.confirm(AFTER_INTENT).await?;
    futures::stream::iter(wanted.iter())
        .map(|f| async move {
            lock.keep(AFTER_INTENT).await?;
            remote.copy(&format!("{staging}/{f}"), f).await
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    let body = serde_json::to_vec_pretty(m).expect("serialisable");
    lock.confirm(AFTER_INTENT).await?;
    if remote.create(&manifest, body).await? == Created::AlreadyExists {
        let theirs =
            remote.get(&manifest).await?.and_then(|b| Manifest::parse(&b, &remote.url_of(&manifest), None).ok());
        if theirs.is_none_or(|t| t.run_id != m.run_id) {
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

/// A commit intent this recovery may roll forward: it passes `Manifest::parse` and belongs
/// to its staging folder (`<snapshot id>.<run id>`). Anything else is treated like an intent
/// never written: its staging keys are deleted (nothing outside them), with a warning.
fn valid_intent(remote: &Remote, staging: &str, run: &str, bytes: &[u8]) -> Option<Manifest> {
    let from = remote.url_of(&format!("{staging}/{COMMIT_INTENT}"));
    match Manifest::parse(bytes, &from, None) {
        Ok(m) if run == format!("{}.{}", m.snapshot_id, m.run_id) => Some(m),
        Ok(_) => {
            tracing::warn!(intent = %from, "commit intent of another staging folder ignored; discarding the folder");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "commit intent rejected; discarding its staging folder");
            None
        }
    }
}

/// Under the scope's lock: finish commits that passed their point of no return, delete the
/// staging keys of runs that did not. Returns what was done.
///
/// An intent whose files are not all staged is not a commit to finish: its run was fenced
/// out (it lost its lock, someone deleted its staging, and its late intent write landed
/// after that). Rolling it forward would fail on every run; it is discarded instead.
pub async fn recover(remote: &Remote, scope: &str, lock: &LeaseLock) -> Result<Recovery, EtlError> {
    let prefix = format!("{STAGING_DIR}/{scope}");
    let mut runs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (key, _) in remote.list(&prefix).await? {
        let Some(rest) = key.strip_prefix(&format!("{prefix}/")) else { continue };
        let Some((run, inner)) = rest.split_once('/') else {
            runs.entry(rest.to_string()).or_default();
            continue;
        };
        runs.entry(run.to_string()).or_default().insert(inner.to_string());
    }
    let recovering = "recovery stopped; the next run (or prune) of this scope repeats it";
    let mut rec = Recovery::default();
    for (run, staged) in runs {
        let staging = format!("{prefix}/{run}");
        let intent = if staged.contains(COMMIT_INTENT) {
            remote.get(&format!("{staging}/{COMMIT_INTENT}")).await?
        } else {
            None
        };
        match intent.and_then(|b| valid_intent(remote, &staging, &run, &b)) {
            Some(m) if files(&m).iter().all(|f| staged.contains(f)) => {
                apply(remote, &staging, &m, lock).await?;
                rec.rolled_forward += 1;
            }
            other => {
                if other.is_some() {
                    tracing::warn!(staging = %remote.url_of(&staging), "a commit intent whose files are not all staged (a run that lost its lock) is discarded");
                }
                lock.confirm(recovering).await?;
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

#[cfg(test)]
mod tests;
