//! Unpacking a ModelPack manifest into a folder: raw layers are placed by
//! `org.cncf.model.filepath`, tar layers extracted (clean relative regular
//! files and folders only). Every blob is verified by digest while it
//! streams: files go to temp files beside their targets and are renamed
//! only once the whole blob checked out. Nothing is written outside the
//! folder, and no existing link inside it is followed.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::digest::HashingReader;
use crate::layout::{self, Layout, Loaded};
use crate::oci::Descriptor;
use crate::packaging::LayerPackaging;

/// What an unpack did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Files written.
    pub written: usize,
    /// Files already present and verified, left as they were.
    pub skipped: usize,
    /// Bytes of blobs read.
    pub bytes: u64,
}

/// 0755 when any execute bit is set, else 0644.
fn normal_mode(mode: u32) -> u32 {
    if mode & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

/// The mode of a raw layer's file: from the metadata annotation, 0644
/// when absent.
fn annotated_mode(d: &Descriptor) -> u32 {
    layout::file_metadata(d)
        .and_then(|m| m.get("mode").and_then(serde_json::Value::as_u64))
        .map_or(0o644, |m| normal_mode(m as u32))
}

/// Creates the folders of `rel` under `root` one by one, refusing any
/// existing component that is not a real folder (a link could lead out).
fn safe_parent(root: &Path, rel: &str) -> Result<PathBuf> {
    let mut dir = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!(
                "{} exists and is not a folder (a link or a file); refusing to write through it",
                dir.display()
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?
            }
            Err(e) => return Err(e).with_context(|| format!("inspecting {}", dir.display())),
        }
    }
    Ok(dir)
}

/// The target of `rel` under `root`: checked clean, parents created, and
/// not an existing link or folder.
fn target(root: &Path, rel: &str) -> Result<PathBuf> {
    if !layout::is_clean_relative(rel) {
        bail!(
            "path {rel:?} is not a clean relative path; refusing to write outside {}",
            root.display()
        );
    }
    let target = safe_parent(root, rel)?.join(rel.rsplit('/').next().unwrap_or(rel));
    if let Ok(m) = std::fs::symlink_metadata(&target) {
        if !m.is_file() {
            bail!(
                "{} exists and is not a regular file; move it away first",
                target.display()
            );
        }
    }
    Ok(target)
}

/// Whether `path` is a regular file of `size` bytes hashing to `digest`.
fn already_there(path: &Path, size: u64, digest: &str) -> bool {
    let Ok(m) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !m.is_file() || m.len() != size {
        return false;
    }
    File::open(path)
        .and_then(|f| crate::scan::hash_reader(f, None))
        .is_ok_and(|h| h.digest == digest)
}

/// Files written to temp names, renamed only when the blob verified.
#[derive(Default)]
struct Pending {
    files: Vec<(PathBuf, PathBuf, u32)>,
}

impl Pending {
    fn write(&mut self, dest: PathBuf, mode: u32, mut from: impl Read) -> Result<()> {
        let tmp = layout::temp_beside(&dest);
        self.files.push((tmp.clone(), dest, mode));
        let mut out = io::BufWriter::with_capacity(
            1 << 20,
            File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
        );
        io::copy(&mut from, &mut out).with_context(|| format!("writing {}", tmp.display()))?;
        out.flush()?;
        Ok(())
    }

