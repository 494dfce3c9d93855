//! Protocol edge cases against scripted fake servers on 127.0.0.1: no
//! daemon needed, so these run in plain `cargo test`.

use oci_registry::testing as support;

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use oci_registry::{Client, ClientOptions, Credentials, Digest, ErrorKind, PushOutcome, Reference};
use support::fake::{reply, FakeReq, FakeResp, FakeServer};

fn opts(credentials: Credentials) -> ClientOptions {
    ClientOptions {
        plain_http: true,
        credentials,
        retries: 3,
        retry_delay: Duration::from_millis(10),
        max_retry_delay: Duration::from_millis(300),
        // Retries do not really wait (see `recorded_sleeps` to check them).
        sleep: Some(Arc::new(|_| {})),
        ..Default::default()
    }
}

/// Options whose retry waits are recorded instead of slept.
fn recorded_sleeps(credentials: Credentials) -> (ClientOptions, Arc<Mutex<Vec<Duration>>>) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let record = waits.clone();
    let opts = ClientOptions {
        sleep: Some(Arc::new(move |d| record.lock().unwrap().push(d))),
        ..opts(credentials)
    };
    (opts, waits)
}

fn repo(host: &str) -> Reference {
    Reference::parse(&format!("{host}/org/repo:t")).unwrap()
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

#[test]
fn redirected_blob_get_sends_no_registry_auth_to_storage() {
    let blob = b"blob bytes from storage".to_vec();
    let digest = Digest::sha256_of(&blob);
    let b2 = blob.clone();
    let storage = FakeServer::start(move |_| reply(200, &[], b2.clone()));
    let storage_url = format!("http://{}/bucket/obj?X-Sig=abc", storage.host());
    let registry = FakeServer::start(move |req: &FakeReq| {
        if req.header("authorization") != Some(basic("u", "p").as_str()) {
            return reply(401, &[("WWW-Authenticate", r#"Basic realm="r""#)], "");
        }
        reply(307, &[("Location", storage_url.as_str())], "")
    });
    let client = Client::new(opts(Credentials::Basic {
        username: "u".into(),
        password: "p".into(),
    }))
    .unwrap();
    let mut out = Vec::new();
    client
        .pull_blob(&repo(&registry.host()), &digest, &mut out)
        .unwrap();
    assert_eq!(out, blob);
    let seen = storage.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/bucket/obj?X-Sig=abc");
    assert_eq!(
        seen[0].header("authorization"),
        None,
        "registry credentials leaked to storage"
    );
}

#[test]
fn retries_5xx_and_429_honouring_retry_after_bounded() {
    let n = Arc::new(AtomicU64::new(0));
    let n2 = n.clone();
    let server = FakeServer::start(move |_| match n2.fetch_add(1, Ordering::SeqCst) {
        0 => reply(503, &[("Retry-After", "0")], "busy"),
        1 => reply(
            429,
            &[("Retry-After", "100")],
            r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#,
        ),
        _ => reply(200, &[("Content-Length", "5")], ""),
    });
    let (opts, waits) = recorded_sleeps(Credentials::Anonymous);
    let client = Client::new(opts).unwrap();
    let size = client
        .blob_exists(&repo(&server.host()), &Digest::sha256_of(b"x"))
        .unwrap();
    assert_eq!(size, Some(5));
    assert_eq!(n.load(Ordering::SeqCst), 3);
    assert_eq!(
        std::mem::take(&mut *waits.lock().unwrap()),
        [Duration::ZERO, Duration::from_millis(300)],
        "Retry-After 0 is honoured, Retry-After 100 is capped at 300ms"
    );

    let always = FakeServer::start(|_| {
        reply(
            500,
            &[],
            r#"{"errors":[{"code":"UNKNOWN","message":"disk on fire","detail":{"x":1}}]}"#,
        )
    });
    let err = client.get_manifest(&repo(&always.host()), &[]).unwrap_err();
    assert_eq!(always.seen().len(), 4, "1 try + 3 retries");
    assert_eq!(
        *waits.lock().unwrap(),
        [10, 20, 40].map(Duration::from_millis),
        "the delay doubles from retry_delay"
    );
    assert_eq!(err.kind(), ErrorKind::Registry);
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "registry {} refused pull of manifest {}/org/repo:t: ",
            always.host(),
            always.host()
        )),
        "{msg}"
    );
    assert!(msg.contains(r#"UNKNOWN: disk on fire ({"x":1})"#), "{msg}");
}

/// A registry whose tokens expire after `uses` requests.
fn bearer_registry(token_host: String, uses: u64) -> (FakeServer, Arc<Mutex<String>>) {
    let current = Arc::new(Mutex::new(String::new()));
    let cur = current.clone();
    let count = Arc::new(AtomicU64::new(0));
    let server = FakeServer::start(move |req: &FakeReq| {
        let want = format!("Bearer {}", cur.lock().unwrap());
        let ok = req.header("authorization") == Some(want.as_str())
            && count.fetch_add(1, Ordering::SeqCst) % uses != uses - 1;
        if !ok {
            let ch = format!(
                r#"Bearer realm="http://{token_host}/token",service="svc",scope="repository:org/repo:pull""#
            );
            return reply(
                401,
                &[("WWW-Authenticate", ch.as_str())],
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}"#,
            );
        }
        if req.method == "POST" {
            return reply(201, &[], "");
        }
        if req.method == "HEAD" && req.path.contains(Digest::sha256_of(b"mount-me").hex()) {
            return reply(404, &[], "");
        }
        reply(200, &[("Content-Length", "3")], "")
    });
    (server, current)
}

#[test]
fn bearer_tokens_are_fetched_cached_and_renewed_once() {
    let issued = Arc::new(AtomicU64::new(0));
    let current: Arc<Mutex<Option<Arc<Mutex<String>>>>> = Arc::default();
    let (iss, cur) = (issued.clone(), current.clone());
    let token_server = FakeServer::start(move |req: &FakeReq| {
        if req.header("authorization") != Some(basic("alice", "pw").as_str()) {
            return reply(401, &[], r#"{"details":"nope"}"#);
        }
        let t = format!("tok-{}", iss.fetch_add(1, Ordering::SeqCst));
        if let Some(c) = cur.lock().unwrap().as_ref() {
            *c.lock().unwrap() = t.clone();
        }
        // Some servers answer access_token only.
        reply(
            200,
            &[("Content-Type", "application/json")],
            format!(r#"{{"access_token":"{t}","expires_in":60}}"#),
        )
    });
    let (registry, tok) = bearer_registry(token_server.host(), 3);
    *current.lock().unwrap() = Some(tok);
    let client = Client::new(opts(Credentials::Basic {
        username: "alice".into(),
        password: "pw".into(),
    }))
    .unwrap();
    let r = repo(&registry.host());
    let d = Digest::sha256_of(b"x");
    for _ in 0..4 {
        assert_eq!(client.blob_exists(&r, &d).unwrap(), Some(3));
    }
    // 1st: probe 401 → token; 2nd reuses it; 3rd: expired → one new token; 4th reuses.
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    let tq = &token_server.seen()[0];
    assert_eq!(
        tq.path,
        "/token?service=svc&scope=repository%3Aorg%2Frepo%3Apull"
    );

    // A mount asks for push on the target and pull on the source in one token.
    let m = Digest::sha256_of(b"mount-me");
    let out = client
        .push_blob(&r, &m, 8, &b"mount-me".to_vec(), Some("other/src"))
        .unwrap();
    assert_eq!(out, PushOutcome::Mounted);
    let paths: Vec<String> = token_server.seen().iter().map(|q| q.path.clone()).collect();
    assert!(
        paths.iter().any(|p| p.contains(
            "scope=repository%3Aorg%2Frepo%3Apull%2Cpush&scope=repository%3Aother%2Fsrc%3Apull"
        )),
        "{paths:?}"
    );

    let wrong = Client::new(opts(Credentials::Basic {
        username: "alice".into(),
        password: "bad".into(),
    }))
    .unwrap();
    let err = wrong.blob_exists(&r, &d).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert_eq!(
        err.to_string(),
        format!(
            "authentication failed for {} as alice; check the credentials",
            registry.host()
        )
    );
}

#[test]
fn identity_token_uses_oauth2_refresh_grant() {
    let token_server = FakeServer::start(|req: &FakeReq| {
        let body = String::from_utf8_lossy(&req.body);
        if req.method == "POST"
            && body.contains("grant_type=refresh_token")
            && body.contains("refresh_token=idtok")
        {
            reply(200, &[], r#"{"access_token":"good"}"#)
        } else {
            reply(401, &[], "")
        }
    });
    let th = token_server.host();
    let registry = FakeServer::start(move |req: &FakeReq| {
        if req.header("authorization") == Some("Bearer good") {
            reply(200, &[("Content-Length", "9")], "")
        } else {
            let ch = format!(r#"Bearer realm="http://{th}/token",service="svc""#);
            reply(401, &[("WWW-Authenticate", ch.as_str())], "")
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"idtok"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    let client = Client::new(opts(Credentials::DockerConfig(Some(cfg)))).unwrap();
    assert_eq!(
        client
            .blob_exists(&repo(&registry.host()), &Digest::sha256_of(b"x"))
            .unwrap(),
        Some(9)
    );
    let body = String::from_utf8(token_server.seen()[0].body.clone()).unwrap();
    assert!(
        body.contains("service=svc") && body.contains("scope=repository%3Aorg%2Frepo%3Apull"),
        "{body}"
    );
}

#[test]
fn chunked_upload_honours_min_chunk_and_relative_locations() {
    let server =
        FakeServer::start(
            |req: &FakeReq| match (req.method.as_str(), req.path.as_str()) {
                ("HEAD", _) => reply(404, &[], ""),
                ("POST", "/v2/org/repo/blobs/uploads/") => reply(
                    202,
                    &[
                        ("Location", "/v2/org/repo/blobs/uploads/u1?_state=s0"),
                        ("Range", "0-0"),
                        ("OCI-Chunk-Min-Length", "3000"),
                    ],
                    "",
                ),
                ("PATCH", p) if p.starts_with("/v2/org/repo/blobs/uploads/u1?_state=") => {
                    let end: u64 = req
                        .header("content-range")
                        .unwrap()
                        .split('-')
                        .nth(1)
                        .unwrap()
                        .parse()
                        .unwrap();
                    let loc = format!("u1?_state=s{}", end + 1); // relative to the upload URL
                    reply(
                        202,
                        &[
                            ("Location", loc.as_str()),
                            ("Range", format!("0-{end}").as_str()),
                        ],
                        "",
                    )
                }
                ("PUT", p)
                    if p.starts_with(
                        "/v2/org/repo/blobs/uploads/u1?_state=s7000&digest=sha256%3A",
                    ) =>
                {
                    reply(201, &[], "")
                }
                _ => reply(400, &[], format!("unexpected {} {}", req.method, req.path)),
            },
        );
    let client = Client::new(ClientOptions {
        chunk_size: 1000,
        ..opts(Credentials::Anonymous)
    })
    .unwrap();
    let blob = support::pseudo_random(7000, 2);
    let d = Digest::sha256_of(&blob);
    let out = client
        .push_blob(&repo(&server.host()), &d, 7000, &blob, None)
        .unwrap();
    assert_eq!(out, PushOutcome::Uploaded { bytes_sent: 7000 });
    let patches: Vec<FakeReq> = server
        .seen()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    let ranges: Vec<&str> = patches
        .iter()
        .map(|r| r.header("content-range").unwrap())
        .collect();
    assert_eq!(ranges, ["0-2999", "3000-5999", "6000-6999"]);
    let sent: Vec<u8> = patches.iter().flat_map(|r| r.body.clone()).collect();
    assert!(sent == blob);
}

#[test]
fn pull_resumes_with_range_and_verifies() {
    let blob = support::pseudo_random(100_000, 4);
    let digest = Digest::sha256_of(&blob);
    let b = blob.clone();
    let server = FakeServer::start(move |req: &FakeReq| match req.header("range") {
        None => FakeResp::Truncated {
            status: 200,
            headers: vec![],
            content_length: b.len(),
            partial: b[..40_000].to_vec(),
        },
        Some(r) => {
            let start: usize = r
                .trim_start_matches("bytes=")
                .trim_end_matches('-')
                .parse()
                .unwrap();
            reply(
                206,
                &[(
                    "Content-Range",
                    format!("bytes {start}-{}/{}", b.len() - 1, b.len()).as_str(),
                )],
                b[start..].to_vec(),
            )
        }
    });
    let client = Client::new(opts(Credentials::Anonymous)).unwrap();
    let mut out = Vec::new();
    let n = client
        .pull_blob(&repo(&server.host()), &digest, &mut out)
        .unwrap();
    assert_eq!(n, blob.len() as u64);
    assert!(out == blob);
    assert_eq!(server.seen()[1].header("range"), Some("bytes=40000-"));

    let wrong = FakeServer::start(|_| reply(200, &[], "not what you asked for"));
    let mut sink = Vec::new();
    let err = client
        .pull_blob(&repo(&wrong.host()), &digest, &mut sink)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch);
    assert!(err.to_string().contains(digest.as_str()), "{err}");
}

#[test]
fn manifests_are_verified() {
    let body = br#"{"schemaVersion":2}"#.to_vec();
    let good = Digest::sha256_of(&body);
    let b = body.clone();
    let server = FakeServer::start(move |req: &FakeReq| match req.method.as_str() {
        "GET" => reply(
            200,
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            b.clone(),
        ),
        _ => reply(
            201,
            &[(
                "Docker-Content-Digest",
                Digest::sha256_of(b"other").as_str(),
            )],
            "",
        ),
    });
    let client = Client::new(opts(Credentials::Anonymous)).unwrap();
    let r = repo(&server.host());
    let m = client
        .get_manifest(&r.with_digest(good.clone()), &[])
        .unwrap();
    assert_eq!(
        (m.digest, m.media_type.as_str()),
        (good, "application/vnd.oci.image.manifest.v1+json")
    );
    let err = client
        .get_manifest(&r.with_digest(Digest::sha256_of(b"else")), &[])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch);
    let err = client
        .put_manifest(&r, "t", oci_registry::OCI_MANIFEST, &body)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch, "{err}");
    let accept = server.seen()[0].header("accept").unwrap().to_string();
    assert!(
        accept.contains("application/vnd.oci.image.manifest.v1+json") && accept.contains("index"),
        "{accept}"
    );
}

#[test]
fn unreachable_registry_is_one_line_transport_error() {
    let port = support::free_port();
    let client = Client::new(ClientOptions {
        retries: 1,
        ..opts(Credentials::Anonymous)
    })
    .unwrap();
    let err = client
        .get_manifest(&repo(&format!("127.0.0.1:{port}")), &[])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(
        err.to_string()
            .starts_with(&format!("cannot reach registry 127.0.0.1:{port}: ")),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn insufficient_scope_is_denied_not_bad_credentials() {
    let token_server = FakeServer::start(|_| reply(200, &[], r#"{"token":"t"}"#));
    let th = token_server.host();
    let registry = FakeServer::start(move |_| {
        let ch = format!(
            r#"Bearer realm="http://{th}/token",service="svc",scope="repository:org/repo:pull,push",error="insufficient_scope""#
        );
        reply(401, &[("WWW-Authenticate", ch.as_str())], "")
    });
    let client = Client::new(opts(Credentials::Basic {
        username: "bob".into(),
        password: "pw".into(),
    }))
    .unwrap();
    let err = client
        .put_manifest(
            &repo(&registry.host()),
            "t",
            oci_registry::OCI_MANIFEST,
            b"{}",
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied);
    assert_eq!(
        err.to_string(),
        format!("registry {} denied repository:org/repo:pull,push to bob: insufficient_scope; check that the account may access this repository", registry.host())
    );
    assert_eq!(
        token_server.seen().len(),
        1,
        "the probe 401 fetches one token; its 401 ends it"
    );
}

#[test]
fn a_streamed_blob_goes_in_chunks_and_a_failed_chunk_is_resent_after_retry_after() {
    // The registry keeps what it received; the second PATCH fails once
    // with 503 and Retry-After: 7, after taking none of its bytes.
    let got = Arc::new(Mutex::new(Vec::<u8>::new()));
    let failed_once = Arc::new(Mutex::new(false));
    let (g, f) = (got.clone(), failed_once.clone());
    let server = FakeServer::start(move |req: &FakeReq| {
        let held = g.lock().unwrap().len();
        let range = format!("0-{}", held.max(1) - 1);
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/v2/org/repo/blobs/uploads/") => reply(
                202,
                &[
                    ("Location", "/v2/org/repo/blobs/uploads/s"),
                    ("Range", "0-0"),
                ],
                "",
            ),
            ("PATCH", "/v2/org/repo/blobs/uploads/s") => {
                let start: usize = req
                    .header("content-range")
                    .unwrap()
                    .split('-')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(start, held, "chunks arrive in order from the held offset");
                if held > 0 && !*f.lock().unwrap() {
                    *f.lock().unwrap() = true;
                    return reply(503, &[("Retry-After", "7")], "");
                }
                g.lock().unwrap().extend_from_slice(&req.body);
                let end = g.lock().unwrap().len() - 1;
                reply(202, &[("Range", format!("0-{end}").as_str())], "")
            }
            ("GET", "/v2/org/repo/blobs/uploads/s") => reply(204, &[("Range", range.as_str())], ""),
            ("PUT", p) if p.starts_with("/v2/org/repo/blobs/uploads/s?digest=sha256%3A") => {
                let want = Digest::sha256_of(&g.lock().unwrap());
                assert!(p.ends_with(want.hex()), "{p}");
                reply(201, &[], "")
            }
            _ => reply(400, &[], format!("unexpected {} {}", req.method, req.path)),
        }
    });
    let (o, waits) = recorded_sleeps(Credentials::Anonymous);
    let client = Client::new(o).unwrap();
    let blob = support::pseudo_random(2500, 3);
    let key = Digest::sha256_of(b"label");
    let mut w = client
        .blob_writer(&repo(&server.host()), &key, 1000)
        .unwrap();
    std::io::copy(&mut &blob[..], &mut w).unwrap();
    let done = w.finish(Some(&Digest::sha256_of(&blob))).unwrap();
    assert_eq!(*got.lock().unwrap(), blob);
    assert_eq!(done.size, 2500);
    assert_eq!(done.digest, Digest::sha256_of(&blob));
    assert_eq!(done.bytes_sent, 2500);
    assert_eq!(
        *waits.lock().unwrap(),
        vec![Duration::from_secs(7).min(Duration::from_millis(300))]
    );
}

#[test]
fn a_streamed_blob_of_a_known_digest_is_committed_under_that_digest() {
    let server = FakeServer::start(|req: &FakeReq| match req.method.as_str() {
        "POST" => reply(202, &[("Location", "/v2/org/repo/blobs/uploads/s")], ""),
        "PUT" => reply(201, &[], ""),
        _ => reply(400, &[], format!("unexpected {} {}", req.method, req.path)),
    });
    let client = Client::new(opts(Credentials::Anonymous)).unwrap();
    let digest = Digest::sha256_of(b"the listed bytes");
    let mut w = client
        .blob_writer_for(&repo(&server.host()), &digest, 1 << 20)
        .unwrap();
    w.write_all(b"the listed bytes").unwrap();
    let done = w.finish(Some(&digest)).unwrap();
    assert_eq!(done.digest, digest);
    assert_eq!(done.size, 16);
    let put = server
        .seen()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("the final PUT");
    assert!(
        put.path
            .contains(&format!("digest={}", digest.as_str().replace(':', "%3A"))),
        "{}",
        put.path
    );
}

#[test]
fn a_streamed_blob_that_hashes_wrong_is_not_committed() {
    let server = FakeServer::start(|req: &FakeReq| match req.method.as_str() {
        "POST" => reply(202, &[("Location", "/v2/org/repo/blobs/uploads/s")], ""),
        _ => reply(400, &[], format!("unexpected {} {}", req.method, req.path)),
    });
    let client = Client::new(opts(Credentials::Anonymous)).unwrap();
    let key = Digest::sha256_of(b"label");
    let mut w = client
        .blob_writer(&repo(&server.host()), &key, 1 << 20)
        .unwrap();
    w.write_all(b"not what was listed").unwrap();
    let e = w.finish(Some(&Digest::sha256_of(b"listed"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DigestMismatch);
    assert!(server.seen().iter().all(|r| r.method != "PUT"));
}
