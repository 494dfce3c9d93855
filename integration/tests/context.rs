//! End-to-end: package files from the build context with the real
//! `docker buildx build`, then verify the OCI layout it writes.
//!
//! These tests need the engine (`integration/engine.sh`) and the frontend
//! image in the local registry (`integration/build-image.sh`), so they are
//! `#[ignore]`d for plain `cargo test`; `integration/test.sh` runs them with
//! `--ignored`. Every test uses its own temp dirs and registry repository,
//! so they can run in parallel (buildkitd serialises what it must).

use std::path::Path;

use integration::engine::{self, Build, Outcome};
use integration::fs::{self, TempDir};
use integration::layout::{self, Layout};
use integration::unique_name;

/// One file of a test model: path, bytes, and what the layout should say.
struct ModelFile {
    path: &'static str,
    bytes: Vec<u8>,
    executable: bool,
    kind: &'static str,
    untested: bool,
}

/// A small model with nested folders, a 64 KiB random weight file, an
/// executable script, a name with a space, an empty file, a duplicate of
/// another file's bytes, a data set and a file of unknown type.
fn tiny_model() -> Vec<ModelFile> {
    let config = br#"{"architectures":["TinyForCausalLM"],"hidden_size":64}"#.to_vec();
    let f = |path, bytes: &[u8], kind, untested| ModelFile {
        path,
        bytes: bytes.to_vec(),
        executable: false,
        kind,
        untested,
    };
    vec![
        f("config.json", &config, "weight.config", false),
        f(
            "tokenizer.json",
            br#"{"version":"1.0","model":{"type":"BPE"}}"#,
            "weight.config",
            false,
        ),
        f(
            "model.safetensors",
            &fs::pseudo_random_bytes(64 << 10, fs::fresh_seed()),
            "weight",
            false,
        ),
        f(
            "sub/deeper/notes.md",
            b"# Notes\n\nNested two levels down.\n",
            "doc",
            false,
        ),
        ModelFile {
            executable: true,
            ..f(
                "scripts/run.py",
                b"#!/usr/bin/env python3\nprint('hi')\n",
                "code",
                false,
            )
        },
        f(
            "docs/read me first.txt",
            b"a file name with a space\n",
            "doc",
            false,
        ),
        f("sub/empty.txt", b"", "doc", false),
        f("sub/config-copy.json", &config, "weight.config", false),
        f(
            "data/train.csv",
            b"prompt,answer\n1+1,2\n",
            "dataset",
            false,
        ),
        f("misc/blob.dat", b"\x00\x01unknown", "weight.config", true),
    ]
}

/// Writes model files under `root`.
fn write_model(root: &Path, files: &[ModelFile]) {
    for file in files {
        let path = fs::write_file(root, file.path, &file.bytes);
        fs::set_mode(&path, if file.executable { 0o755 } else { 0o644 });
    }
}

/// A context directory holding [`tiny_model`].
fn tiny_model_context() -> (TempDir, Vec<ModelFile>) {
    let ctx = TempDir::new("ctx");
    let files = tiny_model();
    write_model(ctx.path(), &files);
    (ctx, files)
}

/// Builds into a fresh output dir, asserts success, verifies the layout.
fn build_layout(build: Build) -> (TempDir, Layout, Outcome) {
    let out = TempDir::new("out");
    let dest = out.join("layout");
    let outcome = build.output(&dest).run();
    outcome.assert_success();
    let layout = Layout::verify(&dest);
    (out, layout, outcome)
}

/// A context dir with a single small file, for the error cases.
fn small_context() -> TempDir {
    let ctx = TempDir::new("ctx");
    fs::write_file(ctx.path(), "config.json", b"{}");
    ctx
}

/// Runs a build that must fail with `fragment` in its output, and must not
/// leave a layout behind. Returns the matching line.
fn expect_failure(build: Build, fragment: &str) -> String {
    let out = TempDir::new("out");
    let dest = out.join("layout");
    let outcome = build.output(&dest).run();
    let line = outcome.assert_failure_with(fragment);
    assert!(
        !dest.join("index.json").exists(),
        "a failed build exported a layout to {}",
        dest.display()
    );
    assert!(
        line.starts_with("ERROR: "),
        "buildx should report the frontend's error on its ERROR line, got {line:?}\n{}",
        outcome.report()
    );
    line
}

