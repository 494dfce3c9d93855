//! End-to-end: what stock exporters give for each output mode on Docker
//! 28.5 with the containerd image store (`Engine::Store`), the engine
//! column of docs/usage.md's second output-mode table: `-o type=oci` and
//! `--load` for `layout`, `files`, `artifact` and `image`, built from
//! `examples/tiny-model` (4 files).
//!
//! - `layout`: an image whose layers hold the layout's files (`index.json`,
//!   `oci-layout`, `blobs/sha256/…`), not the artifact;
//! - `files`, `artifact`: an image with one layer holding the files;
//! - `image`: one layer per file under `/models`, with the model's labels;
//! - `--load` puts the same image (same layer diff IDs) in the engine's
//!   image store;
//! - `--push` gives an OCI index of that image (same layer diff IDs, OCI
//!   media types) for `linux/amd64` and buildx's provenance attestation
//!   manifest (`unknown/unknown`).
//!
//! `#[ignore]`d like the other e2e tests; `integration/test.sh` runs them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::time::Duration;

use integration::engine::{Build, Engine};
use integration::fs::TempDir;
use integration::unique_name;
use serde_json::Value;

/// The files of `examples/tiny-model`.
const FILES: [&str; 4] = [
    "README.md",
    "config.json",
    "model.gguf",
    "tokenizer/tokenizer.json",
];

/// The entries of a tar archive: path (without a leading `./` or `/`) to
/// bytes, regular files only.
fn tar_files(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().expect("a tar archive") {
        let mut entry = entry.expect("a tar entry");
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let path = path
            .trim_start_matches("./")
            .trim_start_matches('/')
            .to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(path, data);
    }
    out
}

/// A layer blob as an uncompressed tar (gzip, zstd or none).
fn layer_tar(media_type: &str, blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
        flate2::read::GzDecoder::new(blob)
            .read_to_end(&mut out)
            .unwrap();
    } else if media_type.ends_with("+zstd") || media_type.ends_with(".zstd") {
        out = zstd::decode_all(blob).unwrap();
    } else {
        out = blob.to_vec();
    }
    out
}

/// The image of an `-o type=oci` tarball: its manifest, config and the
/// files of each layer, in order.
struct OciImage {
    manifest: Value,
    config: Value,
    layers: Vec<BTreeMap<String, Vec<u8>>>,
}

fn read_oci_tar(path: &std::path::Path) -> OciImage {
    let files = tar_files(&std::fs::read(path).unwrap());
    let blob = |digest: &str| -> &Vec<u8> {
        let key = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
        files
            .get(&key)
            .unwrap_or_else(|| panic!("{key} missing from the OCI tarball"))
    };
    let json = |bytes: &[u8]| -> Value { serde_json::from_slice(bytes).unwrap() };
    // The index may hold an index, and attestation manifests (unknown/unknown).
    let mut index = json(&files["index.json"]);
    let manifest = loop {
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["os"] != "unknown")
            .unwrap_or_else(|| panic!("no image in the OCI index: {index}"))
            .clone();
        let doc = json(blob(entry["digest"].as_str().unwrap()));
        if doc["manifests"].is_array() {
            index = doc;
        } else {
            break doc;
        }
    };
    let config = json(blob(manifest["config"]["digest"].as_str().unwrap()));
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            tar_files(&layer_tar(
                l["mediaType"].as_str().unwrap(),
                blob(l["digest"].as_str().unwrap()),
            ))
        })
        .collect();
    OciImage {
        manifest,
        config,
        layers,
    }
}

fn build(ctx: &std::path::Path, mode: &str) -> Build {
    Build::new(ctx)
        .engine(Engine::Store)
        .arg("source", ".")
        .arg("output_mode", mode)
        .arg("name", "tiny")
}

/// The paths of every layer, sorted and deduplicated.
fn all_paths(image: &OciImage) -> BTreeSet<String> {
    image
        .layers
        .iter()
        .flat_map(|l| l.keys().cloned())
        .collect()
}

fn diff_ids(config: &Value) -> Vec<String> {
    config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect()
}

