//! Shutdown signals: SIGINT means "interrupted by a person" (exit 130), SIGTERM means
//! "the scheduler stopped us; try again later" (exit 75).

use crate::error::FailureKind;

pub async fn shutdown_signal() -> FailureKind {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => FailureKind::Interrupted,
            _ = term.recv() => FailureKind::Temporary,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        FailureKind::Interrupted
    }
}
