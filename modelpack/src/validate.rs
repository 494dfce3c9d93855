//! Checks an OCI image layout holding a ModelPack artifact against the
//! model spec, reporting every problem with where it is: the layout files,
//! every blob's size and digest, the manifest and config media types, the
//! config against the compiled-in schema, `modelfs.diffIds` against the
//! layers (decompressing `+gzip`/`+zstd` while hashing), layer media types
//! and annotations, and the entries of tar layers.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::digest::HashingReader;
use crate::layout::{self, AnyManifest, Layout, LayoutError};
use crate::oci::{self, Descriptor};
use crate::packaging::LayerPackaging;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks the spec or a reader: `validate` exits 1.
    Error,
    /// Accepted, but worth fixing (legacy media types or keys).
    Warning,
}

/// What a finding is about, so callers and tests tell findings apart
/// without reading their words (`"kind"` in `validate --json`,
/// kebab-case); [`Problem::location`] says which file, blob or field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Finding {
    /// `oci-layout` is missing, not JSON or of another version.
    NotALayout,
    /// `index.json` cannot be read or is no image index.
    Index,
    /// `index.json` lists no model manifest (or a bundle's index has none).
    NoManifest,
    /// No `index.json` entry has the name asked for.
    NoSuchName,
    /// Several manifests and no name given.
    NameNeeded,
    /// A blob a descriptor names is not in the layout.
    BlobMissing,
    /// A blob's size is not its descriptor's.
    BlobSize,
    /// A blob does not hash to its descriptor's digest.
    BlobDigest,
    /// A blob cannot be read or decompressed, or its digest cannot name a
    /// file, or a document is over the size read into memory.
    BlobUnreadable,
    /// A manifest, config or referrer document does not parse.
    Document,
    /// A media type other than the spec's.
    MediaType,
    /// The manifest's `schemaVersion` is not 2.
    SchemaVersion,
    /// The manifest's `artifactType` is not ModelPack's.
    ArtifactType,
    /// The manifest has no layers.
    NoLayers,
    /// The config breaks the model-spec JSON schema.
    Schema,
    /// A config value breaks a rule the schema cannot express.
    ConfigValue,
    /// A legacy (`vnd.cnai`, `diff_ids`, `org.cnai`) name: a warning.
    Legacy,
    /// A layer annotation is missing or malformed.
    Annotation,
    /// A layer's file path is not a clean relative path.
    FilePath,
    /// Two layers have the same file path.
    DuplicatePath,
    /// A tar entry that is unsafe to unpack.
    TarEntry,
    /// `modelfs.diffIds` does not match the layers.
    DiffIds,
    /// A referrer whose subject, shape or statement is wrong.
    Referrer,
    /// A model-signing bundle that does not parse or does not list the
    /// model's files.
    Signature,
    /// The validator itself failed (the compiled-in schema).
    Internal,
}

impl From<&LayoutError> for Finding {
    fn from(e: &LayoutError) -> Finding {
        match e {
            LayoutError::NotALayout { .. }
            | LayoutError::MarkerNotJson { .. }
            | LayoutError::UnknownVersion { .. } => Finding::NotALayout,
            LayoutError::NotAnIndex { .. } => Finding::Index,
            LayoutError::NoManifest { .. } | LayoutError::IndexWithoutModel { .. } => {
                Finding::NoManifest
            }
            LayoutError::NoSuchName { .. } => Finding::NoSuchName,
            LayoutError::NameNeeded { .. } => Finding::NameNeeded,
            LayoutError::BlobMissing { .. } => Finding::BlobMissing,
            LayoutError::SizeMismatch { .. } => Finding::BlobSize,
            LayoutError::DigestMismatch { .. } => Finding::BlobDigest,
            LayoutError::Unreadable { .. }
            | LayoutError::TooLarge { .. }
            | LayoutError::DocumentTooLarge { .. }
            | LayoutError::BadDigest { .. } => Finding::BlobUnreadable,
            LayoutError::BadDocument { .. } => Finding::Document,
        }
    }
}

impl Finding {
    /// The finding of an error from picking or loading a manifest: its
    /// [`LayoutError`]'s, else (a bundle index that does not parse)
    /// [`Finding::Document`].
    fn of(e: &anyhow::Error) -> Finding {
        e.downcast_ref::<LayoutError>()
            .map_or(Finding::Document, Finding::from)
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// What it is about.
    pub kind: Finding,
    /// Where: a layout file, a blob digest, or `layer N (path)`.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

/// The result of validating one layout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The manifest digest checked, once one was picked.
    pub manifest: Option<String>,
    /// The layers checked.
    pub layers: usize,
    /// Every finding, in the order found.
    pub problems: Vec<Problem>,
    /// The referrers of the layout checked (digests, index order).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<String>,
}

impl Report {
    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }

