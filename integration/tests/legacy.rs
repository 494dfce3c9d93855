//! End-to-end: `media_types=cnai` (model-spec v0.0.6's names, for Harbor up
//! to 2.15.2 and modctl 0.2.2) through the real `docker buildx build`, the
//! same by a recipe's `media_types:` and by the CLI's
//! `pack --media-types cnai` (same manifest digest), and the CLI's
//! `validate` and `unpack` read it back. `#[ignore]`d like the other e2e
//! tests; the CLI is `MODELPACK_CLI` (see `tests/cli.rs`).

use std::path::Path;

use integration::engine::Build;
use integration::fs::{self, TempDir};
use serde_json::Value;

/// model-spec v0.0.6 `specs-go/v1`: `ArtifactTypeModelManifest`,
/// `MediaTypeModelConfig`, the layer media types' prefix and every
/// `Annotation*` constant.
const ARTIFACT_TYPE: &str = "application/vnd.cnai.model.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.cnai.model.config.v1+json";
const LAYER_PREFIX: &str = "application/vnd.cnai.model.";
const ANNOTATIONS: &[&str] = &[
    "org.cnai.model.file.mediatype.untested",
    "org.cnai.model.file.metadata+json",
    "org.cnai.model.filepath",
];

fn context() -> TempDir {
    let ctx = TempDir::new("cnai-ctx");
    let root = ctx.path();
    fs::write_file(
        root,
        "config.json",
        br#"{"architectures":["TinyForCausalLM"]}"#,
    );
    fs::write_file(
        root,
        "model.safetensors",
        &fs::pseudo_random_bytes(64 << 10, fs::fresh_seed()),
    );
    fs::write_file(
        root,
        "README.md",
        b"---\nlanguage: [en]\npipeline_tag: text-generation\n---\n# tiny\n",
    );
    let script = fs::write_file(root, "scripts/run.py", b"print('hi')\n");
    fs::set_mode(&script, 0o755);
    ctx
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn blob(layout: &Path, digest: &str) -> Value {
    read_json(&layout.join("blobs/sha256").join(&digest[7..]))
}

/// (manifest digest, manifest, config) of a single-manifest layout.
fn documents(layout: &Path) -> (String, Value, Value) {
    let index = read_json(&layout.join("index.json"));
    let entry = &index["manifests"][0];
    assert_eq!(entry["artifactType"], ARTIFACT_TYPE, "index.json entry");
    let digest = entry["digest"].as_str().unwrap().to_string();
    let manifest = blob(layout, &digest);
    let config = blob(layout, manifest["config"]["digest"].as_str().unwrap());
    (digest, manifest, config)
}

fn v006_schema_errors(config: &Value) -> Vec<String> {
    let path = integration::repo_root().join("spec/model-spec-v0.0.6-config-schema.json");
    let schema: Value = read_json(&path);
    let validator = jsonschema::validator_for(&schema).expect("the v0.0.6 schema compiles");
    validator
        .iter_errors(config)
        .map(|e| e.to_string())
        .collect()
}

fn cli(args: &[&str]) -> (i32, String, String) {
    integration::run_cli(args, &[])
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn cnai_build_writes_model_spec_v0_0_6_names_and_the_cli_reads_it() {
    let ctx = context();
    for format in ["raw", "tar+zstd"] {
        let out = TempDir::new("cnai-out");
        let built = out.join("frontend");
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("name", "tiny")
            .arg("layer_packaging", format)
            .arg("media_types", "cnai")
            .output(&built)
            .run()
            .assert_success();
        let (digest, manifest, config) = documents(&built);

        assert_eq!(manifest["artifactType"], ARTIFACT_TYPE, "{format}");
        assert_eq!(manifest["config"]["mediaType"], CONFIG_TYPE, "{format}");
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 4, "{format}");
        for l in layers {
            let t = l["mediaType"].as_str().unwrap();
            let rest = t
                .strip_prefix(LAYER_PREFIX)
                .unwrap_or_else(|| panic!("{format}: {t}"));
            let (kind, f) = rest.split_once(".v1.").unwrap();
            assert!(
                ["weight", "weight.config", "code", "doc", "dataset"].contains(&kind),
                "{t}"
            );
            let want = if kind == "weight" && format != "raw" {
                "tar"
            } else {
                format
            };
            assert_eq!(f, want, "{t}");
            let mut keys: Vec<&str> = l["annotations"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            keys.retain(|k| *k != "org.opencontainers.image.title");
            assert_eq!(keys, ANNOTATIONS, "{format}: layer annotations");
        }
        assert!(
            !manifest.to_string().contains("cncf"),
            "{format}: {manifest}"
        );

        // modelfs.diff_ids, and nothing v0.0.6's schema lacks (the model
        // card's capabilities are left out).
        let fs = config["modelfs"].as_object().unwrap();
        assert!(
            fs.contains_key("diff_ids") && !fs.contains_key("diffIds"),
            "{config}"
        );
        assert_eq!(fs["diff_ids"].as_array().unwrap().len(), 4);
        assert!(config["config"].get("capabilities").is_none(), "{config}");
        assert_eq!(
            v006_schema_errors(&config),
            Vec::<String>::new(),
            "{config}"
        );

        // The CLI packs the same folder to the same manifest.
        let packed = out.join("cli");
        let (code, stdout, stderr) = cli(&[
            "pack",
            ctx.path().to_str().unwrap(),
            "-o",
            packed.to_str().unwrap(),
            "--name",
            "tiny",
            "--layer-packaging",
            format,
            "--media-types",
            "cnai",
        ]);
        assert_eq!(code, 0, "{format}: pack\n{stderr}");
        assert!(stdout.contains(&digest), "{format}: {stdout}");
        assert_eq!(documents(&packed).0, digest, "{format}: CLI and frontend");

        // validate (warnings for the legacy names, no error) and unpack.
        let (code, stdout, stderr) = cli(&["validate", built.to_str().unwrap()]);
        assert_eq!(code, 0, "{format}: validate\n{stdout}\n{stderr}");
        let files = out.join("files");
        let (code, _, stderr) = cli(&[
            "unpack",
            built.to_str().unwrap(),
            "-o",
            files.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{format}: unpack\n{stderr}");
        fs::assert_same_tree(ctx.path(), &files);
    }
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn a_recipe_asks_for_cnai_as_the_build_arg_does() {
    let ctx = context();
    let dir = TempDir::new("cnai-recipe");
    let file = fs::write_file(
        dir.path(),
        "model.yaml",
        b"name: tiny\nsources:\n  - source: .\nmedia_types: cnai\n",
    );
    let out = TempDir::new("cnai-out");
    Build::new(ctx.path())
        .no_target()
        .file(&file)
        .output(out.join("recipe"))
        .run()
        .assert_success();
    Build::new(ctx.path())
        .arg("source", ".")
        .arg("name", "tiny")
        .arg("media_types", "cnai")
        .output(out.join("args"))
        .run()
        .assert_success();
    assert_eq!(
        documents(&out.join("recipe")).0,
        documents(&out.join("args")).0
    );
    // The build arg wins over the recipe's field.
    Build::new(ctx.path())
        .no_target()
        .file(&file)
        .arg("media_types", "cncf")
        .output(out.join("cncf"))
        .run()
        .assert_success();
    let index = read_json(&out.join("cncf/index.json"));
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/vnd.cncf.model.manifest.v1+json"
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn an_unknown_spelling_fails_naming_the_values() {
    let ctx = context();
    let out = TempDir::new("cnai-out");
    Build::new(ctx.path())
        .arg("source", ".")
        .arg("media_types", "cnfc")
        .output(out.join("x"))
        .run()
        .assert_failure_with("build-arg media_types: unknown value \"cnfc\"; accepted: cncf, cnai");
}
