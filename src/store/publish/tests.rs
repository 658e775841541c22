//! Unit tests of `store::publish`, kept beside it so the module reads as code first.

use super::*;
use crate::load::manifest::{FileEntry, TableEntry};
use crate::store::lock::LeaseLock;
use crate::store::StoreOptions;
use object_store::memory::InMemory;
use std::sync::Arc;
use std::time::Duration;

fn remote() -> Remote {
    let opts = StoreOptions { lock_lease: Duration::from_secs(60), ..Default::default() };
    Remote::with_store(Arc::new(InMemory::new()), "root", "mem://bucket/root", opts)
}

/// A manifest listing `n` control files of one run, and those files in a local folder.
fn local_snapshot(dir: &Path, run_id: &str, n: usize) -> Manifest {
    let mut files = Vec::new();
    for i in 0..n {
        let rel = format!("controls/snapshot_date=2026-01-01/snapshot_id=20260101T000000Z/part-{i:05}.parquet");
        std::fs::create_dir_all(dir.join(&rel).parent().unwrap()).unwrap();
        std::fs::write(dir.join(&rel), format!("{run_id}-{i}")).unwrap();
        files.push(FileEntry { path: rel, rows: 1, bytes: 0, sha256: "0".repeat(64) });
    }
    let mut tables = std::collections::BTreeMap::new();
    tables.insert("controls".to_string(), TableEntry { rows: n as u64, files });
    Manifest {
        format_version: 1,
        run_id: run_id.into(),
        snapshot_id: "20260101T000000Z".into(),
        snapshot_date: "2026-01-01".into(),
        workspace: None,
        run_at: "2026-01-01T00:00:00Z".into(),
        started_at: String::new(),
        finished_at: String::new(),
        tool_version: String::new(),
        api_dialect: "guide".into(),
        base_url: String::new(),
        tables,
        listing: Default::default(),
        enrichment: Default::default(),
        incremental: None,
        api: Default::default(),
    }
}

const MANIFEST: &str = "_snapshots/20260101T000000Z/_manifest.json";

async fn keys(r: &Remote) -> Vec<String> {
    r.list("").await.unwrap().into_iter().map(|(k, _)| k).collect()
}

async fn committed_run(r: &Remote) -> Option<String> {
    r.get(MANIFEST).await.unwrap().map(|b| serde_json::from_slice::<Manifest>(&b).unwrap().run_id)
}

#[tokio::test]
async fn upload_then_apply_commits_and_leaves_no_staging() {
    let (r, tmp) = (remote(), tempfile::tempdir().unwrap());
    let l = LeaseLock::acquire(&r, "_default", "t").await.unwrap();
    let m = local_snapshot(tmp.path(), "r1", 2);
    upload(&r, tmp.path(), "_default", &m, &l, &RunDeadline::none()).await.unwrap();
    assert_eq!(committed_run(&r).await, None, "nothing is committed before apply");
    apply(&r, &staging_rel("_default", &m), &m, &l).await.unwrap();
    assert_eq!(committed_run(&r).await.as_deref(), Some("r1"));
    let k = keys(&r).await;
    assert!(k.iter().all(|k| !k.starts_with("_staging/")), "{k:?}");
    assert_eq!(k.iter().filter(|k| k.ends_with(".parquet")).count(), 2);
}

#[tokio::test]
async fn a_deadline_passed_during_upload_writes_no_intent() {
    let (r, tmp) = (remote(), tempfile::tempdir().unwrap());
    let l = LeaseLock::acquire(&r, "_default", "t").await.unwrap();
    let m = local_snapshot(tmp.path(), "r1", 2);
    let passed = RunDeadline::new(Some(tokio::time::Instant::now()));
    let e = upload(&r, tmp.path(), "_default", &m, &l, &passed).await.unwrap_err();
    assert_eq!(e.kind, FailureKind::Temporary);
    assert!(e.message.contains("before its commit intent") && e.message.contains("nothing was committed"), "{e:?}");
    let k = keys(&r).await;
    assert!(!k.iter().any(|k| k.ends_with(COMMIT_INTENT)), "no intent after the deadline: {k:?}");
    // What it staged is garbage the next run's recovery discards; nothing is committed.
    assert_eq!(recover(&r, "_default", &l).await.unwrap().discarded_staging, 1);
    assert_eq!(committed_run(&r).await, None);
}

