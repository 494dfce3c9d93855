//! End-to-end: builds driven by a model recipe (`-f model.yaml`) through
//! the real `docker buildx build`, with the fake hub for Hub and URL
//! sources. `#[ignore]`d like the other e2e tests.

use integration::engine::{frontend_image, Build};
use integration::fs::{self, TempDir};
use integration::hub::FakeHub;
use integration::layout::Layout;
use serde_json::Value;

/// Writes `text` as `model.yaml` in a fresh directory outside the context.
fn recipe(text: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new("recipe");
    let path = fs::write_file(dir.path(), "model.yaml", text.as_bytes());
    (dir, path)
}

fn context() -> TempDir {
    let ctx = TempDir::new("recipe-ctx");
    fs::write_file(
        ctx.path(),
        "config.json",
        br#"{"architectures":["LlamaForCausalLM"]}"#,
    );
    fs::write_file(
        ctx.path(),
        "model.safetensors",
        &fs::pseudo_random_bytes(5000, fs::fresh_seed()),
    );
    fs::write_file(ctx.path(), "LICENSE", b"MIT\n");
    ctx
}

fn build_ok(build: Build) -> (TempDir, Layout) {
    let out = TempDir::new("recipe-out");
    let dest = out.join("layout");
    let outcome = build.output(&dest).run();
    assert!(outcome.success, "expected success\n{}", outcome.report());
    let layout = Layout::verify(&dest);
    (out, layout)
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn a_recipe_gives_the_same_manifest_as_the_equivalent_build_args() {
    let ctx = context();
    let (_d, file) = recipe(
        "name: tiny\nsources:\n  - source: .\n    exclude: [LICENSE]\nlayer_packaging: tar+gzip\nconfig: {paramSize: 1M}\n",
    );
    let (_a, by_recipe) = build_ok(Build::new(ctx.path()).no_target().file(&file));
    let (_b, by_args) = build_ok(
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("name", "tiny")
            .arg("exclude", "LICENSE")
            .arg("layer_packaging", "tar+gzip")
            .arg("config_json", r#"{"config":{"paramSize":"1M"}}"#),
    );
    assert_eq!(by_recipe.manifest_digest(), by_args.manifest_digest());
    assert_eq!(by_recipe.ref_name(), Some("tiny"));
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn several_sources_compose_one_artifact_selected_by_the_syntax_line() {
    let hub = FakeHub::start();
    let weights = fs::pseudo_random_bytes(20_000, fs::fresh_seed());
    let commit = hub.create_repo(
        "org/weights",
        [
            ("model.safetensors", weights.clone()),
            ("config.json", br#"{"a":1}"#.to_vec()),
            ("README.md", b"hi".to_vec()),
        ],
        None,
    );
    hub.create_repo("org/tok", [("tokenizer.json", b"{}".to_vec())], None);
    let gguf_url = hub.put_file(
        "x/extra.gguf",
        &fs::pseudo_random_bytes(3000, fs::fresh_seed()),
    );
    let ctx = context();
    let text = format!(
        "# syntax={image}\nname: ${{name:-composed}}\nsources:\n  - source: huggingface://org/weights\n    revision: ${{revision:-main}}\n    exclude: [README.md]\n  - source: huggingface://org/tok\n    path: tokenizer\n  - source: {gguf_url}\n    path: extra\n  - source: LICENSE\nlayer_packaging: {{default: tar+gzip, weight: raw}}\nannotations:\n  org.example.team: ml\n",
        image = frontend_image()
    );
    let (_d, file) = recipe(&text);
    let (_o, layout) = build_ok(
        Build::new(ctx.path())
            .no_target()
            .no_syntax_arg()
            .file(&file)
            .arg("hf_endpoint", &hub.endpoint)
            .arg("name", "from-cli"),
    );
    assert_eq!(
        layout.ref_name(),
        Some("from-cli"),
        "a build arg wins over the recipe"
    );
    assert_eq!(
        layout.sorted_paths(),
        [
            "LICENSE",
            "config.json",
            "extra/extra.gguf",
            "model.safetensors",
            "tokenizer/tokenizer.json"
        ]
    );
    assert_eq!(
        layout.layer("model.safetensors").format(),
        "raw",
        "weight: raw"
    );
    assert_eq!(
        layout.layer("LICENSE").format(),
        "tar+gzip",
        "default: tar+gzip"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(layout.blob_path(layout.manifest_digest())).unwrap())
            .unwrap();
    assert_eq!(manifest["annotations"]["org.example.team"], "ml");
    let sources: Value = serde_json::from_str(
        manifest["annotations"]["org.cncf.model.sources"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sources.as_array().unwrap().len(), 4);
    assert_eq!(
        sources[0]["revision"],
        commit.as_str(),
        "the pinned commit of the Hub source"
    );
    assert_eq!(sources[1]["path"], "tokenizer");
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn recipe_errors_name_the_file_line_and_column() {
    let ctx = context();
    let cases = [
        ("target: packager/x\n", "model.yaml:1:1: target: unknown target \"packager/x\"; accepted: packager/modelpack, packager/generic, packager/bundle"),
        ("sources:\n  - source: .\n    path: /abs\n", "model.yaml:2:3: sources[0]: path \"/abs\" is not a clean relative folder"),
        ("descriptor:\n  createdAt: yesterday\n", "model.yaml:1:1: descriptor: descriptor.createdAt \"yesterday\" is not an RFC 3339 date-time"),
        ("name: x\nsources:\n  - source: .\n    incude: [a]\n", "model.yaml:4:5: sources[0].incude: unknown field `incude`"),
        ("sources:\n  - source: huggingface://o/r\n    revision: ${rev}\n", "model.yaml:3:5: sources[0].revision: build arg \"rev\" is not set"),
        ("layer_packaging: zip\n", "model.yaml:1:18: layer_packaging: unknown layer packaging \"zip\""),
        (
            "sources:\n  - source: .\n    include: [config.json]\n  - source: .\n    include: [config.json]\n",
            "model.yaml: sources[0] (.) and sources[1] (.) both give \"config.json\"",
        ),
    ];
    for (text, want) in cases {
        let (_d, file) = recipe(text);
        let outcome = Build::new(ctx.path()).no_target().file(&file).run();
        let line = outcome.assert_failure_with(want);
        assert!(line.starts_with("ERROR: "), "{line}");
    }
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn the_bake_example_packages_a_hub_repo_a_gated_repo_and_a_local_directory() {
    use integration::engine::{default_timeout, run_with_env, Engine};
    let hub = FakeHub::start();
    let seed = fs::fresh_seed();
    let public = format!("org/public-{seed:x}");
    let gated = format!("org/gated-{seed:x}");
    let token = format!("hf_itest{seed:016x}");
    let public_commit = hub.create_repo(
        &public,
        [
            ("config.json", format!(r#"{{"p":"{seed:x}"}}"#).into_bytes()),
            ("model.safetensors", fs::pseudo_random_bytes(4000, seed)),
        ],
        None,
    );
    let gated_commit = hub.create_repo(
        &gated,
        [
            ("config.json", format!(r#"{{"g":"{seed:x}"}}"#).into_bytes()),
            ("model.safetensors", fs::pseudo_random_bytes(4000, seed ^ 1)),
        ],
        Some(serde_json::json!({"gated": "manual", "tokens": [token]})),
    );
    let local = context();
    let out = TempDir::new("bake-out");
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .canonicalize()
        .unwrap();
    let vars = [
        ("FRONTEND", frontend_image()),
        ("HF_ENDPOINT", hub.endpoint.clone()),
        ("HUB_REPO", public.clone()),
        ("GATED_REPO", gated.clone()),
        ("LOCAL_DIR", local.path().display().to_string()),
        ("RECIPES", examples.join("recipes").display().to_string()),
        (
            "LOCAL_RECIPE",
            examples.join("recipes/tiny.yaml").display().to_string(),
        ),
        ("OUT", out.path().display().to_string()),
        ("HF_TOKEN", token.clone()),
    ];
    let bake = |engine: Engine, extra_env: &[(&str, &str)], flags: &[&str], targets: &[&str]| {
        let mut envs = engine.envs();
        envs.extend(vars.iter().map(|(k, v)| (k.to_string(), v.clone())));
        envs.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let file = examples.join("docker-bake.hcl").display().to_string();
        let mut args: Vec<String> = ["buildx", "bake", "--progress=plain", "-f", &file]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(flags.iter().chain(targets).map(|s| s.to_string()));
        let outcome = run_with_env(&engine.docker(), &args, &envs, default_timeout() * 2);
        assert!(
            outcome.success,
            "bake {targets:?} failed\n{}",
            outcome.report()
        );
        assert!(
            !outcome.output().contains(&token),
            "the token leaked into the build output"
        );
    };
    // buildx 0.13 (Docker 26): the public repo and the local directory.
    bake(Engine::Current, &[], &[], &["hub", "local"]);
    // The gated repo's token download needs the host network on these
    // engines, an entitlement only newer bake grants (buildx 0.29 client).
    // (Paths outside the working directory: no fs entitlement prompts.)
    bake(
        Engine::NextClientOnCurrent,
        &[
            ("DOWNLOAD_NETWORK", "host"),
            ("BUILDX_BAKE_ENTITLEMENTS_FS", "0"),
        ],
        &["--allow=network.host"],
        &["gated"],
    );
    let hub_layout = Layout::verify(out.join("hub"));
    let gated_layout = Layout::verify(out.join("gated"));
    let local_layout = Layout::verify(out.join("local"));
    assert_eq!(
        hub_layout.sorted_paths(),
        ["config.json", "model.safetensors"]
    );
    assert_eq!(
        gated_layout.sorted_paths(),
        ["config.json", "model.safetensors"]
    );
    assert_eq!(
        local_layout.sorted_paths(),
        ["LICENSE", "config.json", "model.safetensors"]
    );
    assert_eq!(local_layout.ref_name(), Some("tiny"));
    for (layout, commit) in [
        (&hub_layout, &public_commit),
        (&gated_layout, &gated_commit),
    ] {
        let config: Value = serde_json::from_slice(
            &std::fs::read(layout.blob_path(&layout_config_digest(layout))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            config["descriptor"]["revision"],
            commit.as_str(),
            "the pinned commit"
        );
    }
}

/// The config blob digest of a layout's manifest.
fn layout_config_digest(layout: &Layout) -> String {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(layout.blob_path(layout.manifest_digest())).unwrap())
            .unwrap();
    manifest["config"]["digest"].as_str().unwrap().to_string()
}

fn manifest_of(layout: &Layout) -> Value {
    serde_json::from_slice(&std::fs::read(layout.blob_path(layout.manifest_digest())).unwrap())
        .unwrap()
}

fn config_of(layout: &Layout) -> Value {
    serde_json::from_slice(&std::fs::read(layout.blob_path(&layout_config_digest(layout))).unwrap())
        .unwrap()
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn every_field_of_a_single_source_recipe_and_the_target_it_picks() {
    let hub = FakeHub::start();
    let seed = fs::fresh_seed();
    let repo = format!("org/fields-{seed:x}");
    let files = [
        (
            "config.json",
            br#"{"architectures":["LlamaForCausalLM"]}"#.to_vec(),
        ),
        ("model.safetensors", fs::pseudo_random_bytes(6000, seed)),
        ("README.md", b"# readme\n".to_vec()),
        ("notes.txt", b"notes\n".to_vec()),
    ];
    let commit = hub.create_repo(&repo, files, None);
    let text = format!(
        "target: packager/generic\n\
         name: ${{name:-fields}}\n\
         sources:\n\
         \x20 - source: huggingface://{repo}\n\
         \x20   revision: ${{revision:-main}}\n\
         \x20   include: [\"*.json\", \"*.safetensors\", \"*.md\"]\n\
         \x20   exclude: README.md\n\
         layer_packaging: {{default: tar+zstd, weight: tar}}\n\
         descriptor:\n\
         \x20 authors: [\"${{author:-nobody}}\"]\n\
         config:\n\
         \x20 paramSize: 1M\n\
         annotations:\n\
         \x20 org.example.team: ${{team:-ml}}\n"
    );
    let (_d, file) = recipe(&text);
    let ctx = TempDir::new("recipe-empty-ctx");
    let base = || {
        Build::new(ctx.path())
            .no_target()
            .file(&file)
            .arg("hf_endpoint", &hub.endpoint)
    };

    // The file's target (generic): its artifactType and annotations.
    let out = TempDir::new("recipe-generic");
    let dest = out.join("layout");
    let outcome = base().output(&dest).run();
    assert!(outcome.success, "{}", outcome.report());
    let blob = |d: &str| std::fs::read(dest.join("blobs").join(d.replacen(':', "/", 1))).unwrap();
    let index: Value =
        serde_json::from_slice(&std::fs::read(dest.join("index.json")).unwrap()).unwrap();
    let m: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    assert_eq!(m["artifactType"], "application/vnd.unknown.artifact.v1");
    assert_eq!(m["annotations"]["org.example.team"], "ml");
    let titles: Vec<&str> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l["annotations"]["org.opencontainers.image.title"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(
        titles.contains(&"config.json") && titles.contains(&"model.safetensors"),
        "{titles:?}"
    );

    // --target wins; build args fill ${…} and win over fields.
    let (_m, model) = build_ok(
        base()
            .target("packager/modelpack")
            .arg("author", "Ann")
            .arg("team", "infra")
            .arg("revision", &commit)
            .arg("include", "*.json,*.safetensors,*.txt"),
    );
    let m = manifest_of(&model);
    assert_eq!(
        m["artifactType"],
        "application/vnd.cncf.model.manifest.v1+json"
    );
    assert_eq!(m["annotations"]["org.example.team"], "infra");
    assert_eq!(
        model.sorted_paths(),
        ["config.json", "model.safetensors", "notes.txt"],
        "build-arg include wins"
    );
    assert_eq!(model.ref_name(), Some("fields"));
    assert_eq!(
        model.layer("model.safetensors").format(),
        "tar",
        "weight: tar"
    );
    assert_eq!(
        model.layer("config.json").format(),
        "tar+zstd",
        "default: tar+zstd"
    );
    let config = config_of(&model);
    assert_eq!(config["descriptor"]["authors"], serde_json::json!(["Ann"]));
    assert_eq!(config["descriptor"]["revision"], commit.as_str());
    assert_eq!(config["config"]["paramSize"], "1M");
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn a_file_with_only_the_syntax_line_keeps_the_build_args() {
    let ctx = context();
    let (_d, file) = recipe(&format!("# syntax={}\n", frontend_image()));
    let (_a, layout) = build_ok(
        Build::new(ctx.path())
            .no_syntax_arg()
            .file(&file)
            .arg("source", ".")
            .arg("name", "plain"),
    );
    assert_eq!(layout.ref_name(), Some("plain"));
    assert_eq!(
        layout.sorted_paths(),
        ["LICENSE", "config.json", "model.safetensors"]
    );
    let (_b, by_stdin) = build_ok(
        Build::new(ctx.path())
            .arg("source", ".")
            .arg("name", "plain"),
    );
    assert_eq!(layout.manifest_digest(), by_stdin.manifest_digest());
}

#[test]
#[ignore = "needs the engines and the frontend image: run integration/test.sh"]
fn call_outline_and_targets_show_the_recipe() {
    use integration::engine::Engine;
    let ctx = context();
    let (_d, file) = recipe(
        "target: packager/generic\nname: ${name:-x}\nsources:\n  - source: huggingface://org/weights\n    revision: ${rev:-main}\n  - source: LICENSE\n    path: legal\n",
    );
    // `--call` needs buildx >= 0.15: the buildx 0.29 client on Docker 26.
    let engine = Engine::NextClientOnCurrent;
    let run = |call: &str| {
        let outcome = Build::new(ctx.path())
            .engine(engine)
            .no_target()
            .file(&file)
            .arg("rev", "v2")
            .call(call)
            .run();
        assert!(outcome.success, "--call {call}\n{}", outcome.report());
        String::from_utf8_lossy(&outcome.stdout).into_owned()
    };
    let outline = run("outline");
    assert!(
        outline.contains("packager/generic"),
        "the recipe's target\n{outline}"
    );
    assert!(
        outline.contains("huggingface://org/weights") && outline.contains("LICENSE → legal/"),
        "the sources\n{outline}"
    );
    let rev = outline
        .lines()
        .find(|l| l.split_whitespace().next() == Some("rev"))
        .unwrap_or_else(|| panic!("rev listed\n{outline}"));
    assert!(rev.contains("v2"), "the value given: {rev}");
    let targets = run("targets");
    assert!(
        targets.contains("packager/generic") && targets.contains("(default)"),
        "the recipe's target is the default\n{targets}"
    );
}
