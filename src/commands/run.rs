//! `drata-etl run` as an operator sees it: the validated options, the run, its progress on
//! the terminal (this command owns the terminal; the run only bumps counters), the metrics
//! file written however the run ended, and the summary line.

use super::metrics::{self, RunMetrics};
use super::Outcome;
use crate::cli::file::Sources;
use crate::cli::RunArgs;
use crate::error::{EtlError, FailureKind};
use crate::run::progress::RunProgress;
use crate::run::RunSummary;
use crate::terminal::{Display, View, TICK};
use chrono::Utc;
use std::future::Future;

/// Run once with the `run` command's arguments; the outcome's stdout is the summary line.
pub async fn run(
    args: &RunArgs,
    sources: &Sources,
    shutdown: impl Future<Output = FailureKind>,
) -> Result<Outcome, EtlError> {
    let summary = run_with_metrics(args, sources, shutdown).await?;
    Ok(Outcome::done(format!("{}\n", serde_json::to_string(&summary).expect("summary serialises"))))
}

/// The run, with the progress display drawn beside it. The metrics file (if asked for) is
/// written before this returns, for a failure too; failing to write it is logged, not fatal.
async fn run_with_metrics(
    args: &RunArgs,
    sources: &Sources,
    shutdown: impl Future<Output = FailureKind>,
) -> Result<RunSummary, EtlError> {
    let clock = std::time::Instant::now();
    let progress = RunProgress::new();
    let result = match crate::cli::resolve::from_run_args(args, sources) {
        Ok(opts) => {
            let run = crate::run::run(opts, &progress, shutdown);
            with_display(&progress, Display::for_mode(args.progress), run).await
        }
        Err(e) => Err(e),
    };
    if let Some(path) = &args.metrics_file {
        let snapshot = progress.snapshot();
        let m = RunMetrics {
            workspace: args.workspace.as_deref(),
            exit_code: result.as_ref().map_or_else(|e| e.kind.exit_code(), |_| 0),
            finished_at: Utc::now(),
            duration: clock.elapsed(),
            summary: result.as_ref().ok(),
            progress: &snapshot,
        };
        match metrics::write(path, &m) {
            Ok(()) => tracing::debug!(path = %path.display(), "metrics written"),
            Err(e) => tracing::error!("{}", e.message),
        }
    }
    result
}

/// Drive `work` while redrawing the display from `progress` every tick; the last frame is
/// drawn (and a bar cleared) when the work ends, however it ends.
async fn with_display<T>(progress: &RunProgress, display: Display, work: impl Future<Output = T>) -> T {
    let mut view = View::new(display);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(work);
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            _ = tick.tick() => view.update(&progress.snapshot()),
        }
    };
    view.finish(&progress.snapshot());
    out
}
