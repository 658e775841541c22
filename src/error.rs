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

/// An error that knows its exit code. Its message says what happened and what to do;
/// callers decide on `kind` and `status`, never on the message text.
#[derive(Debug, Clone)]
pub struct EtlError {
    pub kind: FailureKind,
    pub message: String,
    /// The HTTP status the API answered, when the failure is an answer (not a transport
    /// error or a local problem): 401 and 403 need different advice.
    pub status: Option<u16>,
}

impl EtlError {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        EtlError { kind, message: message.into(), status: None }
    }
    /// The same error, recording the HTTP status that caused it.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
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
