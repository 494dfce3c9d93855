//! End-to-end: the documents `pack` attaches to a model (a CycloneDX BOM
//! and SLSA provenance, OCI referrers in the layout), read against the
//! layout, checked by CycloneDX's own validator, pushed to docker-registry
//! 2.8 (no referrers API: the fallback tag) after `oras attach` put another
//! document there (both remain, `oras discover` lists them), read back by
//! `inspect REF`, `pull --referrers` and `validate REF`; and signed and
//! attested with cosign (offline: a local key, no transparency log).
//!
//! Needs the CLI binary (`MODELPACK_CLI`, else `$CARGO_TARGET_DIR/debug/
//! modelpack-frontend`), `docker-registry`, `oras`, `cosign` and python3
//! with `cyclonedx-python-lib[json-validation]`; `#[ignore]`d like every
//! end-to-end test.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use integration::fs::{self, TempDir};
use integration::{cli_stdout, stdout_of};
use oci_registry::testing::{require_tool, skip_without, Registry};
use serde_json::Value;

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap()
}

/// The model folder: a card with a licence, task and data set; a config;
/// a weight.
fn model_dir() -> TempDir {
    let dir = TempDir::new("trust-model");
    fs::write_file(
        dir.path(),
        "README.md",
        b"---\nlicense: apache-2.0\npipeline_tag: text-generation\ndatasets:\n- wikitext\n---\n# tiny\n",
    );
    fs::write_file(
        dir.path(),
        "config.json",
        br#"{"model_type":"llama","architectures":["LlamaForCausalLM"]}"#,
    );
    fs::write_file(
        dir.path(),
        "model.safetensors",
        &fs::pseudo_random_bytes(64 << 10, fs::fresh_seed()),
    );
    dir
}

fn cyclonedx_strict(bom: &[u8]) -> Result<(), String> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys\n\
             from cyclonedx.schema import SchemaVersion\n\
             from cyclonedx.validation.json import JsonStrictValidator\n\
             e = JsonStrictValidator(SchemaVersion.V1_6).validate_str(sys.stdin.read())\n\
             print(e or '')\n\
             sys.exit(1 if e else 0)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bom).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn has_cyclonedx() -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "from cyclonedx.validation.json import JsonStrictValidator",
        ])
        .status()
        .is_ok_and(|s| s.success());
    ok || skip_without("python3 with cyclonedx-python-lib[json-validation]")
}

