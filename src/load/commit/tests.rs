//! Unit tests of `load::commit`, kept beside it so the module reads as code first.

use super::*;
use crate::load::catalogue::committed_manifests;
use crate::record::Control;
use chrono::{DateTime, Utc};

thread_local! {
    /// Every folder `sync_dir` synced on this test's thread.
    pub(super) static SYNCED: std::cell::RefCell<Vec<PathBuf>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn key(at: &str) -> SnapshotKey {
    SnapshotKey::from_run_at(DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&Utc))
}

fn manifest_for(k: &SnapshotKey, run_id: &str) -> Manifest {
    crate::load::manifest::empty_for_tests(k, run_id)
}

fn stage(root: &OutputRoot, k: &SnapshotKey, run_id: &str, rows: usize) -> Staging {
    let s = root.begin(k, run_id).unwrap();
    let mut w: TableWriter<Control> = s.writer(WriterOptions::default()).unwrap();
    for i in 0..rows {
        w.push(Control { id: i.to_string(), ..Default::default() }).unwrap();
    }
    w.finish().unwrap();
    s
}

#[test]
fn second_open_is_refused_while_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let _held = OutputRoot::open(tmp.path(), None).unwrap();
    let err = OutputRoot::open(tmp.path(), None).err().unwrap();
    assert_eq!(err.kind, crate::error::FailureKind::Temporary);
}

#[test]
fn staging_without_intent_is_discarded() {
    let tmp = tempfile::tempdir().unwrap();
    let k = key("2026-01-01T00:00:00Z");
    {
        let root = OutputRoot::open(tmp.path(), None).unwrap();
        let _abandoned = stage(&root, &k, "r1", 3); // a killed run: never committed
    }
    let root = OutputRoot::open(tmp.path(), None).unwrap();
    assert_eq!(root.recovery, Recovery { discarded_staging: 1, rolled_forward: 0 });
    assert!(!tmp.path().join("controls").exists());
    assert!(committed_manifests(tmp.path()).unwrap().is_empty());
}

#[test]
fn a_passed_deadline_stops_the_commit_before_its_intent() {
    use crate::deadline::RunDeadline;
    let tmp = tempfile::tempdir().unwrap();
    let k = key("2026-01-01T00:00:00Z");
    let root = OutputRoot::open(tmp.path(), None).unwrap();
    let s = stage(&root, &k, "r1", 3);
    let staged = s.dir().to_path_buf();
    let e = s.commit_before(&manifest_for(&k, "r1"), &RunDeadline::new(Some(tokio::time::Instant::now()))).unwrap_err();
    assert_eq!(e.kind, crate::error::FailureKind::Temporary);
    assert!(e.message.contains("before its commit intent"), "{}", e.message);
    assert!(!staged.exists(), "the staged files are discarded");
    assert!(committed_manifests(tmp.path()).unwrap().is_empty());
    assert!(!tmp.path().join(k.partition_dir(Table::Controls)).exists());
    // Within the deadline it commits as `commit` does.
    let later = RunDeadline::new(Some(tokio::time::Instant::now() + std::time::Duration::from_secs(3600)));
    stage(&root, &k, "r2", 3).commit_before(&manifest_for(&k, "r2"), &later).unwrap();
    assert_eq!(committed_manifests(tmp.path()).unwrap().len(), 1);
}

#[test]
fn every_folder_a_commit_creates_has_its_parent_synced() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("out");
    let k = key("2026-01-01T00:00:00Z").with_workspace(Some("acme".into()));
    SYNCED.with(|s| s.borrow_mut().clear());
    let out = OutputRoot::open(&root, Some("acme")).unwrap();
    stage(&out, &k, "r1", 3).commit(&manifest_for(&k, "r1")).unwrap();
    let synced: Vec<PathBuf> = SYNCED.with(|s| s.borrow().clone());
    let mut dirs = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            }
        }
        dirs.push(d);
    }
    // Table, workspace, date, snapshot, `_snapshots/…`, `_staging/…`, `_locks`, and the root.
    assert!(dirs.len() >= 10, "{dirs:?}");
    for d in &dirs {
        assert!(synced.contains(&d.parent().unwrap().to_path_buf()), "parent of {} never synced", d.display());
    }
    // Each staged table folder is synced itself before it is published (its files' entries).
    assert!(synced.iter().any(|p| p.starts_with(root.join(STAGING_DIR)) && p.ends_with("controls")), "{synced:?}");
}

