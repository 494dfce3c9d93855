//! Test registries and helpers: real `docker-registry` processes on
//! 127.0.0.1 random ports in temp dirs (plain HTTP; Basic auth over TLS;
//! Bearer token auth with a token server thread), loopback proxies that
//! count, cut or refuse requests, and a hand-written OCI layout.
//! Every process is killed on drop and bounded by `timeout`. Enabled by
//! the `test-support` feature; helpers panic on setup failures (they are
//! for tests only).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

/// Longest a test registry may live (seconds), in case the test process dies.
const LIFETIME_SECS: u32 = 900;

/// User accepted by the Basic and token registries.
pub const USER: &str = "tester";
/// That user's password.
pub const PASSWORD: &str = "s3cret-pass";

/// True when `prog` is on `PATH`.
pub fn which(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

/// True when `prog` is on `PATH`. When it is not, a test skips (false is
/// returned after saying so) on a developer's machine, but fails on CI
/// (`CI=true`), where a missing tool means a broken set-up, not a pass.
pub fn require_tool(prog: &str) -> bool {
    which(prog) || skip_without(prog)
}

/// Says a test (or part of one) is skipped because `what` is missing and
/// returns false; panics instead when `CI=true`.
pub fn skip_without(what: &str) -> bool {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is not installed; CI=true forbids skipping the test that needs it");
    }
    eprintln!("{what} is not installed; skipping");
    false
}

/// A free port on 127.0.0.1 (racy but fine for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "docker-registry exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "docker-registry did not listen on {port}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running docker-registry.
pub struct Registry {
    child: Child,
    /// Temp dir with config, storage, certificates and `registry.log`.
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub host: String,
    /// CA that signed the server certificate (TLS registries).
    pub ca: Option<PathBuf>,
    /// Serves HTTPS.
    pub tls: bool,
    /// The token server, for token-auth registries.
    pub token_server: Option<TokenServer>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        // SIGTERM to `timeout` is passed on to docker-registry; a SIGKILL
        // would end `timeout` alone and leave the registry running.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    fn start(
        dir: tempfile::TempDir,
        port: u16,
        http_extra: &str,
        auth: &str,
        ca: Option<PathBuf>,
        tls: bool,
    ) -> Registry {
        let root = dir.path().join("storage");
        std::fs::create_dir_all(&root).unwrap();
        let cfg = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test-secret-{port}\n{http_extra}{auth}",
            root.display()
        );
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let log_path = dir.path().join("registry.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child = Command::new("timeout")
            .arg(LIFETIME_SECS.to_string())
            .arg("docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        wait_listening(port, &mut child, &log_path);
        Registry {
            child,
            dir,
            host: format!("127.0.0.1:{port}"),
            ca,
            tls,
            token_server: None,
        }
    }

    /// Anonymous registry over plain HTTP.
    pub fn plain() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        Registry::start(dir, free_port(), "", "", None, false)
    }

    /// Basic auth (htpasswd, bcrypt) over TLS with a test CA.
    pub fn basic_tls() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_ca_and_server_cert(d);
        let hash = bcrypt::hash(PASSWORD, 5).unwrap();
        std::fs::write(d.join("htpasswd"), format!("{USER}:{hash}\n")).unwrap();
        let tls = format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            d.join("server.crt").display(),
            d.join("server.key").display()
        );
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
            d.join("htpasswd").display()
        );
        let ca = d.join("ca.crt");
        Registry::start(dir, free_port(), &tls, &auth, Some(ca), true)
    }

    /// Bearer token auth over plain HTTP, with a token server that checks
    /// Basic credentials and signs RS256 JWTs carrying an `x5c` chain.
    pub fn token() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "tok.key",
            ],
        );
        openssl(
            d,
            &[
                "pkcs8", "-topk8", "-nocrypt", "-in", "tok.key", "-outform", "DER", "-out",
                "tok.pk8",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "tok.key",
                "-subj",
                "/CN=test-token-issuer",
                "-days",
                "2",
                "-out",
                "tok.crt",
            ],
        );
        openssl(
            d,
            &[
                "x509", "-in", "tok.crt", "-outform", "DER", "-out", "tok.der",
            ],
        );
        let ts = TokenServer::start(
            std::fs::read(d.join("tok.pk8")).unwrap(),
            std::fs::read(d.join("tok.der")).unwrap(),
        );
        let auth = format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
            ts.addr,
            d.join("tok.crt").display()
        );
        let mut r = Registry::start(dir, free_port(), "", &auth, None, false);
        r.token_server = Some(ts);
        r
    }
}

