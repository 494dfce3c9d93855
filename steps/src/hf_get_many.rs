//! The `hf-get-many` step: the small (non-LFS) files of a Hub repo, fetched in one step of our own
//! image instead of one BuildKit HTTP source each; and the LFS files (of
//! a commit all in another such step, of a branch one step each, keyed by
//! the file's sha256 rather than the commit), written straight to their
//! blob paths, or as their layers (the `pack-layer` writer fed by the
//! download) when packed. This
//! is the runner and the download list's format; the frontend's
//! `hf_get_many.rs` emits the step.
//!
//! Why a step: BuildKit revalidates every HTTP source without a checksum on
//! every build (one request per file, even when nothing changed), and opens
//! a connection per source at once. Small files have no sha256 in the Hub's
//! listing, only a git blob id, so they cannot be checksummed sources. The
//! step's definition holds the commit, every path and every git blob id
//! (in a file written by the graph itself), so BuildKit caches it by
//! exactly what it downloads: an unchanged rebuild of a pinned repo runs
//! nothing and sends the Hub nothing for these files. On a cold build the
//! step fetches at most `max_connections` files at a time, each checked
//! against its git blob id and size, with `hf-get`'s retries, stall bound
//! and `Retry-After` handling.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::hf_get::{self, read_token};
use crate::Step;
use modelpack::huggingface::is_safe_repo_path;
use modelpack::pack::Written;
use modelpack_hub::download::{self, exit, Expect, GetError, LayerSpec};

/// The step's name.
pub const NAME: &str = "hf-get-many";

/// The table entry.
pub const STEP: Step = Step {
    name: NAME,
    argv: "<list.json.zst> <out-dir> [<meta-dir>]",
    reads: "the compressed download list, then each listed URL (network on), with the token of the hf-token secret when mounted",
    writes: "each file at <out-dir>/<path> (or its layer at <out-dir>/blobs/sha256/<hex>); <meta-dir>/packed.json; a failure's class as the exit code",
    run,
};

/// One file to download.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Download {
    /// The `/resolve/<commit>/<path>` URL.
    pub url: String,
    /// Where the file goes, relative to the output directory (the repo path).
    pub path: String,
    /// The Hub's git blob id, checked after the download when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_sha1: Option<String>,
    /// The LFS sha256, checked while downloading (wins over `git_sha1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Write the file as this one-file layer while it downloads; the blob
    /// goes to `blobs/sha256/<its digest>` and its description to the
    /// step's meta output ([`PACKED_FILE`]). Needs `sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerSpec>,
}

/// The descriptions of the layers a step wrote while downloading, in its
/// meta output: a JSON array of [`PackedDownload`] in list order.
pub const PACKED_FILE: &str = "packed.json";

/// A layer written while downloading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackedDownload {
    /// The list entry's `path`.
    pub path: String,
    /// The layer's digests and size; its blob is at its blob path.
    pub written: Written,
}

impl Download {
    /// What the downloaded bytes must hash to.
    fn expect(&self) -> Expect {
        match (&self.sha256, &self.git_sha1) {
            (Some(s), _) => Expect::Sha256(s.clone()),
            (None, Some(g)) => Expect::GitSha1(g.clone()),
            (None, None) => Expect::Anything,
        }
    }
}

/// What one download step fetches, and how many files at a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadList {
    /// Files fetched at once (`max_connections`).
    pub connections: usize,
    /// In the listing's order.
    pub files: Vec<Download>,
}

/// Refuses a path that would land outside the output directory: the same
/// rule the Hub's listing is held to ([`is_safe_repo_path`]).
fn checked_relative(path: &str) -> Result<&Path> {
    if !is_safe_repo_path(path) {
        bail!("refusing to download to {path:?}: not a plain relative path");
    }
    Ok(Path::new(path))
}

