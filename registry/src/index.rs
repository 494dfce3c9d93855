//! Push an image index of a layout to a registry: every manifest it lists
//! (nested indexes too) with their blobs, each manifest by digest, then the
//! index under the target's tag, then the layout's other manifests whose
//! `subject` is one of those pushed (referrers: signatures, SBOMs), each
//! attached as [`Client::put_referrer`] does (the referrers API, else the
//! subject's tag-schema fallback index).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;

use crate::blobs::{FileSource, PushOutcome};
use crate::client::Client;
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::layout::{blob_path, for_each_bounded, pick, read_json, Descriptor, Index};
use crate::manifests::{DOCKER_MANIFEST_LIST, MAX_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use crate::reference::Reference;

/// What [`Client::push_index`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexPushSummary {
    /// The index's digest (equals the one in `index.json`).
    pub index_digest: String,
    /// Manifests (and nested indexes) pushed by digest, referrers excluded.
    pub manifests: u64,
    /// Referrers pushed (manifests of the layout whose subject was pushed).
    pub referrers: u64,
    /// Blobs uploaded.
    pub blobs_uploaded: u64,
    /// Blobs the repository already had.
    pub blobs_skipped: u64,
    /// Blobs mounted from another repository.
    pub blobs_mounted: u64,
    /// Blob body bytes sent.
    pub bytes_sent: u64,
}

/// True when `media_type` is an image index or manifest list.
pub(crate) fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

struct Pusher<'a> {
    client: &'a Client,
    layout: &'a Path,
    target: &'a Reference,
    mount_from: Option<&'a str>,
    summary: Mutex<IndexPushSummary>,
    pushed: Mutex<BTreeSet<String>>,
}