#[cfg(unix)]
#[test]
fn a_symlink_planted_at_the_old_temp_name_is_not_followed_by_manifest_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    let root_dir = tmp.path().join("out");
    let k = key("2026-01-01T00:00:00Z");
    let manifest = manifest_path(&root_dir, None, &k.id);
    fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    // The name the manifest's temporary file had before: `.<name>.tmp-<pid>`.
    let planted = manifest.parent().unwrap().join(format!("._manifest.json.tmp-{}", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let root = OutputRoot::open(&root_dir, None).unwrap();
    stage(&root, &k, "r1", 2).commit(&manifest_for(&k, "r1")).unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious", "the symlink's target was written");
    assert!(!fs::symlink_metadata(&manifest).unwrap().file_type().is_symlink());
    assert_eq!(committed_manifests(&root_dir).unwrap()[0].run_id, "r1");
}

#[test]
fn a_failed_write_leaves_no_temporary_file_and_the_old_file_intact() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("metrics.prom");
    fs::write(&path, "old").unwrap();
    let full = write_atomically_with(&path, |f| {
        f.write_all(b"half of it")?;
        Err(io::Error::from_raw_os_error(28)) // ENOSPC: the disk is full
    });
    assert!(full.is_err());
    let names: Vec<String> =
        fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["metrics.prom".to_string()], "a temporary file was left behind");
    assert_eq!(fs::read_to_string(&path).unwrap(), "old");
    write_atomically(&path, b"new").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "new");
}

#[test]
fn intent_is_rolled_forward_after_a_crash_mid_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let k = key("2026-01-01T00:00:00Z");
    {
        let root = OutputRoot::open(tmp.path(), None).unwrap();
        let s = stage(&root, &k, "r1", 3);
        // Crash right after the point of no return: intent written, nothing moved.
        write_atomically(&s.dir().join(COMMIT_INTENT), &serde_json::to_vec(&manifest_for(&k, "r1")).unwrap()).unwrap();
    }
    let root = OutputRoot::open(tmp.path(), None).unwrap();
    assert_eq!(root.recovery.rolled_forward, 1);
    assert!(tmp.path().join(k.partition_dir(Table::Controls)).join("part-00000.parquet").is_file());
    let m = committed_manifests(tmp.path()).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].run_id, "r1");
}

#[test]
fn replacing_a_snapshot_swaps_files_and_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let k = key("2026-01-01T00:00:00Z");
    let root = OutputRoot::open(tmp.path(), None).unwrap();
    stage(&root, &k, "r1", 3).commit(&manifest_for(&k, "r1")).unwrap();
    stage(&root, &k, "r2", 5).commit(&manifest_for(&k, "r2")).unwrap();
    let m = committed_manifests(tmp.path()).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].run_id, "r2");
    let parts: Vec<_> = fs::read_dir(tmp.path().join(k.partition_dir(Table::Controls))).unwrap().collect();
    assert_eq!(parts.len(), 1);
    assert!(!tmp.path().join(TRASH_DIR).join("_default").exists());
    assert!(fs::read_dir(tmp.path().join(STAGING_DIR).join("_default")).unwrap().next().is_none());
}

#[test]
fn workspaces_lock_and_commit_independently() {
    let tmp = tempfile::tempdir().unwrap();
    let a = OutputRoot::open(tmp.path(), Some("a")).unwrap();
    let b = OutputRoot::open(tmp.path(), Some("b")).unwrap();
    assert!(OutputRoot::open(tmp.path(), Some("a")).is_err());
    let ka = key("2026-01-01T00:00:00Z").with_workspace(Some("a".into()));
    let kb = key("2026-01-01T00:00:00Z").with_workspace(Some("b".into()));
    stage(&a, &ka, "r1", 2).commit(&manifest_for(&ka, "r1")).unwrap();
    stage(&b, &kb, "r2", 3).commit(&manifest_for(&kb, "r2")).unwrap();
    let m = committed_manifests(tmp.path()).unwrap();
    assert_eq!(m.iter().map(|m| m.workspace.clone().unwrap()).collect::<Vec<_>>(), vec!["a", "b"]);
    assert!(tmp.path().join("controls/workspace=b/snapshot_date=2026-01-01").is_dir());
}
