//! OCI 1.1 referrers (distribution-spec v1.1): pushing a manifest whose
//! `subject` names another, and listing the manifests that refer to one.
//! A registry that answers `OCI-Subject` on the manifest PUT indexes the
//! referrer itself (the referrers API); for one that does not, the
//! spec's tag-schema fallback keeps an image index under the tag
//! `<alg>-<hex>` of the subject's digest: fetched, our descriptor added,
//! pushed back, every other entry kept. Listing asks
//! `GET /v2/<repo>/referrers/<digest>` and falls back to that tag.
//! (The fallback is read-modify-write: two clients adding referrers to the
//! same subject at the same instant can lose one entry; the spec knows.)

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use ureq::http::Method;

use crate::auth::repo_scope;
use crate::blobs::FileSource;
use crate::client::{header, Client, Req};
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::layout::blob_path;
use crate::manifests::{read_document, subject_of, OCI_INDEX, OCI_MANIFEST};
use crate::reference::Reference;

/// An entry of a referrers list: a referrer manifest's descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferrerEntry {
    /// The manifest's media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// The manifest's digest.
    pub digest: String,
    /// The manifest's size.
    pub size: u64,
    /// Its `artifactType` (else its config's media type).
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    /// Its annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// How a referrer was made discoverable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferrerMode {
    /// The registry answered `OCI-Subject`: its referrers API lists it.
    Api,
    /// The tag-schema fallback index `<alg>-<hex>` lists it.
    TagSchema,
}

/// The subject, artifact type and annotations of a manifest (the fields a
/// referrers list repeats).
#[derive(Deserialize)]
struct ReferrerFields {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(rename = "artifactType", default)]
    artifact_type: Option<String>,
    config: Option<Blob>,
    #[serde(default)]
    layers: Vec<Blob>,
    subject: Option<Blob>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Blob {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
}

#[derive(Serialize, Deserialize)]
struct Index {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<ReferrerEntry>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

/// The tag the fallback index of `subject` lives under (`sha256-<hex>`).
pub fn fallback_tag(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm(), subject.hex())
}

fn entry_of(bytes: &[u8], fields: &ReferrerFields) -> ReferrerEntry {
    ReferrerEntry {
        media_type: fields
            .media_type
            .clone()
            .unwrap_or_else(|| OCI_MANIFEST.to_string()),
        digest: Digest::sha256_of(bytes).to_string(),
        size: bytes.len() as u64,
        artifact_type: fields
            .artifact_type
            .clone()
            .or_else(|| fields.config.as_ref().map(|c| c.media_type.clone())),
        annotations: fields.annotations.clone(),
    }
}

impl Client {
    /// Pushes the referrer manifest `bytes` (its blobs already in `repo`)
    /// by digest, then, unless the registry answered `OCI-Subject`, adds
    /// it to the subject's tag-schema fallback index. The subject need not
    /// be pushed first, but should be.
    pub fn put_referrer(&self, repo: &Reference, bytes: &[u8]) -> Result<ReferrerMode> {
        let fields: ReferrerFields = serde_json::from_slice(bytes)
            .map_err(|e| Error::invalid(format!("a referrer is not a manifest: {e}")))?;
        let Some(subject) = &fields.subject else {
            return Err(Error::invalid("a referrer manifest needs a subject"));
        };
        let subject = Digest::parse(&subject.digest)?;
        let media_type = fields.media_type.as_deref().unwrap_or(OCI_MANIFEST);
        let digest = Digest::sha256_of(bytes);
        let (_, answered) = self.put_manifest_subject(repo, digest.as_str(), media_type, bytes)?;
        if answered == subject.as_str() {
            return Ok(ReferrerMode::Api);
        }
        let entry = entry_of(bytes, &fields);
        let tag = fallback_tag(&subject);
        let at = Reference::new(repo.registry(), repo.repository(), &tag)?;
        let mut index = match self.get_manifest(&at, &[OCI_INDEX]) {
            Ok(m) => serde_json::from_slice::<Index>(&m.bytes).map_err(|e| {
                Error::new(
                    ErrorKind::Registry,
                    format!("{at} is not an image index, so no referrer can be added to it: {e}"),
                )
            })?,
            Err(e) if e.kind() == ErrorKind::NotFound => Index {
                schema_version: 2,
                media_type: Some(OCI_INDEX.into()),
                manifests: Vec::new(),
                rest: BTreeMap::new(),
            },
            Err(e) => return Err(e),
        };
        if index.manifests.iter().any(|m| m.digest == entry.digest) {
            return Ok(ReferrerMode::TagSchema);
        }
        index.manifests.push(entry);
        let text = serde_json::to_vec(&index)
            .map_err(|e| Error::invalid(format!("cannot encode the referrers index: {e}")))?;
        self.put_manifest(&at, &tag, OCI_INDEX, &text)?;
        Ok(ReferrerMode::TagSchema)
    }

