//! The HTTP side: options, TLS, authentication, redirects, retries and
//! registry error decoding. Blob and manifest operations live in
//! [`crate::blobs`] and [`crate::manifests`].

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use ureq::http::{Method, Response};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::auth::{parse_challenges, HostAuth, Scheme};
use crate::credentials::{Credentials, HostCredentials};
use crate::error::{Error, ErrorKind, Fix, Result};
use crate::progress::Progress;

/// Client settings.
#[derive(Clone)]
pub struct ClientOptions {
    /// Talk `http://` instead of `https://` to every registry.
    pub plain_http: bool,
    /// Extra PEM CA bundle trusted on top of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Where credentials come from.
    pub credentials: Credentials,
    /// Blobs transferred at once by the layout helpers (at least 1).
    pub concurrency: usize,
    /// Blobs up to this size go in one PUT; bigger ones in PATCH chunks of
    /// this size (raised to the registry's `OCI-Chunk-Min-Length`).
    pub chunk_size: u64,
    /// Transfer events.
    pub progress: Option<Arc<dyn Progress>>,
    /// Retries after a connection error, 5xx or 429 (per request or chunk).
    pub retries: u32,
    /// First retry delay; doubles each time.
    pub retry_delay: Duration,
    /// Longest retry delay, also the cap for `Retry-After`.
    pub max_retry_delay: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for a response head after the request was sent
    /// (`None`: no limit). Registries may hash a big blob before answering
    /// its final PUT, so keep this generous.
    pub response_timeout: Option<Duration>,
    /// How a retry waits out its delay (`None`: `std::thread::sleep`);
    /// tests pass a recorder so they neither sleep nor guess at timings.
    pub sleep: Option<Arc<dyn Fn(Duration) + Send + Sync>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            plain_http: false,
            ca_file: None,
            credentials: Credentials::Anonymous,
            concurrency: 4,
            chunk_size: 16 << 20,
            progress: None,
            retries: 4,
            retry_delay: Duration::from_millis(250),
            max_retry_delay: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            response_timeout: Some(Duration::from_secs(600)),
            sleep: None,
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("plain_http", &self.plain_http)
            .field("ca_file", &self.ca_file)
            .field("concurrency", &self.concurrency)
            .field("chunk_size", &self.chunk_size)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// A blocking OCI distribution client. Cheap to share between threads.
pub struct Client {
    agent: ureq::Agent,
    pub(crate) opts: ClientOptions,
    auth: Mutex<HashMap<String, HostAuth>>,
    /// Hosts that refused chunked uploads: use monolithic PUTs.
    pub(crate) no_chunks: Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// A request body that can be produced again for a retry.
pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    Stream {
        len: u64,
        open: &'a (dyn Fn() -> std::io::Result<Box<dyn Read + Send + 'a>> + Sync),
    },
}

/// One request to a registry host.
pub(crate) struct Req<'a> {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body<'a>,
    /// Token scopes this request needs.
    pub scopes: Vec<String>,
    /// Retry connection errors, 5xx and 429 here (false when the caller
    /// resumes by itself).
    pub retry: bool,
}