fn unpacked_equals(layout: &Layout, expected_root: &Path) {
    let unpacked = TempDir::new("unpacked");
    layout.unpack(unpacked.path());
    fs::assert_same_tree(expected_root, unpacked.path());
}

fn sorted(paths: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = paths.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------- (a) ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn nested_model_dir_round_trips_byte_for_byte() {
    let (ctx, files) = tiny_model_context();
    let (_out, layout, outcome) = build_layout(
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("name", "tiny"),
    );

    // Names and types.
    assert_eq!(layout.ref_name(), Some("tiny"), "index.json ref name");
    assert_eq!(
        layout.manifest_descriptor.artifact_type.as_deref(),
        Some(layout::ARTIFACT_TYPE_MODEL),
        "index.json manifest entry artifactType"
    );
    assert_eq!(
        layout.config["descriptor"]["name"], "tiny",
        "config descriptor.name"
    );
    assert_eq!(
        layout.config["config"]["format"], "safetensors",
        "config config.format"
    );

    // Exactly the files of the tree, each with its kind, guess flag and mode.
    let expected: Vec<&str> = files.iter().map(|f| f.path).collect();
    assert_eq!(layout.sorted_paths(), sorted(&expected), "layer file paths");
    for file in &files {
        let layer = layout.layer(file.path);
        assert_eq!(
            layer.descriptor.media_type,
            layout::raw_media_type(file.kind),
            "media type of {:?}",
            file.path
        );
        assert_eq!(
            layer.untested,
            file.untested,
            "{} of {:?}",
            layout::ANNOTATION_UNTESTED,
            file.path
        );
        assert_eq!(
            layer.descriptor.size,
            file.bytes.len() as u64,
            "size of {:?}",
            file.path
        );
        let mode = if file.executable { 0o755 } else { 0o644 };
        assert_eq!(
            layer.mode(),
            mode,
            "metadata mode of {:?} (executable: {})",
            file.path,
            file.executable
        );
    }

    // Layers grouped by kind (config, weight, code, doc, dataset), by path within a kind.
    let order: Vec<(usize, &str)> = layout
        .layers
        .iter()
        .map(|l| {
            (
                layout::LAYER_KINDS
                    .iter()
                    .position(|k| *k == l.kind())
                    .unwrap(),
                l.path.as_str(),
            )
        })
        .collect();
    let mut want = order.clone();
    want.sort();
    assert_eq!(order, want, "layer order: grouped by kind, then by path");

    // Identical bytes are stored once; the layout lists both paths.
    assert_eq!(
        layout.layer("config.json").descriptor.digest,
        layout.layer("sub/config-copy.json").descriptor.digest,
        "same bytes, same digest"
    );

    unpacked_equals(&layout, ctx.path());
    assert!(
        outcome.output().contains("assemble ModelPack layout tiny"),
        "progress names the layout step\n{}",
        outcome.report()
    );
}

// ---------------------------------------------------------------- (b) ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn rebuilds_give_the_same_manifest_digest() {
    let (ctx, _files) = tiny_model_context();
    let build = |dir: &Path| Build::new(dir).arg("source", ".").arg("name", "repro");
    let (_o1, first, _) = build_layout(build(ctx.path()));
    let (_o2, second, _) = build_layout(build(ctx.path()).no_cache());
    assert_eq!(
        second.manifest_digest(),
        first.manifest_digest(),
        "manifest digest after a --no-cache rebuild"
    );
    assert_eq!(
        second.index_bytes, first.index_bytes,
        "index.json bytes after a --no-cache rebuild"
    );

    // Same bytes in another directory, with other mtimes (set, rather than
    // waited for): still the same artifact.
    let copy = TempDir::new("ctx-copy");
    fs::copy_tree(ctx.path(), copy.path());
    let other_time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    for rel in fs::read_tree(copy.path()).keys() {
        std::fs::File::open(copy.join(rel))
            .and_then(|f| f.set_modified(other_time))
            .unwrap_or_else(|e| panic!("set the mtime of {rel}: {e}"));
    }
    let (_o3, third, _) = build_layout(build(copy.path()));
    assert_eq!(
        third.manifest_digest(),
        first.manifest_digest(),
        "manifest digest of a copy of the context"
    );
}

