//! The `hf-get-many` step: the small (non-LFS) files of a Hub repo, fetched in one step of our own
//! image instead of one BuildKit HTTP source each; and the LFS files, in
//! another such step, written straight to their blob paths, or as their
//! layers (the `pack-layer` writer fed by the download) when packed.
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
use llb::{Exec, FileOp, Mount, NetMode, State};
use serde::{Deserialize, Serialize};

use crate::hf_get::{self, read_token, TOKEN_PATH, TOKEN_SECRET_ID};
use crate::steps::BINARY;
use modelpack::huggingface::is_safe_repo_path;
use modelpack::pack::Written;
use modelpack_hub::download::{self, exit, Expect, GetError, LayerSpec};

/// Where the step finds its download list.
const LIST_DIR: &str = "/in";
/// The list's file name inside [`LIST_DIR`]: JSON, compressed so that
/// lists of thousands of files keep the solve request small
/// ([`modelpack::compact`]).
const LIST_FILE: &str = "downloads.json.zst";

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

/// How the step reaches the Hub.
pub struct StepNetwork {
    /// The step's network mode (`download_network`).
    pub mode: NetMode,
    /// Mount the `hf-token` secret (the step then sends it to the endpoint).
    pub token: bool,
    /// Proxy variables (not part of the cache key).
    pub proxy: llb::proto::pb::ProxyEnv,
}

/// A download step's outputs.
pub struct Step {
    /// The downloaded files, each at `/<path>` (or at its layer's blob path).
    pub tree: State,
    /// Holds [`PACKED_FILE`] when some files were written as layers.
    pub meta: Option<State>,
}

