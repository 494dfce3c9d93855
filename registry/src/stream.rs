//! Streaming blob upload: a [`BlobWriter`] takes a blob's bytes as they are
//! produced (a download on its way in, a tar layer being written) and
//! sends them to the registry in PATCH chunks, holding at most one chunk in
//! memory. The digest need not be known in advance: it is computed while
//! streaming and given with the final PUT.
//!
//! A failed chunk is sent again from memory, from the offset the registry
//! reports (`GET` on the upload session), after a backoff that honours
//! `Retry-After`. Bytes that already left memory cannot be sent again, so
//! a session the registry dropped fails the blob (the caller starts it
//! over, e.g. downloads the file again). A registry refusing chunked
//! uploads cannot take a stream in bounded memory: that is an error naming
//! the way out (`pack`, then `push` of the layout).

use std::io::{self, Write};

use ureq::http::Method;

use crate::auth::repo_scope;
use crate::client::{add_query, enc, header, next_offset, resolve, Body, Client, Failure, Req};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, ErrorKind, Result};
use crate::progress::BlobOutcome;
use crate::reference::Reference;

/// What a finished [`BlobWriter`] uploaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Streamed {
    /// The blob's digest, computed while streaming.
    pub digest: Digest,
    /// The blob's size.
    pub size: u64,
    /// Body bytes sent, resent chunks included.
    pub bytes_sent: u64,
}

/// A blob upload fed through [`Write`]; see the module documentation.
/// Call [`BlobWriter::finish`] to commit it; dropping it abandons the
/// session (the registry expires it).
pub struct BlobWriter<'c> {
    client: &'c Client,
    repo: Reference,
    key: Digest,
    location: String,
    chunk: usize,
    buf: Vec<u8>,
    /// Bytes the registry holds.
    offset: u64,
    hasher: Hasher,
    /// The digest the caller vouches for ([`Client::blob_writer_for`]):
    /// the bytes are not hashed again.
    known: Option<Digest>,
    size: u64,
    sent: u64,
    /// The registry error behind a failed `write`, for [`BlobWriter::finish`].
    failed: Option<Error>,
}

impl Client {
    /// Opens an upload session in `repo` for a blob whose bytes are then
    /// written to the returned [`BlobWriter`], sent in chunks of `chunk`
    /// bytes (raised to the registry's `OCI-Chunk-Min-Length`). `key`
    /// names the transfer in progress events (the digest when known, any
    /// stable digest otherwise).
    pub fn blob_writer(
        &self,
        repo: &Reference,
        key: &Digest,
        chunk: usize,
    ) -> Result<BlobWriter<'_>> {
        let session = self.start_upload(repo)?;
        let chunk = chunk.max(1).max(session.min_chunk as usize);
        Ok(BlobWriter {
            client: self,
            repo: repo.clone(),
            key: key.clone(),
            location: session.location,
            chunk,
            buf: Vec::with_capacity(chunk),
            offset: 0,
            hasher: Digest::sha256_of(b"").hasher(),
            known: None,
            size: 0,
            sent: 0,
            failed: None,
        })
    }

    /// [`Client::blob_writer`] for a blob whose digest is known and whose
    /// bytes the caller checks against it as they are read (a Hub LFS
    /// file's listed sha256): they are not hashed a second time here. The
    /// final PUT names `digest`, which the registry verifies before it
    /// commits the blob.
    pub fn blob_writer_for(
        &self,
        repo: &Reference,
        digest: &Digest,
        chunk: usize,
    ) -> Result<BlobWriter<'_>> {
        let mut w = self.blob_writer(repo, digest, chunk)?;
        w.known = Some(digest.clone());
        Ok(w)
    }
}

impl Client {
    /// Mounts `digest` from repository `from` of the same registry into
    /// `repo`: `true` when mounted; `false` when the registry opened an
    /// upload session instead (`from` lacks it, or mounts are off), which
    /// is left to expire.
    pub fn mount_blob(&self, repo: &Reference, digest: &Digest, from: &str) -> Result<bool> {
        Ok(self.mount(repo, digest, from)?.is_none())
    }
}