#[test]
#[ignore = "needs the store engine and the frontend image: run integration/test.sh"]
fn store_engine_oci_export_and_load_per_output_mode() {
    Engine::Store.assert_ready();
    let ctx = integration::repo_root().join("examples/tiny-model");
    let out = TempDir::new("store-outputs");
    for mode in ["layout", "files", "artifact", "image"] {
        let tarball = out.join(format!("{mode}.tar"));
        build(&ctx, mode)
            .flag(&format!("--output=type=oci,dest={}", tarball.display()))
            .run()
            .assert_success();
        let image = read_oci_tar(&tarball);
        let paths = all_paths(&image);
        assert_eq!(
            image.manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json",
            "{mode}: -o type=oci gives an image"
        );
        assert!(
            image.manifest.get("artifactType").is_none(),
            "{mode}: -o type=oci gives an image, not an artifact: {}",
            image.manifest
        );
        let expected: BTreeSet<String> = FILES.iter().map(|f| f.to_string()).collect();
        match mode {
            "layout" => {
                assert!(
                    paths.contains("index.json")
                        && paths.contains("oci-layout")
                        && paths.iter().any(|p| p.starts_with("blobs/sha256/")),
                    "layout: the image's layers hold the layout's files: {paths:?}"
                );
                assert!(
                    !paths.contains("config.json"),
                    "layout: the model's files are blobs, not files: {paths:?}"
                );
            }
            "files" | "artifact" => {
                assert_eq!(image.layers.len(), 1, "{mode}: one layer");
                assert_eq!(paths, expected, "{mode}: the layer holds the files at /");
            }
            "image" => {
                assert_eq!(image.layers.len(), FILES.len(), "image: one layer per file");
                for layer in &image.layers {
                    assert_eq!(
                        layer.len(),
                        1,
                        "image: one file per layer: {:?}",
                        layer.keys()
                    );
                }
                let under: BTreeSet<String> =
                    expected.iter().map(|f| format!("models/{f}")).collect();
                assert_eq!(paths, under, "image: the files under /models");
                let labels = &image.config["config"]["Labels"];
                assert_eq!(labels["org.cncf.model.name"], "tiny", "labels: {labels}");
            }
            _ => unreachable!(),
        }

        // --load: the same image (same layers) in the engine's image store.
        let tag = format!("modelpack-store-outputs/{}:{mode}", unique_name(mode));
        build(&ctx, mode)
            .flag("--load")
            .flag("-t")
            .flag(&tag)
            .run()
            .assert_success();
        let inspect = Engine::Store.run_docker(
            &["image", "inspect", "--format", "{{json .}}", &tag],
            Duration::from_secs(60),
        );
        assert!(
            inspect.success,
            "{mode}: inspect {tag}\n{}",
            inspect.report()
        );
        let loaded: Value = serde_json::from_slice(&inspect.stdout).unwrap();
        let loaded_layers: Vec<String> = loaded["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            loaded_layers,
            diff_ids(&image.config),
            "{mode}: --load gives the image -o type=oci gives"
        );
        if mode == "image" {
            assert_eq!(
                loaded["Config"]["Labels"]["org.cncf.model.name"], "tiny",
                "image: --load keeps the labels"
            );
        }
        let _ = Engine::Store.run_docker(&["image", "rm", &tag], Duration::from_secs(60));

        // --push: an index of that image and buildx's attestation.
        let pushed = format!(
            "localhost:5000/modelpack-store-outputs/{}:{mode}",
            unique_name(mode)
        );
        build(&ctx, mode)
            .flag("--push")
            .flag("-t")
            .flag(&pushed)
            .run()
            .assert_success();
        let (index, fetch) = registry_index(&pushed);
        assert_eq!(
            index["mediaType"], "application/vnd.oci.image.index.v1+json",
            "{mode}: --push gives an OCI index: {index}"
        );
        let entries = index["manifests"].as_array().unwrap();
        assert_eq!(
            entries.len(),
            2,
            "{mode}: the image and the attestation: {index}"
        );
        assert_eq!(entries[0]["platform"]["os"], "linux", "{index}");
        assert_eq!(entries[0]["platform"]["architecture"], "amd64", "{index}");
        assert_eq!(
            entries[1]["annotations"]["vnd.docker.reference.type"], "attestation-manifest",
            "{mode}: {index}"
        );
        let manifest = fetch(entries[0]["digest"].as_str().unwrap());
        assert_eq!(
            manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json",
            "{mode}: OCI media types: {manifest}"
        );
        let config = fetch_blob(&pushed, manifest["config"]["digest"].as_str().unwrap());
        assert_eq!(
            diff_ids(&config),
            diff_ids(&image.config),
            "{mode}: --push gives the image -o type=oci gives"
        );
        let attestation = fetch(entries[1]["digest"].as_str().unwrap());
        let predicate = attestation["layers"][0]["annotations"]["in-toto.io/predicate-type"]
            .as_str()
            .unwrap_or_default();
        assert!(
            predicate.starts_with("https://slsa.dev/provenance/"),
            "{mode}: a provenance attestation: {attestation}"
        );
    }
}

