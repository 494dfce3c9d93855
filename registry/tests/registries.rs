//! Push and pull against real `docker-registry` processes (anonymous HTTP,
//! Basic over TLS, Bearer tokens), through loopback proxies that cut or
//! refuse requests. Ignored by default: run with `-- --ignored`.

use oci_registry::testing as support;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use oci_registry::{Client, ClientOptions, Credentials, Digest, ErrorKind, PushOutcome, Reference};
use support::{Proxy, ProxyRule, Registry, PASSWORD, USER};

fn options(reg: &Registry, credentials: Credentials) -> ClientOptions {
    ClientOptions {
        plain_http: !reg.tls,
        ca_file: reg.ca.clone(),
        credentials,
        retry_delay: std::time::Duration::from_millis(100),
        ..Default::default()
    }
}

fn user() -> Credentials {
    Credentials::Basic {
        username: USER.into(),
        password: PASSWORD.into(),
    }
}

fn reference(host: &str, repo: &str, tag: &str) -> Reference {
    Reference::parse(&format!("{host}/{repo}:{tag}")).unwrap()
}

fn require_registry() -> bool {
    support::require_tool("docker-registry")
}

/// Push a layout, push again (nothing sent), pull into a fresh layout
/// (identical blobs), pull again (nothing fetched).
fn roundtrip(reg: &Registry, client: &Client) {
    let src = tempfile::tempdir().unwrap();
    let layers = vec![
        support::pseudo_random(300_000, 1),
        b"small layer\n".to_vec(),
    ];
    let mdigest = support::write_layout(src.path(), "v1", &layers);
    let target = reference(&reg.host, "org/model", "v1");

    let s = client
        .push_layout(src.path(), Some("v1"), std::slice::from_ref(&target))
        .unwrap();
    assert_eq!(s.manifest_digest, mdigest);
    assert_eq!((s.blobs_uploaded, s.blobs_skipped), (3, 0));
    assert!(s.bytes_sent >= 300_000, "{s:?}");

    let again = client
        .push_layout(src.path(), None, std::slice::from_ref(&target))
        .unwrap();
    assert_eq!(again.manifest_digest, mdigest);
    assert_eq!(
        (again.blobs_uploaded, again.bytes_sent, again.blobs_skipped),
        (0, 0, 3)
    );

    let m = client.get_manifest(&target, &[]).unwrap();
    assert_eq!(m.digest.as_str(), mdigest);
    assert_eq!(
        m.bytes,
        std::fs::read(src.path().join("blobs/sha256").join(&mdigest[7..])).unwrap()
    );
    assert_eq!(m.media_type, oci_registry::OCI_MANIFEST);
    let by_digest = target.with_digest(Digest::parse(&mdigest).unwrap());
    assert_eq!(client.get_manifest(&by_digest, &[]).unwrap().bytes, m.bytes);

    let dst = tempfile::tempdir().unwrap();
    let p = client.pull_to_layout(&target, dst.path(), None).unwrap();
    assert_eq!(p.manifest_digest, mdigest);
    assert_eq!((p.blobs_downloaded, p.blobs_skipped), (2 + 1, 0));
    assert!(
        support::blobs_of(src.path()) == support::blobs_of(dst.path()),
        "pulled blobs differ"
    );
    check_index(dst.path(), "v1", &mdigest);
    let p2 = client.pull_to_layout(&target, dst.path(), None).unwrap();
    assert_eq!(
        (p2.blobs_downloaded, p2.bytes_received, p2.blobs_skipped),
        (0, 0, 3)
    );
    check_index(dst.path(), "v1", &mdigest);

    // The pulled layout pushes again as the same manifest.
    let other = reference(&reg.host, "org/copy", "v2");
    let s = client
        .push_layout(dst.path(), Some("v1"), &[other])
        .unwrap();
    assert_eq!(s.manifest_digest, mdigest);
}

