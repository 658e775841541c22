//! The commit protocol on a local file system (hand-written: no crate does this job).
//!
//! 1. `OutputRoot::open` takes an exclusive lock on `OUT/_locks/<scope>.lock` (a second run
//!    for the same workspace and output fails at once; other workspaces run in parallel)
//!    and finishes or discards what a killed run of that scope left.
//! 2. Writers fill `OUT/_staging/<scope>/<snapshot>.<run>/<table>/part-*.parquet`: outside
//!    every table folder, so no reader globbing `OUT/<table>/**` ever sees a partial file.
//! 3. `Staging::commit` writes the manifest into the staging folder as `_commit.json`
//!    (the point of no return), removes the manifest of a previous snapshot with the same
//!    id, renames each table folder into its partition (moving the previous one aside
//!    first), then writes
//!    `OUT/_snapshots/[workspace=…/]<snapshot>/_manifest.json` — the commit point readers trust — and
//!    removes the leftovers. Each step is a rename within one file system, fsynced.
//! 4. A run killed before step 3's `_commit.json` leaves only a staging folder, deleted by
//!    the next run; killed after it, the next run rolls the commit forward.

use super::batch::TableRow;
use super::layout::{manifest_rel, partition_dir, scope_name, SnapshotKey, Table};
use super::manifest::Manifest;
use super::writer::{TableWriter, WriterOptions};
use crate::error::EtlError;
use fs2::FileExt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

pub const LOCKS_DIR: &str = "_locks";
pub const STAGING_DIR: &str = "_staging";
pub const TRASH_DIR: &str = "_trash";
pub const SNAPSHOTS_DIR: &str = "_snapshots";
pub const MANIFEST_FILE: &str = "_manifest.json";
const COMMIT_INTENT: &str = "_commit.json";

/// Where a committed snapshot's manifest lives.
pub fn manifest_path(root: &Path, workspace: Option<&str>, snapshot_id: &str) -> PathBuf {
    root.join(manifest_rel(workspace, snapshot_id))
}

/// What opening the output root had to clean up after an earlier killed run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub discarded_staging: usize,
    pub rolled_forward: usize,
}

/// An output directory held exclusively by this process (for one workspace scope).
pub struct OutputRoot {
    root: PathBuf,
    scope: String,
    _lock: File,
    pub recovery: Recovery,
}

fn write_err(what: &str, path: &Path, e: io::Error) -> EtlError {
    EtlError::cannot_write(format!(
        "cannot {what} {}: {e}. Check that the output directory exists on a writable file \
         system with free space and that this user may write there.",
        path.display()
    ))
}

impl OutputRoot {
    pub fn open(root: &Path, workspace: Option<&str>) -> Result<Self, EtlError> {
        create_dirs_synced(root).map_err(|e| write_err("create output directory", root, e))?;
        let scope = scope_name(workspace);
        let locks = root.join(LOCKS_DIR);
        create_dirs_synced(&locks).map_err(|e| write_err("create lock directory", &locks, e))?;
        let lock_path = locks.join(format!("{scope}.lock"));
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| write_err("create lock file", &lock_path, e))?;
        if lock.try_lock_exclusive().is_err() {
            return Err(EtlError::new(
                crate::error::FailureKind::Temporary,
                format!(
                    "another drata-etl run is writing to {} (lock {} is held); \
                     wait for it to finish or retry later",
                    root.display(),
                    lock_path.display()
                ),
            ));
        }
        let mut out = OutputRoot { root: root.to_path_buf(), scope, _lock: lock, recovery: Recovery::default() };
        out.recovery = out.recover().map_err(|e| write_err("recover", root, e))?;
        Ok(out)
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Finish commits that passed their point of no return; discard everything else.
    fn recover(&self) -> io::Result<Recovery> {
        let mut rec = Recovery::default();
        let staging = self.root.join(STAGING_DIR).join(&self.scope);
        if staging.is_dir() {
            for entry in fs::read_dir(&staging)? {
                let dir = entry?.path();
                let manifest = read_intent(&dir);
                match manifest {
                    Some(m) => {
                        apply_commit(&self.root, &dir, &self.root.join(TRASH_DIR).join(&self.scope), &m)?;
                        rec.rolled_forward += 1;
                    }
                    None => {
                        remove_any(&dir)?;
                        rec.discarded_staging += 1;
                    }
                }
            }
        }
        remove_any(&self.root.join(TRASH_DIR).join(&self.scope))?;
        if rec != Recovery::default() {
            tracing::warn!(
                discarded = rec.discarded_staging,
                rolled_forward = rec.rolled_forward,
                "cleaned up after an interrupted earlier run"
            );
        }
        Ok(rec)
    }

