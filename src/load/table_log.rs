//! What a table format adds around a run's commit: before the run, whether the root can
//! take the run's snapshot in that format; after the manifest, the format's own log brought
//! up to date (`--table-format delta`: `load::delta::log`). Plain Parquet adds nothing.
//!
//! The logs live beside the data, wherever the output root is (`log_root::LogRoot`): a
//! local folder, or an object store, where the Delta log's commits are conditional creates.

use super::log_root::LogRoot;
use super::manifest::Manifest;
use super::table_format::{TableFormat, TableVersion};
use crate::error::EtlError;

/// A root's table-format logs as the run found them before listing anyone: where they are,
/// and the committed manifests of the run's scope.
pub struct Prepared {
    format: TableFormat,
    root: LogRoot,
    workspace: Option<String>,
    scope: Vec<Manifest>,
}

/// Before a run lists anyone: exit 64 when this root's Delta tables cannot take the
/// run's snapshot (partitioned for the other kind of run; see `delta::log::precheck`).
/// `manifests`: every committed snapshot of the root, all workspaces. `None` for plain
/// Parquet, which has no log.
pub async fn prepare(
    format: TableFormat,
    root: LogRoot,
    workspace: Option<&str>,
    manifests: Vec<Manifest>,
) -> Result<Option<Prepared>, EtlError> {
    if format != TableFormat::Delta {
        return Ok(None);
    }
    #[cfg(feature = "delta")]
    super::delta::log::precheck(&root, workspace, &manifests).await?;
    let scope = manifests.into_iter().filter(|m| m.workspace.as_deref() == workspace).collect();
    Ok(Some(Prepared { format, root, workspace: workspace.map(str::to_owned), scope }))
}

impl Prepared {
    pub fn format(&self) -> TableFormat {
        self.format
    }

    /// After the run's manifest is written: each table's log brought up to date with the
    /// scope's committed manifests. Those are the ones found before the run with `committed`
    /// in place of any of its id: the run holds its scope's lock throughout, so no other
    /// writer changed them (the store is not listed a second time).
    pub async fn publish(&self, committed: &Manifest, run_id: &str) -> Result<Vec<TableVersion>, EtlError> {
        let mut manifests: Vec<Manifest> =
            self.scope.iter().filter(|m| m.snapshot_id != committed.snapshot_id).cloned().collect();
        manifests.push(committed.clone());
        #[cfg(feature = "delta")]
        {
            return super::delta::log::sync(&self.root, self.workspace.as_deref(), &manifests, run_id).await;
        }
        #[allow(unreachable_code)]
        {
            // A build without `delta` refuses the format before any run (`TableFormat::supported`).
            let _ = (&self.root, &self.workspace, manifests, run_id);
            Ok(Vec::new())
        }
    }
}
