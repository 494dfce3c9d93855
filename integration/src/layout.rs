//! Loading and verifying a ModelPack OCI image layout as the frontend
//! writes it, and unpacking it back into files.
//!
//! [`Layout::verify`] checks, in order: the top-level entries, `oci-layout`,
//! `index.json` (exactly one manifest), every referenced blob (present,
//! sha256 and size match), the manifest and config media types, each
//! layer's media type and annotations, the config against the official
//! JSON schema, `modelfs.diffIds` against the layer digests, and that no
//! blob is left unreferenced.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// OCI image index media type.
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest media type.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// ModelPack manifest `artifactType`.
pub const ARTIFACT_TYPE_MODEL: &str = "application/vnd.cncf.model.manifest.v1+json";
/// ModelPack config media type.
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.cncf.model.config.v1+json";

/// Layer annotation: the file's path inside the model.
pub const ANNOTATION_FILEPATH: &str = "org.cncf.model.filepath";
/// Layer annotation: the file's metadata as a JSON string.
pub const ANNOTATION_FILE_METADATA: &str = "org.cncf.model.file.metadata+json";
/// Layer annotation: `"true"` when the media type is a guess.
pub const ANNOTATION_UNTESTED: &str = "org.cncf.model.file.mediatype.untested";
/// OCI title annotation.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// OCI reference name annotation (in `index.json`).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The layer kinds, in the order the frontend groups layers.
pub const LAYER_KINDS: [&str; 5] = ["weight.config", "weight", "code", "doc", "dataset"];

/// `application/vnd.cncf.model.<kind>.v1.raw`.
pub fn raw_media_type(kind: &str) -> String {
    format!("application/vnd.cncf.model.{kind}.v1.raw")
}

/// Layer formats of the model spec: the media-type suffix after `.v1.`.
pub const LAYER_FORMATS: &[&str] = &["raw", "tar", "tar+gzip", "tar+zstd"];

/// The `<kind>` and `<format>` of a ModelPack layer media type, if it is one.
pub fn kind_and_format(media_type: &str) -> Option<(&str, &str)> {
    let (kind, format) = media_type
        .strip_prefix("application/vnd.cncf.model.")?
        .split_once(".v1.")?;
    (LAYER_KINDS.contains(&kind) && LAYER_FORMATS.contains(&format)).then_some((kind, format))
}

/// The `<kind>` of a ModelPack layer media type, if it is one.
pub fn kind_of(media_type: &str) -> Option<&str> {
    kind_and_format(media_type).map(|(k, _)| k)
}

/// The uncompressed tar of a tar layer blob (the blob itself for `tar`).
pub fn uncompressed(format: &str, blob: &[u8]) -> Vec<u8> {
    use std::io::Read;
    match format {
        "tar" => blob.to_vec(),
        "tar+gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(blob)
                .read_to_end(&mut out)
                .expect("layer blob is gzip");
            out
        }
        "tar+zstd" => zstd::decode_all(blob).expect("layer blob is zstd"),
        other => panic!("{other} layers are not tars"),
    }
}

/// An OCI content descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// `mediaType`.
    pub media_type: String,
    /// `digest` (`sha256:<hex>`).
    pub digest: String,
    /// `size` in bytes.
    pub size: u64,
    /// `artifactType`, when present.
    pub artifact_type: Option<String>,
    /// `annotations` (empty when absent).
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// Parses a descriptor; `what` names it in panic messages.
    pub fn from_json(v: &Value, what: &str) -> Self {
        let string = |key: &str| -> String {
            v[key]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: {key:?} missing or not a string in {v}"))
                .to_string()
        };
        let size = v["size"]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}: \"size\" missing or not a number in {v}"));
        let annotations = match &v["annotations"] {
            Value::Null => BTreeMap::new(),
            Value::Object(map) => map
                .iter()
                .map(|(k, val)| {
                    let s = val
                        .as_str()
                        .unwrap_or_else(|| panic!("{what}: annotation {k:?} is not a string"));
                    (k.clone(), s.to_string())
                })
                .collect(),
            other => panic!("{what}: \"annotations\" is not an object: {other}"),
        };
        Descriptor {
            media_type: string("mediaType"),
            digest: string("digest"),
            size,
            artifact_type: v["artifactType"].as_str().map(str::to_string),
            annotations,
        }
    }

    /// One annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}

