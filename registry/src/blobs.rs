//! Blob operations: existence check, cross-repository mount, upload
//! (monolithic or chunked, resumable, with monolithic fallback) and
//! verified, resumable download.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use ureq::http::Method;

use crate::auth::repo_scope;
use crate::client::{add_query, enc, header, next_offset, resolve, Body, Client, Failure, Req};
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::progress::BlobOutcome;
use crate::reference::Reference;

/// Produces the blob's bytes starting at an offset (for retries and resumes).
pub trait BlobSource: Sync {
    /// A reader positioned at `offset`.
    fn open_at(&self, offset: u64) -> io::Result<Box<dyn Read + Send + '_>>;
}

fn slice_at(bytes: &[u8], offset: u64) -> Box<dyn Read + Send + '_> {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    Box::new(&bytes[start..])
}

impl BlobSource for &[u8] {
    fn open_at(&self, offset: u64) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(slice_at(self, offset))
    }
}

impl BlobSource for Vec<u8> {
    fn open_at(&self, offset: u64) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(slice_at(self, offset))
    }
}

/// A closure as a source: `FnSource(|offset| …)` returns a reader at `offset`.
pub struct FnSource<F>(pub F);

impl<F> BlobSource for FnSource<F>
where
    F: Fn(u64) -> io::Result<Box<dyn Read + Send>> + Sync,
{
    fn open_at(&self, offset: u64) -> io::Result<Box<dyn Read + Send + '_>> {
        (self.0)(offset)
    }
}

/// A blob stored in a file.
#[derive(Clone, Debug)]
pub struct FileSource(pub PathBuf);

impl BlobSource for FileSource {
    fn open_at(&self, offset: u64) -> io::Result<Box<dyn Read + Send + '_>> {
        let mut f = File::open(&self.0)?;
        f.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(f))
    }
}

/// What [`Client::push_blob`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The repository already had the blob.
    Skipped,
    /// Mounted from another repository.
    Mounted,
    /// Uploaded; `bytes_sent` counts every body byte sent, retries included.
    Uploaded {
        /// Body bytes sent.
        bytes_sent: u64,
    },
}

/// An open upload session.
pub(crate) struct Session {
    pub(crate) location: String,
    pub(crate) min_chunk: u64,
}

/// Why an upload attempt stopped.
enum Stop {
    /// The registry refused PATCH/chunks: use a monolithic PUT.
    RefusedChunks,
    /// The session is lost (or the PUT broke): start a new one.
    Restart(Error),
    /// Give up.
    Fatal(Error),
}

/// Counts bytes read and reports them as progress.
struct Counting<'a, R> {
    inner: R,
    client: &'a Client,
    digest: &'a Digest,
    sent: &'a AtomicU64,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(p) = self.client.progress() {
            p.advanced(self.digest, n as u64);
        }
        Ok(n)
    }
}

impl Client {
    /// `HEAD /v2/<repo>/blobs/<digest>`: the blob's size if the repository
    /// has it. `repo`'s tag and digest are ignored.
    pub fn blob_exists(&self, repo: &Reference, digest: &Digest) -> Result<Option<u64>> {
        let host = repo.api_host();
        let url = format!("{}{}/blobs/{digest}", self.v2(host), repo.repository());
        let req = Req::new(
            Method::HEAD,
            url,
            vec![repo_scope(repo.repository(), false)],
        );
        let resp = self.send(host, &req).map_err(|f| f.into_error(host))?;
        match resp.status().as_u16() {
            200 => Ok(Some(header(&resp, "content-length").parse().unwrap_or(0))),
            404 => Ok(None),
            _ => Err(self.error_from(
                host,
                &format!("checking blob {digest} in {}", repo.repository()),
                resp,
            )),
        }
    }