#[test]
#[ignore = "needs docker-registry, oras, cosign and cyclonedx-python-lib"]
fn documents_in_the_layout_through_a_registry_and_cosign() {
    if !["docker-registry", "oras", "cosign", "python3"]
        .iter()
        .all(|t| require_tool(t))
        || !has_cyclonedx()
    {
        return;
    }
    let model = model_dir();
    let work = TempDir::new("trust-work");
    let out = work.join("out");
    let out_s = out.to_str().unwrap();
    cli_stdout(&[
        "pack",
        model.path().to_str().unwrap(),
        "-o",
        out_s,
        "--name",
        "tiny",
    ]);

    // index.json: the model first (named), then the BOM and the provenance.
    let index = json(&out.join("index.json"));
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{index}");
    let model_digest = entries[0]["digest"].as_str().unwrap().to_string();
    assert_eq!(
        entries[0]["annotations"]["org.opencontainers.image.ref.name"],
        "tiny"
    );
    assert_eq!(entries[1]["artifactType"], "application/vnd.cyclonedx+json");
    assert_eq!(entries[2]["artifactType"], "application/vnd.in-toto+json");
    // --attest none: the same model manifest, and nothing else.
    let bare = work.join("bare");
    let bare_s = bare.to_str().unwrap();
    let printed = cli_stdout(&[
        "pack",
        model.path().to_str().unwrap(),
        "-o",
        bare_s,
        "--name",
        "tiny",
        "--attest",
        "none",
    ]);
    assert!(printed.contains(&model_digest), "{printed}");
    assert_eq!(
        json(&bare.join("index.json"))["manifests"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Each referrer: subject = the model, config empty, one layer.
    let model_manifest: Value = serde_json::from_slice(&blob(&out, &model_digest)).unwrap();
    let mut docs = BTreeMap::new();
    for e in &entries[1..] {
        let m: Value = serde_json::from_slice(&blob(&out, e["digest"].as_str().unwrap())).unwrap();
        assert_eq!(m["subject"]["digest"], model_digest.as_str());
        assert_eq!(
            m["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(m["layers"].as_array().unwrap().len(), 1);
        let doc = blob(&out, m["layers"][0]["digest"].as_str().unwrap());
        docs.insert(m["artifactType"].as_str().unwrap().to_string(), doc);
    }
    let bom = &docs["application/vnd.cyclonedx+json"];
    cyclonedx_strict(bom).unwrap_or_else(|e| panic!("the BOM is not valid CycloneDX 1.6: {e}"));
    let b: Value = serde_json::from_slice(bom).unwrap();
    let component = &b["metadata"]["component"];
    assert_eq!(component["type"], "machine-learning-model");
    assert_eq!(component["licenses"][0]["license"]["id"], "Apache-2.0");
    assert_eq!(
        component["modelCard"]["modelParameters"]["task"],
        "text-generation"
    );
    assert_eq!(
        component["modelCard"]["modelParameters"]["datasets"][0]["name"],
        "wikitext"
    );
    // One file component per layer, its sha256 the raw layer's digest.
    let layers = model_manifest["layers"].as_array().unwrap();
    let files = b["components"].as_array().unwrap();
    assert_eq!(files.len(), layers.len());
    let statement: Value = serde_json::from_slice(&docs["application/vnd.in-toto+json"]).unwrap();
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        &model_digest[7..]
    );
    let deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    for layer in layers {
        let path = layer["annotations"]["org.opencontainers.image.title"]
            .as_str()
            .unwrap();
        let hex = &layer["digest"].as_str().unwrap()[7..];
        assert!(
            files
                .iter()
                .any(|f| f["name"] == path && f["hashes"][0]["content"] == hex),
            "no BOM component for {path}"
        );
        assert!(
            deps.iter()
                .any(|d| d["name"] == path && d["digest"]["sha256"] == hex),
            "no resolved dependency for {path}"
        );
    }
    assert_eq!(
        statement["predicate"]["runDetails"]["builder"]["id"],
        "https://modelpack-frontend.dev/builders/cli/v1"
    );
    let validated = cli_stdout(&["validate", out_s]);
    assert!(validated.starts_with("ok:"), "{validated}");

    // A registry without the referrers API; someone attaches first.
    let reg = Registry::plain();
    let repo = format!("{}/models/tiny", reg.host);
    let at = format!("{repo}@{model_digest}");
    cli_stdout(&[
        "push",
        &format!("{bare_s}:tiny"),
        &format!("{repo}:v1"),
        "--plain-http",
    ]);
    fs::write_file(work.path(), "note.txt", b"someone else's document\n");
    stdout_of(
        Command::new("oras").current_dir(work.path()).args([
            "attach",
            "--plain-http",
            "--artifact-type",
            "application/x-note",
            &at,
            "note.txt",
        ]),
        "oras attach",
    );
    let pushed = cli_stdout(&[
        "push",
        &format!("{out_s}:tiny"),
        &format!("{repo}:v1"),
        "--plain-http",
    ]);
    assert_eq!(pushed.trim(), model_digest);
    let discovered = stdout_of(
        Command::new("oras").args(["discover", "--plain-http", "--format", "json", &at]),
        "oras discover",
    );
    for (i, t) in [
        "application/x-note",
        "application/vnd.cyclonedx+json",
        "application/vnd.in-toto+json",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            discovered.contains(t),
            "oras discover lacks {t}: {discovered}"
        );
        if i > 0 {
            assert!(discovered.contains(entries[i]["digest"].as_str().unwrap()));
        }
    }
    let listed = cli_stdout(&["inspect", &at, "--plain-http", "--json"]);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["referrers"].as_array().unwrap().len(), 3, "{listed}");
    let validated = cli_stdout(&["validate", &at, "--plain-http"]);
    assert!(validated.starts_with("ok:"), "{validated}");
    let pulled = work.join("pulled");
    cli_stdout(&[
        "pull",
        &format!("{repo}:v1"),
        "-o",
        pulled.to_str().unwrap(),
        "--referrers",
        "--plain-http",
    ]);
    let pulled_index = json(&pulled.join("index.json"));
    assert_eq!(
        pulled_index["manifests"].as_array().unwrap().len(),
        4,
        "{pulled_index}"
    );
    assert_eq!(
        pulled_index["manifests"][0]["digest"],
        model_digest.as_str()
    );
    let local = cli_stdout(&["inspect", pulled.to_str().unwrap(), "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&local).unwrap()["referrers"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // cosign, offline: sign what push uploaded; attest our predicate and BOM.
    let keys = TempDir::new("trust-cosign");
    let cosign = |args: &[&str], what: &str| {
        stdout_of(
            Command::new("cosign")
                .current_dir(keys.path())
                .env("COSIGN_PASSWORD", "test-only-password")
                .env("HOME", keys.path())
                .args(args),
            what,
        )
    };
    cosign(&["generate-key-pair"], "cosign generate-key-pair");
    let sign = [
        "--key",
        "cosign.key",
        "--tlog-upload=false",
        "--allow-http-registry",
        "--yes",
    ];
    let verify = [
        "--key",
        "cosign.pub",
        "--insecure-ignore-tlog",
        "--allow-http-registry",
    ];
    cosign(&[&["sign"][..], &sign, &[&at]].concat(), "cosign sign");
    cosign(
        &[&["verify"][..], &verify, &[&at]].concat(),
        "cosign verify",
    );
    let predicate = cli_stdout(&["inspect", &at, "--plain-http", "--predicate"]);
    let p: Value = serde_json::from_str(&predicate).unwrap();
    assert_eq!(
        p, statement["predicate"],
        "--predicate prints the predicate alone"
    );
    std::fs::write(keys.join("predicate.json"), &predicate).unwrap();
    std::fs::write(
        keys.join("bom.json"),
        cli_stdout(&["inspect", out_s, "--bom"]),
    )
    .unwrap();
    for (kind, file) in [
        ("slsaprovenance1", "predicate.json"),
        ("cyclonedx", "bom.json"),
    ] {
        let attest = ["--type", kind, "--predicate", file];
        cosign(
            &[&["attest"][..], &sign, &attest, &[&at]].concat(),
            "cosign attest",
        );
        let checked = cosign(
            &[&["verify-attestation", "--type", kind][..], &verify, &[&at]].concat(),
            "cosign verify-attestation",
        );
        assert!(checked.contains("payload"), "{checked}");
    }
    // Ours are still listed after cosign's (tag-based) signatures.
    let after = cli_stdout(&["inspect", &at, "--plain-http", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&after).unwrap()["referrers"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// The frontend writes the same documents into `output_mode=layout`: the
/// model manifest is the CLI's (same digest), the BOM passes CycloneDX's
/// validator, the provenance names the frontend's builder and its image by
/// digest; `attest=none` writes the model alone, and other output modes
/// carry no documents.
#[test]
#[ignore = "needs the engines, the frontend image and cyclonedx-python-lib"]
fn the_frontend_attaches_the_same_documents() {
    use integration::engine::Build;
    if !has_cyclonedx() {
        return;
    }
    let model = model_dir();
    let work = TempDir::new("trust-frontend");
    let built = work.join("built");
    Build::new(model.path())
        .arg("source", ".")
        .arg("name", "tiny")
        .output(&built)
        .run()
        .assert_success();
    let packed = work.join("packed");
    cli_stdout(&[
        "pack",
        model.path().to_str().unwrap(),
        "-o",
        packed.to_str().unwrap(),
        "--name",
        "tiny",
    ]);
    let index = json(&built.join("index.json"));
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{index}");
    assert_eq!(entries[0], json(&packed.join("index.json"))["manifests"][0]);
    let model_digest = entries[0]["digest"].as_str().unwrap();
    let doc = |i: usize| {
        let m: Value =
            serde_json::from_slice(&blob(&built, entries[i]["digest"].as_str().unwrap())).unwrap();
        assert_eq!(m["subject"]["digest"], model_digest);
        blob(&built, m["layers"][0]["digest"].as_str().unwrap())
    };
    let bom = doc(1);
    cyclonedx_strict(&bom).unwrap_or_else(|e| panic!("the frontend's BOM: {e}"));
    // The BOM of the same files is the CLI's, byte for byte.
    let packed_index = json(&packed.join("index.json"));
    assert_eq!(
        entries[1], packed_index["manifests"][1],
        "the BOM referrers differ"
    );
    let statement: Value = serde_json::from_slice(&doc(2)).unwrap();
    let predicate = &statement["predicate"];
    assert_eq!(
        predicate["runDetails"]["builder"]["id"],
        "https://modelpack-frontend.dev/builders/buildkit-frontend/v1"
    );
    assert_eq!(
        predicate["buildDefinition"]["externalParameters"]["source"],
        "."
    );
    let deps = predicate["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    let frontend = deps
        .iter()
        .find(|d| d["name"] == "frontend")
        .unwrap_or_else(|| panic!("no frontend image in {deps:?}"));
    assert_eq!(frontend["uri"], integration::engine::frontend_image());
    assert_eq!(frontend["digest"]["sha256"].as_str().unwrap().len(), 64);
    let validated = cli_stdout(&["validate", built.to_str().unwrap()]);
    assert!(validated.starts_with("ok:"), "{validated}");

    let bare = work.join("bare");
    Build::new(model.path())
        .arg("source", ".")
        .arg("name", "tiny")
        .arg("attest", "none")
        .output(&bare)
        .run()
        .assert_success();
    let bare_index = json(&bare.join("index.json"));
    assert_eq!(bare_index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(bare_index["manifests"][0], entries[0]);
}