#[tokio::test]
async fn recovery_rolls_forward_after_the_intent_and_discards_before_it() {
    let (r, tmp) = (remote(), tempfile::tempdir().unwrap());
    let l = LeaseLock::acquire(&r, "_default", "t").await.unwrap();
    // Killed after the intent: the next run finishes the commit.
    let m = local_snapshot(tmp.path(), "r1", 2);
    upload(&r, tmp.path(), "_default", &m, &l, &RunDeadline::none()).await.unwrap();
    let rec = recover(&r, "_default", &l).await.unwrap();
    assert_eq!(rec, Recovery { discarded_staging: 0, rolled_forward: 1 });
    assert_eq!(committed_run(&r).await.as_deref(), Some("r1"));
    // Killed mid-upload (a staged file, no intent): discarded, the commit is untouched.
    let m2 = local_snapshot(tmp.path(), "r2", 3);
    let staged = format!("{}/{}", staging_rel("_default", &m2), m2.tables["controls"].files[0].path);
    r.put(&staged, b"partial".to_vec()).await.unwrap();
    let rec = recover(&r, "_default", &l).await.unwrap();
    assert_eq!(rec, Recovery { discarded_staging: 1, rolled_forward: 0 });
    assert_eq!(committed_run(&r).await.as_deref(), Some("r1"));
    assert!(keys(&r).await.iter().all(|k| !k.starts_with("_staging/")));
}

#[tokio::test]
async fn apply_repeated_after_a_crash_before_cleanup_is_harmless() {
    let (r, tmp) = (remote(), tempfile::tempdir().unwrap());
    let l = LeaseLock::acquire(&r, "_default", "t").await.unwrap();
    let m = local_snapshot(tmp.path(), "r1", 2);
    upload(&r, tmp.path(), "_default", &m, &l, &RunDeadline::none()).await.unwrap();
    // First attempt got as far as the manifest (simulated: apply, then restore staging).
    apply(&r, &staging_rel("_default", &m), &m, &l).await.unwrap();
    upload(&r, tmp.path(), "_default", &m, &l, &RunDeadline::none()).await.unwrap();
    let rec = recover(&r, "_default", &l).await.unwrap();
    assert_eq!(rec.rolled_forward, 1);
    assert_eq!(committed_run(&r).await.as_deref(), Some("r1"));
}

#[tokio::test]
async fn replacing_a_snapshot_drops_files_the_new_manifest_does_not_list() {
    let (r, tmp) = (remote(), tempfile::tempdir().unwrap());
    let l = LeaseLock::acquire(&r, "_default", "t").await.unwrap();
    let m1 = local_snapshot(tmp.path(), "r1", 3);
    upload(&r, tmp.path(), "_default", &m1, &l, &RunDeadline::none()).await.unwrap();
    apply(&r, &staging_rel("_default", &m1), &m1, &l).await.unwrap();
    let tmp2 = tempfile::tempdir().unwrap();
    let m2 = local_snapshot(tmp2.path(), "r2", 1);
    upload(&r, tmp2.path(), "_default", &m2, &l, &RunDeadline::none()).await.unwrap();
    apply(&r, &staging_rel("_default", &m2), &m2, &l).await.unwrap();
    assert_eq!(committed_run(&r).await.as_deref(), Some("r2"));
    let parts: Vec<String> = keys(&r).await.into_iter().filter(|k| k.ends_with(".parquet")).collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!(r.get(&parts[0]).await.unwrap().unwrap().as_ref(), b"r2-0");
}

