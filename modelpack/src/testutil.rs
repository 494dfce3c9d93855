//! Test helpers: temp folders, layouts written by our own plan and writer,
//! and in-place edits of their documents (re-hashed so only the intended
//! defect remains).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::layout;
use crate::packaging::LayerPackaging;
use crate::plan::{self, ModelInfo, Packed};

/// A raw plan file of `bytes` at `path`, read from `/<path>` of source 0.
pub fn plan_file(path: &str, bytes: &[u8]) -> plan::PlanFile {
    plan::PlanFile {
        path: path.into(),
        size: bytes.len() as u64,
        digest: crate::digest::sha256_of(bytes),
        executable: false,
        origin: plan::Origin {
            source: 0,
            path: format!("/{path}"),
        },
        packed: None,
    }
}

/// A temp folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh folder named after `what`, the process and a counter.
    pub fn new(what: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("modelpack-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// `path/rel`.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The sample model: path, bytes, executable.
pub fn sample_files() -> Vec<(&'static str, Vec<u8>, bool)> {
    vec![
        ("config.json", br#"{"hidden_size":64}"#.to_vec(), false),
        (
            "model.safetensors",
            (0..50_000u32).map(|i| (i * 31 % 251) as u8).collect(),
            false,
        ),
        ("scripts/run.sh", b"#!/bin/sh\necho hi\n".to_vec(), true),
        ("docs/README.md", b"# tiny\n".to_vec(), false),
    ]
}

/// Writes the sample model into `src` and packages it into `out` with our
/// own scan, layer writer, plan and layout writer.
pub fn write_layout(src: &Path, out: &Path, format: LayerPackaging) {
    write_layout_in(src, out, format, crate::oci::Spelling::Cncf)
}

/// [`write_layout`] in the given spelling of the model-spec names.
pub fn write_layout_in(
    src: &Path,
    out: &Path,
    format: LayerPackaging,
    media_types: crate::oci::Spelling,
) {
    for (path, bytes, exec) in sample_files() {
        let p = src.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        let mode = if exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    let listing = crate::scan::scan(src, false).unwrap();
    let mut files = crate::context::files(
        None,
        listing,
        &Default::default(),
        crate::context::Door::Cli,
    )
    .unwrap();
    let staging = out.join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    for f in files.iter_mut() {
        let file_src = src.join(f.origin.path.trim_start_matches('/'));
        f.origin.path = file_src.to_string_lossy().into_owned();
        if format != LayerPackaging::Raw {
            let blob = staging.join(f.path.replace('/', "_"));
            let w = crate::pack::write_layer(
                &file_src,
                &f.path,
                f.mode(),
                format,
                std::fs::File::create(&blob).unwrap(),
            )
            .unwrap();
            f.origin.path = blob.to_string_lossy().into_owned();
            f.digest = w.digest;
            f.packed = Some(Packed {
                blob_size: w.size,
                diff_id: w.diff_id,
                format,
            });
        }
    }
    let info = ModelInfo {
        name: "tiny".into(),
        media_types,
        ..Default::default()
    };
    let plan = plan::build(files, &info, format).unwrap();
    let origins: Vec<PathBuf> = plan
        .layers
        .iter()
        .map(|l| PathBuf::from(&l.origin.path))
        .collect();
    layout::write(out, &plan, |i| origins[i].clone(), |_| {}).unwrap();
    std::fs::remove_dir_all(staging).unwrap();
}

/// Writes `bytes` as a blob of the layout; returns its digest.
pub fn put_blob(root: &Path, bytes: &[u8]) -> String {
    let digest = crate::digest::sha256_of(bytes);
    std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
    std::fs::write(root.join("blobs/sha256").join(&digest[7..]), bytes).unwrap();
    digest
}

fn read_json(root: &Path, digest: &str) -> Value {
    serde_json::from_slice(&std::fs::read(root.join("blobs/sha256").join(&digest[7..])).unwrap())
        .unwrap()
}

/// The single manifest of the layout, as JSON.
pub fn manifest(root: &Path) -> Value {
    let index: Value =
        serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
    read_json(root, index["manifests"][0]["digest"].as_str().unwrap())
}

/// Replaces the manifest with `m`, re-pointing `index.json` at it.
pub fn set_manifest(root: &Path, m: &Value) {
    let bytes = serde_json::to_vec(m).unwrap();
    let digest = put_blob(root, &bytes);
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"] = digest.into();
    index["manifests"][0]["size"] = bytes.len().into();
    std::fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Edits the manifest in place (re-hashed).
pub fn edit_manifest(root: &Path, edit: impl FnOnce(&mut Value)) {
    let mut m = manifest(root);
    edit(&mut m);
    set_manifest(root, &m);
}

/// Edits the config in place (re-hashed, manifest updated).
pub fn edit_config(root: &Path, edit: impl FnOnce(&mut Value)) {
    let mut m = manifest(root);
    let mut config = read_json(root, m["config"]["digest"].as_str().unwrap());
    edit(&mut config);
    let bytes = serde_json::to_vec(&config).unwrap();
    m["config"]["digest"] = put_blob(root, &bytes).into();
    m["config"]["size"] = bytes.len().into();
    set_manifest(root, &m);
}

/// The blob file of layer `i`.
pub fn layer_blob(root: &Path, i: usize) -> PathBuf {
    let m = manifest(root);
    root.join("blobs/sha256")
        .join(&m["layers"][i]["digest"].as_str().unwrap()[7..])
}

/// Index of the layer whose filepath is `path`.
pub fn layer_index(root: &Path, path: &str) -> usize {
    let m = manifest(root);
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .position(|l| l["annotations"]["org.cncf.model.filepath"] == path)
        .unwrap()
}

/// A tar with one entry of `kind` named `name` (written raw, so unsafe
/// names survive) holding `data` or linking to `link`.
pub fn tar_with(name: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    {
        let raw = header.as_old_mut();
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            raw.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
    }
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&header, data).unwrap();
    b.into_inner().unwrap()
}

/// A hand-written one-layer layout with the legacy `vnd.cnai` media
/// types, `org.cnai.model.*` annotations and `diff_ids`: one raw file and
/// one tar holding `nested/b.txt`.
pub fn legacy_layout(root: &Path) {
    std::fs::write(root.join("oci-layout"), crate::oci::OCI_LAYOUT).unwrap();
    let raw = b"legacy raw weights".to_vec();
    let tar = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, "nested/b.txt", &b"hello"[..])
            .unwrap();
        b.into_inner().unwrap()
    };
    let raw_d = put_blob(root, &raw);
    let tar_d = put_blob(root, &tar);
    let config = serde_json::json!({
        "descriptor": {"name": "old"},
        "config": {"format": "gguf"},
        "modelfs": {"type": "layers", "diff_ids": [raw_d, tar_d]},
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_d = put_blob(root, &config_bytes);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cnai.model.manifest.v1+json",
        "config": {"mediaType": "application/vnd.cnai.model.config.v1+json", "digest": config_d, "size": config_bytes.len()},
        "layers": [
            {"mediaType": "application/vnd.cnai.model.weight.v1.raw", "digest": raw_d, "size": raw.len(),
             "annotations": {"org.cnai.model.filepath": "w/model.gguf",
                             "org.cnai.model.file.metadata+json": "{\"name\":\"model.gguf\",\"mode\":493}"}},
            {"mediaType": "application/vnd.cnai.model.doc.v1.tar", "digest": tar_d, "size": tar.len(),
             "annotations": {"org.cnai.model.filepath": "nested"}},
        ],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_d = put_blob(root, &manifest_bytes);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_d,
                        "size": manifest_bytes.len(), "annotations": {"org.opencontainers.image.ref.name": "old"}}],
    });
    std::fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}
