//! Push an OCI image layout directory to registries, and pull a manifest
//! with its blobs into one.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::blobs::{FileSource, PushOutcome};
use crate::client::Client;
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::manifests::{DOCKER_MANIFEST, OCI_MANIFEST};
use crate::progress::BlobOutcome;
use crate::reference::Reference;

pub use oci_types::{ANNOTATION_REF_NAME, OCI_LAYOUT};

pub use oci_types::Descriptor;

#[derive(Deserialize)]
struct ImageManifest {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// What [`Client::push_layout`] did, summed over all targets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushSummary {
    /// The manifest's digest (equals the one in `index.json`).
    pub manifest_digest: String,
    /// Blobs (layers and config) uploaded.
    pub blobs_uploaded: u64,
    /// Blob body bytes sent, retries included.
    pub bytes_sent: u64,
    /// Blobs the registry already had.
    pub blobs_skipped: u64,
    /// Blobs mounted from another repository.
    pub blobs_mounted: u64,
}

impl PushSummary {
    /// Counts what happened to one blob.
    pub fn count(&mut self, outcome: PushOutcome) {
        match outcome {
            PushOutcome::Skipped => self.blobs_skipped += 1,
            PushOutcome::Mounted => self.blobs_mounted += 1,
            PushOutcome::Uploaded { bytes_sent } => {
                self.blobs_uploaded += 1;
                self.bytes_sent += bytes_sent;
            }
        }
    }
}

/// What [`Client::pull_to_layout`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullSummary {
    /// The manifest's digest.
    pub manifest_digest: String,
    /// Blobs downloaded.
    pub blobs_downloaded: u64,
    /// Bytes downloaded.
    pub bytes_received: u64,
    /// Blobs already in the layout (verified).
    pub blobs_skipped: u64,
    /// Blobs whose download went on from a partial file left by an
    /// interrupted pull (counted in `blobs_downloaded` too).
    pub blobs_resumed: u64,
}

/// What [`Client::pull_resuming`] fetched.
struct Fetched {
    /// Bytes received in this run (not those already on disk).
    received: u64,
    /// Bytes that were already on disk when the download started.
    resumed_at: u64,
}

