//! Directory listings: walks a tree and gives each regular file's size,
//! sha256 and executable bit (and git blob id when asked), and copies files
//! to their blob paths. The in-build `scan` step (`modelpack-steps`) and
//! the CLI's `pack` run it.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

pub use crate::listing::{Listing, ScannedFile};

/// What one pass over a file's bytes yields.
pub struct Hashes {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Bytes read.
    pub size: u64,
    /// Git blob id, when asked for.
    pub git_sha1: Option<String>,
}

/// Streams a reader through sha256 (and the git blob sha1 when `git_size`
/// gives the size that the blob header needs).
pub fn hash_reader(mut r: impl Read, git_size: Option<u64>) -> io::Result<Hashes> {
    let mut hasher = Sha256::new();
    let mut git = git_size.map(|n| {
        let mut h = sha1::Sha1::new();
        h.update(format!("blob {n}\0").as_bytes());
        h
    });
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some(g) = git.as_mut() {
            g.update(&buf[..n]);
        }
        total += n as u64;
    }
    Ok(Hashes {
        digest: format!("sha256:{}", hex::encode(hasher.finalize())),
        size: total,
        git_sha1: git.map(|g| hex::encode(g.finalize())),
    })
}

/// Walks `root` (symlinks to files are followed, to directories skipped)
/// and hashes the files on every available core.
pub fn scan(root: &Path, git_sha1: bool) -> Result<Listing> {
    scan_excluding(root, git_sha1, &crate::context::Excludes::default())
}

/// [`scan`] without the paths that `excludes` drops (a `.dockerignore` and
/// the default excludes), as BuildKit's local source would transfer them.
pub fn scan_excluding(
    root: &Path,
    git_sha1: bool,
    excludes: &crate::context::Excludes,
) -> Result<Listing> {
    let mut found = Vec::new();
    walk(root, root, excludes, &Default::default(), &mut found)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut files = crate::workers::map_until_failure(found.len(), threads, |i| {
        let (path, meta) = &found[i];
        hash_file(root, path, meta, git_sha1)
    })?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Listing { files })
}

fn hash_file(
    root: &Path,
    path: &Path,
    meta: &std::fs::Metadata,
    git_sha1: bool,
) -> Result<ScannedFile> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let hashes = hash_reader(file, git_sha1.then_some(meta.len()))
        .with_context(|| format!("hashing {}", path.display()))?;
    let rel = path.strip_prefix(root).expect("walk stays under root");
    Ok(ScannedFile {
        path: rel.to_string_lossy().replace('\\', "/"),
        size: hashes.size,
        digest: hashes.digest,
        executable: std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0,
        git_sha1: hashes.git_sha1,
    })
}

/// Collects regular files (and symlinks to them) under `dir`, except what
/// `excludes` drops, as BuildKit's filtered walk does: each path checked
/// with what matched its folder, an excluded folder entered only when a
/// `!` pattern may re-include something in it.
fn walk(
    root: &Path,
    dir: &Path,
    excludes: &crate::context::Excludes,
    parent: &crate::context::ParentMatch,
    out: &mut Vec<(PathBuf, std::fs::Metadata)>,
) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let rel = path
            .strip_prefix(root)
            .expect("walk stays under root")
            .to_string_lossy()
            .replace('\\', "/");
        let link = std::fs::symlink_metadata(&path)?;
        let meta = if link.file_type().is_symlink() {
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => m,
                _ => continue,
            }
        } else {
            link
        };
        if !meta.is_dir() && !meta.is_file() {
            continue;
        }
        let (excluded, info) = excludes
            .check(&rel, parent)
            .with_context(|| format!("applying .dockerignore to {rel}"))?;
        if meta.is_dir() {
            if !excluded || excludes.enters_excluded(&rel) {
                walk(root, &path, excludes, &info, out)?;
            }
        } else if !excluded {
            out.push((path, meta));
        }
    }
    Ok(())
}

/// Copies each listed file of `root` to its blob path under `dir` (each
/// content once, mode 0644).
pub fn write_blobs(root: &Path, listing: &Listing, dir: &Path) -> Result<usize> {
    let mut written = std::collections::BTreeSet::new();
    for f in &listing.files {
        if !written.insert(f.digest.as_str()) {
            continue;
        }
        let dest = crate::layout::blob_path_in(dir, &f.digest)?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let src = root.join(&f.path);
        std::fs::copy(&src, &dest)
            .with_context(|| format!("copying {} to {}", src.display(), dest.display()))?;
        std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .with_context(|| format!("setting the mode of {}", dest.display()))?;
    }
    Ok(written.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_nested_files_sorted_with_digests() {
        let dir = std::env::temp_dir().join(format!("scan-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("b/c")).unwrap();
        std::fs::write(dir.join("b/c/z.bin"), b"zz").unwrap();
        std::fs::write(dir.join("a.json"), b"{}").unwrap();
        std::os::unix::fs::symlink("a.json", dir.join("link.json")).unwrap();
        std::os::unix::fs::symlink("b", dir.join("dirlink")).unwrap();
        let listing = scan(&dir, true).unwrap();
        let paths: Vec<&str> = listing.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.json", "b/c/z.bin", "link.json"]);
        assert_eq!(
            listing.files[0].digest,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(listing.files[1].size, 2);
        // `git hash-object` of a file containing "{}".
        assert_eq!(
            listing.files[0].git_sha1.as_deref(),
            Some("9e26dfeeb6e641a33dae4961196235bdb965b21b")
        );
        assert!(scan(&dir, false).unwrap().files[0].git_sha1.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
