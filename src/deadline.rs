//! `--deadline` for the whole run, not only its API requests: the one instant every stage
//! after the API work (lock, recovery, previous-snapshot download, writing, upload, commit)
//! runs under, and the 75 a run gets when that instant passes.
//!
//! Async stages are wrapped in `bound` (a `timeout_at`, so a stalled store or disk cannot
//! hold the run past the deadline); blocking loops (the Parquet writer thread) call `check`
//! between steps, so they overrun by at most one step. Knows nothing of what the stages do.

use crate::error::{EtlError, FailureKind};
use std::future::Future;
use tokio::time::Instant;

/// What a deadline failure before the point of no return leaves behind.
pub const NOTHING_COMMITTED: &str = "nothing was committed (the next run discards what this one staged)";
/// What a deadline failure after the commit intent leaves behind.
pub const ROLLS_FORWARD: &str =
    "the commit had passed its point of no return (the intent is written): the next run (or prune) completes it";

/// The instant the run must be done by, if `--deadline` was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunDeadline(Option<Instant>);

impl RunDeadline {
    pub fn new(at: Option<Instant>) -> Self {
        RunDeadline(at)
    }

    /// No deadline (`--deadline` not set).
    pub fn none() -> Self {
        RunDeadline(None)
    }

    pub fn passed(&self) -> bool {
        self.0.is_some_and(|at| Instant::now() >= at)
    }

    /// The 75 for a deadline that passed during `stage` (a phrase like "uploading the snapshot").
    pub fn error(stage: &str, aftermath: &str) -> EtlError {
        EtlError::new(
            FailureKind::Temporary,
            format!(
                "the run deadline (--deadline) passed while {stage}; {aftermath}. Retry later, or allow a longer --deadline"
            ),
        )
    }

    /// Fail with 75 if the deadline has passed (blocking code calls this between steps).
    pub fn check(&self, stage: &str) -> Result<(), EtlError> {
        if self.passed() {
            return Err(Self::error(stage, NOTHING_COMMITTED));
        }
        Ok(())
    }

    /// Run `f` under the remaining time; past the deadline it is dropped and the run gets 75.
    pub async fn bound<T>(&self, stage: &str, f: impl Future<Output = Result<T, EtlError>>) -> Result<T, EtlError> {
        self.bound_with(stage, NOTHING_COMMITTED, f).await
    }

    /// `bound`, saying `aftermath` (e.g. `ROLLS_FORWARD`) when the time runs out.
    pub async fn bound_with<T>(
        &self,
        stage: &str,
        aftermath: &str,
        f: impl Future<Output = Result<T, EtlError>>,
    ) -> Result<T, EtlError> {
        let Some(at) = self.0 else { return f.await };
        if Instant::now() >= at {
            return Err(Self::error(stage, aftermath));
        }
        tokio::time::timeout_at(at, f).await.unwrap_or_else(|_| Err(Self::error(stage, aftermath)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_stalled_stage_ends_at_the_deadline_with_75_naming_it() {
        let d = RunDeadline::new(Some(Instant::now() + Duration::from_secs(5)));
        let started = Instant::now();
        let stalled = d.bound("uploading the snapshot", std::future::pending::<Result<(), EtlError>>()).await;
        let e = stalled.unwrap_err();
        assert_eq!(e.kind, FailureKind::Temporary);
        assert!(
            e.message.contains("while uploading the snapshot") && e.message.contains("--deadline"),
            "{}",
            e.message
        );
        assert_eq!(Instant::now() - started, Duration::from_secs(5), "dropped exactly at the deadline");
        assert!(d.passed() && d.check("writing").is_err());
        // Past it, a stage does not even start.
        let started: Result<(), _> = d.bound("applying", async { panic!("must not run") }).await;
        assert!(started.unwrap_err().message.contains("while applying"));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_deadline_or_within_it_the_stage_runs() {
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, EtlError>(7)
        };
        assert_eq!(RunDeadline::none().bound("x", slow()).await.unwrap(), 7);
        let d = RunDeadline::new(Some(Instant::now() + Duration::from_secs(7200)));
        assert_eq!(d.bound("x", slow()).await.unwrap(), 7);
        assert!(d.check("x").is_ok());
    }
}