/// Path of a blob in a layout, checking the digest first.
pub fn blob_path(layout: &Path, digest: &str) -> Result<PathBuf> {
    let d = Digest::parse(digest)?;
    Ok(layout.join(oci_types::blob_path(d.as_str())))
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes =
        fs::read(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("{} is not valid: {e}", path.display()),
        )
    })
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Index {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    pub(crate) manifests: Vec<Descriptor>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

/// Picks the manifest named `name` in `index.json`, or the only one.
pub(crate) fn pick(index: &Index, layout: &Path, name: Option<&str>) -> Result<Descriptor> {
    let named = |d: &&Descriptor| {
        name.is_none_or(|n| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == Some(n))
    };
    let mut found: Vec<&Descriptor> = index.manifests.iter().filter(named).collect();
    if found.len() > 1 {
        // Referrers (manifests with a `subject`: a BOM, a provenance) are
        // documents about a manifest of the layout, not candidates.
        found.retain(|d| !is_referrer(layout, d));
    }
    match (found.as_slice(), name) {
        ([one], _) => Ok((*one).clone()),
        ([], Some(n)) => Err(Error::new(
            ErrorKind::Io,
            format!(
                "{}/index.json has no manifest named {n:?}; names: {}",
                layout.display(),
                index
                    .manifests
                    .iter()
                    .filter_map(|d| d.annotations.get(ANNOTATION_REF_NAME).cloned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        ([], None) => Err(Error::new(
            ErrorKind::Io,
            format!("{}/index.json lists no manifest", layout.display()),
        )),
        (_, _) => Err(Error::new(
            ErrorKind::Io,
            format!(
                "{}/index.json lists {} manifests; say which one by its {ANNOTATION_REF_NAME} name",
                layout.display(),
                found.len()
            ),
        )),
    }
}

/// Whether the manifest `d` names in `layout` has a `subject`.
fn is_referrer(layout: &Path, d: &Descriptor) -> bool {
    blob_path(layout, &d.digest)
        .ok()
        .and_then(|p| fs::read(p).ok())
        .is_some_and(|b| crate::manifests::subject_of(&b).is_some())
}

/// Runs `f` over `items` on at most `n` threads; the first error wins.
pub(crate) fn for_each_bounded<T: Sync>(
    items: &[T],
    n: usize,
    f: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    let next = AtomicU64::new(0);
    let first_err: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..n.max(1).min(items.len().max(1)) {
            s.spawn(|| loop {
                if first_err.lock().map(|e| e.is_some()).unwrap_or(true) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(item) = items.get(i) else { return };
                if let Err(e) = f(item) {
                    if let Ok(mut slot) = first_err.lock() {
                        slot.get_or_insert(e);
                    }
                    return;
                }
            });
        }
    });
    match first_err.into_inner() {
        Ok(Some(e)) => Err(e),
        _ => Ok(()),
    }
}

impl Client {
    /// Pushes one manifest of the OCI layout at `layout` (the one whose
    /// `org.opencontainers.image.ref.name` is `name`, or the only one) to
    /// every target: missing layers concurrently, then the config, then the
    /// manifest byte for byte under the target's tag (or digest). Later
    /// targets on the same registry mount blobs from the first.
    pub fn push_layout(
        &self,
        layout: &Path,
        name: Option<&str>,
        targets: &[Reference],
    ) -> Result<PushSummary> {
        self.push_layout_from(layout, name, targets, None)
    }

    /// [`Client::push_layout`], first trying to mount each missing blob
    /// from the repository `mount_from` of the same registry (`--from`);
    /// blobs it lacks are uploaded.
    pub fn push_layout_from(
        &self,
        layout: &Path,
        name: Option<&str>,
        targets: &[Reference],
        mount_from: Option<&str>,
    ) -> Result<PushSummary> {
        if targets.is_empty() {
            return Err(Error::invalid("push needs at least one target reference"));
        }
        let index: Index = read_json(&layout.join("index.json"))?;
        let desc = pick(&index, layout, name)?;
        let mpath = blob_path(layout, &desc.digest)?;
        let mbytes = fs::read(&mpath)
            .map_err(|e| Error::io(format!("cannot read manifest blob {}", mpath.display()), e))?;
        let got = Digest::sha256_of(&mbytes);
        if got.as_str() != desc.digest {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "{} hashes to {got}, but index.json says {}; the layout is corrupt",
                    mpath.display(),
                    desc.digest
                ),
            ));
        }
        let manifest: ImageManifest = serde_json::from_slice(&mbytes).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "manifest {} is not an image manifest (config and layers): {e}",
                    desc.digest
                ),
            )
        })?;
        let media_type = manifest
            .media_type
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| {
                if desc.media_type.is_empty() {
                    OCI_MANIFEST.to_string()
                } else {
                    desc.media_type.clone()
                }
            });
        // Check every blob is present with the right size before sending anything.
        let mut blobs = Vec::new();
        for d in manifest
            .layers
            .iter()
            .chain(std::iter::once(&manifest.config))
        {
            let p = blob_path(layout, &d.digest)?;
            let len = fs::metadata(&p)
                .map_err(|e| {
                    Error::io(
                        format!("layout blob {} is missing ({})", d.digest, p.display()),
                        e,
                    )
                })?
                .len();
            if len != d.size {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                    "layout blob {} is {len} bytes but the manifest says {}; the layout is corrupt",
                    d.digest, d.size
                ),
                ));
            }
            blobs.push((Digest::parse(&d.digest)?, d.size, p));
        }
        let (config, layers) = blobs.split_last().expect("config is always there");
        let summary = Mutex::new(PushSummary {
            manifest_digest: desc.digest.clone(),
            ..Default::default()
        });
        let mut first_on_registry: BTreeMap<String, String> = BTreeMap::new();
        for target in targets {
            let from = first_on_registry
                .get(target.registry())
                .cloned()
                .or_else(|| mount_from.map(String::from));
            let push_one = |(digest, size, path): &(Digest, u64, PathBuf)| -> Result<()> {
                let outcome = self.push_blob(
                    target,
                    digest,
                    *size,
                    &FileSource(path.clone()),
                    from.as_deref(),
                )?;
                summary
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .count(outcome);
                Ok(())
            };
            for_each_bounded(layers, self.opts.concurrency, push_one)
                .map_err(|e| e.context(format!("push to {target}")))?;
            push_one(config).map_err(|e| e.context(format!("push to {target}")))?;
            let tag = target.manifest_ref();
            let digest = self.put_manifest(target, &tag, &media_type, &mbytes)?;
            if digest.as_str() != desc.digest {
                return Err(Error::new(
                    ErrorKind::DigestMismatch,
                    format!(
                        "pushed manifest digest {digest} differs from index.json's {}",
                        desc.digest
                    ),
                ));
            }
            first_on_registry
                .entry(target.registry().to_string())
                .or_insert_with(|| target.repository().to_string());
        }
        Ok(summary.into_inner().unwrap_or_else(|p| p.into_inner()))
    }

    /// Pulls the image manifest `reference` names, with its config and
    /// layers, into the OCI layout at `layout` (created if needed). Blobs
    /// already present and matching their digest are kept. `index.json`
    /// gets the manifest under `name` (default: the reference's tag),
    /// replacing an entry of the same name.
    pub fn pull_to_layout(
        &self,
        reference: &Reference,
        layout: &Path,
        name: Option<&str>,
    ) -> Result<PullSummary> {
        let m = self.get_manifest(reference, &[OCI_MANIFEST, DOCKER_MANIFEST])?;
        let manifest: ImageManifest = serde_json::from_slice(&m.bytes).map_err(|e| {
            Error::new(
                ErrorKind::Invalid,
                format!("{reference} is not an image manifest (config and layers): {e}"),
            )
        })?;
        let mk = |p: &Path| {
            fs::create_dir_all(p)
                .map_err(|e| Error::io(format!("cannot create {}", p.display()), e))
        };
        mk(&layout.join("blobs").join("sha256"))?;
        let summary = Mutex::new(PullSummary {
            manifest_digest: m.digest.to_string(),
            ..Default::default()
        });
        let mut blobs = vec![manifest.config.clone()];
        blobs.extend(manifest.layers.iter().cloned());
        for_each_bounded(&blobs, self.opts.concurrency, |d| {
            let digest = Digest::parse(&d.digest)?;
            let path = blob_path(layout, &d.digest)?;
            if let Some(dir) = path.parent() {
                mk(dir)?;
            }
            if verify_file(&path, &digest, d.size) {
                summary
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .blobs_skipped += 1;
                if let Some(p) = self.progress() {
                    p.done(&digest, BlobOutcome::Skipped);
                }
                return Ok(());
            }
            let tmp = path.with_extension("partial");
            let got = self.pull_resuming(reference, &digest, d.size, &tmp)?;
            fs::rename(&tmp, &path)
                .map_err(|e| Error::io(format!("cannot rename into {}", path.display()), e))?;
            let mut s = summary.lock().unwrap_or_else(|p| p.into_inner());
            s.blobs_downloaded += 1;
            s.bytes_received += got.received;
            if got.resumed_at > 0 {
                s.blobs_resumed += 1;
            }
            if let Some(p) = self.progress() {
                p.done(&digest, BlobOutcome::Downloaded);
            }
            Ok(())
        })?;
        let mpath = blob_path(layout, m.digest.as_str())?;
        write_atomic(&mpath, &m.bytes)?;
        write_atomic(&layout.join("oci-layout"), OCI_LAYOUT.as_bytes())?;
        let index_path = layout.join("index.json");
        let mut index: Index = if index_path.exists() {
            read_json(&index_path)?
        } else {
            Index {
                schema_version: 2,
                media_type: Some(crate::manifests::OCI_INDEX.into()),
                manifests: vec![],
                rest: BTreeMap::new(),
            }
        };
        let name = name
            .map(String::from)
            .or_else(|| reference.tag().map(String::from));
        let mut annotations = BTreeMap::new();
        if let Some(n) = &name {
            annotations.insert(ANNOTATION_REF_NAME.to_string(), n.clone());
            index
                .manifests
                .retain(|d| d.annotations.get(ANNOTATION_REF_NAME) != Some(n));
        } else {
            index.manifests.retain(|d| d.digest != m.digest.as_str());
        }
        index.manifests.push(Descriptor {
            media_type: m.media_type.clone(),
            digest: m.digest.to_string(),
            size: m.bytes.len() as u64,
            artifact_type: None,
            annotations,
        });
        let text = serde_json::to_vec_pretty(&index)
            .map_err(|e| Error::invalid(format!("cannot encode index.json: {e}")))?;
        write_atomic(&index_path, &text)?;
        Ok(summary.into_inner().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Client {
    /// Downloads blob `digest` of `size` bytes into `partial`, going on
    /// from what an earlier, interrupted pull left there: its bytes are
    /// hashed and the rest is asked for with a `Range` request. When the
    /// whole does not match the digest (the partial file was not a prefix
    /// of the blob), the file is dropped and the blob downloaded whole
    /// once more. The partial file is kept when the download breaks, for
    /// the next run; it is removed when the content is wrong.
    fn pull_resuming(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        partial: &Path,
    ) -> Result<Fetched> {
        let on_disk = fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
        let resumed_at = if on_disk > size { 0 } else { on_disk };
        let first = self.pull_into(reference, digest, size, partial, resumed_at);
        match first {
            Err(e) if resumed_at > 0 && e.kind() == ErrorKind::DigestMismatch => {
                let _ = fs::remove_file(partial);
                let received = self.pull_into(reference, digest, size, partial, 0)?;
                Ok(Fetched {
                    received,
                    resumed_at: 0,
                })
            }
            Ok(received) => Ok(Fetched {
                received,
                resumed_at,
            }),
            Err(e) => Err(e),
        }
    }

    /// One download attempt into `partial`, keeping its first `offset`
    /// bytes; returns the bytes received.
    fn pull_into(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        partial: &Path,
        offset: u64,
    ) -> Result<u64> {
        let open_err = |e| Error::io(format!("cannot open {}", partial.display()), e);
        let mut f = fs::OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(partial)
            .map_err(open_err)?;
        f.set_len(offset).map_err(open_err)?;
        let mut hasher = digest.hasher();
        let mut left = offset;
        let mut buf = vec![0u8; 64 << 10];
        while left > 0 {
            let n = f
                .read(&mut buf[..left.min(64 << 10) as usize])
                .map_err(open_err)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        f.seek(SeekFrom::Start(offset)).map_err(open_err)?;
        if let Some(p) = self.progress() {
            p.started(digest, size);
            if offset > 0 {
                p.resumed(digest, offset);
            }
        }
        let total = if offset == size {
            // Complete but never renamed: only the digest check is left.
            let got = hasher.finish();
            if &got != digest {
                return Err(self.corrupt(partial, digest, &got));
            }
            size
        } else {
            let result = self.pull_blob_from(reference, digest, &mut f, offset, hasher);
            match result {
                Err(e) if e.kind() == ErrorKind::DigestMismatch => {
                    let _ = fs::remove_file(partial);
                    return Err(e);
                }
                other => other?,
            }
        };
        if total != size {
            let _ = fs::remove_file(partial);
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("blob {digest} of {reference} is {total} bytes, the manifest says {size}"),
            ));
        }
        f.sync_all()
            .map_err(|e| Error::io(format!("cannot write {}", partial.display()), e))?;
        Ok(total - offset)
    }

    fn corrupt(&self, partial: &Path, digest: &Digest, got: &Digest) -> Error {
        let _ = fs::remove_file(partial);
        Error::new(
            ErrorKind::DigestMismatch,
            format!("{} hashes to {got}, not {digest}", partial.display()),
        )
    }
}

/// True when `path` exists with `size` bytes hashing to `digest`.
fn verify_file(path: &Path, digest: &Digest, size: u64) -> bool {
    let Ok(mut f) = fs::File::open(path) else {
        return false;
    };
    if f.metadata().map(|m| m.len()).ok() != Some(size) {
        return false;
    }
    let mut h = digest.hasher();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(_) => return false,
        }
    }
    &h.finish() == digest
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
    fs::rename(&tmp, path)
        .map_err(|e| Error::io(format!("cannot rename into {}", path.display()), e))
}
