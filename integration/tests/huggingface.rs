//! End-to-end: package Hugging Face repos from our fake hub
//! (`integration/fakehub/`) with the real `docker buildx build`, then
//! verify the OCI layout against the files the hub serves.
//!
//! Every test starts its own hub (a child process on fresh ports of
//! 127.0.0.1, see `integration::hub`) and gives its repos unique names and
//! unique bytes, so tests can run in parallel and never meet each other's
//! entries in BuildKit's cache (LFS files are cached by sha256, small files
//! by file name + ETag). Like `context.rs`, they are `#[ignore]`d for plain
//! `cargo test`; `integration/test.sh` runs them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use integration::engine::{Build, Outcome};
use integration::fs::{self, TempDir};
use integration::hub::{unique_repo, FakeHub};
use integration::layout::{self, Layout};
use integration::sha256_digest;
use integration::solves;
use serde_json::json;

// ------------------------------------------------------------ helpers ---

/// Files as `(path, bytes)`, paths relative to the repo or the model.
type Tree = Vec<(String, Vec<u8>)>;

/// One file of a test repo, and what the layout should say about it.
#[derive(Clone)]
struct RepoFile {
    path: &'static str,
    bytes: Vec<u8>,
    /// `weight`, `weight.config`, … (empty for files that are never packaged).
    kind: &'static str,
    untested: bool,
}

fn file(path: &'static str, bytes: impl Into<Vec<u8>>, kind: &'static str) -> RepoFile {
    RepoFile {
        path,
        bytes: bytes.into(),
        kind,
        untested: false,
    }
}

fn random(len: usize, seed: u64) -> Vec<u8> {
    fs::pseudo_random_bytes(len, seed)
}

/// `(path, bytes)` pairs for [`FakeHub::create_repo`].
fn pairs(files: &[RepoFile]) -> Vec<(&'static str, Vec<u8>)> {
    files.iter().map(|f| (f.path, f.bytes.clone())).collect()
}

/// Builds with the `hf-token` secret run alone. BuildKit shares identical
/// steps between concurrent builds and keeps secrets out of cache keys, so
/// a token download step could otherwise serve another test's build; the
/// tests with a token take this lock exclusively and all others share it.
static TOKEN_BUILDS: RwLock<()> = RwLock::new(());

