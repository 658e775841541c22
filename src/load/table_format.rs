//! `--table-format`: what an output root is besides Hive-partitioned Parquet.
//!
//! `parquet` is the layout alone; `delta` adds a Delta Lake log (`OUT/<table>/_delta_log/`)
//! over the same files (`load::delta`). Known to every build, so a binary built without the
//! `delta` feature can say why it refuses the format instead of not knowing the word.

use crate::error::EtlError;
use std::path::Path;

/// One table's Delta log after a run brought it up to date (in the run's summary line).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableVersion {
    pub table: String,
    /// The log's version after the run (`None`: the table has no log, e.g. no snapshot
    /// of this scope ever had the table).
    pub version: Option<u64>,
    pub added: usize,
    pub removed: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableFormat {
    #[default]
    Parquet,
    Delta,
}

impl TableFormat {
    pub fn name(self) -> &'static str {
        match self {
            TableFormat::Parquet => "parquet",
            TableFormat::Delta => "delta",
        }
    }

    /// The format this build can write, or exit 64 saying how to get one that can.
    pub fn supported(self) -> Result<TableFormat, EtlError> {
        if self == TableFormat::Delta && !cfg!(feature = "delta") {
            return Err(EtlError::usage(
                "--table-format delta: this drata-etl was built without the `delta` cargo feature; \
                 use a default build (cargo build --release) or --table-format parquet",
            ));
        }
        Ok(self)
    }

    /// Before a run lists anyone: exit 64 when this root's Delta tables cannot take the
    /// run's snapshot (partitioned for the other kind of run; see `delta::log::precheck`).
    /// Object stores are refused earlier, with the other settings (`cli::resolve`).
    pub async fn prepare(self, root: &Path, workspace: Option<&str>) -> Result<(), EtlError> {
        if self != TableFormat::Delta {
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
        self,
        root: &Path,
        workspace: Option<&str>,
        run_id: &str,
    ) -> Result<Option<Vec<TableVersion>>, EtlError> {
        if self != TableFormat::Delta {
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
}
