//! End-to-end: the output modes (`files`, `artifact`, `image`) and the
//! `packager/generic` target, through the real `docker buildx build` and
//! stock exporters (`type=local`, `type=oci`, `type=image,push=true`), a
//! real registry, `skopeo` and `oras`.
//!
//! `#[ignore]`d for plain `cargo test`: they need the engine
//! (`integration/engine.sh`) and the frontend image in the local registry.
//! Result metadata of the `artifact` mode cannot be seen from buildx (it
//! only prints exporter responses); it is unit-tested in the frontend's
//! `output.rs`.

use std::collections::BTreeMap;
use std::io::Read as _;

use integration::engine::{self, Build, Engine};
use integration::fs::{self, TempDir};
use integration::unique_name;
use serde_json::Value;

/// Test files: nested folders, an executable, an empty file, a duplicate.
fn model() -> Vec<(&'static str, Vec<u8>, bool)> {
    vec![
        (
            "config.json",
            br#"{"architectures":["TinyForCausalLM"]}"#.to_vec(),
            false,
        ),
        (
            "model.safetensors",
            fs::pseudo_random_bytes(40 << 10, 42),
            false,
        ),
        ("scripts/run.sh", b"#!/bin/sh\necho hi\n".to_vec(), true),
        ("sub/deeper/notes.md", b"# notes\n".to_vec(), false),
        ("sub/empty.txt", Vec::new(), false),
        (
            "sub/config-copy.json",
            br#"{"architectures":["TinyForCausalLM"]}"#.to_vec(),
            false,
        ),
    ]
}

fn model_context() -> TempDir {
    let ctx = TempDir::new("ctx");
    for (path, bytes, exec) in model() {
        let p = fs::write_file(ctx.path(), path, &bytes);
        fs::set_mode(&p, if exec { 0o755 } else { 0o644 });
    }
    ctx
}

/// A registry reference deleted (best effort) when the test ends.
struct RemoteImage(String);

impl Drop for RemoteImage {
    fn drop(&mut self) {
        let _ = engine::skopeo(&[
            "delete",
            "--tls-verify=false",
            &format!("docker://{}", self.0),
        ]);
    }
}

fn remote(prefix: &str) -> RemoteImage {
    RemoteImage(format!(
        "{}/itest/{}:v1",
        engine::REGISTRY,
        unique_name(prefix)
    ))
}

fn json(bytes: &[u8], what: &str) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what} is not JSON: {e}"))
}

// ------------------------------------------------------------ files ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn files_mode_gives_the_model_tree_with_modes() {
    let ctx = model_context();
    let out = TempDir::new("out");
    let dest = out.join("files");
    Build::new(ctx.path())
        .arg("source", ".")
        .arg("output_mode", "files")
        .output(&dest)
        .run()
        .assert_success();
    fs::assert_same_tree(ctx.path(), &dest);
    assert_eq!(fs::mode(&dest.join("scripts/run.sh")) & 0o777, 0o755);
    assert_eq!(fs::mode(&dest.join("config.json")) & 0o777, 0o644);
    assert!(!dest.join("index.json").exists(), "no layout in files mode");
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn artifact_mode_exports_the_files_and_refuses_tar_layers() {
    let ctx = model_context();
    let out = TempDir::new("out");
    let dest = out.join("artifact");
    Build::new(ctx.path())
        .arg("source", ".")
        .arg("output_mode", "artifact")
        .output(&dest)
        .run()
        .assert_success();
    fs::assert_same_tree(ctx.path(), &dest);

    let failed = Build::new(ctx.path())
        .arg("source", ".")
        .arg("output_mode", "artifact")
        .arg("layer_packaging", "tar")
        .output(out.join("never"))
        .run();
    failed.assert_failure_with("build-arg layer_packaging=tar needs output_mode=layout");
}

// ------------------------------------------------------------ image ---
//
// Docker 26's default (docker) driver has no `type=oci`/`type=docker`
// exporter without the containerd image store, so images are pushed with
// the stock image exporter and read back with skopeo.

/// An OCI image as a registry serves it: manifest, config and each layer's
/// files (path → bytes, directories left out), read back with skopeo.
struct PulledImage {
    manifest: Value,
    config: Value,
    layers: Vec<BTreeMap<String, Vec<u8>>>,
}