/// Repositories [`Client::neighbours`] looks at, at most.
pub const MAX_NEIGHBOURS: usize = 16;

impl Client {
    /// Other repositories of `repo`'s namespace (its first path component)
    /// on the same registry, from the catalog (`GET /v2/_catalog`), at
    /// most [`MAX_NEIGHBOURS`]: where a blob `repo` lacks may be mounted
    /// from. Empty when the registry does not serve its catalog to us.
    pub fn neighbours(&self, repo: &Reference) -> Vec<String> {
        let host = repo.api_host();
        let url = format!("{}_catalog?n=1000", self.v2(host));
        let req = Req::new(Method::GET, url, vec!["registry:catalog:*".to_string()]);
        let Ok(mut resp) = self.send(host, &req) else {
            return Vec::new();
        };
        if resp.status().as_u16() != 200 {
            return Vec::new();
        }
        #[derive(serde::Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let Ok(body) = resp.body_mut().with_config().limit(4 << 20).read_to_vec() else {
            return Vec::new();
        };
        let Ok(c) = serde_json::from_slice::<Catalog>(&body) else {
            return Vec::new();
        };
        let ours = repo.repository();
        let namespace = ours.split('/').next().unwrap_or(ours);
        c.repositories
            .into_iter()
            .filter(|r| r != ours && r.split('/').next() == Some(namespace))
            .take(MAX_NEIGHBOURS)
            .collect()
    }

    /// The first of `candidates` (repositories of `repo`'s registry) that
    /// holds `digest`, mounted from into `repo`: its name, or `None` when
    /// none holds it or the mount was refused.
    pub fn mount_from_any(
        &self,
        repo: &Reference,
        digest: &Digest,
        candidates: &[String],
    ) -> Result<Option<String>> {
        for c in candidates {
            let Ok(other) = Reference::parse(&format!("{}/{c}", repo.registry())) else {
                continue;
            };
            if matches!(self.blob_exists(&other, digest), Ok(Some(_)))
                && self.mount_blob(repo, digest, c)?
            {
                return Ok(Some(c.clone()));
            }
        }
        Ok(None)
    }
}

