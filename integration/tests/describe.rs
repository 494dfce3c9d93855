//! End-to-end: the config describes the model from its own files
//! (safetensors and GGUF headers, `config.json`, the model card), read
//! inside the build, and `config_json` adds what files cannot say.
//!
//! The fixtures under `modelpack/tests/fixtures/describe/` were written by
//! the real `safetensors` and `gguf` Python writers
//! (`modelpack/tests/fixtures/make_fixtures.py`). Every expected value here
//! is computed in the test from the shapes and dtypes that script wrote,
//! never copied from the frontend's output.

use std::path::{Path, PathBuf};

use integration::engine::Build;
use integration::fs::{self, TempDir};
use integration::layout::Layout;
use integration::repo_root;
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = repo_root()
        .join("modelpack/tests/fixtures/describe")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()))
}

/// A context holding `(path in the model, fixture name)` pairs.
fn context(files: &[(&str, &str)]) -> TempDir {
    let ctx = TempDir::new("ctx");
    for (path, name) in files {
        fs::write_file(ctx.path(), path, &fixture(name));
    }
    ctx
}

fn build(ctx: &Path, args: &[(&str, &str)]) -> (TempDir, Layout) {
    let out = TempDir::new("out");
    let dest = out.join("layout");
    let mut b = Build::new(ctx).arg("source", ".");
    for (k, v) in args {
        b = b.arg(k, v);
    }
    b.output(&dest).run().assert_success();
    let layout = Layout::verify(&dest);
    (out, layout)
}

/// The spec's paramSize for counts under a million, computed the plain way:
/// thousands with one decimal, a trailing `.0` dropped.
fn kilo(count: u64) -> String {
    let s = format!("{:.1}", count as f64 / 1000.0);
    format!("{}K", s.trim_end_matches(".0"))
}

fn product(shape: &[u64]) -> u64 {
    shape.iter().product()
}

fn sharded_safetensors_model() -> TempDir {
    context(&[
        (
            "model-00001-of-00002.safetensors",
            "sharded/model-00001-of-00002.safetensors",
        ),
        (
            "model-00002-of-00002.safetensors",
            "sharded/model-00002-of-00002.safetensors",
        ),
        (
            "model.safetensors.index.json",
            "sharded/model.safetensors.index.json",
        ),
        ("config.json", "config_llama.json"),
        ("README.md", "README_license.md"),
    ])
}

#[test]
#[ignore = "needs docker buildx and the frontend image (integration/test.sh)"]
fn sharded_safetensors_with_config_and_card() {
    let ctx = sharded_safetensors_model();
    let (_out, layout) = build(ctx.path(), &[]);
    // Shard 1: a [10,10] F16 + b [5] F16; shard 2: c [7,3] F16.
    let params = product(&[10, 10]) + product(&[5]) + product(&[7, 3]);
    let config = &layout.config["config"];
    assert_eq!(config["paramSize"], json!(kilo(params)), "{config}");
    assert_eq!(
        config["precision"], "float16",
        "headers win over torch_dtype bfloat16: {config}"
    );
    assert_eq!(config["architecture"], "LlamaForCausalLM");
    assert_eq!(config["format"], "safetensors");
    assert_eq!(
        config.get("quantization"),
        None,
        "nothing says it is quantized"
    );
    // The card lists en, fr, english, en-US, ZH, de: only two-letter lower-case codes stay.
    assert_eq!(
        config["capabilities"]["languages"],
        json!(["en", "fr", "de"])
    );
    assert_eq!(
        config["capabilities"]["inputTypes"],
        json!(["text"]),
        "pipeline_tag text-generation"
    );
    assert_eq!(config["capabilities"]["outputTypes"], json!(["text"]));
    let descriptor = &layout.config["descriptor"];
    assert_eq!(descriptor["licenses"], json!(["apache-2.0"]));
    assert_eq!(descriptor["name"], "model", "the source's default name");

    // The same fields whatever the layer format.
    let (_out2, tarred) = build(ctx.path(), &[("layer_packaging", "tar+zstd")]);
    assert_eq!(tarred.config["config"], layout.config["config"]);
    assert_eq!(tarred.config["descriptor"], layout.config["descriptor"]);
}

