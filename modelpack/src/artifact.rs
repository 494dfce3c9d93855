//! What a plan comes to, for either kind of artifact (ModelPack or
//! generic): the layers, config, manifest and index to write, and how they
//! are assembled from sorted files. `layout` writes it; `plan` and
//! `generic` build it.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::oci::{self, Descriptor, Index, Manifest};
use crate::packaging::LayerPackaging;
use crate::plan_file::{Origin, PlanFile};

/// A small JSON blob written by the frontend itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// Its descriptor.
    pub descriptor: Descriptor,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A layer whose blob is copied from a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedLayer {
    /// Its descriptor in the manifest.
    pub descriptor: Descriptor,
    /// Where its bytes are.
    pub origin: Origin,
    /// The file's path inside the model.
    pub path: String,
    /// The file's mode (0644 or 0755).
    pub mode: u32,
}

/// Sorts `files` by path; fails on none or on two with the same path.
pub(crate) fn checked_sorted(files: &mut [PlanFile], packaging: LayerPackaging) -> Result<()> {
    if files.is_empty() {
        bail!("nothing to package: the source has no files (after include/exclude)");
    }
    // A raw layout has only raw layers; a tar layout may mix in raw ones
    // when a recipe asks for raw for some kinds of file.
    if let Some(f) = files
        .iter()
        .find(|f| packaging == LayerPackaging::Raw && f.format() != LayerPackaging::Raw)
    {
        bail!(
            "internal error: {:?} is a {} layer in a {} layout; report this as a bug",
            f.path,
            f.format().suffix(),
            packaging.suffix()
        );
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(w) = files.windows(2).find(|w| w[0].path == w[1].path) {
        bail!(
            "two files map to the same path {:?} in the model",
            w[0].path
        );
    }
    Ok(())
}

/// The manifest, index and layout around a config blob and layers in
/// manifest order: the part every kind of artifact shares.
pub(crate) fn assemble(
    layers: Vec<PlannedLayer>,
    config: Blob,
    artifact_type: &str,
    name: &str,
) -> Result<Plan> {
    assemble_annotated(layers, config, artifact_type, name, BTreeMap::new())
}

/// [`assemble`] with `annotations` on the manifest.
pub(crate) fn assemble_annotated(
    layers: Vec<PlannedLayer>,
    config: Blob,
    artifact_type: &str,
    name: &str,
    annotations: BTreeMap<String, String>,
) -> Result<Plan> {
    let manifest = Manifest {
        schema_version: 2,
        media_type: oci::MEDIA_TYPE_MANIFEST.into(),
        artifact_type: artifact_type.into(),
        config: config.descriptor.clone(),
        layers: layers.iter().map(|l| l.descriptor.clone()).collect(),
        annotations,
    };
    let manifest = blob(oci::MEDIA_TYPE_MANIFEST, serde_json::to_vec(&manifest)?);

    let mut entry = manifest.descriptor.clone();
    entry.artifact_type = Some(artifact_type.into());
    entry
        .annotations
        .insert(oci::ANNOTATION_REF_NAME.into(), name.into());
    let index = Index {
        schema_version: 2,
        media_type: oci::MEDIA_TYPE_INDEX.into(),
        manifests: vec![entry],
    };
    Ok(Plan {
        layers,
        config,
        manifest,
        index: serde_json::to_vec(&index)?,
        oci_layout: oci::OCI_LAYOUT.as_bytes().to_vec(),
    })
}

/// Everything needed to write the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Layers in manifest order.
    pub layers: Vec<PlannedLayer>,
    /// The ModelPack config blob.
    pub config: Blob,
    /// The manifest blob.
    pub manifest: Blob,
    /// `index.json`.
    pub index: Vec<u8>,
    /// `oci-layout`.
    pub oci_layout: Vec<u8>,
}

pub(crate) fn blob(media_type: &str, bytes: Vec<u8>) -> Blob {
    let descriptor = Descriptor {
        media_type: media_type.to_string(),
        digest: crate::digest::sha256_of(&bytes),
        size: bytes.len() as u64,
        artifact_type: None,
        annotations: BTreeMap::new(),
    };
    Blob { descriptor, bytes }
}

impl PlannedLayer {
    /// The layer of `file` with its manifest descriptor.
    pub(crate) fn new(descriptor: Descriptor, file: &PlanFile) -> Self {
        PlannedLayer {
            descriptor,
            origin: file.origin.clone(),
            path: file.path.clone(),
            mode: file.mode(),
        }
    }
}
