//! The crate's error type: one line that says what failed and what to do.

use std::fmt;

/// What kind of failure an [`Error`] is, for callers that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A reference, digest or option could not be parsed.
    Invalid,
    /// The registry rejected our credentials, or needs some.
    Auth,
    /// The registry denied the operation (`DENIED`, 403).
    Denied,
    /// The manifest, blob or repository does not exist.
    NotFound,
    /// Any other error status from the registry.
    Registry,
    /// Connection, TLS or timeout failure after retries.
    Transport,
    /// Content does not hash to its digest.
    DigestMismatch,
    /// Local file or layout problem.
    Io,
}

/// A failure, with a one-line message naming the registry, repository or
/// file involved and, where there is one, the fix.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Invalid, message)
    }

    pub(crate) fn io(what: impl fmt::Display, err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, format!("{what}: {err}"))
    }

    /// Prefixes the message with context, keeping the kind.
    pub(crate) fn context(self, what: impl fmt::Display) -> Self {
        Error {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