#[allow(dead_code)] // held for its Drop only
enum Turn {
    Shared(RwLockReadGuard<'static, ()>),
    Alone(RwLockWriteGuard<'static, ()>),
}

/// A test's fake hub and an empty build context (the sources are remote).
struct Hf {
    hub: FakeHub,
    ctx: TempDir,
    _turn: Turn,
}

impl Hf {
    /// For tests whose builds have no token.
    fn new() -> Self {
        let turn = Turn::Shared(TOKEN_BUILDS.read().unwrap_or_else(|e| e.into_inner()));
        Hf {
            hub: FakeHub::start(),
            ctx: TempDir::new("hf-ctx"),
            _turn: turn,
        }
    }

    /// For tests with `--secret id=hf-token`: no other test builds meanwhile.
    fn alone() -> Self {
        let turn = Turn::Alone(TOKEN_BUILDS.write().unwrap_or_else(|e| e.into_inner()));
        Hf {
            hub: FakeHub::start(),
            ctx: TempDir::new("hf-ctx"),
            _turn: turn,
        }
    }

    /// A `packager/modelpack` build of `source` against this hub.
    fn build(&self, source: &str) -> Build {
        Build::new(self.ctx.path())
            .arg("source", source)
            .arg("hf_endpoint", &self.hub.endpoint)
    }

    /// Runs `checks`; if one panics, panics again with the build's report
    /// and the requests the hub saw appended.
    fn checked<T>(&self, outcome: &Outcome, checks: impl FnOnce() -> T) -> T {
        match catch_unwind(AssertUnwindSafe(checks)) {
            Ok(v) => v,
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!(
                    "{msg}\n\n{}\n{}",
                    outcome.report(),
                    self.hub.stats().describe()
                );
            }
        }
    }

    /// Builds into a fresh output dir, asserts success, verifies the layout
    /// (structure, digests, official config schema).
    fn build_layout(&self, build: Build) -> (TempDir, Layout, Outcome) {
        let out = TempDir::new("hf-out");
        let dest = out.join("layout");
        let outcome = build.output(&dest).run();
        if !outcome.success {
            panic!(
                "expected the build to succeed\n{}\n{}",
                outcome.report(),
                self.hub.stats().describe()
            );
        }
        let layout = self.checked(&outcome, || Layout::verify(&dest));
        (out, layout, outcome)
    }

    /// Runs a build that must fail with `fragment` on buildx's `ERROR:`
    /// line and export nothing. Returns the outcome.
    fn expect_failure(&self, build: Build, fragment: &str) -> Outcome {
        let out = TempDir::new("hf-out");
        let dest = out.join("layout");
        let outcome = build.output(&dest).run();
        self.checked(&outcome, || {
            let line = outcome.assert_failure_with(fragment);
            assert!(
                line.starts_with("ERROR: "),
                "buildx should report the frontend's error on its ERROR line, got {line:?}"
            );
            assert!(
                !dest.join("index.json").exists(),
                "a failed build exported a layout to {}",
                dest.display()
            );
        });
        outcome
    }
}

/// Unpacks the layout and compares it byte for byte with `expected`
/// (paths relative to the model).
fn assert_unpacks_to(layout: &Layout, expected: &[(String, Vec<u8>)]) {
    let want = TempDir::new("hf-expected");
    for (path, bytes) in expected {
        fs::write_file(want.path(), path, bytes);
    }
    let got = TempDir::new("hf-unpacked");
    layout.unpack(got.path());
    fs::assert_same_tree(want.path(), got.path());
}

/// The files of `files` whose path starts with `prefix`, with the prefix
/// removed, minus `.gitattributes` files.
fn under(files: &[RepoFile], prefix: &str) -> Tree {
    files
        .iter()
        .filter(|f| !f.path.ends_with(".gitattributes"))
        .filter_map(|f| {
            f.path
                .strip_prefix(prefix)
                .map(|rel| (rel.to_string(), f.bytes.clone()))
        })
        .collect()
}

/// The named files of `files`, paths unchanged.
fn only(files: &[RepoFile], paths: &[&str]) -> Tree {
    paths
        .iter()
        .map(|p| {
            let f = files
                .iter()
                .find(|f| f.path == *p)
                .unwrap_or_else(|| panic!("{p} is not in the test repo"));
            (p.to_string(), f.bytes.clone())
        })
        .collect()
}

fn sorted_keys(files: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut v: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
    v.sort();
    v
}

/// The repo part of `org/name`.
fn name_of(repo: &str) -> &str {
    repo.rsplit('/').next().unwrap()
}

/// Hex sha256 of some bytes.
fn sha256_hex(bytes: &[u8]) -> String {
    sha256_digest(bytes)[7..].to_string()
}

/// A repo with nested folders, LFS files (by suffix and by size), small
/// files of every kind, an empty file, a name with a space, a
/// `.gitattributes`, and a folder `text_encoder_2` whose name starts with
/// that of the folder `text_encoder`. Bytes are unique to `seed`.
fn sample_repo(seed: u64) -> Vec<RepoFile> {
    let nonce = format!("{seed:016x}");
    let weight_config_guess = RepoFile {
        untested: true,
        ..file("weights/big.dat", random(5000, seed ^ 3), "weight.config")
    };
    vec![
        file(
            ".gitattributes",
            "*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
            "",
        ),
        file(
            "config.json",
            format!(
                r#"{{"architectures":["TinyForCausalLM"],"hidden_size":64,"nonce":"{nonce}"}}"#
            ),
            "weight.config",
        ),
        file("model.safetensors", random(64 << 10, seed ^ 1), "weight"),
        // LFS by its suffix although tiny.
        file("adapter.safetensors", random(100, seed ^ 2), "weight"),
        // LFS by size only; unknown type, so a size-based guess.
        weight_config_guess,
        file(
            "tokenizer/vocab.txt",
            format!("a\nb\nc\n{nonce}\n"),
            "weight.config",
        ),
        file("README.md", format!("# tiny model {nonce}\n"), "doc"),
        file(
            "text_encoder/config.json",
            format!(r#"{{"encoder":true,"nonce":"{nonce}"}}"#),
            "weight.config",
        ),
        file(
            "text_encoder/model.safetensors",
            random(2048, seed ^ 4),
            "weight",
        ),
        file(
            "text_encoder/nested/deep/notes.md",
            format!("Two levels down. {nonce}\n"),
            "doc",
        ),
        file(
            "text_encoder_2/config.json",
            format!(r#"{{"encoder":2,"nonce":"{nonce}"}}"#),
            "weight.config",
        ),
        file(
            "scripts/run.py",
            format!("#!/usr/bin/env python3\nprint('{nonce}')\n"),
            "code",
        ),
        file(
            "data/train.csv",
            format!("prompt,answer\n1+1,2\n{nonce},x\n"),
            "dataset",
        ),
        file(
            "docs/read me.txt",
            format!("a file name with a space {nonce}\n"),
            "doc",
        ),
        file("empty.txt", "", "doc"),
    ]
}

/// A hub holding [`sample_repo`] as a fresh repo: (hub, repo id, commit, files).
fn hub_with_sample_repo(prefix: &str) -> (Hf, String, String, Vec<RepoFile>) {
    let hf = Hf::new();
    let repo = unique_repo(prefix);
    let files = sample_repo(fs::fresh_seed());
    let commit = hf.hub.create_repo(&repo, pairs(&files), None);
    (hf, repo, commit, files)
}

/// Checks the config's `descriptor` against the hub's commit.
fn assert_descriptor(hf: &Hf, layout: &Layout, repo: &str, commit: &str) {
    let d = &layout.config["descriptor"];
    assert_eq!(
        d["revision"], commit,
        "config descriptor.revision is the resolved commit"
    );
    assert_eq!(
        d["sourceURL"],
        hf.hub.web_url(repo),
        "config descriptor.sourceURL is {{endpoint}}/{{repo}}"
    );
    assert_eq!(
        d["createdAt"],
        hf.hub.commit_date(repo, commit),
        "config descriptor.createdAt is the commit's date on the hub"
    );
}

// ------------------------------------------------- (a) the whole repo ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn whole_repo_round_trips_byte_for_byte_with_media_types_and_commit_metadata() {
    let (hf, repo, commit, files) = hub_with_sample_repo("full");
    let (_out, layout, outcome) = hf.build_layout(hf.build(&format!("huggingface://{repo}")));

    hf.checked(&outcome, || {
        let name = name_of(&repo);
        assert_eq!(
            layout.ref_name(),
            Some(name),
            "index.json ref name defaults to the repo name"
        );
        assert_eq!(
            layout.config["descriptor"]["name"], name,
            "config descriptor.name"
        );
        assert_descriptor(&hf, &layout, &repo, &commit);
        assert_eq!(
            layout.config["config"]["format"], "safetensors",
            "config.format: every weight is safetensors"
        );

        // Every file but .gitattributes, each with its kind, guess flag, size and mode.
        let expected = under(&files, "");
        assert_eq!(
            layout.sorted_paths(),
            sorted_keys(&expected),
            "layer paths: the repo's files without .gitattributes"
        );
        for f in files.iter().filter(|f| !f.kind.is_empty()) {
            let layer = layout.layer(f.path);
            assert_eq!(
                layer.descriptor.media_type,
                layout::raw_media_type(f.kind),
                "media type of {:?}",
                f.path
            );
            assert_eq!(
                layer.untested,
                f.untested,
                "{} of {:?}",
                layout::ANNOTATION_UNTESTED,
                f.path
            );
            assert_eq!(
                layer.descriptor.size,
                f.bytes.len() as u64,
                "size of {:?}",
                f.path
            );
            assert_eq!(
                layer.descriptor.digest,
                sha256_digest(&f.bytes),
                "digest of {:?}",
                f.path
            );
            assert_eq!(layer.mode(), 0o644, "metadata mode of {:?}", f.path);
        }
        assert_unpacks_to(&layout, &expected);

        // What went over the wire: .gitattributes not at all, each LFS file
        // once from the CDN, nothing with a token.
        let stats = hf.hub.stats();
        assert_eq!(
            stats.count(&format!("resolve:{repo}:.gitattributes")),
            0,
            ".gitattributes must not be fetched"
        );
        for f in files
            .iter()
            .filter(|f| f.path.ends_with(".safetensors") || f.bytes.len() >= 1024)
        {
            assert_eq!(
                stats.count(&format!("cdn:{}", sha256_hex(&f.bytes))),
                1,
                "LFS file {} is downloaded exactly once, from the CDN",
                f.path
            );
        }
        assert!(
            stats.requests.iter().all(|r| !r.auth),
            "no token given, yet a request carried Authorization"
        );
    });
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn whole_repo_as_zstd_tar_layers_round_trips() {
    let (hf, repo, _commit, files) = hub_with_sample_repo("zstd");
    let (_out, layout, outcome) = hf.build_layout(
        hf.build(&format!("huggingface://{repo}"))
            .arg("layer_packaging", "tar+zstd"),
    );
    hf.checked(&outcome, || {
        for layer in &layout.layers {
            // Weights stay plain tar without compress_weights=true.
            let want = if layer.kind() == "weight" {
                "tar"
            } else {
                "tar+zstd"
            };
            assert_eq!(
                layer.format(),
                want,
                "{} ({}): layer format",
                layer.path,
                layer.kind()
            );
        }
        assert_unpacks_to(&layout, &under(&files, ""));
    });
}

// ------------------------------------------------- (b) a single file ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn single_file_source_is_stored_under_its_file_name() {
    let (hf, repo, commit, files) = hub_with_sample_repo("single");
    for (path, kind) in [
        ("weights/big.dat", "LFS"),
        ("text_encoder/nested/deep/notes.md", "small"),
    ] {
        let (_out, layout, outcome) =
            hf.build_layout(hf.build(&format!("hf://{repo}/{path}")).arg("name", "one"));
        hf.checked(&outcome, || {
            let base = path.rsplit('/').next().unwrap();
            assert_eq!(
                layout.paths(),
                [base],
                "a single-file source ({kind} file {path}) is stored under its name"
            );
            let bytes = files.iter().find(|f| f.path == path).unwrap().bytes.clone();
            assert_unpacks_to(&layout, &[(base.to_string(), bytes)]);
            assert_descriptor(&hf, &layout, &repo, &commit);
        });
    }
}

// ------------------------------------------------- (c) a sub-folder ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn sub_folder_source_gives_paths_relative_to_the_folder() {
    let (hf, repo, commit, files) = hub_with_sample_repo("subdir");
    let (_out, layout, outcome) = hf.build_layout(hf.build(&format!("hf://{repo}/text_encoder/")));
    hf.checked(&outcome, || {
        let expected = under(&files, "text_encoder/");
        assert_eq!(
            sorted_keys(&expected),
            ["config.json", "model.safetensors", "nested/deep/notes.md"],
            "test premise: the files under text_encoder/"
        );
        assert_eq!(
            layout.sorted_paths(),
            sorted_keys(&expected),
            "paths relative to text_encoder/, and nothing from its sibling text_encoder_2/"
        );
        assert_unpacks_to(&layout, &expected);
        assert_descriptor(&hf, &layout, &repo, &commit);
    });
}

// --------------------------------------------- (d) include / exclude ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn include_and_exclude_select_repo_files() {
    let (hf, repo, _commit, files) = hub_with_sample_repo("filter");
    let source = format!("hf://{repo}");
    let cases: Vec<(&str, Build, Tree)> = vec![
        (
            "include=*.json *.safetensors exclude=text_encoder_2/",
            hf.build(&source)
                .arg("include", "*.json *.safetensors")
                .arg("exclude", "text_encoder_2/"),
            only(
                &files,
                &[
                    "config.json",
                    "model.safetensors",
                    "adapter.safetensors",
                    "text_encoder/config.json",
                    "text_encoder/model.safetensors",
                ],
            ),
        ),
        (
            "exclude=*.safetensors,text_encoder*,'docs/read me.txt'",
            hf.build(&source)
                .arg("exclude", "*.safetensors,text_encoder*,'docs/read me.txt'"),
            only(
                &files,
                &[
                    "config.json",
                    "weights/big.dat",
                    "tokenizer/vocab.txt",
                    "README.md",
                    "scripts/run.py",
                    "data/train.csv",
                    "empty.txt",
                ],
            ),
        ),
        (
            "include=.gitattributes,README.md (.gitattributes only when named)",
            hf.build(&source).arg("include", ".gitattributes,README.md"),
            only(&files, &[".gitattributes", "README.md"]),
        ),
        (
            "source=…/text_encoder include=*.md (patterns match paths in the model)",
            hf.build(&format!("{source}/text_encoder"))
                .arg("include", "*.md"),
            vec![(
                "nested/deep/notes.md".to_string(),
                only(&files, &["text_encoder/nested/deep/notes.md"])[0]
                    .1
                    .clone(),
            )],
        ),
    ];
    for (what, build, expected) in cases {
        let (_out, layout, outcome) = hf.build_layout(build);
        hf.checked(&outcome, || {
            assert_eq!(
                layout.sorted_paths(),
                sorted_keys(&expected),
                "layer paths for {what}"
            );
            assert_unpacks_to(&layout, &expected);
        });
    }
}