/// One layer: a file of the model.
#[derive(Clone, Debug)]
pub struct Layer {
    /// Its descriptor in the manifest.
    pub descriptor: Descriptor,
    /// `org.cncf.model.filepath`.
    pub path: String,
    /// `org.cncf.model.file.metadata+json`, parsed.
    pub metadata: Value,
    /// `org.cncf.model.file.mediatype.untested` == `"true"`.
    pub untested: bool,
}

impl Layer {
    /// The layer kind (`weight`, `weight.config`, `code`, `doc`, `dataset`).
    pub fn kind(&self) -> &str {
        kind_of(&self.descriptor.media_type).expect("verified media type")
    }

    /// The layer format (`raw`, `tar`, `tar+gzip`, `tar+zstd`).
    pub fn format(&self) -> &str {
        kind_and_format(&self.descriptor.media_type)
            .expect("verified media type")
            .1
    }

    /// The permission bits recorded in the metadata annotation.
    pub fn mode(&self) -> u32 {
        self.metadata["mode"].as_u64().expect("verified mode") as u32
    }
}

/// A verified OCI image layout holding one ModelPack manifest.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The layout directory.
    pub root: PathBuf,
    /// `index.json` as written.
    pub index_bytes: Vec<u8>,
    /// `index.json`, parsed.
    pub index: Value,
    /// The single manifest entry of `index.json`.
    pub manifest_descriptor: Descriptor,
    /// The manifest blob as written.
    pub manifest_bytes: Vec<u8>,
    /// The manifest, parsed.
    pub manifest: Value,
    /// The manifest's config descriptor.
    pub config_descriptor: Descriptor,
    /// The config blob, parsed.
    pub config: Value,
    /// The layers in manifest order.
    pub layers: Vec<Layer>,
}

impl Layout {
    /// Loads `dir` and runs every check (see the module docs); panics with
    /// a precise message on the first problem.
    pub fn verify(dir: impl AsRef<Path>) -> Layout {
        let root = dir.as_ref().to_path_buf();
        check_top_level(&root);
        check_oci_layout(&root);

        let index_bytes = read(&root.join("index.json"));
        let index = parse_json(&index_bytes, "index.json");
        let manifest_descriptor = single_manifest(&index);

        let manifest_bytes = read_blob(&root, &manifest_descriptor, "manifest");
        let manifest = parse_json(&manifest_bytes, "manifest");
        check_manifest_fields(&manifest);
        let config_descriptor = Descriptor::from_json(&manifest["config"], "manifest config");
        assert_eq!(
            config_descriptor.media_type, MEDIA_TYPE_CONFIG,
            "config mediaType"
        );
        let config = parse_json(&read_blob(&root, &config_descriptor, "config"), "config");

        let layers = parse_layers(&root, &manifest);
        check_config(&root, &config, &layers);

        let mut referenced: BTreeSet<String> =
            layers.iter().map(|l| l.descriptor.digest.clone()).collect();
        referenced.insert(manifest_descriptor.digest.clone());
        referenced.insert(config_descriptor.digest.clone());
        // The model's referrers (BOM, provenance): each must name the model
        // as its subject; their manifests, configs and layers are listed.
        for entry in index["manifests"].as_array().into_iter().flatten() {
            let d = Descriptor::from_json(entry, "index.json entry");
            if d.digest == manifest_descriptor.digest {
                continue;
            }
            let referrer = parse_json(&read_blob(&root, &d, "referrer"), "referrer");
            assert_eq!(
                referrer["subject"]["digest"],
                manifest_descriptor.digest.as_str(),
                "index.json entry {} besides the model must be a referrer of it",
                d.digest
            );
            referenced.insert(d.digest.clone());
            let blobs = std::iter::once(&referrer["config"])
                .chain(referrer["layers"].as_array().into_iter().flatten());
            for b in blobs {
                let b = Descriptor::from_json(b, "referrer blob");
                read_blob(&root, &b, "referrer blob");
                referenced.insert(b.digest);
            }
        }
        check_no_unreferenced_blobs(&root, &referenced);

        Layout {
            root,
            index_bytes,
            index,
            manifest_descriptor,
            manifest_bytes,
            manifest,
            config_descriptor,
            config,
            layers,
        }
    }

