//! Panics end in one clear error, never in a hung build or a backtrace.
//!
//! In gateway mode a panic inside the build would unwind out of the
//! runtime while the blocking stdin reader keeps the process alive, so
//! BuildKit would wait forever. [`CatchPanic`] turns a panic in the build
//! future into an ordinary error that is returned through the gateway; the
//! hook installed by [`install_hook`] prints one line instead of Rust's
//! panic report.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Replaces Rust's panic report (thread name, source location, backtrace
/// hint) with one line naming the tool and asking for a bug report.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "modelpack-frontend: internal error{location}: {}; please report it with the build args that caused it",
            message(info.payload())
        );
    }));
}

/// The text of a panic payload.
pub fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// A future that resolves to `Err(message)` when polling the inner future
/// panics, instead of unwinding through the caller.
pub struct CatchPanic<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> CatchPanic<F> {
    /// Wraps `future`.
    pub fn new(future: F) -> Self {
        CatchPanic {
            inner: Box::pin(future),
        }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(message(payload.as_ref()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_future_becomes_an_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let out = rt.block_on(CatchPanic::new(async {
            let v: Vec<u8> = Vec::new();
            #[allow(clippy::useless_vec)]
            let i = v.len() + 3;
            v[i]
        }));
        let err = out.unwrap_err();
        assert!(err.contains("index out of bounds"), "{err}");
        let ok = rt.block_on(CatchPanic::new(async { 7 }));
        assert_eq!(ok, Ok(7));
    }
}