    /// Uploads a blob unless the repository has it. With `mount_from`
    /// (another repository on the same registry) tries a cross-repository
    /// mount first. Blobs up to `chunk_size` go in one PUT, bigger ones in
    /// PATCH chunks, resumed after connection losses from the offset the
    /// registry reports; a registry refusing chunks gets one PUT.
    pub fn push_blob(
        &self,
        repo: &Reference,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
        mount_from: Option<&str>,
    ) -> Result<PushOutcome> {
        let host = repo.api_host();
        let what = format!("push of blob {digest} to {}", repo.repository());
        if let Some(p) = self.progress() {
            p.started(digest, size);
        }
        let done = |o: BlobOutcome| {
            if let Some(p) = self.progress() {
                p.done(digest, o)
            }
        };
        if self.blob_exists(repo, digest)?.is_some() {
            done(BlobOutcome::Skipped);
            return Ok(PushOutcome::Skipped);
        }
        let sent = AtomicU64::new(0);
        let mut restarts = 0;
        let mut try_mount = mount_from.filter(|f| *f != repo.repository());
        loop {
            let session = match try_mount.take() {
                Some(from) => match self.mount(repo, digest, from)? {
                    None => {
                        done(BlobOutcome::Mounted);
                        return Ok(PushOutcome::Mounted);
                    }
                    Some(s) => s,
                },
                None => self.start_upload(repo)?,
            };
            let chunked = size > self.opts.chunk_size.max(1)
                && !self
                    .no_chunks
                    .lock()
                    .map(|s| s.contains(host))
                    .unwrap_or(false);
            let r = if chunked {
                self.upload_chunked(repo, session, digest, size, source, &sent)
            } else {
                self.upload_monolithic(repo, session, digest, size, source, &sent)
            };
            match r {
                Ok(()) => {
                    done(BlobOutcome::Uploaded);
                    return Ok(PushOutcome::Uploaded {
                        bytes_sent: sent.load(Ordering::Relaxed),
                    });
                }
                Err(Stop::RefusedChunks) => {
                    if let Ok(mut s) = self.no_chunks.lock() {
                        s.insert(host.to_string());
                    }
                }
                Err(Stop::Restart(e)) => {
                    if restarts >= self.opts.retries {
                        return Err(e.context(format!("{what} failed after {restarts} restarts")));
                    }
                    self.sleep(self.backoff(restarts, None));
                    restarts += 1;
                    if let Some(p) = self.progress() {
                        p.resumed(digest, 0);
                    }
                    // The last PUT may have landed before the connection broke.
                    if self.blob_exists(repo, digest)?.is_some() {
                        done(BlobOutcome::Uploaded);
                        return Ok(PushOutcome::Uploaded {
                            bytes_sent: sent.load(Ordering::Relaxed),
                        });
                    }
                }
                Err(Stop::Fatal(e)) => return Err(e),
            }
        }
    }

    /// `POST …/blobs/uploads/?mount=&from=`: `None` when mounted, else the
    /// session the registry opened instead.
    pub(crate) fn mount(
        &self,
        repo: &Reference,
        digest: &Digest,
        from: &str,
    ) -> Result<Option<Session>> {
        let host = repo.api_host();
        let url = format!(
            "{}{}/blobs/uploads/?mount={}&from={}",
            self.v2(host),
            repo.repository(),
            enc(digest.as_str()),
            enc(from)
        );
        let scopes = vec![repo_scope(repo.repository(), true), repo_scope(from, false)];
        let req = Req::new(Method::POST, url.clone(), scopes);
        let resp = self.send(host, &req).map_err(|f| f.into_error(host))?;
        match resp.status().as_u16() {
            201 => Ok(None),
            202 => Ok(Some(session_from(&url, &resp))),
            _ => Err(self.error_from(
                host,
                &format!(
                    "mount of blob {digest} from {from} into {}",
                    repo.repository()
                ),
                resp,
            )),
        }
    }

    pub(crate) fn start_upload(&self, repo: &Reference) -> Result<Session> {
        let host = repo.api_host();
        let url = format!("{}{}/blobs/uploads/", self.v2(host), repo.repository());
        let req = Req::new(
            Method::POST,
            url.clone(),
            vec![repo_scope(repo.repository(), true)],
        );
        let resp = self.send(host, &req).map_err(|f| f.into_error(host))?;
        if resp.status().as_u16() != 202 || header(&resp, "location").is_empty() {
            return Err(self.error_from(host, &format!("push to {}", repo.repository()), resp));
        }
        Ok(session_from(&url, &resp))
    }