// ------------------------------------------- (e) pinned revisions ---

/// A repo with history: commit A (tagged v1.0), then B on main, then C on
/// refs/pr/1 (from B). Each commit's files are returned.
struct History {
    repo: String,
    a: String,
    b: String,
    c: String,
    files_a: Tree,
    files_b: Tree,
    files_c: Tree,
}

/// `files` with `changes` applied (replaced or added).
fn apply(files: &[(String, Vec<u8>)], changes: &[(String, Vec<u8>)]) -> Tree {
    let mut out: Tree = files
        .iter()
        .filter(|(p, _)| !changes.iter().any(|(q, _)| q == p))
        .cloned()
        .collect();
    out.extend(changes.iter().cloned());
    out
}

fn hub_with_history(prefix: &str) -> (Hf, History) {
    let hf = Hf::new();
    let repo = unique_repo(prefix);
    let seed = fs::fresh_seed();
    let files_a: Tree = vec![
        (
            "config.json".into(),
            format!(r#"{{"v":1,"nonce":"{seed:x}"}}"#).into_bytes(),
        ),
        ("model.safetensors".into(), random(4096, seed ^ 10)),
        ("README.md".into(), format!("# v1 {seed:x}\n").into_bytes()),
    ];
    let a = hf.hub.create_repo(&repo, files_a.clone(), None);
    hf.hub.set_ref(&repo, "v1.0", &a, true);

    let b_changes: Tree = vec![
        (
            "config.json".into(),
            format!(r#"{{"v":2,"nonce":"{seed:x}"}}"#).into_bytes(),
        ),
        ("model.safetensors".into(), random(4096, seed ^ 11)),
        (
            "added.txt".into(),
            format!("added in v2 {seed:x}\n").into_bytes(),
        ),
    ];
    let b = hf.hub.commit(
        &repo,
        "main",
        None,
        b_changes.iter().map(|(p, x)| (p.clone(), Some(x.clone()))),
    );
    let files_b = apply(&files_a, &b_changes);

    let c_changes: Tree = vec![
        (
            "README.md".into(),
            format!("# from the PR {seed:x}\n").into_bytes(),
        ),
        (
            "pr-only.txt".into(),
            format!("only in the PR {seed:x}\n").into_bytes(),
        ),
    ];
    let c = hf.hub.commit(
        &repo,
        "refs/pr/1",
        Some("main"),
        c_changes.iter().map(|(p, x)| (p.clone(), Some(x.clone()))),
    );
    let files_c = apply(&files_b, &c_changes);
    (
        hf,
        History {
            repo,
            a,
            b,
            c,
            files_a,
            files_b,
            files_c,
        },
    )
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn commit_pinned_in_source_gives_that_commits_files_while_main_gives_the_head() {
    let (hf, h) = hub_with_history("pin-commit");
    let (_o1, layout, outcome) = hf.build_layout(hf.build(&format!("hf://{}@{}", h.repo, h.a)));
    hf.checked(&outcome, || {
        assert_unpacks_to(&layout, &h.files_a);
        assert_descriptor(&hf, &layout, &h.repo, &h.a);
    });
    let (_o2, layout, outcome) = hf.build_layout(hf.build(&format!("hf://{}", h.repo)));
    hf.checked(&outcome, || {
        assert_unpacks_to(&layout, &h.files_b);
        assert_descriptor(&hf, &layout, &h.repo, &h.b);
    });
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn tag_in_source_gives_the_tagged_commits_files() {
    let (hf, h) = hub_with_history("pin-tag");
    let (_out, layout, outcome) = hf.build_layout(hf.build(&format!("hf://{}@v1.0", h.repo)));
    hf.checked(&outcome, || {
        assert_unpacks_to(&layout, &h.files_a);
        assert_descriptor(&hf, &layout, &h.repo, &h.a);
    });
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn pr_ref_in_the_revision_build_arg_gives_the_pr_commits_files() {
    let (hf, h) = hub_with_history("pin-pr");
    let (_out, layout, outcome) = hf.build_layout(
        hf.build(&format!("hf://{}", h.repo))
            .arg("revision", "refs/pr/1"),
    );
    hf.checked(&outcome, || {
        assert_unpacks_to(&layout, &h.files_c);
        assert_descriptor(&hf, &layout, &h.repo, &h.c);
        let info = format!("/api/models/{}/revision/refs%2Fpr%2F1", h.repo);
        assert!(
            hf.hub.stats().requests.iter().any(|r| r.path == info),
            "the revision is sent percent-encoded as one segment: {info}"
        );
    });
}

// ------------------------------------------ (f) a branch that moved ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn moved_branch_downloads_only_the_changed_files_and_packages_the_new_commit() {
    moved_branch(false);
}

/// The same with the download steps (`download_network=host`): one step
/// per LFS file, keyed by its sha256 and not by the commit, so after main
/// moved only the changed LFS file is requested from the Hub at all.
#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn moved_branch_in_download_steps_downloads_only_the_changed_lfs_file() {
    moved_branch(true);
}

/// Builds `main`, moves it (one LFS file and one small file change),
/// builds again and counts what the Hub served: through the download
/// steps (`steps`) or as BuildKit HTTP sources (an engine that cannot run
/// the steps against a loopback Hub without `network.host`).
fn moved_branch(steps: bool) {
    let hf = Hf::new();
    let build = |source: &str| {
        let b = hf.build(source);
        if steps {
            b.arg("download_network", "host")
                .flag("--allow=network.host")
        } else {
            b
        }
    };
    let repo = unique_repo("moved");
    let seed = fs::fresh_seed();
    let mut files: Tree = vec![
        ("model.safetensors".into(), random(64 << 10, seed ^ 20)),
        ("other.safetensors".into(), random(32 << 10, seed ^ 21)),
        ("weights/big.dat".into(), random(5000, seed ^ 22)),
        (
            "config.json".into(),
            format!(r#"{{"v":1,"nonce":"{seed:x}"}}"#).into_bytes(),
        ),
        (
            "README.md".into(),
            format!("# readme {seed:x}\n").into_bytes(),
        ),
        (
            "tokenizer.json".into(),
            format!(r#"{{"tok":"{seed:x}"}}"#).into_bytes(),
        ),
    ];
    let a = hf.hub.create_repo(&repo, files.clone(), None);
    let (_o1, first, outcome) = hf.build_layout(build(&format!("hf://{repo}")));
    hf.checked(&outcome, || {
        assert_unpacks_to(&first, &files);
        assert_descriptor(&hf, &first, &repo, &a);
        assert_eq!(
            outcome.stderr.contains(&format!(
                "fetch model.safetensors (65.54 kB) of {repo}@main into blobs/sha256"
            )),
            steps,
            "one download step per LFS file exactly when the steps can run"
        );
    });

    // main moves: one LFS file and one small file change.
    let new_model = random(64 << 10, seed ^ 23);
    let new_config = format!(r#"{{"v":2,"nonce":"{seed:x}"}}"#).into_bytes();
    let b = hf.hub.commit(
        &repo,
        "main",
        None,
        [
            ("model.safetensors", Some(new_model.clone())),
            ("config.json", Some(new_config.clone())),
        ],
    );
    files[0].1 = new_model.clone();
    files[3].1 = new_config;
    hf.hub.reset_stats();

    let (_o2, second, outcome) = hf.build_layout(build(&format!("hf://{repo}")));
    let stats = hf.hub.stats();
    eprintln!("moved branch, rebuild at {b}:\n{}", stats.describe());
    hf.checked(&outcome, || {
        assert_unpacks_to(&second, &files);
        assert_descriptor(&hf, &second, &repo, &b);
        let want: std::collections::BTreeMap<String, u64> = [(sha256_hex(&new_model), 1)].into_iter().collect();
        assert_eq!(
            stats.cdn_body_gets(),
            want,
            "CDN downloads (GET 200/206 per sha256) after main moved: only the changed LFS file model.safetensors"
        );
        assert_ne!(first.manifest_digest(), second.manifest_digest(), "a new commit, a new manifest");

        if steps {
            // Not even a request for the LFS files that did not change:
            // their steps came from BuildKit's cache.
            let lfs: Vec<String> = stats
                .requests
                .iter()
                .filter(|r| r.path.contains("/resolve/") && r.path.contains(".safetensors"))
                .map(|r| r.line())
                .collect();
            assert!(
                !lfs.is_empty() && lfs.iter().all(|l| l.contains("/resolve/main/model.safetensors")),
                "LFS requests to the Hub after main moved: only for model.safetensors, at the branch: {lfs:#?}"
            );
            // The small files come from one step keyed by the commit: all
            // of them again (a few bytes each).
            return;
        }
        // Small files: only the changed one is downloaded again. The unchanged
        // ones are fetched from the new commit's URL, but BuildKit revalidates
        // with HEAD + If-None-Match (the git blob ids it holds for that file
        // name), the hub answers 304 and BuildKit reuses its copy.
        let bodies: Vec<String> = stats
            .body_downloads()
            .iter()
            .filter(|r| r.port == "hub")
            .map(|r| r.path.rsplit(&format!("{b}/")).next().unwrap_or(&r.path).to_string())
            .collect();
        assert_eq!(bodies, ["config.json"], "small-file bodies downloaded after main moved: only the changed config.json");
    });
}

// ------------------------------------------ (g) an identical rebuild ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn identical_rebuild_downloads_no_file_bodies() {
    let (hf, repo, commit, files) = hub_with_sample_repo("rebuild");
    let source = format!("hf://{repo}");
    let (_o1, first, _) = hf.build_layout(hf.build(&source));
    hf.hub.reset_stats();
    let (_o2, second, outcome) = hf.build_layout(hf.build(&source));
    let stats = hf.hub.stats();
    eprintln!("identical rebuild:\n{}", stats.describe());
    hf.checked(&outcome, || {
        assert_eq!(
            second.manifest_digest(),
            first.manifest_digest(),
            "same repo, same commit: same manifest"
        );
        let bodies: Vec<String> = stats.body_downloads().iter().map(|r| r.line()).collect();
        assert!(
            bodies.is_empty(),
            "the rebuild downloaded file bodies again: {bodies:#?}"
        );
        assert!(
            stats.requests.iter().all(|r| r.port == "hub"),
            "the rebuild sent requests to the CDN (LFS files are cached by sha256 and need none)"
        );
        // Precisely: one fresh look at the revision, and for each small file a
        // HEAD revalidation with If-None-Match answered 304. LFS files: nothing.
        let info = format!("/api/models/{repo}/revision/main");
        let small: Vec<&RepoFile> = files
            .iter()
            .filter(|f| {
                !f.kind.is_empty() && !f.path.ends_with(".safetensors") && f.bytes.len() < 1024
            })
            .collect();
        let mut expected: Vec<String> = vec![format!("GET {info} -> 200")];
        for f in &small {
            expected.push(format!(
                "HEAD /{repo}/resolve/{commit}/{} -> 304",
                f.path.replace(' ', "%20")
            ));
        }
        expected.sort();
        let mut seen: Vec<String> = stats
            .requests
            .iter()
            .map(|r| {
                format!(
                    "{} {} -> {}",
                    r.method,
                    r.path,
                    r.status.map(|s| s.to_string()).unwrap_or_default()
                )
            })
            .collect();
        seen.sort();
        assert_eq!(seen, expected, "requests of the identical rebuild");
        assert!(
            stats
                .requests
                .iter()
                .filter(|r| r.method == "HEAD")
                .all(|r| r.if_none_match.is_some()),
            "every HEAD revalidates with If-None-Match"
        );
    });
}

// ------------------------------------------------ (h) a gated repo ---

/// Paths of files under `dir` whose bytes contain `needle` (`grep -r -a -l -F`).
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let out = std::process::Command::new("grep")
        .args(["-r", "-a", "-l", "-F", "--", needle])
        .arg(dir)
        .env("PATH", integration::engine::tool_path())
        .output()
        .expect("run grep");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Other builds running in parallel may remove files while grep walks the
    // tree: "No such file or directory" is not a failure.
    let only_vanished = stderr
        .lines()
        .all(|l| l.ends_with("No such file or directory"));
    let code = out.status.code();
    // 0: found, 1: not found, 2: an error (only vanished files are fine).
    assert!(
        code == Some(0) || code == Some(1) || (code == Some(2) && only_vanished),
        "grep -r {} failed ({:?}): {stderr}",
        dir.display(),
        out.status
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn gated_repo_needs_the_token_secret_and_the_token_leaks_nowhere() {
    let hf = Hf::alone();
    let repo = unique_repo("gated");
    let token = format!("hf_itest{:016x}{}", fs::fresh_seed(), std::process::id());
    let seed = fs::fresh_seed();
    let files: Tree = vec![
        (
            "config.json".into(),
            format!(r#"{{"gated":"{seed:x}"}}"#).into_bytes(),
        ),
        ("model.safetensors".into(), random(8192, seed ^ 30)),
        ("sub/weights.bin".into(), random(3000, seed ^ 31)),
        (
            "README.md".into(),
            format!("# gated {seed:x}\n").into_bytes(),
        ),
    ];
    let commit = hf.hub.create_repo(
        &repo,
        files.clone(),
        Some(json!({"gated": "manual", "tokens": [token]})),
    );
    let source = format!("hf://{repo}");

    // Every solve request of both builds is written to the engine's log
    // (debug_dump_llb), to check what BuildKit really received.
    let (refused_tag, token_tag) = (solves::unique_tag("refused"), solves::unique_tag("token"));

    // Without the token: a clear refusal.
    let refused = hf.expect_failure(
        hf.build(&source).arg("debug_dump_llb", &refused_tag),
        &format!(
            "refused to serve files of {repo}@main (commit {commit}): the repo is gated or private; \
             accept its terms on the Hub and pass --secret id=hf-token,env=HF_TOKEN"
        ),
    );

    // With the token (in the docker process's environment only).
    hf.hub.reset_stats();
    let (out, layout, outcome) =
        hf.build_layout(token_build(&hf, &source, &token).arg("debug_dump_llb", &token_tag));
    let stats = hf.hub.stats();
    hf.checked(&outcome, || {
        assert_unpacks_to(&layout, &files);
        assert_descriptor(&hf, &layout, &repo, &commit);

        let hub_requests: Vec<_> = stats.requests.iter().filter(|r| r.port == "hub").collect();
        assert!(!hub_requests.is_empty(), "the hub saw no request");
        // The frontend first tries anonymously (the Hub refuses the files),
        // then downloads with the token: no file is ever served without it.
        let anonymous_downloads: Vec<String> = hub_requests
            .iter()
            .filter(|r| !r.auth && r.path.contains("/resolve/") && r.status.is_some_and(|s| s < 400))
            .map(|r| r.line())
            .collect();
        assert!(anonymous_downloads.is_empty(), "gated files served without the token: {anonymous_downloads:#?}");
        for (path, _) in &files {
            assert!(
                hub_requests.iter().any(|r| r.path.ends_with(&format!("/resolve/{commit}/{path}")) && r.auth && r.status.is_some_and(|s| s < 400)),
                "an authenticated, successful resolve request for {path}"
            );
        }
        let cdn_with_auth: Vec<String> = stats.requests.iter().filter(|r| r.port == "cdn" && r.auth).map(|r| r.line()).collect();
        assert!(
            cdn_with_auth.is_empty(),
            "the token was sent to the CDN (another origin than the hub): {cdn_with_auth:#?}"
        );

        // The token appears nowhere: build output, result, BuildKit's state.
        // (The search does find it where it belongs: the hub's repo.json.)
        assert!(!files_containing(hf.hub.repos_dir(), &token).is_empty(), "grep finds the token in the hub's repo.json");
        assert!(!refused.output().contains(&token), "the token is in the output of the refused build");
        assert!(!outcome.output().contains(&token), "the token is in the build output (progress)");
        let in_output = files_containing(out.path(), &token);
        assert!(in_output.is_empty(), "the token is in the exported files: {in_output:?}");
        // BuildKit's metadata and cache databases (LLB, cache keys, build
        // history) live in <data root>/buildkit; the rest of the engine's
        // data root (snapshots of the download steps, images) is checked too.
        let data_root = integration::engine::Engine::from_env().data_root();
        let in_docker = files_containing(Path::new(data_root), &token);
        assert!(
            in_docker.is_empty(),
            "the token is in the engine's state ({data_root}/buildkit holds BuildKit's databases): {in_docker:?}"
        );
        assert!(!hf.hub.log().contains(&token), "the token is in the fake hub's log");

        // Nor in any LLB definition the frontend solved, in either build.
        let engine = integration::engine::Engine::from_env();
        let refused_solves = solves::solves(engine, &refused_tag, Duration::from_secs(30));
        let token_solves = solves::solves(engine, &token_tag, Duration::from_secs(30));
        assert_token_in_no_solve(&refused_solves, &token, false);
        assert_token_in_no_solve(&token_solves, &token, true);
    });
}

/// The token is in none of `solves`; with `retried`, they include the
/// retry with the secret (hf-get steps mounting `hf-token`), so the search
/// did cover that path. The anonymous attempt's solves are always there.
/// (A build without the secret may try that path too: the step then fails
/// for want of a token, and the Hub's refusal is reported.)
fn assert_token_in_no_solve(all: &[solves::Solve], token: &str, retried: bool) {
    solves::assert_absent(all, token, "the token");
    let hf_get = |s: &solves::Solve| {
        s.exec_args()
            .iter()
            .any(|a| a.get(1).map(String::as_str) == Some("hf-get"))
    };
    let with_secret = all
        .iter()
        .filter(|s| hf_get(s) && solves::contains(&s.bytes, b"hf-token"))
        .count();
    let anonymous = all.iter().filter(|s| !hf_get(s)).count();
    assert!(
        anonymous > 0,
        "no solve of the anonymous attempt was recorded ({} solves)",
        all.len()
    );
    if retried {
        assert!(
            with_secret > 0,
            "no recorded solve runs hf-get with the hf-token secret ({} solves)",
            all.len()
        );
    }
}

/// A build with the token secret, as users run it on an engine without a
/// default network.
fn token_build(hf: &Hf, source: &str, token: &str) -> Build {
    hf.build(source)
        .secret("id=hf-token,env=HF_TOKEN")
        .env("HF_TOKEN", token)
        .arg("download_network", "host")
        .flag("--allow=network.host")
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn anonymous_build_next_to_a_token_build_is_not_told_there_is_a_token() {
    let hf = Hf::alone();
    let token = format!("hf_itest{:016x}{}", fs::fresh_seed(), std::process::id());
    let seed = fs::fresh_seed();
    let gated = unique_repo("conc-gated");
    let public = unique_repo("conc-public");
    let gated_files: Tree = vec![
        (
            "config.json".into(),
            format!(r#"{{"g":"{seed:x}"}}"#).into_bytes(),
        ),
        ("model.safetensors".into(), random(3000, seed ^ 60)),
    ];
    let public_files: Tree = vec![
        (
            "config.json".into(),
            format!(r#"{{"p":"{seed:x}"}}"#).into_bytes(),
        ),
        ("model.safetensors".into(), random(3000, seed ^ 61)),
    ];
    hf.hub.create_repo(
        &gated,
        gated_files.clone(),
        Some(json!({"gated": "manual", "tokens": [token]})),
    );
    hf.hub.create_repo(&public, public_files.clone(), None);

    // Both builds start together, a few times over (one round reproduced it
    // every time by hand).
    for round in 1..=3 {
        let (gated_out, public_out) = (TempDir::new("hf-out"), TempDir::new("hf-out"));
        let with_token =
            token_build(&hf, &format!("hf://{gated}"), &token).output(gated_out.join("layout"));
        let anonymous = hf
            .build(&format!("hf://{public}"))
            .output(public_out.join("layout"));
        let (with_token, anonymous) = std::thread::scope(|s| {
            let t = s.spawn(|| with_token.run());
            let a = s.spawn(|| anonymous.run());
            (
                t.join().expect("token build thread"),
                a.join().expect("anonymous build thread"),
            )
        });
        assert!(
            with_token.success,
            "round {round}: the build with the token failed\n{}",
            with_token.report()
        );
        assert!(
            anonymous.success && !anonymous.output().contains(" hf-get "),
            "round {round}: a build of a public repo WITHOUT --secret id=hf-token, run at the same time as one \
             with it, failed or downloaded through token steps (hf-get): public repos must go through BuildKit's \
             own HTTP sources whatever other builds do.\n\
             anonymous build:\n{}\nbuild with the token (same time):\n{}",
            anonymous.report(),
            with_token.report()
        );
        hf.checked(&anonymous, || {
            assert_unpacks_to(&Layout::verify(public_out.join("layout")), &public_files);
            assert_unpacks_to(&Layout::verify(gated_out.join("layout")), &gated_files);
        });
    }
}

// ---------------------------------------------- (i) corrupted files ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn corrupt_lfs_file_fails_naming_it_and_a_retry_after_the_fix_succeeds() {
    let hf = Hf::new();
    let repo = unique_repo("corrupt-lfs");
    let seed = fs::fresh_seed();
    let weight = random(16 << 10, seed ^ 40);
    let files: Tree = vec![
        ("weights/model.safetensors".into(), weight.clone()),
        (
            "config.json".into(),
            format!(r#"{{"c":"{seed:x}"}}"#).into_bytes(),
        ),
    ];
    let commit = hf.hub.create_repo(
        &repo,
        files.clone(),
        Some(json!({"corrupt": ["weights/model.safetensors"]})),
    );
    let source = format!("hf://{repo}");
    hf.expect_failure(
        hf.build(&source),
        &format!(
            ": weights/model.safetensors from {repo}@main (commit {commit}): the downloaded bytes do not match the sha256 {}",
            sha256_hex(&weight)
        ),
    );
    // The server serves the right bytes again: trying again (as the message says) works.
    hf.hub.update_config(&repo, json!({"corrupt": null}));
    let (_out, layout, outcome) = hf.build_layout(hf.build(&source));
    hf.checked(&outcome, || assert_unpacks_to(&layout, &files));
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn corrupt_small_file_fails_naming_it_and_the_cache_caveat() {
    let hf = Hf::new();
    let repo = unique_repo("corrupt-small");
    let seed = fs::fresh_seed();
    let files: Tree = vec![
        ("model.safetensors".into(), random(4096, seed ^ 50)),
        (
            "tokenizer/vocab.txt".into(),
            format!("a\nb\n{seed:x}\n").into_bytes(),
        ),
        (
            "config.json".into(),
            format!(r#"{{"c":"{seed:x}"}}"#).into_bytes(),
        ),
    ];
    let commit = hf.hub.create_repo(
        &repo,
        files.clone(),
        Some(json!({"corrupt": ["tokenizer/vocab.txt"]})),
    );
    let source = format!("hf://{repo}");
    let failed = hf.build(&source).run();
    hf.checked(&failed, || {
        failed.assert_failure_with(&format!(
            ": tokenizer/vocab.txt from {repo}@{commit}: the downloaded content does not match the Hub's listing"
        ));
        // BuildKit stores a corrupted small file under its correct ETag and
        // revalidates it with HEAD + If-None-Match, so the message must tell
        // how to get rid of it rather than just "try again".
        failed.assert_failure_with("also when fetched again");
        failed.assert_failure_with("docker buildx prune");
    });
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn small_file_corrupted_in_transit_is_fetched_again_and_the_build_succeeds() {
    let hf = Hf::new();
    let repo = unique_repo("transit");
    let seed = fs::fresh_seed();
    let files: Tree = vec![
        ("model.safetensors".into(), random(4096, seed ^ 51)),
        (
            "tokenizer/merges.txt".into(),
            format!("x y\n{seed:x}\n").into_bytes(),
        ),
        (
            "config.json".into(),
            format!(r#"{{"t":"{seed:x}"}}"#).into_bytes(),
        ),
    ];
    hf.hub.create_repo(
        &repo,
        files.clone(),
        Some(json!({"corrupt_first": ["tokenizer/merges.txt"]})),
    );
    let out = TempDir::new("hf-out");
    let built = hf
        .build(&format!("hf://{repo}"))
        .output(out.join("layout"))
        .run();
    hf.checked(&built, || built.assert_success());
    assert!(
        built.output().contains("fetch tokenizer/merges.txt"),
        "{}",
        built.report()
    );
    assert!(
        built.output().contains(" again"),
        "the refetch is visible in progress\n{}",
        built.report()
    );
    let layout = hf.checked(&built, || Layout::verify(out.join("layout")));
    hf.checked(&built, || assert_unpacks_to(&layout, &files));
}

// --------------------------------------------------------- (j) errors ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn unknown_repo_fails_saying_it_does_not_exist_or_needs_a_token() {
    let hf = Hf::new();
    let repo = unique_repo("missing");
    // The hub answers 401 to an anonymous request for a repo it does not
    // have (it never tells missing from private), as huggingface.co does.
    hf.expect_failure(
        hf.build(&format!("hf://{repo}")),
        &format!(
            "refused access to {repo}: the repo does not exist, or it is private or gated; \
             pass --secret id=hf-token,env=HF_TOKEN"
        ),
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn unknown_revision_fails_naming_it() {
    let (hf, repo, _commit, _files) = hub_with_sample_repo("badrev");
    hf.expect_failure(
        hf.build(&format!("hf://{repo}@nope")),
        &format!(
            "revision \"nope\" not found in {repo} on {}",
            hf.hub.endpoint
        ),
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn path_not_in_the_repo_fails_naming_it() {
    let (hf, repo, commit, _files) = hub_with_sample_repo("badpath");
    hf.expect_failure(
        hf.build(&format!("hf://{repo}/no/such/path")),
        &format!("path \"no/such/path\" not found in {repo} at revision main (commit {commit})"),
    );
}

/// Makes every request to the info API fail with `status` and runs the
/// build, which must fail with `fragment(repo)` without fetching any file.
fn info_api_failure(prefix: &str, status: u16, fragment: impl Fn(&str) -> String) {
    let (hf, repo, _commit, _files) = hub_with_sample_repo(prefix);
    // Far more than any retry loop would try.
    hf.hub.fail(json!({"path_contains": format!("/api/models/{repo}"), "status": status, "count": 1000, "port": "hub"}));
    let outcome = hf.expect_failure(hf.build(&format!("hf://{repo}")), &fragment(&repo));
    let stats = hf.hub.stats();
    hf.checked(&outcome, || {
        let injected = stats
            .requests
            .iter()
            .filter(|r| r.status == Some(status))
            .count();
        assert!(injected >= 1, "the hub served no injected {status}");
        eprintln!(
            "info API {status}: the hub answered {injected} request(s) with {status}:\n{}",
            stats.describe()
        );
        let files: Vec<String> = stats
            .requests
            .iter()
            .filter(|r| r.path.contains("/resolve"))
            .map(|r| r.line())
            .collect();
        assert!(
            files.is_empty(),
            "no file may be fetched when the revision cannot be resolved: {files:#?}"
        );
    });
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn rate_limited_info_api_fails_with_http_429() {
    info_api_failure("ratelimited", 429, |repo| {
        format!("is rate-limiting requests (HTTP 429) while resolving {repo}@main")
    });
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn failing_info_api_fails_with_http_503() {
    info_api_failure("unavailable", 503, |repo| {
        format!("failed (HTTP 503) while resolving {repo}@main; try again later")
    });
}

// ------------------------------------------------ (k) many files ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn repo_with_1001_files_packages_completely() {
    const N: usize = 1001;
    let hf = Hf::new();
    let repo = unique_repo("many");
    let seed = fs::fresh_seed();
    let src = TempDir::new("hf-many");
    let mut expected = Vec::with_capacity(N);
    for i in 0..N {
        let path = format!("shard{}/f{i:04}.txt", i % 10);
        let bytes = format!("file {i} {seed:x}\n").into_bytes();
        fs::write_file(src.path(), &path, &bytes);
        expected.push((path, bytes));
    }
    let commit = hf.hub.create_repo_from_dir(&repo, src.path(), None);
    let (_out, layout, outcome) = hf.build_layout(
        hf.build(&format!("hf://{repo}"))
            .timeout(Duration::from_secs(900)),
    );
    eprintln!("{N} files: the build took {:.1?}", outcome.elapsed);
    hf.checked(&outcome, || {
        assert_eq!(layout.layers.len(), N, "one layer per file");
        assert_unpacks_to(&layout, &expected);
        assert_descriptor(&hf, &layout, &repo, &commit);
    });
}