#[tokio::test]
async fn the_lock_is_exclusive_until_released_or_expired() {
    let store: Arc<InMemory> = Arc::new(InMemory::new());
    let with_lease = |lease: Duration| {
        let opts = StoreOptions { lock_lease: lease, ..Default::default() };
        Remote::with_store(store.clone(), "root", "mem://bucket/root", opts)
    };
    let r = with_lease(Duration::from_secs(60));
    let a = LeaseLock::acquire(&r, "_default", "a").await.unwrap();
    let busy = LeaseLock::acquire(&r, "_default", "b").await.err().unwrap();
    assert_eq!(busy.kind, FailureKind::Temporary);
    assert!(busy.message.contains("held by run a"), "{}", busy.message);
    a.confirm("x").await.unwrap();
    a.release().await;
    let b = LeaseLock::acquire(&r, "_default", "b").await.unwrap();
    b.release().await;
    assert!(keys(&r).await.is_empty(), "released locks are deleted");

    // A holder that stopped renewing (killed) is taken over once its lease has passed,
    // and then no longer trusts its lock.
    let short = with_lease(Duration::from_millis(30));
    let d = LeaseLock::acquire(&short, "_default", "d").await.unwrap();
    assert!(LeaseLock::acquire(&r, "_default", "e").await.is_err(), "a live lease is not taken over");
    tokio::time::sleep(Duration::from_millis(10)).await;
    d.confirm("x").await.unwrap();
    drop(d); // stops renewing, as a killed process would
    tokio::time::sleep(Duration::from_millis(60)).await;
    let e = LeaseLock::acquire(&r, "_default", "e").await.unwrap();
    e.confirm("x").await.unwrap();
    e.release().await;
}

#[tokio::test]
async fn a_lock_taken_over_makes_the_old_holder_refuse_to_commit() {
    let store: Arc<InMemory> = Arc::new(InMemory::new());
    let opts = StoreOptions { lock_lease: Duration::from_secs(60), ..Default::default() };
    let r = Remote::with_store(store, "root", "mem://bucket/root", opts);
    let a = LeaseLock::acquire(&r, "_default", "a").await.unwrap();
    // Another run took the lock (e.g. after this one stalled past its lease).
    r.put(
        "_locks/_default.lock",
        br#"{"run_id":"z","host":"h","pid":1,"acquired_at":"x","expires_at":"2999-01-01T00:00:00Z"}"#.to_vec(),
    )
    .await
    .unwrap();
    let err = a.confirm("x").await.unwrap_err();
    assert_eq!(err.kind, FailureKind::Temporary);
    a.release().await;
    assert!(r.get("_locks/_default.lock").await.unwrap().is_some(), "release never deletes another run's lock");
}