#[test]
#[ignore = "needs docker buildx and the frontend image (integration/test.sh)"]
fn gguf_metadata_and_a_card_with_another_licence() {
    let ctx = context(&[
        ("tiny.gguf", "model.gguf"),
        ("README.md", "README_other.md"),
    ]);
    let (_out, layout) = build(ctx.path(), &[]);
    // token_embd [8,16] F32, blk.0.attn_q [16,16] F16, output_norm [16] F32.
    let f32s = product(&[8, 16]) + product(&[16]);
    let f16s = product(&[16, 16]);
    assert!(f16s > f32s, "the fixture is mostly float16");
    let config = &layout.config["config"];
    assert_eq!(config["paramSize"], json!(kilo(f32s + f16s)), "{config}");
    assert_eq!(config["precision"], "float16,float32", "dominant first");
    assert_eq!(config["architecture"], "llama", "general.architecture");
    assert_eq!(config["quantization"], "Q4_K_M", "general.file_type 15");
    assert_eq!(config["format"], "gguf");
    assert_eq!(
        config["capabilities"]["inputTypes"],
        json!(["audio"]),
        "automatic-speech-recognition"
    );
    assert_eq!(config["capabilities"]["outputTypes"], json!(["text"]));
    assert_eq!(config["capabilities"]["languages"], json!(["de"]));
    let descriptor = &layout.config["descriptor"];
    assert_eq!(
        descriptor["licenses"],
        json!(["llama3"]),
        "license: other + license_name, over GGUF's"
    );
    assert_eq!(
        descriptor["name"], "Tiny Llama",
        "general.name when no name build arg is given"
    );
    assert_eq!(descriptor["family"], "tiny-llama");
    assert_eq!(descriptor["version"], "v1.0");
    assert_eq!(
        layout.ref_name(),
        Some("model"),
        "the reference name stays the source's default"
    );

    let (_out2, named) = build(ctx.path(), &[("name", "mine")]);
    assert_eq!(
        named.config["descriptor"]["name"], "mine",
        "a given name wins over general.name"
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image (integration/test.sh)"]
fn split_gguf_is_counted_over_all_its_files() {
    let ctx = context(&[
        ("m-00001-of-00002.gguf", "split-00001-of-00002.gguf"),
        ("m-00002-of-00002.gguf", "split-00002-of-00002.gguf"),
        ("config.json", "config_model_type_only.json"),
    ]);
    let (_out, layout) = build(ctx.path(), &[]);
    let config = &layout.config["config"];
    // a [4,4] F32 in the first file, b [8] F32 in the second: 24 parameters,
    // too few for the spec's K scale, so no paramSize.
    assert_eq!(config.get("paramSize"), None, "{config}");
    assert_eq!(
        config["precision"], "float32",
        "both splits' tensors are float32"
    );
    assert_eq!(
        config["architecture"], "bert",
        "config.json's model_type wins over general.architecture"
    );
    assert_eq!(
        config.get("quantization"),
        None,
        "file_type ALL_F32 is not a quantization: {config}"
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image (integration/test.sh)"]
fn quantization_from_config_json() {
    let ctx = context(&[
        ("model.safetensors", "single.safetensors"),
        ("config.json", "config_awq.json"),
    ]);
    let (_out, layout) = build(ctx.path(), &[]);
    let config = &layout.config["config"];
    assert_eq!(
        config["quantization"], "awq",
        "quantization_config.quant_method AWQ, lower-cased: {config}"
    );
    assert_eq!(config["architecture"], "MistralForCausalLM");
    // layer [32,8] F16, embed [16,8] F32, position_ids [1,32] I64: float16 dominates,
    // float32 follows, the int64 helper tensor is not a precision.
    assert!(product(&[32, 8]) > product(&[16, 8]) && product(&[16, 8]) > product(&[1, 32]));
    assert_eq!(config["precision"], "float16,float32");
    assert_eq!(
        config["paramSize"],
        json!(kilo(
            product(&[32, 8]) + product(&[16, 8]) + product(&[1, 32])
        ))
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image (integration/test.sh)"]
fn config_json_adds_and_overrides_fields() {
    let ctx = sharded_safetensors_model();
    let over = r#"{"descriptor":{"authors":["Ada"],"vendor":"ACME","licenses":["mit"]},"config":{"paramSize":"7B","capabilities":{"toolUsage":true}}}"#;
    let (_out, layout) = build(ctx.path(), &[("config_json", over)]);
    let (descriptor, config): (&Value, &Value) =
        (&layout.config["descriptor"], &layout.config["config"]);
    assert_eq!(descriptor["authors"], json!(["Ada"]));
    assert_eq!(descriptor["vendor"], "ACME");
    assert_eq!(
        descriptor["licenses"],
        json!(["mit"]),
        "the user wins over the card"
    );
    assert_eq!(config["paramSize"], "7B", "the user wins over the headers");
    assert_eq!(
        config["precision"], "float16",
        "fields the user does not set stay"
    );
    assert_eq!(config["capabilities"]["toolUsage"], true);
    assert_eq!(
        config["capabilities"]["languages"],
        json!(["en", "fr", "de"]),
        "objects merge key by key"
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image (integration/test.sh)"]
fn config_json_errors_name_the_field() {
    let ctx = context(&[("config.json", "config_llama.json")]);
    for (value, expected) in [
        (
            r#"{"descriptor":{"autor":"x"}}"#,
            "build-arg config_json: descriptor.autor: unknown field `autor`",
        ),
        (
            r#"{"config":{"precision":"fp16"}}"#,
            "build-arg config_json: config.precision \"fp16\": \"fp16\" is not one of float32",
        ),
        ("{not json", "build-arg config_json: not valid JSON"),
    ] {
        let out = TempDir::new("out");
        let outcome = Build::new(ctx.path())
            .arg("source", ".")
            .arg("config_json", value)
            .output(out.join("layout"))
            .run();
        let line = outcome.assert_failure_with(expected);
        assert!(line.starts_with("ERROR: "), "{line}");
    }
}
