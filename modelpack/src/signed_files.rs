//! A model manifest's files as model-signing resources (`trust::signing`). A raw layer *is*
//! the file, so its layer digest is the file's sha256 and nothing is read;
//! a tar layer (tar, tar+gzip, tar+zstd) is read once, its blob checked
//! against its digest, and each regular file inside hashed as it unpacks
//! (the files `unpack` writes, so the verifier's own hashing agrees).

use std::io::{self, Read};

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::trust::signing::{is_ignored, Resource};
use crate::layout;
use crate::oci::Descriptor;
use crate::LayerPackaging;

/// Opens a layer's blob.
pub type OpenBlob<'a> = dyn FnMut(&Descriptor) -> Result<Box<dyn Read>> + 'a;

/// The layer's packaging: a ModelPack layer type's, else raw for the
/// generic `application/octet-stream`.
fn packaging(d: &Descriptor) -> Result<LayerPackaging> {
    if let Some(t) = layout::layer_type(&d.media_type) {
        return Ok(t.format);
    }
    if d.media_type == "application/octet-stream" || d.media_type.ends_with(".raw") {
        return Ok(LayerPackaging::Raw);
    }
    bail!(
        "layer {}: media type {:?} is neither a ModelPack layer nor a raw file",
        d.digest,
        d.media_type
    )
}

/// Whether any layer of `layers` is a tar layer (whose blob must be read).
pub fn needs_blobs(layers: &[Descriptor]) -> bool {
    layers
        .iter()
        .any(|d| packaging(d).is_ok_and(|p| p != LayerPackaging::Raw))
}

/// The resources of `layers` (manifest order), leaving out the paths the
/// reference ignores; `open` is called for tar layers only.
pub fn from_layers(layers: &[Descriptor], open: &mut OpenBlob<'_>) -> Result<Vec<Resource>> {
    let mut out = Vec::new();
    for (i, d) in layers.iter().enumerate() {
        let path = layout::filepath(d)
            .ok_or_else(|| anyhow!("layer {i}: no org.cncf.model.filepath annotation"))?;
        if is_ignored(path) {
            continue;
        }
        let format = packaging(d)?;
        if format == LayerPackaging::Raw {
            let sha256 = d
                .digest
                .strip_prefix("sha256:")
                .ok_or_else(|| anyhow!("layer {i} ({path}): digest {} is not sha256", d.digest))?;
            out.push(Resource {
                name: path.to_string(),
                sha256: sha256.to_string(),
            });
            continue;
        }
        let blob = open(d).with_context(|| format!("layer {i} ({path})"))?;
        let files = tar_files(blob, d, format).with_context(|| format!("layer {i} ({path})"))?;
        out.extend(files.into_iter().filter(|r| !is_ignored(&r.name)));
    }
    Ok(out)
}

struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Each regular file of the tar layer `blob` with its sha256; the blob is
/// checked against `d`'s digest and size.
fn tar_files(blob: Box<dyn Read>, d: &Descriptor, format: LayerPackaging) -> Result<Vec<Resource>> {
    let mut blob = Hashing {
        inner: io::BufReader::with_capacity(1 << 20, blob),
        hasher: Sha256::new(),
        count: 0,
    };
    let files = match format {
        LayerPackaging::Tar => hash_entries(&mut blob)?,
        LayerPackaging::TarGzip => hash_entries(flate2::read::GzDecoder::new(&mut blob))?,
        LayerPackaging::TarZstd => hash_entries(zstd::Decoder::new(&mut blob)?)?,
        LayerPackaging::Raw => unreachable!("raw layers are not read"),
    };
    io::copy(&mut blob, &mut io::sink())?;
    let digest = format!("sha256:{}", hex::encode(blob.hasher.finalize()));
    if digest != d.digest || blob.count != d.size {
        bail!(
            "blob {} is corrupt: {} bytes hashing to {digest}, the manifest says {} bytes",
            d.digest,
            blob.count,
            d.size
        );
    }
    Ok(files)
}

fn hash_entries(mut tar: impl Read) -> Result<Vec<Resource>> {
    let mut out = Vec::new();
    {
        let mut archive = tar::Archive::new(&mut tar);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let kind = entry.header().entry_type();
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = name.trim_end_matches('/');
            if kind.is_dir() {
                continue;
            }
            if !kind.is_file() {
                bail!(
                    "tar entry {name:?} is a {}; only regular files are signed",
                    crate::unpack::entry_kind(kind)
                );
            }
            if !layout::is_clean_relative(name) {
                bail!("tar entry {name:?} is not a clean relative path");
            }
            let mut h = Sha256::new();
            io::copy(&mut entry, &mut h)?;
            out.push(Resource {
                name: name.to_string(),
                sha256: hex::encode(h.finalize()),
            });
        }
    }
    io::copy(&mut tar, &mut io::sink())?;
    Ok(out)
}
