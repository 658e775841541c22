//! `drata-etl run` as an operator sees it: the validated options, the progress display, the
//! pipeline, and the metrics file written however the run ended. `main` prints the summary
//! line; this module adds what wraps the pipeline and knows nothing of its stages.

use crate::cli::RunArgs;
use crate::config_file::Sources;
use crate::error::EtlError;
use crate::ops::metrics::{self, RunMetrics};
use crate::ops::progress::{Display, RunProgress};
use crate::pipeline::RunSummary;
use chrono::Utc;
use std::future::Future;

/// Run once with the `run` command's arguments. The metrics file (if asked for) is written
/// before this returns, for a failure too; failing to write it is logged, not fatal.
pub async fn run(
    args: &RunArgs,
    sources: &Sources,
    shutdown: impl Future<Output = crate::error::FailureKind>,
) -> Result<RunSummary, EtlError> {
    let clock = std::time::Instant::now();
    let progress = RunProgress::new(Display::for_mode(args.progress));
    let result = match crate::config::from_run_args_with(args, sources) {
        Ok(mut opts) => {
            opts.progress = progress.clone();
            crate::pipeline::run(opts, shutdown).await
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
