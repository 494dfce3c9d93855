//! End-to-end: the example pipelines of `examples/ci/` (a GitHub Actions
//! workflow, a GitLab CI job and a bake file), through the one script they
//! call, `examples/ci/publish.sh`, run here as a CI job would run it: on
//! Docker 28.5 with the containerd image store (`Engine::Store`, whose
//! docker driver exports build caches), `CACHE=registry` to the local
//! registry, models from the fake Hub. What it pushes must be what the
//! command line's `pack` writes for the same source and format, and the
//! cache image must be in the registry.
//!
//! `#[ignore]`d like the other e2e tests; `integration/test.sh` runs them
//! after starting the engines. The workflow file itself is checked by
//! actionlint (`integration/actionlint.sh`, in test.sh's lint step).

use std::path::PathBuf;

use integration::engine::{default_timeout, frontend_image, run, run_with_env, Engine};
use integration::fs::{self, TempDir};
use integration::hub::{unique_repo, FakeHub};
use integration::layout::Layout;
use oci_registry::testing::skip_without;

/// The registry the tests push to (`integration/engine.sh`).
const REGISTRY: &str = "127.0.0.1:5000";

fn ci_dir() -> PathBuf {
    integration::repo_root().join("examples/ci")
}

/// The crane binary: `CRANE`, else `crane` on PATH; `None` (after saying
/// so, or panicking when `CI=true`) without one.
fn crane() -> Option<String> {
    match std::env::var("CRANE") {
        Ok(c) if !c.is_empty() => Some(c),
        _ if oci_registry::testing::which("crane") => Some("crane".to_string()),
        _ => {
            skip_without("crane (set CRANE, e.g. /opt/modelpack-engine-28/usr/bin/crane)");
            None
        }
    }
}

