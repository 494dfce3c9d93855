//! The Hub downloader both doors use: one file over HTTP(S) with retries,
//! a stall bound, redirects followed by hand and the content checked
//! against its sha256 or git blob id while it streams to disk (or is
//! written as a one-file layer). The in-build `hf-get` and `hf-get-many`
//! steps (crate `modelpack-steps`) and the CLI's `pack` call it; the
//! caller hands over the token, which is sent only to the URL's origin and
//! never printed.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use modelpack::pack::Written;
use modelpack::LayerPackaging;
use sha2::{Digest, Sha256};

/// The failure classes of a download, as the exit codes of the `hf-get`
/// steps (read back by the frontend to explain failures).
pub mod exit {
    /// 401/403: authentication or gating.
    pub const AUTH: u8 = 41;
    /// 404 or 410.
    pub const NOT_FOUND: u8 = 44;
    /// 429 after retries.
    pub const RATE_LIMITED: u8 = 49;
    /// 5xx after retries.
    pub const SERVER: u8 = 50;
    /// Transport errors (reset, truncated body, refused connection) after retries.
    pub const TRANSPORT: u8 = 51;
    /// Nothing received for [`super::STALL`].
    pub const STALLED: u8 = 52;
    /// A redirect loop, too many redirects, or a redirect to a scheme other than http(s).
    pub const REDIRECT: u8 = 53;
    /// Content does not match the expected sha256 or git blob id.
    pub const CHECKSUM: u8 = 60;
}

/// A failure with the exit code that classifies it.
#[derive(Debug)]
pub struct GetError {
    /// One of [`exit`].
    pub code: u8,
    /// One line for the build log.
    pub message: String,
}

/// `scheme://host[:port]` of a URL.
pub(crate) fn origin(url: &str) -> &str {
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find(['/', '?', '#']) {
        Some(i) => &url[..after + i],
        None => url,
    }
}

/// Whether `s` starts with an RFC 3986 scheme followed by `:`.
fn scheme_of(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
        .then_some(scheme)
}

/// Removes `.` and `..` segments from an absolute path (RFC 3986 §5.2.4);
/// `..` never climbs above the root.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// Resolves a redirect target against the URL that answered it (RFC 3986
/// §5.2: absolute, scheme-relative, absolute-path, query-only and relative
/// references). Only `http` and `https` targets are accepted: a redirect to
/// `file://` or any other scheme is an error.
pub(crate) fn join(base: &str, location: &str) -> Result<String, String> {
    let location = location.trim();
    let resolved = if let Some(scheme) = scheme_of(location) {
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(format!("a redirect to {scheme}: ({location:?}) is refused; only http and https are followed"));
        }
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        let scheme = scheme_of(base).unwrap_or("https");
        format!("{scheme}://{rest}")
    } else {
        let home = origin(base);
        let base_path_query = &base[home.len()..];
        let base_path = base_path_query.split(['?', '#']).next().unwrap_or("");
        let base_path = if base_path.is_empty() { "/" } else { base_path };
        if location.is_empty() {
            return Ok(base.to_string());
        } else if location.starts_with('?') {
            format!("{home}{base_path}{location}")
        } else if location.starts_with('#') {
            base.to_string()
        } else {
            let (path, tail) = match location.find(['?', '#']) {
                Some(i) => location.split_at(i),
                None => (location, ""),
            };
            let merged = if path.starts_with('/') {
                path.to_string()
            } else {
                let dir = base_path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                format!("{dir}/{path}")
            };
            format!("{home}{}{tail}", remove_dot_segments(&merged))
        }
    };
    if resolved.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!(
            "a redirect to {location:?} is refused: it has spaces or control characters"
        ));
    }
    Ok(resolved)
}

pub(crate) fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// What the downloaded bytes must hash to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Any content (API answers).
    Anything,
    /// sha256 hex (LFS files).
    Sha256(String),
    /// Git blob id hex (regular files).
    GitSha1(String),
}

impl Expect {
    /// The command-line form: `sha256:<hex>` or `git-sha1:<hex>`.
    pub fn arg(&self) -> Option<String> {
        match self {
            Expect::Anything => None,
            Expect::Sha256(h) => Some(format!("sha256:{h}")),
            Expect::GitSha1(h) => Some(format!("git-sha1:{h}")),
        }
    }

