//! Gathering [`Facts`] from a plan: the subject and the config come from
//! the plan's own documents, each file's sha256 and source from the
//! caller (what the source listing knew before any tar layer was written).

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use super::{Builder, CardFacts, Facts, FileSource, HubSource, ModelFile};
use crate::artifact::Plan;
use crate::oci::{ModelDescriptor, ModelProperties};

/// What the caller knows of one file of the model before packing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFact {
    /// `sha256:<hex>` of the file's bytes, when known.
    pub sha256: Option<String>,
    /// Where it came from.
    pub source: FileSource,
}

/// The config's `descriptor` and `config` of a plan (either spelling;
/// empty for generic artifacts, whose config is `{}`).
pub fn config_parts(config: &[u8]) -> Result<(ModelDescriptor, ModelProperties)> {
    let v: serde_json::Value = serde_json::from_slice(config).context("reading the config")?;
    let part = |k: &str| v.get(k).cloned().unwrap_or(serde_json::json!({}));
    Ok((
        serde_json::from_value(part("descriptor")).context("the config's descriptor")?,
        serde_json::from_value(part("config")).context("the config's config")?,
    ))
}

/// The facts of `plan`: subject, name and config from the plan, one
/// [`ModelFile`] per layer in manifest order, `files` (by model path)
/// saying each file's sha256 and source. A file `files` lacks is taken as
/// a context file; its sha256 is the layer digest for raw layers.
pub fn from_plan(
    plan: &Plan,
    name: &str,
    card: CardFacts,
    hub: Vec<HubSource>,
    files: &BTreeMap<String, FileFact>,
    parameters: BTreeMap<String, serde_json::Value>,
    builder: Builder,
) -> Result<Facts> {
    let (descriptor, properties) = config_parts(&plan.config.bytes)?;
    let model_files = plan
        .layers
        .iter()
        .map(|l| {
            let mt = &l.descriptor.media_type;
            let raw = mt.ends_with(".raw") || mt == "application/octet-stream";
            let known = files.get(&l.path);
            let size = [
                crate::oci::ANNOTATION_FILE_METADATA,
                crate::oci::LEGACY_ANNOTATION_FILE_METADATA,
            ]
            .iter()
            .find_map(|k| l.descriptor.annotations.get(*k))
            .and_then(|m| serde_json::from_str::<crate::oci::FileMetadata>(m).ok())
            .map_or(l.descriptor.size, |m| m.size);
            ModelFile {
                path: l.path.clone(),
                size,
                sha256: known
                    .and_then(|k| k.sha256.clone())
                    .or_else(|| raw.then(|| l.descriptor.digest.clone())),
                layer_digest: l.descriptor.digest.clone(),
                source: known.map_or(FileSource::Context, |k| k.source.clone()),
            }
        })
        .collect();
    Ok(Facts {
        subject: plan.manifest.descriptor.clone(),
        name: name.to_string(),
        descriptor,
        properties,
        card,
        hub,
        files: model_files,
        parameters,
        builder,
    })
}