// ------------------------------------------------------- tar layers ---

/// Every tar format packs each file into its own reproducible tar layer:
/// media types say the format, diffIds are the uncompressed tars (checked
/// by `Layout::verify`), each tar holds the parent directory entries and
/// the file under its model path with the recorded mode (checked by
/// `Layout::unpack`), and rebuilding gives the same digests. Weights stay
/// plain `tar` when the others are compressed (no `compress_weights`).
#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn tar_layer_formats_round_trip_and_are_reproducible() {
    let (ctx, files) = tiny_model_context();
    for format in ["tar", "tar+gzip", "tar+zstd"] {
        let build = || {
            Build::new(ctx.path())
                .arg("source", ".")
                .arg("name", "packed")
                .arg("layer_packaging", format)
        };
        let (_out, layout, _) = build_layout(build());
        assert_eq!(
            layout.layers.len(),
            files.len(),
            "{format}: one layer per file"
        );
        for layer in &layout.layers {
            let want = if layer.kind() == "weight" {
                "tar"
            } else {
                format
            };
            assert_eq!(
                layer.format(),
                want,
                "{format}: format of {} ({})",
                layer.path,
                layer.kind()
            );
        }
        let weights = layout.layer("model.safetensors");
        assert_eq!(
            weights.descriptor.media_type,
            "application/vnd.cncf.model.weight.v1.tar"
        );
        unpacked_equals(&layout, ctx.path());
        let (_again, second, _) = build_layout(build().no_cache());
        assert_eq!(
            second.manifest_digest(),
            layout.manifest_digest(),
            "{format}: manifest digest after --no-cache"
        );
    }
}

/// A context with a weight file, a README and a nested config.
fn weights_and_readme_context() -> TempDir {
    let ctx = TempDir::new("ctx");
    fs::write_file(
        ctx.path(),
        "model.safetensors",
        &fs::pseudo_random_bytes(32 << 10, fs::fresh_seed()),
    );
    fs::write_file(
        ctx.path(),
        "README.md",
        b"# tiny\n\nA model that describes itself.\n",
    );
    fs::write_file(
        ctx.path(),
        "text_encoder/nested/config.json",
        br#"{"hidden_size":8}"#,
    );
    ctx
}