impl<'a> Req<'a> {
    pub fn new(method: Method, url: String, scopes: Vec<String>) -> Self {
        Req {
            method,
            url,
            headers: Vec::new(),
            body: Body::Empty,
            scopes,
            retry: true,
        }
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn body(mut self, body: Body<'a>) -> Self {
        self.body = body;
        self
    }
    pub fn no_retry(mut self) -> Self {
        self.retry = false;
        self
    }
}

/// A failed attempt: either the transport broke (retryable) or a final error.
pub(crate) enum Failure {
    Transport(String),
    Fatal(Error),
}

impl Failure {
    pub fn into_error(self, host: &str) -> Error {
        match self {
            Failure::Transport(m) => {
                let l = m.to_ascii_lowercase();
                let fix = if l.contains("certificate")
                    || l.contains("unknownissuer")
                    || l.contains("unknown issuer")
                {
                    Some(Fix::CaFile)
                } else if l.contains("corrupt")
                    || l.contains("invalidcontenttype")
                    || l.contains("invalid content type")
                    || l.contains("record overflow")
                {
                    Some(Fix::PlainHttp)
                } else {
                    None
                };
                let e = Error::new(
                    ErrorKind::Transport,
                    format!("cannot reach registry {host}: {m}"),
                );
                match fix {
                    Some(fix) => e.with_fix(fix),
                    None => e,
                }
            }
            Failure::Fatal(e) => e,
        }
    }
}

/// Value of a response header, or "".
pub(crate) fn header(resp: &Response<ureq::Body>, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// `scheme://authority` of a URL.
pub(crate) fn origin(url: &str) -> &str {
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find(['/', '?']) {
        Some(i) => &url[..after + i],
        None => url,
    }
}

/// Resolves a `Location` against the URL that returned it; the query is kept.
pub(crate) fn resolve(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if location.starts_with("//") {
        let scheme = base.split_once("://").map(|(s, _)| s).unwrap_or("https");
        format!("{scheme}:{location}")
    } else if location.starts_with('/') {
        format!("{}{location}", origin(base))
    } else {
        let path = base.split(['?', '#']).next().unwrap_or(base);
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or(path);
        format!("{dir}/{location}")
    }
}

/// Appends `key=value` (value already encoded) to a URL's query.
pub(crate) fn add_query(url: &str, pair: &str) -> String {
    if url.contains('?') {
        format!("{url}&{pair}")
    } else {
        format!("{url}?{pair}")
    }
}

/// Percent-encodes a query value.
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Range: 0-<end>` → the next offset (`end + 1`; `0-0` and a missing
/// header mean 0, as docker-registry reports an empty upload as `0-0`).
pub(crate) fn next_offset(range: &str) -> Option<u64> {
    let r = range.trim().trim_start_matches("bytes=");
    let (_, end) = r.split_once('-')?;
    let end: i64 = end.trim().parse().ok()?;
    if end <= 0 {
        Some(0)
    } else {
        Some(end as u64 + 1)
    }
}

#[derive(Deserialize)]
struct ErrorsBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    detail: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TokenReply {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

impl Client {
    /// Builds a client; reads the CA file now so a bad path fails early.
    pub fn new(opts: ClientOptions) -> Result<Client> {
        let roots = match &opts.ca_file {
            None => RootCerts::WebPki,
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| Error::io(format!("cannot read CA file {}", path.display()), e))?;
                let mut certs = pem_certs(&pem).map_err(|e| {
                    Error::invalid(format!(
                        "CA file {} holds no usable PEM certificate: {e}",
                        path.display()
                    ))
                })?;
                if certs.is_empty() {
                    return Err(Error::invalid(format!(
                        "CA file {} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)",
                        path.display()
                    )));
                }
                // Keep trusting the system: add the usual bundle files when present.
                for sys in [
                    "/etc/ssl/certs/ca-certificates.crt",
                    "/etc/pki/tls/certs/ca-bundle.crt",
                    "/etc/ssl/cert.pem",
                ] {
                    if let Ok(pem) = std::fs::read(sys) {
                        certs.extend(pem_certs(&pem).unwrap_or_default());
                        break;
                    }
                }
                RootCerts::from(certs)
            }
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(opts.connect_timeout))
            .timeout_recv_response(opts.response_timeout)
            .user_agent(concat!("oci-registry/", env!("CARGO_PKG_VERSION")))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build()
            .new_agent();
        Ok(Client {
            agent,
            opts,
            auth: Mutex::new(HashMap::new()),
            no_chunks: Default::default(),
        })
    }

    /// The options this client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// `http(s)://host/v2/`.
    pub(crate) fn v2(&self, host: &str) -> String {
        format!(
            "{}://{host}/v2/",
            if self.opts.plain_http {
                "http"
            } else {
                "https"
            }
        )
    }

    pub(crate) fn progress(&self) -> Option<&dyn Progress> {
        self.opts.progress.as_deref()
    }

    /// Waits `delay` before a retry, through [`ClientOptions::sleep`].
    pub(crate) fn sleep(&self, delay: Duration) {
        match &self.opts.sleep {
            Some(sleep) => sleep(delay),
            None => std::thread::sleep(delay),
        }
    }

    pub(crate) fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .opts
            .retry_delay
            .saturating_mul(1u32 << attempt.min(16));
        retry_after.unwrap_or(exp).min(self.opts.max_retry_delay)
    }

    /// Sends with auth, redirects (GET/HEAD) and, when `req.retry`, retries.
    /// Returns any final status; callers decode errors with [`Client::error_from`].
    pub(crate) fn send(&self, host: &str, req: &Req) -> Result<Response<ureq::Body>, Failure> {
        let mut attempt = 0;
        loop {
            let r = self.send_authed(host, req);
            let retry_after = match &r {
                Ok(resp) if resp.status().as_u16() == 429 || resp.status().is_server_error() => {
                    let s = header(resp, "retry-after");
                    Some(s.trim().parse::<u64>().ok().map(Duration::from_secs))
                }
                Err(Failure::Transport(_)) => Some(None),
                _ => None,
            };
            match retry_after {
                Some(after) if req.retry && attempt < self.opts.retries => {
                    self.sleep(self.backoff(attempt, after));
                    attempt += 1;
                }
                _ => return r,
            }
        }
    }