    /// Whether nothing is an error.
    pub fn ok(&self) -> bool {
        self.errors() == 0
    }

    fn error(&mut self, kind: Finding, location: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            severity: Severity::Error,
            kind,
            location: location.into(),
            message: message.into(),
        });
    }

    fn warn(&mut self, kind: Finding, location: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            severity: Severity::Warning,
            kind,
            location: location.into(),
            message: message.into(),
        });
    }
}

/// Validates the manifest named `name` (or the only one) of the layout at
/// `root`; `progress` hears one line per layer.
pub fn validate(root: &Path, name: Option<&str>, mut progress: impl FnMut(&str)) -> Report {
    let mut r = Report::default();
    let layout = match Layout::open(root) {
        Ok(l) => l,
        Err(e) => {
            r.error(Finding::from(&e), "oci-layout", format!("{e:#}"));
            return r;
        }
    };
    let index_text = match layout::read_limited(&root.join("index.json"), layout::MAX_DOCUMENT) {
        Ok(b) => b,
        Err(e) => {
            r.error(Finding::Index, "index.json", format!("{e:#}"));
            return r;
        }
    };
    match serde_json::from_slice::<Value>(&index_text) {
        Ok(v)
            if v.get("mediaType")
                .and_then(Value::as_str)
                .is_some_and(|m| m != oci::MEDIA_TYPE_INDEX) =>
        {
            r.error(
                Finding::MediaType,
                "index.json",
                format!(
                    "mediaType is {}, expected {}",
                    v["mediaType"],
                    oci::MEDIA_TYPE_INDEX
                ),
            )
        }
        Ok(_) => {}
        Err(e) => {
            r.error(Finding::Index, "index.json", format!("not JSON: {e}"));
            return r;
        }
    }
    let entry = match layout.select_model(name) {
        Ok(e) => e,
        Err(e) => {
            r.error(Finding::of(&e), "index.json", format!("{e:#}"));
            return r;
        }
    };
    r.manifest = Some(entry.digest.clone());
    let Some(manifest) = manifest(&layout, &entry, &mut r) else {
        return r;
    };
    let config = config(&layout, &manifest, &mut r);
    let diff_ids = layers(&layout, &manifest, &mut r, &mut progress);
    if let Some(config) = config {
        compare_diff_ids(&config, &diff_ids, &mut r);
    }
    referrers(&layout, &mut r);
    r
}