/// Downloads every file of `list` into `out`, `list.connections` at a
/// time, and returns the layers written while downloading. Stops at the
/// first failure and returns it.
pub fn download_all(list: &DownloadList, out: &Path) -> Result<Vec<PackedDownload>, GetError> {
    let local = |message: String| GetError {
        code: exit::SERVER,
        message,
    };
    for d in &list.files {
        let rel = checked_relative(&d.path).map_err(|e| local(format!("{e:#}")))?;
        if let Some(parent) = out.join(rel).parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| local(format!("creating {}: {e}", parent.display())))?;
        }
    }
    let token = read_token();
    let token = token.as_deref();
    let done = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let total = list.files.len();
    let report_every = (total / 20).max(1);
    let results = modelpack::workers::map_until_failure(total, list.connections, |i| {
        let d = &list.files[i];
        let target = out.join(&d.path);
        // A layer's list path is a temp name: name its file instead.
        let shown = d
            .layer
            .as_ref()
            .map_or(d.path.as_str(), |l| l.name.as_str());
        let named = |mut e: GetError| {
            e.message = format!("{shown}: {}", e.message);
            e
        };
        let (size, packed) = match &d.layer {
            None => {
                download::get_as(&d.url, &target, &d.expect(), token).map_err(named)?;
                (
                    std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0),
                    None,
                )
            }
            Some(layer) => {
                // `target` is a temp name; the blob is renamed to its digest.
                let written = download::get_layer(&d.url, &target, &d.expect(), layer, token)
                    .map_err(named)?;
                let at = modelpack::layout::blob_path_in(out, &written.digest)
                    .map_err(|e| local(format!("{e:#}")))?;
                std::fs::rename(&target, &at).map_err(|e| {
                    local(format!(
                        "renaming {} to {}: {e}",
                        target.display(),
                        at.display()
                    ))
                })?;
                (
                    layer.size,
                    Some(PackedDownload {
                        path: d.path.clone(),
                        written,
                    }),
                )
            }
        };
        let b = bytes.fetch_add(size, Ordering::Relaxed) + size;
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(report_every) || n == total {
            eprintln!(
                "hf-get-many: {n}/{total} file(s), {} downloaded",
                modelpack::human::human_size(b)
            );
        }
        Ok(packed)
    })?;
    Ok(results.into_iter().flatten().collect())
}

