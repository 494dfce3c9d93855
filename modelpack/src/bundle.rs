//! Bundles: one OCI image index holding an app image's manifests and a
//! ModelPack manifest (`modelpack-frontend bundle`, docs/layout-and-readers.md
//! "Models alongside images").
//!
//! The model's entry in the bundle index has platform `unknown/unknown`,
//! its `artifactType`, and our annotations under the
//! `io.modelpack-frontend.bundle.` namespace; this module composes the
//! index (deterministically: the image's entries in their order, then the
//! model's, no timestamps) and finds the model entry in one.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::oci::{ARTIFACT_TYPE_MODEL, LEGACY_ARTIFACT_TYPE_MODEL, MEDIA_TYPE_INDEX};

/// Index-entry annotation saying what the entry is in a bundle: `model`
/// for the ModelPack manifest.
pub const ANNOTATION_ROLE: &str = "io.modelpack-frontend.bundle.role";
/// [`ANNOTATION_ROLE`]'s value for the model entry.
pub const ROLE_MODEL: &str = "model";
/// Index-entry annotation with the model's name (its config's
/// `descriptor.name`), when it has one.
pub const ANNOTATION_MODEL_NAME: &str = "io.modelpack-frontend.bundle.model.name";
/// Annotation on a bundle layout's `index.json` entry (never inside the
/// bundle index, so the bundle's digest does not depend on it): the
/// repository (`host[:port]/repository`) that holds the app image's
/// configs and layers the layout does not, when `bundle --image REF`
/// recorded the image's manifests only. `push` mounts those blobs from
/// there (same registry) or fetches them from there (another registry).
pub const ANNOTATION_BLOBS_FROM: &str = "io.modelpack-frontend.bundle.blobs-from";

/// True when `manifest_artifact_type` is a ModelPack manifest's (either spelling).
pub fn is_model_type(artifact_type: Option<&str>) -> bool {
    matches!(artifact_type, Some(t) if t == ARTIFACT_TYPE_MODEL || t == LEGACY_ARTIFACT_TYPE_MODEL)
}