fn check_index(dir: &Path, name: &str, digest: &str) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let ms = index["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), 1, "{index}");
    assert_eq!(ms[0]["digest"], digest);
    assert_eq!(
        ms[0]["annotations"]["org.opencontainers.image.ref.name"],
        name
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
}

#[test]
#[ignore = "needs docker-registry"]
fn plain_http_roundtrip() {
    if !require_registry() {
        return;
    }
    let reg = Registry::plain();
    let client = Client::new(options(&reg, Credentials::Anonymous)).unwrap();
    roundtrip(&reg, &client);
}

#[test]
#[ignore = "needs docker-registry"]
fn basic_auth_tls_roundtrip_and_wrong_password() {
    if !require_registry() {
        return;
    }
    let reg = Registry::basic_tls();
    let client = Client::new(options(&reg, user())).unwrap();
    roundtrip(&reg, &client);

    let wrong = Client::new(options(
        &reg,
        Credentials::Basic {
            username: USER.into(),
            password: "nope".into(),
        },
    ))
    .unwrap();
    let src = tempfile::tempdir().unwrap();
    support::write_layout(src.path(), "v1", &[b"x".to_vec()]);
    let err = wrong
        .push_layout(src.path(), None, &[reference(&reg.host, "org/model", "v9")])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(
        err.to_string().contains(&format!(
            "authentication failed for {} as {USER}; check the credentials",
            reg.host
        )),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'), "{err}");

    let anon = Client::new(options(&reg, Credentials::Anonymous)).unwrap();
    let err = anon
        .get_manifest(&reference(&reg.host, "org/model", "v1"), &[])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.to_string().contains("requires authentication"), "{err}");

    // Without the CA the TLS handshake fails with a clear transport error.
    let no_ca = Client::new(ClientOptions {
        ca_file: None,
        ..options(&reg, user())
    })
    .unwrap();
    let err = no_ca
        .get_manifest(&reference(&reg.host, "org/model", "v1"), &[])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(
        err.to_string()
            .contains("pass its certificate as the CA file"),
        "{err}"
    );

    // TLS spoken to a plain-HTTP registry says so.
    let plain = Registry::plain();
    let tls_to_plain = Client::new(ClientOptions {
        plain_http: false,
        retries: 0,
        ..options(&plain, Credentials::Anonymous)
    })
    .unwrap();
    let err = tls_to_plain
        .get_manifest(&reference(&plain.host, "org/model", "v1"), &[])
        .unwrap_err();
    assert!(err.to_string().contains("plain-HTTP registry"), "{err}");
}

#[test]
#[ignore = "needs docker-registry"]
fn token_auth_roundtrip_mount_and_wrong_password() {
    if !require_registry() {
        return;
    }
    let reg = Registry::token();
    let client = Client::new(options(&reg, user())).unwrap();
    roundtrip(&reg, &client);

    // Two targets on one registry: the second mounts every blob from the first.
    let src = tempfile::tempdir().unwrap();
    let mdigest = support::write_layout(src.path(), "m", &[support::pseudo_random(10_000, 7)]);
    let targets = [
        reference(&reg.host, "team/a", "m"),
        reference(&reg.host, "team/b", "m"),
    ];
    let s = client.push_layout(src.path(), None, &targets).unwrap();
    assert_eq!(s.manifest_digest, mdigest);
    assert_eq!((s.blobs_uploaded, s.blobs_mounted), (2, 2), "{s:?}");
    assert_eq!(
        client
            .get_manifest(&targets[1], &[])
            .unwrap()
            .digest
            .as_str(),
        mdigest
    );
    let tokens = reg
        .token_server
        .as_ref()
        .unwrap()
        .requests
        .load(Ordering::SeqCst);
    assert!(
        tokens > 0 && tokens < 40,
        "token requests: {tokens} (cache per scope)"
    );

    let wrong = Client::new(options(
        &reg,
        Credentials::Basic {
            username: USER.into(),
            password: "nope".into(),
        },
    ))
    .unwrap();
    let err = wrong.get_manifest(&targets[0], &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(
        err.to_string().contains(&format!(
            "authentication failed for {} as {USER}; check the credentials",
            reg.host
        )),
        "{err}"
    );
}

#[test]
#[ignore = "needs docker-registry"]
fn docker_config_credentials_inline_and_helper() {
    if !require_registry() {
        return;
    }
    use base64::Engine as _;
    let reg = Registry::basic_tls();
    let dir = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let cfg = dir.path().join("config.json");
    std::fs::write(
        &cfg,
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host),
    )
    .unwrap();
    let client = Client::new(options(&reg, Credentials::DockerConfig(Some(cfg.clone())))).unwrap();
    let src = tempfile::tempdir().unwrap();
    let mdigest = support::write_layout(src.path(), "v1", &[b"cfg".to_vec()]);
    let target = reference(&reg.host, "cfg/inline", "v1");
    assert_eq!(
        client
            .push_layout(src.path(), None, std::slice::from_ref(&target))
            .unwrap()
            .manifest_digest,
        mdigest
    );

    // A credential helper program, found on PATH, reads the server on stdin.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-testhelper");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\necho \"$server\" > {}/asked\necho '{{\"ServerURL\":\"'$server'\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n",
            dir.path().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::env::set_var("PATH", path);
    let cfg2 = dir.path().join("helper.json");
    std::fs::write(
        &cfg2,
        format!(r#"{{"credHelpers":{{"{}":"testhelper"}}}}"#, reg.host),
    )
    .unwrap();
    let client = Client::new(options(&reg, Credentials::DockerConfig(Some(cfg2)))).unwrap();
    let m = client.get_manifest(&target, &[]).unwrap();
    assert_eq!(m.digest.as_str(), mdigest);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("asked"))
            .unwrap()
            .trim(),
        reg.host
    );
}

