//! OCI image layouts on disk: read one (pick a manifest by
//! `org.opencontainers.image.ref.name`, load manifest and config with size
//! and digest checks) and write one from a [`Plan`].
//!
//! Readers accept what others wrote: the legacy `application/vnd.cnai.model.*`
//! media types and `org.cnai.model.*` annotations, and `modelfs.diff_ids`.

use crate::digest::HashingWriter;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub use crate::layout_error::{Document, LayoutError};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::artifact::Plan;
use crate::oci::{self, Descriptor, Index};
use crate::packaging::LayerPackaging;

/// Largest manifest, config or index we read from a layout into memory.
/// Registries commonly refuse manifests over 4 MiB (about 9,000 layers of
/// ModelPack files), but a layout on disk may hold one: it can still be
/// read, validated and unpacked.
pub const MAX_DOCUMENT: u64 = 16 << 20;

pub use crate::oci::{
    LAYER_PREFIX, LEGACY_ANNOTATION_FILEPATH, LEGACY_ANNOTATION_FILE_METADATA,
    LEGACY_ARTIFACT_TYPE_MODEL as LEGACY_ARTIFACT_TYPE, LEGACY_LAYER_PREFIX,
    LEGACY_MEDIA_TYPE_MODEL_CONFIG as LEGACY_MEDIA_TYPE_CONFIG,
};

/// The kind and format of a ModelPack layer media type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerType {
    /// `weight`, `weight.config`, `code`, `doc` or `dataset`.
    pub kind: &'static str,
    /// How the file is stored.
    pub format: LayerPackaging,
    /// Whether the media type uses the legacy `vnd.cnai` prefix.
    pub legacy: bool,
}

/// Parses `application/vnd.{cncf,cnai}.model.<kind>.v1.<format>`.
pub fn layer_type(media_type: &str) -> Option<LayerType> {
    let (rest, legacy) = match media_type.strip_prefix(LAYER_PREFIX) {
        Some(r) => (r, false),
        None => (media_type.strip_prefix(LEGACY_LAYER_PREFIX)?, true),
    };
    let (kind, format) = rest.split_once(".v1.")?;
    let kind = ["weight", "weight.config", "code", "doc", "dataset"]
        .into_iter()
        .find(|k| *k == kind)?;
    Some(LayerType {
        kind,
        format: LayerPackaging::from_suffix(format)?,
        legacy,
    })
}

/// A layer's model path: `org.cncf.model.filepath`, else the legacy key.
pub fn filepath(layer: &Descriptor) -> Option<&str> {
    layer
        .annotations
        .get(oci::ANNOTATION_FILEPATH)
        .or_else(|| layer.annotations.get(LEGACY_ANNOTATION_FILEPATH))
        .map(String::as_str)
}

/// A layer's file metadata annotation (current key, else legacy), parsed.
pub fn file_metadata(layer: &Descriptor) -> Option<Value> {
    let text = layer
        .annotations
        .get(oci::ANNOTATION_FILE_METADATA)
        .or_else(|| layer.annotations.get(LEGACY_ANNOTATION_FILE_METADATA))?;
    serde_json::from_str(text).ok()
}

/// Whether a model path is safe to place under a folder: relative, no `..`,
/// `.` or empty component, no backslash or NUL.
pub fn is_clean_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains(['\\', '\0'])
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// An OCI manifest as others may write it: every field but the layers and
/// the config optional.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnyManifest {
    /// Should be 2.
    pub schema_version: Option<u32>,
    /// Should be the OCI manifest media type.
    pub media_type: Option<String>,
    /// The ModelPack artifact type, when set.
    pub artifact_type: Option<String>,
    /// The config descriptor.
    pub config: Descriptor,
    /// The layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Manifest annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `LAYOUT[:NAME]` as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutRef {
    /// The layout directory.
    pub dir: PathBuf,
    /// The reference name to pick, if given.
    pub name: Option<String>,
}

