//! A pull interrupted mid-blob goes on from what is on disk, against a
//! real `docker-registry` behind a loopback proxy that cuts the download
//! or strips `Range`. Ignored by default: run with `-- --ignored`.

use oci_registry::testing as support;

use std::path::Path;

use oci_registry::{Client, ClientOptions, Credentials, ErrorKind, Reference};
use support::{Proxy, ProxyRule, Registry};

const BIG: usize = 3 << 20;

/// One blob at a time and no retries: a cut ends the pull.
fn client(retries: u32) -> Client {
    Client::new(ClientOptions {
        plain_http: true,
        credentials: Credentials::Anonymous,
        retry_delay: std::time::Duration::from_millis(50),
        retries,
        concurrency: 1,
        ..Default::default()
    })
    .unwrap()
}

fn reference(host: &str, repo: &str) -> Reference {
    Reference::parse(&format!("{host}/{repo}:v1")).unwrap()
}

/// Pushes a layout with one 3 MiB layer; returns (manifest digest, layer bytes).
fn push(reg: &Registry, repo: &str, seed: u64) -> (String, Vec<u8>) {
    let src = tempfile::tempdir().unwrap();
    let big = support::pseudo_random(BIG, seed);
    let digest = support::write_layout(src.path(), "v1", std::slice::from_ref(&big));
    client(4)
        .push_layout(src.path(), Some("v1"), &[reference(&reg.host, repo)])
        .unwrap();
    (digest, big)
}

fn partials(layout: &Path) -> Vec<(String, u64)> {
    let dir = layout.join("blobs/sha256");
    let mut out: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .map(|r| r.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    out.sort();
    out
}

fn layer_path(layout: &Path, big: &[u8]) -> std::path::PathBuf {
    layout
        .join("blobs/sha256")
        .join(&oci_registry::Digest::sha256_of(big).as_str()[7..])
}

#[test]
#[ignore = "needs docker-registry"]
fn an_interrupted_pull_resumes_with_a_range_request() {
    if !support::require_tool("docker-registry") {
        return;
    }
    let reg = Registry::plain();
    let (mdigest, big) = push(&reg, "resume/cut", 11);
    let out = tempfile::tempdir().unwrap();

    // First pull: cut after about 1 MiB of the layer.
    let cutter = Proxy::start(&reg.host, ProxyRule::CutDownloadOnceAt(1 << 20));
    let err = client(0)
        .pull_to_layout(&reference(&cutter.host(), "resume/cut"), out.path(), None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    let left = partials(out.path());
    assert_eq!(
        left.len(),
        1,
        "the cut blob stays as a partial file: {left:?}"
    );
    let kept = left[0].1;
    assert!(kept > 0 && kept < BIG as u64, "kept {kept} bytes");
    assert!(!out.path().join("index.json").exists());

    // Second pull: only the rest is asked for, and the blob verifies.
    let watcher = Proxy::start(&reg.host, ProxyRule::Pass);
    let s = client(0)
        .pull_to_layout(&reference(&watcher.host(), "resume/cut"), out.path(), None)
        .unwrap();
    assert_eq!(s.manifest_digest, mdigest);
    assert_eq!(s.blobs_resumed, 1, "{s:?}");
    assert_eq!(
        s.bytes_received,
        BIG as u64 - kept,
        "only the missing bytes are received: {s:?}"
    );
    let ranges = watcher.ranges.lock().unwrap().clone();
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    assert!(ranges[0].ends_with(&format!("bytes={kept}-")), "{ranges:?}");
    assert_eq!(std::fs::read(layer_path(out.path(), &big)).unwrap(), big);
    assert!(partials(out.path()).is_empty());

    // Third pull: every blob is present and verified, nothing is fetched.
    let s = client(0)
        .pull_to_layout(&reference(&reg.host, "resume/cut"), out.path(), None)
        .unwrap();
    assert_eq!(
        (s.blobs_downloaded, s.bytes_received, s.blobs_skipped),
        (0, 0, 2),
        "{s:?}"
    );
}

#[test]
#[ignore = "needs docker-registry"]
fn a_registry_that_ignores_range_and_a_wrong_partial_still_give_the_blob() {
    if !support::require_tool("docker-registry") {
        return;
    }
    let reg = Registry::plain();
    let (_, big) = push(&reg, "resume/norange", 12);

    // A correct prefix, but the registry answers 200 with the whole blob.
    let out = tempfile::tempdir().unwrap();
    let layer = layer_path(out.path(), &big);
    std::fs::create_dir_all(layer.parent().unwrap()).unwrap();
    std::fs::write(layer.with_extension("partial"), &big[..500_000]).unwrap();
    let strip = Proxy::start(&reg.host, ProxyRule::StripRange);
    let s = client(0)
        .pull_to_layout(
            &reference(&strip.host(), "resume/norange"),
            out.path(),
            None,
        )
        .unwrap();
    assert_eq!(s.blobs_resumed, 1, "{s:?}");
    assert_eq!(std::fs::read(&layer).unwrap(), big);
    assert!(
        !strip.ranges.lock().unwrap().is_empty(),
        "a Range was asked for"
    );

    // A partial file that is not a prefix of the blob: dropped, downloaded whole.
    let out = tempfile::tempdir().unwrap();
    let layer = layer_path(out.path(), &big);
    std::fs::create_dir_all(layer.parent().unwrap()).unwrap();
    std::fs::write(layer.with_extension("partial"), vec![0u8; 700_000]).unwrap();
    let s = client(0)
        .pull_to_layout(&reference(&reg.host, "resume/norange"), out.path(), None)
        .unwrap();
    assert_eq!(
        s.blobs_resumed, 0,
        "the wrong partial is not counted as resumed: {s:?}"
    );
    assert!(
        s.bytes_received > BIG as u64,
        "the layer came whole (with the config): {s:?}"
    );
    assert_eq!(std::fs::read(&layer).unwrap(), big);
    assert!(partials(out.path()).is_empty());
}