    /// Start writing a snapshot in a fresh staging folder.
    pub fn begin(&self, key: &SnapshotKey, run_id: &str) -> Result<Staging, EtlError> {
        let dir = self.root.join(STAGING_DIR).join(&self.scope).join(format!("{}.{}", key.id, run_id));
        create_dirs_synced(&dir).map_err(|e| write_err("create staging directory", &dir, e))?;
        Ok(Staging {
            root: self.root.clone(),
            trash: self.root.join(TRASH_DIR).join(&self.scope),
            dir,
            key: key.clone(),
        })
    }
}

/// A snapshot being written; dropped without `commit`, it leaves only a staging folder.
pub struct Staging {
    root: PathBuf,
    trash: PathBuf,
    dir: PathBuf,
    key: SnapshotKey,
}

impl Staging {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn writer<R: TableRow>(&self, opts: WriterOptions) -> Result<TableWriter<R>, EtlError> {
        let dir = self.dir.join(R::TABLE.name());
        TableWriter::create(
            &dir,
            &self.key.partition_dir(R::TABLE),
            self.key.run_at.timestamp_micros(),
            self.key.workspace.as_deref(),
            opts,
        )
        .map_err(|e| write_err("create", &dir, e))
    }

    /// Make the snapshot visible, atomically per table, and write its manifest last.
    pub fn commit(self, manifest: &Manifest) -> Result<(), EtlError> {
        let intent = self.dir.join(COMMIT_INTENT);
        write_atomically(&intent, &serde_json::to_vec_pretty(manifest).expect("serialisable"))
            .map_err(|e| write_err("write commit intent", &intent, e))?;
        crate::store::test_hook::pause_blocking(crate::store::test_hook::Point::AfterIntent);
        apply_commit(&self.root, &self.dir, &self.trash, manifest)
            .map_err(|e| write_err("commit snapshot into", &self.root, e))?;
        remove_any(&self.trash).ok();
        Ok(())
    }

    /// `commit`, unless the run's deadline has passed: checked immediately before the intent
    /// (the point of no return), so a run out of time commits nothing and discards its staging.
    pub fn commit_before(self, manifest: &Manifest, deadline: &crate::deadline::RunDeadline) -> Result<(), EtlError> {
        if let Err(e) = deadline.check("writing and committing the snapshot, before its commit intent") {
            self.abort();
            return Err(e);
        }
        self.commit(manifest)
    }

    /// Throw the staged files away (a failed or interrupted run).
    pub fn abort(self) {
        remove_any(&self.dir).ok();
    }
}

/// The commit intent in a staging folder, if there is one this run may roll forward: it
/// passes `Manifest::parse` and belongs to this folder (`<snapshot id>.<run id>`). Anything
/// else is treated like an intent never written, so its staging folder is discarded, which
/// touches nothing outside the staging area; a warning names the intent and the field.
fn read_intent(dir: &Path) -> Option<Manifest> {
    let intent = dir.join(COMMIT_INTENT);
    let bytes = fs::read(&intent).ok()?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match Manifest::parse(&bytes, &intent.display().to_string(), None) {
        Ok(m) if name == format!("{}.{}", m.snapshot_id, m.run_id) => Some(m),
        Ok(m) => {
            tracing::warn!(intent = %intent.display(), snapshot_id = %m.snapshot_id, "commit intent of another staging folder ignored; discarding the folder");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "commit intent rejected; discarding its staging folder");
            None
        }
    }
}