/// The MergeOp column: this engine offers `mergeop`, so `image` copies each
/// file alone onto scratch and stacks the copies with one MergeOp (Docker
/// 26 gets a chain of copies instead), as the solve requests the frontend
/// sent show (`debug_dump_llb`).
#[test]
#[ignore = "needs the store engine and the frontend image: run integration/test.sh"]
fn store_engine_image_layers_are_stacked_with_mergeop() {
    use integration::solves;
    Engine::Store.assert_ready();
    let ctx = integration::repo_root().join("examples/tiny-model");
    let out = TempDir::new("store-mergeop");
    let tag = solves::unique_tag("mergeop");
    build(&ctx, "image")
        .arg("debug_dump_llb", &tag)
        .output(out.join("files"))
        .run()
        .assert_success();
    let sent = solves::solves(Engine::Store, &tag, Duration::from_secs(30));
    let merges: Vec<usize> = sent
        .iter()
        .flat_map(|s| s.ops())
        .filter_map(|op| match op.op {
            Some(llb::proto::pb::op::Op::Merge(m)) => Some(m.inputs.len()),
            _ => None,
        })
        .collect();
    assert!(
        merges.contains(&FILES.len()),
        "one MergeOp of the {} per-file copies: {merges:?}",
        FILES.len()
    );
}

/// A client of the local registry (plain HTTP).
fn registry() -> oci_registry::Client {
    oci_registry::Client::new(oci_registry::ClientOptions {
        plain_http: true,
        ..Default::default()
    })
    .unwrap()
}

/// The index `reference` names, and a reader of the manifests it lists.
fn registry_index(reference: &str) -> (Value, impl Fn(&str) -> Value) {
    let client = registry();
    let r = oci_registry::Reference::parse(reference).unwrap();
    let got = client
        .get_manifest(&r, &["application/vnd.oci.image.index.v1+json"])
        .unwrap_or_else(|e| panic!("{reference}: {e}"));
    let index: Value = serde_json::from_slice(&got.bytes).unwrap();
    let fetch = move |digest: &str| -> Value {
        let d = oci_registry::Digest::parse(digest).unwrap();
        let m = client
            .get_manifest(
                &r.with_digest(d),
                &[
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                ],
            )
            .unwrap_or_else(|e| panic!("{digest}: {e}"));
        serde_json::from_slice(&m.bytes).unwrap()
    };
    (index, fetch)
}

/// Blob `digest` of `reference`'s repository, as JSON.
fn fetch_blob(reference: &str, digest: &str) -> Value {
    let r = oci_registry::Reference::parse(reference).unwrap();
    let mut bytes = Vec::new();
    registry()
        .pull_blob(
            &r,
            &oci_registry::Digest::parse(digest).unwrap(),
            &mut bytes,
        )
        .unwrap_or_else(|e| panic!("{digest}: {e}"));
    serde_json::from_slice(&bytes).unwrap()
}