fn layer_files(blob: &[u8], media_type: &str) -> BTreeMap<String, Vec<u8>> {
    let tar_bytes = if media_type.ends_with("gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(blob)
            .read_to_end(&mut out)
            .expect("gunzip layer");
        out
    } else {
        blob.to_vec()
    };
    let mut files = BTreeMap::new();
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    for entry in archive.entries().expect("layer entries") {
        let mut entry = entry.expect("layer entry");
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let name = entry
            .path()
            .expect("layer path")
            .to_string_lossy()
            .to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read layer file");
        files.insert(name, bytes);
    }
    files
}

/// Pushes the build's image to `target` with `-o type=image,push=true`
/// and reads it back.
fn build_and_pull(build: Build, target: &RemoteImage) -> PulledImage {
    build
        .flag("-o")
        .flag(&format!("type=image,name={},push=true", target.0))
        .run()
        .assert_success();
    pull(target)
}

fn pull(target: &RemoteImage) -> PulledImage {
    let reference = format!("docker://{}", target.0);
    let out = TempDir::new("pulled");
    let dir = out.join("oci");
    engine::skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &reference,
        &format!("oci:{}:x", dir.display()),
    ])
    .assert_success();
    let blob = |d: &str| std::fs::read(dir.join("blobs").join(d.replacen(':', "/", 1))).unwrap();
    let index = json(
        &std::fs::read(dir.join("index.json")).unwrap(),
        "index.json",
    );
    let manifest = json(
        &blob(index["manifests"][0]["digest"].as_str().unwrap()),
        "manifest",
    );
    let config = json(
        &blob(manifest["config"]["digest"].as_str().unwrap()),
        "image config",
    );
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            layer_files(
                &blob(l["digest"].as_str().unwrap()),
                l["mediaType"].as_str().unwrap(),
            )
        })
        .collect();
    PulledImage {
        manifest,
        config,
        layers,
    }
}