fn make_ca_and_server_cert(d: &Path) {
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=oci-registry test CA",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n").unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

/// A token server thread: `GET /token?service=&scope=…` with Basic auth.
pub struct TokenServer {
    /// Listening address.
    pub addr: SocketAddr,
    /// Token requests served.
    pub requests: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl TokenServer {
    /// Serves tokens signed by the PKCS#8 RSA key, with `cert_der` as `x5c`.
    pub fn start(pkcs8: Vec<u8>, cert_der: Vec<u8>) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let key = Arc::new(ring::signature::RsaKeyPair::from_pkcs8(&pkcs8).expect("RSA pkcs8 key"));
        let (stop2, req2) = (stop.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (key, cert) = (key.clone(), cert_der.clone());
                req2.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let _ = serve_token(conn, &key, &cert);
                });
            }
        });
        TokenServer {
            addr,
            requests,
            stop,
        }
    }
}

fn serve_token(
    mut conn: TcpStream,
    key: &ring::signature::RsaKeyPair,
    cert: &[u8],
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut auth = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                auth = Some(v.trim().to_string());
            }
        }
    }
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let reply = |conn: &mut TcpStream, status: &str, body: &str| {
        write!(conn, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
    };
    if auth.as_deref() != Some(expected.as_str()) {
        return reply(
            &mut conn,
            "401 Unauthorized",
            r#"{"details":"bad credentials"}"#,
        );
    }
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut service = String::new();
    let mut access = Vec::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = pct_decode(v);
        match k {
            "service" => service = v,
            "scope" => {
                for scope in v.split(' ') {
                    let parts: Vec<&str> = scope.splitn(3, ':').collect();
                    if parts.len() == 3 {
                        let (kind, rest) = (parts[0], format!("{}:{}", parts[1], parts[2]));
                        let (name, actions) = rest.rsplit_once(':').unwrap();
                        access.push(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}));
                    }
                }
            }
            _ => {}
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [base64::engine::general_purpose::STANDARD.encode(cert)]});
    let claims = serde_json::json!({
        "iss": "test-issuer", "sub": USER, "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("{now}-{}", rand_u64()), "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    let jwt = format!("{signing_input}.{}", b64url(&sig));
    let body =
        serde_json::json!({"token": jwt, "expires_in": 300, "issued_at": "2026-01-01T00:00:00Z"})
            .to_string();
    reply(&mut conn, "200 OK", &body)
}

fn rand_u64() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        ^ 0x9e37_79b9_7f4a_7c15
}

/// What a [`Proxy`] does to requests.
#[derive(Clone, Copy, Debug)]
pub enum ProxyRule {
    /// Forward everything.
    Pass,
    /// Once the client has sent this many bytes in total, cut both
    /// connections (once).
    CutOnceAt(u64),
    /// Answer every PATCH with 405 (after reading its body).
    RefusePatch,
    /// Lose the n-th PATCH (1-based) before it reaches the registry: read
    /// its head and half its body from the client, then close.
    DropNthPatch(u64),
    /// Once the registry has sent this many bytes to the client in total
    /// (heads and bodies), cut both connections (once): a download
    /// interrupted mid-blob.
    CutDownloadOnceAt(u64),
    /// Remove `Range` headers from requests, as a registry (or proxy)
    /// that ignores ranges: the full blob comes back with 200.
    StripRange,
}

