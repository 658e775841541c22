//! `--table-format`: what an output root is besides Hive-partitioned Parquet.
//!
//! `parquet` is the layout alone; `delta` adds a Delta Lake log (`OUT/<table>/_delta_log/`)
//! over the same files (`load::delta`). Known to every build, so a binary built without the
//! `delta` feature can say why it refuses the format instead of not knowing the word.

use crate::error::EtlError;

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
}