#[test]
#[ignore = "needs docker-registry"]
fn chunked_upload_small_chunks() {
    if !require_registry() {
        return;
    }
    let reg = Registry::plain();
    let proxy = Proxy::start(&reg.host, ProxyRule::Pass);
    let client = Client::new(ClientOptions {
        chunk_size: 1 << 20,
        ..options(&reg, Credentials::Anonymous)
    })
    .unwrap();
    let blob = support::pseudo_random((5 << 20) + 123, 3);
    let digest = Digest::sha256_of(&blob);
    let repo = reference(&proxy.host(), "big/blob", "x");
    let out = client
        .push_blob(&repo, &digest, blob.len() as u64, &blob, None)
        .unwrap();
    assert_eq!(
        out,
        PushOutcome::Uploaded {
            bytes_sent: blob.len() as u64
        }
    );
    let patches = proxy
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("PATCH"))
        .count();
    assert_eq!(patches, 6, "{:?}", proxy.requests.lock().unwrap());
    assert_eq!(
        client.blob_exists(&repo, &digest).unwrap(),
        Some(blob.len() as u64)
    );
    let mut back = Vec::new();
    client.pull_blob(&repo, &digest, &mut back).unwrap();
    assert!(back == blob);
    // Pushing again sends nothing.
    assert_eq!(
        client
            .push_blob(&repo, &digest, blob.len() as u64, &blob, None)
            .unwrap(),
        PushOutcome::Skipped
    );
}

#[test]
#[ignore = "needs docker-registry"]
fn upload_resumes_after_connection_loss() {
    if !require_registry() {
        return;
    }
    let reg = Registry::plain();
    // The 3rd of four 2 MiB PATCHes is lost after the client sent half of it.
    let proxy = Proxy::start(&reg.host, ProxyRule::DropNthPatch(3));
    let client = Client::new(ClientOptions {
        chunk_size: 2 << 20,
        ..options(&reg, Credentials::Anonymous)
    })
    .unwrap();
    let blob = support::pseudo_random(8 << 20, 5);
    let digest = Digest::sha256_of(&blob);
    let size = blob.len() as u64;
    let repo = reference(&proxy.host(), "cut/blob", "x");
    let out = client.push_blob(&repo, &digest, size, &blob, None).unwrap();
    let PushOutcome::Uploaded { bytes_sent } = out else {
        panic!("{out:?}")
    };
    assert!(proxy.cut_done.load(Ordering::SeqCst), "the proxy never cut");
    assert!(
        bytes_sent > size,
        "the client re-sent the lost part: {bytes_sent}"
    );
    let reqs = proxy.requests.lock().unwrap().clone();
    let sent = proxy.upstream_bytes.load(Ordering::SeqCst);
    // Only heads on top of the blob reached the registry: chunks 1 and 2 were not sent again.
    assert!(
        sent >= size && sent < size + (64 << 10),
        "bytes reaching the registry: {sent} for {size}; {reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("GET /v2/cut/blob/blobs/uploads/")),
        "no status GET: {reqs:?}"
    );
    assert_eq!(
        reqs.iter().filter(|r| r.starts_with("POST")).count(),
        1,
        "the session was restarted: {reqs:?}"
    );
    assert_eq!(
        reqs.iter().filter(|r| r.starts_with("PATCH")).count(),
        5,
        "{reqs:?}"
    );
    let mut back = Vec::new();
    client
        .pull_blob(&reference(&reg.host, "cut/blob", "x"), &digest, &mut back)
        .unwrap();
    assert!(back == blob);
}