    /// The manifest digest from `index.json`.
    pub fn manifest_digest(&self) -> &str {
        &self.manifest_descriptor.digest
    }

    /// `org.opencontainers.image.ref.name` of the manifest entry.
    pub fn ref_name(&self) -> Option<&str> {
        self.manifest_descriptor.annotation(ANNOTATION_REF_NAME)
    }

    /// Layer file paths in manifest order.
    pub fn paths(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.path.as_str()).collect()
    }

    /// Layer file paths, sorted.
    pub fn sorted_paths(&self) -> Vec<String> {
        let mut p: Vec<String> = self.layers.iter().map(|l| l.path.clone()).collect();
        p.sort();
        p
    }

    /// The layer for a model path; panics listing the paths there are.
    pub fn layer(&self, path: &str) -> &Layer {
        self.layers
            .iter()
            .find(|l| l.path == path)
            .unwrap_or_else(|| panic!("no layer for {path:?}; layers: {:?}", self.paths()))
    }

    /// Where a blob lives in the layout.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        blob_path(&self.root, digest)
    }

    /// Writes each layer's file to `dest/<org.cncf.model.filepath>` with
    /// the permission bits from its metadata annotation: a raw blob as it
    /// is; a tar layer must hold a directory entry for each parent folder
    /// (parent first), then exactly that one regular file (mode from the
    /// metadata, uid/gid 0, mtime 0, size from the metadata).
    pub fn unpack(&self, dest: impl AsRef<Path>) {
        let dest = dest.as_ref();
        for layer in &self.layers {
            let target = dest.join(&layer.path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
            }
            let blob = read(&self.blob_path(&layer.descriptor.digest));
            let content = match layer.format() {
                "raw" => blob,
                format => single_tar_entry(&uncompressed(format, &blob), layer),
            };
            std::fs::write(&target, content)
                .unwrap_or_else(|e| panic!("unpack {:?} to {}: {e}", layer.path, target.display()));
            crate::fs::set_mode(&target, layer.mode());
        }
    }
}

/// The parents of a model path, parent first, as tar directory names:
/// `a/b/c.bin` gives `a/` and `a/b/`.
pub fn parent_dir_entries(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('/').collect();
    (1..parts.len())
        .map(|n| format!("{}/", parts[..n].join("/")))
        .collect()
}

