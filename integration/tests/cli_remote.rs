//! End-to-end: the command line's `pack` of a Hugging Face repo (the fake
//! hub) and of files at URLs on 127.0.0.1 writes the same manifest as the
//! BuildKit frontend given the same source and options, in every layer
//! format; a gated repo works with `HF_TOKEN` or `--token-file`, the token
//! appearing nowhere, and a missing or wrong token gives one clear line.
//!
//! The CLI binary and the frontend image are found as in `cli.rs`
//! (`MODELPACK_CLI`, `MODELPACK_IMAGE`); both must come from the same
//! commit. Every test starts its own hub with unique repo names and fresh
//! bytes. `#[ignore]`d like every engine test.

use std::path::Path;
use std::process::Command;

use integration::engine::Build;
use integration::fs::{self, TempDir};
use integration::hub::{unique_repo, FakeHub};
use integration::sha256_digest;
use serde_json::json;

const FORMATS: [&str; 4] = ["raw", "tar", "tar+gzip", "tar+zstd"];
const CONFIG_JSON: &str = r#"{"descriptor":{"vendor":"ACME"}}"#;

/// Runs the CLI with extra environment; returns (exit code, stdout, stderr).
fn cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    integration::run_cli(args, env)
}

fn index_manifest_digest(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Builds `source` with the frontend and packs it with the CLI, in every
/// format, and checks both write the same index.json (same manifest).
/// `build_args` go to both (as build args, and as the CLI flags
/// `cli_flags`).
fn same_digest_in_every_format(
    ctx: &Path,
    source: &str,
    build_args: &[(&str, &str)],
    cli_flags: &[&str],
) {
    same_digest_in_every_format_with(ctx, source, build_args, &[], cli_flags)
}

/// [`same_digest_in_every_format`] with `build_flags` for buildx too.
fn same_digest_in_every_format_with(
    ctx: &Path,
    source: &str,
    build_args: &[(&str, &str)],
    build_flags: &[&str],
    cli_flags: &[&str],
) {
    for format in FORMATS {
        let out = TempDir::new("cli-remote-out");
        let built = out.join("frontend");
        let mut build = Build::new(ctx)
            .arg("source", source)
            .arg("layer_packaging", format)
            .arg("config_json", CONFIG_JSON);
        for (k, v) in build_args {
            build = build.arg(k, v);
        }
        for f in build_flags {
            build = build.flag(f);
        }
        build.output(&built).run().assert_success();
        let packed = out.join("cli");
        let mut args = vec![
            "pack",
            source,
            "-o",
            packed.to_str().unwrap(),
            "--layer-packaging",
            format,
            "--config-json",
            CONFIG_JSON,
        ];
        args.extend_from_slice(cli_flags);
        let (code, stdout, stderr) = cli(&args, &[]);
        assert_eq!(code, 0, "{format}: pack {source} failed\n{stderr}");
        let want = index_manifest_digest(&built);
        assert_eq!(
            index_manifest_digest(&packed),
            want,
            "{format}: manifest digests differ for {source}\ncli stderr:\n{stderr}"
        );
        assert!(
            stdout.contains(&want),
            "{format}: pack prints the digest: {stdout}"
        );
        // The model's entry; the referrers after it differ by builder.
        let entry = |layout: &std::path::Path| {
            let index: serde_json::Value =
                serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
            index["manifests"][0].clone()
        };
        assert_eq!(
            entry(&packed),
            entry(&built),
            "{format}: index.json's model entry"
        );
        let (code, report, _) = cli(&["validate", packed.to_str().unwrap()], &[]);
        assert_eq!(code, 0, "{format}: validate what pack wrote\n{report}");
        let leftovers: Vec<String> = std::fs::read_dir(out.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".modelpack-download-"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "{format}: the download folder was left behind: {leftovers:?}"
        );
    }
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn cli_pack_of_a_hub_repo_matches_the_frontend_in_every_format() {
    let hub = FakeHub::start();
    let ctx = TempDir::new("cli-remote-ctx");
    let repo = unique_repo("clipack");
    let seed = fs::fresh_seed();
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            "config.json".into(),
            format!(r#"{{"architectures":["TinyForCausalLM"],"n":"{seed:x}"}}"#).into_bytes(),
        ),
        (
            "model.safetensors".into(),
            fs::pseudo_random_bytes(200 << 10, seed),
        ),
        (
            "tokenizer/vocab.json".into(),
            format!(r#"{{"a":0,"s":"{seed:x}"}}"#).into_bytes(),
        ),
        (
            "weights/extra.bin".into(),
            fs::pseudo_random_bytes(3000, seed ^ 1),
        ),
        (
            "README.md".into(),
            format!("# tiny {seed:x}\n").into_bytes(),
        ),
        ("scripts/run.py".into(), b"print('hi')\n".to_vec()),
        ("notes.txt".into(), b"excluded\n".to_vec()),
    ];
    // Enough small files for the frontend to pack them in one step
    // (`pack-many`), which must give what the CLI's one-by-one packing gives.
    let mut files = files;
    files.extend((0..10).map(|i| {
        (
            format!("docs/page{i}.md"),
            format!("# page {i} {seed:x}\n").into_bytes(),
        )
    }));
    let commit = hub.create_repo(&repo, files, None);
    let endpoint = hub.endpoint.clone();
    // The whole repo, the commit's date as createdAt, the default name.
    same_digest_in_every_format(
        ctx.path(),
        &format!("hf://{repo}"),
        &[("hf_endpoint", &endpoint), ("exclude", "*.txt")],
        &["--hf-endpoint", &endpoint, "--exclude", "*.txt"],
    );
    // Pinned to its commit, with a network for our download steps: the
    // frontend writes the LFS files as their layers while downloading.
    same_digest_in_every_format_with(
        ctx.path(),
        &format!("hf://{repo}@{commit}"),
        &[
            ("hf_endpoint", &endpoint),
            ("exclude", "*.txt"),
            ("download_network", "host"),
        ],
        &["--allow=network.host"],
        &["--hf-endpoint", &endpoint, "--exclude", "*.txt"],
    );
    // A folder of the repo at a revision, a name, and SOURCE_DATE_EPOCH.
    let (code, _, stderr) = cli(
        &[
            "pack",
            &format!("huggingface://{repo}@main/tokenizer"),
            "-o",
            ctx.join("unused").to_str().unwrap(),
            "--revision",
            "other",
        ],
        &[("HF_ENDPOINT", &endpoint)],
    );
    assert_eq!(
        code, 2,
        "a revision given twice, differently, is a usage error\n{stderr}"
    );
    let out = TempDir::new("cli-remote-out");
    let built = out.join("frontend");
    Build::new(ctx.path())
        .arg("source", &format!("huggingface://{repo}/tokenizer"))
        .arg("revision", "main")
        .arg("hf_endpoint", &endpoint)
        .arg("name", "tok")
        .arg("SOURCE_DATE_EPOCH", "1700000000")
        .output(&built)
        .run()
        .assert_success();
    let packed = out.join("cli");
    let (code, _, stderr) = cli(
        &[
            "pack",
            &format!("huggingface://{repo}/tokenizer"),
            "--revision",
            "main",
            "-o",
            packed.to_str().unwrap(),
            "--name",
            "tok",
            "--source-date-epoch",
            "1700000000",
        ],
        &[("HF_ENDPOINT", &endpoint)],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        index_manifest_digest(&packed),
        index_manifest_digest(&built),
        "a folder of the repo\n{stderr}"
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn cli_pack_of_urls_matches_the_frontend_in_every_format() {
    let hub = FakeHub::start();
    let ctx = TempDir::new("cli-remote-ctx");
    let weights = fs::pseudo_random_bytes(150 << 10, fs::fresh_seed());
    let config = format!(
        r#"{{"architectures":["TinyForCausalLM"],"n":{}}}"#,
        fs::fresh_seed()
    )
    .into_bytes();
    let a = hub.put_file("m/Tiny Model.gguf", &weights);
    let b = hub.redirect_url(2, "c/config.json");
    hub.put_file("c/config.json", &config);
    let checksums = format!("{},{}", sha256_digest(&weights), sha256_digest(&config));
    let source = format!("{a}?download=true, {b}");
    same_digest_in_every_format(
        ctx.path(),
        &source,
        &[("checksum", &checksums)],
        &["--checksum", &checksums],
    );
    // One URL: descriptor.sourceURL and the default name from the file.
    same_digest_in_every_format(ctx.path(), &a, &[], &[]);

    // A wrong checksum: one line naming the URL and the flag.
    let out = TempDir::new("cli-remote-out");
    let wrong = sha256_digest(b"something else");
    let (code, _, stderr) = cli(
        &[
            "pack",
            &a,
            "--checksum",
            &wrong,
            "-o",
            out.join("l").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("modelpack-frontend pack:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains(&format!("does not match --checksum {wrong}")),
        "{stderr}"
    );
    assert!(!out.join("l/index.json").exists());
}

#[test]
#[ignore = "needs the CLI binary and python3 for the fake hub: run integration/test.sh"]
fn cli_pack_of_a_gated_repo_takes_the_token_and_never_shows_it() {
    let hub = FakeHub::start();
    let repo = unique_repo("cligated");
    let token = format!("hf_clitest{:016x}{}", fs::fresh_seed(), std::process::id());
    let seed = fs::fresh_seed();
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            "config.json".into(),
            format!(r#"{{"gated":"{seed:x}"}}"#).into_bytes(),
        ),
        (
            "model.safetensors".into(),
            fs::pseudo_random_bytes(8192, seed),
        ),
        (
            "README.md".into(),
            format!("# gated {seed:x}\n").into_bytes(),
        ),
    ];
    hub.create_repo(
        &repo,
        files,
        Some(json!({"gated": "manual", "tokens": [token]})),
    );
    let source = format!("hf://{repo}");
    let out = TempDir::new("cli-gated-out");
    let layout = |n: &str| out.join(n).to_str().unwrap().to_string();
    let one_error = |stderr: &str| -> String {
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("modelpack-frontend pack:"))
            .collect();
        assert_eq!(errors.len(), 1, "one error line expected:\n{stderr}");
        errors[0].to_string()
    };

    // No token: one line saying how to pass one.
    let (code, _, stderr) = cli(
        &[
            "pack",
            &source,
            "-o",
            &layout("anon"),
            "--hf-endpoint",
            &hub.endpoint,
        ],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    let line = one_error(&stderr);
    assert!(
        line.contains("refused to serve") && line.contains(&repo),
        "{line}"
    );
    assert!(
        line.contains("set HF_TOKEN or pass --token-file FILE"),
        "{line}"
    );

    // A wrong token: one line saying the token cannot read it.
    let (code, _, stderr) = cli(
        &[
            "pack",
            &source,
            "-o",
            &layout("wrong"),
            "--hf-endpoint",
            &hub.endpoint,
        ],
        &[("HF_TOKEN", "hf_wrong")],
    );
    assert_eq!(code, 1, "{stderr}");
    let line = one_error(&stderr);
    assert!(line.contains("the token given cannot read it"), "{line}");
    assert!(
        !line.contains("hf_wrong"),
        "the wrong token is printed: {line}"
    );
    assert!(!out.join("wrong/index.json").exists());

    // HF_TOKEN, then --token-file: the same layout, and the token nowhere.
    hub.reset_stats();
    let (code, stdout, stderr) = cli(
        &[
            "pack",
            &source,
            "-o",
            &layout("env"),
            "--hf-endpoint",
            &hub.endpoint,
        ],
        &[("HF_TOKEN", &token)],
    );
    assert_eq!(code, 0, "{stderr}");
    let token_file = out.join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let (code2, stdout2, stderr2) = cli(
        &[
            "pack",
            &source,
            "-o",
            &layout("file"),
            "--hf-endpoint",
            &hub.endpoint,
            "--token-file",
            token_file.to_str().unwrap(),
        ],
        &[("HF_TOKEN", "hf_ignored_when_a_file_is_given")],
    );
    assert_eq!(code2, 0, "{stderr2}");
    assert_eq!(
        index_manifest_digest(&out.join("env")),
        index_manifest_digest(&out.join("file"))
    );
    for text in [&stdout, &stderr, &stdout2, &stderr2] {
        assert!(
            !text.contains(&token),
            "the token is in the CLI's output:\n{text}"
        );
    }
    for dir in ["env", "file"] {
        let hits = grep(&out.join(dir), &token);
        assert!(hits.is_empty(), "the token is in the layout: {hits:?}");
    }
    let stats = hub.stats();
    let resolved_with_token = stats
        .requests
        .iter()
        .filter(|r| r.port == "hub" && r.path.contains("/resolve/") && r.auth)
        .count();
    assert!(
        resolved_with_token >= 3,
        "files are fetched with the token\n{}",
        stats.describe()
    );
    let cdn_with_auth: Vec<String> = stats
        .requests
        .iter()
        .filter(|r| r.port == "cdn" && r.auth)
        .map(|r| r.line())
        .collect();
    assert!(
        cdn_with_auth.is_empty(),
        "the token went to the CDN (another origin): {cdn_with_auth:#?}"
    );
}

/// Files under `dir` whose bytes contain `needle`.
fn grep(dir: &Path, needle: &str) -> Vec<String> {
    let out = Command::new("grep")
        .args(["-r", "-a", "-l", "-F", "--", needle])
        .arg(dir)
        .env("PATH", integration::engine::tool_path())
        .output()
        .expect("run grep");
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "grep failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
