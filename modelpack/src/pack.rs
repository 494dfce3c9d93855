//! The streaming layer writer: one file becomes one reproducible tar layer
//! (optionally gzip- or zstd-compressed). One pass over the bytes yields the
//! blob, its digest and the diff id (sha256 of the uncompressed tar). Build
//! steps run it by re-executing our own image (`pack-layer`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::digest::HashingWriter;
use crate::packaging::LayerPackaging;

pub use crate::plan_file::Written;

/// zstd level: zstd's default, a fair speed/size trade for mostly
/// incompressible weights.
const ZSTD_LEVEL: i32 = 3;
/// zstd job size in multithreaded mode. zstd's multithreaded output
/// depends on the job size and level, not on the number of workers (as long
/// as there is at least one), so it is fixed here and the worker count can
/// follow the machine.
const ZSTD_JOB_SIZE: u32 = 4 << 20;

/// Threads the compressors use: the CPUs this process may run on.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A zstd encoder with `threads` workers (at least one: zero would be
/// zstd's single-threaded mode, whose bytes differ).
fn zstd_encoder<W: Write>(out: W, threads: usize) -> io::Result<zstd::Encoder<'static, W>> {
    let mut enc = zstd::Encoder::new(out, ZSTD_LEVEL)?;
    enc.multithread(threads.clamp(1, 64) as u32)?;
    enc.set_parameter(zstd::zstd_safe::CParameter::JobSize(ZSTD_JOB_SIZE))?;
    Ok(enc)
}

/// The parent directories of `name`, parent first, with a trailing `/`:
/// `a/b/c.bin` gives `a/` and `a/b/`.
pub fn parent_dirs(name: &str) -> Vec<String> {
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    (1..parts.len())
        .map(|n| format!("{}/", parts[..n].join("/")))
        .collect()
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
/// `data` must yield exactly `len` bytes: fewer or more is an error (the
/// header has been written with `len`). The bytes are copied through a
/// 1 MiB buffer (a download then reads its socket in big chunks).
fn write_tar<W: Write>(
    out: W,
    mut data: impl Read,
    len: u64,
    name: &str,
    mode: u32,
) -> io::Result<W> {
    let mut builder = tar::Builder::new(out);
    for dir in parent_dirs(name) {
        let mut header = fixed_header(tar::EntryType::Directory, 0o755, 0);
        builder.append_data(&mut header, &dir, io::empty())?;
    }
    // The header (and a long-name entry when needed) with the size; the
    // bytes and their padding follow, as `append_data` would write them.
    let mut header = fixed_header(tar::EntryType::Regular, mode, len);
    builder.append_data(&mut header, name, io::empty())?;
    let out = builder.get_mut();
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut copied: u64 = 0;
    loop {
        // Once `len` bytes are in, one more read must find the end.
        let want = ((len - copied).min(buf.len() as u64) as usize).max(1);
        let n = data.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        if copied == len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{name}: expected {len} bytes, got more"),
            ));
        }
        out.write_all(&buf[..n])?;
        copied += n as u64;
    }
    if copied != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{name}: expected {len} bytes, got {copied}"),
        ));
    }
    out.write_all(&[0u8; 512][..((512 - len % 512) % 512) as usize])?;
    builder.into_inner()
}

/// The buffer the file's bytes are copied through.
const COPY_BUFFER: usize = 1 << 20;

/// Streams `src` as tar entry `name` in `format` into `out`, compressing on
/// every CPU; see [`write_layer_with`].
pub fn write_layer<W: Write>(
    src: &Path,
    name: &str,
    mode: u32,
    format: LayerPackaging,
    out: W,
) -> io::Result<Written> {
    write_layer_with(src, name, mode, format, out, default_threads())
}

/// Streams `src` as tar entry `name` in `format` into `out` in one pass:
/// the tar bytes are hashed (diff id) on their way into the compressor and
/// the compressed bytes (digest, size) on their way out. gzip and zstd use
/// up to `threads` threads; the bytes are the same for any thread count.
pub fn write_layer_with<W: Write>(
    src: &Path,
    name: &str,
    mode: u32,
    format: LayerPackaging,
    out: W,
    threads: usize,
) -> io::Result<Written> {
    let file = File::open(src)?;
    let len = file.metadata()?.len();
    write_layer_from(file, len, name, mode, format, out, threads)
}

