//! A model manifest's files as model-signing resources (`trust::signing`). A raw layer *is*
//! the file, so its layer digest is the file's sha256 and nothing is read;
//! a tar layer (tar, tar+gzip, tar+zstd) is read once, its blob checked
//! against its digest, and each regular file inside hashed as it unpacks
//! (the files `unpack` writes, so the verifier's own hashing agrees).

use std::io::{self, Read};

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::digest::HashingReader;
use crate::layout;
use crate::oci::Descriptor;
use crate::trust::signing::{is_ignored, Resource};
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

/// Each regular file of the tar layer `blob` with its sha256; the blob is
/// checked against `d`'s digest and size.
fn tar_files(blob: Box<dyn Read>, d: &Descriptor, format: LayerPackaging) -> Result<Vec<Resource>> {
    let mut blob = HashingReader::new(io::BufReader::with_capacity(1 << 20, blob));
    let files = tar_layer_files(&mut blob, format)?;
    let (_, digest, count) = blob.finish()?;
    if digest != d.digest || count != d.size {
        bail!(
            "blob {} is corrupt: {} bytes hashing to {digest}, the manifest says {} bytes",
            d.digest,
            count,
            d.size
        );
    }
    Ok(files)
}

/// Each regular file of the tar layer `blob` in `format` with its sha256
/// (the blob is not checked against a digest here: callers that did not
/// check it already do, as [`from_layers`] does).
pub fn tar_layer_files(blob: impl Read, format: LayerPackaging) -> Result<Vec<Resource>> {
    match format {
        LayerPackaging::Tar => hash_entries(blob),
        LayerPackaging::TarGzip => hash_entries(flate2::read::GzDecoder::new(blob)),
        LayerPackaging::TarZstd => hash_entries(zstd::Decoder::new(blob)?),
        LayerPackaging::Raw => bail!("a raw layer is the file itself: its digest is its sha256"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_tar_layer_lists_its_files_with_their_sha256_in_every_format() {
        let bytes = b"{\"architectures\": [\"X\"]}".to_vec();
        let want = hex::encode(Sha256::digest(&bytes));
        for format in [
            LayerPackaging::Tar,
            LayerPackaging::TarGzip,
            LayerPackaging::TarZstd,
        ] {
            let mut blob = Vec::new();
            crate::pack::write_layer_from(
                &mut bytes.as_slice(),
                bytes.len() as u64,
                "sub/config.json",
                0o644,
                format,
                &mut blob,
                1,
            )
            .unwrap();
            assert_eq!(
                tar_layer_files(blob.as_slice(), format).unwrap(),
                vec![Resource {
                    name: "sub/config.json".into(),
                    sha256: want.clone()
                }],
                "{format:?}"
            );
        }
        assert!(tar_layer_files(&b""[..], LayerPackaging::Raw).is_err());
    }

    fn layer(media_type: &str, digest: String, size: u64, path: &str) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            artifact_type: None,
            annotations: BTreeMap::from([(crate::oci::ANNOTATION_FILEPATH.into(), path.into())]),
        }
    }

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn raw_layers_are_read_by_digest_and_tar_layers_hashed_inside() {
        let weights = b"raw weights".as_slice();
        let card = b"# card\n".as_slice();
        let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut layers = vec![layer(
            "application/vnd.cncf.model.weight.v1.raw",
            format!("sha256:{}", sha(weights)),
            weights.len() as u64,
            "model.safetensors",
        )];
        for (format, suffix) in [
            (LayerPackaging::Tar, "tar"),
            (LayerPackaging::TarGzip, "tar+gzip"),
            (LayerPackaging::TarZstd, "tar+zstd"),
        ] {
            let mut out = Vec::new();
            let w = crate::pack::write_layer_from(
                card,
                card.len() as u64,
                "README.md",
                0o644,
                format,
                &mut out,
                1,
            )
            .unwrap();
            layers.push(layer(
                &format!("application/vnd.cncf.model.doc.v1.{suffix}"),
                w.digest.clone(),
                w.size,
                "README.md",
            ));
            blobs.insert(w.digest, out);
        }
        // A top-level .gitattributes is left out without being read.
        layers.push(layer(
            "application/vnd.cncf.model.doc.v1.tar",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000".into(),
            1,
            ".gitattributes",
        ));
        let mut opened = 0;
        let mut open = |d: &Descriptor| -> Result<Box<dyn Read>> {
            opened += 1;
            Ok(Box::new(io::Cursor::new(blobs[&d.digest].clone())))
        };
        let got = from_layers(&layers, &mut open).unwrap();
        assert_eq!(opened, 3, "only the tar layers are read");
        let want = |name: &str, b: &[u8]| Resource {
            name: name.into(),
            sha256: sha(b),
        };
        assert_eq!(
            got,
            [
                want("model.safetensors", weights),
                want("README.md", card),
                want("README.md", card),
                want("README.md", card),
            ]
        );
        assert!(needs_blobs(&layers) && !needs_blobs(&layers[..1]));

        // A corrupt tar blob is refused.
        let mut bad = layers[1].clone();
        bad.digest = format!("sha256:{}", sha(b"other"));
        let blob = blobs[&layers[1].digest].clone();
        let mut open = |_: &Descriptor| -> Result<Box<dyn Read>> {
            Ok(Box::new(io::Cursor::new(blob.clone())))
        };
        let err = from_layers(&[bad], &mut open).unwrap_err();
        assert!(format!("{err:#}").contains("corrupt"), "{err:#}");
    }
}
