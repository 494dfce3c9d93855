//! Progress callbacks for blob transfers; no terminal code here.

use crate::digest::Digest;

/// How a blob transfer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The registry (or local layout) already had it.
    Skipped,
    /// Mounted from another repository; nothing sent.
    Mounted,
    /// Uploaded.
    Uploaded,
    /// Downloaded.
    Downloaded,
}

/// Receives transfer events. Called from several threads at once.
pub trait Progress: Send + Sync {
    /// A blob transfer starts.
    fn started(&self, _digest: &Digest, _size: u64) {}
    /// `bytes` more were sent or received.
    fn advanced(&self, _digest: &Digest, _bytes: u64) {}
    /// The transfer restarts at `offset` after a failure.
    fn resumed(&self, _digest: &Digest, _offset: u64) {}
    /// The blob is done.
    fn done(&self, _digest: &Digest, _outcome: BlobOutcome) {}
}