impl Client {
    /// Pushes the image index named `name` in the layout's `index.json`
    /// (or, without a name, the only entry that is an image index) to
    /// `target`: each manifest it lists with its config and layers (blobs
    /// the repository has are skipped, missing ones first mounted from
    /// `mount_from` when given), each manifest by digest, the index byte for
    /// byte under the target's tag, then the layout's referrers of what was
    /// pushed. A blob missing from the layout is fine when the repository
    /// already has it (or `mount_from` does).
    pub fn push_index(
        &self,
        layout: &Path,
        name: Option<&str>,
        target: &Reference,
        mount_from: Option<&str>,
    ) -> Result<IndexPushSummary> {
        let index: Index = read_json(&layout.join("index.json"))?;
        let desc = match name {
            Some(_) => pick(&index, layout, name)?,
            None => {
                let found: Vec<&Descriptor> = index
                    .manifests
                    .iter()
                    .filter(|d| is_index(&d.media_type))
                    .collect();
                match found.as_slice() {
                    [one] => (*one).clone(),
                    _ => pick(&index, layout, None)?,
                }
            }
        };
        if !is_index(&desc.media_type) {
            return Err(Error::invalid(format!(
                "{} in {}/index.json is a {}, not an image index",
                desc.digest,
                layout.display(),
                desc.media_type
            )));
        }
        let p = Pusher {
            client: self,
            layout,
            target,
            mount_from,
            summary: Mutex::new(IndexPushSummary {
                index_digest: desc.digest.clone(),
                ..Default::default()
            }),
            pushed: Mutex::new(BTreeSet::new()),
        };
        let ctx = |e: Error| e.context(format!("push to {target}"));
        let bytes = p.read_doc(&desc.digest, desc.size)?;
        p.push_children(&bytes, &desc.digest).map_err(ctx)?;
        let tag = target.manifest_ref();
        let got = self
            .put_manifest(target, &tag, &desc.media_type, &bytes)
            .map_err(ctx)?;
        if got.as_str() != desc.digest {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "pushed index digest {got} differs from index.json's {}",
                    desc.digest
                ),
            ));
        }
        // Referrers: the layout's other manifests whose subject was pushed.
        for d in &index.manifests {
            if d.digest == desc.digest || is_index(&d.media_type) {
                continue;
            }
            let bytes = p.read_doc(&d.digest, d.size)?;
            let doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("manifest {} is not JSON: {e}", d.digest),
                )
            })?;
            let Some(subject) = doc["subject"]["digest"].as_str() else {
                continue;
            };
            if !p
                .pushed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(subject)
            {
                continue;
            }
            p.push_referrer(&bytes).map_err(ctx)?;
            p.summary
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .referrers += 1;
        }
        Ok(p.summary.into_inner().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Pusher<'_> {
    /// Reads a manifest or index blob of the layout, checking size and digest.
    fn read_doc(&self, digest: &str, size: u64) -> Result<Vec<u8>> {
        if size > MAX_MANIFEST {
            return Err(Error::invalid(format!(
                "{digest} is {size} bytes, over the {MAX_MANIFEST} bytes registries accept for a manifest"
            )));
        }
        let path = blob_path(self.layout, digest)?;
        let bytes =
            fs::read(&path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        let got = Digest::sha256_of(&bytes);
        if got.as_str() != digest || bytes.len() as u64 != size {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "{} hashes to {got} ({} bytes), but the index says {digest} ({size} bytes); the layout is corrupt",
                    path.display(),
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }

    /// Pushes every manifest the index `bytes` lists (recursively).
    fn push_children(&self, bytes: &[u8], digest: &str) -> Result<()> {
        let doc: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::new(ErrorKind::Io, format!("index {digest} is not JSON: {e}")))?;
        let children: Vec<Descriptor> =
            serde_json::from_value(doc["manifests"].clone()).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("index {digest} has no valid manifests list: {e}"),
                )
            })?;
        for child in &children {
            let cbytes = self.read_doc(&child.digest, child.size)?;
            if is_index(&child.media_type) {
                self.push_children(&cbytes, &child.digest)?;
                self.put(child, &cbytes)?;
            } else {
                self.push_manifest(child, &cbytes)?;
            }
            self.summary
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .manifests += 1;
        }
        Ok(())
    }

    /// Pushes a referrer's config and layers, then attaches it to its
    /// subject ([`Client::put_referrer`]: by digest, and in the subject's
    /// tag-schema fallback index when the registry has no referrers API).
    fn push_referrer(&self, bytes: &[u8]) -> Result<()> {
        let digest = Digest::sha256_of(bytes).to_string();
        self.push_blobs(&digest, bytes)?;
        self.client.put_referrer(self.target, bytes)?;
        self.pushed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest);
        Ok(())
    }

    /// Pushes one image manifest's config and layers, then the manifest by digest.
    fn push_manifest(&self, d: &Descriptor, bytes: &[u8]) -> Result<()> {
        self.push_blobs(&d.digest, bytes)?;
        self.put(d, bytes)
    }

    /// Pushes the config and layers of manifest `digest` (its `bytes`).
    fn push_blobs(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
            Error::new(ErrorKind::Io, format!("manifest {digest} is not JSON: {e}"))
        })?;
        let mut blobs: Vec<Descriptor> = Vec::new();
        let config: Descriptor = serde_json::from_value(doc["config"].clone()).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("manifest {digest} has no valid config descriptor: {e}"),
            )
        })?;
        if let Some(layers) = doc.get("layers") {
            blobs = serde_json::from_value(layers.clone()).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("manifest {digest} has no valid layers list: {e}"),
                )
            })?;
        }
        blobs.push(config);
        for_each_bounded(&blobs, self.client.opts.concurrency, |b| self.push_blob(b))
    }

    /// `PUT` of a manifest or index by digest.
    fn put(&self, d: &Descriptor, bytes: &[u8]) -> Result<()> {
        let media_type = if d.media_type.is_empty() {
            OCI_MANIFEST
        } else {
            &d.media_type
        };
        let got = self
            .client
            .put_manifest(self.target, &d.digest, media_type, bytes)?;
        if got.as_str() != d.digest {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("pushed manifest digest {got} differs from {}", d.digest),
            ));
        }
        self.pushed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(d.digest.clone());
        Ok(())
    }

    fn push_blob(&self, d: &Descriptor) -> Result<()> {
        let digest = Digest::parse(&d.digest)?;
        let path = blob_path(self.layout, &d.digest)?;
        let outcome = match fs::metadata(&path) {
            Ok(m) if m.len() == d.size => self.client.push_blob(
                self.target,
                &digest,
                d.size,
                &FileSource(path.clone()),
                self.mount_from,
            )?,
            Ok(m) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                    "layout blob {} is {} bytes but its descriptor says {}; the layout is corrupt",
                    d.digest,
                    m.len(),
                    d.size
                ),
                ))
            }
            Err(e) => {
                // Not in the layout: fine when the registry has it (or can
                // mount it; else reading the missing file fails the upload).
                if self.mount_from.is_none()
                    && self.client.blob_exists(self.target, &digest)?.is_none()
                {
                    return Err(Error::io(
                        format!("layout blob {} is missing ({})", d.digest, path.display()),
                        e,
                    ));
                }
                self.client.push_blob(
                    self.target,
                    &digest,
                    d.size,
                    &FileSource(path.clone()),
                    self.mount_from,
                )?
            }
        };
        let mut s = self.summary.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            PushOutcome::Skipped => s.blobs_skipped += 1,
            PushOutcome::Mounted => s.blobs_mounted += 1,
            PushOutcome::Uploaded { bytes_sent } => {
                s.blobs_uploaded += 1;
                s.bytes_sent += bytes_sent;
            }
        }
        Ok(())
    }
}
