//! End-to-end: `push SOURCE REF`, the streamed publish, from the fake Hub
//! (weights generated on the fly, `repo.json` "generated") to a real
//! `docker-registry` behind a counting proxy, with HOME, TMPDIR and the
//! working folder on an empty read-only folder that must stay empty:
//! - the manifest digest equals `pack`'s of the same source (raw and
//!   tar+zstd with compressed weights), and so do the BOM and provenance
//!   referrers attached after it (`--attest` all by default);
//! - re-publishing the unchanged revision asks the Hub for no weight body
//!   (ranged header reads only) and uploads no blob;
//! - after a commit changing one shard, only that shard's body is
//!   downloaded and only it and the new config are uploaded;
//! - a shard the Hub serves corrupted fails the publish naming it, in raw
//!   layers (the registry refuses the upload: DIGEST_INVALID) as in tar
//!   layers (the CLI's own check), and tags nothing.
//!
//! The CLI binary is `MODELPACK_CLI` (see `integration::cli_binary`).
//! Needs `docker-registry`; `#[ignore]`d like every end-to-end test.

use std::path::Path;
use std::process::Command;

use integration::cli_binary;
use integration::fs::{self, TempDir};
use integration::hub::{FakeHub, HubStats};
use oci_registry::testing::{Proxy, ProxyRule, Registry};
use serde_json::json;

/// Size of each generated shard: above the CLI's in-memory bound for
/// small files (16 MiB), so shards go through the streamed upload.
const SHARD: u64 = 20 << 20;
const SHARDS: usize = 3;

fn shard(i: usize) -> String {
    format!("model-{:05}-of-{SHARDS:05}.safetensors", i + 1)
}

/// Runs the CLI with HOME, TMPDIR and the working folder in `jail`.
fn run_cli(jail: &Path, args: &[&str]) -> std::process::Output {
    Command::new(cli_binary())
        .args(args)
        .current_dir(jail)
        .env("HOME", jail)
        .env("TMPDIR", jail)
        .env("DOCKER_CONFIG", jail.join("no-docker-config"))
        .env_remove("HF_TOKEN")
        .output()
        .expect("run the CLI")
}