/// Every file of the model appears exactly once, alone in its own layer,
/// under `dir` (compared by path and sha256).
fn assert_one_layer_per_file(layers: &[BTreeMap<String, Vec<u8>>], dir: &str) {
    let expected: BTreeMap<String, String> = model()
        .into_iter()
        .map(|(p, b, _)| (format!("{dir}/{p}"), integration::sha256_digest(&b)))
        .collect();
    let listing: Vec<Vec<&String>> = layers.iter().map(|l| l.keys().collect()).collect();
    assert_eq!(
        layers.len(),
        expected.len(),
        "one layer per file: {listing:?}"
    );
    let mut seen = BTreeMap::new();
    for layer in layers {
        assert_eq!(
            layer.len(),
            1,
            "a layer holds exactly one file: {listing:?}"
        );
        seen.extend(
            layer
                .iter()
                .map(|(p, b)| (p.clone(), integration::sha256_digest(b))),
        );
    }
    assert_eq!(seen, expected, "layer files vs the model under {dir}");
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn image_mode_pushes_one_layer_per_file_with_model_labels() {
    let ctx = model_context();
    let target = remote("image");
    let build = || {
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("output_mode", "image")
            .arg("name", "tiny")
    };
    let image = build_and_pull(build(), &target);
    assert_one_layer_per_file(&image.layers, "models");
    let labels = &image.config["config"]["Labels"];
    assert_eq!(labels["org.cncf.model.name"], "tiny", "labels: {labels}");
    assert_eq!(
        labels["org.cncf.model.format"], "safetensors",
        "labels: {labels}"
    );
    assert_eq!(labels["org.opencontainers.image.title"], "tiny");
    assert!(labels["org.cncf.model.config.digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(image.config["os"], "linux");
    assert_eq!(
        image.config["created"], "1970-01-01T00:00:00Z",
        "no time of now in the config"
    );
    let history = image.config["history"].as_array().unwrap();
    assert_eq!(
        history.len(),
        image.layers.len(),
        "one history entry per layer: {history:?}"
    );
    assert_eq!(
        image.config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        image.layers.len()
    );

    // Same inputs, same image, even without the cache.
    let again = remote("image-again");
    let second = build_and_pull(build().no_cache(), &again);
    assert_eq!(
        second.manifest, image.manifest,
        "a rebuild gives the same manifest"
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn image_mode_honours_model_dir_and_refuses_a_relative_one() {
    let ctx = model_context();
    let target = remote("image-dir");
    let image = build_and_pull(
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("output_mode", "image")
            .arg("model_dir", "/opt/model"),
        &target,
    );
    assert_one_layer_per_file(&image.layers, "opt/model");
    assert_eq!(
        image.config["config"]["Labels"]["org.cncf.model.name"],
        "model"
    );

    let bad = Build::new(ctx.path())
        .arg("source", ".")
        .arg("output_mode", "image")
        .arg("model_dir", "models");
    bad.output(TempDir::new("never").path())
        .run()
        .assert_failure_with("build-arg model_dir: \"models\" is not a clean absolute path");
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn image_mode_puts_the_model_on_a_base_image() {
    // A small base image built here from scratch: no internet needed.
    let base_ctx = TempDir::new("base");
    fs::write_file(base_ctx.path(), "hello.txt", b"from the base\n");
    fs::write_file(
        base_ctx.path(),
        "Dockerfile",
        b"FROM scratch\nCOPY hello.txt /etc/hello.txt\nENV GREETING=hi\nLABEL base.label=kept\nCMD [\"/bin/true\"]\n",
    );
    let base = remote("base");
    let dockerfile = base_ctx.join("Dockerfile").display().to_string();
    let args: Vec<String> = [
        "buildx",
        "build",
        "--progress=plain",
        "-f",
        &dockerfile,
        "-o",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        format!("type=image,name={},push=true", base.0),
        base_ctx.path().display().to_string(),
    ])
    .collect();
    Engine::Current
        .run_docker(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            engine::default_timeout(),
        )
        .assert_success();

    let ctx = model_context();
    let target = remote("on-base");
    let image = build_and_pull(
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("output_mode", "image")
            .arg("base_image", &base.0),
        &target,
    );
    assert_eq!(
        image.layers[0].keys().collect::<Vec<_>>(),
        ["etc/hello.txt"],
        "the base layer comes first"
    );
    assert_one_layer_per_file(&image.layers[1..], "models");
    let config = &image.config["config"];
    assert_eq!(
        config["Env"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| *e == "GREETING=hi")
            .count(),
        1,
        "{config}"
    );
    assert_eq!(config["Cmd"], serde_json::json!(["/bin/true"]));
    assert_eq!(config["Labels"]["base.label"], "kept");
    assert_eq!(config["Labels"]["org.cncf.model.name"], "model");
    let with_layers = image.config["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["empty_layer"] != true)
        .count();
    assert_eq!(
        with_layers,
        image.layers.len(),
        "history lines up with the layers"
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn image_mode_fails_clearly_for_a_base_image_that_does_not_exist() {
    let ctx = model_context();
    let missing = format!("{}/itest/{}:none", engine::REGISTRY, unique_name("missing"));
    Build::new(ctx.path())
        .arg("source", ".")
        .arg("output_mode", "image")
        .arg("base_image", &missing)
        .output(TempDir::new("never").path())
        .run()
        .assert_failure_with("build-arg base_image: cannot resolve");
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn image_mode_with_a_local_exporter_writes_the_files_under_model_dir() {
    let ctx = model_context();
    let out = TempDir::new("out");
    let dest = out.join("rootfs");
    Build::new(ctx.path())
        .arg("source", ".")
        .arg("output_mode", "image")
        .output(&dest)
        .run()
        .assert_success();
    fs::assert_same_tree(ctx.path(), &dest.join("models"));
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn image_mode_from_the_hub_labels_source_and_revision() {
    let hub = integration::hub::FakeHub::start();
    let repo = integration::hub::unique_repo("image");
    let files: Vec<(&str, Vec<u8>)> = model().into_iter().map(|(p, b, _)| (p, b)).collect();
    let commit = hub.create_repo(&repo, files, None);
    let target = remote("hub-image");
    let ctx = TempDir::new("hf-ctx");
    let image = build_and_pull(
        Build::new(ctx.path())
            .arg("source", &format!("huggingface://{repo}"))
            .arg("hf_endpoint", &hub.endpoint)
            .arg("output_mode", "image"),
        &target,
    );
    assert_one_layer_per_file(&image.layers, "models");
    let labels = &image.config["config"]["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.revision"],
        commit.as_str(),
        "{labels}"
    );
    assert_eq!(labels["org.cncf.model.revision"], commit.as_str());
    let source = labels["org.opencontainers.image.source"]
        .as_str()
        .unwrap_or_default();
    assert!(
        source.starts_with(&hub.endpoint) && source.ends_with(&repo),
        "source label {source:?}"
    );
}

// ---------------------------------------------------------- generic ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn generic_artifact_round_trips_through_a_registry_with_oras() {
    let ctx = model_context();
    let out = TempDir::new("out");
    let layout = out.join("layout");
    Build::new(ctx.path())
        .target("packager/generic")
        .arg("source", ".")
        .arg("name", "data")
        .arg("artifact_type", "application/vnd.example.data.v1")
        .output(&layout)
        .run()
        .assert_success();

    let index = json(
        &std::fs::read(layout.join("index.json")).unwrap(),
        "index.json",
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "data"
    );
    let blob = |d: &str| std::fs::read(layout.join("blobs").join(d.replacen(':', "/", 1))).unwrap();
    let manifest = json(
        &blob(index["manifests"][0]["digest"].as_str().unwrap()),
        "manifest",
    );
    assert_eq!(manifest["artifactType"], "application/vnd.example.data.v1");
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(blob(manifest["config"]["digest"].as_str().unwrap()), b"{}");
    for l in manifest["layers"].as_array().unwrap() {
        assert_eq!(l["mediaType"], "application/octet-stream");
        let title = l["annotations"]["org.opencontainers.image.title"]
            .as_str()
            .unwrap();
        assert_eq!(
            blob(l["digest"].as_str().unwrap()),
            std::fs::read(ctx.join(title)).unwrap(),
            "{title}"
        );
    }

    let target = remote("generic");
    engine::skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:data", layout.display()),
        &format!("docker://{}", target.0),
    ])
    .assert_success();
    let pulled = out.join("pulled");
    std::fs::create_dir_all(&pulled).unwrap();
    let args: Vec<String> = [
        "pull",
        "--plain-http",
        &target.0,
        "-o",
        &pulled.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    engine::run("oras", &args, engine::default_timeout()).assert_success();
    fs::assert_same_tree(ctx.path(), &pulled);
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn generic_tar_layers_use_oci_layer_media_types_and_files_mode_works() {
    let ctx = model_context();
    let out = TempDir::new("out");
    let layout = out.join("layout");
    Build::new(ctx.path())
        .target("packager/generic")
        .arg("source", ".")
        .arg("layer_packaging", "tar+gzip")
        .output(&layout)
        .run()
        .assert_success();
    let index = json(
        &std::fs::read(layout.join("index.json")).unwrap(),
        "index.json",
    );
    let blob = |d: &str| std::fs::read(layout.join("blobs").join(d.replacen(':', "/", 1))).unwrap();
    let manifest = json(
        &blob(index["manifests"][0]["digest"].as_str().unwrap()),
        "manifest",
    );
    assert_eq!(
        manifest["artifactType"],
        "application/vnd.unknown.artifact.v1"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), model().len());
    for l in layers {
        assert_eq!(
            l["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let title = l["annotations"]["org.opencontainers.image.title"]
            .as_str()
            .unwrap();
        let files = layer_files(&blob(l["digest"].as_str().unwrap()), "tar+gzip");
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            [title],
            "a tar layer holds its file at its path"
        );
    }

    let files = out.join("files");
    Build::new(ctx.path())
        .target("packager/generic")
        .arg("source", ".")
        .arg("output_mode", "files")
        .output(&files)
        .run()
        .assert_success();
    fs::assert_same_tree(ctx.path(), &files);

    let wrong = Build::new(ctx.path())
        .arg("source", ".")
        .arg("artifact_type", "a/b")
        .output(out.join("x"))
        .run();
    wrong.assert_failure_with("build-arg artifact_type only applies to --target packager/generic");
}
