//! What a table format adds around a run's commit: before the run, whether the root can
//! take the run's snapshot in that format; after the manifest, the format's own log brought
//! up to date (`--table-format delta`: `load::delta::log`). Plain Parquet adds nothing.

use super::table_format::{TableFormat, TableVersion};
use crate::error::EtlError;
use std::path::Path;

/// Before a run lists anyone: exit 64 when this root's Delta tables cannot take the
/// run's snapshot (partitioned for the other kind of run; see `delta::log::precheck`).
/// Object stores are refused earlier, with the other settings (`cli::resolve`).
pub async fn prepare(format: TableFormat, root: &Path, workspace: Option<&str>) -> Result<(), EtlError> {
    if format != TableFormat::Delta {
        return Ok(());
    }
    #[cfg(feature = "delta")]
    {
        let manifests = super::catalogue::committed_manifests(root)?;
        super::delta::log::precheck(root, workspace, &manifests).await?;
    }
    let _ = (root, workspace);
    Ok(())
}

/// After the manifest is written: bring each table's format-specific log up to date
/// with the committed manifests (`None` for plain Parquet).
pub async fn publish(
    format: TableFormat,
    root: &Path,
    workspace: Option<&str>,
    run_id: &str,
) -> Result<Option<Vec<TableVersion>>, EtlError> {
    if format != TableFormat::Delta {
        return Ok(None);
    }
    #[cfg(feature = "delta")]
    {
        let manifests = super::catalogue::committed_manifests(root)?;
        return super::delta::log::sync(root, workspace, &manifests, run_id).await.map(Some);
    }
    #[allow(unreachable_code)]
    {
        let _ = (root, workspace, run_id);
        Ok(None)
    }
}