    fn commit(mut self) -> Result<usize> {
        let files = std::mem::take(&mut self.files);
        let n = files.len();
        for (tmp, dest, mode) in files {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
            std::fs::rename(&tmp, &dest)
                .with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))?;
        }
        Ok(n)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        for (tmp, _, _) in &self.files {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Unpacks `loaded` from `layout` into `dest` (created if missing).
pub fn unpack(
    layout: &Layout,
    loaded: &Loaded,
    dest: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Summary> {
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut summary = Summary::default();
    let n = loaded.manifest.layers.len();
    for (i, d) in loaded.manifest.layers.iter().enumerate() {
        let ty = layout::layer_type(&d.media_type).ok_or_else(|| {
            anyhow!(
                "layer {i}: media type {:?} is not a ModelPack layer type; run validate",
                d.media_type
            )
        })?;
        let path = layout::filepath(d).ok_or_else(|| {
            anyhow!("layer {i}: no org.cncf.model.filepath annotation; run validate")
        })?;
        let at = format!("layer {i} ({path})");
        if ty.format == LayerPackaging::Raw {
            let dest_file = target(dest, path).with_context(|| at.clone())?;
            if already_there(&dest_file, d.size, &d.digest) {
                progress(&format!("{}/{n} {path}: already present, verified", i + 1));
                summary.skipped += 1;
                continue;
            }
        }
        progress(&format!(
            "{}/{n} {path}: {} bytes ({})",
            i + 1,
            d.size,
            ty.format.suffix()
        ));
        summary.written += unpack_layer(layout, d, ty.format, dest).with_context(|| at)?;
        summary.bytes += d.size;
    }
    Ok(summary)
}

/// Streams one blob into `dest`; returns the number of files written.
fn unpack_layer(
    layout: &Layout,
    d: &Descriptor,
    format: LayerPackaging,
    dest: &Path,
) -> Result<usize> {
    let path = layout.blob_path(&d.digest)?;
    let file = File::open(&path).with_context(|| format!("opening blob {}", path.display()))?;
    let mut blob = HashingReader::new(io::BufReader::with_capacity(1 << 20, file));
    let mut pending = Pending::default();
    match format {
        LayerPackaging::Raw => {
            let rel = layout::filepath(d).unwrap_or_default();
            pending.write(target(dest, rel)?, annotated_mode(d), &mut blob)?;
        }
        LayerPackaging::Tar => extract(&mut blob, dest, &mut pending)?,
        LayerPackaging::TarGzip => {
            extract(flate2::read::GzDecoder::new(&mut blob), dest, &mut pending)?
        }
        LayerPackaging::TarZstd => extract(zstd::Decoder::new(&mut blob)?, dest, &mut pending)?,
    }
    let (_, digest, count) = blob.finish()?;
    if digest != d.digest || count != d.size {
        bail!(
            "blob {} is corrupt: {} bytes hashing to {digest}, the manifest says {} bytes; nothing of this layer was written",
            d.digest, count, d.size
        );
    }
    pending.commit()
}

/// Extracts clean relative regular files and folders; anything else fails.
fn extract(mut tar: impl Read, dest: &Path, pending: &mut Pending) -> Result<()> {
    {
        let mut archive = tar::Archive::new(&mut tar);
        for entry in archive.entries()? {
            let entry = entry?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let rel = name.trim_end_matches('/');
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                if !layout::is_clean_relative(rel) {
                    bail!("tar entry {name:?} is not a clean relative path; refusing to write outside {}", dest.display());
                }
                safe_parent(dest, &format!("{rel}/x"))?;
            } else if kind.is_file() {
                let mode = normal_mode(entry.header().mode().unwrap_or(0o644));
                pending.write(
                    target(dest, rel).with_context(|| format!("tar entry {name:?}"))?,
                    mode,
                    entry,
                )?;
            } else {
                bail!(
                    "tar entry {name:?} is a {}; only regular files and folders are unpacked",
                    entry_kind(kind)
                );
            }
        }
    }
    io::copy(&mut tar, &mut io::sink())?;
    Ok(())
}

/// A tar entry type in words, for messages.
pub fn entry_kind(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous => "regular file",
        tar::EntryType::Directory => "folder",
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "named pipe",
        tar::EntryType::GNULongName
        | tar::EntryType::GNULongLink
        | tar::EntryType::XHeader
        | tar::EntryType::XGlobalHeader => "metadata entry",
        _ => "special entry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{self, TempDir};
    use serde_json::json;

    fn run(layout_dir: &Path, dest: &Path) -> Result<Summary> {
        let layout = Layout::open(layout_dir)?;
        let loaded = layout.load(None)?;
        unpack(&layout, &loaded, dest, |_| {})
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn our_layouts_unpack_to_the_same_files_in_every_format() {
        for format in LayerPackaging::ALL {
            let (src, out, dest) = (
                TempDir::new("un-src"),
                TempDir::new("un-out"),
                TempDir::new("un-dest"),
            );
            testutil::write_layout(&src.0, &out.0, format);
            let s = run(&out.0, &dest.0).unwrap();
            assert_eq!((s.written, s.skipped), (4, 0), "{format:?}");
            for (path, bytes, exec) in testutil::sample_files() {
                assert_eq!(
                    std::fs::read(dest.join(path)).unwrap(),
                    bytes,
                    "{format:?} {path}"
                );
                assert_eq!(
                    mode(&dest.join(path)),
                    if exec { 0o755 } else { 0o644 },
                    "{format:?} {path}"
                );
            }
            let leftovers: Vec<_> = std::fs::read_dir(&dest.0)
                .unwrap()
                .filter_map(|e| {
                    let n = e.unwrap().file_name().to_string_lossy().into_owned();
                    n.contains(".partial-").then_some(n)
                })
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
    }

    #[test]
    fn verified_raw_files_are_skipped_and_changed_ones_rewritten() {
        let (src, out, dest) = (
            TempDir::new("un-src"),
            TempDir::new("un-out"),
            TempDir::new("un-dest"),
        );
        testutil::write_layout(&src.0, &out.0, LayerPackaging::Raw);
        run(&out.0, &dest.0).unwrap();
        std::fs::write(dest.join("config.json"), br#"{"hidden_size":65}"#).unwrap();
        let s = run(&out.0, &dest.0).unwrap();
        assert_eq!((s.written, s.skipped), (1, 3));
        assert_eq!(
            std::fs::read(dest.join("config.json")).unwrap(),
            br#"{"hidden_size":64}"#
        );
    }

    #[test]
    fn legacy_cnai_layouts_unpack() {
        let (out, dest) = (TempDir::new("un-legacy"), TempDir::new("un-dest"));
        testutil::legacy_layout(&out.0);
        let s = run(&out.0, &dest.0).unwrap();
        assert_eq!(s.written, 2);
        assert_eq!(
            std::fs::read(dest.join("w/model.gguf")).unwrap(),
            b"legacy raw weights"
        );
        assert_eq!(
            mode(&dest.join("w/model.gguf")),
            0o755,
            "mode from the legacy metadata annotation"
        );
        assert_eq!(std::fs::read(dest.join("nested/b.txt")).unwrap(), b"hello");
        let loaded = Layout::open(&out.0).unwrap().load(Some("old")).unwrap();
        assert_eq!(loaded.diff_ids().unwrap().len(), 2, "diff_ids is read");
    }

    #[test]
    fn a_corrupt_blob_writes_nothing() {
        let (src, out, dest) = (
            TempDir::new("un-src"),
            TempDir::new("un-out"),
            TempDir::new("un-dest"),
        );
        testutil::write_layout(&src.0, &out.0, LayerPackaging::TarZstd);
        let i = testutil::layer_index(&out.0, "model.safetensors");
        testutil::edit_manifest(&out.0, |m| m["layers"][i]["size"] = json!(1));
        let err = format!("{:#}", run(&out.0, &dest.0).unwrap_err());
        assert!(
            err.contains("layer 1 (model.safetensors): blob sha256:") && err.contains("is corrupt"),
            "{err}"
        );
        assert!(!dest.join("model.safetensors").exists());
        assert_eq!(
            std::fs::read_dir(&dest.0).unwrap().count(),
            1,
            "only config.json, from layer 0"
        );
    }

    #[test]
    fn nothing_is_written_outside_the_folder() {
        let (src, out) = (TempDir::new("un-src"), TempDir::new("un-out"));
        testutil::write_layout(&src.0, &out.0, LayerPackaging::Raw);
        testutil::edit_manifest(&out.0, |m| {
            m["layers"][0]["annotations"]["org.cncf.model.filepath"] = json!("../escaped.json")
        });
        let dest = TempDir::new("un-dest");
        let err = format!("{:#}", run(&out.0, &dest.join("inner")).unwrap_err());
        assert!(
            err.contains("path \"../escaped.json\" is not a clean relative path"),
            "{err}"
        );
        assert!(!dest.join("escaped.json").exists());
    }

    #[test]
    fn tar_links_and_escapes_are_refused() {
        for (tar, says) in [
            (
                testutil::tar_with("../x", tar::EntryType::Regular, b"x", None),
                "not a clean relative path",
            ),
            (
                testutil::tar_with("l", tar::EntryType::Symlink, b"", Some("/etc/passwd")),
                "is a symbolic link",
            ),
            (
                testutil::tar_with("h", tar::EntryType::Link, b"", Some("../../x")),
                "is a hard link",
            ),
        ] {
            let (src, out, dest) = (
                TempDir::new("un-src"),
                TempDir::new("un-out"),
                TempDir::new("un-dest"),
            );
            testutil::write_layout(&src.0, &out.0, LayerPackaging::Tar);
            let d = testutil::put_blob(&out.0, &tar);
            testutil::edit_manifest(&out.0, |m| {
                m["layers"][0]["digest"] = json!(d);
                m["layers"][0]["size"] = json!(tar.len());
            });
            let err = format!("{:#}", run(&out.0, &dest.0).unwrap_err());
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn existing_links_inside_the_folder_are_not_followed() {
        let (src, out, dest, elsewhere) = (
            TempDir::new("un-src"),
            TempDir::new("un-out"),
            TempDir::new("un-dest"),
            TempDir::new("un-else"),
        );
        testutil::write_layout(&src.0, &out.0, LayerPackaging::Raw);
        std::os::unix::fs::symlink(&elsewhere.0, dest.join("docs")).unwrap();
        let err = format!("{:#}", run(&out.0, &dest.0).unwrap_err());
        assert!(
            err.contains("is not a folder (a link or a file); refusing to write through it"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(&elsewhere.0).unwrap().count(), 0);
    }
}
