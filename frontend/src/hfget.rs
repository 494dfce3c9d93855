//! In-build Hub downloads for when a token is needed: BuildKit before 0.21
//! cannot give HTTP sources an auth header, so a step re-executes this
//! binary with the `hf-token` secret mounted. The token is read from the
//! secret file and sent only to the endpoint's host; it is never printed.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};

/// Where the `hf-token` secret is mounted in download steps.
pub const TOKEN_PATH: &str = "/run/secrets/hf-token";
/// BuildKit secret id of the Hugging Face token (AIKit's id).
pub const TOKEN_SECRET_ID: &str = "hf-token";

/// Exit codes of `hf-get`, read back by the frontend to explain failures.
pub mod exit {
    /// 401/403: authentication or gating.
    pub const AUTH: u8 = 41;
    /// 404.
    pub const NOT_FOUND: u8 = 44;
    /// 429 after retries.
    pub const RATE_LIMITED: u8 = 49;
    /// 5xx after retries.
    pub const SERVER: u8 = 50;
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

fn read_token() -> Option<String> {
    let t = std::fs::read_to_string(TOKEN_PATH).ok()?;
    let t = t.trim().to_string();
    (!t.is_empty()).then_some(t)
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

/// Resolves a redirect target against the URL that answered it.
fn join(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{}{location}", origin(base))
    } else {
        let dir = base.rsplit_once('/').map(|(d, _)| d).unwrap_or(base);
        format!("{dir}/{location}")
    }
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> String {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
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

    fn parse(arg: &str) -> Result<Self> {
        if let Some(h) = arg.strip_prefix("sha256:") {
            Ok(Expect::Sha256(h.to_string()))
        } else if let Some(h) = arg.strip_prefix("git-sha1:") {
            Ok(Expect::GitSha1(h.to_string()))
        } else {
            bail!("expected sha256:<hex> or git-sha1:<hex>, got {arg:?}")
        }
    }
}

/// GETs `url` following redirects by hand: the token goes only to the
/// first URL's origin (never to a CDN on another host). Retries 429 and
/// 5xx a few times. Streams the body into `out`, hashing it.
pub fn get(url: &str, out: &Path, expect: &Expect) -> Result<(), GetError> {
    let token = read_token();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .build()
        .into();
    let home = origin(url).to_string();
    let mut current = url.to_string();
    let mut redirects = 0;
    let mut attempt = 0;
    let fail = |code: u8, message: String| GetError { code, message };
    loop {
        let mut req = agent
            .get(&current)
            .header("User-Agent", concat!("modelpack-frontend/", env!("CARGO_PKG_VERSION")))
            .header("Accept-Encoding", "identity");
        if let Some(t) = &token {
            if origin(&current) == home {
                req = req.header("Authorization", format!("Bearer {t}"));
            }
        }
        let resp = req.call().map_err(|e| fail(exit::SERVER, format!("GET {current}: {e}")))?;
        let status = resp.status().as_u16();
        match status {
            200 => return save(resp, out, expect, url),
            301 | 302 | 303 | 307 | 308 if redirects < 10 => {
                let location = header(&resp, "location");
                if location.is_empty() {
                    return Err(fail(exit::SERVER, format!("GET {current}: HTTP {status} without Location")));
                }
                current = join(&current, &location);
                redirects += 1;
            }
            429 | 500..=599 if attempt < 4 => {
                let wait = header(&resp, "retry-after").parse::<u64>().unwrap_or(1 << attempt).min(30);
                eprintln!("hf-get: HTTP {status} from {}, retrying in {wait}s", origin(&current));
                std::thread::sleep(Duration::from_secs(wait));
                attempt += 1;
            }
            _ => {
                let code = match status {
                    401 | 403 => exit::AUTH,
                    404 => exit::NOT_FOUND,
                    429 => exit::RATE_LIMITED,
                    _ => exit::SERVER,
                };
                let hub_code = header(&resp, "x-error-code");
                let hub_msg = header(&resp, "x-error-message");
                let detail = [hub_code, hub_msg].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(": ");
                return Err(fail(code, format!("GET {current}: HTTP {status} {detail}")));
            }
        }
    }
}

fn save(
    resp: ureq::http::Response<ureq::Body>,
    out: &Path,
    expect: &Expect,
    url: &str,
) -> Result<(), GetError> {
    let io = |e: std::io::Error| GetError { code: exit::SERVER, message: format!("downloading {url}: {e}") };
    let mut body = resp.into_body().into_reader();
    let mut file = File::create(out).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = body.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(io)?;
    }
    file.flush().map_err(io)?;
    let (kind, want, got) = match expect {
        Expect::Anything => return Ok(()),
        Expect::Sha256(want) => ("sha256", want, hex::encode(hasher.finalize())),
        Expect::GitSha1(want) => {
            let len = std::fs::metadata(out).map_err(io)?.len();
            let file = File::open(out).map_err(io)?;
            let hashes = modelpack::scan::hash_reader(file, Some(len)).map_err(io)?;
            ("git blob id", want, hashes.git_sha1.unwrap_or_default())
        }
    };
    if *want != got {
        return Err(GetError {
            code: exit::CHECKSUM,
            message: format!("downloading {url}: {kind} is {got}, the Hub lists {want}"),
        });
    }
    Ok(())
}

/// `modelpack-frontend hf-get <url> <out-file> [sha256:<hex>|git-sha1:<hex>]`.
pub fn run(args: &[String]) -> Result<u8> {
    let (url, out, expect) = match args {
        [u, o] => (u, o, Expect::Anything),
        [u, o, e] => (u, o, Expect::parse(e)?),
        _ => bail!("usage: modelpack-frontend hf-get <url> <out-file> [sha256:<hex>|git-sha1:<hex>]"),
    };
    match get(url, Path::new(out), &expect) {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("hf-get: {}", e.message);
            Ok(e.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_answering_url() {
        assert_eq!(origin("http://127.0.0.1:8080/a/b?c"), "http://127.0.0.1:8080");
        assert_eq!(join("http://h:1/org/r/resolve/c/f", "/api/resolve-cache/x?e=1"), "http://h:1/api/resolve-cache/x?e=1");
        assert_eq!(join("http://h:1/a/b", "https://cdn/x"), "https://cdn/x");
        assert_eq!(join("http://h:1/a/b", "c"), "http://h:1/a/c");
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