/// [`write_layer_with`] for `len` bytes read from `data` (e.g. a download
/// on its way in): the same bytes as for a file holding them.
pub fn write_layer_from<W: Write>(
    data: impl Read,
    len: u64,
    name: &str,
    mode: u32,
    format: LayerPackaging,
    out: W,
    threads: usize,
) -> io::Result<Written> {
    let blob = HashingWriter::new(out);
    let (blob, diff_id) = match format {
        LayerPackaging::Raw => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "raw layers are the file itself",
            ))
        }
        LayerPackaging::Tar => {
            // The blob is the uncompressed tar: one hash is both digests.
            let (mut out, digest, size) = write_tar(blob, data, len, name, mode)?.finish();
            out.flush()?;
            return Ok(Written {
                diff_id: digest.clone(),
                digest,
                size,
            });
        }
        LayerPackaging::TarGzip => {
            let gz = crate::pgzip::ParallelGzip::new(blob, flate2::Compression::default(), threads);
            let (gz, diff_id, _) =
                write_tar(HashingWriter::new(gz), data, len, name, mode)?.finish();
            (gz.finish()?, diff_id)
        }
        LayerPackaging::TarZstd => {
            let zst = zstd_encoder(blob, threads)?;
            let (zst, diff_id, _) =
                write_tar(HashingWriter::new(zst), data, len, name, mode)?.finish();
            (zst.finish()?, diff_id)
        }
    };
    let (mut out, digest, size) = blob.finish();
    out.flush()?;
    Ok(Written {
        digest,
        size,
        diff_id,
    })
}

/// The regular file inside a one-file layer (as [`write_layer`] writes it)
/// of `format` at `path`: its size and a reader of its bytes from the
/// start, decompressing as it goes. For reading a packed file's header
/// without unpacking the layer.
pub fn open_layer_file(path: &Path, format: LayerPackaging) -> io::Result<(u64, Box<dyn Read>)> {
    let file = io::BufReader::new(File::open(path)?);
    let mut stream: Box<dyn Read> = match format {
        LayerPackaging::Raw => {
            let len = std::fs::metadata(path)?.len();
            return Ok((len, Box::new(file)));
        }
        LayerPackaging::Tar => Box::new(file),
        LayerPackaging::TarGzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        LayerPackaging::TarZstd => Box::new(zstd::Decoder::with_buffer(file)?),
    };
    let bad = |what: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {what}", path.display()),
        )
    };
    loop {
        let mut block = [0u8; 512];
        stream
            .read_exact(&mut block)
            .map_err(|e| bad(format!("no regular file in the layer ({e})")))?;
        let header = tar::Header::from_byte_slice(&block);
        let size = header.entry_size().map_err(|e| bad(e.to_string()))?;
        let kind = header.entry_type();
        if kind.is_file() {
            return Ok((size, Box::new(stream.take(size))));
        }
        // Directories, long-name and PAX entries: skip their data.
        let padded = size.div_ceil(512) * 512;
        io::copy(&mut (&mut stream).take(padded), &mut io::sink())?;
        if block.iter().all(|&b| b == 0) {
            return Err(bad("no regular file in the layer".into()));
        }
    }
}

/// One file of a [`PackList`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackJob {
    /// The file, relative to the source folder.
    pub path: String,
    /// Its name in the tar (its model path).
    pub name: String,
    /// Its mode.
    pub mode: u32,
    /// `tar`, `tar+gzip` or `tar+zstd`.
    pub format: String,
}

/// What one `pack-many` step packs: many small files in one container
/// instead of one step each.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackList {
    /// In the order their descriptions are written.
    pub files: Vec<PackJob>,
}

