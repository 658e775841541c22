//! Where snapshots go: a local folder (`--out DIR` or `file://…`) or an object store
//! (`s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`).
//!
//! The layout is the same on both. So is the rule readers follow: a snapshot is the set of
//! files its `_snapshots/[workspace=W/]<id>/_manifest.json` lists, and nothing else. On a
//! local folder the commit renames staged folders into place (`crate::load::commit`). A store
//! has no rename, so a run there stages and commits locally in a temporary work folder
//! (TMPDIR) as usual, then publishes (`publish`): upload under `_staging/` keys no reader
//! globs, write the commit intent, copy into the final keys server-side, and write the
//! manifest last with a conditional put. The lock is a lease object (`lock`). Reading
//! commands see a remote root through a local mirror of its manifests (`mirror`).

pub mod aws_profile;
pub mod lock;
pub mod mirror;
pub mod publish;
pub mod remote;
pub mod test_hook;

pub use remote::{Remote, StoreOptions};

use crate::deadline::RunDeadline;
use crate::error::EtlError;
use crate::load::layout::scope_name;
use crate::load::log_root::LogRoot;
use crate::load::{Manifest, OutputRoot, Recovery};
use std::path::{Path, PathBuf};

/// A parsed `--out`.
#[derive(Debug, Clone)]
pub enum Output {
    Local(PathBuf),
    Remote(Remote),
}

impl Output {
    /// A plain path, `file://`, or an object-store URL.
    pub fn parse(out: &Path, opts: &StoreOptions) -> Result<Output, EtlError> {
        let Some(text) = out.to_str().filter(|t| t.contains("://")) else {
            return Ok(Output::Local(out.to_path_buf()));
        };
        let url = url::Url::parse(text).map_err(|e| {
            EtlError::usage(format!("--out {text} is neither a folder nor a valid URL ({e}); use DIR, file:///DIR, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix"))
        })?;
        // abfs[s]://container@account.dfs.core.windows.net/path names the container where a
        // user would be; anything else there (or a password, or a query) would be a secret.
        let container_as_user = matches!(url.scheme(), "abfs" | "abfss") && url.password().is_none();
        if (!url.username().is_empty() && !container_as_user) || url.password().is_some() || url.query().is_some() {
            return Err(EtlError::usage(
                "--out must not carry credentials or query parameters; object-store credentials come from the environment (AWS_*, GOOGLE_*, AZURE_*) or the machine's role",
            ));
        }
        if url.scheme() == "file" {
            return url
                .to_file_path()
                .map(Output::Local)
                .map_err(|_| EtlError::usage(format!("--out {text}: not a local file URL")));
        }
        Remote::from_url(&url, opts).map(Output::Remote)
    }
}

/// The output a run writes to: the local root it stages and commits in, and for an object
/// store, the lease lock and the work folder it publishes from.
pub struct RunTarget {
    pub root: OutputRoot,
    remote: Option<RemoteRun>,
}

struct RemoteRun {
    remote: Remote,
    scope: String,
    lock: lock::LeaseLock,
    _work: tempfile::TempDir,
}

impl RunTarget {
    /// Lock the scope, clean up after a killed run, and (remote, incremental) bring the
    /// latest committed snapshot of the scope into the work folder for reuse; each stage
    /// under what is left of the run's `deadline`.
    pub async fn open(
        out: &Output,
        workspace: Option<&str>,
        run_id: &str,
        want_previous: bool,
        deadline: &RunDeadline,
    ) -> Result<RunTarget, EtlError> {
        let remote = match out {
            Output::Local(dir) => {
                let root = open_root(dir, workspace, deadline, "locking and recovering the output folder").await?;
                return Ok(RunTarget { root, remote: None });
            }
            Output::Remote(r) => r,
        };
        test_hook::output_is_a_store();
        let scope = scope_name(workspace);
        let lock = deadline.bound("taking the output lock", lock::LeaseLock::acquire(remote, &scope, run_id)).await?;
        let recovered =
            deadline.bound("recovering after an earlier run", publish::recover(remote, &scope, &lock)).await;
        let work = match recovered.and_then(|_| mirror::work_dir()) {
            Ok(w) => w,
            Err(e) => {
                lock.release().await;
                return Err(e);
            }
        };
        let prepared = async {
            if want_previous {
                deadline
                    .bound("downloading the previous snapshot", bring_latest(remote, workspace, work.path()))
                    .await?;
            }
            open_root(work.path(), workspace, deadline, "preparing the local work folder").await
        }
        .await;
        match prepared {
            Ok(root) => {
                Ok(RunTarget { root, remote: Some(RemoteRun { remote: remote.clone(), scope, lock, _work: work }) })
            }
            Err(e) => {
                lock.release().await;
                Err(e)
            }
        }
    }

    /// The local folder the run stages in (the output itself, or the work folder).
    pub fn local_root(&self) -> &Path {
        self.root.path()
    }

