//! End-to-end: `docker buildx build --call targets|outline|check` with
//! buildx 0.29 (`--call` needs buildx ≥ 0.15; Debian's buildx for Docker 26
//! is older), against Docker 26 and against Docker 28. Nothing is built or
//! fetched: the frontend answers from the build args alone.
//!
//! `#[ignore]`d for plain `cargo test`; `integration/test.sh` runs them after
//! starting both engines.

use integration::engine::{Build, Engine, Outcome};
use integration::fs::TempDir;

/// Engines with a buildx that knows `--call`.
const ENGINES: [Engine; 2] = [Engine::NextClientOnCurrent, Engine::Next];

/// Every build arg the frontend reads (`frontend/src/options.rs` `KNOWN`).
const ARGS: [&str; 23] = [
    "source",
    "name",
    "layer_packaging",
    "compress_weights",
    "media_types",
    "attest",
    "output_mode",
    "include",
    "exclude",
    "revision",
    "hf_endpoint",
    "download_network",
    "SOURCE_DATE_EPOCH",
    "config_json",
    "checksum",
    "model_dir",
    "base_image",
    "artifact_type",
    "max_connections",
    "download_timeout",
    "debug_dump_llb",
    "dockerfile",
    "image_target",
];

/// Runs `--call <name>` with `args` on every engine; returns the outcomes.
fn call(name: &str, args: &[(&str, &str)]) -> Vec<(Engine, Outcome)> {
    let ctx = TempDir::new("call-ctx");
    ENGINES
        .iter()
        .map(|&engine| {
            engine.assert_ready();
            let mut build = Build::new(ctx.path()).engine(engine).call(name);
            for (k, v) in args {
                build = build.arg(k, v);
            }
            (engine, build.run())
        })
        .collect()
}

#[test]
#[ignore = "needs the engines and the frontend image: run integration/test.sh"]
fn call_targets_lists_the_targets() {
    for (engine, outcome) in call("targets", &[]) {
        assert!(outcome.success, "{engine:?}\n{}", outcome.report());
        let out = String::from_utf8_lossy(&outcome.stdout);
        for target in ["packager/modelpack", "packager/generic", "packager/bundle"] {
            assert!(
                out.contains(target),
                "{engine:?}: --call targets lacks {target}\n{}",
                outcome.report()
            );
        }
    }
}

#[test]
#[ignore = "needs the engines and the frontend image: run integration/test.sh"]
fn call_outline_lists_every_build_arg_with_its_default() {
    for (engine, outcome) in call("outline", &[]) {
        assert!(outcome.success, "{engine:?}\n{}", outcome.report());
        let out = String::from_utf8_lossy(&outcome.stdout);
        for arg in ARGS {
            assert!(
                out.lines()
                    .any(|l| l.split_whitespace().next() == Some(arg)),
                "{engine:?}: --call outline has no row for {arg}\n{}",
                outcome.report()
            );
        }
        let packaging = out
            .lines()
            .find(|l| l.starts_with("layer_packaging"))
            .unwrap_or_default();
        assert!(
            packaging.contains("raw"),
            "{engine:?}: layer_packaging's default raw missing: {packaging:?}"
        );
    }
}

#[test]
#[ignore = "needs the engines and the frontend image: run integration/test.sh"]
fn call_outline_json_has_every_arg() {
    for (engine, outcome) in call("outline,format=json", &[]) {
        assert!(outcome.success, "{engine:?}\n{}", outcome.report());
        let json: serde_json::Value = serde_json::from_slice(&outcome.stdout).unwrap_or_else(|e| {
            panic!(
                "{engine:?}: outline JSON does not parse: {e}\n{}",
                outcome.report()
            )
        });
        let names: Vec<&str> = json["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["name"].as_str())
            .collect();
        assert_eq!(names, ARGS, "{engine:?}: outline args\n{json:#}");
    }
}

/// Asserts `--call check` failed and printed a warning containing each of
/// `fragments`.
fn assert_check_fails_naming(args: &[(&str, &str)], fragments: &[&str]) {
    for (engine, outcome) in call("check", args) {
        assert!(!outcome.timed_out, "{engine:?}: hung\n{}", outcome.report());
        assert!(
            !outcome.success,
            "{engine:?}: --call check passed bad args {args:?}\n{}",
            outcome.report()
        );
        let out = outcome.output();
        assert!(
            out.contains("WARNING"),
            "{engine:?}: no WARNING printed\n{}",
            outcome.report()
        );
        for f in fragments {
            assert!(
                out.contains(f),
                "{engine:?}: the check output does not name {f:?}\n{}",
                outcome.report()
            );
        }
    }
}

#[test]
#[ignore = "needs the engines and the frontend image: run integration/test.sh"]
fn call_check_names_a_misspelt_arg_and_exits_non_zero() {
    assert_check_fails_naming(
        &[("source", "."), ("layer_packing", "tar")],
        &["UnknownBuildArg", "layer_packing"],
    );
}

#[test]
#[ignore = "needs the engines and the frontend image: run integration/test.sh"]
fn call_check_names_a_bad_source_and_every_bad_value() {
    assert_check_fails_naming(
        &[
            ("source", "s3://bucket/model"),
            ("layer_packaging", "zip"),
            ("name", "a b"),
        ],
        &[
            "InvalidSource",
            "build-arg source",
            "build-arg layer_packaging",
            "\"zip\"",
            "build-arg name",
        ],
    );
    assert_check_fails_naming(
        &[("name", "x")],
        &["MissingSource", "build-arg source is required"],
    );
}

#[test]
#[ignore = "needs the engines and the frontend image: run integration/test.sh"]
fn call_check_passes_a_good_set() {
    let good = [
        ("source", "huggingface://org/model@v1"),
        ("layer_packaging", "tar+zstd"),
        ("name", "tiny"),
        ("include", "*.safetensors"),
        ("SOURCE_DATE_EPOCH", "0"),
    ];
    for (engine, outcome) in call("check", &good) {
        assert!(
            outcome.success,
            "{engine:?}: --call check rejected good args\n{}",
            outcome.report()
        );
        assert!(
            !outcome.output().contains("WARNING: "),
            "{engine:?}\n{}",
            outcome.report()
        );
    }
}