/// The content of the file of a tar layer, checked against the layer: the
/// tar holds a directory entry for each parent folder of the file, parent
/// first (mode 0755, uid/gid 0, mtime 0; KitOps needs them), then exactly
/// the one regular file.
fn single_tar_entry(tar_bytes: &[u8], layer: &Layer) -> Vec<u8> {
    use std::io::Read;
    let mut archive = tar::Archive::new(tar_bytes);
    let mut entries = archive.entries().expect("layer is a tar");
    for dir in parent_dir_entries(&layer.path) {
        let entry = entries
            .next()
            .unwrap_or_else(|| {
                panic!(
                    "{}: tar layer ends before the directory entry {dir:?}",
                    layer.path
                )
            })
            .expect("tar entry");
        let header = entry.header();
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        assert_eq!(
            name, dir,
            "{}: tar directory entries, parent first, before the file",
            layer.path
        );
        assert_eq!(
            header.entry_type(),
            tar::EntryType::Directory,
            "{}: entry type of {dir:?}",
            layer.path
        );
        assert_eq!(
            header.mode().expect("mode"),
            0o755,
            "{}: mode of {dir:?}",
            layer.path
        );
        assert_eq!(
            (
                header.uid().unwrap(),
                header.gid().unwrap(),
                header.mtime().unwrap()
            ),
            (0, 0, 0),
            "{}: uid/gid/mtime of {dir:?}",
            layer.path
        );
    }
    let mut entry = entries
        .next()
        .unwrap_or_else(|| panic!("{}: tar layer holds no file", layer.path))
        .expect("tar entry");
    let header = entry.header().clone();
    let name = entry
        .path()
        .expect("tar entry path")
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        name, layer.path,
        "tar entry name vs org.cncf.model.filepath"
    );
    assert_eq!(
        header.entry_type(),
        tar::EntryType::Regular,
        "{}: tar entry type",
        layer.path
    );
    assert_eq!(
        header.mode().expect("mode"),
        layer.mode(),
        "{}: tar mode vs metadata mode",
        layer.path
    );
    assert_eq!(
        (
            header.uid().unwrap(),
            header.gid().unwrap(),
            header.mtime().unwrap()
        ),
        (0, 0, 0),
        "{}: tar uid/gid/mtime",
        layer.path
    );
    let mut content = Vec::new();
    entry.read_to_end(&mut content).expect("tar entry content");
    assert_eq!(
        Some(content.len() as u64),
        layer.metadata["size"].as_u64(),
        "{}: tar entry size vs metadata size",
        layer.path
    );
    drop(entry);
    assert!(
        entries.next().is_none(),
        "{}: tar layer holds more than its directories and one file",
        layer.path
    );
    content
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn parse_json(bytes: &[u8], what: &str) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "{what} is not JSON: {e}: {:?}",
            String::from_utf8_lossy(bytes)
        )
    })
}

fn blob_path(root: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest
        .split_once(':')
        .unwrap_or_else(|| panic!("digest {digest:?} has no algorithm"));
    root.join("blobs").join(alg).join(hex)
}

/// The layout holds `oci-layout`, `index.json` and `blobs/`, nothing else
/// (a provenance or metadata file next to them would show up here).
fn check_top_level(root: &Path) {
    let entries: BTreeSet<String> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("read layout dir {}: {e}", root.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let expected: BTreeSet<String> = ["blobs", "index.json", "oci-layout"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        entries,
        expected,
        "top-level entries of the layout {}",
        root.display()
    );
}

fn check_oci_layout(root: &Path) {
    let v = parse_json(&read(&root.join("oci-layout")), "oci-layout");
    assert_eq!(
        v,
        serde_json::json!({"imageLayoutVersion": "1.0.0"}),
        "oci-layout content"
    );
}

fn single_manifest(index: &Value) -> Descriptor {
    assert_eq!(index["schemaVersion"], 2, "index.json schemaVersion");
    assert_eq!(index["mediaType"], MEDIA_TYPE_INDEX, "index.json mediaType");
    let manifests: Vec<&Value> = index["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("index.json has no manifests array: {index}"))
        .iter()
        // The BOM and the provenance (`attest`) are referrers of the model,
        // listed after it; the model is the one entry besides them.
        .filter(|d| {
            !matches!(
                d["artifactType"].as_str(),
                Some("application/vnd.cyclonedx+json" | "application/vnd.in-toto+json")
            )
        })
        .collect();
    assert_eq!(
        manifests.len(),
        1,
        "index.json must list exactly one manifest besides its referrers: {index}"
    );
    let d = Descriptor::from_json(manifests[0], "index.json manifest");
    assert_eq!(
        d.media_type, MEDIA_TYPE_MANIFEST,
        "index.json manifest mediaType"
    );
    d
}

/// Reads a blob and checks its size and sha256 against the descriptor.
fn read_blob(root: &Path, d: &Descriptor, what: &str) -> Vec<u8> {
    read_verified(root, d, what)
        .unwrap_or_else(|| panic!("{what}: blob {} is implausibly large", d.digest))
}

/// Hashes a blob in chunks; returns its bytes only when small (JSON docs).
fn read_verified(root: &Path, d: &Descriptor, what: &str) -> Option<Vec<u8>> {
    assert!(
        d.digest.starts_with("sha256:"),
        "{what}: digest {:?} is not sha256",
        d.digest
    );
    let path = blob_path(root, &d.digest);
    let mut file = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("{what}: blob {} is missing from the layout: {e}", d.digest));
    let mut hasher = Sha256::new();
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if total < (4 << 20) {
            kept.extend_from_slice(&buf[..n]);
        }
        total += n as u64;
    }
    assert_eq!(
        total, d.size,
        "{what}: size of blob {} on disk vs descriptor",
        d.digest
    );
    let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
    assert_eq!(
        actual, d.digest,
        "{what}: sha256 of the blob's bytes vs its descriptor digest"
    );
    (total < (4 << 20)).then_some(kept)
}