/// The index of the model entry among `manifests` (JSON descriptors of an
/// index): the one annotated [`ANNOTATION_ROLE`]=`model`, else the only one
/// whose `artifactType` is ModelPack's. `None` when there is none; an error
/// when several match.
pub fn model_entry(manifests: &[Value]) -> Result<Option<usize>> {
    let role = |d: &Value| d["annotations"][ANNOTATION_ROLE].as_str() == Some(ROLE_MODEL);
    let typed = |d: &Value| is_model_type(d["artifactType"].as_str());
    for pick in [&role as &dyn Fn(&Value) -> bool, &typed] {
        let found: Vec<usize> = (0..manifests.len())
            .filter(|&i| pick(&manifests[i]))
            .collect();
        match found.as_slice() {
            [] => continue,
            [one] => return Ok(Some(*one)),
            many => bail!(
                "the index lists {} model manifests ({}); a bundle holds one",
                many.len(),
                many.iter()
                    .map(|&i| manifests[i]["digest"].as_str().unwrap_or("?"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    Ok(None)
}

/// The model entry of the index document `bytes` (see [`model_entry`]).
pub fn model_in_index(bytes: &[u8]) -> Result<Option<Value>> {
    let doc: Value = serde_json::from_slice(bytes).context("the index is not JSON")?;
    let manifests = doc["manifests"]
        .as_array()
        .context("the index has no manifests list")?;
    Ok(model_entry(manifests)?.map(|i| manifests[i].clone()))
}

/// The model's entry for a bundle index: the manifest's descriptor with
/// platform `unknown/unknown` and our annotations. No `artifactType` on the
/// entry (the manifest has its own): readers built on image-spec 1.0
/// (skopeo 1.9) drop the field when they re-encode an index, changing its
/// digest.
pub fn model_descriptor(media_type: &str, digest: &str, size: u64, name: Option<&str>) -> Value {
    let mut annotations = BTreeMap::new();
    annotations.insert(ANNOTATION_ROLE.to_string(), ROLE_MODEL.to_string());
    if let Some(n) = name {
        annotations.insert(ANNOTATION_MODEL_NAME.to_string(), n.to_string());
    }
    json!({
        "mediaType": media_type,
        "digest": digest,
        "size": size,
        "platform": {"architecture": "unknown", "os": "unknown"},
        "annotations": annotations,
    })
}

/// The bundle index's bytes: the app image's `entries` (descriptors as
/// they are in its index, in its order) followed by `model` (from
/// [`model_descriptor`]), no timestamps: the same inputs give the same
/// bytes. Written in the field order of the image-spec's Go types (see
/// [`go_order`]), so tools that decode and re-encode an index (skopeo
/// 1.9's `copy --all`) keep its bytes and digest.
pub fn compose(entries: &[Value], model: Value) -> Result<Vec<u8>> {
    if entries.is_empty() {
        bail!("the app image has no manifest to bundle");
    }
    if model_entry(entries)?.is_some() {
        bail!(
            "the app image's index already lists a model manifest; bundle an image, not a bundle"
        );
    }
    let mut manifests = Vec::new();
    for e in entries.iter().chain(std::iter::once(&model)) {
        manifests.push(go_order(e, DESCRIPTOR_FIELDS)?);
    }
    Ok(format!(
        r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_INDEX}","manifests":[{}]}}"#,
        manifests.join(",")
    )
    .into_bytes())
}

/// An OCI descriptor's fields in the order of image-spec's Go `Descriptor`.
const DESCRIPTOR_FIELDS: &[&str] = &[
    "mediaType",
    "digest",
    "size",
    "urls",
    "annotations",
    "data",
    "platform",
    "artifactType",
];
/// A platform's fields in the order of image-spec's Go `Platform`.
const PLATFORM_FIELDS: &[&str] = &["architecture", "os", "os.version", "os.features", "variant"];

/// `v` (a JSON object) as compact JSON with the `fields` first in that
/// order (a `platform` in [`PLATFORM_FIELDS`]' order), as Go's encoder
/// writes a struct; other keys follow, sorted. Map values (annotations)
/// are sorted by key, as Go writes maps.
pub fn go_order(v: &Value, fields: &[&str]) -> Result<String> {
    let obj = v
        .as_object()
        .context("an index entry is not a JSON object")?;
    let mut parts = Vec::new();
    let known = |k: &str| fields.contains(&k);
    for k in fields
        .iter()
        .copied()
        .chain(obj.keys().map(String::as_str).filter(|k| !known(k)))
    {
        let Some(val) = obj.get(k) else { continue };
        let text = if k == "platform" && fields == DESCRIPTOR_FIELDS {
            go_order(val, PLATFORM_FIELDS)?
        } else {
            serde_json::to_string(val).context("encoding an index entry")?
        };
        parts.push(format!("{}:{text}", serde_json::to_string(k)?));
    }
    Ok(format!("{{{}}}", parts.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(d: &str) -> Value {
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": 3,
               "platform": {"architecture": "amd64", "os": "linux"}})
    }

    #[test]
    fn compose_is_deterministic_and_the_model_is_found() {
        let m = model_descriptor(
            "application/vnd.oci.image.manifest.v1+json",
            "sha256:bb",
            7,
            Some("tiny"),
        );
        let a = compose(&[image("sha256:aa")], m.clone()).unwrap();
        assert_eq!(a, compose(&[image("sha256:aa")], m.clone()).unwrap());
        let found = model_in_index(&a).unwrap().unwrap();
        assert_eq!(found["digest"], "sha256:bb");
        assert_eq!(found["platform"]["os"], "unknown");
        assert_eq!(found["annotations"][ANNOTATION_ROLE], "model");
        assert_eq!(found["annotations"][ANNOTATION_MODEL_NAME], "tiny");
        let text = String::from_utf8(a).unwrap();
        assert!(
            text.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":3,"platform":{"architecture":"amd64","os":"linux"}}"#),
            "{text}"
        );
        assert!(!text.contains("subject"), "{text}");
    }

    #[test]
    fn plain_images_have_no_model_and_two_models_are_refused() {
        assert_eq!(
            model_entry(&[image("sha256:aa"), image("sha256:cc")]).unwrap(),
            None
        );
        let typed = |d: &str| json!({"digest": d, "artifactType": LEGACY_ARTIFACT_TYPE_MODEL});
        assert_eq!(
            model_entry(&[image("sha256:aa"), typed("sha256:dd")]).unwrap(),
            Some(1)
        );
        assert!(model_entry(&[typed("sha256:dd"), typed("sha256:ee")]).is_err());
        let m = model_descriptor("x", "sha256:bb", 1, None);
        assert!(compose(&[], m.clone()).is_err());
        assert!(compose(&[typed("sha256:dd")], m).is_err());
    }
}