/// [`run_cli`], expecting success; its stdout, trimmed.
fn cli(jail: &Path, args: &[&str]) -> String {
    let out = run_cli(jail, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed:\n{stderr}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// [`run_cli`], expecting a failure; its stderr.
fn cli_fails(jail: &Path, args: &[&str]) -> String {
    let out = run_cli(jail, args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{args:?} succeeded:\n{stderr}");
    stderr
}

/// `pack`'s manifest digest of the same source (written elsewhere).
fn pack_digest(endpoint: &str, packaging: &[&str]) -> String {
    pack_digests(endpoint, packaging).0
}

/// The referrers `inspect --json` lists: `(artifactType, digest)`.
fn referrers(inspected: &str) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(inspected).unwrap();
    v["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["artifactType"].as_str().unwrap_or_default().to_string(),
                r["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `pack`'s manifest digest and referrers (BOM, provenance) of the same
/// source.
fn pack_digests(endpoint: &str, packaging: &[&str]) -> (String, Vec<(String, String)>) {
    let out = TempDir::new("stream-pack");
    let layout = out.join("layout");
    let mut args = vec![
        "pack",
        "hf://bench/stream",
        "-o",
        layout.to_str().unwrap(),
        "--hf-endpoint",
        endpoint,
    ];
    args.extend_from_slice(packaging);
    let line = cli(out.path(), &args);
    let docs = referrers(&cli(
        out.path(),
        &["inspect", layout.to_str().unwrap(), "--json"],
    ));
    (line.rsplit(' ').next().unwrap().to_string(), docs)
}

/// Requests for a shard's bytes on the CDN: `(full bodies, ranged reads
/// ending past 1 MiB)` per shard sha256.
fn weight_reads(stats: &HubStats, shas: &[String]) -> (Vec<String>, Vec<String>) {
    let mut full = Vec::new();
    let mut long = Vec::new();
    for r in stats.requests.iter().filter(|r| r.downloaded_a_body()) {
        let Some(sha) = shas.iter().find(|s| r.path.ends_with(s.as_str())) else {
            continue;
        };
        match &r.range {
            None => full.push(sha.clone()),
            Some(range) => {
                let end: u64 = range
                    .rsplit('-')
                    .next()
                    .and_then(|e| e.parse().ok())
                    .unwrap_or(u64::MAX);
                if !range.starts_with("bytes=0-") || end >= 1 << 20 {
                    long.push(format!("{sha} {range}"));
                }
            }
        }
    }
    (full, long)
}

/// The listed sha256 of every shard at `rev`.
fn shard_shas(hub: &FakeHub, rev: &str) -> Vec<String> {
    shard_shas_of(hub, "bench/stream", rev, SHARDS)
}

/// The listed sha256 of the first `shards` shards of `repo` at `rev`.
fn shard_shas_of(hub: &FakeHub, repo: &str, rev: &str, shards: usize) -> Vec<String> {
    let url = format!(
        "{}/api/models/{repo}/revision/{rev}?blobs=true",
        hub.endpoint
    );
    let out = Command::new("curl").args(["-fsS", &url]).output().unwrap();
    assert!(out.status.success(), "curl {url}");
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (0..shards)
        .map(|i| {
            info["siblings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["rfilename"] == shard(i).as_str())
                .and_then(|s| s["lfs"]["sha256"].as_str())
                .unwrap_or_else(|| panic!("{} not in the listing", shard(i)))
                .to_string()
        })
        .collect()
}

fn uploads(proxy: &Proxy) -> Vec<String> {
    proxy
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("POST ") && r.contains("/blobs/uploads/"))
        .cloned()
        .collect()
}

#[test]
#[ignore]
fn streamed_publish_writes_nothing_locally_matches_pack_and_moves_only_what_changed() {
    let hub = FakeHub::start();
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "config.json".into(),
            br#"{"architectures": ["StreamForCausalLM"], "torch_dtype": "bfloat16"}"#.to_vec(),
        ),
        ("README.md".into(), b"# streamed\n".to_vec()),
    ];
    let mut generated = serde_json::Map::new();
    for i in 0..SHARDS {
        files.push((shard(i), b"seed+0".to_vec()));
        generated.insert(
            shard(i),
            json!({"size": SHARD + i as u64, "seed": 7000 + i}),
        );
    }
    let first = hub.create_repo("bench/stream", files, Some(json!({"generated": generated})));
    let ep = hub.endpoint.clone();
    let reg = Registry::plain();
    let proxy = Proxy::start(&reg.host, ProxyRule::Pass);
    let jail = TempDir::new("stream-jail");
    fs::set_mode(jail.path(), 0o555);

    for (repo, packaging) in [
        ("raw", vec![]),
        (
            "zstd",
            vec!["--layer-packaging", "tar+zstd", "--compress-weights"],
        ),
    ] {
        let target = format!("{}/e2e/{repo}:v1", proxy.host());
        let push = |what: &str| {
            let mut args = vec![
                "push",
                "hf://bench/stream",
                target.as_str(),
                "--plain-http",
                "--hf-endpoint",
                ep.as_str(),
                "--max-connections",
                "2",
            ];
            args.extend_from_slice(&packaging);
            let digest = cli(jail.path(), &args);
            assert!(
                std::fs::read_dir(jail.path()).unwrap().next().is_none(),
                "{repo} {what}: the publish wrote into HOME/TMPDIR/cwd"
            );
            digest
        };

        // First publish: the digest pack gives. The counters see its
        // weight bodies and uploads (so their silence below means something).
        hub.reset_stats();
        proxy.requests.lock().unwrap().clear();
        let digest = push("first publish");
        let shas = shard_shas(&hub, &first);
        let (full, _) = weight_reads(&hub.stats(), &shas);
        let mut sorted = full.clone();
        sorted.sort();
        let mut want = shas.clone();
        want.sort();
        if repo == "raw" {
            assert_eq!(sorted, want, "{repo}: each shard downloaded once");
            assert!(
                uploads(&proxy).len() > SHARDS,
                "{repo}: {:?}",
                uploads(&proxy)
            );
        }
        let (packed, packed_docs) = pack_digests(&ep, &packaging);
        assert_eq!(digest, packed, "{repo}: push vs pack");
        // The same BOM and provenance, byte for byte (inspect REF fetches
        // into a temporary folder, so not in the read-only jail).
        let elsewhere = TempDir::new("stream-inspect");
        let published = referrers(&cli(
            elsewhere.path(),
            &["inspect", &target, "--plain-http", "--json"],
        ));
        assert_eq!(packed_docs.len(), 2, "{packed_docs:?}");
        assert_eq!(published, packed_docs, "{repo}: push vs pack documents");

        // Unchanged: header reads only, no blob uploaded, a few requests.
        hub.reset_stats();
        proxy.requests.lock().unwrap().clear();
        assert_eq!(push("unchanged re-publish"), digest);
        let stats = hub.stats();
        let (full, long) = weight_reads(&stats, &shas);
        assert!(
            full.is_empty() && long.is_empty(),
            "{repo}: an unchanged re-publish read weight bodies {full:?} {long:?}\n{}",
            stats.describe()
        );
        // At most 10 in every format: a kept tar layer of a small file,
        // whose own sha256 the BOM and provenance name, is read from the
        // registry, not the Hub.
        let to_hub = stats.requests.iter().filter(|r| r.port == "hub").count();
        assert!(
            to_hub <= 10,
            "{repo}: {to_hub} requests to the Hub\n{}",
            stats.describe()
        );
        assert_eq!(
            uploads(&proxy),
            Vec::<String>::new(),
            "{repo}: blobs uploaded"
        );

        // Reset the branch for the next format.
        hub.set_ref("bench/stream", "main", &first, false);
    }

    // One changed shard (raw): only its body moves, only it, the new
    // config and the new revision's BOM and provenance are uploaded.
    let second = hub.commit(
        "bench/stream",
        "main",
        None,
        [(shard(1), Some(b"seed+1".to_vec()))],
    );
    let new_shas = shard_shas(&hub, &second);
    let old_shas = shard_shas(&hub, &first);
    assert_ne!(new_shas[1], old_shas[1], "the commit changes shard 2");
    hub.reset_stats();
    proxy.requests.lock().unwrap().clear();
    let target = format!("{}/e2e/raw:v1", proxy.host());
    let digest = cli(
        jail.path(),
        &[
            "push",
            "hf://bench/stream",
            &target,
            "--plain-http",
            "--hf-endpoint",
            &ep,
        ],
    );
    assert!(std::fs::read_dir(jail.path()).unwrap().next().is_none());
    let stats = hub.stats();
    let (full, _) = weight_reads(&stats, &new_shas);
    assert_eq!(full, vec![new_shas[1].clone()], "{}", stats.describe());
    let ups = uploads(&proxy);
    assert_eq!(
        ups.len(),
        4,
        "the shard, the config, the BOM and the provenance only: {ups:?}"
    );
    assert_eq!(
        digest,
        pack_digest(&ep, &[]),
        "push vs pack of the new revision"
    );
    fs::set_mode(jail.path(), 0o755);
}

#[test]
#[ignore]
fn a_corrupted_shard_fails_the_streamed_publish_naming_it_and_tags_nothing() {
    let hub = FakeHub::start();
    let name = shard(0);
    let first = hub.create_repo(
        "bench/corrupt",
        vec![
            (
                "config.json".to_string(),
                br#"{"architectures": ["C"]}"#.to_vec(),
            ),
            (name.clone(), b"seed+0".to_vec()),
        ],
        Some(json!({
            "generated": {name.as_str(): {"size": SHARD, "seed": 7100}},
            "corrupt": [name.as_str()],
        })),
    );
    let sha = shard_shas_of(&hub, "bench/corrupt", &first, 1).remove(0);
    let ep = hub.endpoint.clone();
    let reg = Registry::plain();
    let jail = TempDir::new("stream-corrupt");
    for (repo, packaging) in [("raw", vec![]), ("tar", vec!["--layer-packaging", "tar"])] {
        let target = format!("{}/e2e/corrupt-{repo}:v1", reg.host);
        let mut args = vec![
            "push",
            "hf://bench/corrupt",
            target.as_str(),
            "--plain-http",
            "--hf-endpoint",
            ep.as_str(),
        ];
        args.extend_from_slice(&packaging);
        let err = cli_fails(jail.path(), &args);
        assert!(
            err.contains(&name)
                && err.contains(&sha)
                && err.contains("corrupted on the server or in transit"),
            "{repo}: {err}"
        );
        if repo == "raw" {
            assert!(err.contains("DIGEST_INVALID"), "{repo}: {err}");
        }
        let tagged = run_cli(jail.path(), &["inspect", &target, "--plain-http"]);
        assert!(
            !tagged.status.success(),
            "{repo}: the failed publish tagged {target}"
        );
    }
    // Served right again: the same command publishes.
    hub.update_config("bench/corrupt", json!({"corrupt": null}));
    let target = format!("{}/e2e/corrupt-raw:v1", reg.host);
    cli(
        jail.path(),
        &[
            "push",
            "hf://bench/corrupt",
            &target,
            "--plain-http",
            "--hf-endpoint",
            &ep,
        ],
    );
}
