//! End-to-end: the same model gives the same artifact on both engines,
//! Docker 26 + buildx 0.13 (`integration/engine.sh`) and Docker 28 + buildx
//! 0.29 (`integration/engine-next.sh`), in every layer format, from the build
//! context and from a (fake) Hugging Face repo.
//!
//! `#[ignore]`d for plain `cargo test`; `integration/test.sh` runs them after
//! starting both engines.

use integration::engine::{Build, Engine, Outcome};
use integration::fs::{self, TempDir};
use integration::hub::{unique_repo, FakeHub};
use integration::layout::Layout;

/// Every `layer_packaging` value.
const FORMATS: [&str; 4] = ["raw", "tar", "tar+gzip", "tar+zstd"];

/// The engines compared: the daemon differs, and so does the client.
const ENGINES: [Engine; 2] = [Engine::Current, Engine::Next];

/// A few small files of several kinds, with bytes unique to this run.
fn small_model() -> Vec<(&'static str, Vec<u8>)> {
    let seed = fs::fresh_seed();
    vec![
        (
            "config.json",
            format!(r#"{{"architectures":["TinyForCausalLM"],"nonce":"{seed:x}"}}"#).into_bytes(),
        ),
        ("model.safetensors", fs::pseudo_random_bytes(8 << 10, seed)),
        ("tokenizer/vocab.txt", b"a\nb\nc\n".to_vec()),
        ("README.md", b"# tiny\n".to_vec()),
        ("scripts/run.py", b"print('hi')\n".to_vec()),
    ]
}

/// Runs `build` on every engine at once (one thread each), exporting to a
/// fresh directory; returns each engine's outcome and verified layout.
fn build_on_every_engine(build: &Build, what: &str) -> Vec<(Engine, Outcome, Layout, TempDir)> {
    let runs: Vec<(Engine, Outcome, TempDir)> = std::thread::scope(|s| {
        let handles: Vec<_> = ENGINES
            .iter()
            .map(|&engine| {
                let out = TempDir::new("engines-out");
                let build = build.clone().engine(engine).output(out.join("layout"));
                s.spawn(move || (engine, build.run(), out))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("build thread"))
            .collect()
    });
    runs.into_iter()
        .map(|(engine, outcome, out)| {
            assert!(
                outcome.success,
                "{what}: the build failed on {engine:?}\n{}",
                outcome.report()
            );
            let layout = Layout::verify(out.join("layout"));
            (engine, outcome, layout, out)
        })
        .collect()
}

/// Asserts every engine wrote the same manifest, config and layer digests.
fn assert_same_artifact(results: &[(Engine, Outcome, Layout, TempDir)], what: &str) {
    let (first_engine, _, first, _) = &results[0];
    for (engine, _, layout, _) in &results[1..] {
        assert_eq!(
            layout.manifest_digest(),
            first.manifest_digest(),
            "{what}: manifest digest on {engine:?} differs from {first_engine:?}\n{:#}\nvs\n{:#}",
            layout.manifest,
            first.manifest
        );
    }
}

#[test]
#[ignore = "needs both engines and the frontend image: run integration/test.sh"]
fn context_model_gives_identical_digests_on_both_engines_in_every_format() {
    for engine in ENGINES {
        engine.assert_ready();
    }
    let ctx = TempDir::new("engines-ctx");
    let files = small_model();
    for (path, bytes) in &files {
        fs::write_file(ctx.path(), path, bytes);
    }
    for format in FORMATS {
        let build = Build::new(ctx.path())
            .arg("source", ".")
            .arg("layer_packaging", format);
        let results = build_on_every_engine(&build, &format!("context, {format}"));
        assert_eq!(
            results[0].2.paths().len(),
            files.len(),
            "context, {format}: one layer per file"
        );
        assert_same_artifact(&results, &format!("context, {format}"));
    }
}

#[test]
#[ignore = "needs both engines and the frontend image: run integration/test.sh"]
fn hub_repo_gives_identical_digests_on_both_engines_in_every_format() {
    for engine in ENGINES {
        engine.assert_ready();
    }
    let hub = FakeHub::start();
    let repo = unique_repo("engines");
    let files = small_model();
    hub.create_repo(&repo, files.iter().map(|(p, b)| (*p, b.clone())), None);
    let ctx = TempDir::new("engines-hf-ctx");
    for format in FORMATS {
        let build = Build::new(ctx.path())
            .arg("source", &format!("huggingface://{repo}"))
            .arg("hf_endpoint", &hub.endpoint)
            .arg("layer_packaging", format);
        let what = format!("huggingface://{repo}, {format}");
        let results = build_on_every_engine(&build, &what);
        assert_eq!(
            results[0].2.paths().len(),
            files.len(),
            "{what}: one layer per file\n{}",
            hub.stats().describe()
        );
        assert_same_artifact(&results, &what);
    }
}