#[tokio::test]
async fn a_stalled_holder_never_overwrites_its_successors_lock() {
    let store: Arc<InMemory> = Arc::new(InMemory::new());
    let opts = StoreOptions { lock_lease: Duration::from_millis(30), ..Default::default() };
    let r = Remote::with_store(store, "root", "mem://bucket/root", opts);
    let a = LeaseLock::acquire(&r, "_default", "a").await.unwrap();
    let successor = br#"{"run_id":"z","host":"h","pid":1,"acquired_at":"x","expires_at":"2999-01-01T00:00:00Z"}"#;
    r.put("_locks/_default.lock", successor.to_vec()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await; // several renewal attempts by `a`
    assert_eq!(r.get("_locks/_default.lock").await.unwrap().unwrap().as_ref(), successor);
    assert!(a.confirm("x").await.is_err());
}

#[tokio::test]
async fn expiry_is_judged_by_the_stores_clock_not_the_writers() {
    let r = remote(); // lease 60 s
                      // The holder's clock is behind: its `expires_at` has passed, but it wrote just now.
    let behind = br#"{"run_id":"z","host":"h","pid":1,"acquired_at":"x","expires_at":"2000-01-01T00:00:00Z"}"#;
    r.put("_locks/_default.lock", behind.to_vec()).await.unwrap();
    let err = LeaseLock::acquire(&r, "_default", "b").await.err().expect("a fresh lock is live");
    assert_eq!(err.kind, FailureKind::Temporary);
    assert!(err.message.contains("by the store's clock"), "{}", err.message);
    // The holder's clock is ahead, with a 20 ms lease it stopped renewing: it has lapsed.
    let ahead =
        br#"{"run_id":"y","host":"h","pid":1,"acquired_at":"x","expires_at":"2999-01-01T00:00:00Z","lease_ms":20}"#;
    r.put("_locks/_default.lock", ahead.to_vec()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(40)).await;
    let b = LeaseLock::acquire(&r, "_default", "b").await.expect("a lapsed lease is taken over");
    b.confirm("x").await.unwrap();
    b.release().await;
    assert!(r.list("_locks").await.unwrap().is_empty(), "no clock probe or lock left behind");
}

#[tokio::test(start_paused = true)]
async fn a_renewal_the_store_does_not_answer_in_time_marks_the_lock_lost() {
    use object_store::throttle::{ThrottleConfig, ThrottledStore};
    let store = Arc::new(ThrottledStore::new(InMemory::new(), ThrottleConfig::default()));
    let opts = StoreOptions { lock_lease: Duration::from_secs(60), ..Default::default() };
    let r = Remote::with_store(store.clone(), "root", "mem://bucket/root", opts);
    let a = LeaseLock::acquire(&r, "_default", "a").await.unwrap();
    // From now on every write hangs for an hour (reads still answer).
    store.config_mut(|c| c.wait_put_per_call = Duration::from_secs(3600));
    // Renewals at 20 s and 31 s each give up after 10 s; by 41 s the lease could lapse
    // before another attempt ends, so the lock counts as lost, before the lease is over.
    tokio::time::sleep(Duration::from_secs(45)).await;
    let err = a.confirm("x").await.unwrap_err();
    assert_eq!(err.kind, FailureKind::Temporary);
    assert!(err.message.contains("did not answer within 10000 ms"), "{}", err.message);
}

#[tokio::test]
async fn confirm_fails_once_the_lock_object_is_gone_or_rewritten() {
    let r = remote();
    let a = LeaseLock::acquire(&r, "_default", "a").await.unwrap();
    // Rewritten with the same run id (another version): the compare-and-swap tells.
    let same_id = br#"{"run_id":"a","host":"h","pid":1,"acquired_at":"x","expires_at":"2999-01-01T00:00:00Z"}"#;
    r.put("_locks/_default.lock", same_id.to_vec()).await.unwrap();
    assert!(a.confirm("x").await.is_err());
    a.release().await;
    assert!(r.get("_locks/_default.lock").await.unwrap().is_some(), "release never deletes another version");
}

#[tokio::test]
async fn an_intent_whose_files_are_not_staged_is_discarded_not_rolled_forward() {
    let (r, tmp) = (remote(), tempfile::tempdir().unwrap());
    let l = LeaseLock::acquire(&r, "_default", "t").await.unwrap();
    // A fenced-out run's late intent, after its staged files were deleted.
    let m = local_snapshot(tmp.path(), "r1", 2);
    let intent = format!("{}/{COMMIT_INTENT}", staging_rel("_default", &m));
    r.put(&intent, serde_json::to_vec(&m).unwrap()).await.unwrap();
    let rec = recover(&r, "_default", &l).await.unwrap();
    assert_eq!(rec, Recovery { discarded_staging: 1, rolled_forward: 0 });
    assert_eq!(committed_run(&r).await, None);
    assert!(keys(&r).await.iter().all(|k| !k.starts_with("_staging/")));
}
