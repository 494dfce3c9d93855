//! End-to-end: the command line's `pack` and the BuildKit frontend, given
//! the same folder and options, write the same manifest (same digest), and
//! the command line validates and unpacks what the frontend wrote.
//!
//! The CLI binary is `MODELPACK_CLI` when set, else the debug build of
//! this workspace, `$CARGO_TARGET_DIR/debug/modelpack-frontend` (`target/`
//! when unset): run `cargo build -p modelpack-frontend` first (with a
//! target folder shared between checkouts, build right before the test or
//! point `MODELPACK_CLI` at your binary). The frontend is the image
//! in `MODELPACK_IMAGE` (see `integration/build-image.sh`); both must come
//! from the same commit. `#[ignore]`d like every engine test.

use std::path::Path;

use integration::engine::Build;
use integration::fs::{self, TempDir};

/// Runs the CLI; returns (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (i32, String, String) {
    integration::run_cli(args, &[])
}

/// A model folder with nested files, an executable, a `.dockerignore`
/// (with a re-include) and a `.git` folder, which both doors must skip.
fn model_dir() -> TempDir {
    let dir = TempDir::new("cli-ctx");
    let root = dir.path();
    fs::write_file(
        root,
        "config.json",
        br#"{"architectures":["TinyForCausalLM"]}"#,
    );
    fs::write_file(
        root,
        "model.safetensors",
        &fs::pseudo_random_bytes(96 << 10, fs::fresh_seed()),
    );
    // Big enough (>= 16 MiB) to be packed by the chain of steps that write
    // their blobs in place.
    for i in 1..=2 {
        let name = format!("shards/model-0000{i}-of-00002.safetensors");
        fs::write_file(
            root,
            &name,
            &fs::pseudo_random_bytes(17 << 20, fs::fresh_seed()),
        );
    }
    fs::write_file(root, "tokenizer/vocab.json", br#"{"a":0}"#);
    let script = fs::write_file(root, "scripts/run.py", b"print('hi')\n");
    fs::set_mode(&script, 0o755);
    fs::write_file(root, "README.md", b"# tiny\n");
    fs::write_file(root, "logs/train.log", b"ignored\n");
    fs::write_file(root, "logs/keep.md", b"re-included\n");
    fs::write_file(root, "scratch.tmp", b"ignored\n");
    fs::write_file(root, ".git/HEAD", b"ref: refs/heads/main\n");
    fs::write_file(root, ".dockerignore", b"*.tmp\nlogs\n!logs/keep.md\n");
    dir
}

fn index_manifest_digest(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
#[ignore]
fn cli_pack_matches_the_frontend_in_every_format() {
    let ctx = model_dir();
    for format in ["raw", "tar", "tar+gzip", "tar+zstd"] {
        let out = TempDir::new("cli-out");
        let built = out.join("frontend");
        let outcome = Build::new(ctx.path())
            .arg("source", ".")
            .arg("name", "same")
            .arg("layer_packaging", format)
            .arg("SOURCE_DATE_EPOCH", "1700000000")
            .arg("config_json", r#"{"descriptor":{"vendor":"ACME"}}"#)
            .output(&built)
            .run();
        outcome.assert_success();
        if format != "raw" {
            // The big weights are packed in place, not copied afterwards
            // (as plain tar: compress_weights is off).
            let chained = "pack shards/model-00002-of-00002.safetensors as tar into blobs/sha256";
            assert!(
                outcome.stderr.contains(chained),
                "{format}: {chained:?} not in the progress\n{}",
                outcome.report()
            );
        }
        let packed = out.join("cli");
        let (code, stdout, stderr) = cli(&[
            "pack",
            ctx.path().to_str().unwrap(),
            "-o",
            packed.to_str().unwrap(),
            "--name",
            "same",
            "--layer-packaging",
            format,
            "--source-date-epoch",
            "1700000000",
            "--config-json",
            r#"{"descriptor":{"vendor":"ACME"}}"#,
        ]);
        assert_eq!(code, 0, "{format}: pack failed\n{stderr}");
        let want = index_manifest_digest(&built);
        assert_eq!(
            index_manifest_digest(&packed),
            want,
            "{format}: manifest digests differ\ncli stderr:\n{stderr}"
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

        // The CLI accepts what the frontend wrote, and unpacks it.
        let (code, stdout, stderr) = cli(&["validate", built.to_str().unwrap()]);
        assert_eq!(code, 0, "{format}: validate\n{stdout}\n{stderr}");
        let files = out.join("files");
        let (code, _, stderr) = cli(&[
            "unpack",
            &format!("{}:same", built.display()),
            "-o",
            files.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{format}: unpack\n{stderr}");
        let tree = fs::read_tree(&files);
        let paths: Vec<&str> = tree.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "README.md",
                "config.json",
                "logs/keep.md",
                "model.safetensors",
                "scripts/run.py",
                "shards/model-00001-of-00002.safetensors",
                "shards/model-00002-of-00002.safetensors",
                "tokenizer/vocab.json"
            ],
            "{format}"
        );
        assert_eq!(
            tree["model.safetensors"],
            std::fs::read(ctx.join("model.safetensors")).unwrap()
        );
        assert_eq!(
            fs::mode(&files.join("scripts/run.py")) & 0o777,
            0o755,
            "{format}"
        );
    }
}

#[test]
#[ignore]
fn cli_exit_codes() {
    assert_eq!(cli(&["--version"]).0, 0);
    assert!(cli(&["--version"]).1.starts_with("modelpack-frontend "));
    let (code, _, stderr) = cli(&["validate", "--x"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unknown flag --x; see modelpack-frontend validate --help"),
        "{stderr}"
    );
    let empty = TempDir::new("cli-empty");
    let (code, stdout, _) = cli(&["validate", empty.path().to_str().unwrap(), "--json"]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["problems"][0]["location"], "oci-layout");
}