fn check_manifest_fields(m: &Value) {
    assert_eq!(m["schemaVersion"], 2, "manifest schemaVersion");
    assert_eq!(m["mediaType"], MEDIA_TYPE_MANIFEST, "manifest mediaType");
    assert_eq!(
        m["artifactType"], ARTIFACT_TYPE_MODEL,
        "manifest artifactType"
    );
}

fn parse_layers(root: &Path, manifest: &Value) -> Vec<Layer> {
    let list = manifest["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("manifest has no layers array: {manifest}"));
    assert!(!list.is_empty(), "manifest has no layers");
    let mut seen = BTreeSet::new();
    let layers: Vec<Layer> = list
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let layer = parse_layer(v, i);
            assert!(
                seen.insert(layer.path.clone()),
                "two layers share the filepath {:?}",
                layer.path
            );
            read_verified(
                root,
                &layer.descriptor,
                &format!("layer {i} ({})", layer.path),
            );
            layer
        })
        .collect();
    layers
}

fn parse_layer(v: &Value, i: usize) -> Layer {
    let what = format!("layer {i}");
    let d = Descriptor::from_json(v, &what);
    let (_, format) = kind_and_format(&d.media_type).unwrap_or_else(|| {
        panic!(
            "{what}: mediaType {:?} is not a ModelPack layer type",
            d.media_type
        )
    });
    let path = d
        .annotation(ANNOTATION_FILEPATH)
        .unwrap_or_else(|| {
            panic!(
                "{what}: no {ANNOTATION_FILEPATH} annotation: {:?}",
                d.annotations
            )
        })
        .to_string();
    check_relative_path(&path, &what);
    assert_eq!(
        d.annotation(ANNOTATION_TITLE),
        Some(path.as_str()),
        "{what}: {ANNOTATION_TITLE} vs filepath"
    );
    let untested = match d.annotation(ANNOTATION_UNTESTED) {
        Some("true") => true,
        Some("false") => false,
        other => panic!(
            "{what} ({path}): {ANNOTATION_UNTESTED} is {other:?}, want \"true\" or \"false\""
        ),
    };
    let raw = d
        .annotation(ANNOTATION_FILE_METADATA)
        .unwrap_or_else(|| panic!("{what} ({path}): no {ANNOTATION_FILE_METADATA} annotation"));
    let metadata = parse_json(raw.as_bytes(), &format!("{what} ({path}) file metadata"));
    check_metadata(&metadata, &path, (format == "raw").then_some(d.size));
    Layer {
        descriptor: d,
        path,
        metadata,
        untested,
    }
}