/// Packs every file of `list` from `src` into `out/blobs/sha256/<hex>`, on
/// every CPU (one file per thread: the bytes do not depend on it), and
/// returns their descriptions in list order.
pub fn pack_many(list: &PackList, src: &Path, out: &Path) -> Result<Vec<Written>> {
    let dir = out.join("blobs").join("sha256");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let formats: Vec<LayerPackaging> = list
        .files
        .iter()
        .map(|j| {
            LayerPackaging::from_suffix(&j.format)
                .filter(|f| *f != LayerPackaging::Raw)
                .with_context(|| format!("{}: unknown layer format {:?}", j.name, j.format))
        })
        .collect::<Result<_>>()?;
    for j in &list.files {
        if !crate::layout::is_clean_relative(&j.path) {
            bail!("refusing to pack {:?}: not a plain relative path", j.path);
        }
    }
    crate::workers::map_until_failure(list.files.len(), default_threads(), |i| {
        let job = &list.files[i];
        let from = src.join(&job.path);
        let tmp = dir.join(format!(".packing-{i}"));
        let blob = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let written = write_layer_with(
            &from,
            &job.name,
            job.mode,
            formats[i],
            io::BufWriter::new(blob),
            1,
        )
        .with_context(|| format!("packing {} as {}", from.display(), job.name))?;
        let at = crate::layout::blob_path_in(out, &written.digest)?;
        std::fs::rename(&tmp, &at)
            .with_context(|| format!("renaming {} to {}", tmp.display(), at.display()))?;
        Ok(written)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (std::path::PathBuf, Vec<u8>) {
        let dir = std::env::temp_dir().join(format!(
            "pack-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
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
                (
                    name,
                    h.entry_type().as_byte(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mtime().unwrap(),
                    data,
                )
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
    fn many_files_pack_to_the_bytes_each_gets_alone_in_list_order() {
        let dir = crate::testutil::TempDir::new("pack-many");
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        let mut list = PackList::default();
        for i in 0..40 {
            let path = format!("sub/f{i}.json");
            std::fs::write(src.join(&path), format!("{{\"i\": {i}}}\n").repeat(i + 1)).unwrap();
            let format = [
                LayerPackaging::Tar,
                LayerPackaging::TarGzip,
                LayerPackaging::TarZstd,
            ][i % 3];
            list.files.push(PackJob {
                path: path.clone(),
                name: format!("model/{path}"),
                mode: 0o644,
                format: format.suffix().into(),
            });
        }
        // The same file twice under one name: one blob, two descriptions.
        list.files.push(list.files[0].clone());
        let out = dir.join("out");
        let written = pack_many(&list, &src, &out).unwrap();
        assert_eq!(written.len(), 41);
        assert_eq!(written[40], written[0]);
        for (job, w) in list.files.iter().zip(&written) {
            let mut alone = Vec::new();
            let format = LayerPackaging::from_suffix(&job.format).unwrap();
            let want = write_layer_with(
                &src.join(&job.path),
                &job.name,
                0o644,
                format,
                &mut alone,
                8,
            )
            .unwrap();
            assert_eq!(*w, want, "{}", job.path);
            assert!(
                std::fs::read(crate::layout::blob_path_in(&out, &w.digest).unwrap()).unwrap()
                    == alone
            );
        }
        let left = std::fs::read_dir(out.join("blobs/sha256")).unwrap().count();
        assert_eq!(left, 40, "only blobs are left");
        let mut bad = list.clone();
        bad.files[3].path = "../x".into();
        assert!(pack_many(&bad, &src, &out)
            .unwrap_err()
            .to_string()
            .contains("../x"));
    }

    #[test]
    fn a_packed_files_bytes_read_back_from_its_layer_in_every_format() {
        let (_, original) = sample();
        let long = format!("{}/w.bin", "deep/".repeat(30));
        for format in [
            LayerPackaging::Tar,
            LayerPackaging::TarGzip,
            LayerPackaging::TarZstd,
        ] {
            for name in ["w.bin", "sub/dir/w.bin", long.as_str()] {
                let (src, _) = sample();
                let layer = src.with_file_name(format!("layer-{}", format.suffix()));
                write_layer(&src, name, 0o644, format, File::create(&layer).unwrap()).unwrap();
                let (size, mut r) = open_layer_file(&layer, format).unwrap();
                let mut back = Vec::new();
                r.read_to_end(&mut back).unwrap();
                assert_eq!(
                    (size, back.len()),
                    (original.len() as u64, original.len()),
                    "{format:?} {name}"
                );
                assert!(back == original, "{format:?} {name}");
            }
        }
    }

    #[test]
    fn a_reader_gives_the_bytes_a_file_gives_and_a_short_or_long_one_fails() {
        let (src, original) = sample();
        for format in [
            LayerPackaging::Tar,
            LayerPackaging::TarGzip,
            LayerPackaging::TarZstd,
        ] {
            let mut from_file = Vec::new();
            let a = write_layer_with(&src, "a/w.bin", 0o644, format, &mut from_file, 2).unwrap();
            let mut from_reader = Vec::new();
            let b = write_layer_from(
                &original[..],
                original.len() as u64,
                "a/w.bin",
                0o644,
                format,
                &mut from_reader,
                2,
            )
            .unwrap();
            assert_eq!(a, b, "{format:?}");
            assert!(from_file == from_reader, "{format:?}");
            let short = write_layer_from(
                &original[..100],
                original.len() as u64,
                "a/w.bin",
                0o644,
                format,
                Vec::new(),
                2,
            );
            assert!(
                short.unwrap_err().to_string().contains("got 100"),
                "{format:?}"
            );
            let long =
                write_layer_from(&original[..], 100, "a/w.bin", 0o644, format, Vec::new(), 2);
            assert!(long.is_err(), "{format:?}");
        }
    }

    #[test]
    fn every_format_round_trips_with_digest_and_diff_id() {
        let (_, original) = sample();
        for format in [
            LayerPackaging::Tar,
            LayerPackaging::TarGzip,
            LayerPackaging::TarZstd,
        ] {
            let (w, blob) = pack(format);
            assert_eq!(w.digest, crate::digest::sha256_of(&blob), "{format:?}");
            assert_eq!(w.size, blob.len() as u64);
            let tar_bytes = match format {
                LayerPackaging::Tar => blob.clone(),
                LayerPackaging::TarGzip => {
                    let mut d = Vec::new();
                    flate2::read::GzDecoder::new(blob.as_slice())
                        .read_to_end(&mut d)
                        .unwrap();
                    d
                }
                _ => zstd::decode_all(blob.as_slice()).unwrap(),
            };
            assert_eq!(
                w.diff_id,
                crate::digest::sha256_of(&tar_bytes),
                "{format:?}: diff id is the uncompressed tar"
            );
            let names: Vec<String> = entries(&tar_bytes).into_iter().map(|e| e.0).collect();
            assert_eq!(names, ["sub/", "sub/dir/", "sub/dir/w.bin"], "{format:?}");
            let files = untar(&tar_bytes);
            assert_eq!(
                files,
                [("sub/dir/w.bin".to_string(), 0o644, 0, original.clone())]
            );
            if format != LayerPackaging::Tar {
                assert_ne!(w.digest, w.diff_id);
            } else {
                assert_eq!(w.digest, w.diff_id);
            }
        }
    }

    #[test]
    fn packing_twice_gives_identical_bytes() {
        for format in [
            LayerPackaging::Tar,
            LayerPackaging::TarGzip,
            LayerPackaging::TarZstd,
        ] {
            assert_eq!(pack(format), pack(format), "{format:?}");
        }
    }

    #[test]
    fn compressed_bytes_do_not_depend_on_the_thread_count() {
        let dir = std::env::temp_dir().join(format!("pack-mt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Larger than two zstd jobs and several gzip blocks.
        let bytes: Vec<u8> = (0..(10u32 << 20))
            .map(|i| ((i / 5) % 97 + (i >> 18)) as u8)
            .collect();
        let src = dir.join("big.bin");
        std::fs::write(&src, &bytes).unwrap();
        for format in [LayerPackaging::TarGzip, LayerPackaging::TarZstd] {
            let pack_with = |threads| {
                let mut blob = Vec::new();
                let w =
                    write_layer_with(&src, "big.bin", 0o644, format, &mut blob, threads).unwrap();
                (w, blob)
            };
            let one = pack_with(1);
            assert_eq!(pack_with(2), one, "{format:?}: 2 threads");
            assert_eq!(pack_with(8), one, "{format:?}: 8 threads");
            assert_eq!(one.0.digest, crate::digest::sha256_of(&one.1));
            let tar_bytes = match format {
                LayerPackaging::TarGzip => {
                    let mut d = Vec::new();
                    flate2::read::GzDecoder::new(one.1.as_slice())
                        .read_to_end(&mut d)
                        .unwrap();
                    d
                }
                _ => zstd::decode_all(one.1.as_slice()).unwrap(),
            };
            assert_eq!(untar(&tar_bytes)[0].3, bytes, "{format:?}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn long_names_survive() {
        let (src, _) = sample();
        let name = format!("{}/model.safetensors", "deep/".repeat(40));
        let mut blob = Vec::new();
        write_layer(&src, &name, 0o755, LayerPackaging::Tar, &mut blob).unwrap();
        let files = untar(&blob);
        assert_eq!((files[0].0.as_str(), files[0].1), (name.as_str(), 0o755));
        assert_eq!(
            entries(&blob).len(),
            41,
            "40 parent directories, then the file"
        );
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
        assert_eq!(
            entries(&top).len(),
            1,
            "a top-level file has no directory entry"
        );
    }

    #[test]
    fn parent_dirs_are_listed_parent_first() {
        assert_eq!(parent_dirs("a/b/c.bin"), ["a/", "a/b/"]);
        assert_eq!(parent_dirs("c.bin"), Vec::<String>::new());
        assert_eq!(parent_dirs("x y/z"), ["x y/"]);
    }
}