/// A loopback HTTP proxy in front of a registry (one request per
/// connection; `Connection: close` is forced upstream).
pub struct Proxy {
    /// Listening address.
    pub addr: SocketAddr,
    /// Bytes the client sent upstream (heads and bodies).
    pub upstream_bytes: Arc<AtomicU64>,
    /// Requests seen, as "METHOD path".
    pub requests: Arc<std::sync::Mutex<Vec<String>>>,
    /// Set once the rule cut or dropped a request.
    pub cut_done: Arc<AtomicBool>,
    /// Bytes the registry sent back (heads and bodies).
    pub downstream_bytes: Arc<AtomicU64>,
    /// `Range` headers of requests, as "METHOD path range".
    pub ranges: Arc<std::sync::Mutex<Vec<String>>>,
    patches: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

impl Proxy {
    /// `127.0.0.1:<port>`, to use as registry host.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Proxies to `upstream` (`host:port`) applying `rule`.
    pub fn start(upstream: &str, rule: ProxyRule) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let p = Proxy {
            addr,
            upstream_bytes: Arc::default(),
            requests: Arc::default(),
            cut_done: Arc::default(),
            downstream_bytes: Arc::default(),
            ranges: Arc::default(),
            patches: Arc::default(),
            stop: Arc::default(),
        };
        let (bytes, reqs, cut, stop) = (
            p.upstream_bytes.clone(),
            p.requests.clone(),
            p.cut_done.clone(),
            p.stop.clone(),
        );
        let patches = p.patches.clone();
        let (down, ranges) = (p.downstream_bytes.clone(), p.ranges.clone());
        let upstream = upstream.to_string();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (bytes, reqs, cut, upstream) =
                    (bytes.clone(), reqs.clone(), cut.clone(), upstream.clone());
                let patches = patches.clone();
                let (down, ranges) = (down.clone(), ranges.clone());
                std::thread::spawn(move || {
                    let seen = Seen {
                        bytes: &bytes,
                        reqs: &reqs,
                        cut: cut.clone(),
                        patches: &patches,
                        down: down.clone(),
                        ranges: &ranges,
                    };
                    let _ = proxy_conn(conn, &upstream, rule, seen);
                });
            }
        });
        p
    }
}

/// What a [`Proxy`] counts and records, shared by its connections.
struct Seen<'a> {
    bytes: &'a AtomicU64,
    reqs: &'a std::sync::Mutex<Vec<String>>,
    cut: Arc<AtomicBool>,
    patches: &'a AtomicU64,
    down: Arc<AtomicU64>,
    ranges: &'a std::sync::Mutex<Vec<String>>,
}

