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
            run_tag: None,
        })
    }
}

/// A snapshot being written; dropped without `commit`, it leaves only a staging folder.
pub struct Staging {
    root: PathBuf,
    trash: PathBuf,
    dir: PathBuf,
    key: SnapshotKey,
    run_tag: Option<String>,
}

impl Staging {
    /// Name every file this run writes after it (`layout::part_file_name`).
    pub fn tag_files(&mut self, run_id: &str) {
        self.run_tag = Some(run_id.to_string());
    }

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
            self.run_tag.as_deref(),
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
mod tests;
