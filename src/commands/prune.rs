//! `drata-etl prune`: remove old snapshots by retention (`--keep N` newest, or
//! `--keep-days N`), per workspace scope, manifest-aware.
//!
//! Rules that keep readers and runs safe:
//! - the newest snapshot of a scope is never removed, whatever the retention says;
//! - a scope is pruned only while holding the lock a run of that scope takes
//!   (`OutputRoot::open`); when a run holds it, the scope is skipped and prune exits 75;
//! - a snapshot is removed manifest first (the commit point: from then on no manifest-aware
//!   reader sees it), then its partition folders; a prune killed in between leaves
//!   partitions without a manifest, which the next prune removes (and `verify` reports);
//! - `--dry-run` reports the same decisions, takes no lock and removes nothing;
//! - a manifest that fails validation (`Manifest::parse`) is never acted on: it and the
//!   partition folders of its id stay, the report names it and the field, and prune exits
//!   65 after pruning the rest (what it names cannot be trusted to lie inside the root).
//!
//! - on a Delta root (`--table-format delta`), the snapshots to remove first leave each
//!   table's Delta log in one commit of `Remove` actions, then their files are deleted (the
//!   vacuum: Delta time travel to a version that still lists them then fails, as after
//!   any vacuum).
//!
//! On an object store the same rules hold through the store's lease lock and a fresh mirror
//! of its manifests (`crate::store`); deletions go to the store.

use super::snapshots::{human_bytes, scan, scope_label, workspace_arg, Partition, Snapshot};
use crate::cli::PruneArgs;
use crate::error::{EtlError, FailureKind};
use crate::load::OutputRoot;
use crate::store::lock::LeaseLock;
use crate::store::mirror::RootView;
use chrono::Utc;
use std::fmt::Write;
use std::path::Path;