    /// Reads the command-line form back (the inverse of [`Expect::arg`]).
    pub fn parse(arg: &str) -> Result<Self> {
        if let Some(h) = arg.strip_prefix("sha256:") {
            Ok(Expect::Sha256(h.to_string()))
        } else if let Some(h) = arg.strip_prefix("git-sha1:") {
            Ok(Expect::GitSha1(h.to_string()))
        } else {
            bail!("expected sha256:<hex> or git-sha1:<hex>, got {arg:?}")
        }
    }
}

/// No byte for this long (headers or body) fails the download: the bound a
/// stalled server gets (BuildKit's own HTTP source has none).
pub const STALL: Duration = Duration::from_secs(60);
/// Attempts per file: transport errors (reset, truncated body, connect
/// failures), 429 and 5xx are retried with backoff (1, 2, 4, 8 s).
pub const ATTEMPTS: u32 = 5;
/// A `Retry-After` longer than this is cut to it.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Redirects followed per file.
pub const MAX_REDIRECTS: usize = 10;

/// When the download last made progress, shared with the stall watchdog.
struct Progress {
    start: Instant,
    last_ms: AtomicU64,
}

impl Progress {
    fn touch(&self) {
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// The file a URL names, for messages: its last path segment.
pub(crate) fn file_of(url: &str) -> &str {
    let path = url[origin(url).len()..]
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(url)
}

/// GETs `url` following redirects by hand, as `token` (`None` downloads
/// anonymously): the token goes only to the first URL's origin (never to a
/// CDN on another host) and is never printed. Retries transport errors, 429
/// and 5xx with backoff (see [`ATTEMPTS`]). Streams the body into `out`,
/// hashing it. Fails when nothing arrives for [`STALL`].
pub fn get_as(url: &str, out: &Path, expect: &Expect, token: Option<&str>) -> Result<(), GetError> {
    get_with(url, out, expect, STALL, token.map(str::to_string))
}

/// [`get_as`], writing the body as a one-file layer as it arrives (the
/// `pack-layer` writer fed by the download: the same bytes, no second pass
/// over the file). The body must be `layer.size` bytes.
pub fn get_layer(
    url: &str,
    out: &Path,
    expect: &Expect,
    layer: &LayerSpec,
    token: Option<&str>,
) -> Result<Written, GetError> {
    let written = get_into(
        url,
        out,
        expect,
        STALL,
        token.map(str::to_string),
        Some(layer.clone()),
    )?;
    Ok(written.expect("a layer download describes its layer"))
}

/// How a download is written as a one-file layer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerSpec {
    /// `tar`, `tar+gzip` or `tar+zstd`.
    pub format: String,
    /// The file's name in the tar (its model path).
    pub name: String,
    /// Its mode.
    pub mode: u32,
    /// Its size: the tar header is written before the body arrives.
    pub size: u64,
}

impl LayerSpec {
    fn packaging(&self) -> Result<LayerPackaging, GetError> {
        LayerPackaging::from_suffix(&self.format)
            .filter(|f| *f != LayerPackaging::Raw)
            .ok_or_else(|| GetError {
                code: exit::SERVER,
                message: format!("{}: unknown layer format {:?}", self.name, self.format),
            })
    }
}

/// [`get_as`] anonymously with another stall bound (the tests' short one).
#[cfg(test)]
fn get_with_stall(url: &str, out: &Path, expect: &Expect, stall: Duration) -> Result<(), GetError> {
    get_with(url, out, expect, stall, None)
}

fn get_with(
    url: &str,
    out: &Path,
    expect: &Expect,
    stall: Duration,
    token: Option<String>,
) -> Result<(), GetError> {
    get_into(url, out, expect, stall, token, None).map(drop)
}

fn get_into(
    url: &str,
    out: &Path,
    expect: &Expect,
    stall: Duration,
    token: Option<String>,
    layer: Option<LayerSpec>,
) -> Result<Option<Written>, GetError> {
    let progress = Arc::new(Progress {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
    });
    let (tx, rx) = mpsc::channel();
    let worker = {
        let (url, out, expect, progress) = (
            url.to_string(),
            out.to_path_buf(),
            expect.clone(),
            progress.clone(),
        );
        std::thread::spawn(move || {
            let _ = tx.send(fetch(&url, &out, &expect, &progress, token, layer.as_ref()));
        })
    };
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(result) => {
                let _ = worker.join();
                return result;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(GetError {
                    code: exit::SERVER,
                    message: format!(
                        "downloading {}: the download stopped unexpectedly",
                        file_of(url)
                    ),
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) if progress.idle() >= stall => {
                // The worker stays blocked in a read; the process exits.
                return Err(GetError {
                    code: exit::STALLED,
                    message: format!(
                        "downloading {} from {}: nothing received for {} s (the stall bound); the server stalled, try again later",
                        file_of(url),
                        origin(url),
                        stall.as_secs()
                    ),
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Backoff before attempt `n + 1`: `Retry-After` (seconds, bounded by
/// [`MAX_RETRY_AFTER`]) when the server sent one, else 1, 2, 4, 8 s.
pub(crate) fn backoff(attempt: u32, retry_after: Option<&str>) -> Duration {
    let fallback = Duration::from_secs(1 << attempt.min(3));
    match retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(secs) => Duration::from_secs(secs).min(MAX_RETRY_AFTER),
        None => fallback,
    }
}

/// Idle connections kept open per host: one per download thread of
/// `hf-get-many` and `pack` (at most `max_connections`, 256).
const IDLE_PER_HOST: usize = 256;

/// One HTTP client for the whole process: its connections are kept alive
/// and reused from file to file (one TLS handshake per connection, not per
/// file, on the real Hub).
pub(crate) fn agent() -> &'static ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .max_idle_connections(IDLE_PER_HOST)
            .max_idle_connections_per_host(IDLE_PER_HOST)
            .build()
            .into()
    })
}

fn fetch(
    url: &str,
    out: &Path,
    expect: &Expect,
    progress: &Progress,
    token: Option<String>,
    layer: Option<&LayerSpec>,
) -> Result<Option<Written>, GetError> {
    let agent = agent();
    let home = origin(url).to_string();
    let name = file_of(url).to_string();
    let mut current = url.to_string();
    let mut seen = vec![current.clone()];
    let mut attempt = 0;
    let fail = |code: u8, message: String| GetError { code, message };
    loop {
        progress.touch();
        let mut req = agent
            .get(&current)
            .header(
                "User-Agent",
                concat!("modelpack-frontend/", env!("CARGO_PKG_VERSION")),
            )
            .header("Accept-Encoding", "identity");
        if let Some(t) = &token {
            if origin(&current) == home {
                req = req.header("Authorization", format!("Bearer {t}"));
            }
        }
        let transport_retry = |attempt: &mut u32, what: String| -> Result<(), GetError> {
            if *attempt + 1 >= ATTEMPTS {
                return Err(fail(
                    exit::TRANSPORT,
                    format!("downloading {name}: {what}, {ATTEMPTS} attempts failed"),
                ));
            }
            let wait = backoff(*attempt, None);
            eprintln!("hf-get: {name}: {what}; retrying in {} s", wait.as_secs());
            progress.touch();
            std::thread::sleep(wait);
            *attempt += 1;
            Ok(())
        };
        let resp = match req.call() {
            Ok(r) => r,
            Err(e) => {
                transport_retry(&mut attempt, format!("GET {}: {e}", origin(&current)))?;
                continue;
            }
        };
        progress.touch();
        let status = resp.status().as_u16();
        match status {
            200 => match save(resp, out, expect, &name, progress, layer) {
                Err(Saved::Transport(e)) => transport_retry(&mut attempt, e)?,
                Err(Saved::Fatal(e)) => return Err(e),
                Ok(written) => return Ok(written),
            },
            301 | 302 | 303 | 307 | 308 => {
                let location = header(&resp, "location");
                if location.is_empty() {
                    return Err(fail(
                        exit::SERVER,
                        format!(
                            "downloading {name}: HTTP {status} from {} without Location",
                            origin(&current)
                        ),
                    ));
                }
                let next = join(&current, &location)
                    .map_err(|e| fail(exit::REDIRECT, format!("downloading {name}: {e}")))?;
                if seen.contains(&next) {
                    return Err(fail(
                        exit::REDIRECT,
                        format!("downloading {name}: redirect loop at {}", origin(&next)),
                    ));
                }
                if seen.len() > MAX_REDIRECTS {
                    return Err(fail(
                        exit::REDIRECT,
                        format!("downloading {name}: more than {MAX_REDIRECTS} redirects"),
                    ));
                }
                seen.push(next.clone());
                current = next;
            }
            429 | 500..=599 if attempt + 1 < ATTEMPTS => {
                let retry_after = header(&resp, "retry-after");
                let wait = backoff(
                    attempt,
                    Some(retry_after.as_str()).filter(|s| !s.is_empty()),
                );
                eprintln!(
                    "hf-get: {name}: HTTP {status} from {}, retrying in {} s",
                    origin(&current),
                    wait.as_secs()
                );
                progress.touch();
                std::thread::sleep(wait);
                attempt += 1;
            }
            _ => {
                let code = match status {
                    401 | 403 => exit::AUTH,
                    404 | 410 => exit::NOT_FOUND,
                    429 => exit::RATE_LIMITED,
                    _ => exit::SERVER,
                };
                let hub_code = header(&resp, "x-error-code");
                let hub_msg = header(&resp, "x-error-message");
                let detail = [hub_code, hub_msg]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(": ");
                let detail = detail
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect::<String>();
                return Err(fail(
                    code,
                    format!(
                        "downloading {name}: HTTP {status} from {} {detail}",
                        origin(&current)
                    ),
                ));
            }
        }
    }
}

/// Why saving a body failed: worth another attempt, or not.
enum Saved {
    /// Reset, truncated body, …: retried.
    Transport(String),
    /// Local I/O errors and checksum mismatches.
    Fatal(GetError),
}

/// The body on its way in: hashed, counted, and any transport error kept
/// (so a writer failing on it is told apart from a local write error).
struct Body<'a, R> {
    inner: R,
    hasher: Sha256,
    received: u64,
    broke: Option<String>,
    progress: &'a Progress,
}

impl<R: Read> Read for Body<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.progress.touch();
                self.received += n as u64;
                self.hasher.update(&buf[..n]);
                Ok(n)
            }
            Err(e) => {
                self.broke = Some(format!(
                    "the body broke off after {} bytes ({e})",
                    self.received
                ));
                Err(e)
            }
        }
    }
}

