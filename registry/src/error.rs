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

/// What the caller can do about an [`Error`], kept apart from the message
/// so that each front end names the fix in its own words (a command-line
/// flag, a config field). [`Error`]'s `Display` uses [`Fix::describe`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fix {
    /// The registry's certificate is not trusted: give its CA certificate.
    CaFile,
    /// The registry answered TLS with something else: it may speak plain HTTP.
    PlainHttp,
    /// The registry needs credentials for `host` and none were given.
    Credentials {
        /// The registry host, as `docker login` takes it.
        host: String,
    },
}

impl Fix {
    /// The fix in the library's own words.
    pub fn describe(&self) -> String {
        match self {
            Fix::CaFile => {
                "if the registry uses a private CA, pass its certificate as the CA file".into()
            }
            Fix::PlainHttp => "is it a plain-HTTP registry? then use plain HTTP".into(),
            Fix::Credentials { host } => {
                format!("log in with `docker login {host}` or pass credentials")
            }
        }
    }
}

/// A failure, with a one-line message naming the registry, repository or
/// file involved and, where there is one, the fix.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    fix: Option<Fix>,
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            fix: None,
        }
    }

    /// The same error with `fix` as what the caller can do about it.
    pub fn with_fix(mut self, fix: Fix) -> Self {
        self.fix = Some(fix);
        self
    }

    /// What the caller can do about it, if the library knows.
    pub fn fix(&self) -> Option<&Fix> {
        self.fix.as_ref()
    }

    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The one-line message, without the [`Fix`].
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
            fix: self.fix,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match &self.fix {
            Some(fix) => write!(f, "; {}", fix.describe()),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fix_follows_the_message_and_survives_context() {
        let e = Error::new(ErrorKind::Auth, "registry r needs credentials")
            .with_fix(Fix::Credentials { host: "r".into() });
        let e = e.context("push of r/m:v1");
        assert_eq!(e.message(), "push of r/m:v1: registry r needs credentials");
        assert_eq!(
            e.to_string(),
            "push of r/m:v1: registry r needs credentials; log in with `docker login r` or pass credentials"
        );
        assert_eq!(e.kind(), ErrorKind::Auth);
        let plain = Error::new(ErrorKind::NotFound, "no such blob");
        assert_eq!(plain.fix(), None);
        assert_eq!(plain.to_string(), "no such blob");
    }
}