/// `crane ARGS… --insecure`, which must succeed; its stdout.
fn crane_ok(crane: &str, args: &[&str]) -> String {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.push("--insecure".into());
    let out = run(crane, &all, default_timeout());
    assert!(out.success, "crane {args:?} failed\n{}", out.report());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A config, a README and an LFS weight, unique to this run.
fn repo_files(tag: &str) -> Vec<(String, Vec<u8>)> {
    let seed = fs::fresh_seed();
    vec![
        (
            ".gitattributes".to_string(),
            b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n".to_vec(),
        ),
        (
            "config.json".to_string(),
            format!(r#"{{"architectures":["TinyForCausalLM"],"n":"{tag}-{seed:x}"}}"#).into_bytes(),
        ),
        (
            "README.md".to_string(),
            format!("# {tag} {seed:x}\n").into_bytes(),
        ),
        (
            "model.safetensors".to_string(),
            fs::pseudo_random_bytes(300 << 10, seed),
        ),
    ]
}

/// Runs `examples/ci/publish.sh` on the store engine with `env` (plus what
/// every run needs: the engine, the frontend, the CLI, the fake Hub, host
/// networking for the downloads, plain HTTP to the registry); returns the
/// `REF@digest` lines it prints.
fn publish(hub: &FakeHub, env: &[(&str, String)]) -> Vec<String> {
    let engine = Engine::Store;
    engine.assert_ready();
    let mut envs = engine.envs();
    envs.extend(
        [
            ("DOCKER", engine.docker()),
            ("FRONTEND", frontend_image()),
            ("HF_ENDPOINT", hub.endpoint.clone()),
            ("DOWNLOAD_NETWORK", "host".to_string()),
            (
                "MODELPACK_CLI",
                integration::cli_binary().display().to_string(),
            ),
            ("PUSH_FLAGS", "--plain-http".to_string()),
        ]
        .into_iter()
        .chain(env.iter().cloned())
        .map(|(k, v)| (k.to_string(), v)),
    );
    let script = ci_dir().join("publish.sh").display().to_string();
    let out = run_with_env("bash", &[script], &envs, default_timeout() * 3);
    assert!(out.success, "publish.sh failed\n{}", out.report());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The manifest digest the command line's `pack` writes for `source` in
/// `format`.
fn pack_digest(hub: &FakeHub, source: &str, format: &str) -> String {
    let out = TempDir::new("examples-ci-pack");
    let dest = out.join("layout");
    let (code, _, stderr) = integration::run_cli(
        &[
            "pack",
            source,
            "-o",
            dest.to_str().unwrap(),
            "--layer-packaging",
            format,
        ],
        &[("HF_ENDPOINT", &hub.endpoint)],
    );
    assert_eq!(code, 0, "pack {source} ({format}) failed\n{stderr}");
    Layout::verify(&dest).manifest_digest().to_string()
}

/// Asserts `reference` is a BuildKit cache image with at least one layer.
fn assert_cache_image(crane: &str, reference: &str) {
    let manifest: serde_json::Value =
        serde_json::from_str(&crane_ok(crane, &["manifest", reference])).unwrap_or_else(|e| {
            panic!("{reference}: the cache manifest is not JSON: {e}");
        });
    assert_eq!(
        manifest["config"]["mediaType"], "application/vnd.buildkit.cacheconfig.v0",
        "{reference} is not a BuildKit cache image: {manifest}"
    );
    let layers = manifest["layers"].as_array().map_or(0, Vec::len);
    assert!(
        layers > 0,
        "{reference}: a cache without layers: {manifest}"
    );
}

/// Splits `REF@sha256:…`.
fn split_pushed(line: &str) -> (&str, &str) {
    line.rsplit_once('@')
        .unwrap_or_else(|| panic!("publish.sh printed {line:?}, not REF@digest"))
}

#[test]
#[ignore = "needs the store engine, the registry and the frontend image: run integration/test.sh"]
fn publish_script_pushes_what_pack_writes_with_a_registry_cache() {
    let Some(crane) = crane() else { return };
    let hub = FakeHub::start();
    let repo = unique_repo("examples-ci");
    let commit = hub.create_repo(&repo, repo_files("one"), None);
    let source = format!("huggingface://{repo}@{commit}");
    let name = integration::unique_name("examples-ci");
    let reference = format!("{REGISTRY}/{name}/model:v1");
    let work = TempDir::new("examples-ci");
    let lines = publish(
        &hub,
        &[
            ("SOURCE", source.clone()),
            ("REF", reference.clone()),
            ("LAYER_PACKAGING", "tar+zstd".to_string()),
            ("CACHE", "registry".to_string()),
            ("OUT", work.join("out").display().to_string()),
        ],
    );
    assert_eq!(lines.len(), 1, "one pushed artifact: {lines:?}");
    let (pushed_ref, digest) = split_pushed(&lines[0]);
    assert_eq!(pushed_ref, reference);
    assert!(
        !hub.stats().body_downloads().is_empty(),
        "the build downloaded nothing from the Hub: the test proves nothing\n{}",
        hub.stats().describe()
    );
    assert_eq!(
        digest,
        pack_digest(&hub, &source, "tar+zstd"),
        "publish.sh pushed another artifact than `pack` writes"
    );
    assert_eq!(
        crane_ok(&crane, &["digest", &reference]),
        digest,
        "the registry holds another manifest"
    );
    // CACHE_REF defaults to REF's repository, tag buildcache.
    assert_cache_image(&crane, &format!("{REGISTRY}/{name}/model:buildcache"));
}

#[test]
#[ignore = "needs the store engine, the registry and the frontend image: run integration/test.sh"]
fn bake_file_publishes_every_model_in_every_format_with_a_shared_cache() {
    let Some(crane) = crane() else { return };
    let hub = FakeHub::start();
    let (a, b) = (
        unique_repo("examples-bake-a"),
        unique_repo("examples-bake-b"),
    );
    let commit_a = hub.create_repo(&a, repo_files("a"), None);
    hub.create_repo(&b, repo_files("b"), None);
    // One model pinned to a commit, one following its branch.
    let sources = [
        ("alpha", format!("huggingface://{a}@{commit_a}")),
        ("beta", format!("huggingface://{b}")),
    ];
    let formats = ["raw", "tar+zstd"];
    let registry = format!("{REGISTRY}/{}", integration::unique_name("examples-bake"));
    let work = TempDir::new("examples-bake");
    let models: Vec<String> = sources.iter().map(|(n, s)| format!("{n}={s}")).collect();
    let lines = publish(
        &hub,
        &[
            ("MODE", "bake".to_string()),
            ("MODELS", models.join(" ")),
            ("FORMATS", formats.join(",")),
            ("REGISTRY", registry.clone()),
            ("TAG", "v1".to_string()),
            ("CACHE", "registry".to_string()),
            ("OUT", work.join("out").display().to_string()),
        ],
    );
    let mut want = Vec::new();
    for (name, source) in &sources {
        for format in formats {
            let tag = format.replace('+', "-");
            let reference = format!("{registry}/{name}:v1-{tag}");
            want.push((reference, pack_digest(&hub, source, format)));
            assert!(
                work.join(format!("out/{name}-{tag}/index.json")).is_file(),
                "no layout for target {name}-{tag}"
            );
            assert_cache_image(&crane, &format!("{registry}/buildcache:{name}-{tag}"));
        }
    }
    let mut got: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            let (r, d) = split_pushed(l);
            (r.to_string(), d.to_string())
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "pushed artifacts (reference, digest) vs `pack`");
    for (reference, digest) in &want {
        assert_eq!(
            &crane_ok(&crane, &["digest", reference]),
            digest,
            "{reference}: the registry holds another manifest"
        );
    }
}

/// Every example pipeline calls the one script, and the GitHub workflow
/// uses the actions and inputs the docs promise.
#[test]
fn example_pipelines_call_the_publish_script() {
    let read = |f: &str| std::fs::read_to_string(ci_dir().join(f)).unwrap();
    for file in ["github-actions.yml", "gitlab-ci.yml"] {
        let text = read(file);
        assert!(
            text.contains("run: examples/ci/publish.sh")
                || text.contains("- examples/ci/publish.sh"),
            "{file} does not call examples/ci/publish.sh"
        );
    }
    let workflow = read("github-actions.yml");
    for needed in [
        "docker/setup-buildx-action@",
        "docker/build-push-action@",
        "build-args:",
        "hf-token=${{ secrets.HF_TOKEN }}",
        "cache-from: type=registry,",
        "cache-to: type=registry,",
        "outputs: type=local,",
        "MODE: bake",
    ] {
        assert!(
            workflow.contains(needed),
            "github-actions.yml lacks {needed}"
        );
    }
    let bake = read("docker-bake.hcl");
    for needed in ["matrix", "cache-to", "cache-from", "type=local,dest="] {
        assert!(bake.contains(needed), "docker-bake.hcl lacks {needed}");
    }
}