/// Copies the registry's answer to the client, counting bytes in `down`;
/// with `cut_at`, cuts both connections once `down` passes it (once, by `cut`).
fn copy_back(
    mut up: TcpStream,
    mut client: TcpStream,
    down: &AtomicU64,
    cut_at: Option<u64>,
    cut: &AtomicBool,
) {
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = match up.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let before = down.fetch_add(n as u64, Ordering::SeqCst);
        if let Some(at) = cut_at {
            if before + n as u64 > at && !cut.swap(true, Ordering::SeqCst) {
                let keep = at.saturating_sub(before) as usize;
                let _ = client.write_all(&buf[..keep]);
                let _ = client.flush();
                let _ = up.shutdown(Shutdown::Both);
                break;
            }
        }
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

fn proxy_conn(
    mut client: TcpStream,
    upstream: &str,
    rule: ProxyRule,
    seen: Seen<'_>,
) -> std::io::Result<()> {
    let Seen {
        bytes,
        reqs,
        cut,
        patches,
        down,
        ranges,
    } = seen;
    // Read the request head.
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut tmp)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("").to_string();
    let mut headers: Vec<String> = lines.filter(|l| !l.is_empty()).map(String::from).collect();
    let method = request_line
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    reqs.lock().unwrap().push(format!("{method} {path}"));
    let content_length: u64 = headers
        .iter()
        .find_map(|h| {
            h.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    let patch_no = if method == "PATCH" {
        patches.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        0
    };
    if let ProxyRule::DropNthPatch(n) = rule {
        if patch_no == n && !cut.swap(true, Ordering::SeqCst) {
            let mut left = (content_length / 2).saturating_sub((buf.len() - head_end) as u64);
            while left > 0 {
                let n = client.read(&mut tmp)?;
                if n == 0 {
                    break;
                }
                left = left.saturating_sub(n as u64);
            }
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
    if matches!(rule, ProxyRule::RefusePatch) && method == "PATCH" {
        let mut left = content_length.saturating_sub((buf.len() - head_end) as u64);
        while left > 0 {
            let n = client.read(&mut tmp)?;
            if n == 0 {
                break;
            }
            left = left.saturating_sub(n as u64);
        }
        let body = r#"{"errors":[{"code":"UNSUPPORTED","message":"chunked uploads are not supported here"}]}"#;
        write!(client, "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
        return Ok(());
    }
    if let Some(r) = headers
        .iter()
        .find(|h| h.to_ascii_lowercase().starts_with("range:"))
    {
        ranges
            .lock()
            .unwrap()
            .push(format!("{method} {path} {}", r[6..].trim()));
    }
    if matches!(rule, ProxyRule::StripRange) {
        headers.retain(|h| !h.to_ascii_lowercase().starts_with("range:"));
    }
    headers.retain(|h| !h.to_ascii_lowercase().starts_with("connection:"));
    headers.push("Connection: close".into());
    let mut out = format!("{request_line}\r\n");
    for h in &headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut up = TcpStream::connect(upstream)?;
    let (up_r, client_w) = (up.try_clone()?, client.try_clone()?);
    let cut_at = match rule {
        ProxyRule::CutDownloadOnceAt(at) if !cut.load(Ordering::SeqCst) => Some(at),
        _ => None,
    };
    let cut_back = cut.clone();
    let back = std::thread::spawn(move || copy_back(up_r, client_w, &down, cut_at, &cut_back));
    let mut first = out.into_bytes();
    first.extend_from_slice(&buf[head_end..]);
    let mut pending = first;
    loop {
        if !pending.is_empty() {
            let n = pending.len() as u64;
            let before = bytes.fetch_add(n, Ordering::SeqCst);
            if let ProxyRule::CutOnceAt(at) = rule {
                if before + n > at && !cut.swap(true, Ordering::SeqCst) {
                    let keep = at.saturating_sub(before) as usize;
                    bytes.fetch_sub(n - keep as u64, Ordering::SeqCst);
                    up.write_all(&pending[..keep])?;
                    up.flush()?;
                    std::thread::sleep(Duration::from_millis(50));
                    let _ = up.shutdown(Shutdown::Both);
                    let _ = client.shutdown(Shutdown::Both);
                    let _ = back.join();
                    return Ok(());
                }
            }
            up.write_all(&pending)?;
        }
        let n = match client.read(&mut tmp) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending = tmp[..n].to_vec();
    }
    let _ = up.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

/// Deterministic pseudo-random bytes.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(b))
}

/// Writes an OCI layout with one manifest named `name` (config + the given
/// layers) and returns the manifest digest.
pub fn write_layout(dir: &Path, name: &str, layers: &[Vec<u8>]) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let h = sha256_hex(b);
        std::fs::write(blobs.join(&h), b).unwrap();
        format!("sha256:{h}")
    };
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = put(config);
    let layer_descs: Vec<_> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": put(l), "size": l.len(),
                "annotations": {"org.opencontainers.image.title": format!("file{i}.bin")}
            })
        })
        .collect();
    // Exact bytes: key order as written, compact.
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":{}}}"#,
        config.len(),
        serde_json::to_string(&layer_descs).unwrap()
    );
    let mdigest = put(manifest.as_bytes());
    let mut ann = BTreeMap::new();
    ann.insert("org.opencontainers.image.ref.name", name);
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": manifest.len(), "annotations": ann}
    ]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    mdigest
}

/// Every file under `dir/blobs`, by relative path, with contents.
pub fn blobs_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for alg in std::fs::read_dir(dir.join("blobs")).unwrap() {
        let alg = alg.unwrap().path();
        for f in std::fs::read_dir(&alg).unwrap() {
            let f = f.unwrap().path();
            out.insert(
                format!(
                    "{}/{}",
                    alg.file_name().unwrap().to_string_lossy(),
                    f.file_name().unwrap().to_string_lossy()
                ),
                std::fs::read(&f).unwrap(),
            );
        }
    }
    out
}
pub mod fake;
