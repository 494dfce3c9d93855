//! End-to-end checks of documented promises (README and docs/) no other test covers: the build
//! context honours `.dockerignore`, never sends `.git/` or
//! `.cache/huggingface/`, packages symlinks to files as the files;
//! `SOURCE_DATE_EPOCH` sets `descriptor.createdAt`; dataset repos
//! (`hf://datasets/org/name`) are packaged. (`--call targets` is in
//! tests/subrequests.rs.)

use integration::engine::{Build, Outcome};
use integration::fs::{self, TempDir};
use integration::hub::{unique_repo, FakeHub};
use integration::layout::Layout;

fn build_layout(build: Build) -> (TempDir, Layout, Outcome) {
    let out = TempDir::new("promises-out");
    let dest = out.join("layout");
    let outcome = build.output(&dest).run();
    outcome.assert_success();
    let layout = Layout::verify(&dest);
    (out, layout, outcome)
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn the_context_honours_dockerignore_skips_git_and_follows_symlinks() {
    let ctx = TempDir::new("promises-ctx");
    let root = ctx.path();
    let weights = fs::pseudo_random_bytes(5000, fs::fresh_seed());
    fs::write_file(root, "config.json", br#"{"hidden_size":8}"#);
    fs::write_file(root, "model.safetensors", &weights);
    fs::write_file(root, "scratch.tmp", b"ignored by pattern");
    fs::write_file(root, "drafts/old.safetensors", b"ignored folder");
    fs::write_file(root, ".git/HEAD", b"ref: refs/heads/main\n");
    fs::write_file(root, ".cache/huggingface/download/x.lock", b"lock");
    fs::write_file(root, ".dockerignore", b"*.tmp\ndrafts/\n");
    std::os::unix::fs::symlink("model.safetensors", root.join("linked.safetensors")).unwrap();
    let (_out, layout, _) = build_layout(Build::new(root).arg("source", "."));
    let mut want = vec!["config.json", "linked.safetensors", "model.safetensors"];
    want.sort();
    assert_eq!(
        layout.sorted_paths(),
        want,
        "no .dockerignore'd, .git, .cache/huggingface or .dockerignore file"
    );
    let got = TempDir::new("promises-unpacked");
    layout.unpack(got.path());
    assert_eq!(
        std::fs::read(got.join("linked.safetensors")).unwrap(),
        weights,
        "the symlink is packaged as its target's bytes"
    );
    assert!(!std::fs::symlink_metadata(got.join("linked.safetensors"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn source_date_epoch_sets_created_at() {
    let ctx = TempDir::new("promises-ctx");
    fs::write_file(ctx.path(), "config.json", br#"{"hidden_size":8}"#);
    fs::write_file(ctx.path(), "model.gguf", b"GGUF tiny");
    let (_out, layout, _) = build_layout(
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("SOURCE_DATE_EPOCH", "86400"),
    );
    assert_eq!(
        layout.config["descriptor"]["createdAt"], "1970-01-02T00:00:00Z",
        "{}",
        layout.config
    );
    let (_out2, again, _) = build_layout(
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("SOURCE_DATE_EPOCH", "86400"),
    );
    assert_eq!(
        again.manifest_digest(),
        layout.manifest_digest(),
        "same inputs, same digest"
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn a_dataset_repo_is_packaged() {
    let hub = FakeHub::start();
    let ctx = TempDir::new("promises-ctx");
    let repo = unique_repo("dataset");
    let rows = format!("{{\"text\":\"{:x}\"}}\n", fs::fresh_seed());
    let parquet = fs::pseudo_random_bytes(3000, fs::fresh_seed());
    let commit = hub.create_dataset(
        &repo,
        [
            ("data/train.jsonl", rows.as_bytes().to_vec()),
            ("data/part.parquet", parquet.clone()),
        ],
    );
    let (_out, layout, _) = build_layout(
        Build::new(ctx.path())
            .arg("source", &format!("hf://datasets/{repo}"))
            .arg("hf_endpoint", &hub.endpoint),
    );
    assert_eq!(
        layout.sorted_paths(),
        ["data/part.parquet", "data/train.jsonl"]
    );
    assert_eq!(layout.config["descriptor"]["revision"], commit.as_str());
    let got = TempDir::new("promises-unpacked");
    layout.unpack(got.path());
    assert_eq!(
        std::fs::read(got.join("data/part.parquet")).unwrap(),
        parquet
    );
    assert_eq!(
        std::fs::read(got.join("data/train.jsonl")).unwrap(),
        rows.as_bytes()
    );
}
