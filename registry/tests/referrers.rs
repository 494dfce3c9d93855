//! Referrers: pushed with the referrers API where the registry answers
//! `OCI-Subject`, else through the tag-schema fallback index, keeping what
//! others put there; listed back from either. The fake-server tests run
//! always; those against `docker-registry` (2.8: no referrers API) and
//! `oras` are ignored by default: run with `-- --ignored`.

use oci_registry::testing as support;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use oci_registry::{Client, ClientOptions, Credentials, Digest, Reference, ReferrerMode};
use support::fake::{reply, FakeServer};

const EMPTY: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// A referrer manifest of `subject` holding `doc` as `artifact_type`.
fn referrer(subject: &str, subject_size: usize, artifact_type: &str, doc: &[u8]) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"{artifact_type}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{EMPTY}","size":2}},"layers":[{{"mediaType":"{artifact_type}","digest":"{}","size":{}}}],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{subject}","size":{subject_size}}}}}"#,
        Digest::sha256_of(doc),
        doc.len()
    )
}

/// Adds a referrer of the layout's manifest `subject` to the layout
/// (blobs, manifest, an unnamed `index.json` entry after the others).
fn add_referrer(dir: &Path, subject: &str, artifact_type: &str, doc: &[u8]) -> String {
    let blobs = dir.join("blobs/sha256");
    let subject_size = std::fs::metadata(blobs.join(&subject[7..])).unwrap().len() as usize;
    let manifest = referrer(subject, subject_size, artifact_type, doc);
    for b in [b"{}".as_slice(), doc, manifest.as_bytes()] {
        std::fs::write(blobs.join(Digest::sha256_of(b).hex()), b).unwrap();
    }
    let digest = Digest::sha256_of(manifest.as_bytes()).to_string();
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest, "size": manifest.len(), "artifactType": artifact_type
        }));
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    digest
}

fn plain(host: &str) -> Client {
    let _ = host;
    Client::new(ClientOptions {
        plain_http: true,
        credentials: Credentials::Anonymous,
        retry_delay: std::time::Duration::from_millis(10),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn referrers_api_when_the_registry_answers_oci_subject() {
    let subject = format!("sha256:{}", "ab".repeat(32));
    let manifest = referrer(&subject, 10, "application/vnd.cyclonedx+json", b"{}");
    let subject2 = subject.clone();
    let server = FakeServer::start(move |req| {
        if req.method == "PUT" && req.path.contains("/manifests/sha256:") {
            let d = Digest::sha256_of(&req.body).to_string();
            reply(
                201,
                &[("OCI-Subject", &subject2), ("Docker-Content-Digest", &d)],
                "",
            )
        } else {
            reply(404, &[], "")
        }
    });
    let repo = Reference::parse(&format!("{}/org/model:v1", server.host())).unwrap();
    let mode = plain(&server.host())
        .put_referrer(&repo, manifest.as_bytes())
        .unwrap();
    assert_eq!(mode, ReferrerMode::Api);
    // No fallback index was read or written.
    assert!(server.seen().iter().all(|r| !r.path.contains("sha256-")));
}

#[test]
fn tag_schema_fallback_keeps_entries_of_others() {
    let subject = format!("sha256:{}", "cd".repeat(32));
    let theirs = r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":5,"artifactType":"application/x-theirs"}"#;
    let existing = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{theirs}]}}"#
    );
    let stored: Arc<Mutex<Option<Vec<u8>>>> = Arc::new(Mutex::new(None));
    let (stored2, existing2) = (stored.clone(), existing.clone());
    let tag = format!("sha256-{}", "cd".repeat(32));
    let tag2 = tag.clone();
    let server = FakeServer::start(move |req| {
        let d = Digest::sha256_of(&req.body).to_string();
        match (req.method.as_str(), req.path.as_str()) {
            ("PUT", p) if p.ends_with(&tag2) => {
                *stored2.lock().unwrap() = Some(req.body.clone());
                reply(201, &[("Docker-Content-Digest", &d)], "")
            }
            ("PUT", _) => reply(201, &[("Docker-Content-Digest", &d)], ""),
            ("GET", p) if p.ends_with(&tag2) => reply(
                200,
                &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
                existing2.clone(),
            ),
            _ => reply(404, &[], ""),
        }
    });
    let client = plain(&server.host());
    let repo = Reference::parse(&format!("{}/org/model:v1", server.host())).unwrap();
    let manifest = referrer(&subject, 10, "application/vnd.in-toto+json", b"{\"a\":1}");
    let mode = client.put_referrer(&repo, manifest.as_bytes()).unwrap();
    assert_eq!(mode, ReferrerMode::TagSchema);
    let index: serde_json::Value =
        serde_json::from_slice(stored.lock().unwrap().as_ref().unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{index}");
    assert_eq!(
        entries[0],
        serde_json::from_str::<serde_json::Value>(theirs).unwrap()
    );
    assert_eq!(
        entries[1]["digest"],
        Digest::sha256_of(manifest.as_bytes()).as_str()
    );
    assert_eq!(entries[1]["artifactType"], "application/vnd.in-toto+json");
    // Listing: no referrers API (404), so the fallback tag.
    let listed = client
        .referrers(&repo.with_digest(Digest::parse(&subject).unwrap()))
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].artifact_type.as_deref(),
        Some("application/x-theirs")
    );
    assert!(server
        .seen()
        .iter()
        .any(|r| r.method == "GET" && r.path.contains("/referrers/sha256:")));
}