impl BlobWriter<'_> {
    fn action(&self) -> String {
        format!(
            "streamed push of {} to {}",
            self.key,
            self.repo.repository()
        )
    }

    /// Sends the buffered chunk, resending from the registry's offset after
    /// failures; empties the buffer.
    fn send_chunk(&mut self) -> Result<()> {
        let host = self.repo.api_host().to_string();
        let scopes = vec![repo_scope(self.repo.repository(), true)];
        let start = self.offset;
        let end = start + self.buf.len() as u64;
        let mut failures = 0u32;
        while self.offset < end {
            let from = (self.offset - start) as usize;
            let body = &self.buf[from..];
            let req = Req::new(Method::PATCH, self.location.clone(), scopes.clone())
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", format!("{}-{}", self.offset, end - 1))
                .body(Body::Bytes(body))
                .no_retry();
            let (broken, retry_after) = match self.client.send(&host, &req) {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match status {
                        202 => {
                            self.sent += body.len() as u64;
                            if let Some(p) = self.client.progress() {
                                p.advanced(&self.key, body.len() as u64);
                            }
                            let loc = header(&resp, "location");
                            if !loc.is_empty() {
                                self.location = resolve(&self.location, &loc);
                            }
                            self.offset = next_offset(&header(&resp, "range"))
                                .filter(|o| *o > self.offset && *o <= end)
                                .unwrap_or(end);
                            failures = 0;
                            continue;
                        }
                        401 | 403 => {
                            return Err(self.client.error_from(&host, &self.action(), resp))
                        }
                        404 => {
                            return Err(self
                                .client
                                .error_from(&host, &self.action(), resp)
                                .context("the registry dropped the upload session"))
                        }
                        s if s == 416 || s == 429 || s >= 500 => {
                            let after = header(&resp, "retry-after")
                                .trim()
                                .parse::<u64>()
                                .ok()
                                .map(std::time::Duration::from_secs);
                            (self.client.error_from(&host, &self.action(), resp), after)
                        }
                        _ if self.offset == 0 => {
                            let e = self.client.error_from(&host, &self.action(), resp);
                            return Err(Error::new(
                                ErrorKind::Registry,
                                format!("{e}; this registry does not take chunked uploads, which a streamed publish needs: `pack` to a layout, then `push` the layout"),
                            ));
                        }
                        _ => return Err(self.client.error_from(&host, &self.action(), resp)),
                    }
                }
                Err(Failure::Transport(m)) => (Failure::Transport(m).into_error(&host), None),
                Err(Failure::Fatal(e)) => return Err(e),
            };
            if failures >= self.client.opts.retries {
                return Err(broken.context(format!(
                    "{} gave up at byte {}",
                    self.action(),
                    self.offset
                )));
            }
            self.client
                .sleep(self.client.backoff(failures, retry_after));
            failures += 1;
            if let Ok(Some((loc, next))) = self.client.upload_status(&self.repo, &self.location) {
                if next < start || next > end {
                    return Err(broken.context(format!(
                        "{}: the registry holds {next} bytes, but bytes {start}..{end} are the ones still in memory",
                        self.action()
                    )));
                }
                self.location = loc;
                self.offset = next;
                if let Some(p) = self.client.progress() {
                    p.resumed(&self.key, next);
                }
            }
        }
        self.buf.clear();
        Ok(())
    }

    /// Commits the upload: sends what is buffered and the final PUT with
    /// the computed digest. With `expect`, a stream hashing to anything
    /// else is refused before the PUT (nothing is committed).
    pub fn finish(mut self, expect: Option<&Digest>) -> Result<Streamed> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let digest = match &self.known {
            Some(d) => d.clone(),
            None => self.hasher.clone().finish(),
        };
        if let Some(want) = expect {
            if *want != digest {
                return Err(Error::new(
                    ErrorKind::DigestMismatch,
                    format!(
                        "{}: the bytes hash to {digest}, not the {want} the source lists; nothing was committed",
                        self.action()
                    ),
                ));
            }
        }
        let host = self.repo.api_host().to_string();
        let scopes = vec![repo_scope(self.repo.repository(), true)];
        // A blob that fits one chunk goes with the PUT itself.
        let monolithic = self.offset == 0;
        if !monolithic && !self.buf.is_empty() {
            self.send_chunk()?;
        }
        let url = add_query(&self.location, &format!("digest={}", enc(digest.as_str())));
        let body = if monolithic {
            Body::Bytes(&self.buf)
        } else {
            Body::Empty
        };
        let req = Req::new(Method::PUT, url, scopes)
            .header("Content-Type", "application/octet-stream")
            .body(body);
        let resp = self
            .client
            .send(&host, &req)
            .map_err(|f| f.into_error(&host))?;
        if resp.status().as_u16() != 201 {
            return Err(self.client.error_from(&host, &self.action(), resp));
        }
        if monolithic {
            self.sent += self.buf.len() as u64;
            if let Some(p) = self.client.progress() {
                p.advanced(&self.key, self.buf.len() as u64);
            }
        }
        if let Some(p) = self.client.progress() {
            p.done(&self.key, BlobOutcome::Uploaded);
        }
        Ok(Streamed {
            digest,
            size: self.size,
            bytes_sent: self.sent,
        })
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(io::Error::other(e.to_string()));
        }
        let n = data.len().min(self.chunk - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.known.is_none() {
            self.hasher.update(&data[..n]);
        }
        self.size += n as u64;
        if self.buf.len() == self.chunk {
            if let Err(e) = self.send_chunk() {
                let message = e.to_string();
                self.failed = Some(e);
                return Err(io::Error::other(message));
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
