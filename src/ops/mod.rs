//! Operating the job: what the people and schedulers that run `drata-etl` need around the
//! pipeline itself. The preflight (`check`, and the start of every `run`), progress on a
//! terminal, the Prometheus metrics file, the effective configuration (`config show`), and
//! the manifest-aware maintenance commands `verify`, `list` and `prune`.
//!
//! Nothing here knows a dialect's wire format or how Parquet is written: these modules use
//! the client (`crate::drata`), the commit protocol and manifests (`crate::load`), and the
//! run's summary (`crate::pipeline`).

pub mod config_show;
pub mod list;
pub mod metrics;
pub mod preflight;
pub mod progress;
pub mod prune;
pub mod run;
pub mod snapshots;
pub mod verify;
