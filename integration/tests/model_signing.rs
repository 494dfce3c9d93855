//! End-to-end: OpenSSF model signing. A model folder is published
//! streamed (`push FOLDER REF`) to docker-registry 2.8 (no referrers API:
//! the fallback tag), which attaches the same BOM and provenance as `pack`
//! of the folder; `sign REF --key` attaches the model-signing bundle as one
//! more referrer (`inspect`, `validate`, `pull --referrers` see it);
//! `unpack REF --signature` writes it beside the files, and the reference
//! verifier (`model_signing verify key`, PyPI model-signing 1.1.1) accepts
//! the folder, then refuses it once a file changed. A tar+gzip layout is
//! signed, unpacked and verified the same way, locally.
//!
//! Needs the CLI binary (`MODELPACK_CLI`, else `$CARGO_TARGET_DIR/debug/
//! modelpack-frontend`), `docker-registry` and python3 with `model-signing`
//! (integration/fakehub/requirements.txt); `#[ignore]`d like every
//! end-to-end test.

use std::path::Path;
use std::process::Command;

use integration::fs::{self, TempDir};
use integration::{cli_stdout, stdout_of};
use oci_registry::testing::{require_tool, skip_without, Registry};
use serde_json::Value;

const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

fn has_model_signing() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import model_signing"])
        .status()
        .is_ok_and(|s| s.success());
    ok || skip_without("python3 with model-signing")
}

/// A P-256 key pair in PEM (`key.pem` PKCS#8, `pub.pem`), made with the
/// `cryptography` package model-signing depends on.
fn key_pair(dir: &Path) {
    stdout_of(
        Command::new("python3").current_dir(dir).args([
            "-c",
            "from cryptography.hazmat.primitives import serialization as s\n\
             from cryptography.hazmat.primitives.asymmetric import ec\n\
             k = ec.generate_private_key(ec.SECP256R1())\n\
             open('key.pem', 'wb').write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))\n\
             open('pub.pem', 'wb').write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))",
        ]),
        "making a P-256 key pair",
    );
}