    fn upload_monolithic(
        &self,
        repo: &Reference,
        session: Session,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
        sent: &AtomicU64,
    ) -> Result<(), Stop> {
        let host = repo.api_host();
        let url = add_query(
            &session.location,
            &format!("digest={}", enc(digest.as_str())),
        );
        let open = || -> io::Result<Box<dyn Read + Send + '_>> {
            Ok(Box::new(Counting {
                inner: source.open_at(0)?.take(size),
                client: self,
                digest,
                sent,
            }))
        };
        let req = Req::new(Method::PUT, url, vec![repo_scope(repo.repository(), true)])
            .header("Content-Type", "application/octet-stream")
            .body(Body::Stream {
                len: size,
                open: &open,
            })
            .no_retry();
        match self.send(host, &req) {
            Ok(resp) if resp.status().as_u16() == 201 => Ok(()),
            Ok(resp)
                if resp.status().is_server_error()
                    || resp.status().as_u16() == 429
                    || resp.status().as_u16() == 404 =>
            {
                Err(Stop::Restart(self.error_from(
                    host,
                    &format!("push of blob {digest} to {}", repo.repository()),
                    resp,
                )))
            }
            Ok(resp) => Err(Stop::Fatal(self.error_from(
                host,
                &format!("push of blob {digest} to {}", repo.repository()),
                resp,
            ))),
            Err(Failure::Transport(m)) => {
                Err(Stop::Restart(Failure::Transport(m).into_error(host)))
            }
            Err(Failure::Fatal(e)) => Err(Stop::Fatal(e)),
        }
    }

    fn upload_chunked(
        &self,
        repo: &Reference,
        session: Session,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
        sent: &AtomicU64,
    ) -> Result<(), Stop> {
        let host = repo.api_host();
        let action = format!("push of blob {digest} to {}", repo.repository());
        let scopes = vec![repo_scope(repo.repository(), true)];
        let chunk = self.opts.chunk_size.max(session.min_chunk).max(1);
        let mut location = session.location;
        let mut offset = 0u64;
        let mut failures = 0u32;
        while offset < size {
            let len = chunk.min(size - offset);
            let start = offset;
            let open = || -> io::Result<Box<dyn Read + Send + '_>> {
                Ok(Box::new(Counting {
                    inner: source.open_at(start)?.take(len),
                    client: self,
                    digest,
                    sent,
                }))
            };
            let req = Req::new(Method::PATCH, location.clone(), scopes.clone())
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", format!("{start}-{}", start + len - 1))
                .body(Body::Stream { len, open: &open })
                .no_retry();
            let broken = match self.send(host, &req) {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match status {
                        202 => {
                            let loc = header(&resp, "location");
                            if !loc.is_empty() {
                                location = resolve(&location, &loc);
                            }
                            offset = next_offset(&header(&resp, "range"))
                                .filter(|o| *o > start)
                                .unwrap_or(start + len);
                            failures = 0;
                            None
                        }
                        404 => return Err(Stop::Restart(self.error_from(host, &action, resp))),
                        416 => Some(self.error_from(host, &action, resp)),
                        s if s == 429 || s >= 500 => Some(self.error_from(host, &action, resp)),
                        401 | 403 => return Err(Stop::Fatal(self.error_from(host, &action, resp))),
                        _ if start == 0 => return Err(Stop::RefusedChunks),
                        _ => return Err(Stop::Fatal(self.error_from(host, &action, resp))),
                    }
                }
                Err(Failure::Transport(m)) => Some(Failure::Transport(m).into_error(host)),
                Err(Failure::Fatal(e)) => return Err(Stop::Fatal(e)),
            };
            if let Some(err) = broken {
                if failures >= self.opts.retries {
                    return Err(Stop::Fatal(
                        err.context(format!("{action} gave up at byte {offset} of {size}")),
                    ));
                }
                self.sleep(self.backoff(failures, None));
                failures += 1;
                match self.upload_status(repo, &location) {
                    Ok(Some((loc, next))) => {
                        location = loc;
                        offset = next.min(size);
                        if let Some(p) = self.progress() {
                            p.resumed(digest, offset);
                        }
                    }
                    Ok(None) => return Err(Stop::Restart(err)),
                    Err(_) => {} // try the same chunk again after the next backoff
                }
            }
        }
        let url = add_query(&location, &format!("digest={}", enc(digest.as_str())));
        let req =
            Req::new(Method::PUT, url, scopes).header("Content-Type", "application/octet-stream");
        match self.send(host, &req) {
            Ok(resp) if resp.status().as_u16() == 201 => Ok(()),
            Ok(resp) if resp.status().as_u16() == 400 || resp.status().as_u16() == 404 => {
                Err(Stop::Restart(self.error_from(host, &action, resp)))
            }
            Ok(resp) => Err(Stop::Fatal(self.error_from(host, &action, resp))),
            Err(f) => Err(Stop::Restart(f.into_error(host))),
        }
    }

    /// `GET <location>`: the (new) location and the next offset, or `None`
    /// when the session is gone.
    pub(crate) fn upload_status(
        &self,
        repo: &Reference,
        location: &str,
    ) -> Result<Option<(String, u64)>> {
        let host = repo.api_host();
        let req = Req::new(
            Method::GET,
            location.to_string(),
            vec![repo_scope(repo.repository(), true)],
        );
        let resp = self.send(host, &req).map_err(|f| f.into_error(host))?;
        match resp.status().as_u16() {
            204 | 202 | 200 => {
                let loc = header(&resp, "location");
                let loc = if loc.is_empty() {
                    location.to_string()
                } else {
                    resolve(location, &loc)
                };
                Ok(Some((
                    loc,
                    next_offset(&header(&resp, "range")).unwrap_or(0),
                )))
            }
            404 | 400 => Ok(None),
            _ => Err(self.error_from(host, "upload status", resp)),
        }
    }

    /// Streams a blob into `out`, verifying its digest while streaming and
    /// resuming with `Range: bytes=N-` after a broken connection. Returns
    /// the number of bytes written.
    pub fn pull_blob(&self, repo: &Reference, digest: &Digest, out: &mut dyn Write) -> Result<u64> {
        self.pull_blob_from(repo, digest, out, 0, digest.hasher())
    }

    /// [`Client::pull_blob`] for a blob whose first `offset` bytes are
    /// already written (a download interrupted earlier) and fed to
    /// `hasher`: asks for the rest with `Range: bytes=offset-` and appends
    /// it to `out`. A registry that ignores the range answers with the
    /// whole blob, whose first `offset` bytes are then read and dropped.
    /// The digest is checked over all bytes, old and new. Returns the
    /// blob's total size (`offset` included).
    pub fn pull_blob_from(
        &self,
        repo: &Reference,
        digest: &Digest,
        out: &mut dyn Write,
        offset: u64,
        hasher: crate::digest::Hasher,
    ) -> Result<u64> {
        let host = repo.api_host();
        let url = format!("{}{}/blobs/{digest}", self.v2(host), repo.repository());
        let what = format!("pull of blob {digest} from {}", repo.repository());
        let mut hasher = hasher;
        let mut written = offset;
        let mut failures = 0u32;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let mut req = Req::new(
                Method::GET,
                url.clone(),
                vec![repo_scope(repo.repository(), false)],
            );
            if written > 0 {
                req = req.header("Range", format!("bytes={written}-"));
            }
            let mut resp = self.send(host, &req).map_err(|f| f.into_error(host))?;
            let mut skip = match resp.status().as_u16() {
                200 => written,
                206 => 0,
                _ => return Err(self.error_from(host, &what, resp)),
            };
            let mut reader = resp.body_mut().as_reader();
            let broke = loop {
                match reader.read(&mut buf) {
                    Ok(0) => break None,
                    Ok(n) => {
                        let mut chunk = &buf[..n];
                        let drop = (skip.min(n as u64)) as usize;
                        chunk = &chunk[drop..];
                        skip -= drop as u64;
                        if chunk.is_empty() {
                            continue;
                        }
                        hasher.update(chunk);
                        out.write_all(chunk)
                            .map_err(|e| Error::io(format!("cannot write {digest}"), e))?;
                        written += chunk.len() as u64;
                        if let Some(p) = self.progress() {
                            p.advanced(digest, chunk.len() as u64);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Some(e),
                }
            };
            match broke {
                None => break,
                Some(e) if failures < self.opts.retries => {
                    let _ = e;
                    self.sleep(self.backoff(failures, None));
                    failures += 1;
                    if let Some(p) = self.progress() {
                        p.resumed(digest, written);
                    }
                }
                Some(e) => {
                    return Err(Error::new(
                        ErrorKind::Transport,
                        format!("{what} broke at byte {written}: {e}"),
                    ))
                }
            }
        }
        let got = hasher.finish();
        if &got != digest {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("{what}: content hashes to {got}, not {digest}; the registry served corrupt data"),
            ));
        }
        Ok(written)
    }
}

fn session_from(url: &str, resp: &ureq::http::Response<ureq::Body>) -> Session {
    Session {
        location: resolve(url, &header(resp, "location")),
        min_chunk: header(resp, "oci-chunk-min-length")
            .trim()
            .parse()
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_read_from_offsets() {
        let v = b"hello world".to_vec();
        let mut s = String::new();
        v.open_at(6).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "world");
        let f = FnSource(|off: u64| -> io::Result<Box<dyn Read + Send>> {
            Ok(Box::new(io::Cursor::new(vec![off as u8])))
        });
        let mut b = Vec::new();
        f.open_at(7).unwrap().read_to_end(&mut b).unwrap();
        assert_eq!(b, [7]);
        let mut e = Vec::new();
        (&v[..]).open_at(99).unwrap().read_to_end(&mut e).unwrap();
        assert!(e.is_empty());
        fn shared<T: Send + Sync>() {}
        shared::<Client>();
    }
}
