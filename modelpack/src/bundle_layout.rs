//! A bundle as an OCI layout: the model's part taken from a ModelPack
//! layout (its manifest, config, layers and referrers) and the bundle
//! index ([`crate::bundle::compose`]) written with the layout's
//! `index.json`, which lists the bundle and, beside it, the model's
//! referrers. Shared by the CLI's `bundle` and the `bundle-image` step of
//! `packager/bundle`, so both write the same layout for the same inputs.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::bundle;
use crate::layout::{self, Layout, Loaded};
use crate::oci;

/// What a bundle takes from a model layout.
#[derive(Clone, Debug)]
pub struct ModelPart {
    /// The model as loaded (manifest, config, its entry).
    pub loaded: Loaded,
    /// The model's entry in the bundle index ([`bundle::model_descriptor`]).
    pub entry: Value,
    /// Every blob (digest, size) the bundle layout needs from the model
    /// layout: manifest, config, layers, and its referrers' documents.
    pub blobs: Vec<(String, u64)>,
    /// The referrers' entries for the bundle layout's `index.json`.
    pub referrers: Vec<Value>,
}

/// The model `name` (or the only one) of the layout `ml`, checked to be a
/// ModelPack manifest with no `subject`, with its referrers.
pub fn model_part(ml: &Layout, name: Option<&str>) -> Result<ModelPart> {
    let loaded = ml.load(name)?;
    let at = loaded.manifest.artifact_type.as_deref();
    if !bundle::is_model_type(at) {
        bail!(
            "{}: manifest {} has artifactType {}, not a ModelPack's ({})",
            ml.root().display(),
            loaded.entry.digest,
            at.unwrap_or("(none)"),
            oci::ARTIFACT_TYPE_MODEL
        );
    }
    let mbytes = ml.read_blob(&loaded.entry)?;
    let mdoc: Value = serde_json::from_slice(&mbytes).context("the model manifest")?;
    if mdoc.get("subject").is_some() {
        bail!(
            "model manifest {} has a subject; a bundle's model stands on its own",
            loaded.entry.digest
        );
    }
    let mut blobs = vec![(loaded.entry.digest.clone(), loaded.entry.size)];
    blobs.push((
        loaded.manifest.config.digest.clone(),
        loaded.manifest.config.size,
    ));
    blobs.extend(
        loaded
            .manifest
            .layers
            .iter()
            .map(|l| (l.digest.clone(), l.size)),
    );
    // The model's referrers: the layout's other manifests whose subject it is.
    let mut referrers: Vec<Value> = Vec::new();
    for d in ml.index()?.manifests {
        if d.digest == loaded.entry.digest || d.media_type == oci::MEDIA_TYPE_INDEX {
            continue;
        }
        let bytes = ml.read_blob(&d)?;
        let doc: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("manifest {} is not JSON", d.digest))?;
        if doc["subject"]["digest"].as_str() != Some(&loaded.entry.digest) {
            continue;
        }
        blobs.push((d.digest.clone(), d.size));
        blobs.extend(blobs_of(&doc)?);
        let mut e = json!({"mediaType": d.media_type, "digest": d.digest, "size": d.size});
        if let Some(t) = doc.get("artifactType") {
            e["artifactType"] = t.clone();
        }
        referrers.push(e);
    }
    let entry = bundle::model_descriptor(
        if loaded.entry.media_type.is_empty() {
            oci::MEDIA_TYPE_MANIFEST
        } else {
            &loaded.entry.media_type
        },
        &loaded.entry.digest,
        loaded.entry.size,
        loaded.config["descriptor"]["name"].as_str(),
    );
    Ok(ModelPart {
        loaded,
        entry,
        blobs,
        referrers,
    })
}

/// The config and layer descriptors (digest, size) of a manifest document.
pub fn blobs_of(doc: &Value) -> Result<Vec<(String, u64)>> {
    let one = |d: &Value| -> Result<(String, u64)> {
        Ok((
            d["digest"]
                .as_str()
                .context("a descriptor has no digest")?
                .to_string(),
            d["size"].as_u64().context("a descriptor has no size")?,
        ))
    };
    let mut v = vec![one(&doc["config"])?];
    for l in doc["layers"].as_array().into_iter().flatten() {
        v.push(one(l)?);
    }
    Ok(v)
}

/// Writes into the layout `out` the bundle index of the app image's
/// `entries` and `model`, `oci-layout`, and `index.json` listing the bundle
/// as `name` (with the `extra` annotations on its entry) and the model's
/// referrers; returns the index's digest. The blobs the entries name must
/// be placed in `out` by the caller.
pub fn write(
    out: &Path,
    entries: &[Value],
    model: &ModelPart,
    name: &str,
    extra: &BTreeMap<String, String>,
) -> Result<String> {
    let index = bundle::compose(entries, model.entry.clone())?;
    let digest = crate::digest::sha256_of(&index);
    std::fs::create_dir_all(out.join("blobs/sha256"))
        .with_context(|| format!("creating {}", out.display()))?;
    layout::write_atomic(&layout::blob_path_in(out, &digest)?, &index)?;
    let mut annotations = extra.clone();
    annotations.insert(oci::ANNOTATION_REF_NAME.to_string(), name.to_string());
    let mut manifests = vec![json!({
        "mediaType": oci::MEDIA_TYPE_INDEX,
        "digest": digest,
        "size": index.len(),
        "annotations": annotations,
    })];
    manifests.extend(model.referrers.iter().cloned());
    let top =
        json!({"schemaVersion": 2, "mediaType": oci::MEDIA_TYPE_INDEX, "manifests": manifests});
    layout::write_atomic(&out.join("oci-layout"), oci::OCI_LAYOUT.as_bytes())?;
    layout::write_atomic(
        &out.join("index.json"),
        &serde_json::to_vec_pretty(&top).context("encoding index.json")?,
    )?;
    Ok(digest)
}
