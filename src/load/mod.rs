//! Load: canonical records -> Arrow batches -> Parquet files -> an atomically committed
//! snapshot with a manifest; and the catalogue (`catalogue`), the one place that decides
//! which committed snapshots exist and which is the latest.
//!
//! Nothing here knows HTTP or any API dialect's wire format; it sees `crate::record` only.

pub mod batch;
pub mod catalogue;
pub mod commit;
#[cfg(feature = "delta")]
pub mod delta;
pub mod layout;
pub mod log_root;
pub mod manifest;
pub mod org;
pub mod previous;
pub mod table_format;
pub mod table_log;
pub mod verify;
pub mod writer;

pub use batch::TableRow;
pub use catalogue::{Catalogue, Snapshot};
pub use commit::{OutputRoot, Recovery, Staging};
pub use layout::{SnapshotKey, Table};
pub use manifest::{FileEntry, Manifest};
pub use table_format::TableFormat;
pub use writer::{TableWriter, WriterOptions};