/// The media type of each layer, by path.
fn media_types(layout: &Layout) -> Vec<(String, String)> {
    layout
        .layers
        .iter()
        .map(|l| (l.path.clone(), l.descriptor.media_type.clone()))
        .collect()
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn tar_zstd_leaves_weights_uncompressed_unless_compress_weights() {
    let ctx = weights_and_readme_context();
    let build = || {
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("name", "zstd")
            .arg("layer_packaging", "tar+zstd")
    };
    let pair = |p: &str, t: &str| (p.to_string(), format!("application/vnd.cncf.model.{t}"));

    let (_out, plain, _) = build_layout(build());
    assert_eq!(
        media_types(&plain),
        [
            pair(
                "text_encoder/nested/config.json",
                "weight.config.v1.tar+zstd"
            ),
            pair("model.safetensors", "weight.v1.tar"),
            pair("README.md", "doc.v1.tar+zstd"),
        ],
        "tar+zstd without compress_weights"
    );
    unpacked_equals(&plain, ctx.path());

    let (_out2, compressed, _) = build_layout(build().arg("compress_weights", "true"));
    assert_eq!(
        media_types(&compressed),
        [
            pair(
                "text_encoder/nested/config.json",
                "weight.config.v1.tar+zstd"
            ),
            pair("model.safetensors", "weight.v1.tar+zstd"),
            pair("README.md", "doc.v1.tar+zstd"),
        ],
        "tar+zstd with compress_weights=true"
    );
    unpacked_equals(&compressed, ctx.path());
    let weight = |l: &Layout| l.layer("model.safetensors").descriptor.digest.clone();
    assert_ne!(
        weight(&compressed),
        weight(&plain),
        "the compressed weight blob differs from the plain tar"
    );
    assert_eq!(
        compressed.layer("README.md").descriptor.digest,
        plain.layer("README.md").descriptor.digest,
        "compress_weights does not change the other layers"
    );

    let (_out3, explicit, _) = build_layout(build().arg("compress_weights", "false"));
    assert_eq!(
        explicit.manifest_digest(),
        plain.manifest_digest(),
        "compress_weights=false is the default"
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn fails_for_a_bad_compress_weights_value() {
    let ctx = small_context();
    let line = expect_failure(
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("layer_packaging", "tar+gzip")
            .arg("compress_weights", "yes"),
        r#"build-arg compress_weights: unknown value "yes"; accepted: false, true"#,
    );
    assert!(
        line.ends_with("accepted: false, true"),
        "the message is the end of the line: {line:?}"
    );
}

/// skopeo pushes the layout as it is and oras pulls every layer back as a
/// file named by its title, without extracting: the raw layers are the
/// model's files, the tar layers are the blobs byte for byte.
#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn skopeo_and_oras_carry_every_layer_format() {
    let ctx = weights_and_readme_context();
    for (format, compress) in [
        ("raw", "false"),
        ("tar", "false"),
        ("tar+gzip", "false"),
        ("tar+zstd", "true"),
    ] {
        let (out, layout, _) = build_layout(
            Build::new(ctx.path())
                .arg("source", ".")
                .arg("name", "carried")
                .arg("layer_packaging", format)
                .arg("compress_weights", compress),
        );
        let remote = RemoteImage(format!(
            "docker://{}/itest/{}:v1",
            engine::REGISTRY,
            unique_name("formats")
        ));
        let local = format!("oci:{}:carried", layout.root.display());
        engine::skopeo(&["copy", "--dest-tls-verify=false", &local, &remote.0]).assert_success();

        let pulled = out.join("pulled");
        let reference = remote.0.trim_start_matches("docker://");
        let pulled_str = pulled.display().to_string();
        engine::oras(&["pull", "--plain-http", "-o", &pulled_str, reference]).assert_success();
        for layer in &layout.layers {
            let got = std::fs::read(pulled.join(&layer.path))
                .unwrap_or_else(|e| panic!("{format}: oras did not write {:?}: {e}", layer.path));
            let want = std::fs::read(layout.blob_path(&layer.descriptor.digest)).unwrap();
            assert!(
                got == want,
                "{format}: oras's {:?} vs the layer blob",
                layer.path
            );
            if format == "raw" {
                assert!(
                    got == std::fs::read(ctx.join(&layer.path)).unwrap(),
                    "raw: {:?} is the model file",
                    layer.path
                );
            }
        }
    }
}

// ---------------------------------------------------------------- (c) ---

/// A registry reference deleted (best effort) when the test ends.
struct RemoteImage(String);

impl Drop for RemoteImage {
    fn drop(&mut self) {
        let _ = engine::skopeo(&["delete", "--tls-verify=false", &self.0]);
    }
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn skopeo_pushes_the_layout_to_a_registry_unchanged() {
    let (ctx, _files) = tiny_model_context();
    let (out, layout, _) = build_layout(
        // skopeo carries the model, not its referrers: compare the model alone.
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("name", "pushme")
            .arg("attest", "none"),
    );
    let remote = RemoteImage(format!(
        "docker://{}/itest/{}:v1",
        engine::REGISTRY,
        unique_name("context")
    ));
    let remote = remote.0.as_str();
    let local = format!("oci:{}:pushme", layout.root.display());

    engine::skopeo(&["copy", "--dest-tls-verify=false", &local, remote]).assert_success();

    let raw = engine::skopeo(&["inspect", "--raw", "--tls-verify=false", remote]);
    raw.assert_success();
    assert_eq!(
        integration::sha256_digest(&raw.stdout),
        layout.manifest_digest(),
        "sha256 of the manifest the registry serves vs index.json"
    );
    assert_eq!(
        raw.stdout, layout.manifest_bytes,
        "manifest bytes in the registry vs the layout"
    );

    // Pull it back: every blob comes back byte for byte.
    let back = out.join("pulled");
    let dest = format!("oci:{}:back", back.display());
    engine::skopeo(&["copy", "--src-tls-verify=false", remote, &dest]).assert_success();
    fs::assert_same_tree(&layout.root.join("blobs"), &back.join("blobs"));
}

// ---------------------------------------------------------------- (d) ---

/// A context shaped like a project: models in subfolders, other files around.
fn project_context() -> TempDir {
    let ctx = TempDir::new("ctx");
    let root = ctx.path();
    fs::write_file(root, "models/tiny/config.json", br#"{"hidden_size":8}"#);
    fs::write_file(
        root,
        "models/tiny/weights/model.safetensors",
        &fs::pseudo_random_bytes(4096, 7),
    );
    fs::write_file(root, "models/tiny/nested.gguf", b"GGUF nested");
    fs::write_file(root, "models/a.gguf", b"GGUF a");
    fs::write_file(root, "models/b.gguf", b"GGUF b");
    fs::write_file(root, "models/README.md", b"# models\n");
    fs::write_file(root, "other/x.bin", b"not part of any model");
    ctx
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn source_directory_paths_are_relative_to_it() {
    let ctx = project_context();
    let (_out, layout, _) = build_layout(Build::new(ctx.path()).arg("source", "models/tiny"));
    assert_eq!(
        layout.sorted_paths(),
        sorted(&["config.json", "nested.gguf", "weights/model.safetensors"]),
        "paths relative to source=models/tiny"
    );
    assert_eq!(
        layout.ref_name(),
        Some("tiny"),
        "default name from the source directory"
    );
    unpacked_equals(&layout, &ctx.join("models/tiny"));
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn source_glob_paths_are_relative_to_the_part_before_the_wildcard() {
    let ctx = project_context();
    let (_out, layout, _) = build_layout(
        Build::new(ctx.path())
            .arg("source", "models/*.gguf")
            .arg("name", "ggufs"),
    );
    // The source glob is a BuildKit include pattern: `*` stays within one
    // path segment, so models/tiny/nested.gguf is not picked up (unlike the
    // fnmatch-style include/exclude build args).
    assert_eq!(
        layout.sorted_paths(),
        sorted(&["a.gguf", "b.gguf"]),
        "paths for source=models/*.gguf"
    );
    assert_eq!(layout.config["config"]["format"], "gguf", "config.format");
    let unpacked = TempDir::new("unpacked");
    layout.unpack(unpacked.path());
    for name in ["a.gguf", "b.gguf"] {
        assert_eq!(
            std::fs::read(unpacked.join(name)).unwrap(),
            std::fs::read(ctx.join("models").join(name)).unwrap(),
            "bytes of {name}"
        );
    }
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn single_file_source_is_stored_under_its_basename() {
    let ctx = project_context();
    let (_out, layout, _) = build_layout(
        Build::new(ctx.path())
            .arg("source", "models/tiny/weights/model.safetensors")
            .arg("name", "one"),
    );
    assert_eq!(
        layout.paths(),
        ["model.safetensors"],
        "path for a single-file source"
    );
    assert_eq!(layout.layers[0].kind(), "weight");
    let unpacked = TempDir::new("unpacked");
    layout.unpack(unpacked.path());
    assert_eq!(
        std::fs::read(unpacked.join("model.safetensors")).unwrap(),
        std::fs::read(ctx.join("models/tiny/weights/model.safetensors")).unwrap(),
        "bytes of the single file"
    );
}

// ---------------------------------------------------------------- (e) ---

fn filtered_paths(include: Option<&str>, exclude: Option<&str>) -> Vec<String> {
    let (ctx, _files) = tiny_model_context();
    let mut build = Build::new(ctx.path())
        .arg("source", ".")
        .arg("name", "filtered");
    if let Some(p) = include {
        build = build.arg("include", p);
    }
    if let Some(p) = exclude {
        build = build.arg("exclude", p);
    }
    let (_out, layout, _) = build_layout(build);
    layout.sorted_paths()
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn include_keeps_matching_paths_and_star_crosses_folders() {
    assert_eq!(
        filtered_paths(Some("*.json"), None),
        sorted(&["config.json", "sub/config-copy.json", "tokenizer.json"]),
        "include=*.json"
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn exclude_drops_folders_and_patterns() {
    assert_eq!(
        filtered_paths(None, Some("sub/ *.py 'docs/read me first.txt'")),
        sorted(&[
            "config.json",
            "data/train.csv",
            "misc/blob.dat",
            "model.safetensors",
            "tokenizer.json"
        ]),
        "exclude=sub/ *.py 'docs/read me first.txt'"
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn include_and_exclude_combine() {
    assert_eq!(
        filtered_paths(Some("*.json,*.safetensors"), Some("sub/*")),
        sorted(&["config.json", "model.safetensors", "tokenizer.json"]),
        "include=*.json,*.safetensors exclude=sub/*"
    );
}

// ---------------------------------------------------------------- (f) ---

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn fails_when_include_leaves_nothing() {
    let ctx = small_context();
    expect_failure(
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("include", "*.gguf"),
        "build-args include/exclude left no file to package",
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn fails_without_source() {
    let ctx = small_context();
    expect_failure(
        Build::new(ctx.path()).arg("name", "x"),
        "build-arg source is required: ",
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn fails_for_a_path_not_in_the_context() {
    let ctx = small_context();
    expect_failure(
        Build::new(ctx.path()).arg("source", "x"),
        r#"build-arg source: nothing in the build context matches "x"; "#,
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn fails_for_an_unknown_layer_packaging() {
    let ctx = small_context();
    let line = expect_failure(
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("layer_packaging", "zip"),
        r#"build-arg layer_packaging: unknown value "zip"; accepted: raw, tar, tar+gzip, tar+zstd"#,
    );
    assert!(
        line.ends_with("accepted: raw, tar, tar+gzip, tar+zstd"),
        "the message is the end of the line: {line:?}"
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn fails_for_an_unknown_output_mode() {
    let ctx = small_context();
    expect_failure(
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("output_mode", "tarball"),
        r#"build-arg output_mode: unknown value "tarball"; accepted: layout, files, artifact, image"#,
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn fails_for_a_misspelled_build_arg() {
    let ctx = small_context();
    expect_failure(
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("layer_packing", "tar"),
        "unknown build-arg layer_packing; this frontend reads: source, name, layer_packaging",
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn fails_for_an_unknown_target() {
    let ctx = small_context();
    expect_failure(
        Build::new(ctx.path()).target("x").arg("source", "."),
        r#"unknown target "x"; valid targets: packager/modelpack, packager/generic, packager/bundle"#,
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn fails_without_a_target() {
    let ctx = small_context();
    expect_failure(
        Build::new(ctx.path()).no_target().arg("source", "."),
        "no target given: ",
    );
}

// ------------------------------------------------------ .dockerignore ---

/// A context of a few hundred files whose names have brackets, dots,
/// parentheses and digits, in nested folders, with a `.dockerignore` of
/// classes (`[^a]`, `[0-4]`, `[[:upper:]]`), escapes (`\[`, `\d`), `**`,
/// `?`, a leading `/`, `..` to clean, and re-includes (plain and with
/// wildcards, inside excluded folders).
fn dockerignore_context() -> TempDir {
    let ctx = TempDir::new("ctx-ignore");
    let root = ctx.path();
    let mut paths: Vec<String> = [
        "config.json",
        "a.tmp",
        "ab.tmp",
        "b.tmp",
        "c.tmp",
        "^a.tmp",
        "x[1].bin",
        "x1.bin",
        "7up.bin",
        "up7.bin",
        "README.md",
        "notes.md",
        "[a].txt",
        "e.x.t.txt",
        "ext.txt",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let dirs = [
        "data",
        "logs",
        "cache",
        "cache/hf/deep",
        "src",
        "weights",
        "docs",
        "tmp",
        "nested/a/b",
        "nested/keep",
        "build[1]",
        "v1.0",
    ];
    let names = [
        "f0.bin",
        "f1.tmp",
        "a.tmp",
        "x[2].bin",
        "keep.md",
        "notes.txt",
        "weird(1).json",
        "e.x.t.txt",
        "z.log",
        "Upper.md",
    ];
    for d in dirs {
        for n in names {
            paths.push(format!("{d}/{n}"));
        }
        for i in 0..16 {
            paths.push(format!("{d}/shard-{i:03}.bin"));
        }
    }
    for p in &paths {
        // Distinct bytes per file (the path), so digests differ.
        fs::write_file(root, p, format!("{p}\n").as_bytes());
    }
    fs::write_file(
        root,
        "model.safetensors",
        &fs::pseudo_random_bytes(4 << 10, fs::fresh_seed()),
    );
    let ignore = r"# BuildKit's patternmatcher semantics, not fnmatch
[^a]*.tmp
x\[1\].bin
\d*.bin
**/*.log
/logs
!logs/keep.md
cache/
!cache/**/keep.md
data/shard-00?.bin
data/shard-01[0-4].bin
!data/shard-003.bin
weights/*[13579].bin
weights/shard-01?.bin
!weights/shard-011.bin
docs/**
!docs/keep.md
nested/**/f0.bin
nested/a
!nested/a/b/keep.md
build\[1\]/*.bin
!build\[1\]/f0.bin
v1.0/shard-00[^0-4]*
**/weird(1).json
./tmp/../tmp/notes.txt
tmp/f?.tmp
!tmp/f1.tmp
**/x[[]2].bin
[[:upper:]]*.md
!README.md
*/Upper.md
!src/Upper.md
e?t.txt
src/e.x.t.txt   
[a].txt
";
    fs::write_file(root, ".dockerignore", ignore.as_bytes());
    ctx
}

/// Issue 19: the command line's `pack` applies `.dockerignore` exactly as
/// BuildKit does. The frontend's build through buildx on both engines
/// (where BuildKit itself filters the context) and `pack` of the same
/// folder give the same files and the same manifest digest.
#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn cli_pack_applies_dockerignore_as_buildkit_does() {
    let ctx = dockerignore_context();
    let mut results: Vec<(String, Vec<String>, String)> = Vec::new();
    for engine in [engine::Engine::Current, engine::Engine::Next] {
        let (_out, layout, _) = build_layout(
            Build::new(ctx.path())
                .engine(engine)
                .arg("source", ".")
                .arg("name", "ignore")
                .arg("layer_packaging", "raw")
                .arg("SOURCE_DATE_EPOCH", "1700000000"),
        );
        results.push((
            format!("buildx on {engine:?}"),
            layout.sorted_paths(),
            layout.manifest_digest().to_string(),
        ));
    }
    let out = TempDir::new("cli-out");
    let packed = out.join("cli");
    let (code, _stdout, stderr) = integration::run_cli(
        &[
            "pack",
            ctx.path().to_str().unwrap(),
            "-o",
            packed.to_str().unwrap(),
            "--name",
            "ignore",
            "--layer-packaging",
            "raw",
            "--source-date-epoch",
            "1700000000",
        ],
        &[],
    );
    assert_eq!(code, 0, "pack failed\n{stderr}");
    let layout = Layout::verify(&packed);
    results.push((
        "the CLI's pack".into(),
        layout.sorted_paths(),
        layout.manifest_digest().to_string(),
    ));

    let (first, paths, digest) = &results[0];
    // The issue's example, as BuildKit decides it.
    for kept in [
        "a.tmp",
        "ab.tmp",
        "x1.bin",
        "up7.bin",
        "README.md",
        "notes.md",
    ] {
        assert!(paths.iter().any(|p| p == kept), "{first} keeps {kept}");
    }
    for dropped in ["b.tmp", "c.tmp", "^a.tmp", "x[1].bin", "7up.bin", "ext.txt"] {
        assert!(
            !paths.iter().any(|p| p == dropped),
            "{first} drops {dropped}"
        );
    }
    assert!(
        paths.len() > 100 && paths.len() < 320,
        "{} of the context's files packaged",
        paths.len()
    );
    for (who, other_paths, other_digest) in &results[1..] {
        let only_first: Vec<&String> = paths.iter().filter(|p| !other_paths.contains(p)).collect();
        let only_other: Vec<&String> = other_paths.iter().filter(|p| !paths.contains(p)).collect();
        assert!(
            only_first.is_empty() && only_other.is_empty(),
            "{first} and {who} disagree: only in {first}: {only_first:?}; only in {who}: {only_other:?}"
        );
        assert_eq!(other_digest, digest, "manifest digest of {who} vs {first}");
    }
}
