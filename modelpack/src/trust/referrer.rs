//! OCI 1.1 referrers: a manifest whose `subject` is the model manifest,
//! `artifactType` the document's media type, config the empty descriptor
//! and one layer holding the document; and `index.json` listing them after
//! the model.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{Attest, Facts, MEDIA_TYPE_CYCLONEDX, MEDIA_TYPE_IN_TOTO};
use crate::artifact::{blob, Blob};
use crate::oci::{self, Descriptor, Index};

/// The OCI empty descriptor's media type.
pub const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The empty config's bytes.
pub const EMPTY_JSON: &[u8] = b"{}";
/// File name (`org.opencontainers.image.title`) of the BOM layer.
pub const BOM_TITLE: &str = "model.cdx.json";
/// File name (`org.opencontainers.image.title`) of the provenance layer.
pub const PROVENANCE_TITLE: &str = "provenance.intoto.json";

/// A referrer manifest as written (and read back to find `subject`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The OCI image manifest media type.
    pub media_type: String,
    /// The document's media type.
    pub artifact_type: String,
    /// The empty descriptor.
    pub config: Descriptor,
    /// One layer: the document.
    pub layers: Vec<Descriptor>,
    /// The model manifest.
    pub subject: Descriptor,
}

/// One document attached to the model: its manifest and the blobs it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    /// The referrer manifest.
    pub manifest: Blob,
    /// The document (the manifest's one layer).
    pub document: Blob,
    /// The empty config blob (`{}`).
    pub config: Blob,
}

impl Referrer {
    /// The manifest's `artifactType` (the document's media type).
    pub fn artifact_type(&self) -> &str {
        &self.document.descriptor.media_type
    }

    /// The index entry: the manifest's descriptor with its `artifactType`.
    pub fn index_entry(&self) -> Descriptor {
        let mut d = self.manifest.descriptor.clone();
        d.artifact_type = Some(self.artifact_type().to_string());
        d
    }
}

/// The empty config blob.
pub fn empty_config() -> Blob {
    blob(MEDIA_TYPE_EMPTY, EMPTY_JSON.to_vec())
}

/// The referrer of `subject` holding `document` (of `media_type`, named
/// `title` for `oras pull`).
pub fn referrer(
    subject: &Descriptor,
    media_type: &str,
    title: &str,
    document: Vec<u8>,
) -> Referrer {
    let mut document = blob(media_type, document);
    document
        .descriptor
        .annotations
        .insert(oci::ANNOTATION_TITLE.into(), title.into());
    let config = empty_config();
    let subject = Descriptor {
        media_type: subject.media_type.clone(),
        digest: subject.digest.clone(),
        size: subject.size,
        artifact_type: None,
        annotations: BTreeMap::new(),
    };
    let manifest = ReferrerManifest {
        schema_version: 2,
        media_type: oci::MEDIA_TYPE_MANIFEST.into(),
        artifact_type: media_type.into(),
        config: config.descriptor.clone(),
        layers: vec![document.descriptor.clone()],
        subject,
    };
    let manifest = blob(
        oci::MEDIA_TYPE_MANIFEST,
        serde_json::to_vec(&manifest).expect("manifest serializes"),
    );
    Referrer {
        manifest,
        document,
        config,
    }
}

/// The documents `attest` asks for, BOM first, as referrers of the model.
pub fn documents(facts: &Facts, attest: Attest) -> Vec<Referrer> {
    let mut out = Vec::new();
    if attest.sbom() {
        out.push(referrer(
            &facts.subject,
            MEDIA_TYPE_CYCLONEDX,
            BOM_TITLE,
            super::bom::bom(facts),
        ));
    }
    if attest.provenance() {
        out.push(referrer(
            &facts.subject,
            MEDIA_TYPE_IN_TOTO,
            PROVENANCE_TITLE,
            super::provenance::statement(facts),
        ));
    }
    out
}

/// `index` (an `index.json`'s bytes) with `referrers` listed after its
/// entries (an entry already there with the same digest is not repeated).
pub fn index_with(index: &[u8], referrers: &[Referrer]) -> Result<Vec<u8>> {
    let mut parsed: Index = serde_json::from_slice(index).context("reading index.json")?;
    for r in referrers {
        let entry = r.index_entry();
        if !parsed.manifests.iter().any(|m| m.digest == entry.digest) {
            parsed.manifests.push(entry);
        }
    }
    Ok(serde_json::to_vec(&parsed)?)
}

/// The `subject` of a manifest's bytes, if it has one (a referrer).
pub fn subject_of(manifest: &[u8]) -> Option<Descriptor> {
    #[derive(Deserialize)]
    struct WithSubject {
        subject: Option<Descriptor>,
    }
    serde_json::from_slice::<WithSubject>(manifest)
        .ok()
        .and_then(|m| m.subject)
}

/// Whether an index entry is one of ours or another tool's referrer by its
/// `artifactType` alone (no manifest read): the BOM's or the statement's
/// media type, or a model-signing bundle's.
pub fn is_document_type(artifact_type: Option<&str>) -> bool {
    matches!(
        artifact_type,
        Some(MEDIA_TYPE_CYCLONEDX)
            | Some(MEDIA_TYPE_IN_TOTO)
            | Some(super::signing::MEDIA_TYPE_SIGSTORE_BUNDLE)
    )
}
