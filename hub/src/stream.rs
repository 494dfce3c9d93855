//! Hub and URL files as readers, for the command line's streamed publish
//! (`push SOURCE REF`): nothing touches the disk. [`HttpReader`] GETs a
//! URL (redirects followed by hand, the token only to the first URL's
//! origin, as [`crate::download`] does), retries 429/5xx with `Retry-After`
//! and transport errors with backoff, and when a body breaks off resumes
//! with `Range: bytes=N-` from the byte it had reached. With a window it
//! reads a byte range only (a model header). [`get_bytes`] reads a small
//! answer into memory. Every request is counted ([`requests`]).

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::download::{self as hf_get, exit, GetError};

/// Requests sent by this module (redirect hops and retries included).
static REQUESTS: AtomicU64 = AtomicU64::new(0);
/// Body bytes received by this module.
static RECEIVED: AtomicU64 = AtomicU64::new(0);

/// Requests sent so far and body bytes received, for the summary line.
pub fn requests() -> (u64, u64) {
    (
        REQUESTS.load(Ordering::Relaxed),
        RECEIVED.load(Ordering::Relaxed),
    )
}

/// Reads `url` whole into memory; more than `max` bytes is an error.
pub fn get_bytes(url: &str, token: Option<&str>, max: u64) -> Result<Vec<u8>, GetError> {
    let mut r = HttpReader::new(url, token, 0, None);
    let mut out = Vec::new();
    (&mut r)
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| r.error_or(e))?;
    if out.len() as u64 > max {
        return Err(GetError {
            code: exit::SERVER,
            message: format!(
                "{}: the answer is over {max} bytes, more than such a file may take",
                hf_get::file_of(url)
            ),
        });
    }
    Ok(out)
}

/// The size of the file at `url`, from a one-byte ranged GET
/// (`Content-Range: bytes 0-0/N`, or `Content-Length` of a 200).
pub fn size_of(url: &str) -> Result<u64, GetError> {
    let mut r = HttpReader::new(url, None, 0, Some(1));
    r.want_size = true;
    let mut one = Vec::new();
    r.read_to_end(&mut one).map_err(|e| r.error_or(e))?;
    r.size.ok_or_else(|| GetError {
        code: exit::SERVER,
        message: format!(
            "{}: the server sent neither Content-Range nor Content-Length",
            hf_get::file_of(url)
        ),
    })
}

/// A GET of a URL (or of bytes `start..end` of it) as a [`Read`] that
/// resumes after broken connections; see the module documentation.
pub struct HttpReader {
    url: String,
    token: Option<String>,
    /// The next byte to read.
    pos: u64,
    /// One past the last byte wanted (`None`: the end of the file).
    end: Option<u64>,
    body: Option<Box<dyn Read + Send>>,
    /// Failed attempts so far (all of the file's requests together).
    attempts: u32,
    /// The classified failure behind an I/O error, for [`HttpReader::error_or`].
    failure: Option<GetError>,
    /// Whether to note the file's total size from the response.
    want_size: bool,
    /// The file's total size, when asked for and told.
    size: Option<u64>,
}

impl HttpReader {
    /// Bytes `start..end` of `url` (`end` `None`: to the end of the file).
    pub fn new(url: &str, token: Option<&str>, start: u64, end: Option<u64>) -> Self {
        HttpReader {
            url: url.to_string(),
            token: token.map(str::to_string),
            pos: start,
            end,
            body: None,
            attempts: 0,
            failure: None,
            want_size: false,
            size: None,
        }
    }

    /// The classified failure behind `e` (from a read of this reader), or
    /// `e` itself as a transport failure.
    pub fn error_or(&mut self, e: io::Error) -> GetError {
        self.failure.take().unwrap_or_else(|| GetError {
            code: exit::TRANSPORT,
            message: format!("downloading {}: {e}", hf_get::file_of(&self.url)),
        })
    }

    fn fail(&mut self, e: GetError) -> io::Error {
        let m = e.message.clone();
        self.failure = Some(e);
        io::Error::other(m)
    }

    /// One more attempt, or the failure when they are used up.
    fn retry(&mut self, what: String, retry_after: Option<&str>) -> Result<(), GetError> {
        if self.attempts + 1 >= hf_get::ATTEMPTS {
            return Err(GetError {
                code: exit::TRANSPORT,
                message: format!(
                    "downloading {}: {what}, {} attempts failed",
                    hf_get::file_of(&self.url),
                    hf_get::ATTEMPTS
                ),
            });
        }
        let wait = hf_get::backoff(self.attempts, retry_after);
        eprintln!(
            "{}: {what}; retrying in {} s",
            hf_get::file_of(&self.url),
            wait.as_secs()
        );
        std::thread::sleep(wait);
        self.attempts += 1;
        Ok(())
    }

