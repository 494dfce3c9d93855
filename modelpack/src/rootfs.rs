//! A directory tree (an image's root file system) as one deterministic
//! image layer, `tar+gzip`: entries sorted by name, file times clamped to
//! `SOURCE_DATE_EPOCH` when given, owners, modes, symlinks, hard links and
//! device nodes kept, no user or group names, gzip with no time or name in
//! its header. The same tree gives the same bytes, wherever it is read.
//! Used by the `bundle-image` step (`packager/bundle`).
//!
//! Extended attributes (file capabilities, SELinux labels) and sockets are
//! not written.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use anyhow::{Context, Result};

use crate::digest::HashingWriter;
use crate::pgzip::ParallelGzip;

/// A written layer: the compressed blob's digest and size, and the digest
/// of the uncompressed tar (the config's `rootfs.diff_ids` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeLayer {
    /// `sha256:<hex>` of the `tar+gzip` blob.
    pub digest: String,
    /// Size of the blob in bytes.
    pub size: u64,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
}

/// Writes the tree under `root` as a `tar+gzip` layer into `out` (using up
/// to `threads` threads for gzip); times later than `clamp` (seconds since
/// 1970) are written as `clamp`.
pub fn write_tree_layer<W: Write>(
    root: &Path,
    out: W,
    clamp: Option<i64>,
    threads: usize,
) -> Result<(W, TreeLayer)> {
    let blob = HashingWriter::new(out);
    let gz = ParallelGzip::new(blob, flate2::Compression::default(), threads);
    let mut tar = tar::Builder::new(HashingWriter::new(gz));
    tar.mode(tar::HeaderMode::Complete);
    tar.follow_symlinks(false);
    let mut walk = Walk {
        clamp,
        links: HashMap::new(),
    };
    walk.dir(&mut tar, root, "")
        .with_context(|| format!("writing the layer of {}", root.display()))?;
    let tar_out = tar.into_inner().context("finishing the tar stream")?;
    let (gz, diff_id, _) = tar_out.finish();
    let blob = gz.finish().context("finishing the gzip stream")?;
    let (out, digest, size) = blob.finish();
    Ok((
        out,
        TreeLayer {
            digest,
            size,
            diff_id,
        },
    ))
}

/// Writes the layer of `root` into the layout directory `layout`'s
/// `blobs/sha256/` under its digest.
pub fn write_tree_layer_blob(
    root: &Path,
    layout: &Path,
    clamp: Option<i64>,
    threads: usize,
) -> Result<TreeLayer> {
    let dir = layout.join("blobs/sha256");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(".layer.partial");
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let (file, layer) = write_tree_layer(root, io::BufWriter::new(file), clamp, threads)?;
    file.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    let dest = crate::layout::blob_path_in(layout, &layer.digest)?;
    fs::rename(&tmp, &dest).with_context(|| format!("renaming to {}", dest.display()))?;
    Ok(layer)
}

struct Walk {
    clamp: Option<i64>,
    /// (device, inode) of files with several links → the first path written.
    links: HashMap<(u64, u64), String>,
}

impl Walk {
    fn header(&self, meta: &Metadata, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(meta.mode() & 0o7777);
        h.set_uid(u64::from(meta.uid()));
        h.set_gid(u64::from(meta.gid()));
        let mtime = meta.mtime().max(0);
        h.set_mtime(self.clamp.map_or(mtime, |c| mtime.min(c.max(0))) as u64);
        h.set_size(0);
        h
    }