/// docker-registry 2.8 cancels an upload whose stored size no longer
/// matches the offset in its `_state` ("upload resumed at wrong offset"),
/// which is what a connection cut mid-body leaves behind; the client then
/// starts a new session and the push still completes.
#[test]
#[ignore = "needs docker-registry"]
fn upload_restarts_when_a_cut_invalidates_the_session() {
    if !require_registry() {
        return;
    }
    let reg = Registry::plain();
    let cut_at = 3 << 19; // 1.5 MiB into the first 4 MiB chunk
    let proxy = Proxy::start(&reg.host, ProxyRule::CutOnceAt(cut_at));
    let client = Client::new(ClientOptions {
        chunk_size: 4 << 20,
        ..options(&reg, Credentials::Anonymous)
    })
    .unwrap();
    let blob = support::pseudo_random(8 << 20, 6);
    let digest = Digest::sha256_of(&blob);
    let repo = reference(&proxy.host(), "cut/again", "x");
    let out = client
        .push_blob(&repo, &digest, blob.len() as u64, &blob, None)
        .unwrap();
    assert!(matches!(out, PushOutcome::Uploaded { .. }), "{out:?}");
    assert!(proxy.cut_done.load(Ordering::SeqCst), "the proxy never cut");
    let reqs = proxy.requests.lock().unwrap().clone();
    assert_eq!(
        reqs.iter().filter(|r| r.starts_with("POST")).count(),
        2,
        "{reqs:?}"
    );
    let mut back = Vec::new();
    client
        .pull_blob(&reference(&reg.host, "cut/again", "x"), &digest, &mut back)
        .unwrap();
    assert!(back == blob);
}

#[test]
#[ignore = "needs docker-registry"]
fn refused_chunks_fall_back_to_monolithic() {
    if !require_registry() {
        return;
    }
    let reg = Registry::plain();
    let proxy = Proxy::start(&reg.host, ProxyRule::RefusePatch);
    let client = Client::new(ClientOptions {
        chunk_size: 1 << 20,
        ..options(&reg, Credentials::Anonymous)
    })
    .unwrap();
    let blob = support::pseudo_random(3 << 20, 9);
    let digest = Digest::sha256_of(&blob);
    let repo = reference(&proxy.host(), "mono/blob", "x");
    let out = client
        .push_blob(&repo, &digest, blob.len() as u64, &blob, None)
        .unwrap();
    assert!(matches!(out, PushOutcome::Uploaded { .. }), "{out:?}");
    let reqs = proxy.requests.lock().unwrap().clone();
    assert_eq!(
        reqs.iter().filter(|r| r.starts_with("PATCH")).count(),
        1,
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("PUT") && r.contains("digest=sha256")),
        "{reqs:?}"
    );
    let mut back = Vec::new();
    client.pull_blob(&repo, &digest, &mut back).unwrap();
    assert!(back == blob);
    // A second big blob goes straight to PUT (the host is remembered).
    let blob2 = support::pseudo_random(2 << 20, 10);
    client
        .push_blob(
            &repo,
            &Digest::sha256_of(&blob2),
            blob2.len() as u64,
            &blob2,
            None,
        )
        .unwrap();
    assert_eq!(
        proxy
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.starts_with("PATCH"))
            .count(),
        1
    );
}

#[test]
#[ignore = "needs docker-registry"]
fn registry_errors_are_one_line() {
    if !require_registry() {
        return;
    }
    let reg = Registry::plain();
    let client = Client::new(options(&reg, Credentials::Anonymous)).unwrap();
    let err = client
        .get_manifest(&reference(&reg.host, "no/such", "tag"), &[])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("registry {} refused pull of manifest", reg.host))
            && msg.contains("UNKNOWN"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    // A manifest whose blobs are missing.
    let bogus = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[]}}"#,
        Digest::sha256_of(b"{}")
    );
    let err = client
        .put_manifest(
            &reference(&reg.host, "no/blobs", "t"),
            "t",
            oci_registry::OCI_MANIFEST,
            bogus.as_bytes(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("MANIFEST_BLOB_UNKNOWN"), "{err}");
    let blob = Digest::sha256_of(b"missing");
    assert_eq!(
        client
            .blob_exists(&reference(&reg.host, "no/blobs", "t"), &blob)
            .unwrap(),
        None
    );
}