/// `modelpack-frontend hf-get-many <list.json.zst> <out-dir> [<meta-dir>]`:
/// exits with one of `hf-get`'s codes ([`exit`]) so the frontend can
/// explain a failure. Layers written while downloading are described in
/// `<meta-dir>/`[`PACKED_FILE`].
pub fn run(args: &[String]) -> Result<u8> {
    let (list, out, meta) = match args {
        [list, out] => (list, out, None),
        [list, out, meta] => (list, out, Some(Path::new(meta))),
        _ => bail!("usage: modelpack-frontend hf-get-many <list.json.zst> <out-dir> [<meta-dir>]"),
    };
    let bytes = modelpack::compact::read(Path::new(list)).context("reading the download list")?;
    let list: DownloadList = serde_json::from_slice(&bytes)
        .with_context(|| format!("parsing the download list {list}"))?;
    let packed = match download_all(&list, Path::new(out)) {
        Ok(p) => p,
        Err(e) => return Ok(hf_get::exit_code(Err(e))),
    };
    if let Some(meta) = meta {
        let file = meta.join(PACKED_FILE);
        std::fs::write(&file, serde_json::to_vec(&packed)?)
            .with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(hf_get::exit_code(Ok(())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(n: usize) -> DownloadList {
        DownloadList {
            connections: 4,
            files: (0..n)
                .map(|i| Download {
                    url: format!("http://h/o/r/resolve/{}/f{i}.json", "c".repeat(40)),
                    path: format!("d/f{i}.json"),
                    git_sha1: Some(format!("{i:040x}")),
                    sha256: None,
                    layer: None,
                })
                .collect(),
        }
    }

    #[test]
    fn paths_outside_the_output_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a\\..\\x",
            "./a",
            "a//b",
            "a/\nb",
        ] {
            assert!(checked_relative(bad).is_err(), "{bad:?}");
        }
        assert!(checked_relative("a/b.json").is_ok());
        let dir = tempfile::tempdir().unwrap();
        let mut l = list(1);
        l.files[0].path = "../escape".into();
        let err = download_all(&l, dir.path()).unwrap_err();
        assert!(err.message.contains("../escape"), "{}", err.message);
    }

    /// A server on 127.0.0.1 answering every request with `body`, counting them.
    fn serve(body: &'static [u8], count: std::sync::Arc<AtomicUsize>) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let count = count.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(head.as_bytes());
                    let _ = conn.write_all(body);
                });
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn every_file_is_fetched_and_checked_and_a_wrong_one_is_named() {
        let count = std::sync::Arc::new(AtomicUsize::new(0));
        let base = serve(b"{\"a\": 1}\n", count.clone());
        let blob = modelpack::scan::hash_reader(&b"{\"a\": 1}\n"[..], Some(9))
            .unwrap()
            .git_sha1
            .unwrap();
        let files: Vec<Download> = (0..25)
            .map(|i| Download {
                url: format!("{base}/f{i}"),
                path: format!("sub/{i}/config.json"),
                git_sha1: Some(blob.clone()),
                sha256: None,
                layer: None,
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        download_all(
            &DownloadList {
                connections: 3,
                files: files.clone(),
            },
            dir.path(),
        )
        .unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 25);
        for i in 0..25 {
            assert_eq!(
                std::fs::read(dir.path().join(format!("sub/{i}/config.json"))).unwrap(),
                b"{\"a\": 1}\n"
            );
        }
        let mut wrong = files;
        wrong[7].git_sha1 = Some("0".repeat(40));
        let err = download_all(
            &DownloadList {
                connections: 2,
                files: wrong,
            },
            tempfile::tempdir().unwrap().path(),
        )
        .unwrap_err();
        assert_eq!(err.code, exit::CHECKSUM);
        assert!(
            err.message.starts_with("sub/7/config.json: "),
            "{}",
            err.message
        );

        // An LFS file is checked by its sha256, written where the list says.
        let sha = modelpack::digest::sha256_of(b"{\"a\": 1}\n")
            .trim_start_matches("sha256:")
            .to_string();
        let lfs = |sha: &str| Download {
            url: format!("{base}/w"),
            path: format!("blobs/sha256/{sha}"),
            git_sha1: Some("0".repeat(40)),
            sha256: Some(sha.to_string()),
            layer: None,
        };
        let dir = tempfile::tempdir().unwrap();
        download_all(
            &DownloadList {
                connections: 1,
                files: vec![lfs(&sha)],
            },
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("blobs/sha256").join(&sha)).unwrap(),
            b"{\"a\": 1}\n"
        );
        let err = download_all(
            &DownloadList {
                connections: 1,
                files: vec![lfs(&"1".repeat(64))],
            },
            dir.path(),
        )
        .unwrap_err();
        assert_eq!(err.code, exit::CHECKSUM, "{}", err.message);
    }

    #[test]
    fn a_file_is_written_as_its_layer_while_it_downloads_with_the_bytes_pack_layer_gives() {
        let body: &'static [u8] = b"weights weights weights\n";
        let base = serve(body, std::sync::Arc::new(AtomicUsize::new(0)));
        let sha = modelpack::digest::sha256_of(body)
            .trim_start_matches("sha256:")
            .to_string();
        for format in [
            modelpack::LayerPackaging::Tar,
            modelpack::LayerPackaging::TarGzip,
            modelpack::LayerPackaging::TarZstd,
        ] {
            let layer = |size: u64| LayerSpec {
                format: format.suffix().into(),
                name: "shards/w.safetensors".into(),
                mode: 0o644,
                size,
            };
            let entry = |sha: &str, size| Download {
                url: format!("{base}/w"),
                path: "blobs/sha256/.layer-0".into(),
                git_sha1: None,
                sha256: Some(sha.to_string()),
                layer: Some(layer(size)),
            };
            let dir = tempfile::tempdir().unwrap();
            let packed = download_all(
                &DownloadList {
                    connections: 2,
                    files: vec![entry(&sha, body.len() as u64)],
                },
                dir.path(),
            )
            .unwrap();
            let mut want = Vec::new();
            let written = modelpack::pack::write_layer_from(
                body,
                body.len() as u64,
                "shards/w.safetensors",
                0o644,
                format,
                &mut want,
                1,
            )
            .unwrap();
            assert_eq!(
                packed,
                [PackedDownload {
                    path: "blobs/sha256/.layer-0".into(),
                    written: written.clone()
                }]
            );
            let blob = std::fs::read(
                modelpack::layout::blob_path_in(dir.path(), &written.digest).unwrap(),
            )
            .unwrap();
            assert!(blob == want, "{format:?}: the blob pack-layer writes");
            let left: Vec<_> = std::fs::read_dir(dir.path().join("blobs/sha256"))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(left.len(), 1, "only the blob is left: {left:?}");

            // Content other than listed fails its sha256; a size other
            // than listed fails at once, naming the file.
            let err = download_all(
                &DownloadList {
                    connections: 1,
                    files: vec![entry(&"2".repeat(64), body.len() as u64)],
                },
                dir.path(),
            )
            .unwrap_err();
            assert_eq!(err.code, exit::CHECKSUM, "{}", err.message);
            let err = download_all(
                &DownloadList {
                    connections: 1,
                    files: vec![entry(&sha, 5)],
                },
                dir.path(),
            )
            .unwrap_err();
            assert_eq!(err.code, exit::CHECKSUM, "{}", err.message);
            assert!(
                err.message.starts_with("shards/w.safetensors: "),
                "{}",
                err.message
            );
            assert!(
                err.message
                    .contains(&format!("sends {} bytes, the Hub lists 5", body.len())),
                "{}",
                err.message
            );
        }
    }
}