    fn host_creds(&self, host: &str) -> Result<HostCredentials, Failure> {
        self.opts.credentials.for_host(host).map_err(Failure::Fatal)
    }

    /// The Authorization header to send now, fetching a token if the host
    /// is known to want one and we have none for these scopes.
    fn auth_header(
        &self,
        host: &str,
        scopes: &[String],
        refresh: bool,
    ) -> Result<Option<String>, Failure> {
        let (scheme, creds, cached) = {
            let mut map = self.auth.lock().unwrap_or_else(|p| p.into_inner());
            if !map.contains_key(host) {
                let creds = self.host_creds(host)?;
                map.insert(host.to_string(), HostAuth::new(creds));
            }
            let ha = map.get_mut(host).expect("inserted above");
            let key = scopes.join(" ");
            if refresh {
                ha.tokens.remove(&key);
            }
            (
                ha.scheme.clone(),
                ha.creds.clone(),
                ha.tokens.get(&key).cloned(),
            )
        };
        match scheme {
            Scheme::Unknown => Ok(None),
            Scheme::Basic => Ok(basic(&creds)),
            Scheme::Bearer { realm, service } => {
                if let Some(t) = cached {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let token = self.fetch_token(host, &realm, service.as_deref(), scopes, &creds)?;
                let mut map = self.auth.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(ha) = map.get_mut(host) {
                    ha.tokens.insert(scopes.join(" "), token.clone());
                }
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    fn auth_failed(&self, host: &str, creds: &HostCredentials, scopes: &[String]) -> Failure {
        let e = match creds {
            HostCredentials::None => Error::new(
                ErrorKind::Auth,
                format!(
                    "registry {host} requires authentication ({})",
                    scopes.join(" ")
                ),
            )
            .with_fix(Fix::Credentials {
                host: host.to_string(),
            }),
            c => Error::new(
                ErrorKind::Auth,
                format!(
                    "authentication failed for {host} as {}; check the credentials",
                    c.who()
                ),
            ),
        };
        Failure::Fatal(e)
    }

    fn fetch_token(
        &self,
        host: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        creds: &HostCredentials,
    ) -> Result<String, Failure> {
        let mut attempt = 0;
        loop {
            let r = match creds {
                HostCredentials::IdentityToken { token, .. } => {
                    let mut form = format!(
                        "grant_type=refresh_token&client_id=oci-registry&refresh_token={}",
                        enc(token)
                    );
                    if let Some(s) = service {
                        form.push_str(&format!("&service={}", enc(s)));
                    }
                    if !scopes.is_empty() {
                        form.push_str(&format!("&scope={}", enc(&scopes.join(" "))));
                    }
                    self.agent
                        .post(realm)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .send(form.as_bytes())
                }
                _ => {
                    let mut url = realm.to_string();
                    if let Some(s) = service {
                        url = add_query(&url, &format!("service={}", enc(s)));
                    }
                    for s in scopes {
                        url = add_query(&url, &format!("scope={}", enc(s)));
                    }
                    let mut rb = self.agent.get(&url);
                    if let Some(b) = basic(creds) {
                        rb = rb.header("Authorization", b);
                    }
                    rb.call()
                }
            };
            let mut resp = match r {
                Ok(resp) if resp.status().is_server_error() && attempt < self.opts.retries => {
                    self.sleep(self.backoff(attempt, None));
                    attempt += 1;
                    continue;
                }
                Ok(resp) => resp,
                Err(e) if attempt < self.opts.retries => {
                    let _ = e;
                    self.sleep(self.backoff(attempt, None));
                    attempt += 1;
                    continue;
                }
                Err(e) => {
                    return Err(Failure::Fatal(Error::new(
                        ErrorKind::Transport,
                        format!("cannot reach token service {realm} for {host}: {e}"),
                    )))
                }
            };
            let status = resp.status().as_u16();
            if status == 401 || status == 403 {
                return Err(self.auth_failed(host, creds, scopes));
            }
            let body = resp
                .body_mut()
                .with_config()
                .limit(1 << 20)
                .read_to_vec()
                .unwrap_or_default();
            if status != 200 {
                return Err(Failure::Fatal(Error::new(
                    ErrorKind::Auth,
                    format!(
                        "token service {realm} for {host} answered {status}: {}",
                        snippet(&body)
                    ),
                )));
            }
            let reply: TokenReply = serde_json::from_slice(&body).map_err(|e| {
                Failure::Fatal(Error::new(
                    ErrorKind::Auth,
                    format!("token service {realm} for {host} sent invalid JSON: {e}"),
                ))
            })?;
            return reply
                .token
                .or(reply.access_token)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    Failure::Fatal(Error::new(
                        ErrorKind::Auth,
                        format!("token service {realm} for {host} sent no token"),
                    ))
                });
        }
    }

    /// One attempt plus at most one re-authentication after a 401.
    fn send_authed(&self, host: &str, req: &Req) -> Result<Response<ureq::Body>, Failure> {
        let mut refreshed = false;
        let mut auth = self.auth_header(host, &req.scopes, false)?;
        loop {
            let resp = self.send_following(req, auth.as_deref())?;
            if resp.status().as_u16() != 401 {
                return Ok(resp);
            }
            let challenges = parse_challenges(&header(&resp, "www-authenticate"));
            let creds = {
                let map = self.auth.lock().unwrap_or_else(|p| p.into_inner());
                map.get(host)
                    .map(|h| h.creds.clone())
                    .unwrap_or(HostCredentials::None)
            };
            if refreshed {
                if let Some(c) = challenges.iter().find(|c| {
                    c.params.get("error").map(String::as_str) == Some("insufficient_scope")
                }) {
                    let wanted = c
                        .params
                        .get("scope")
                        .cloned()
                        .unwrap_or_else(|| req.scopes.join(" "));
                    return Err(Failure::Fatal(Error::new(
                        ErrorKind::Denied,
                        format!(
                            "registry {host} denied {wanted} to {}: insufficient_scope; check that the account may access this repository",
                            creds.who()
                        ),
                    )));
                }
                return Err(self.auth_failed(host, &creds, &req.scopes));
            }
            refreshed = true;
            let new_scheme = if let Some(c) = challenges.iter().find(|c| c.scheme == "bearer") {
                let realm = c.params.get("realm").cloned().unwrap_or_default();
                if realm.is_empty() {
                    return Err(Failure::Fatal(Error::new(
                        ErrorKind::Auth,
                        format!("registry {host} sent a Bearer challenge without realm; cannot authenticate"),
                    )));
                }
                Scheme::Bearer {
                    realm,
                    service: c.params.get("service").cloned(),
                }
            } else if challenges.iter().any(|c| c.scheme == "basic") {
                if creds == HostCredentials::None
                    || matches!(creds, HostCredentials::IdentityToken { .. })
                {
                    return Err(self.auth_failed(host, &creds, &req.scopes));
                }
                Scheme::Basic
            } else {
                return Err(self.auth_failed(host, &creds, &req.scopes));
            };
            {
                let mut map = self.auth.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(ha) = map.get_mut(host) {
                    if ha.scheme != new_scheme {
                        ha.tokens.clear();
                    }
                    ha.scheme = new_scheme;
                }
            }
            auth = self.auth_header(host, &req.scopes, true)?;
        }
    }

    /// Sends one request; for GET/HEAD follows redirects, sending
    /// `Authorization` only to the registry's own origin.
    fn send_following(
        &self,
        req: &Req,
        auth: Option<&str>,
    ) -> Result<Response<ureq::Body>, Failure> {
        let mut url = req.url.clone();
        let home = origin(&req.url).to_string();
        for _ in 0..10 {
            let same = origin(&url) == home;
            let resp = self.send_raw(req, &url, if same { auth } else { None })?;
            let follow = matches!(req.method, Method::GET | Method::HEAD)
                && matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308);
            let loc = header(&resp, "location");
            if !follow || loc.is_empty() {
                return Ok(resp);
            }
            url = resolve(&url, &loc);
        }
        Err(Failure::Fatal(Error::new(
            ErrorKind::Registry,
            format!("too many redirects from {}", req.url),
        )))
    }

    fn send_raw(
        &self,
        req: &Req,
        url: &str,
        auth: Option<&str>,
    ) -> Result<Response<ureq::Body>, Failure> {
        let mut b = ureq::http::Request::builder()
            .method(req.method.clone())
            .uri(url);
        for (k, v) in &req.headers {
            b = b.header(*k, v.as_str());
        }
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        let transport = |e: ureq::Error| Failure::Transport(e.to_string());
        let bad = |e: ureq::http::Error| {
            Failure::Fatal(Error::invalid(format!(
                "cannot build request for {url}: {e}"
            )))
        };
        match &req.body {
            Body::Empty => {
                if matches!(req.method, Method::PUT | Method::POST | Method::PATCH) {
                    let r = b.header("Content-Length", "0").body(&[][..]).map_err(bad)?;
                    self.agent.run(r).map_err(transport)
                } else {
                    let r = b.body(()).map_err(bad)?;
                    self.agent.run(r).map_err(transport)
                }
            }
            Body::Bytes(bytes) => {
                let r = b
                    .header("Content-Length", bytes.len().to_string())
                    .body(*bytes)
                    .map_err(bad)?;
                self.agent.run(r).map_err(transport)
            }
            Body::Stream { len, open } => {
                let mut reader =
                    open().map_err(|e| Failure::Fatal(Error::io("cannot read blob source", e)))?;
                let r = b
                    .header("Content-Length", len.to_string())
                    .body(ureq::SendBody::from_reader(&mut reader))
                    .map_err(bad)?;
                self.agent.run(r).map_err(transport)
            }
        }
    }

    /// Decodes an error response into one line:
    /// `registry <host> refused <action>: CODE: message (detail)`.
    pub(crate) fn error_from(
        &self,
        host: &str,
        action: &str,
        mut resp: Response<ureq::Body>,
    ) -> Error {
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(256 << 10)
            .read_to_vec()
            .unwrap_or_default();
        let parsed: Option<ErrorsBody> = serde_json::from_slice(&body).ok();
        let mut codes = Vec::new();
        let what = match parsed.filter(|p| !p.errors.is_empty()) {
            Some(p) => p
                .errors
                .iter()
                .map(|e| {
                    codes.push(e.code.clone());
                    let mut s = format!("{}: {}", e.code, e.message);
                    let detail = match &e.detail {
                        None | Some(serde_json::Value::Null) => String::new(),
                        Some(serde_json::Value::String(d)) => d.clone(),
                        Some(serde_json::Value::Array(a)) if a.is_empty() => String::new(),
                        Some(serde_json::Value::Object(o)) if o.is_empty() => String::new(),
                        Some(d) => d.to_string(),
                    };
                    if !detail.is_empty() {
                        s.push_str(&format!(
                            " ({})",
                            detail.chars().take(200).collect::<String>()
                        ));
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join("; "),
            None => format!(
                "HTTP {status}{}",
                if body.is_empty() {
                    String::new()
                } else {
                    format!(": {}", snippet(&body))
                }
            ),
        };
        let kind = if codes.iter().any(|c| c == "DENIED") || status == 403 {
            ErrorKind::Denied
        } else if status == 404 || codes.iter().any(|c| c.ends_with("_UNKNOWN")) {
            ErrorKind::NotFound
        } else if status == 401 {
            ErrorKind::Auth
        } else if codes.iter().any(|c| c == "DIGEST_INVALID") {
            ErrorKind::DigestMismatch
        } else {
            ErrorKind::Registry
        };
        Error::new(kind, format!("registry {host} refused {action}: {what}"))
    }
}

fn basic(creds: &HostCredentials) -> Option<String> {
    match creds {
        HostCredentials::Basic { username, password } => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
        )),
        _ => None,
    }
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    s.chars().take(200).collect()
}

fn pem_certs(pem: &[u8]) -> std::result::Result<Vec<Certificate<'static>>, String> {
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_locations() {
        let base = "http://127.0.0.1:5000/v2/a/blobs/uploads/";
        assert_eq!(
            resolve(base, "/v2/a/blobs/uploads/u?_state=x"),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u?_state=x"
        );
        assert_eq!(resolve(base, "https://s3/x?sig=1"), "https://s3/x?sig=1");
        assert_eq!(
            resolve(base, "u1?q=1"),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?q=1"
        );
        assert_eq!(
            add_query("http://h/u?_state=x", "digest=sha256%3Aab"),
            "http://h/u?_state=x&digest=sha256%3Aab"
        );
        assert_eq!(origin("https://h:1/v2/x?y"), "https://h:1");
        assert_eq!(next_offset("0-0"), Some(0));
        assert_eq!(next_offset("0-1023"), Some(1024));
        assert_eq!(next_offset("bytes=0-9"), Some(10));
        assert_eq!(next_offset("junk"), None);
        assert_eq!(
            enc("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
