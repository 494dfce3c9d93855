//! The fake Hugging Face Hub (`integration/fakehub/`) for one test.
//!
//! [`FakeHub::start`] runs `fakehub.py` as a child process on fresh ports
//! of 127.0.0.1 with its own repositories directory; dropping the value
//! stops it (SIGTERM, then SIGKILL) and removes the directory. The child
//! also exits by itself when the test process dies, because it watches its
//! stdin (`--exit-on-stdin-eof`), whose write end only this process holds.
//!
//! Repositories are made with `make_repo.py` (deterministic commits, one
//! minute apart from 2026-01-01T00:00:00Z), and the test controls
//! (`/_fake/fail`, `/_fake/stats`, `/_fake/reset-stats`) are reached over
//! plain HTTP/1.1 on 127.0.0.1: no HTTP client crate is needed.
//!
//! The hub port also serves a plain directory for http(s) URL sources:
//! [`FakeHub::put_file`] writes a file there and returns its URL
//! (`/files/<path>`); [`FakeHub::redirect_url`] reaches it after redirects.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fs::TempDir;

/// How long the hub may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// `integration/fakehub/` in this checkout.
pub fn fakehub_dir() -> PathBuf {
    crate::repo_root().join("integration/fakehub")
}

/// A running fake Hub with its own repositories directory.
#[derive(Debug)]
pub struct FakeHub {
    child: Option<Child>,
    /// Kept open: the hub exits when it is closed (on drop, or when the
    /// test process dies).
    stdin: Option<ChildStdin>,
    /// Base URL of the Hub API and resolve endpoints, `http://127.0.0.1:P`.
    pub endpoint: String,
    /// Base URL of the CDN that serves LFS files, `http://127.0.0.1:Q`.
    pub cdn: String,
    dir: TempDir,
    repos: PathBuf,
    files: PathBuf,
    log: PathBuf,
    staged: std::cell::Cell<u64>,
}

/// One request the hub saw (`/_fake/stats` → `requests`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubRequest {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// Raw (percent-encoded) path, without the query.
    pub path: String,
    /// Raw query string (may be empty).
    pub query: String,
    /// Response status (None when no response was sent).
    pub status: Option<u16>,
    /// `hub` or `cdn`.
    pub port: String,
    /// Whether an `Authorization` header was present (its value is never
    /// recorded).
    pub auth: bool,
    /// The `Range` header.
    pub range: Option<String>,
    /// The `If-None-Match` header.
    pub if_none_match: Option<String>,
}

impl HubRequest {
    /// Whether the response carried a file body: a 200 or 206 to a `GET`
    /// on the CDN or on resolve-cache, or a direct 200 from resolve.
    pub fn downloaded_a_body(&self) -> bool {
        self.method == "GET"
            && matches!(self.status, Some(200) | Some(206))
            && (self.port == "cdn"
                || self.path.starts_with("/api/resolve-cache/")
                || self.path.contains("/resolve/"))
    }

    /// `port METHOD path?query -> status [auth] [If-None-Match: …]`.
    pub fn line(&self) -> String {
        let mut s = format!("{} {} {}", self.port, self.method, self.path);
        if !self.query.is_empty() {
            let _ = write!(s, "?{}", self.query);
        }
        match self.status {
            Some(st) => {
                let _ = write!(s, " -> {st}");
            }
            None => s.push_str(" -> (no response)"),
        }
        if self.auth {
            s.push_str(" [auth]");
        }
        if let Some(r) = &self.range {
            let _ = write!(s, " [Range: {r}]");
        }
        if let Some(e) = &self.if_none_match {
            let _ = write!(s, " [If-None-Match: {e}]");
        }
        s
    }
}

/// What the hub recorded since it started or since the last reset.
#[derive(Clone, Debug, Default)]
pub struct HubStats {
    /// Every request in the order the responses were sent.
    pub requests: Vec<HubRequest>,
    /// Requests that reached a handler, per resource: `api:<repo>`,
    /// `tree:<repo>`, `resolve:<repo>:<path>`, `resolve-cache:<repo>:<path>`,
    /// `cdn:<sha256>`.
    pub counts: BTreeMap<String, u64>,
}

