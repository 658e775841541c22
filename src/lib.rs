//! drata-etl: snapshot a Drata workspace's personnel compliance data into Parquet.
//!
//! The binary (`src/main.rs`) is thin: it parses, starts logging and calls one command.
//! Everything else lives here, layered so arrows point one way (ARCHITECTURE.md draws it):
//!
//! - `cli`: arguments, environment and the `--config` TOML file (`cli::file`), resolved
//!   into complete run options (`cli::resolve`);
//! - `commands`: one file per subcommand; they own the terminal (progress, summary line);
//! - `run`: one run — preflight probe, extract, write, commit — bumping progress counters;
//! - `drata` (HTTP, retry, pacing, dialects) -> `extract` (paging, enrichment) -> `load`
//!   (Parquet, manifests, commit) -> `store` (object stores);
//! - `lineage`: OpenLineage run events (START, COMPLETE/FAIL) a run sends;
//! - `analyze` (Polars answers over committed snapshots), `sim` (the simulated API);
//! - leaves everyone may use: `error`, `record`, `stats`, `deadline`, `redact`, `signals`,
//!   `terminal`, `logging`.

#[cfg(feature = "analytics")]
pub mod analyze;
pub mod cli;
pub mod commands;
pub mod deadline;
pub mod drata;
pub mod error;
pub mod extract;
pub mod lineage;
pub mod load;
pub mod logging;
pub mod record;
pub mod redact;
pub mod run;
pub mod signals;
#[cfg(feature = "simulator")]
pub mod sim;
pub mod stats;
pub mod store;
pub mod terminal;
