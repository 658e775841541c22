//! Typed errors at stage boundaries and the one mapping from an error to an exit code.
//!
//! Exit codes follow sysexits so a scheduler can tell "retry later" from "fix something":
//! 0 ok, 64 usage/config, 65 data failed validation, 69 API unavailable after retries,
//! 73 cannot write output, 75 temporary (rate limit, deadline, interrupted, busy),
//! 77 auth/permission/wrong host, 130 interrupted by SIGINT; 70 for an internal bug.

use std::fmt;

/// Why a run failed, at the granularity a scheduler needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Usage,
    DataInvalid,
    Unavailable,
    CannotWrite,
    Temporary,
    Auth,
    Interrupted,
}

impl FailureKind {
    pub fn exit_code(self) -> i32 {
        match self {
            FailureKind::Usage => 64,
            FailureKind::DataInvalid => 65,
            FailureKind::Unavailable => 69,
            FailureKind::CannotWrite => 73,
            FailureKind::Temporary => 75,
            FailureKind::Auth => 77,
            FailureKind::Interrupted => 130,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Usage => "usage",
            FailureKind::DataInvalid => "data_invalid",
            FailureKind::Unavailable => "unavailable",
            FailureKind::CannotWrite => "cannot_write",
            FailureKind::Temporary => "temporary",
            FailureKind::Auth => "auth",
            FailureKind::Interrupted => "interrupted",
        }
    }
}

/// An error that knows its exit code. Its message says what happened and what to do.
#[derive(Debug)]
pub struct EtlError {
    pub kind: FailureKind,
    pub message: String,
}

impl EtlError {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        EtlError { kind, message: message.into() }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Usage, message)
    }
    pub fn cannot_write(message: impl Into<String>) -> Self {
        Self::new(FailureKind::CannotWrite, message)
    }
}

impl fmt::Display for EtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EtlError {}

/// Exit code of an error that no stage classified: an internal bug (sysexits EX_SOFTWARE).
pub const EXIT_INTERNAL: i32 = 70;

/// Map any error chain to its exit code: the first `EtlError` in the chain decides.
pub fn exit_code_for(err: &anyhow::Error) -> i32 {
    failure_kind_of(err).map(FailureKind::exit_code).unwrap_or(EXIT_INTERNAL)
}

pub fn failure_kind_of(err: &anyhow::Error) -> Option<FailureKind> {
    err.chain().find_map(|e| e.downcast_ref::<EtlError>()).map(|e| e.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn exit_code_found_through_context() {
        let err: anyhow::Result<()> = Err(EtlError::new(FailureKind::Auth, "bad key")).context("listing personnel");
        assert_eq!(exit_code_for(&err.unwrap_err()), 77);
        assert_eq!(exit_code_for(&anyhow::anyhow!("other")), 70);
    }
}