impl LayoutRef {
    /// Splits `LAYOUT[:NAME]`: a string that names an existing directory is
    /// taken whole (paths may hold `:`), else the part after the last `:`
    /// is the name.
    pub fn parse(s: &str) -> LayoutRef {
        if Path::new(s).is_dir() {
            return LayoutRef {
                dir: s.into(),
                name: None,
            };
        }
        match s.rsplit_once(':') {
            Some((dir, name)) if !dir.is_empty() && !name.is_empty() && !name.contains('/') => {
                LayoutRef {
                    dir: dir.into(),
                    name: Some(name.to_string()),
                }
            }
            _ => LayoutRef {
                dir: s.into(),
                name: None,
            },
        }
    }
}

impl std::fmt::Display for LayoutRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}:{n}", self.dir.display()),
            None => write!(f, "{}", self.dir.display()),
        }
    }
}

/// An OCI image layout directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

/// A manifest picked from a layout, with its config, both checked.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The `index.json` entry.
    pub entry: Descriptor,
    /// The reference name, if the entry has one.
    pub name: Option<String>,
    /// The manifest.
    pub manifest: AnyManifest,
    /// The config as JSON.
    pub config: Value,
}

impl Loaded {
    /// `modelfs.diffIds` (or the legacy `modelfs.diff_ids`), when a list
    /// of strings.
    pub fn diff_ids(&self) -> Option<Vec<String>> {
        let fs = self.config.get("modelfs")?;
        let ids = fs
            .get("diffIds")
            .or_else(|| fs.get("diff_ids"))?
            .as_array()?;
        ids.iter().map(|v| v.as_str().map(str::to_string)).collect()
    }
}

/// Checks the `sha256:<64 hex>` form, so a digest can name a file.
pub fn check_digest(digest: &str) -> Result<&str, LayoutError> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => Err(LayoutError::BadDigest {
            digest: digest.to_string(),
        }),
    }
}

/// Where the blob of `digest` goes under a layout-shaped folder `root`:
/// `blobs/sha256/<hex>` (a digest that is not sha256 hex is refused).
pub fn blob_path_in(root: &Path, digest: &str) -> Result<PathBuf, LayoutError> {
    check_digest(digest)?;
    Ok(root.join(oci_types::blob_path(digest)))
}