/// `model_signing verify key` of `folder`: its exit status and output.
fn verify(signature: &Path, public_key: &Path, folder: &Path) -> (bool, String) {
    let out = Command::new("python3")
        .args(["-m", "model_signing", "verify", "key", "--signature"])
        .arg(signature)
        .arg("--public_key")
        .arg(public_key)
        .arg(folder)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn model_dir() -> TempDir {
    let dir = TempDir::new("signing-model");
    fs::write_file(
        dir.path(),
        "README.md",
        b"---\nlicense: apache-2.0\n---\n# tiny\n",
    );
    fs::write_file(dir.path(), "config.json", br#"{"model_type":"llama"}"#);
    fs::write_file(dir.path(), "tokenizer/vocab.txt", b"a\nb\n");
    fs::write_file(
        dir.path(),
        "model.safetensors",
        &fs::pseudo_random_bytes(64 << 10, fs::fresh_seed()),
    );
    dir
}

fn referrers(listing: &str) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(listing).unwrap();
    v["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["artifactType"].as_str().unwrap_or_default().to_string(),
                r["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs docker-registry and python3 with model-signing"]
fn a_signed_model_through_a_registry_verifies_with_model_signing() {
    if !require_tool("docker-registry") || !require_tool("python3") || !has_model_signing() {
        return;
    }
    let model = model_dir();
    let model_s = model.path().to_str().unwrap();
    let work = TempDir::new("signing-work");
    key_pair(work.path());
    let (key, public) = (work.join("key.pem"), work.join("pub.pem"));

    // pack of the folder: the model and its BOM and provenance.
    let out = work.join("out");
    let out_s = out.to_str().unwrap();
    cli_stdout(&["pack", model_s, "-o", out_s, "--name", "tiny"]);
    let packed = referrers(&cli_stdout(&["inspect", out_s, "--json"]));
    assert_eq!(packed.len(), 2, "{packed:?}");

    // The streamed publish of the same folder attaches the same documents.
    let reg = Registry::plain();
    let repo = format!("{}/models/tiny", reg.host);
    let tag = format!("{repo}:v1");
    let digest = cli_stdout(&["push", model_s, &tag, "--name", "tiny", "--plain-http"]);
    let digest = digest.trim();
    let published = referrers(&cli_stdout(&["inspect", &tag, "--plain-http", "--json"]));
    assert_eq!(
        published, packed,
        "push SOURCE REF attaches pack's BOM and provenance, byte for byte"
    );

    // sign REF: one more referrer, listed, validated, pulled.
    let signed = cli_stdout(&["sign", &tag, "--key", key.to_str().unwrap(), "--plain-http"]);
    let signed = signed.trim();
    let listed = referrers(&cli_stdout(&["inspect", &tag, "--plain-http", "--json"]));
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(
        listed.contains(&(BUNDLE.to_string(), signed.to_string())),
        "{listed:?}"
    );
    let validated = cli_stdout(&["validate", &tag, "--plain-http"]);
    assert!(validated.starts_with("ok:"), "{validated}");
    let pulled = work.join("pulled");
    cli_stdout(&[
        "pull",
        &tag,
        "-o",
        pulled.to_str().unwrap(),
        "--referrers",
        "--plain-http",
    ]);
    let index: Value =
        serde_json::from_slice(&std::fs::read(pulled.join("index.json")).unwrap()).unwrap();
    assert!(
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["digest"] == signed),
        "{index}"
    );

    // unpack with the signature; the reference verifier accepts the folder.
    let folder = work.join("tiny");
    let signature = work.join("tiny.sig");
    cli_stdout(&[
        "unpack",
        &format!("{repo}@{digest}"),
        "-o",
        folder.to_str().unwrap(),
        "--signature",
        signature.to_str().unwrap(),
        "--plain-http",
    ]);
    let (ok, said) = verify(&signature, &public, &folder);
    assert!(ok, "model_signing verify refused our signature: {said}");
    assert!(said.contains("Verification succeeded"), "{said}");
    let bundle: Value = serde_json::from_slice(&std::fs::read(&signature).unwrap()).unwrap();
    assert_eq!(bundle["mediaType"], BUNDLE);

    // A changed file fails verification.
    fs::write_file(&folder, "tokenizer/vocab.txt", b"a\nb\nc\n");
    let (ok, said) = verify(&signature, &public, &folder);
    assert!(!ok, "a changed file still verified: {said}");
    assert!(said.contains("tokenizer/vocab.txt"), "{said}");

    // Tar layers: the files inside are hashed; the signature may also sit
    // inside the folder as model.sig (the verifier leaves it out).
    let tarred = work.join("tarred");
    let tarred_s = tarred.to_str().unwrap();
    cli_stdout(&[
        "pack",
        model_s,
        "-o",
        tarred_s,
        "--name",
        "tiny",
        "--layer-packaging",
        "tar+gzip",
        "--attest",
        "none",
    ]);
    cli_stdout(&["sign", tarred_s, "--key", key.to_str().unwrap()]);
    let again = cli_stdout(&["sign", tarred_s, "--key", key.to_str().unwrap()]);
    let index: Value =
        serde_json::from_slice(&std::fs::read(tarred.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"].as_array().unwrap().len(),
        2,
        "signing twice with one key gives one referrer (RFC 6979): {index}"
    );
    assert_eq!(index["manifests"][1]["digest"], again.trim());
    let folder = work.join("tiny-tar");
    let inside = folder.join("model.sig");
    cli_stdout(&[
        "unpack",
        tarred_s,
        "-o",
        folder.to_str().unwrap(),
        "--signature",
        inside.to_str().unwrap(),
    ]);
    let (ok, said) = verify(&inside, &public, &folder);
    assert!(ok, "model_signing verify refused the tar model: {said}");
}