    /// Remote only: upload the locally committed snapshot into staging and write the intent.
    /// Cancelling this leaves nothing a reader takes for data.
    pub async fn upload(&self, m: &Manifest, deadline: &RunDeadline) -> Result<(), EtlError> {
        let Some(r) = &self.remote else { return Ok(()) };
        r.lock.confirm("nothing was uploaded or committed; retry later").await?;
        publish::upload(&r.remote, self.root.path(), &r.scope, m, &r.lock, deadline).await
    }

    /// Remote only: make the uploaded snapshot the committed one. Returns where the
    /// manifest is (a path or URL).
    pub async fn apply(&self, m: &Manifest) -> Result<String, EtlError> {
        let rel = crate::load::layout::manifest_rel(m.workspace.as_deref(), &m.snapshot_id);
        let Some(r) = &self.remote else { return Ok(self.root.path().join(rel).display().to_string()) };
        publish::apply(&r.remote, &publish::staging_rel(&r.scope, m), m, &r.lock).await?;
        Ok(r.remote.url_of(&rel.to_string_lossy()))
    }

    /// Where the table-format logs of the output are, and the manifest of every committed
    /// snapshot in it (all workspaces; a store's are read from the store, validated).
    pub async fn committed(&self) -> Result<(LogRoot, Vec<Manifest>), EtlError> {
        match &self.remote {
            None => {
                let root = self.root.path();
                Ok((LogRoot::folder(root), crate::load::catalogue::committed_manifests(root)?))
            }
            Some(r) => {
                let view = mirror::RootView::mirror_manifests(r.remote.clone()).await?;
                let catalogue = crate::load::Catalogue::trusted(view.path(), r.remote.url())?;
                Ok((r.remote.log_root(), catalogue.snapshots.into_iter().map(|s| s.manifest).collect()))
            }
        }
    }

    /// Release the lock (remote; a local lock goes with the process or this value). Bounded:
    /// a store too slow to answer leaves the lock to expire after its lease.
    pub async fn close(self) {
        if let Some(r) = self.remote {
            if tokio::time::timeout(RELEASE_GRACE, r.lock.release()).await.is_err() {
                tracing::warn!(
                    "the store did not confirm releasing the output lock in time; it expires after its lease"
                );
            }
        }
    }
}

/// How long releasing the lock may take once the run is over (it may already be past its
/// deadline, and an unreleased lease only delays the next run by one lease).
const RELEASE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// `OutputRoot::open` (lock and local recovery, blocking) under the deadline. Abandoned at
/// the deadline, the recovery goes on until the process exits: every step of it is
/// idempotent and safe to cut, as a killed run's would be.
async fn open_root(
    dir: &Path,
    workspace: Option<&str>,
    deadline: &RunDeadline,
    stage: &str,
) -> Result<OutputRoot, EtlError> {
    let (dir, ws) = (dir.to_path_buf(), workspace.map(str::to_owned));
    let opening = async move {
        tokio::task::spawn_blocking(move || OutputRoot::open(&dir, ws.as_deref()))
            .await
            .map_err(|e| EtlError::cannot_write(format!("opening the output failed: {e}")))?
    };
    deadline.bound(stage, opening).await
}

/// `check --out`: the output root can be listed and written, and (for a store) conditional
/// puts work, using a probe object under `_locks/` that is deleted again. Returns a detail
/// line for the report.
pub async fn probe(out: &Output) -> Result<String, EtlError> {
    match out {
        Output::Local(dir) => {
            let err = |what: &str, e: std::io::Error| {
                EtlError::cannot_write(format!(
                    "cannot {what} under {}: {e}. Create the folder, or give this user write access",
                    dir.display()
                ))
            };
            std::fs::create_dir_all(dir).map_err(|e| err("create the output folder", e))?;
            // Created exclusively under a random name (never through a planted symlink).
            let mut probe =
                tempfile::Builder::new().prefix(".drata-etl-check-").tempfile_in(dir).map_err(|e| err("write", e))?;
            std::io::Write::write_all(probe.as_file_mut(), b"probe").map_err(|e| err("write", e))?;
            probe.close().map_err(|e| err("delete a probe file", e))?;
            Ok(format!("{} is a writable folder", dir.display()))
        }
        Output::Remote(r) => {
            let snapshots = r.list(crate::load::commit::SNAPSHOTS_DIR).await?;
            let probe = format!("{}/.check-{}", crate::load::commit::LOCKS_DIR, std::process::id());
            let first = r.create(&probe, b"probe".to_vec()).await;
            let second = match &first {
                Ok(_) => r.create(&probe, b"probe".to_vec()).await,
                Err(_) => Ok(remote::Created::Yes),
            };
            r.delete(&probe).await?;
            first?;
            if second? != remote::Created::AlreadyExists {
                return Err(EtlError::cannot_write(format!(
                    "{} accepted a second conditional create of the same key: this store ignores If-None-Match, so the lock and the manifest's commit would not be safe. Use a store that supports conditional puts",
                    r.url()
                )));
            }
            let manifests = snapshots.iter().filter(|(k, _)| k.ends_with(crate::load::commit::MANIFEST_FILE)).count();
            Ok(format!(
                "{} can be listed and written, conditional puts work; {manifests} committed snapshot(s)",
                r.url()
            ))
        }
    }
}

