//! Concurrent, verified downloads for `pack`: each file goes through the
//! in-build downloader ([`modelpack_hub::download::get_as`]: retries, stall bound,
//! `Retry-After`, redirects by hand, sha256 / git blob id checks), at most
//! `connections` at once, with a progress bar per file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oci_registry::{BlobOutcome, Digest, Progress};

use super::super::progress::Bars;
use modelpack_hub::download::{self as hf_get, Expect, GetError};

/// One file to download.
pub struct Job {
    /// Where from (the token, if any, goes only to this URL's origin).
    pub url: String,
    /// Where to (parent folders are created).
    pub dest: PathBuf,
    /// What the bytes must hash to.
    pub expect: Expect,
    /// The size the source lists, for the progress bar (0 when unknown).
    pub size: u64,
    /// The file's path in the model, for progress and errors.
    pub label: String,
}

/// How often a running download's file size is read for its bar.
const POLL: Duration = Duration::from_millis(150);

/// Downloads every job, `connections` at once; after the first failure no
/// new download starts. Returns the first failure with its job's index.
pub fn fetch_all(
    jobs: &[Job],
    connections: usize,
    token: Option<&str>,
) -> Result<(), (usize, GetError)> {
    let keys: Vec<Digest> = jobs
        .iter()
        .map(|j| Digest::sha256_of(j.dest.to_string_lossy().as_bytes()))
        .collect();
    let labels: HashMap<String, String> = keys
        .iter()
        .zip(jobs)
        .map(|(k, j)| (k.to_string(), j.label.clone()))
        .collect();
    let bars = Bars::for_files(labels);
    let result = modelpack::workers::run_until_failure(jobs.len(), connections, |i| {
        fetch_one(&jobs[i], &keys[i], &bars, token)
    });
    bars.finish();
    result
}

/// One download, its bar fed from the size of the file being written.
fn fetch_one(
    job: &Job,
    key: &Digest,
    bars: &Arc<Bars>,
    token: Option<&str>,
) -> Result<(), GetError> {
    if let Some(dir) = job.dest.parent() {
        std::fs::create_dir_all(dir).map_err(|e| GetError {
            code: hf_get::exit::SERVER,
            message: format!("creating {}: {e}", dir.display()),
        })?;
    }
    bars.started(key, job.size);
    let result = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        s.spawn(move || {
            let _ = tx.send(hf_get::get_as(&job.url, &job.dest, &job.expect, token));
        });
        let mut seen = 0u64;
        loop {
            match rx.recv_timeout(POLL) {
                Ok(result) => break result,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    break Err(GetError {
                        code: hf_get::exit::SERVER,
                        message: format!(
                            "downloading {}: the download thread stopped unexpectedly",
                            job.label
                        ),
                    })
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let now = std::fs::metadata(&job.dest).map(|m| m.len()).unwrap_or(0);
                    if now > seen {
                        bars.advanced(key, now - seen);
                    } else if now < seen {
                        // A retry starts the file again.
                        bars.resumed(key, now);
                    }
                    seen = now;
                }
            }
        }
    });
    if result.is_ok() {
        bars.done(key, BlobOutcome::Downloaded);
    }
    result
}