    /// The referrers of `subject` (a reference with a digest), from the
    /// referrers API, else from the tag-schema fallback index; none when
    /// neither has any.
    pub fn referrers(&self, subject: &Reference) -> Result<Vec<ReferrerEntry>> {
        let digest = subject
            .digest()
            .ok_or_else(|| Error::invalid(format!("{subject}: referrers need a digest")))?;
        let host = subject.api_host();
        let url = format!(
            "{}{}/referrers/{digest}",
            self.v2(host),
            subject.repository()
        );
        let req = Req::new(
            Method::GET,
            url,
            vec![repo_scope(subject.repository(), false)],
        )
        .header("Accept", OCI_INDEX);
        let mut resp = self.send(host, &req).map_err(|f| f.into_error(host))?;
        let status = resp.status().as_u16();
        let content_type = header(&resp, "content-type");
        if status == 200 && content_type.starts_with(OCI_INDEX) {
            let bytes = read_document(&mut resp, &format!("referrers of {subject}"))?;
            let index: Index = serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(
                    ErrorKind::Registry,
                    format!("referrers of {subject}: not an image index: {e}"),
                )
            })?;
            return Ok(index.manifests);
        }
        if status != 404 && status != 200 {
            return Err(self.error_from(host, &format!("referrers of {subject}"), resp));
        }
        let at = Reference::new(
            subject.registry(),
            subject.repository(),
            &fallback_tag(digest),
        )?;
        match self.get_manifest(&at, &[OCI_INDEX]) {
            Ok(m) => Ok(serde_json::from_slice::<Index>(&m.bytes)
                .map(|i| i.manifests)
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Registry,
                        format!("{at} is not an image index: {e}"),
                    )
                })?),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Pushes every manifest of the layout at `layout` whose `subject` is
    /// `subject` (its config and layers first) to each target's
    /// repository, after the subject itself was pushed. Returns each
    /// referrer's digest and how it was indexed, for the last target.
    pub fn push_layout_referrers(
        &self,
        layout: &Path,
        subject: &str,
        targets: &[Reference],
    ) -> Result<Vec<(String, ReferrerMode)>> {
        let mut done = Vec::new();
        for bytes in layout_referrers(layout, subject)? {
            let fields: ReferrerFields = serde_json::from_slice(&bytes)
                .map_err(|e| Error::invalid(format!("a referrer is not a manifest: {e}")))?;
            for target in targets {
                for b in fields.config.iter().chain(fields.layers.iter()) {
                    let path = blob_path(layout, &b.digest)?;
                    self.push_blob(
                        target,
                        &Digest::parse(&b.digest)?,
                        b.size,
                        &FileSource(path),
                        None,
                    )
                    .map_err(|e| e.context(format!("push of a referrer to {target}")))?;
                }
                let mode = self.put_referrer(target, &bytes)?;
                if std::ptr::eq(target, targets.last().expect("targets")) {
                    done.push((Digest::sha256_of(&bytes).to_string(), mode));
                }
            }
        }
        Ok(done)
    }
}

/// The manifests listed in `layout/index.json` whose `subject` is
/// `subject`, in index order, each checked against its digest.
pub fn layout_referrers(layout: &Path, subject: &str) -> Result<Vec<Vec<u8>>> {
    let path = layout.join("index.json");
    let text =
        fs::read(&path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    let index: Index = serde_json::from_slice(&text).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("{} is not valid: {e}", path.display()),
        )
    })?;
    let mut out = Vec::new();
    for entry in &index.manifests {
        let p = blob_path(layout, &entry.digest)?;
        let Ok(bytes) = fs::read(&p) else { continue };
        if Digest::sha256_of(&bytes).as_str() != entry.digest {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "{} does not hash to {}; the layout is corrupt",
                    p.display(),
                    entry.digest
                ),
            ));
        }
        if subject_of(&bytes).as_deref() == Some(subject) {
            out.push(bytes);
        }
    }
    Ok(out)
}