/// Steps after the point of no return; idempotent so recovery can repeat them.
///
/// A previous snapshot with the same id first loses its manifest, so at every instant a
/// manifest that exists describes exactly the files beside it.
fn apply_commit(root: &Path, staging: &Path, trash: &Path, m: &Manifest) -> io::Result<()> {
    let ws = m.workspace.as_deref();
    let manifest = manifest_path(root, ws, &m.snapshot_id);
    if let Ok(bytes) = fs::read(&manifest) {
        let from = manifest.display().to_string();
        let same_run = Manifest::parse(&bytes, &from, None).is_ok_and(|old| old.run_id == m.run_id);
        if !same_run {
            fs::remove_file(&manifest)?;
            sync_dir(manifest.parent().expect("manifest has a parent"))?;
        }
    }
    let key_dir = |t: Table| root.join(partition_dir(t, ws, &m.snapshot_date, &m.snapshot_id));
    for table in Table::ALL {
        let staged = staging.join(table.name());
        if !staged.is_dir() {
            continue; // already moved by an earlier attempt
        }
        let target = key_dir(table);
        let parent = target.parent().expect("partition has a parent");
        create_dirs_synced(parent)?;
        // The part files' own entries: fsynced before the folder holding them is published.
        sync_dir(&staged)?;
        if target.exists() {
            create_dirs_synced(trash)?;
            fs::rename(&target, trash.join(format!("{}.{}", m.run_id, table.name())))?;
        }
        fs::rename(&staged, &target)?;
        sync_dir(parent)?;
    }
    create_dirs_synced(manifest.parent().expect("manifest has a parent"))?;
    write_atomically(&manifest, &serde_json::to_vec_pretty(m).expect("serialisable"))?;
    remove_any(staging)?;
    Ok(())
}

/// Write to a temporary sibling, fsync, rename over the target, fsync the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    write_atomically_with(path, |f| f.write_all(bytes))
}

/// `write_atomically` with the filling step given, so a failing write can be simulated.
///
/// The temporary file gets a random name and is created exclusively (`O_EXCL`): in a shared
/// folder (e.g. a node_exporter textfile directory for `--metrics-file`) a symlink planted
/// at a guessable name is never followed. On any failure (disk full) it is deleted.
fn write_atomically_with(path: &Path, fill: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let prefix = format!(".{}.", path.file_name().expect("file name").to_string_lossy());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        // As File::create would: readable by others as the umask allows (tempfile's default
        // is owner-only, which would hide manifests and metrics from their readers).
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(parent)?;
    fill(tmp.as_file_mut())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(parent)
}

/// Create `dir` and its missing parents, fsyncing the parent of each folder created: a
/// folder's entry is durable only once its parent is synced, and a commit renames data into
/// folders it creates (table, workspace, date, `_snapshots/…`, staging).
fn create_dirs_synced(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut d = dir;
    while !d.is_dir() {
        missing.push(d);
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    for d in missing.into_iter().rev() {
        if d.as_os_str().is_empty() {
            continue;
        }
        match fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => continue, // created meanwhile
            Err(e) => return Err(e),
        }
        let parent = d.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(test)]
    tests::SYNCED.with(|s| s.borrow_mut().push(dir.to_path_buf()));
    File::open(dir)?.sync_all()
}

fn remove_any(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
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
        Manifest {
            format_version: 1,
            run_id: run_id.into(),
            snapshot_id: k.id.clone(),
            snapshot_date: k.date.to_string(),
            workspace: k.workspace.clone(),
            run_at: k.run_at_rfc3339(),
            started_at: String::new(),
            finished_at: String::new(),
            tool_version: String::new(),
            api_dialect: "guide".into(),
            base_url: String::new(),
            tables: Default::default(),
            listing: Default::default(),
            enrichment: Default::default(),
            incremental: None,
            api: Default::default(),
        }
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
        let e =
            s.commit_before(&manifest_for(&k, "r1"), &RunDeadline::new(Some(tokio::time::Instant::now()))).unwrap_err();
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
            write_atomically(&s.dir().join(COMMIT_INTENT), &serde_json::to_vec(&manifest_for(&k, "r1")).unwrap())
                .unwrap();
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
}