impl HubStats {
    /// A counter, 0 when absent.
    pub fn count(&self, key: &str) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }

    /// Requests that carried a file body (see [`HubRequest::downloaded_a_body`]).
    pub fn body_downloads(&self) -> Vec<&HubRequest> {
        self.requests
            .iter()
            .filter(|r| r.downloaded_a_body())
            .collect()
    }

    /// CDN `GET`s answered with 200 or 206, keyed by the sha256 in their path.
    pub fn cdn_body_gets(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for r in &self.requests {
            if r.port == "cdn" && r.method == "GET" && matches!(r.status, Some(200) | Some(206)) {
                let sha = r.path.rsplit('/').next().unwrap_or("").to_string();
                *m.entry(sha).or_insert(0) += 1;
            }
        }
        m
    }

    /// One line per request, for messages.
    pub fn describe(&self) -> String {
        let mut s = format!("{} request(s) seen by the fake hub:\n", self.requests.len());
        for r in &self.requests {
            let _ = writeln!(s, "  {}", r.line());
        }
        s
    }
}

impl FakeHub {
    /// Starts a hub with an empty repositories directory.
    pub fn start() -> FakeHub {
        let dir = TempDir::new("fakehub");
        let repos = dir.join("repos");
        std::fs::create_dir_all(&repos).expect("create repos dir");
        let files = dir.join("files");
        std::fs::create_dir_all(&files).expect("create files dir");
        let state = dir.join("state.json");
        let log = dir.join("fakehub.log");
        let log_file = std::fs::File::create(&log).expect("create fakehub log");
        let script = fakehub_dir().join("fakehub.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg("--repos")
            .arg(&repos)
            .arg("--files")
            .arg(&files)
            .args([
                "--port",
                "0",
                "--cdn-port",
                "0",
                "--exit-on-stdin-eof",
                "--state-file",
            ])
            .arg(&state)
            .env("PATH", crate::engine::tool_path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
        let stdin = child.stdin.take();
        let started = Instant::now();
        let info: Value = loop {
            if let Ok(bytes) = std::fs::read(&state) {
                if let Ok(v) = serde_json::from_slice(&bytes) {
                    break v;
                }
            }
            if let Some(status) = child.try_wait().expect("wait for fakehub") {
                panic!(
                    "fakehub exited before listening ({status}); its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "fakehub did not write {} within {START_TIMEOUT:?}; its log:\n{}",
                    state.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let endpoint = info["endpoint"]
            .as_str()
            .expect("state file endpoint")
            .to_string();
        let cdn = info["cdn"].as_str().expect("state file cdn").to_string();
        for url in [&endpoint, &cdn] {
            assert!(
                url.starts_with("http://127.0.0.1:"),
                "fakehub must listen on 127.0.0.1 only, got {url}"
            );
        }
        FakeHub {
            child: Some(child),
            stdin,
            endpoint,
            cdn,
            dir,
            repos,
            files,
            log,
            staged: std::cell::Cell::new(0),
        }
    }

    /// The repositories directory the hub serves.
    pub fn repos_dir(&self) -> &Path {
        &self.repos
    }

    /// The hub's request log (one line per request; tokens are never logged).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `{endpoint}/{repo}`: the repo's web page, as in `descriptor.sourceURL`.
    pub fn web_url(&self, repo: &str) -> String {
        format!("{}/{repo}", self.endpoint)
    }

    // ------------------------------------------------------ plain files ---

    /// Writes `bytes` at `path` (`/`-separated, as it appears in URLs,
    /// unencoded) of the plain file server; returns its URL.
    pub fn put_file(&self, path: &str, bytes: &[u8]) -> String {
        crate::fs::write_file(&self.files, path, bytes);
        self.file_url(path)
    }

    /// `{endpoint}/files/<path>`, each segment percent-encoded.
    pub fn file_url(&self, path: &str) -> String {
        format!("{}/files/{}", self.endpoint, encode_path(path))
    }

    /// A URL that reaches [`FakeHub::file_url`] after `hops` (≥ 1) 302
    /// redirects: `{endpoint}/redirect/<hops>/<path>`.
    pub fn redirect_url(&self, hops: u32, path: &str) -> String {
        format!("{}/redirect/{hops}/{}", self.endpoint, encode_path(path))
    }

    // ------------------------------------------------------------ repos ---

    /// Creates model repo `org/name` with one commit on `main` holding
    /// `files`; `config` becomes its `repo.json` (e.g. `{"gated": "manual",
    /// "tokens": [...]}`). Returns the commit id.
    pub fn create_repo<P: AsRef<str>, B: AsRef<[u8]>>(
        &self,
        repo: &str,
        files: impl IntoIterator<Item = (P, B)>,
        config: Option<Value>,
    ) -> String {
        let changes: Vec<(String, Option<Vec<u8>>)> = files
            .into_iter()
            .map(|(p, b)| (p.as_ref().to_string(), Some(b.as_ref().to_vec())))
            .collect();
        let spec = self.stage(&changes);
        let mut args = vec![
            "create".to_string(),
            repo.to_string(),
            "--files-json".into(),
            spec.display().to_string(),
        ];
        if let Some(c) = config {
            args.push("--config".into());
            args.push(c.to_string());
        }
        self.make_repo(&args)["commit"]
            .as_str()
            .expect("commit in make_repo output")
            .to_string()
    }

    /// Creates dataset repo `datasets/org/name` with one commit on `main`
    /// holding `files`. Returns the commit id.
    pub fn create_dataset<P: AsRef<str>, B: AsRef<[u8]>>(
        &self,
        repo: &str,
        files: impl IntoIterator<Item = (P, B)>,
    ) -> String {
        let changes: Vec<(String, Option<Vec<u8>>)> = files
            .into_iter()
            .map(|(p, b)| (p.as_ref().to_string(), Some(b.as_ref().to_vec())))
            .collect();
        let spec = self.stage(&changes);
        let args = vec![
            "create".to_string(),
            repo.to_string(),
            "--kind".into(),
            "datasets".into(),
            "--files-json".into(),
            spec.display().to_string(),
        ];
        self.make_repo(&args)["commit"]
            .as_str()
            .expect("commit in make_repo output")
            .to_string()
    }

    /// Creates repo `org/name` from the files under `dir` (as they are).
    pub fn create_repo_from_dir(&self, repo: &str, dir: &Path, config: Option<Value>) -> String {
        let mut args = vec![
            "create".to_string(),
            repo.to_string(),
            "--files-dir".into(),
            dir.display().to_string(),
        ];
        if let Some(c) = config {
            args.push("--config".into());
            args.push(c.to_string());
        }
        self.make_repo(&args)["commit"]
            .as_str()
            .expect("commit in make_repo output")
            .to_string()
    }

    /// Adds a commit to `branch` (created when missing, starting from
    /// `parent`, else empty); `None` deletes a path. Returns the commit id.
    pub fn commit<P: AsRef<str>>(
        &self,
        repo: &str,
        branch: &str,
        parent: Option<&str>,
        changes: impl IntoIterator<Item = (P, Option<Vec<u8>>)>,
    ) -> String {
        let changes: Vec<(String, Option<Vec<u8>>)> = changes
            .into_iter()
            .map(|(p, b)| (p.as_ref().to_string(), b))
            .collect();
        let spec = self.stage(&changes);
        let mut args = vec![
            "commit".to_string(),
            repo.to_string(),
            "--branch".into(),
            branch.to_string(),
            "--files-json".into(),
            spec.display().to_string(),
        ];
        if let Some(p) = parent {
            args.push("--parent".into());
            args.push(p.to_string());
        }
        self.make_repo(&args)["commit"]
            .as_str()
            .expect("commit in make_repo output")
            .to_string()
    }

    /// Points branch (or, with `tag`, tag) `name` at revision `rev`.
    pub fn set_ref(&self, repo: &str, name: &str, rev: &str, tag: bool) {
        let mut args = vec![
            "ref".to_string(),
            repo.to_string(),
            name.to_string(),
            rev.to_string(),
        ];
        if tag {
            args.push("--tag".into());
        }
        self.make_repo(&args);
    }

    /// Changes `repo.json` (a `null` value removes a key).
    pub fn update_config(&self, repo: &str, settings: Value) {
        self.make_repo(&["config".to_string(), repo.to_string(), settings.to_string()]);
    }

    /// The date the hub gives a commit (`lastModified`), from `refs.json`.
    pub fn commit_date(&self, repo: &str, commit: &str) -> String {
        let path = self.repos.join("models").join(repo).join("refs.json");
        let refs: Value = serde_json::from_slice(
            &std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
        )
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        refs["commit_dates"][commit]
            .as_str()
            .unwrap_or_else(|| panic!("no date for commit {commit} in {}", path.display()))
            .to_string()
    }

    /// Writes the contents to files and a `--files-json` spec pointing at them.
    fn stage(&self, changes: &[(String, Option<Vec<u8>>)]) -> PathBuf {
        let n = self.staged.get();
        self.staged.set(n + 1);
        let dir = self.dir.join(format!("staged-{n}"));
        std::fs::create_dir_all(&dir).expect("create staging dir");
        let mut spec = serde_json::Map::new();
        for (i, (path, bytes)) in changes.iter().enumerate() {
            let v = match bytes {
                Some(b) => {
                    let f = dir.join(format!("{i}"));
                    std::fs::write(&f, b).unwrap_or_else(|e| panic!("write {}: {e}", f.display()));
                    json!({"file": f.display().to_string()})
                }
                None => Value::Null,
            };
            spec.insert(path.clone(), v);
        }
        let file = dir.join("files.json");
        std::fs::write(&file, Value::Object(spec).to_string()).expect("write files.json");
        file
    }

    fn make_repo(&self, args: &[String]) -> Value {
        let script = fakehub_dir().join("make_repo.py");
        let out = Command::new("python3")
            .arg(&script)
            .arg("--repos")
            .arg(&self.repos)
            .args(args)
            .env("PATH", crate::engine::tool_path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "make_repo.py {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().unwrap_or("");
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("make_repo.py {args:?} printed no JSON ({e}): {text}"))
    }

    // --------------------------------------------------------- controls ---

    /// `POST /_fake/fail` with `rule` (`path_contains`, `status`, `count`,
    /// optional `method`, `port`, `retry_after`, `truncate_after`).
    pub fn fail(&self, rule: Value) {
        let (status, body) = self.http("POST", "/_fake/fail", Some(&rule));
        assert_eq!(
            status,
            200,
            "POST /_fake/fail {rule}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// `POST /_fake/reset`: removes all failure rules.
    pub fn reset_failures(&self) {
        let (status, _) = self.http("POST", "/_fake/reset", None);
        assert_eq!(status, 200, "POST /_fake/reset");
    }

    /// `POST /_fake/reset-stats`.
    pub fn reset_stats(&self) {
        let (status, _) = self.http("POST", "/_fake/reset-stats", None);
        assert_eq!(status, 200, "POST /_fake/reset-stats");
    }

    /// `GET /_fake/stats`.
    pub fn stats(&self) -> HubStats {
        let (status, body) = self.http("GET", "/_fake/stats", None);
        assert_eq!(
            status,
            200,
            "GET /_fake/stats: {}",
            String::from_utf8_lossy(&body)
        );
        let v: Value = serde_json::from_slice(&body).expect("stats JSON");
        let text = |x: &Value| x.as_str().map(str::to_string);
        let requests = v["requests"]
            .as_array()
            .expect("stats requests")
            .iter()
            .map(|r| HubRequest {
                method: text(&r["method"]).unwrap_or_default(),
                path: text(&r["path"]).unwrap_or_default(),
                query: text(&r["query"]).unwrap_or_default(),
                status: r["status"].as_u64().map(|s| s as u16),
                port: text(&r["port"]).unwrap_or_default(),
                auth: r["auth"].as_bool().unwrap_or(false),
                range: text(&r["range"]),
                if_none_match: text(&r["if_none_match"]),
            })
            .collect();
        let counts = v["counts"]
            .as_object()
            .expect("stats counts")
            .iter()
            .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
            .collect();
        HubStats { requests, counts }
    }

    /// One HTTP/1.1 request to the hub port, `Connection: close`.
    fn http(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Vec<u8>) {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream =
            TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to fakehub {addr}: {e}"));
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
            payload.len()
        );
        stream
            .write_all(request.as_bytes())
            .expect("send request to fakehub");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read fakehub response");
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("HTTP response header end");
        let head = String::from_utf8_lossy(&raw[..split]);
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line from fakehub: {head}"));
        (status, raw[split + 4..].to_vec())
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF: the hub stops by itself
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
    }
}

/// Percent-encodes each segment of a `/`-separated path (all but
/// unreserved characters).
fn encode_path(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A repo id no other test uses: `org/<prefix>-<pid>-<n>-<nanos>`.
pub fn unique_repo(prefix: &str) -> String {
    format!("org/{}", crate::unique_name(prefix))
}