    /// Every entry of the directory `dir` (tar path `prefix`), by name.
    fn dir<W: Write>(&mut self, tar: &mut tar::Builder<W>, dir: &Path, prefix: &str) -> Result<()> {
        let mut names: Vec<std::ffi::OsString> = fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .with_context(|| format!("listing {}", dir.display()))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let path = dir.join(&name);
            let text = name
                .to_str()
                .with_context(|| format!("{}: a file name that is not UTF-8", path.display()))?;
            let rel = format!("{prefix}{text}");
            self.entry(tar, &path, &rel)
                .with_context(|| format!("adding {rel}"))?;
        }
        Ok(())
    }

    fn entry<W: Write>(&mut self, tar: &mut tar::Builder<W>, path: &Path, rel: &str) -> Result<()> {
        let meta = fs::symlink_metadata(path)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            let mut h = self.header(&meta, tar::EntryType::Directory);
            tar.append_data(&mut h, format!("{rel}/"), io::empty())?;
            return self.dir(tar, path, &format!("{rel}/"));
        }
        if meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                let mut h = self.header(&meta, tar::EntryType::Link);
                tar.append_link(&mut h, rel, first)?;
                return Ok(());
            }
            self.links.insert(key, rel.to_string());
        }
        if ft.is_symlink() {
            let target = fs::read_link(path)?;
            let mut h = self.header(&meta, tar::EntryType::Symlink);
            tar.append_link(&mut h, rel, &target)?;
        } else if ft.is_file() {
            let mut h = self.header(&meta, tar::EntryType::Regular);
            h.set_size(meta.len());
            let file = File::open(path)?;
            tar.append_data(&mut h, rel, file)?;
        } else if ft.is_char_device() || ft.is_block_device() {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            };
            let mut h = self.header(&meta, kind);
            let rdev = meta.rdev();
            h.set_device_major(((rdev >> 8) & 0xfff) as u32 | ((rdev >> 32) & !0xfff) as u32)?;
            h.set_device_minor((rdev & 0xff) as u32 | ((rdev >> 12) & !0xff) as u32)?;
            tar.append_data(&mut h, rel, io::empty())?;
        } else if ft.is_fifo() {
            let mut h = self.header(&meta, tar::EntryType::Fifo);
            tar.append_data(&mut h, rel, io::empty())?;
        }
        // Sockets have no place in an image layer.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use std::os::unix::fs::PermissionsExt;

    fn tree(dir: &Path, mtime: i64) {
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::create_dir_all(dir.join("etc/deep")).unwrap();
        fs::write(dir.join("bin/tool"), b"#!tool\n").unwrap();
        fs::set_permissions(dir.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.join("etc/deep/conf"), b"a=1\n").unwrap();
        fs::hard_link(dir.join("bin/tool"), dir.join("bin/tool2")).unwrap();
        std::os::unix::fs::symlink("tool", dir.join("bin/link")).unwrap();
        for p in ["bin/tool", "etc/deep/conf", "etc/deep", "etc", "bin"] {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime as u64);
            let f = File::open(dir.join(p)).unwrap();
            f.set_modified(t).unwrap();
        }
    }

    fn layer(dir: &Path, clamp: Option<i64>) -> (Vec<u8>, TreeLayer) {
        write_tree_layer(dir, Vec::new(), clamp, 2).unwrap()
    }

    #[test]
    fn the_same_tree_gives_the_same_layer_and_the_epoch_clamps_times() {
        let a = TempDir::new("rootfs-a");
        let b = TempDir::new("rootfs-b");
        tree(a.0.as_path(), 2_000_000_000);
        tree(b.0.as_path(), 2_000_000_000);
        let (bytes_a, la) = layer(a.0.as_path(), None);
        let (_, lb) = layer(b.0.as_path(), None);
        assert_eq!(la, lb, "same tree, same layer");
        assert_eq!(la.digest, crate::digest::sha256_of(&bytes_a));
        assert_eq!(la.size, bytes_a.len() as u64);
        // Other times: another layer, unless both are clamped below them.
        let c = TempDir::new("rootfs-c");
        tree(c.0.as_path(), 2_100_000_000);
        assert_ne!(layer(c.0.as_path(), None).1, la);
        assert_eq!(
            layer(c.0.as_path(), Some(1_000_000_000)).1,
            layer(a.0.as_path(), Some(1_000_000_000)).1
        );

        // The tar: sorted, times clamped, links kept.
        let (bytes, _) = layer(a.0.as_path(), Some(1_000_000_000));
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let mut seen = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!(h.mtime().unwrap(), 1_000_000_000);
            let path = e.path().unwrap().to_string_lossy().to_string();
            match path.as_str() {
                "bin/tool2" => {
                    assert_eq!(h.entry_type(), tar::EntryType::Link);
                    assert_eq!(e.link_name().unwrap().unwrap().to_str(), Some("bin/tool"));
                }
                "bin/link" => {
                    assert_eq!(h.entry_type(), tar::EntryType::Symlink);
                    assert_eq!(e.link_name().unwrap().unwrap().to_str(), Some("tool"));
                }
                "bin/tool" => assert_eq!(h.mode().unwrap(), 0o755),
                _ => {}
            }
            seen.push(path);
        }
        assert_eq!(
            seen,
            [
                "bin/",
                "bin/link",
                "bin/tool",
                "bin/tool2",
                "etc/",
                "etc/deep/",
                "etc/deep/conf"
            ]
        );
        // gzip's header holds no time and no name.
        assert_eq!(&bytes[4..8], &[0, 0, 0, 0]);
    }

    #[test]
    fn the_blob_is_written_under_its_digest() {
        let a = TempDir::new("rootfs-tree");
        tree(a.0.as_path(), 1_500_000_000);
        let out = TempDir::new("rootfs-out");
        let l = write_tree_layer_blob(a.0.as_path(), out.0.as_path(), None, 1).unwrap();
        let bytes =
            fs::read(crate::layout::blob_path_in(out.0.as_path(), &l.digest).unwrap()).unwrap();
        assert_eq!(crate::digest::sha256_of(&bytes), l.digest);
        assert!(!out.0.as_path().join("blobs/sha256/.layer.partial").exists());
    }
}