#[test]
#[ignore = "needs docker-registry and skopeo"]
fn skopeo_and_oras_read_what_we_push() {
    if !require_registry() || !support::require_tool("skopeo") {
        return;
    }
    let reg = Registry::plain();
    let client = Client::new(options(&reg, Credentials::Anonymous)).unwrap();
    let src = tempfile::tempdir().unwrap();
    let mdigest = support::write_layout(
        src.path(),
        "v1",
        &[
            b"hello skopeo\n".to_vec(),
            support::pseudo_random(70_000, 11),
        ],
    );
    let s = client
        .push_layout(
            src.path(),
            None,
            &[reference(&reg.host, "tools/check", "v1")],
        )
        .unwrap();
    assert_eq!(s.manifest_digest, mdigest);
    let out = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/tools/check:v1", reg.host),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(Digest::sha256_of(&out.stdout).as_str(), mdigest);
    // skopeo copies it to an OCI layout with identical blobs.
    let dst = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            &format!("docker://{}/tools/check:v1", reg.host),
            &format!("oci:{}:v1", dst.path().display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        support::blobs_of(src.path()) == support::blobs_of(dst.path()),
        "skopeo changed the blobs"
    );
    // And what skopeo pushed, we pull.
    let out = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", dst.path().display()),
            &format!("docker://{}/tools/fromskopeo:v1", reg.host),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = tempfile::tempdir().unwrap();
    let p = client
        .pull_to_layout(
            &reference(&reg.host, "tools/fromskopeo", "v1"),
            back.path(),
            None,
        )
        .unwrap();
    assert_eq!(p.manifest_digest, mdigest);
    if support::require_tool("oras") {
        let out = std::process::Command::new("oras")
            .args([
                "manifest",
                "fetch",
                "--plain-http",
                &format!("{}/tools/check:v1", reg.host),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(Digest::sha256_of(&out.stdout).as_str(), mdigest);
        // oras pull writes layers under their title annotations.
        let files = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("oras")
            .args([
                "pull",
                "--plain-http",
                "-o",
                &files.path().display().to_string(),
                &format!("{}/tools/check:v1", reg.host),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(files.path().join("file0.bin")).unwrap(),
            b"hello skopeo\n"
        );
        assert!(
            std::fs::read(files.path().join("file1.bin")).unwrap()
                == support::pseudo_random(70_000, 11)
        );
        // What oras pushes, we pull.
        std::fs::write(files.path().join("note.txt"), "from oras\n").unwrap();
        let out = std::process::Command::new("oras")
            .current_dir(files.path())
            .args([
                "push",
                "--plain-http",
                &format!("{}/tools/fromoras:v1", reg.host),
                "note.txt",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let back = tempfile::tempdir().unwrap();
        let p = client
            .pull_to_layout(
                &reference(&reg.host, "tools/fromoras", "v1"),
                back.path(),
                Some("n"),
            )
            .unwrap();
        assert_eq!(p.blobs_downloaded, 2);
        check_index(back.path(), "n", &p.manifest_digest);
        assert!(support::blobs_of(back.path())
            .values()
            .any(|b| b == b"from oras\n"));
    }
}

/// Counts progress events, to check the callbacks fire.
#[derive(Default)]
struct Counter {
    started: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicU64,
    done: std::sync::atomic::AtomicU64,
}

impl oci_registry::Progress for Counter {
    fn started(&self, _: &Digest, _: u64) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }
    fn advanced(&self, _: &Digest, n: u64) {
        self.bytes.fetch_add(n, Ordering::SeqCst);
    }
    fn done(&self, _: &Digest, _: oci_registry::BlobOutcome) {
        self.done.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
#[ignore = "needs docker-registry"]
fn progress_events() {
    if !require_registry() {
        return;
    }
    let reg = Registry::plain();
    let counter = Arc::new(Counter::default());
    let client = Client::new(ClientOptions {
        progress: Some(counter.clone()),
        ..options(&reg, Credentials::Anonymous)
    })
    .unwrap();
    let src = tempfile::tempdir().unwrap();
    support::write_layout(src.path(), "v1", &[support::pseudo_random(50_000, 1)]);
    client
        .push_layout(src.path(), None, &[reference(&reg.host, "p/q", "v1")])
        .unwrap();
    assert_eq!(counter.started.load(Ordering::SeqCst), 2);
    assert_eq!(counter.done.load(Ordering::SeqCst), 2);
    assert!(counter.bytes.load(Ordering::SeqCst) >= 50_000);
}