fn remove_err(what: &str, path: &Path, e: std::io::Error) -> EtlError {
    EtlError::cannot_write(format!(
        "prune: cannot remove {what} {}: {e}. Check the permissions of the output directory; rerun prune to finish",
        path.display()
    ))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Remove partition folders and then their `snapshot_date=` parents if left empty.
fn remove_partitions(parts: &[&Partition]) -> Result<(), EtlError> {
    for p in parts {
        match std::fs::remove_dir_all(&p.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(remove_err("partition folder", &p.path, e)),
        }
        if let Some(date_dir) = p.path.parent() {
            let _ = std::fs::remove_dir(date_dir); // only succeeds when empty
        }
    }
    Ok(())
}

/// On a Delta root: one Delta commit per table removing the snapshots about to go (so no
/// Delta reader is left pointing at deleted files), before their manifests and files are
/// deleted. Killed in between, the manifests still list them and the next run re-adds them.
#[cfg(feature = "delta")]
async fn delta_remove(
    root: &crate::load::log_root::LogRoot,
    ws: Option<&str>,
    scan: &super::snapshots::Scan,
    snaps: &[&Snapshot],
    decisions: &[Option<String>],
) -> Result<(), EtlError> {
    if !crate::load::delta::log::any_log(root).await? {
        return Ok(());
    }
    let going: std::collections::BTreeSet<&str> = snaps
        .iter()
        .zip(decisions)
        .filter(|(_, keep)| keep.is_none())
        .map(|(s, _)| s.manifest.snapshot_id.as_str())
        .collect();
    let staying: Vec<crate::load::Manifest> = scan
        .snapshots
        .iter()
        .filter(|s| !(s.workspace() == ws && going.contains(s.manifest.snapshot_id.as_str())))
        .map(|s| s.manifest.clone())
        .collect();
    crate::load::delta::log::sync(root, ws, &staying, "prune").await.map(|_| ())
}

#[cfg(not(feature = "delta"))]
async fn delta_remove(
    _root: &crate::load::log_root::LogRoot,
    _ws: Option<&str>,
    _scan: &super::snapshots::Scan,
    _snaps: &[&Snapshot],
    _decisions: &[Option<String>],
) -> Result<(), EtlError> {
    Ok(())
}

/// Remove partitions from wherever the view's root is.
async fn remove_partitions_in(view: &RootView, parts: &[&Partition]) -> Result<(), EtlError> {
    let Some(remote) = view.remote() else { return remove_partitions(parts) };
    for p in parts {
        remote.delete_prefix(&view.rel(&p.path)).await?;
    }
    Ok(())
}

/// Manifest first (and durably), then the data.
async fn remove_snapshot_in(view: &RootView, s: &Snapshot, parts: &[&Partition]) -> Result<(), EtlError> {
    let Some(remote) = view.remote() else { return remove_snapshot(s, parts) };
    remote.delete(&view.rel(&s.manifest_path)).await?;
    remove_partitions_in(view, parts).await
}

/// The lock a run of the scope takes, held while pruning it.
enum Held {
    Local { _lock: OutputRoot },
    Remote(LeaseLock),
}

async fn lock_scope(view: &RootView, ws: Option<&str>) -> Result<Held, EtlError> {
    match view.remote() {
        None => OutputRoot::open(view.path(), ws).map(|l| Held::Local { _lock: l }),
        Some(r) => crate::store::lock_for_maintenance(r, ws).await.map(|(l, _)| Held::Remote(l)),
    }
}

/// Before each removal on a store: the lease is still prune's (a prune that stalled past
/// its lease must not delete what a run that took over is committing).
async fn still_held(held: &Option<Held>) -> Result<(), EtlError> {
    match held {
        Some(Held::Remote(lock)) => lock.confirm("prune stopped before removing anything more; rerun it").await,
        _ => Ok(()),
    }
}

fn remove_snapshot(s: &Snapshot, parts: &[&Partition]) -> Result<(), EtlError> {
    let manifest = &s.manifest_path;
    std::fs::remove_file(manifest).map_err(|e| remove_err("manifest", manifest, e))?;
    let dir = manifest.parent().expect("manifest in a folder");
    if let Some(snapshots) = dir.parent() {
        let _ = sync_dir(dir);
        let _ = std::fs::remove_dir_all(dir);
        let _ = sync_dir(snapshots);
    }
    remove_partitions(parts)
}

/// The report to print and, when some scope was skipped for a run in progress, exit 75.
pub async fn prune(args: &PruneArgs) -> Result<super::Outcome, EtlError> {
    let view = RootView::open(args.root.out.as_deref(), &args.root.store_options()).await?;
    let (report, problem) = prune_view(args, view).await?;
    Ok(super::Outcome::with_problem(report, problem))
}

async fn prune_view(args: &PruneArgs, view: RootView) -> Result<(String, Option<EtlError>), EtlError> {
    let only = workspace_arg(args.root.workspace.as_deref())?;
    let scopes: Vec<Option<String>> = match &only {
        Some(w) => vec![Some(w.clone())],
        None => scan(view.path())?.scopes().into_iter().collect(),
    };
    let now = Utc::now();
    let cutoff = args.keep_days.map(|d| now - chrono::Duration::days(i64::from(d)));
    let verb = if args.dry_run { "would remove" } else { "removed" };
    let mut out = String::new();
    let (mut removed, mut kept, mut freed, mut orphans_removed) = (0usize, 0usize, 0u64, 0usize);
    let mut locked = Vec::new();
    let mut rejected = Vec::new();

    for scope in &scopes {
        let ws = scope.as_deref();
        let label = scope_label(ws);
        let held = if args.dry_run {
            None
        } else {
            match lock_scope(&view, ws).await {
                Ok(l) => Some(l),
                Err(e) if e.kind == FailureKind::Temporary => {
                    let _ =
                        writeln!(out, "skipped {label}: a run is writing to it (its lock is held); nothing removed");
                    locked.push(label);
                    continue;
                }
                Err(e) => return Err(e),
            }
        };
        // Everything under the lock in one block, so the lock is released on every path.
        let pruned: Result<(), EtlError> = async {
            // Scan again under the lock: opening it may have finished an interrupted commit.
            let fresh = match (view.remote(), &held) {
                (Some(r), Some(_)) => Some(RootView::mirror(r.clone()).await?),
                _ => None,
            };
            let cur = fresh.as_ref().unwrap_or(&view);
            let root = cur.path();
            let scan = scan(root)?;
            let snaps = scan.of(ws);
            let n = snaps.len();
            let keep_reason = |i: usize, s: &Snapshot| {
                let rank = n - 1 - i; // 0 = newest
                if rank == 0 {
                    Some("the latest".to_string())
                } else if let Some(k) = args.keep {
                    (rank < k as usize).then(|| format!("one of the {k} newest"))
                } else if let Some(c) = cutoff {
                    (s.run_at >= c).then(|| format!("younger than {} days", args.keep_days.unwrap_or(0)))
                } else {
                    Some("no retention rule".to_string())
                }
            };
            let decisions: Vec<Option<String>> = snaps.iter().enumerate().map(|(i, s)| keep_reason(i, s)).collect();
            if !args.dry_run && decisions.iter().any(Option::is_none) {
                still_held(&held).await?;
                delta_remove(&cur.log_root(), ws, &scan, &snaps, &decisions).await?;
            }
            for (s, why_keep) in snaps.iter().zip(decisions) {
                let id = &s.manifest.snapshot_id;
                match why_keep {
                    Some(why) => {
                        kept += 1;
                        let _ = writeln!(out, "kept    {id}  {label}: {why}");
                    }
                    None => {
                        let parts = scan.partitions_of(ws, id);
                        if !args.dry_run {
                            still_held(&held).await?;
                            remove_snapshot_in(cur, s, &parts).await?;
                        }
                        removed += 1;
                        freed = freed.saturating_add(s.bytes());
                        let _ = writeln!(
                            out,
                            "{verb} {id}  {label}: run at {}, {} rows in {} files, {}",
                            s.manifest.run_at,
                            s.rows(),
                            s.files(),
                            human_bytes(s.bytes())
                        );
                    }
                }
            }
            for u in scan.rejected.iter().filter(|u| u.workspace.as_deref() == ws) {
                let _ = writeln!(
                    out,
                    "left    {}  {label}: manifest {} rejected ({}); not pruned",
                    u.snapshot_id,
                    cur.display(&u.path),
                    u.error
                );
                rejected.push(cur.display(&u.path));
            }
            let orphans = scan.orphans(root, ws);
            if !orphans.is_empty() {
                if !args.dry_run {
                    still_held(&held).await?;
                    remove_partitions_in(cur, &orphans).await?;
                }
                orphans_removed += orphans.len();
                for o in orphans {
                    let _ = writeln!(
                        out,
                        "{verb} orphaned partition {} ({label}): no manifest",
                        o.path.strip_prefix(root).unwrap_or(&o.path).display()
                    );
                }
            }
            Ok(())
        }
        .await;
        if let Some(Held::Remote(lock)) = held {
            lock.release().await;
        }
        pruned?;
    }
    let _ = writeln!(
        out,
        "prune{}: {verb} {removed} snapshot(s) ({}), kept {kept}{}",
        if args.dry_run { " (dry run)" } else { "" },
        human_bytes(freed),
        if orphans_removed > 0 { format!(", {orphans_removed} orphaned partition folder(s)") } else { String::new() }
    );
    if !rejected.is_empty() {
        let err = EtlError::new(
            FailureKind::DataInvalid,
            format!(
                "prune left {} manifest(s) it cannot validate, and their partitions, untouched: {}. Restore them from backup or remove their folders under _snapshots/ by hand",
                rejected.len(),
                rejected.join(", ")
            ),
        );
        return Ok((out, Some(err)));
    }
    if locked.is_empty() {
        return Ok((out, None));
    }
    let err = EtlError::new(
        FailureKind::Temporary,
        format!(
            "prune skipped {} under {}: a drata-etl run holds the lock. Nothing of it was removed; retry when the run has finished",
            locked.join(", "),
            view.label()
        ),
    );
    Ok((out, Some(err)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Remote, StoreOptions};
    use futures::stream::BoxStream;
    use futures::StreamExt;
    use object_store::memory::InMemory;
    use object_store::path::Path as Key;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
        PutOptions, PutPayload, PutResult,
    };
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    type Fut<'a, T> = Pin<Box<dyn Future<Output = object_store::Result<T>> + Send + 'a>>;

    /// An in-memory store that refuses to delete anything but lock objects (a bucket
    /// policy without delete rights, say).
    #[derive(Debug)]
    struct NoDeletes(InMemory);

    impl std::fmt::Display for NoDeletes {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "NoDeletes")
        }
    }

    // `ObjectStore` is an `async_trait`; these are its methods written out, each passing
    // the call on to the in-memory store.
    impl ObjectStore for NoDeletes {
        fn put_opts<'a, 'b, 'c>(&'a self, l: &'b Key, p: PutPayload, o: PutOptions) -> Fut<'c, PutResult>
        where
            'a: 'c,
            'b: 'c,
            Self: 'c,
        {
            self.0.put_opts(l, p, o)
        }
        fn put_multipart_opts<'a, 'b, 'c>(
            &'a self,
            l: &'b Key,
            o: PutMultipartOptions,
        ) -> Fut<'c, Box<dyn MultipartUpload>>
        where
            'a: 'c,
            'b: 'c,
            Self: 'c,
        {
            self.0.put_multipart_opts(l, o)
        }
        fn get_opts<'a, 'b, 'c>(&'a self, l: &'b Key, o: GetOptions) -> Fut<'c, GetResult>
        where
            'a: 'c,
            'b: 'c,
            Self: 'c,
        {
            self.0.get_opts(l, o)
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<Key>>,
        ) -> BoxStream<'static, object_store::Result<Key>> {
            let inner = self.0.clone();
            locations
                .then(move |l| {
                    let inner = inner.clone();
                    async move {
                        let l = l?;
                        if !l.as_ref().contains("/_locks/") {
                            return Err(object_store::Error::Generic { store: "NoDeletes", source: "refused".into() });
                        }
                        inner.delete_stream(futures::stream::iter([Ok(l)]).boxed()).next().await.expect("one")
                    }
                })
                .boxed()
        }
        fn list(&self, prefix: Option<&Key>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.0.list(prefix)
        }
        fn list_with_delimiter<'a, 'b, 'c>(&'a self, prefix: Option<&'b Key>) -> Fut<'c, ListResult>
        where
            'a: 'c,
            'b: 'c,
            Self: 'c,
        {
            self.0.list_with_delimiter(prefix)
        }
        fn copy_opts<'a, 'b, 'd, 'c>(&'a self, from: &'b Key, to: &'d Key, o: CopyOptions) -> Fut<'c, ()>
        where
            'a: 'c,
            'b: 'c,
            'd: 'c,
            Self: 'c,
        {
            self.0.copy_opts(from, to, o)
        }
    }

    fn manifest(id: &str, run_at: &str) -> Vec<u8> {
        let at = chrono::DateTime::parse_from_rfc3339(run_at).unwrap().with_timezone(&chrono::Utc);
        let key = crate::load::SnapshotKey::from_run_at(at);
        assert_eq!(key.id, id, "the fixture's id is the one its run time names");
        serde_json::to_vec(&crate::load::manifest::empty_for_tests(&key, &format!("run-{id}"))).unwrap()
    }

    #[tokio::test]
    async fn prune_releases_its_store_lock_when_a_removal_fails() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            prune: PruneArgs,
        }
        let opts = StoreOptions { lock_lease: std::time::Duration::from_secs(60), ..Default::default() };
        let r = Remote::with_store(Arc::new(NoDeletes(InMemory::new())), "root", "mem://bucket/root", opts);
        for (id, at) in [("20260101T000000Z", "2026-01-01T00:00:00Z"), ("20260102T000000Z", "2026-01-02T00:00:00Z")] {
            r.put(&format!("_snapshots/{id}/_manifest.json"), manifest(id, at)).await.unwrap();
        }
        let args = <Cli as clap::Parser>::parse_from(["prune", "--keep", "1"]).prune;
        let view = RootView::mirror(r.clone()).await.unwrap();
        let err = prune_view(&args, view).await.expect_err("the removal fails");
        assert!(err.message.contains("cannot delete"), "{}", err.message);
        assert!(r.get("_locks/_default.lock").await.unwrap().is_none(), "prune left its lock behind");
    }
}
