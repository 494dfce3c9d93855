//! The streaming layer writer: one file becomes one reproducible tar layer
//! (optionally gzip- or zstd-compressed). One pass over the bytes yields the
//! blob, its digest and the diff id (sha256 of the uncompressed tar). Build
//! steps run it by re-executing our own image (`pack-layer`).

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::packaging::LayerPackaging;

/// Name of the blob in the `pack` step's output.
pub const BLOB_FILE: &str = "blob";
/// Name of the JSON description in the `pack` step's output.
pub const LAYER_FILE: &str = "layer.json";
/// zstd level: zstd's default, a fair speed/size trade for mostly
/// incompressible weights.
const ZSTD_LEVEL: i32 = 3;

/// What the writer produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// `sha256:<hex>` of the blob.
    pub digest: String,
    /// Blob size in bytes.
    pub size: u64,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
}

/// Counts and hashes what passes through.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    fn new(inner: W) -> Self {
        HashWriter { inner, hasher: Sha256::new(), count: 0 }
    }

    fn finish(self) -> (W, String, u64) {
        (self.inner, format!("sha256:{}", hex::encode(self.hasher.finalize())), self.count)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The parent directories of `name`, parent first, with a trailing `/`:
/// `a/b/c.bin` gives `a/` and `a/b/`.
pub fn parent_dirs(name: &str) -> Vec<String> {
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    (1..parts.len()).map(|n| format!("{}/", parts[..n].join("/"))).collect()
}

/// A header with the fixed fields every entry shares: uid/gid 0, mtime 0.
fn fixed_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

/// Writes a tar holding a directory entry (mode 0755) for each parent of
/// `name`, parent first (readers such as KitOps do not create missing
/// folders), then the regular file `name` with `mode`; uid/gid 0 and
/// mtime 0 throughout: the same bytes for the same content, on any machine.
fn write_tar<W: Write>(out: W, src: &Path, name: &str, mode: u32) -> io::Result<W> {
    let file = File::open(src)?;
    let len = file.metadata()?.len();
    let mut builder = tar::Builder::new(out);
    for dir in parent_dirs(name) {
        let mut header = fixed_header(tar::EntryType::Directory, 0o755, 0);
        builder.append_data(&mut header, &dir, io::empty())?;
    }
    let mut header = fixed_header(tar::EntryType::Regular, mode, len);
    builder.append_data(&mut header, name, file)?;
    builder.into_inner()
}

/// Streams `src` as tar entry `name` in `format` into `out`.
pub fn write_layer<W: Write>(src: &Path, name: &str, mode: u32, format: LayerPackaging, out: W) -> io::Result<Written> {
    let blob = HashWriter::new(out);
    let (blob, diff_id) = match format {
        LayerPackaging::Raw => {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "raw layers are the file itself"))
        }
        LayerPackaging::Tar => {
            let (blob, diff_id, _) = write_tar(HashWriter::new(blob), src, name, mode)?.finish();
            (blob, diff_id)
        }
        LayerPackaging::TarGzip => {
            let gz = flate2::GzBuilder::new().mtime(0).write(blob, flate2::Compression::default());
            let (gz, diff_id, _) = write_tar(HashWriter::new(gz), src, name, mode)?.finish();
            (gz.finish()?, diff_id)
        }
        LayerPackaging::TarZstd => {
            let zst = zstd::Encoder::new(blob, ZSTD_LEVEL)?;
            let (zst, diff_id, _) = write_tar(HashWriter::new(zst), src, name, mode)?.finish();
            (zst.finish()?, diff_id)
        }
    };
    let (mut out, digest, size) = blob.finish();
    out.flush()?;
    Ok(Written { digest, size, diff_id })
}

