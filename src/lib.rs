//! drata-etl: snapshot a Drata workspace's personnel compliance data into Parquet.
//!
//! The binary (`src/main.rs`) is thin; every stage lives here so tests can drive it
//! in-process against the embedded simulator. Data flows one way:
//! `drata` (HTTP, dialects) -> `extract` (paging, enrichment) -> `load` (Parquet, commit),
//! wired by `pipeline`.

#[cfg(feature = "analytics")]
pub mod analyze;
pub mod cli;
pub mod config;
pub mod config_file;
pub mod deadline;
#[cfg(feature = "simulator")]
pub mod demo;
pub mod drata;
pub mod error;
pub mod extract;
pub mod load;
pub mod logging;
pub mod ops;
pub mod pipeline;
pub mod record;
pub mod signals;
#[cfg(feature = "simulator")]
pub mod sim;
#[cfg(feature = "simulator")]
pub mod sim_cli;
pub mod stats;
pub mod store;