/// Checks every referrer `index.json` lists (a manifest with a `subject`):
/// its subject is in the layout (size and digest), its blobs are, and each
/// document parses: JSON for `+json` media types, a CycloneDX BOM or an
/// in-toto Statement about the subject for ours, a model-signing bundle
/// (`trust::signing::parse`: envelope, statement, subject digest) for a
/// signature.
fn referrers(layout: &Layout, r: &mut Report) {
    use crate::trust::signing::{self, MEDIA_TYPE_SIGSTORE_BUNDLE};
    use crate::trust::{referrer, MEDIA_TYPE_CYCLONEDX, MEDIA_TYPE_IN_TOTO};
    let Ok(index) = layout.index() else { return };
    for entry in &index.manifests {
        let Ok(bytes) = layout.read_blob(entry) else {
            continue;
        };
        let Some(subject) = referrer::subject_of(&bytes) else {
            continue;
        };
        let at = format!("referrer {}", layout::short(&entry.digest));
        r.referrers.push(entry.digest.clone());
        if let Err(e) = layout.read_blob(&subject) {
            r.error(
                Finding::Referrer,
                &at,
                format!("its subject {} does not resolve: {e:#}", subject.digest),
            );
        }
        let Ok(m) = serde_json::from_slice::<referrer::ReferrerManifest>(&bytes) else {
            r.error(
                Finding::Referrer,
                &at,
                "not an image manifest with config, layers and subject",
            );
            continue;
        };
        for d in std::iter::once(&m.config).chain(&m.layers) {
            let doc = match layout.read_blob(d) {
                Ok(b) => b,
                Err(e) => {
                    r.error(Finding::from(&e), &at, format!("{e:#}"));
                    continue;
                }
            };
            let json = d.media_type.ends_with("+json") || d.media_type.ends_with("/json");
            let parsed = json.then(|| serde_json::from_slice::<Value>(&doc));
            match (d.media_type.as_str(), parsed) {
                (_, Some(Err(e))) => r.error(
                    Finding::Document,
                    &at,
                    format!(
                        "{} {} is not JSON: {e}",
                        d.media_type,
                        layout::short(&d.digest)
                    ),
                ),
                (MEDIA_TYPE_CYCLONEDX, Some(Ok(v)))
                    if v.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") =>
                {
                    r.error(
                        Finding::Referrer,
                        &at,
                        "the CycloneDX document has no bomFormat CycloneDX",
                    );
                }
                (MEDIA_TYPE_SIGSTORE_BUNDLE, Some(Ok(_))) => match signing::parse(&doc) {
                    Err(e) => r.error(
                        Finding::Signature,
                        &at,
                        format!("the model-signing bundle does not parse: {e:#}"),
                    ),
                    Ok(parsed) => signed_files(layout, &subject, &parsed, &at, r),
                },
                (MEDIA_TYPE_IN_TOTO, Some(Ok(v))) => {
                    let hex = subject.digest.trim_start_matches("sha256:");
                    let about = v["subject"].as_array().is_some_and(|s| {
                        s.iter()
                            .any(|s| s["digest"]["sha256"].as_str() == Some(hex))
                    });
                    if v["_type"].as_str() != Some(crate::trust::provenance::STATEMENT_TYPE) {
                        r.error(
                            Finding::Referrer,
                            &at,
                            "the in-toto document is not a Statement v1",
                        );
                    } else if !about {
                        r.error(
                            Finding::Referrer,
                            &at,
                            format!(
                                "the in-toto Statement is not about its subject {}",
                                subject.digest
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

/// Checks a model-signing statement against its subject's layers, without
/// reading a layer: every raw layer's file is listed with the layer's
/// digest, and every listed file is one of the model's (a layer's path or
/// inside it, for tar layers); the top-level `.git*` paths are left out
/// on both sides, as the signer leaves them out.
fn signed_files(
    layout: &Layout,
    subject: &Descriptor,
    parsed: &crate::trust::signing::Parsed,
    at: &str,
    r: &mut Report,
) {
    use crate::trust::signing::is_ignored;
    let Ok(resources) = parsed.resources() else {
        return;
    };
    let Some(manifest) = layout
        .read_blob(subject)
        .ok()
        .and_then(|b| serde_json::from_slice::<AnyManifest>(&b).ok())
    else {
        return;
    };
    let mut paths = Vec::new();
    for d in &manifest.layers {
        let Some(path) = layout::filepath(d) else {
            continue;
        };
        if is_ignored(path) {
            continue;
        }
        paths.push(path);
        let raw = layout::layer_type(&d.media_type)
            .map_or(d.media_type == "application/octet-stream", |t| {
                t.format == LayerPackaging::Raw
            });
        let hex = d.digest.trim_start_matches("sha256:");
        if raw && !resources.iter().any(|x| x.name == path && x.sha256 == hex) {
            r.error(
                Finding::Signature,
                at,
                format!("the signature does not list {path} with its layer's sha256 {hex}"),
            );
        }
    }
    for x in &resources {
        let ours = paths.iter().any(|p| {
            x.name == *p
                || x.name
                    .strip_prefix(*p)
                    .is_some_and(|rest| rest.starts_with('/'))
        });
        if !ours {
            r.error(
                Finding::Signature,
                at,
                format!(
                    "the signature lists {}, which is no file of the model",
                    x.name
                ),
            );
        }
    }
}

/// Where a descriptor's blob is, for messages.
/// A value from a document for a message: quoted when present, "missing"
/// otherwise (never Rust's `Some(…)`/`None`).
fn shown<T: std::fmt::Display>(v: Option<&T>) -> String {
    v.map_or_else(|| "missing".to_string(), |v| format!("\"{v}\""))
}

fn blob_at(d: &Descriptor) -> String {
    format!("blob {}", d.digest)
}

fn manifest(layout: &Layout, entry: &Descriptor, r: &mut Report) -> Option<AnyManifest> {
    let at = format!("manifest {}", entry.digest);
    if entry.media_type != oci::MEDIA_TYPE_MANIFEST {
        r.error(
            Finding::MediaType,
            &at,
            format!(
                "index.json entry mediaType is {:?}, expected {}",
                entry.media_type,
                oci::MEDIA_TYPE_MANIFEST
            ),
        );
    }
    let bytes = match layout.read_blob(entry) {
        Ok(b) => b,
        Err(e) => {
            r.error(Finding::from(&e), &at, format!("{e:#}"));
            return None;
        }
    };
    let m: AnyManifest = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => {
            r.error(
                Finding::Document,
                &at,
                format!("not an OCI image manifest: {e}"),
            );
            return None;
        }
    };
    if m.schema_version != Some(2) {
        r.error(
            Finding::SchemaVersion,
            &at,
            format!(
                "schemaVersion is {}, expected 2",
                shown(m.schema_version.as_ref())
            ),
        );
    }
    if m.media_type.as_deref() != Some(oci::MEDIA_TYPE_MANIFEST) {
        r.error(
            Finding::MediaType,
            &at,
            format!(
                "mediaType is {}, expected {}",
                shown(m.media_type.as_ref()),
                oci::MEDIA_TYPE_MANIFEST
            ),
        );
    }
    match m.artifact_type.as_deref() {
        Some(oci::ARTIFACT_TYPE_MODEL) => {}
        Some(layout::LEGACY_ARTIFACT_TYPE) => r.warn(
            Finding::Legacy,
            &at,
            format!(
                "artifactType is the legacy {}; model-spec v0.0.7 and later readers expect {}",
                layout::LEGACY_ARTIFACT_TYPE,
                oci::ARTIFACT_TYPE_MODEL
            ),
        ),
        other => r.error(
            Finding::ArtifactType,
            &at,
            format!(
                "artifactType is {}, expected {}",
                shown(other.as_ref()),
                oci::ARTIFACT_TYPE_MODEL
            ),
        ),
    }
    if m.layers.is_empty() {
        r.error(Finding::NoLayers, &at, "the manifest has no layers");
    }
    Some(m)
}

/// Checks the config blob; returns it when it is JSON.
fn config(layout: &Layout, m: &AnyManifest, r: &mut Report) -> Option<Value> {
    let d = &m.config;
    let at = format!("config {}", d.digest);
    match d.media_type.as_str() {
        oci::MEDIA_TYPE_MODEL_CONFIG => {}
        layout::LEGACY_MEDIA_TYPE_CONFIG => r.warn(
            Finding::Legacy,
            &at,
            format!(
                "mediaType is the legacy {}; model-spec v0.0.7 and later readers expect {}",
                layout::LEGACY_MEDIA_TYPE_CONFIG,
                oci::MEDIA_TYPE_MODEL_CONFIG
            ),
        ),
        other => r.error(
            Finding::MediaType,
            &at,
            format!(
                "mediaType is {other:?}, expected {}",
                oci::MEDIA_TYPE_MODEL_CONFIG
            ),
        ),
    }
    let bytes = match layout.read_blob(d) {
        Ok(b) => b,
        Err(e) => {
            r.error(Finding::from(&e), &at, format!("{e:#}"));
            return None;
        }
    };
    let mut config: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            r.error(Finding::Document, &at, format!("not JSON: {e}"));
            return None;
        }
    };
    if d.media_type == layout::LEGACY_MEDIA_TYPE_CONFIG {
        check_v006_schema(&config, &at, r);
    }
    if let Some(fs) = config.get_mut("modelfs").and_then(Value::as_object_mut) {
        if !fs.contains_key("diffIds") {
            if let Some(old) = fs.remove("diff_ids") {
                r.warn(Finding::Legacy, &at, "modelfs uses the legacy key diff_ids; model-spec v0.0.7 and later readers expect diffIds");
                fs.insert("diffIds".into(), old);
            }
        }
    }
    check_schema(&config, &at, r);
    check_values(&config, &at, r);
    Some(config)
}

/// The config against the model-spec JSON schema (formats asserted, as the
/// reference validator does).
fn check_schema(config: &Value, at: &str, r: &mut Report) {
    let validator = match jsonschema::options()
        .should_validate_formats(true)
        .build(&crate::schema::config_schema())
    {
        Ok(v) => v,
        Err(e) => {
            r.error(
                Finding::Internal,
                at,
                format!("internal error: the compiled-in schema does not compile: {e}"),
            );
            return;
        }
    };
    for e in validator.iter_errors(config) {
        let path = e.instance_path.to_string();
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        r.error(Finding::Schema, at, format!("schema: {path}: {e}"));
    }
}

/// A config in the legacy spelling is read by readers of model-spec
/// v0.0.6: what its schema refuses (`capabilities`, `diffIds`, …) is a
/// warning, as the current schema still decides the errors.
fn check_v006_schema(config: &Value, at: &str, r: &mut Report) {
    let Ok(validator) = jsonschema::options()
        .should_validate_formats(true)
        .build(&crate::schema::v0_0_6_config_schema())
    else {
        return;
    };
    for e in validator.iter_errors(config) {
        let path = e.instance_path.to_string();
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        r.warn(
            Finding::Schema,
            at,
            format!("model-spec v0.0.6 schema (what readers of the legacy spelling expect): {path}: {e}"),
        );
    }
}

/// The rules the schema cannot express (`paramSize`, `precision`, dates),
/// when the sections have the right shape.
fn check_values(config: &Value, at: &str, r: &mut Report) {
    let section = |k: &str| {
        config
            .get(k)
            .cloned()
            .unwrap_or(Value::Object(Default::default()))
    };
    let descriptor = serde_json::from_value::<oci::ModelDescriptor>(section("descriptor"));
    let properties = serde_json::from_value::<oci::ModelProperties>(section("config"));
    if let (Ok(d), Ok(c)) = (descriptor, properties) {
        if let Err(e) = crate::config::check(&d, &c) {
            r.error(Finding::ConfigValue, at, format!("{e:#}"));
        }
    }
}

/// Checks every layer; returns the diff id computed for each (None when
/// the blob could not be read).
fn layers(
    layout: &Layout,
    m: &AnyManifest,
    r: &mut Report,
    progress: &mut impl FnMut(&str),
) -> Vec<Option<String>> {
    r.layers = m.layers.len();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut diff_ids = Vec::with_capacity(m.layers.len());
    for (i, d) in m.layers.iter().enumerate() {
        let path = layout::filepath(d);
        let at = format!(
            "layer {i} ({}) {}",
            path.unwrap_or("no filepath"),
            blob_at(d)
        );
        progress(&format!(
            "checking layer {}/{} {}",
            i + 1,
            m.layers.len(),
            path.unwrap_or(&d.digest)
        ));
        let ty = layout::layer_type(&d.media_type);
        match ty {
            None => r.error(
                Finding::MediaType,
                &at,
                format!("mediaType {:?} is not a ModelPack layer type (application/vnd.cncf.model.<weight|weight.config|code|doc|dataset>.v1.<raw|tar|tar+gzip|tar+zstd>)", d.media_type),
            ),
            Some(t) if t.legacy => r.warn(Finding::Legacy, &at, format!("mediaType {} uses the legacy vnd.cnai prefix; model-spec v0.0.7 and later readers expect vnd.cncf", d.media_type)),
            Some(_) => {}
        }
        match path {
            None => r.error(
                Finding::Annotation,
                &at,
                format!("annotation {} is missing", oci::ANNOTATION_FILEPATH),
            ),
            Some(p) => {
                if !d.annotations.contains_key(oci::ANNOTATION_FILEPATH) {
                    r.warn(
                        Finding::Legacy,
                        &at,
                        format!(
                            "uses the legacy annotation {}; model-spec v0.0.7 and later readers expect {}",
                            layout::LEGACY_ANNOTATION_FILEPATH,
                            oci::ANNOTATION_FILEPATH
                        ),
                    );
                }
                if !layout::is_clean_relative(p) {
                    r.error(Finding::FilePath, &at, format!("filepath {p:?} is not a clean relative path (no leading /, no .. or . or empty component, no backslash)"));
                }
                if let Some(first) = seen.insert(p.to_string(), i) {
                    r.error(
                        Finding::DuplicatePath,
                        &at,
                        format!("filepath {p:?} is also the path of layer {first}"),
                    );
                }
            }
        }
        if let Some(meta) = d.annotations.get(oci::ANNOTATION_FILE_METADATA) {
            if serde_json::from_str::<Value>(meta)
                .map(|v| !v.is_object())
                .unwrap_or(true)
            {
                r.error(
                    Finding::Annotation,
                    &at,
                    format!(
                        "annotation {} is not a JSON object",
                        oci::ANNOTATION_FILE_METADATA
                    ),
                );
            }
        }
        let format = ty.map(|t| t.format);
        diff_ids.push(match check_blob(layout, d, format, &at, r) {
            Ok(id) => Some(id),
            Err((kind, e)) => {
                r.error(kind, &at, e);
                None
            }
        });
    }
    diff_ids
}

/// Streams a layer blob once: its digest and size, the diff id (through
/// the decompressor), and the tar entries. Returns the diff id.
fn check_blob(
    layout: &Layout,
    d: &Descriptor,
    format: Option<LayerPackaging>,
    at: &str,
    r: &mut Report,
) -> Result<String, (Finding, String)> {
    let path = layout
        .blob_path(&d.digest)
        .map_err(|e| (Finding::from(&e), e.to_string()))?;
    let file = File::open(&path).map_err(|e| {
        let kind = if e.kind() == io::ErrorKind::NotFound {
            Finding::BlobMissing
        } else {
            Finding::BlobUnreadable
        };
        (
            kind,
            format!("blob missing: cannot open {}: {e}", path.display()),
        )
    })?;
    let mut blob = HashingReader::new(io::BufReader::with_capacity(1 << 20, file));
    let read = |e: io::Error| {
        (
            Finding::BlobUnreadable,
            format!("reading {}: {e}", path.display()),
        )
    };
    let unpacked = |what: &'static str| {
        move |e: io::Error| {
            (
                Finding::BlobUnreadable,
                format!("decompressing {what}: {e}"),
            )
        }
    };
    let diff_id = match format {
        None | Some(LayerPackaging::Raw) => None,
        Some(LayerPackaging::Tar) => {
            let tar = HashingReader::new(&mut blob);
            Some(check_tar(tar, at, r).map_err(read)?)
        }
        Some(LayerPackaging::TarGzip) => {
            let tar = HashingReader::new(flate2::read::GzDecoder::new(&mut blob));
            Some(check_tar(tar, at, r).map_err(unpacked("gzip"))?)
        }
        Some(LayerPackaging::TarZstd) => {
            let dec = zstd::Decoder::new(&mut blob).map_err(read)?;
            let tar = HashingReader::new(dec);
            Some(check_tar(tar, at, r).map_err(unpacked("zstd"))?)
        }
    };
    let (_, digest, size) = blob.finish().map_err(read)?;
    if size != d.size {
        r.error(
            Finding::BlobSize,
            at,
            format!("size is {size} bytes, the descriptor says {}", d.size),
        );
    }
    if digest != d.digest {
        r.error(
            Finding::BlobDigest,
            at,
            format!("content hashes to {digest}, not to the descriptor's digest"),
        );
    }
    Ok(diff_id.unwrap_or(digest))
}

/// Walks a tar stream's entries (only clean relative regular files and
/// folders are safe to unpack); returns the tar's sha256.
fn check_tar<R: Read>(mut tar: HashingReader<R>, at: &str, r: &mut Report) -> io::Result<String> {
    {
        let mut archive = tar::Archive::new(&mut tar);
        for entry in archive.entries()? {
            let entry = entry?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let clean = name.trim_end_matches('/');
            let kind = entry.header().entry_type();
            if !layout::is_clean_relative(clean) {
                r.error(Finding::TarEntry, at, format!("tar entry {name:?} is not a clean relative path; unpacking it could escape the target folder"));
            }
            if !(kind.is_file() || kind.is_dir()) {
                r.error(Finding::TarEntry, at, format!("tar entry {name:?} is a {}, not a regular file or folder; links and devices are not unpacked", crate::unpack::entry_kind(kind)));
            }
        }
    }
    Ok(tar.finish()?.1)
}

fn compare_diff_ids(config: &Value, computed: &[Option<String>], r: &mut Report) {
    let at = "config modelfs.diffIds";
    let Some(ids) = config.pointer("/modelfs/diffIds").and_then(Value::as_array) else {
        return;
    };
    if ids.len() != computed.len() {
        r.error(
            Finding::DiffIds,
            at,
            format!(
                "{} diffIds for {} layers; there must be one per layer, in layer order",
                ids.len(),
                computed.len()
            ),
        );
    }
    for (i, (id, want)) in ids.iter().zip(computed).enumerate() {
        if let (Some(id), Some(want)) = (id.as_str(), want) {
            if id != want {
                r.error(
                    Finding::DiffIds,
                    format!("{at}[{i}]"),
                    format!("is {id}, but layer {i} has diff id {want} (the layer digest for raw and tar, the uncompressed tar's for +gzip/+zstd)"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{self, TempDir};
    use serde_json::json;

    /// A valid raw layout written by our own code.
    fn good(format: LayerPackaging) -> (TempDir, TempDir) {
        let (src, out) = (TempDir::new("val-src"), TempDir::new("val-out"));
        testutil::write_layout(&src.0, &out.0, format);
        (src, out)
    }

    fn check(out: &TempDir) -> Report {
        validate(&out.0, None, |_| {})
    }

    /// Asserts an error whose location and message hold the fragments.
    fn has_error(r: &Report, kind: Finding, location: &str, message: &str) {
        assert!(
            r.problems.iter().any(|p| p.severity == Severity::Error
                && p.kind == kind
                && p.location.contains(location)
                && p.message.contains(message)),
            "no {kind:?} error at {location:?} saying {message:?} in {:#?}",
            r.problems
        );
    }

    #[test]
    fn our_own_layouts_are_valid_in_every_format() {
        for format in LayerPackaging::ALL {
            let (_src, out) = good(format);
            let r = check(&out);
            assert!(r.problems.is_empty(), "{format:?}: {:#?}", r.problems);
            assert_eq!(r.layers, 4);
        }
    }

    #[test]
    fn bad_digest() {
        let (_src, out) = good(LayerPackaging::Raw);
        let blob = testutil::layer_blob(&out.0, 1);
        let mut bytes = std::fs::read(&blob).unwrap();
        bytes[0] ^= 0xff;
        std::fs::write(&blob, bytes).unwrap();
        let r = check(&out);
        has_error(
            &r,
            Finding::BlobDigest,
            "layer 1 (model.safetensors) blob sha256:",
            "content hashes to sha256:",
        );
        has_error(
            &r,
            Finding::DiffIds,
            "modelfs.diffIds[1]",
            "layer 1 has diff id",
        );
        assert_eq!(r.errors(), 2, "{:#?}", r.problems);
    }

    #[test]
    fn missing_blob() {
        let (_src, out) = good(LayerPackaging::Tar);
        std::fs::remove_file(testutil::layer_blob(&out.0, 2)).unwrap();
        let r = check(&out);
        has_error(
            &r,
            Finding::BlobMissing,
            "layer 2 (scripts/run.sh)",
            "blob missing: cannot open",
        );
        assert!(!r.ok());
    }

    #[test]
    fn wrong_media_types() {
        let (_src, out) = good(LayerPackaging::Raw);
        testutil::edit_manifest(&out.0, |m| {
            m["layers"][0]["mediaType"] = json!("application/octet-stream");
            m["artifactType"] = json!("application/vnd.example+json");
            m["config"]["mediaType"] = json!("application/json");
        });
        let r = check(&out);
        has_error(
            &r,
            Finding::MediaType,
            "layer 0 (config.json)",
            "mediaType \"application/octet-stream\" is not a ModelPack layer type",
        );
        has_error(
            &r,
            Finding::ArtifactType,
            "manifest sha256:",
            "artifactType is \"application/vnd.example+json\"",
        );
        has_error(
            &r,
            Finding::MediaType,
            "config sha256:",
            "mediaType is \"application/json\"",
        );
        assert_eq!(
            r.errors(),
            3,
            "every violation is listed: {:#?}",
            r.problems
        );
    }

    #[test]
    fn schema_violation() {
        let (_src, out) = good(LayerPackaging::Raw);
        testutil::edit_config(&out.0, |c| {
            c["descriptor"]["name"] = json!("");
            c["config"]["shoeSize"] = json!(42);
        });
        let r = check(&out);
        has_error(
            &r,
            Finding::Schema,
            "config sha256:",
            "schema: /descriptor/name",
        );
        has_error(&r, Finding::Schema, "config sha256:", "schema: /config");
    }

    #[test]
    fn diff_id_mismatch_and_count() {
        let (_src, out) = good(LayerPackaging::TarGzip);
        testutil::edit_config(&out.0, |c| {
            let ids = c["modelfs"]["diffIds"].as_array_mut().unwrap();
            // The blob digest instead of the uncompressed tar's.
            ids.truncate(3);
        });
        let blob_digest = testutil::manifest(&out.0)["layers"][0]["digest"].clone();
        testutil::edit_config(&out.0, |c| c["modelfs"]["diffIds"][0] = blob_digest);
        let r = check(&out);
        has_error(
            &r,
            Finding::DiffIds,
            "config modelfs.diffIds",
            "3 diffIds for 4 layers",
        );
        has_error(
            &r,
            Finding::DiffIds,
            "config modelfs.diffIds[0]",
            "the uncompressed tar's for +gzip/+zstd",
        );
    }

    #[test]
    fn duplicate_path() {
        let (_src, out) = good(LayerPackaging::Raw);
        testutil::edit_manifest(&out.0, |m| {
            m["layers"][3]["annotations"]["org.cncf.model.filepath"] = json!("config.json")
        });
        has_error(
            &check(&out),
            Finding::DuplicatePath,
            "layer 3 (config.json)",
            "is also the path of layer 0",
        );
    }

    #[test]
    fn path_escaping_the_root() {
        let (_src, out) = good(LayerPackaging::Raw);
        testutil::edit_manifest(&out.0, |m| {
            m["layers"][0]["annotations"]["org.cncf.model.filepath"] = json!("../evil.json");
            m["layers"][1]["annotations"]["org.cncf.model.filepath"] = json!("/etc/x");
            m["layers"][2]["annotations"]["org.cncf.model.filepath"] = json!("a\\b");
            m["layers"][3]["annotations"]
                .as_object_mut()
                .unwrap()
                .remove("org.cncf.model.filepath");
        });
        let r = check(&out);
        has_error(
            &r,
            Finding::FilePath,
            "layer 0 (../evil.json)",
            "not a clean relative path",
        );
        has_error(
            &r,
            Finding::FilePath,
            "layer 1 (/etc/x)",
            "not a clean relative path",
        );
        has_error(
            &r,
            Finding::FilePath,
            "layer 2 (a\\b)",
            "not a clean relative path",
        );
        has_error(
            &r,
            Finding::Annotation,
            "layer 3 (no filepath)",
            "annotation org.cncf.model.filepath is missing",
        );
    }

    #[test]
    fn wrong_size() {
        let (_src, out) = good(LayerPackaging::Raw);
        testutil::edit_manifest(&out.0, |m| m["layers"][1]["size"] = json!(7));
        has_error(
            &check(&out),
            Finding::BlobSize,
            "layer 1 (model.safetensors)",
            "size is 50000 bytes, the descriptor says 7",
        );
    }

    #[test]
    fn unsafe_tar_entries() {
        let (_src, out) = good(LayerPackaging::Tar);
        let evil = testutil::tar_with("../../escape", tar::EntryType::Regular, b"x", None);
        let link = testutil::tar_with("link", tar::EntryType::Symlink, b"", Some("/etc/passwd"));
        let (d0, d1) = (
            testutil::put_blob(&out.0, &evil),
            testutil::put_blob(&out.0, &link),
        );
        testutil::edit_manifest(&out.0, |m| {
            m["layers"][0]["digest"] = json!(d0);
            m["layers"][0]["size"] = json!(evil.len());
            m["layers"][1]["digest"] = json!(d1);
            m["layers"][1]["size"] = json!(link.len());
        });
        let r = check(&out);
        has_error(
            &r,
            Finding::TarEntry,
            "layer 0",
            "tar entry \"../../escape\" is not a clean relative path",
        );
        has_error(
            &r,
            Finding::TarEntry,
            "layer 1",
            "tar entry \"link\" is a symbolic link",
        );
    }

    #[test]
    fn broken_layout_files() {
        let out = TempDir::new("val-empty");
        has_error(
            &check(&out),
            Finding::NotALayout,
            "oci-layout",
            "is not an OCI image layout",
        );
        let (_src, out) = good(LayerPackaging::Raw);
        let p = &validate(&out.0, Some("other"), |_| {}).problems[0];
        assert_eq!(
            (p.kind, p.location.as_str()),
            (Finding::NoSuchName, "index.json")
        );
        assert!(p
            .message
            .contains("no manifest named \"other\"; the layout has: tiny"));
        std::fs::write(out.join("index.json"), b"{").unwrap();
        has_error(&check(&out), Finding::Index, "index.json", "not JSON");
    }

    #[test]
    fn a_layout_of_two_models_and_no_name_is_a_name_needed_finding() {
        let (_src, out) = good(LayerPackaging::Raw);
        let mut m = testutil::manifest(&out.0);
        m["annotations"]["org.opencontainers.image.ref.name"] = json!("second");
        let bytes = serde_json::to_vec(&m).unwrap();
        let digest = testutil::put_blob(&out.0, &bytes);
        let mut index: Value =
            serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
        let mut entry = index["manifests"][0].clone();
        entry["digest"] = json!(digest);
        entry["size"] = json!(bytes.len());
        entry["annotations"]["org.opencontainers.image.ref.name"] = json!("second");
        index["manifests"].as_array_mut().unwrap().push(entry);
        std::fs::write(out.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        let r = check(&out);
        has_error(
            &r,
            Finding::NameNeeded,
            "index.json",
            "lists 2 manifests (names: tiny, second)",
        );
        assert_eq!(r.problems.len(), 1, "{:#?}", r.problems);
        assert!(validate(&out.0, Some("second"), |_| {}).ok());
    }

    #[test]
    fn findings_are_serialized_with_their_kind() {
        let out = TempDir::new("val-json");
        let v = serde_json::to_value(check(&out)).unwrap();
        assert_eq!(v["problems"][0]["kind"], "not-a-layout");
        assert_eq!(v["problems"][0]["location"], "oci-layout");
    }

    #[test]
    fn legacy_artifacts_pass_with_warnings() {
        let out = TempDir::new("val-legacy");
        testutil::legacy_layout(&out.0);
        let r = check(&out);
        assert!(r.ok(), "{:#?}", r.problems);
        assert!(
            r.problems.iter().all(|p| p.kind == Finding::Legacy),
            "{:#?}",
            r.problems
        );
        let warnings: Vec<&str> = r.problems.iter().map(|p| p.message.as_str()).collect();
        assert!(
            warnings.iter().any(|w| w.contains("legacy key diff_ids")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("artifactType is the legacy")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("legacy vnd.cnai prefix")),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_legacy_config_is_also_held_to_the_v0_0_6_schema_as_warnings() {
        let (src, out) = (TempDir::new("val-cnai-src"), TempDir::new("val-cnai"));
        testutil::write_layout_in(
            &src.0,
            &out.0,
            LayerPackaging::Raw,
            crate::oci::Spelling::Cnai,
        );
        let v006 = |r: &Report| -> Vec<String> {
            r.problems
                .iter()
                .filter(|p| p.message.contains("v0.0.6 schema"))
                .map(|p| format!("{:?} {}", p.severity, p.message))
                .collect()
        };
        let r = check(&out);
        assert!(r.ok() && v006(&r).is_empty(), "{:#?}", r.problems);
        testutil::edit_config(&out.0, |c| {
            c["config"]["capabilities"] = json!({"inputTypes": ["text"]});
        });
        let r = check(&out);
        assert!(r.ok(), "valid under the current schema: {:#?}", r.problems);
        let found = v006(&r);
        assert!(
            found.len() == 1 && found[0].starts_with("Warning") && found[0].contains("/config"),
            "{found:?}"
        );
    }
}
