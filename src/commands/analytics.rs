//! The `report`, `diff` and `reconcile` subcommands: arguments in, one rendered document out
//! (stdout or `--output FILE`). Finding and fetching the snapshots (maybe from an object
//! store) runs on the async runtime; the Polars work runs on a plain thread outside it,
//! because Polars runs its own thread pools and may block on its own runtime.

use super::Outcome;
use crate::analyze::reconcile::{read_hris, Key};
use crate::analyze::render;
use crate::analyze::snapshot::Snapshots;
use crate::analyze::{emit, Format};
use crate::cli::{AnalyticsFormat, DiffArgs, DiffFormat, ReconcileArgs, ReconcileKey, ReportArgs, RootArgs};
use crate::error::EtlError;
use crate::store::mirror::RootView;
use serde::Serialize;
use std::path::PathBuf;

/// The snapshots under `--out`; for an object store, a local mirror of its manifests (the
/// view must outlive the snapshots read through it; `fetch` brings the data files).
async fn open(root: &RootArgs) -> Result<(RootView, Snapshots), EtlError> {
    let workspace = super::snapshots::workspace_arg(root.workspace.as_deref())?;
    let view = RootView::open(root.out.as_deref(), &root.store_options()).await?;
    let snaps = Snapshots::open(view.path(), workspace.as_deref(), view.label())?;
    Ok((view, snaps))
}

fn format_of(f: AnalyticsFormat) -> Format {
    match f {
        AnalyticsFormat::Text => Format::Text,
        AnalyticsFormat::Markdown => Format::Markdown,
        AnalyticsFormat::Json => Format::Json,
        AnalyticsFormat::Html => Format::Html,
    }
}

fn render_as<T: Serialize>(format: Format, value: &T, doc: impl FnOnce() -> render::Doc) -> Vec<u8> {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(value).expect("results serialise");
            s.push('\n');
            s.into_bytes()
        }
        Format::Text => render::text(&doc()).into_bytes(),
        Format::Markdown => render::markdown(&doc()).into_bytes(),
        Format::Html => render::html(&doc()).into_bytes(),
    }
}

/// Run `f` on a plain OS thread (no async runtime context) and wait for it.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
}

pub async fn report(a: &ReportArgs) -> Result<Outcome, EtlError> {
    report_to_output(a).await.map(|()| Outcome::done(String::new()))
}

/// Writes the document itself (stdout or `--output`).
async fn report_to_output(a: &ReportArgs) -> Result<(), EtlError> {
    let (view, snaps) = open(&a.root).await?;
    view.fetch(&[snaps.get(&a.snapshot)?]).await?;
    off_runtime(|| {
        let r = crate::analyze::report::report(
            &snaps,
            &a.snapshot,
            &crate::analyze::report::ReportOptions { limit: a.limit },
        )?;
        emit(a.output.as_deref(), &render_as(format_of(a.format), &r, || r.to_doc()))
    })
}

pub async fn diff(a: &DiffArgs) -> Result<Outcome, EtlError> {
    diff_to_output(a).await.map(|()| Outcome::done(String::new()))
}

/// Writes the document itself (stdout or `--output`).
async fn diff_to_output(a: &DiffArgs) -> Result<(), EtlError> {
    let (view, snaps) = open(&a.root).await?;
    let (from, to) = snaps.pair(a.from.as_deref(), a.to.as_deref())?;
    view.fetch(&[from, to]).await?;
    off_runtime(|| diff_fetched(a, &snaps))
}

fn diff_fetched(a: &DiffArgs, snaps: &Snapshots) -> Result<(), EtlError> {
    let format = match a.format {
        DiffFormat::Parquet => None,
        DiffFormat::Text => Some(Format::Text),
        DiffFormat::Markdown => Some(Format::Markdown),
        DiffFormat::Json => Some(Format::Json),
        DiffFormat::Html => Some(Format::Html),
    };
    match format {
        None => {
            let output: PathBuf = a.output.clone().ok_or_else(|| {
                EtlError::usage("--format parquet writes a file: pass --output FILE.parquet (stdout stays text)")
            })?;
            // The warehouse table holds every change: no limit.
            let d = crate::analyze::diff::diff(snaps, a.from.as_deref(), a.to.as_deref(), 0)?;
            emit(Some(&output), &d.to_parquet()?)
        }
        Some(f) => {
            let d = crate::analyze::diff::diff(snaps, a.from.as_deref(), a.to.as_deref(), a.limit)?;
            emit(a.output.as_deref(), &render_as(f, &d, || d.to_doc()))
        }
    }
}

pub async fn reconcile(a: &ReconcileArgs) -> Result<Outcome, EtlError> {
    reconcile_to_output(a).await.map(|()| Outcome::done(String::new()))
}

/// Writes the document itself (stdout or `--output`).
async fn reconcile_to_output(a: &ReconcileArgs) -> Result<(), EtlError> {
    let key = match a.key {
        ReconcileKey::ExternalId => Key::ExternalId,
        ReconcileKey::Email => Key::Email,
    };
    // The HRIS file first: a bad export is reported even before there is a snapshot.
    let hris = read_hris(&a.hris, key)?;
    let (view, snaps) = open(&a.root).await?;
    view.fetch(&[snaps.get(&a.snapshot)?]).await?;
    off_runtime(|| {
        let r = crate::analyze::reconcile::reconcile(&snaps, &a.snapshot, &a.hris, &hris, key, a.limit)?;
        emit(a.output.as_deref(), &render_as(format_of(a.format), &r, || r.to_doc()))
    })
}
