//! Finding the model in a bundle reference: what `pull`, `validate`,
//! `inspect`, `unpack` and `bundle` do before fetching a reference. Apart
//! from `bundle.rs` and `remote.rs`, so neither imports the other.

use anyhow::{anyhow, Context};
use modelpack::bundle;
use oci_registry::{Client, Digest, Reference, OCI_INDEX};

use super::step;

/// True when `media_type` is an image index or a Docker manifest list.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == oci_registry::DOCKER_MANIFEST_LIST
}

/// `reference` itself, or when it names an image index holding a model
/// (a bundle), the model manifest's digest in the same repository;
/// `registry_error` words the registry's errors.
pub fn resolve_model(
    client: &Client,
    reference: &Reference,
    registry_error: fn(oci_registry::Error) -> anyhow::Error,
) -> anyhow::Result<Reference> {
    let m = client
        .get_manifest(reference, &[])
        .map_err(registry_error)?;
    if !is_index(&m.media_type) {
        return Ok(reference.clone());
    }
    let model = bundle::model_in_index(&m.bytes)
        .with_context(|| format!("index of {reference}"))?
        .with_context(|| {
            format!(
                "{reference} is an image index with no ModelPack manifest (no entry annotated {}={})",
                bundle::ANNOTATION_ROLE,
                bundle::ROLE_MODEL
            )
        })?;
    let digest = model["digest"]
        .as_str()
        .context("the model entry has no digest")?;
    let digest = Digest::parse(digest).map_err(|e| anyhow!("{e}"))?;
    step(&format!("{reference} is a bundle; its model is {digest}"));
    Ok(reference.with_digest(digest))
}