/// `modelpack-frontend pack-layer <format> <name> <mode-octal> <src-file> <out-dir>`.
pub fn run(args: &[String]) -> Result<()> {
    let [format, name, mode, src, out] = args else {
        bail!("usage: modelpack-frontend pack-layer <tar|tar+gzip|tar+zstd> <name-in-tar> <mode-octal> <src-file> <out-dir>");
    };
    let format = LayerPackaging::from_suffix(format).with_context(|| format!("unknown layer format {format:?}"))?;
    let mode = u32::from_str_radix(mode, 8).with_context(|| format!("mode {mode:?} is not octal"))?;
    let out = Path::new(out);
    let blob = File::create(out.join(BLOB_FILE)).with_context(|| format!("creating {}", out.display()))?;
    let written = write_layer(Path::new(src), name, mode, format, io::BufWriter::with_capacity(1 << 20, blob))
        .with_context(|| format!("packing {src} as {name}"))?;
    std::fs::write(out.join(LAYER_FILE), serde_json::to_vec(&written)?)?;
    eprintln!("packed {name}: {} bytes, {}", written.size, written.digest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample() -> (std::path::PathBuf, Vec<u8>) {
        let dir = std::env::temp_dir().join(format!("pack-test-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bytes: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let path = dir.join("w.bin");
        std::fs::write(&path, &bytes).unwrap();
        (path, bytes)
    }

    fn pack(format: LayerPackaging) -> (Written, Vec<u8>) {
        let (src, _) = sample();
        let mut blob = Vec::new();
        let w = write_layer(&src, "sub/dir/w.bin", 0o644, format, &mut blob).unwrap();
        (w, blob)
    }

    /// (name, type flag, mode, uid, gid, mtime, content) of a tar entry.
    type Entry = (String, u8, u32, u64, u64, u64, Vec<u8>);

    /// Every entry of a tar, in order.
    fn entries(tar_bytes: &[u8]) -> Vec<Entry> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
                (name, h.entry_type().as_byte(), h.mode().unwrap(), h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap(), data)
            })
            .collect()
    }

    /// The regular files of a tar: (name, mode, mtime, content).
    fn untar(tar_bytes: &[u8]) -> Vec<(String, u32, u64, Vec<u8>)> {
        entries(tar_bytes)
            .into_iter()
            .filter(|e| e.1 == b'0')
            .map(|(name, _, mode, _, _, mtime, data)| (name, mode, mtime, data))
            .collect()
    }

    #[test]
    fn every_format_round_trips_with_digest_and_diff_id() {
        let (_, original) = sample();
        for format in [LayerPackaging::Tar, LayerPackaging::TarGzip, LayerPackaging::TarZstd] {
            let (w, blob) = pack(format);
            assert_eq!(w.digest, crate::digest::sha256_of(&blob), "{format:?}");
            assert_eq!(w.size, blob.len() as u64);
            let tar_bytes = match format {
                LayerPackaging::Tar => blob.clone(),
                LayerPackaging::TarGzip => {
                    let mut d = Vec::new();
                    flate2::read::GzDecoder::new(blob.as_slice()).read_to_end(&mut d).unwrap();
                    d
                }
                _ => zstd::decode_all(blob.as_slice()).unwrap(),
            };
            assert_eq!(w.diff_id, crate::digest::sha256_of(&tar_bytes), "{format:?}: diff id is the uncompressed tar");
            let names: Vec<String> = entries(&tar_bytes).into_iter().map(|e| e.0).collect();
            assert_eq!(names, ["sub/", "sub/dir/", "sub/dir/w.bin"], "{format:?}");
            let files = untar(&tar_bytes);
            assert_eq!(files, [("sub/dir/w.bin".to_string(), 0o644, 0, original.clone())]);
            if format != LayerPackaging::Tar {
                assert_ne!(w.digest, w.diff_id);
            } else {
                assert_eq!(w.digest, w.diff_id);
            }
        }
    }

    #[test]
    fn packing_twice_gives_identical_bytes() {
        for format in [LayerPackaging::Tar, LayerPackaging::TarGzip, LayerPackaging::TarZstd] {
            assert_eq!(pack(format), pack(format), "{format:?}");
        }
    }

    #[test]
    fn long_names_survive() {
        let (src, _) = sample();
        let name = format!("{}/model.safetensors", "deep/".repeat(40));
        let mut blob = Vec::new();
        write_layer(&src, &name, 0o755, LayerPackaging::Tar, &mut blob).unwrap();
        let files = untar(&blob);
        assert_eq!((files[0].0.as_str(), files[0].1), (name.as_str(), 0o755));
        assert_eq!(entries(&blob).len(), 41, "40 parent directories, then the file");
    }

    #[test]
    fn parents_come_first_as_directory_entries() {
        let (src, original) = sample();
        let mut blob = Vec::new();
        write_layer(&src, "a/b/c.bin", 0o644, LayerPackaging::Tar, &mut blob).unwrap();
        assert_eq!(
            entries(&blob),
            [
                ("a/".to_string(), b'5', 0o755, 0, 0, 0, vec![]),
                ("a/b/".to_string(), b'5', 0o755, 0, 0, 0, vec![]),
                ("a/b/c.bin".to_string(), b'0', 0o644, 0, 0, 0, original),
            ]
        );
        let mut top = Vec::new();
        write_layer(&src, "c.bin", 0o644, LayerPackaging::Tar, &mut top).unwrap();
        assert_eq!(entries(&top).len(), 1, "a top-level file has no directory entry");
    }

    #[test]
    fn parent_dirs_are_listed_parent_first() {
        assert_eq!(parent_dirs("a/b/c.bin"), ["a/", "a/b/"]);
        assert_eq!(parent_dirs("c.bin"), Vec::<String>::new());
        assert_eq!(parent_dirs("x y/z"), ["x y/"]);
    }
}
