//! Analytics over committed snapshots with Polars: `report` (one snapshot), `diff` (two
//! snapshots) and `reconcile` (the latest snapshot against an HRIS export).
//!
//! Only built with the `analytics` cargo feature (on by default): Polars takes long to
//! compile, and extract/load never use it. Everything here reads; nothing writes into the
//! output root.
//!
//! Every query is a lazy scan of exactly the files a committed manifest lists, projecting
//! only the columns it needs (`snapshot`). Hive partition inference is switched off: the
//! partition keys are known from the manifest, and Polars would otherwise try to parse the
//! `snapshot_date=` values. Each command computes a typed result (serialised as-is for
//! `--format json`) and turns it into a `render::Doc` for text, Markdown and HTML.

pub mod diff;
pub mod history;
pub mod people;
pub mod real_report;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod snapshot;
pub mod vocab;

use crate::error::{EtlError, FailureKind};
use std::io::Write;
use std::path::Path;

/// Output formats of the analytics commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
    Html,
}

/// A Polars failure while reading committed files: the snapshot is damaged or unreadable.
pub(crate) fn polars_err(what: &str) -> impl Fn(polars::error::PolarsError) -> EtlError + '_ {
    move |e| {
        EtlError::new(
            FailureKind::DataInvalid,
            format!("{what} failed: {e}. Check the snapshot with `drata-etl verify`"),
        )
    }
}

/// Write `text` to `output` (atomically) or to stdout.
pub fn emit(output: Option<&Path>, bytes: &[u8]) -> Result<(), EtlError> {
    match output {
        Some(path) => {
            let path =
                if path.is_relative() { std::env::current_dir().unwrap_or_default().join(path) } else { path.into() };
            crate::load::commit::write_atomically(&path, bytes)
                .map_err(|e| EtlError::cannot_write(format!("cannot write {}: {e}", path.display())))
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)
                .and_then(|_| out.flush())
                .map_err(|e| EtlError::new(FailureKind::CannotWrite, format!("cannot write to stdout: {e}")))
        }
    }
}

/// A count as a percentage of `of` (0 when `of` is 0), rounded to one decimal.
pub(crate) fn pct(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        (1000.0 * n as f64 / of as f64).round() / 10.0
    }
}
