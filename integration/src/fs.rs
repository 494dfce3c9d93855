//! Temporary directories, test file trees and tree comparison.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// A fresh directory under the system temp dir, removed on drop.
///
/// Set `MODELPACK_KEEP_TMP=1` to keep it (its path is printed) for
/// inspecting a failed test.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/modelpack-it-<prefix>-<unique>`.
    pub fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(crate::unique_name(&format!("modelpack-it-{prefix}")));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("MODELPACK_KEEP_TMP").is_some() {
            eprintln!("keeping {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Writes `bytes` to `root/rel`, creating parent directories.
pub fn write_file(root: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    }
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// Sets the permission bits of a file (e.g. `0o755`).
pub fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// The permission bits of a file.
pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// `len` pseudo-random bytes (xorshift64*, so the same seed gives the same
/// bytes and no randomness crate is needed). Every seed gives its own bytes:
/// the seed goes through splitmix64 first (a plain `seed | 1` would make 2k
/// and 2k+1 the same stream).
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = splitmix64(seed);
    if x == 0 {
        x = 0x9e37_79b9_7f4a_7c15; // xorshift's state must not be zero
    }
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// splitmix64's output function: a bijection on u64, so distinct seeds stay
/// distinct.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed that differs between calls and runs (clock nanoseconds, pid).
pub fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ ((std::process::id() as u64) << 32)
}

/// Copies the regular files of `from` into `to` (same relative paths and
/// permission bits; fresh mtimes).
pub fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in read_tree(from) {
        let dest = write_file(to, &rel, &bytes);
        set_mode(&dest, mode(&from.join(&rel)));
    }
}

/// Every regular file under `root`, keyed by its `/`-separated relative
/// path. Directories themselves (empty ones included) are not listed:
/// a model holds files only. Symlinks are rejected: tests don't make them.
pub fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    walk(root, root, &mut files);
    files
}

fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read dir {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        let meta = std::fs::symlink_metadata(&path)
            .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
        if meta.is_dir() {
            walk(root, &path, files);
        } else if meta.is_file() {
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            files.insert(rel, bytes);
        } else {
            panic!("{} is neither a file nor a directory", path.display());
        }
    }
}

/// Panics unless `a` and `b` hold the same relative file paths with the
/// same bytes. The message lists paths present on one side only, then the
/// first file whose bytes differ.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let (ta, tb) = (read_tree(a), read_tree(b));
    let only_a: Vec<&String> = ta.keys().filter(|k| !tb.contains_key(*k)).collect();
    let only_b: Vec<&String> = tb.keys().filter(|k| !ta.contains_key(*k)).collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "trees differ in their file lists\n  only in {}: {only_a:?}\n  only in {}: {only_b:?}",
        a.display(),
        b.display()
    );
    for (rel, bytes_a) in &ta {
        let bytes_b = &tb[rel];
        if bytes_a != bytes_b {
            let at = bytes_a
                .iter()
                .zip(bytes_b.iter())
                .position(|(x, y)| x != y)
                .unwrap_or(bytes_a.len().min(bytes_b.len()));
            panic!(
                "{rel:?} differs: {} bytes in {}, {} bytes in {}, first difference at byte {at}",
                bytes_a.len(),
                a.display(),
                bytes_b.len(),
                b.display()
            );
        }
    }
}
