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

/// Before a run lists anyone: exit 64 when this root's Delta tables cannot take the
/// run's snapshot (partitioned for the other kind of run; see `delta::log::precheck`).
/// `manifests`: every committed snapshot of the root, all workspaces.
pub async fn prepare(
    format: TableFormat,
    root: &LogRoot,
    workspace: Option<&str>,
    manifests: &[Manifest],
) -> Result<(), EtlError> {
    if format != TableFormat::Delta {
        return Ok(());
    }
    #[cfg(feature = "delta")]
    super::delta::log::precheck(root, workspace, manifests).await?;
    let _ = (root, workspace, manifests);
    Ok(())
}

/// After the manifest is written: bring each table's format-specific log up to date
/// with the committed manifests (`None` for plain Parquet).
pub async fn publish(
    format: TableFormat,
    root: &LogRoot,
    workspace: Option<&str>,
    manifests: &[Manifest],
    run_id: &str,
) -> Result<Option<Vec<TableVersion>>, EtlError> {
    if format != TableFormat::Delta {
        return Ok(None);
    }
    #[cfg(feature = "delta")]
    {
        return super::delta::log::sync(root, workspace, manifests, run_id).await.map(Some);
    }
    #[allow(unreachable_code)]
    {
        let _ = (root, workspace, manifests, run_id);
        Ok(None)
    }
}