#[test]
fn a_manifest_without_subject_is_no_referrer() {
    let client = plain("127.0.0.1:1");
    let repo = Reference::parse("127.0.0.1:1/org/model:v1").unwrap();
    let err = client
        .put_referrer(&repo, br#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:00","size":0},"layers":[]}"#)
        .unwrap_err();
    assert!(err.message().contains("subject"), "{err}");
}

/// docker-registry 2.8 has no referrers API: our push goes through the
/// fallback tag, after `oras attach` put its own document there, and both
/// remain; `oras discover` lists ours; the layout's model is still the one
/// pushed without a name although `index.json` lists the referrers too.
#[test]
#[ignore = "needs docker-registry and oras"]
fn fallback_on_docker_registry_keeps_what_oras_attached() {
    if !support::require_tool("docker-registry") || !support::require_tool("oras") {
        return;
    }
    let reg = support::Registry::plain();
    let client = plain(&reg.host);
    let src = tempfile::tempdir().unwrap();
    let subject = support::write_layout(src.path(), "v1", &[b"weights\n".to_vec()]);
    let bom = add_referrer(
        src.path(),
        &subject,
        "application/vnd.cyclonedx+json",
        br#"{"bomFormat":"CycloneDX"}"#,
    );
    let prov = add_referrer(
        src.path(),
        &subject,
        "application/vnd.in-toto+json",
        br#"{"_type":"https://in-toto.io/Statement/v1"}"#,
    );
    let target = Reference::parse(&format!("{}/org/model:v1", reg.host)).unwrap();
    let s = client
        .push_layout(src.path(), None, std::slice::from_ref(&target))
        .unwrap();
    assert_eq!(s.manifest_digest, subject);

    let note = src.path().join("note.txt");
    std::fs::write(&note, "someone else's document\n").unwrap();
    let out = Command::new("oras")
        .current_dir(src.path())
        .args([
            "attach",
            "--plain-http",
            "--distribution-spec",
            "v1.1-referrers-tag",
            "--artifact-type",
            "application/x-note",
            &format!("{}/org/model@{subject}", reg.host),
            "note.txt",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let done = client
        .push_layout_referrers(src.path(), &subject, std::slice::from_ref(&target))
        .unwrap();
    assert_eq!(
        done,
        vec![
            (bom.clone(), ReferrerMode::TagSchema),
            (prov.clone(), ReferrerMode::TagSchema)
        ]
    );
    // Again: nothing added twice.
    client
        .push_layout_referrers(src.path(), &subject, std::slice::from_ref(&target))
        .unwrap();
    let listed = client
        .referrers(&target.with_digest(Digest::parse(&subject).unwrap()))
        .unwrap();
    let types: Vec<_> = listed
        .iter()
        .map(|e| e.artifact_type.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        [
            "application/x-note",
            "application/vnd.cyclonedx+json",
            "application/vnd.in-toto+json"
        ]
    );
    let out = Command::new("oras")
        .args([
            "discover",
            "--plain-http",
            "--format",
            "json",
            &format!("{}/org/model@{subject}", reg.host),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for d in [&bom, &prov] {
        assert!(text.contains(d.as_str()), "oras discover lacks {d}: {text}");
    }
    assert!(text.contains("application/x-note"), "{text}");
}
