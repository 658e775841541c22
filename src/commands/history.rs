//! The `history` subcommands: the window in, one answer rendered out (stdout or `--output`),
//! and optionally one of its tables as Parquet (`--output-parquet`). Snapshots are found
//! (and, for an object store, fetched) on the async runtime; the Polars work runs off it,
//! as for `report`.

use super::analytics::off_runtime;
use super::Outcome;
use crate::analyze::history::{self, frame_csv, frame_parquet, parse_bound, Answer, Window};
use crate::analyze::snapshot::Snapshots;
use crate::analyze::{emit, render};
use crate::cli::{HistoryArgs, HistoryCommand, HistoryFormat};
use crate::error::EtlError;
use crate::store::mirror::RootView;

pub async fn history(cmd: &HistoryCommand) -> Result<Outcome, EtlError> {
    let a = match cmd {
        HistoryCommand::Streaks { common, .. }
        | HistoryCommand::Trend { common }
        | HistoryCommand::AuditSample { common }
        | HistoryCommand::Offboarding { common, .. }
        | HistoryCommand::TrainingDue { common, .. } => common,
    };
    // Bad dates first: they need no snapshot to be wrong.
    let from = a.from.as_deref().map(|s| parse_bound("--from", s)).transpose()?;
    let to = a.to.as_deref().map(|s| parse_bound("--to", s)).transpose()?;
    let workspace = super::snapshots::workspace_arg(a.root.workspace.as_deref())?;
    let view = RootView::open(a.root.out.as_deref(), &a.root.store_options()).await?;
    let snaps = Snapshots::open(view.path(), workspace.as_deref(), view.label())?;
    let window = Window::select(&snaps, from.as_ref(), to.as_ref())?;
    view.fetch(&window.selected).await?;
    off_runtime(|| {
        let answer = match cmd {
            HistoryCommand::Streaks { days, .. } => history::streaks::streaks(&window, *days)?,
            HistoryCommand::Trend { .. } => history::trend::trend(&window)?,
            HistoryCommand::AuditSample { .. } => history::audit::audit_sample(&window)?,
            HistoryCommand::Offboarding { max_lag, .. } => history::offboarding::offboarding(&window, *max_lag)?,
            HistoryCommand::TrainingDue { within, training_valid_for, .. } => {
                history::training_due::training_due(&window, *within, *training_valid_for)?
            }
        };
        write(a, &answer)
    })?;
    Ok(Outcome::done(String::new()))
}

fn write(a: &HistoryArgs, answer: &Answer) -> Result<(), EtlError> {
    // Check --table before writing anything.
    let table = answer.table(a.table.as_deref())?;
    let bytes = match a.format {
        HistoryFormat::Json => {
            let mut s = serde_json::to_string_pretty(&answer.to_json()?).expect("JSON values serialise");
            s.push('\n');
            s.into_bytes()
        }
        HistoryFormat::Csv => frame_csv(&table.frame)?,
        HistoryFormat::Text => render::text(&answer.to_doc(a.limit)?).into_bytes(),
        HistoryFormat::Markdown => render::markdown(&answer.to_doc(a.limit)?).into_bytes(),
        HistoryFormat::Html => render::html(&answer.to_doc(a.limit)?).into_bytes(),
    };
    if let Some(p) = &a.output_parquet {
        emit(Some(p), &frame_parquet(&table.frame)?)?;
    }
    emit(a.output.as_deref(), &bytes)
}