impl Layout {
    /// Opens `root`, checking `oci-layout`.
    pub fn open(root: &Path) -> Result<Layout, LayoutError> {
        let path = root.join("oci-layout");
        let text = std::fs::read_to_string(&path).map_err(|error| LayoutError::NotALayout {
            root: root.to_path_buf(),
            error,
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|error| LayoutError::MarkerNotJson {
            path: path.clone(),
            error,
        })?;
        if v.get("imageLayoutVersion").and_then(Value::as_str) != Some("1.0.0") {
            return Err(LayoutError::UnknownVersion { path });
        }
        Ok(Layout {
            root: root.to_path_buf(),
        })
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `index.json`.
    pub fn index(&self) -> Result<Index, LayoutError> {
        let path = self.root.join("index.json");
        let bytes = read_limited(&path, MAX_DOCUMENT)?;
        serde_json::from_slice(&bytes).map_err(|error| LayoutError::NotAnIndex { path, error })
    }

    /// Where the blob of `digest` is.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, LayoutError> {
        blob_path_in(&self.root, digest)
    }

    /// Reads a small blob, checking its size and digest against `d`.
    pub fn read_blob(&self, d: &Descriptor) -> Result<Vec<u8>, LayoutError> {
        if d.size > MAX_DOCUMENT {
            return Err(LayoutError::DocumentTooLarge {
                digest: d.digest.clone(),
                size: d.size,
            });
        }
        let path = self.blob_path(&d.digest)?;
        let bytes = read_limited(&path, MAX_DOCUMENT).map_err(|e| match e {
            LayoutError::Unreadable { path, error } if error.kind() == io::ErrorKind::NotFound => {
                LayoutError::BlobMissing {
                    digest: d.digest.clone(),
                    path,
                    error,
                }
            }
            other => other,
        })?;
        if bytes.len() as u64 != d.size {
            return Err(LayoutError::SizeMismatch {
                digest: d.digest.clone(),
                actual: bytes.len() as u64,
                expected: d.size,
            });
        }
        let actual = crate::digest::sha256_of(&bytes);
        if actual != d.digest {
            return Err(LayoutError::DigestMismatch {
                digest: d.digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// The `index.json` entry named `name`, or the only one.
    /// Referrers (manifests with a `subject`: the BOM, the provenance,
    /// others' documents) are not candidates without a name.
    pub fn select(&self, name: Option<&str>) -> Result<Descriptor, LayoutError> {
        let mut index = self.index()?;
        if name.is_none() && index.manifests.len() > 1 {
            index.manifests.retain(|d| !self.is_referrer(d));
        }
        let named = |d: &Descriptor| d.annotations.get(oci::ANNOTATION_REF_NAME).cloned();
        let names: Vec<String> = index
            .manifests
            .iter()
            .map(|d| named(d).unwrap_or_else(|| d.digest.clone()))
            .collect();
        let root = self.root.clone();
        match name {
            Some(n) => index
                .manifests
                .into_iter()
                .find(|d| named(d).as_deref() == Some(n))
                .ok_or_else(|| LayoutError::NoSuchName {
                    root,
                    name: n.to_string(),
                    names,
                }),
            None => match index.manifests.len() {
                0 => Err(LayoutError::NoManifest { root }),
                1 => Ok(index.manifests.into_iter().next().expect("one entry")),
                _ => Err(LayoutError::NameNeeded { root, names }),
            },
        }
    }

    /// Whether the manifest `d` names has a `subject` (a referrer).
    pub fn is_referrer(&self, d: &Descriptor) -> bool {
        self.read_blob(d)
            .ok()
            .and_then(|b| crate::trust::referrer::subject_of(&b))
            .is_some()
    }

    /// The `index.json` entries whose manifest has `subject` as its
    /// subject, in index order, with the manifests' bytes (checked).
    pub fn referrers(&self, subject: &str) -> Result<Vec<(Descriptor, Vec<u8>)>> {
        let mut out = Vec::new();
        for d in self.index()?.manifests {
            let Ok(bytes) = self.read_blob(&d) else {
                continue;
            };
            if crate::trust::referrer::subject_of(&bytes).is_some_and(|s| s.digest == subject) {
                out.push((d, bytes));
            }
        }
        Ok(out)
    }

    /// [`Layout::select`], looking inside a bundle: when the entry is an
    /// image index (a bundle, [`crate::bundle`]), its model entry; and with
    /// no `name`, the only image index among several entries (a bundle
    /// layout that also lists its model's referrers).
    pub fn select_model(&self, name: Option<&str>) -> Result<Descriptor> {
        let entry = match (self.select(name), name) {
            (Ok(e), _) => e,
            (Err(e @ (LayoutError::NameNeeded { .. } | LayoutError::NoManifest { .. })), None) => {
                let mut indexes = self
                    .index()?
                    .manifests
                    .into_iter()
                    .filter(|d| d.media_type == oci::MEDIA_TYPE_INDEX);
                match (indexes.next(), indexes.next()) {
                    (Some(one), None) => one,
                    _ => return Err(e.into()),
                }
            }
            (Err(e), _) => return Err(e.into()),
        };
        if entry.media_type != oci::MEDIA_TYPE_INDEX {
            return Ok(entry);
        }
        let bytes = self.read_blob(&entry).context("reading the image index")?;
        let model = crate::bundle::model_in_index(&bytes)
            .with_context(|| format!("index {}", entry.digest))?
            .ok_or_else(|| LayoutError::IndexWithoutModel {
                root: self.root.clone(),
                digest: entry.digest.clone(),
            })?;
        let mut d: Descriptor =
            serde_json::from_value(model).map_err(|error| LayoutError::BadDocument {
                document: Document::ModelEntry,
                digest: entry.digest.clone(),
                error,
            })?;
        // The name the person picked stays the name of what they get.
        if let Some(n) = entry.annotations.get(oci::ANNOTATION_REF_NAME) {
            d.annotations
                .insert(oci::ANNOTATION_REF_NAME.to_string(), n.clone());
        }
        Ok(d)
    }

    /// Loads the manifest named `name` (or the only one) and its config.
    pub fn load(&self, name: Option<&str>) -> Result<Loaded> {
        let entry = self.select_model(name)?;
        let bytes = self.read_blob(&entry).context("reading the manifest")?;
        let manifest: AnyManifest =
            serde_json::from_slice(&bytes).map_err(|error| LayoutError::BadDocument {
                document: Document::Manifest,
                digest: entry.digest.clone(),
                error,
            })?;
        let config_bytes = self
            .read_blob(&manifest.config)
            .context("reading the config")?;
        let config: Value =
            serde_json::from_slice(&config_bytes).map_err(|error| LayoutError::BadDocument {
                document: Document::Config,
                digest: manifest.config.digest.clone(),
                error,
            })?;
        Ok(Loaded {
            name: entry.annotations.get(oci::ANNOTATION_REF_NAME).cloned(),
            entry,
            manifest,
            config,
        })
    }
}

/// Reads a whole file of at most `max` bytes.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, LayoutError> {
    let unreadable = |error| LayoutError::Unreadable {
        path: path.to_path_buf(),
        error,
    };
    let file = File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > max {
        return Err(LayoutError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(bytes)
}

/// Copies `src` to `dest` through a temp file beside it, checking that the
/// bytes hash to `digest` and count `size` before the rename.
pub fn copy_verified(src: &Path, dest: &Path, digest: &str, size: u64) -> Result<()> {
    let tmp = temp_beside(dest);
    let result = (|| -> Result<()> {
        let mut from = File::open(src).with_context(|| format!("opening {}", src.display()))?;
        let out = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, out));
        io::copy(&mut from, &mut w)
            .with_context(|| format!("copying {} to {}", src.display(), tmp.display()))?;
        let (out, actual, n) = w.finish();
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        if actual != digest || n != size {
            bail!(
                "{} changed while packing: now {n} bytes hashing to {actual}, expected {size} bytes, {digest}; run pack again",
                src.display()
            );
        }
        std::fs::rename(&tmp, dest)
            .with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A temp file name beside `dest` (same folder, so rename is atomic).
pub fn temp_beside(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Writes `bytes` to `dest` through a temp file and a rename.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_beside(dest);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, dest)
        .with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))
}

/// Writes the layout of `plan` into `root`. `blob_file(i)` is the file
/// holding the blob of layer `i` (the source file for raw layers, the
/// packed tar otherwise); each is copied with its digest checked. Blobs
/// already present with the right size are kept. When `root` already holds
/// a layout, the manifest is added to its `index.json` (replacing an entry
/// of the same name); otherwise `index.json` is the plan's, byte for byte.
pub fn write(
    root: &Path,
    plan: &Plan,
    blob_file: impl Fn(usize) -> PathBuf,
    mut progress: impl FnMut(&str),
) -> Result<()> {
    let blobs = root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
    let existing = if root.join("index.json").exists() {
        Some(Layout::open(root)?.index()?)
    } else {
        None
    };
    let present =
        |d: &Descriptor, path: &Path| std::fs::metadata(path).is_ok_and(|m| m.len() == d.size);
    for (i, layer) in plan.layers.iter().enumerate() {
        let d = &layer.descriptor;
        let dest = blob_path_in(root, &d.digest)?;
        let path = d
            .annotations
            .get(oci::ANNOTATION_FILEPATH)
            .map_or("", String::as_str);
        if present(d, &dest) {
            progress(&format!(
                "layer {}/{} {path}: blob {} already present",
                i + 1,
                plan.layers.len(),
                short(&d.digest)
            ));
            continue;
        }
        progress(&format!(
            "layer {}/{} {path}: writing {} bytes",
            i + 1,
            plan.layers.len(),
            d.size
        ));
        copy_verified(&blob_file(i), &dest, &d.digest, d.size)?;
    }
    for blob in [&plan.config, &plan.manifest] {
        let dest = blob_path_in(root, &blob.descriptor.digest)?;
        write_atomic(&dest, &blob.bytes)?;
    }
    let index = match existing {
        None => plan.index.clone(),
        Some(mut index) => {
            let ours: Index = serde_json::from_slice(&plan.index)?;
            let name = |d: &Descriptor| d.annotations.get(oci::ANNOTATION_REF_NAME).cloned();
            let new_names: Vec<Option<String>> = ours.manifests.iter().map(name).collect();
            index
                .manifests
                .retain(|d| name(d).is_none() || !new_names.contains(&name(d)));
            index.manifests.extend(ours.manifests);
            serde_json::to_vec(&index)?
        }
    };
    write_atomic(&root.join("oci-layout"), &plan.oci_layout)?;
    write_atomic(&root.join("index.json"), &index)?;
    Ok(())
}

/// Adds `referrers` (documents about a manifest of the layout at `root`)
/// to it: their blobs, and `index.json` entries after the others (without
/// a name, so `LAYOUT:NAME` still names the model). Entries of referrers
/// whose subject the index no longer lists (a model re-packed under the
/// same name) are dropped.
pub fn write_referrers(root: &Path, referrers: &[crate::trust::referrer::Referrer]) -> Result<()> {
    for r in referrers {
        for blob in [&r.config, &r.document, &r.manifest] {
            let dest = blob_path_in(root, &blob.descriptor.digest)?;
            write_atomic(&dest, &blob.bytes)?;
        }
    }
    let layout = Layout::open(root)?;
    let mut index = layout.index()?;
    let subjects: Vec<(String, Option<String>)> = index
        .manifests
        .iter()
        .map(|d| {
            let subject = layout
                .read_blob(d)
                .ok()
                .and_then(|b| crate::trust::referrer::subject_of(&b))
                .map(|s| s.digest);
            (d.digest.clone(), subject)
        })
        .collect();
    let listed: Vec<&str> = subjects
        .iter()
        .filter(|(_, s)| s.is_none())
        .map(|(d, _)| d.as_str())
        .collect();
    index.manifests.retain(
        |d| match subjects.iter().find(|(digest, _)| *digest == d.digest) {
            Some((_, Some(subject))) => listed.contains(&subject.as_str()),
            _ => true,
        },
    );
    let bytes = crate::trust::referrer::index_with(&serde_json::to_vec(&index)?, referrers)?;
    write_atomic(&root.join("index.json"), &bytes)
}

/// The first 12 hex digits of a digest, for messages.
pub fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..12).unwrap_or(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_types_current_and_legacy() {
        let t = layer_type("application/vnd.cncf.model.weight.config.v1.tar+zstd").unwrap();
        assert_eq!(
            (t.kind, t.format, t.legacy),
            ("weight.config", LayerPackaging::TarZstd, false)
        );
        let t = layer_type("application/vnd.cnai.model.doc.v1.raw").unwrap();
        assert_eq!(
            (t.kind, t.format, t.legacy),
            ("doc", LayerPackaging::Raw, true)
        );
        assert!(layer_type("application/vnd.cncf.model.weight.v1.raw+gzip").is_none());
        assert!(layer_type("application/vnd.cncf.model.thing.v1.raw").is_none());
        assert!(layer_type("application/vnd.oci.image.layer.v1.tar").is_none());
    }

    #[test]
    fn clean_relative_paths() {
        for ok in ["a", "a/b.bin", "deep/er/x y.txt", "..a"] {
            assert!(is_clean_relative(ok), "{ok}");
        }
        for bad in ["", "/a", "a/../b", "..", "a//b", "./a", "a\\b", "a/"] {
            assert!(!is_clean_relative(bad), "{bad}");
        }
    }

    #[test]
    fn layout_refs() {
        assert_eq!(
            LayoutRef::parse("out:tiny"),
            LayoutRef {
                dir: "out".into(),
                name: Some("tiny".into())
            }
        );
        assert_eq!(
            LayoutRef::parse("out"),
            LayoutRef {
                dir: "out".into(),
                name: None
            }
        );
        let dir = std::env::temp_dir().join(format!("ref:with-colon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = dir.to_string_lossy().into_owned();
        assert_eq!(
            LayoutRef::parse(&s),
            LayoutRef {
                dir: dir.clone(),
                name: None
            }
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writing_into_a_layout_adds_the_manifest_and_names_pick_it() {
        use crate::testutil::{self, TempDir};
        let (src, out) = (TempDir::new("lay-src"), TempDir::new("lay-out"));
        testutil::write_layout(&src.0, &out.0, LayerPackaging::Raw);
        let first = Layout::open(&out.0).unwrap().select(None).unwrap();
        // A second model under another name, then the first name again.
        let plan_for = |name: &str| {
            let f = crate::plan::PlanFile {
                path: "config.json".into(),
                size: 18,
                digest: crate::digest::sha256_of(br#"{"hidden_size":64}"#),
                executable: false,
                origin: crate::plan::Origin {
                    source: 0,
                    path: "/config.json".into(),
                },
                packed: None,
            };
            let info = crate::plan::ModelInfo {
                name: name.into(),
                ..Default::default()
            };
            crate::plan::build(vec![f], &info, LayerPackaging::Raw).unwrap()
        };
        write(
            &out.0,
            &plan_for("other"),
            |_| src.join("config.json"),
            |_| {},
        )
        .unwrap();
        write(
            &out.0,
            &plan_for("tiny"),
            |_| src.join("config.json"),
            |_| {},
        )
        .unwrap();
        let layout = Layout::open(&out.0).unwrap();
        assert_eq!(
            layout.index().unwrap().manifests.len(),
            2,
            "same name replaced, new name added"
        );
        match layout.select(None).unwrap_err() {
            LayoutError::NameNeeded { root, names } => {
                assert_eq!(
                    (root, names),
                    (out.0.clone(), vec!["other".into(), "tiny".into()])
                )
            }
            other => panic!("{other}"),
        }
        let other = layout.load(Some("other")).unwrap();
        assert_eq!(other.manifest.layers.len(), 1);
        assert_ne!(layout.select(Some("tiny")).unwrap().digest, first.digest);
        assert!(crate::validate::validate(&out.0, Some("other"), |_| {}).ok());
    }

    #[test]
    fn digests_must_name_a_file_safely() {
        assert!(check_digest(&crate::digest::sha256_of(b"")).is_ok());
        for bad in ["sha256:../../etc/passwd", "sha256:AB", "md5:00", ""] {
            assert!(
                matches!(check_digest(bad), Err(LayoutError::BadDigest { digest }) if digest == bad),
                "{bad}"
            );
        }
    }

    /// A layout written by our own code, in a fresh folder.
    fn sample() -> (crate::testutil::TempDir, crate::testutil::TempDir) {
        use crate::testutil::{self, TempDir};
        let (src, out) = (TempDir::new("lay-err-src"), TempDir::new("lay-err"));
        testutil::write_layout(&src.0, &out.0, LayerPackaging::Raw);
        (src, out)
    }

    #[test]
    fn what_is_no_layout_or_names_nothing_is_told_apart() {
        let empty = crate::testutil::TempDir::new("lay-err-empty");
        let e = Layout::open(&empty.0).unwrap_err();
        assert!(
            matches!(&e, LayoutError::NotALayout { root, error } if *root == empty.0 && error.kind() == io::ErrorKind::NotFound),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("is not an OCI image layout: cannot read"),
            "{e}"
        );
        std::fs::write(empty.join("oci-layout"), b"{").unwrap();
        assert!(matches!(
            Layout::open(&empty.0),
            Err(LayoutError::MarkerNotJson { .. })
        ));
        std::fs::write(empty.join("oci-layout"), br#"{"imageLayoutVersion":"2"}"#).unwrap();
        assert!(matches!(
            Layout::open(&empty.0),
            Err(LayoutError::UnknownVersion { .. })
        ));
        std::fs::write(
            empty.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let layout = Layout::open(&empty.0).unwrap();
        assert!(matches!(
            layout.select(None),
            Err(LayoutError::Unreadable { .. })
        ));
        std::fs::write(empty.join("index.json"), b"[]").unwrap();
        assert!(matches!(
            layout.select(None),
            Err(LayoutError::NotAnIndex { .. })
        ));
        std::fs::write(empty.join("index.json"), br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#).unwrap();
        assert!(matches!(
            layout.select(None),
            Err(LayoutError::NoManifest { .. })
        ));

        let (_src, out) = sample();
        let layout = Layout::open(&out.0).unwrap();
        let e = layout.select(Some("other")).unwrap_err();
        match &e {
            LayoutError::NoSuchName { name, names, .. } => {
                assert_eq!(
                    (name.as_str(), names.as_slice()),
                    ("other", &["tiny".to_string()][..])
                )
            }
            other => panic!("{other}"),
        }
        assert!(e
            .to_string()
            .contains("no manifest named \"other\"; the layout has: tiny"));
        // Through `load` (an anyhow chain with context) the kind is still there.
        let e = layout.load(Some("other")).unwrap_err();
        assert!(matches!(
            e.downcast_ref::<LayoutError>(),
            Some(LayoutError::NoSuchName { .. })
        ));
    }

    #[test]
    fn an_index_json_without_its_media_type_is_read() {
        let (_src, out) = sample();
        let path = out.join("index.json");
        let mut index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        index.as_object_mut().unwrap().remove("mediaType");
        std::fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
        let layout = Layout::open(&out.0).unwrap();
        assert_eq!(
            layout.select(None).unwrap().media_type,
            oci::MEDIA_TYPE_MANIFEST
        );
        assert!(layout.load(None).is_ok());
    }

    #[test]
    fn damaged_blobs_are_told_apart() {
        use crate::testutil;
        let (_src, out) = sample();
        let layout = Layout::open(&out.0).unwrap();
        let entry = layout.select(None).unwrap();
        let manifest: AnyManifest =
            serde_json::from_slice(&layout.read_blob(&entry).unwrap()).unwrap();
        let config = manifest.config.clone();

        let mut d = config.clone();
        d.size += 1;
        assert!(matches!(
            layout.read_blob(&d),
            Err(LayoutError::SizeMismatch { actual, expected, .. }) if expected == actual + 1
        ));
        let mut d = config.clone();
        d.size = MAX_DOCUMENT + 1;
        assert!(matches!(
            layout.read_blob(&d),
            Err(LayoutError::DocumentTooLarge { .. })
        ));
        let bytes = std::fs::read(layout.blob_path(&config.digest).unwrap()).unwrap();
        let mut flipped = bytes.clone();
        flipped[0] ^= 1;
        std::fs::write(layout.blob_path(&config.digest).unwrap(), &flipped).unwrap();
        match layout.read_blob(&config) {
            Err(LayoutError::DigestMismatch { digest, actual }) => {
                assert_eq!(
                    (digest, actual),
                    (config.digest.clone(), crate::digest::sha256_of(&flipped))
                )
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_file(layout.blob_path(&config.digest).unwrap()).unwrap();
        assert!(matches!(
            layout.read_blob(&config),
            Err(LayoutError::BlobMissing { digest, .. }) if digest == config.digest
        ));
        let e = layout.load(None).unwrap_err();
        assert!(
            matches!(
                e.downcast_ref::<LayoutError>(),
                Some(LayoutError::BlobMissing { .. })
            ),
            "{e:#}"
        );

        // A config that is no JSON, re-hashed so only that is wrong.
        let (_src, out) = sample();
        let mut m = testutil::manifest(&out.0);
        let junk = b"not json";
        m["config"]["digest"] = testutil::put_blob(&out.0, junk).into();
        m["config"]["size"] = junk.len().into();
        testutil::set_manifest(&out.0, &m);
        let e = Layout::open(&out.0).unwrap().load(None).unwrap_err();
        assert!(
            matches!(
                e.downcast_ref::<LayoutError>(),
                Some(LayoutError::BadDocument {
                    document: Document::Config,
                    ..
                })
            ),
            "{e:#}"
        );
        assert!(format!("{e:#}").contains(" is not JSON: "), "{e:#}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_as_too_large() {
        let dir = crate::testutil::TempDir::new("lay-err-big");
        let path = dir.join("big");
        std::fs::write(&path, [0u8; 11]).unwrap();
        assert_eq!(read_limited(&path, 11).unwrap().len(), 11);
        assert!(matches!(
            read_limited(&path, 10),
            Err(LayoutError::TooLarge { max: 10, .. })
        ));
    }
}