/// A step of `image` that downloads `list` into its output, each file at
/// `/<path>`. The list is written into the graph, so the step's cache key
/// is the list itself.
pub fn step(image: &State, list: &DownloadList, net: &StepNetwork, progress: &str) -> Step {
    let json = serde_json::to_vec(list).expect("a download list serializes");
    let input = FileOp::new(State::scratch())
        .mkfile(
            &format!("/{LIST_FILE}"),
            0o644,
            modelpack::compact::compress(&json),
        )
        .custom_name(&format!("list {} file(s) to download", list.files.len()))
        .into_state();
    let list_path = format!("{LIST_DIR}/{LIST_FILE}");
    let packs = list.files.iter().any(|d| d.layer.is_some());
    let mut args = vec![BINARY, "hf-get-many", list_path.as_str(), "/out"];
    if packs {
        args.push("/meta");
    }
    let mut exec = Exec::new(image, args)
        .network(net.mode)
        .mount(Mount::bind(LIST_DIR, &input).readonly())
        .mount(Mount::bind("/out", &State::scratch()))
        .proxy_env(net.proxy.clone())
        .custom_name(progress);
    if packs {
        exec = exec.mount(Mount::bind("/meta", &State::scratch()));
    }
    if net.token {
        exec = exec.mount(Mount::secret(TOKEN_PATH, TOKEN_SECRET_ID, true));
    }
    let node = exec.build();
    Step {
        tree: node.output("/out").expect("/out is a writable mount"),
        meta: packs.then(|| node.output("/meta").expect("/meta is a writable mount")),
    }
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

    use llb::proto::pb::{self, op::Op as Kind};
    use prost::Message;

    fn ops(state: &State) -> Vec<pb::Op> {
        state
            .to_definition()
            .def
            .iter()
            .map(|b| pb::Op::decode(b.as_slice()).unwrap())
            .collect()
    }

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
    fn the_step_is_keyed_by_its_list_and_mounts_the_token_only_when_asked() {
        let image = llb::source::image("localhost:5000/modelpack-frontend:dev").into_state();
        let anonymous = StepNetwork {
            mode: NetMode::Host,
            token: false,
            proxy: Default::default(),
        };
        let a = step(&image, &list(3), &anonymous, "fetch").tree;
        let again = step(&image, &list(3), &anonymous, "fetch").tree;
        assert_eq!(
            a.to_definition().def,
            again.to_definition().def,
            "same list, same definition"
        );
        let mut other = list(3);
        other.files[1].git_sha1 = Some("f".repeat(40));
        assert_ne!(
            a.to_definition().def,
            step(&image, &other, &anonymous, "fetch")
                .tree
                .to_definition()
                .def
        );

        let all = ops(&a);
        let mkfile = all
            .iter()
            .find_map(|o| match &o.op {
                Some(Kind::File(f)) => f.actions.iter().find_map(|a| match &a.action {
                    Some(pb::file_action::Action::Mkfile(m)) => Some(m.clone()),
                    _ => None,
                }),
                _ => None,
            })
            .expect("the list is written by the graph");
        let written: DownloadList =
            serde_json::from_slice(&modelpack::compact::expand(&mkfile.data, "list").unwrap())
                .unwrap();
        assert_eq!(written, list(3));
        let exec = all
            .iter()
            .find_map(|o| match &o.op {
                Some(Kind::Exec(e)) => Some(e.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            exec.meta.as_ref().unwrap().args,
            [BINARY, "hf-get-many", "/in/downloads.json.zst", "/out"]
        );
        assert!(exec.mounts.iter().all(|m| m.dest != TOKEN_PATH));
        assert_eq!(exec.network, pb::NetMode::Host as i32);

        assert_eq!(
            exec.meta.as_ref().unwrap().proxy_env,
            None,
            "no proxy build args, no proxy"
        );

        let proxy = pb::ProxyEnv {
            https_proxy: "http://proxy.internal:3128".into(),
            no_proxy: "localhost".into(),
            ..Default::default()
        };
        let via_proxy = step(
            &image,
            &list(3),
            &StepNetwork {
                mode: NetMode::Host,
                token: false,
                proxy: proxy.clone(),
            },
            "fetch",
        )
        .tree;
        let exec = ops(&via_proxy)
            .into_iter()
            .find_map(|o| match o.op {
                Some(Kind::Exec(e)) => Some(e),
                _ => None,
            })
            .unwrap();
        let meta = exec.meta.unwrap();
        assert_eq!(
            meta.proxy_env,
            Some(proxy),
            "proxies go where BuildKit keeps them out of the cache key"
        );
        assert!(
            meta.env.is_empty(),
            "and not into the environment, which is part of it"
        );

        let with_token = step(
            &image,
            &list(3),
            &StepNetwork {
                mode: NetMode::Sandbox,
                token: true,
                proxy: Default::default(),
            },
            "fetch",
        )
        .tree;
        let exec = ops(&with_token)
            .into_iter()
            .find_map(|o| match o.op {
                Some(Kind::Exec(e)) => Some(e),
                _ => None,
            })
            .unwrap();
        let secret = exec
            .mounts
            .iter()
            .find(|m| m.dest == TOKEN_PATH)
            .expect("secret mount");
        assert_eq!(secret.mount_type, pb::MountType::Secret as i32);
        assert!(
            exec.meta.unwrap().env.is_empty(),
            "the token never travels in the environment"
        );
    }

    #[test]
    fn a_list_with_layers_gets_a_meta_output_and_one_without_does_not() {
        let image = llb::source::image("localhost:5000/modelpack-frontend:dev").into_state();
        let net = StepNetwork {
            mode: NetMode::Host,
            token: false,
            proxy: Default::default(),
        };
        assert!(step(&image, &list(2), &net, "fetch").meta.is_none());
        let mut with_layer = list(2);
        with_layer.files[1].sha256 = Some("a".repeat(64));
        with_layer.files[1].layer = Some(LayerSpec {
            format: "tar".into(),
            name: "w.safetensors".into(),
            mode: 0o644,
            size: 3,
        });
        let s = step(&image, &with_layer, &net, "fetch");
        let meta = s.meta.expect("a meta output");
        let exec = ops(&meta)
            .into_iter()
            .find_map(|o| match o.op {
                Some(Kind::Exec(e)) => Some(e),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            exec.meta.unwrap().args,
            [
                BINARY,
                "hf-get-many",
                "/in/downloads.json.zst",
                "/out",
                "/meta"
            ]
        );
        assert!(exec.mounts.iter().any(|m| m.dest == "/meta" && !m.readonly));
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
        let sha = llb::digest_of(b"{\"a\": 1}\n")
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
        let sha = llb::digest_of(body)
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
