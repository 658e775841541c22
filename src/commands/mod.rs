//! The command layer: one file per subcommand, each turning its parsed arguments into an
//! `Outcome` (what to print, and the failure to report if any), so `main` is one flat
//! match. Commands own the terminal: the run's progress display and the metrics file live
//! here, beside `run`; the maintenance commands share `snapshots` (opening a root,
//! local or object store, and scanning its manifests).
//!
//! Nothing here knows a dialect's wire format or how Parquet is written: commands call the
//! run (`crate::run`), the client (`crate::drata`), the commit protocol and manifests
//! (`crate::load`), the stores (`crate::store`) and the analytics (`crate::analyze`).

use crate::error::EtlError;

#[cfg(feature = "analytics")]
pub mod analytics;
pub mod check;
pub mod config_show;
#[cfg(feature = "simulator")]
pub mod demo;
#[cfg(feature = "analytics")]
pub mod history;
pub mod list;
pub mod metrics;
pub mod prune;
pub mod run;
#[cfg(feature = "simulator")]
pub mod simulate;
pub mod snapshots;
pub mod verify;

/// What a command produced: text for stdout (printed first, even on failure) and the
/// failure, if any, that decides the exit code.
#[derive(Debug)]
pub struct Outcome {
    pub stdout: String,
    pub failure: Option<EtlError>,
    /// Whether a failure also gets the JSON summary line on stdout (the scheduler contract);
    /// `check` prints its own report instead.
    pub summary_line: bool,
}

impl Outcome {
    /// Success: print `stdout`, exit 0.
    pub fn done(stdout: impl Into<String>) -> Outcome {
        Outcome { stdout: stdout.into(), failure: None, summary_line: true }
    }

    /// Print `stdout` (a report of what was done), then fail with `problem` (maybe none).
    pub fn with_problem(stdout: impl Into<String>, problem: Option<EtlError>) -> Outcome {
        Outcome { stdout: stdout.into(), failure: problem, summary_line: true }
    }

    /// Print `stdout`, then fail with `e` without a summary line (the output is the report).
    pub fn failed_without_summary(stdout: impl Into<String>, e: EtlError) -> Outcome {
        Outcome { stdout: stdout.into(), failure: Some(e), summary_line: false }
    }
}