/// Copy the latest committed snapshot of the scope (manifest and files) into `work`, so the
/// incremental logic finds it as on a local root.
async fn bring_latest(remote: &Remote, workspace: Option<&str>, work: &Path) -> Result<(), EtlError> {
    let view = mirror::RootView::mirror(remote.clone()).await?;
    // Validated (exit 65 on a hostile manifest) before anything it names is downloaded.
    let catalogue = crate::load::Catalogue::trusted(view.path(), remote.url())?;
    let Some(latest) = catalogue.latest(workspace).map(|s| &s.manifest) else { return Ok(()) };
    mirror::fetch_files(remote, work, &[latest]).await?;
    let rel = crate::load::layout::manifest_rel(workspace, &latest.snapshot_id);
    let local = work.join(&rel);
    std::fs::create_dir_all(local.parent().expect("manifest in a folder"))
        .and_then(|_| std::fs::write(&local, serde_json::to_vec_pretty(latest).expect("serialisable")))
        .map_err(|e| EtlError::cannot_write(format!("cannot write {}: {e}", local.display())))
}

/// Prune on a remote root: lock the scope as a run would, finish or discard what a killed
/// run left. Exit 75 (FailureKind::Temporary) when a run holds the lock.
pub async fn lock_for_maintenance(
    remote: &Remote,
    workspace: Option<&str>,
) -> Result<(lock::LeaseLock, Recovery), EtlError> {
    let scope = scope_name(workspace);
    let id = format!("prune-{}", std::process::id());
    let lock = lock::LeaseLock::acquire(remote, &scope, &id).await?;
    match publish::recover(remote, &scope, &lock).await {
        Ok(rec) => Ok((lock, rec)),
        Err(e) => {
            lock.release().await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FailureKind;

    fn parse(s: &str) -> Result<Output, EtlError> {
        Output::parse(Path::new(s), &StoreOptions::default())
    }

    #[test]
    fn out_is_a_folder_a_file_url_or_a_store_url() {
        assert!(matches!(parse("data/out"), Ok(Output::Local(p)) if p == Path::new("data/out")));
        assert!(matches!(parse("file:///srv/drata"), Ok(Output::Local(p)) if p == Path::new("/srv/drata")));
        match parse("s3://bucket/some/prefix/") {
            Ok(Output::Remote(r)) => {
                assert_eq!(r.url(), "s3://bucket/some/prefix");
                assert_eq!(
                    r.url_of("_snapshots/x/_manifest.json"),
                    "s3://bucket/some/prefix/_snapshots/x/_manifest.json"
                );
            }
            other => panic!("{other:?}"),
        }
        for bad in ["ftp://host/x", "s3://key:secret@bucket/x", "s3://bucket/x?token=abc", "s3:///nobucket"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.kind, FailureKind::Usage, "{bad}");
            assert!(!e.message.contains("secret") && !e.message.contains("abc"), "{bad}: {}", e.message);
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_local_probe_never_writes_through_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let planted = dir.path().join(format!(".drata-etl-check-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        probe(&Output::Local(dir.path().to_path_buf())).await.unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "only the victim and the planted link remain: {left:?}");
    }

    #[test]
    fn store_errors_map_to_exit_codes() {
        use object_store::Error as E;
        let src = || -> Box<dyn std::error::Error + Send + Sync> { "detail".into() };
        let kind = |e: E| remote::store_error("write", "s3://b/p", e).kind;
        assert_eq!(kind(E::NotFound { path: "p".into(), source: src() }), FailureKind::CannotWrite);
        assert_eq!(kind(E::PermissionDenied { path: "p".into(), source: src() }), FailureKind::CannotWrite);
        assert_eq!(kind(E::Unauthenticated { path: "p".into(), source: src() }), FailureKind::CannotWrite);
        assert_eq!(kind(E::Precondition { path: "p".into(), source: src() }), FailureKind::Temporary);
        assert_eq!(kind(E::Generic { store: "S3", source: src() }), FailureKind::Unavailable);
        // List and multipart failures arrive as Generic with the HTTP status in the text.
        let said = |t: &str| -> Box<dyn std::error::Error + Send + Sync> { t.to_string().into() };
        let listed = |t: &str| kind(E::Generic { store: "S3", source: said(t) });
        assert_eq!(
            listed("Server returned non-2xx status code: 404 Not Found: <Code>NoSuchBucket</Code>"),
            FailureKind::CannotWrite
        );
        assert_eq!(listed("Server returned non-2xx status code: 403 Forbidden: <?xml"), FailureKind::CannotWrite);
        assert_eq!(listed("Server returned non-2xx status code: 503 Service Unavailable"), FailureKind::Unavailable);
    }
}