fn save(
    resp: ureq::http::Response<ureq::Body>,
    out: &Path,
    expect: &Expect,
    name: &str,
    progress: &Progress,
    layer: Option<&LayerSpec>,
) -> Result<Option<Written>, Saved> {
    let local = |e: std::io::Error| {
        Saved::Fatal(GetError {
            code: exit::SERVER,
            message: format!("writing {name}: {e}"),
        })
    };
    let declared: Option<u64> = header(&resp, "content-length").parse().ok();
    let inner = resp.into_body().into_with_config().limit(u64::MAX).reader();
    let mut body = Body {
        inner,
        hasher: Sha256::new(),
        received: 0,
        broke: None,
        progress,
    };
    let mut file = File::create(out).map_err(local)?;
    let written = match layer {
        None => {
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = body
                    .read(&mut buf)
                    .map_err(|_| Saved::Transport(body.broke.clone().unwrap_or_default()))?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n]).map_err(local)?;
            }
            file.flush().map_err(local)?;
            None
        }
        Some(spec) => {
            let format = spec.packaging().map_err(Saved::Fatal)?;
            if let Some(d) = declared.filter(|&d| d != spec.size) {
                return Err(Saved::Fatal(GetError {
                    code: exit::CHECKSUM,
                    message: format!(
                        "downloading {name}: the server sends {d} bytes, the Hub lists {}",
                        spec.size
                    ),
                }));
            }
            let threads = modelpack::pack::default_threads();
            let out = std::io::BufWriter::with_capacity(1 << 20, file);
            match modelpack::pack::write_layer_from(
                &mut body, spec.size, &spec.name, spec.mode, format, out, threads,
            ) {
                Ok(w) => Some(w),
                Err(_) if body.broke.is_some() => {
                    return Err(Saved::Transport(body.broke.take().unwrap_or_default()))
                }
                // The body was shorter or longer than listed: maybe cut off.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(Saved::Transport(format!(
                        "the body does not have the listed size ({e})"
                    )))
                }
                Err(e) => return Err(local(e)),
            }
        }
    };
    let received = body.received;
    if let Some(want) = declared.filter(|&d| d != received) {
        return Err(Saved::Transport(format!(
            "the body ended after {received} of {want} bytes"
        )));
    }
    let (kind, want, got) = match expect {
        Expect::Anything => return Ok(written),
        Expect::Sha256(want) => ("sha256", want, hex::encode(body.hasher.finalize())),
        Expect::GitSha1(_) if layer.is_some() => {
            return Err(Saved::Fatal(GetError {
                code: exit::SERVER,
                message: format!("{name}: a layer download needs a sha256"),
            }))
        }
        Expect::GitSha1(want) => {
            let len = std::fs::metadata(out).map_err(local)?.len();
            let file = File::open(out).map_err(local)?;
            let hashes = modelpack::scan::hash_reader(file, Some(len)).map_err(local)?;
            ("git blob id", want, hashes.git_sha1.unwrap_or_default())
        }
    };
    if *want != got {
        return Err(Saved::Fatal(GetError {
            code: exit::CHECKSUM,
            message: format!("downloading {name}: {kind} is {got}, the Hub lists {want}"),
        }));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_answering_url() {
        assert_eq!(
            origin("http://127.0.0.1:8080/a/b?c"),
            "http://127.0.0.1:8080"
        );
        let j = |b: &str, l: &str| join(b, l).unwrap();
        assert_eq!(
            j("http://h:1/org/r/resolve/c/f", "/api/resolve-cache/x?e=1"),
            "http://h:1/api/resolve-cache/x?e=1"
        );
        assert_eq!(j("http://h:1/a/b", "https://cdn/x"), "https://cdn/x");
        assert_eq!(j("http://h:1/a/b", "c"), "http://h:1/a/c");
        assert_eq!(j("http://h:1/a/b/c?q=1", "../d"), "http://h:1/a/d");
        assert_eq!(j("http://h:1/a/b", "../../../../etc/x"), "http://h:1/etc/x");
        assert_eq!(j("http://h:1/a/b", "./c/./d?x=/y"), "http://h:1/a/c/d?x=/y");
        assert_eq!(j("https://h/a/b?old", "?new"), "https://h/a/b?new");
        assert_eq!(j("https://h/a/b", "//cdn:9/x"), "https://cdn:9/x");
        assert_eq!(j("http://h:1?q", "x"), "http://h:1/x");
        assert_eq!(j("http://h:1/a", "HTTP://Other/x"), "HTTP://Other/x");
        assert!(join("http://h/a", "file:///etc/passwd")
            .unwrap_err()
            .contains("file:"));
        assert!(join("http://h/a", "ftp://h/x").is_err());
        assert!(join("http://h/a", "/x\ny")
            .unwrap_err()
            .contains("control characters"));
    }

    #[test]
    fn backoff_honours_retry_after_within_a_bound() {
        assert_eq!(backoff(0, None), Duration::from_secs(1));
        assert_eq!(backoff(3, None), Duration::from_secs(8));
        assert_eq!(backoff(9, None), Duration::from_secs(8));
        assert_eq!(backoff(0, Some("3")), Duration::from_secs(3));
        assert_eq!(backoff(0, Some("86400")), MAX_RETRY_AFTER);
        assert_eq!(
            backoff(1, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn files_are_named_by_their_last_segment() {
        assert_eq!(file_of("http://h/o/r/resolve/c/dir/w.bin?x=1"), "w.bin");
        assert_eq!(file_of("http://h"), "http://h");
    }

    /// A one-connection server on 127.0.0.1 answering with `response`
    /// (then holding the connection open for `hold`).
    fn serve_once(response: &'static [u8], hold: Duration) -> String {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut conn, _)) = listener.accept() {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = conn.write_all(response);
                std::thread::sleep(hold);
            }
        });
        format!("http://{addr}/org/repo/resolve/main/weights.bin")
    }

    #[test]
    fn a_stalled_body_fails_within_the_bound_naming_the_file() {
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789",
            Duration::from_secs(30),
        );
        let dir = std::env::temp_dir().join(format!("hf_get-stall-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = get_with_stall(
            &url,
            &dir.join("w"),
            &Expect::Anything,
            Duration::from_secs(2),
        )
        .unwrap_err();
        // STALLED (not a transport error when the 30 s hold ends) says the
        // 2 s stall bound fired.
        assert_eq!(err.code, exit::STALLED);
        assert!(
            err.message.contains("weights.bin") && err.message.contains("2 s"),
            "{}",
            err.message
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_redirect_to_a_file_url_is_refused() {
        let url = serve_once(
            b"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n",
            Duration::ZERO,
        );
        let dir = std::env::temp_dir().join(format!("hf_get-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = get_with_stall(
            &url,
            &dir.join("w"),
            &Expect::Anything,
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert_eq!(err.code, exit::REDIRECT);
        assert!(
            err.message.contains("weights.bin") && err.message.contains("file:"),
            "{}",
            err.message
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn expectations_round_trip_through_the_command_line() {
        for e in [Expect::Sha256("ab".into()), Expect::GitSha1("cd".into())] {
            assert_eq!(Expect::parse(&e.arg().unwrap()).unwrap(), e);
        }
        assert_eq!(Expect::Anything.arg(), None);
        assert!(Expect::parse("md5:x").is_err());
    }
}