    /// Opens the body at `self.pos`, following redirects and retrying.
    fn open(&mut self) -> Result<Box<dyn Read + Send>, GetError> {
        let name = hf_get::file_of(&self.url).to_string();
        let home = hf_get::origin(&self.url).to_string();
        let mut current = self.url.clone();
        let mut hops = 0;
        loop {
            let mut req = hf_get::agent()
                .get(&current)
                .header(
                    "User-Agent",
                    concat!("modelpack-frontend/", env!("CARGO_PKG_VERSION")),
                )
                .header("Accept-Encoding", "identity");
            let ranged = self.pos > 0 || self.end.is_some();
            if ranged {
                let last = self.end.map(|e| (e - 1).to_string()).unwrap_or_default();
                req = req.header("Range", format!("bytes={}-{last}", self.pos));
            }
            if let Some(t) = &self.token {
                if hf_get::origin(&current) == home {
                    req = req.header("Authorization", format!("Bearer {t}"));
                }
            }
            REQUESTS.fetch_add(1, Ordering::Relaxed);
            let resp = match req.call() {
                Ok(r) => r,
                Err(e) => {
                    self.retry(format!("GET {}: {e}", hf_get::origin(&current)), None)?;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            match status {
                200 | 206 => {
                    if self.want_size {
                        let range = hf_get::header(&resp, "content-range");
                        let length = hf_get::header(&resp, "content-length");
                        self.size = if status == 206 {
                            range.rsplit('/').next().and_then(|t| t.trim().parse().ok())
                        } else {
                            length.trim().parse().ok()
                        };
                    }
                    let mut body: Box<dyn Read + Send> = Box::new(resp.into_body().into_reader());
                    if status == 200 && self.pos > 0 {
                        // The server ignored the range: drop what we have.
                        io::copy(&mut (&mut body).take(self.pos), &mut io::sink()).map_err(
                            |e| GetError {
                                code: exit::TRANSPORT,
                                message: format!("downloading {name}: {e}"),
                            },
                        )?;
                    }
                    return Ok(body);
                }
                416 if self.end.is_some() => {
                    // A window past the end of the file: nothing there.
                    return Ok(Box::new(io::empty()));
                }
                301 | 302 | 303 | 307 | 308 => {
                    let location = hf_get::header(&resp, "location");
                    hops += 1;
                    if location.is_empty() || hops > hf_get::MAX_REDIRECTS {
                        return Err(GetError {
                            code: exit::REDIRECT,
                            message: format!(
                                "downloading {name}: HTTP {status} from {} without a usable Location (or more than {} redirects)",
                                hf_get::origin(&current),
                                hf_get::MAX_REDIRECTS
                            ),
                        });
                    }
                    current = hf_get::join(&current, &location).map_err(|e| GetError {
                        code: exit::REDIRECT,
                        message: format!("downloading {name}: {e}"),
                    })?;
                }
                429 | 500..=599 => {
                    let after = hf_get::header(&resp, "retry-after");
                    let after = Some(after.as_str()).filter(|s| !s.is_empty());
                    self.retry(
                        format!("HTTP {status} from {}", hf_get::origin(&current)),
                        after,
                    )
                    .map_err(|e| GetError {
                        code: if status == 429 {
                            exit::RATE_LIMITED
                        } else {
                            exit::SERVER
                        },
                        ..e
                    })?;
                }
                _ => {
                    let code = match status {
                        401 | 403 => exit::AUTH,
                        404 | 410 => exit::NOT_FOUND,
                        _ => exit::SERVER,
                    };
                    return Err(GetError {
                        code,
                        message: format!(
                            "downloading {name}: HTTP {status} from {}",
                            hf_get::origin(&current)
                        ),
                    });
                }
            }
        }
    }
}

impl Read for HttpReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = match self.end {
            Some(end) if self.pos >= end => return Ok(0),
            Some(end) => buf.len().min((end - self.pos) as usize),
            None => buf.len(),
        };
        if want == 0 {
            return Ok(0);
        }
        loop {
            if self.body.is_none() {
                match self.open() {
                    Ok(b) => self.body = Some(b),
                    Err(e) => return Err(self.fail(e)),
                }
            }
            let body = self.body.as_mut().expect("opened above");
            match body.read(&mut buf[..want]) {
                Ok(n) => {
                    self.pos += n as u64;
                    RECEIVED.fetch_add(n as u64, Ordering::Relaxed);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.body = None;
                    let what = format!("the body broke off at byte {} ({e})", self.pos);
                    if let Err(f) = self.retry(what, None) {
                        return Err(self.fail(f));
                    }
                }
            }
        }
    }
}

/// A reader of a file's first bytes for header parsers, fetched in
/// windows that double from 64 KiB: a safetensors or GGUF header costs one
/// or a few small ranged requests, never the weights.
pub struct HeaderReader {
    url: String,
    token: Option<String>,
    size: u64,
    pos: u64,
    window: u64,
    /// Where the current window started.
    window_start: u64,
    current: Option<HttpReader>,
}

/// The first window of a [`HeaderReader`].
const FIRST_WINDOW: u64 = 64 << 10;

impl HeaderReader {
    /// Reads `url` (of `size` bytes) from the start, window by window.
    pub fn new(url: &str, token: Option<&str>, size: u64) -> Self {
        HeaderReader {
            url: url.to_string(),
            token: token.map(str::to_string),
            size,
            pos: 0,
            window: FIRST_WINDOW,
            window_start: 0,
            current: None,
        }
    }
}

impl Read for HeaderReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos >= self.size {
                return Ok(0);
            }
            if self.current.is_none() {
                let end = (self.pos + self.window).min(self.size);
                self.current = Some(HttpReader::new(
                    &self.url,
                    self.token.as_deref(),
                    self.pos,
                    Some(end),
                ));
                self.window = self.window.saturating_mul(2).min(64 << 20);
                self.window_start = self.pos;
            }
            let n = self.current.as_mut().expect("set above").read(buf)?;
            if n == 0 {
                self.current = None;
                if self.pos == self.window_start {
                    // The server has no more bytes than this.
                    return Ok(0);
                }
                continue;
            }
            self.pos += n as u64;
            return Ok(n);
        }
    }
}