fn check_relative_path(path: &str, what: &str) {
    assert!(
        !path.is_empty()
            && !path.starts_with('/')
            && !path.contains('\\')
            && path
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."),
        "{what}: filepath {path:?} is not a clean relative path"
    );
}

/// `raw_size` is the layer size for raw layers (the file itself); the size
/// inside a tar layer is checked when unpacking.
fn check_metadata(m: &Value, path: &str, raw_size: Option<u64>) {
    let base = path.rsplit('/').next().unwrap_or(path);
    assert_eq!(m["name"], base, "{path}: metadata name");
    assert!(
        m["size"].is_u64(),
        "{path}: metadata size is not a number: {m}"
    );
    if let Some(size) = raw_size {
        assert_eq!(m["size"], size, "{path}: metadata size vs layer size");
    }
    assert!(
        m["mode"].is_u64(),
        "{path}: metadata mode is not a number: {m}"
    );
    assert_eq!(
        m["typeflag"], 0,
        "{path}: metadata typeflag (0 = regular file)"
    );
    for key in ["uid", "gid"] {
        assert!(
            m[key].is_u64(),
            "{path}: metadata {key} is not a number: {m}"
        );
    }
    assert!(
        m["mtime"].is_string(),
        "{path}: metadata mtime is not a string: {m}"
    );
}

/// The config validates against the official schema, and its diffIds are
/// the layer digests in order (for compressed tars, the digests of the
/// uncompressed tars).
fn check_config(root: &Path, config: &Value, layers: &[Layer]) {
    let errors = schema_errors(config);
    assert!(
        errors.is_empty(),
        "config fails the official schema: {errors:#?}\nconfig: {config}"
    );
    assert_eq!(config["modelfs"]["type"], "layers", "config modelfs.type");
    let diff_ids: Vec<&str> = config["modelfs"]["diffIds"]
        .as_array()
        .unwrap_or_else(|| panic!("config modelfs.diffIds is not an array: {config}"))
        .iter()
        .map(|v| v.as_str().expect("diffId is a string"))
        .collect();
    let expected: Vec<String> = layers
        .iter()
        .map(|l| match l.format() {
            "raw" | "tar" => l.descriptor.digest.clone(),
            format => crate::sha256_digest(&uncompressed(
                format,
                &read(&blob_path(root, &l.descriptor.digest)),
            )),
        })
        .collect();
    assert_eq!(
        diff_ids, expected,
        "config modelfs.diffIds vs the layers' uncompressed digests (in order)"
    );
}

/// Schema violations of a config, one line each (empty when valid).
pub fn schema_errors(config: &Value) -> Vec<String> {
    let path = crate::config_schema_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "read the official schema {}: {e} (shared/ must sit beside the repository)",
            path.display()
        )
    });
    let schema: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", path.display()));
    validator
        .iter_errors(config)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

fn check_no_unreferenced_blobs(root: &Path, referenced: &BTreeSet<String>) {
    let mut extra = Vec::new();
    let blobs = root.join("blobs");
    for alg in std::fs::read_dir(&blobs).unwrap_or_else(|e| panic!("read {}: {e}", blobs.display()))
    {
        let alg = alg.expect("dir entry");
        let alg_name = alg.file_name().to_string_lossy().into_owned();
        assert!(alg.path().is_dir(), "blobs/{alg_name} is not a directory");
        for blob in std::fs::read_dir(alg.path()).expect("read blobs/<alg>") {
            let name = blob
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            let digest = format!("{alg_name}:{name}");
            if !referenced.contains(&digest) {
                extra.push(digest);
            }
        }
    }
    assert!(
        extra.is_empty(),
        "blobs not referenced by the manifest, config or layers: {extra:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_dir_entries_are_parent_first() {
        assert_eq!(parent_dir_entries("a/b/c.bin"), ["a/", "a/b/"]);
        assert!(parent_dir_entries("c.bin").is_empty());
    }
}
