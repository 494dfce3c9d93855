//! Tests of `describe` against the fixtures written by
//! `modelpack/tests/fixtures/make_fixtures.py` (real safetensors and gguf
//! writers). Expected numbers are recomputed here from the script's shapes.

use super::*;
use model_card::CardFacts;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/describe")
}

fn fixture(name: &str) -> Vec<u8> {
    let p = fixture_dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A model file at `path` with the bytes of fixture `name`.
fn file(path: &str, name: &str) -> FileInput {
    FileInput::from_bytes(path, fixture(name))
}

fn prod(shape: &[u128]) -> u128 {
    shape.iter().product()
}

fn strs(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

#[test]
fn describe_single_safetensors() {
    let h = safetensors::read_header(&fixture("single.safetensors")[..]).unwrap();
    assert_eq!(h.elements_by_dtype.get("F16"), Some(&prod(&[32, 8])));
    assert_eq!(h.elements_by_dtype.get("F32"), Some(&prod(&[16, 8])));
    assert_eq!(h.elements_by_dtype.get("I64"), Some(&prod(&[1, 32])));
    assert_eq!(h.tensor_count, 3);
    assert_eq!(h.metadata.get("format").map(String::as_str), Some("pt"));

    let d = describe(&[file("model.safetensors", "single.safetensors")]);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let total = prod(&[32, 8]) + prod(&[16, 8]) + prod(&[1, 32]);
    assert_eq!(d.facts.param_count, Some(total));
    assert_eq!(d.facts.param_size, format_param_size(total));
    // F16 dominates, F32 follows, the int64 position ids do not appear.
    assert_eq!(d.facts.precision.as_deref(), Some("float16,float32"));
    assert_eq!(d.facts.format.as_deref(), Some("safetensors"));
}

#[test]
fn describe_sharded_safetensors() {
    let shards = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    let all: Vec<FileInput> = shards
        .iter()
        .map(|s| file(&format!("sub/{s}"), &format!("sharded/{s}")))
        .chain([file(
            "sub/model.safetensors.index.json",
            "sharded/model.safetensors.index.json",
        )])
        .collect();
    let d = describe(&all);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let total = prod(&[10, 10]) + prod(&[5]) + prod(&[7, 3]);
    assert_eq!(d.facts.param_count, Some(total));
    assert_eq!(d.facts.param_size, format_param_size(total));
    assert_eq!(d.facts.precision.as_deref(), Some("float16"));

    let index = parse_index(&fixture("sharded/model.safetensors.index.json")).unwrap();
    assert_eq!(
        index.shards.iter().map(String::as_str).collect::<Vec<_>>(),
        shards
    );
    assert_eq!(index.total_size, Some(((10 * 10 + 5 + 7 * 3) * 2) as u64));

    // A shard missing from the files: an error naming the index, no count.
    let partial = [
        file(
            "sub/model-00001-of-00002.safetensors",
            "sharded/model-00001-of-00002.safetensors",
        ),
        file(
            "sub/model.safetensors.index.json",
            "sharded/model.safetensors.index.json",
        ),
    ];
    let d = describe(&partial);
    assert_eq!(d.errors.len(), 1);
    assert_eq!(d.errors[0].path, "sub/model.safetensors.index.json");
    assert!(
        d.errors[0]
            .to_string()
            .contains("model-00002-of-00002.safetensors"),
        "{}",
        d.errors[0]
    );
    assert_eq!(d.facts.param_size, None);
    assert_eq!(d.facts.precision, None);
}

#[test]
fn describe_bf16_and_bad_file() {
    let d = describe(&[file("w.safetensors", "bf16.safetensors")]);
    assert_eq!(d.facts.precision.as_deref(), Some("bfloat16"));
    assert_eq!(d.facts.param_count, Some(prod(&[4, 4])));
    assert_eq!(d.facts.param_size, format_param_size(prod(&[4, 4])));

    // One malformed shard: the error names it and the count is withheld.
    let mut bad = fixture("bf16.safetensors");
    bad.truncate(20);
    let d = describe(&[
        file("a.safetensors", "bf16.safetensors"),
        FileInput::from_bytes("b.safetensors", bad),
    ]);
    assert_eq!(d.errors.len(), 1);
    assert_eq!(d.errors[0].path, "b.safetensors");
    assert!(
        d.errors[0]
            .to_string()
            .starts_with("b.safetensors: reading the safetensors header: "),
        "{}",
        d.errors[0]
    );
    assert_eq!(d.facts.param_size, None);
    assert_eq!(d.facts.format.as_deref(), Some("safetensors"));
}

#[test]
fn describe_gguf_with_metadata() {
    let h = gguf::read_header(&fixture("model.gguf")[..]).unwrap();
    assert_eq!(h.version, 3);
    let m = &h.metadata;
    assert_eq!(m.architecture.as_deref(), Some("llama"));
    assert_eq!(m.basename.as_deref(), Some("tiny-llama"));
    assert_eq!(m.size_label.as_deref(), Some("400"));
    assert_eq!(m.file_type, Some(15));
    let got: Vec<(&str, u128, Option<&str>)> = h
        .tensors
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.elements,
                gguf::ggml_type_name(t.ggml_type),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("token_embd.weight", prod(&[8, 16]), Some("F32")),
            ("blk.0.attn_q.weight", prod(&[16, 16]), Some("F16")),
            ("output_norm.weight", prod(&[16]), Some("F32")),
        ]
    );

    let d = describe(&[file("tiny.gguf", "model.gguf")]);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let total = prod(&[8, 16]) + prod(&[16, 16]) + prod(&[16]);
    let want = ModelFacts {
        architecture: Some("llama".into()),
        format: Some("gguf".into()),
        param_count: Some(total),
        param_size: format_param_size(total),
        // The data is F16/F32 although file_type says Q4_K_M (see the script).
        precision: Some("float16,float32".into()),
        quantization: Some("Q4_K_M".into()),
        licenses: strs(&["apache-2.0"]),
        family: Some("tiny-llama".into()),
        name: Some("Tiny Llama".into()),
        version: Some("v1.0".into()),
        ..ModelFacts::default()
    };
    assert_eq!(d.facts, want);
}

#[test]
fn describe_gguf_q8_0() {
    let d = describe(&[file("q8.gguf", "q8.gguf")]);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let total = prod(&[16, 64]) + prod(&[64]);
    assert_eq!(d.facts.param_size, format_param_size(total));
    assert_eq!(d.facts.param_size.as_deref(), Some("1.1K"));
    // Q8_0 elements dominate: no precision, the quantization says it.
    assert_eq!(d.facts.precision, None);
    assert_eq!(d.facts.quantization.as_deref(), Some("Q8_0"));
}

#[test]
fn describe_split_gguf() {
    let names = ["split-00001-of-00002.gguf", "split-00002-of-00002.gguf"];
    let d = describe(&[file(names[1], names[1]), file(names[0], names[0])]);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(d.facts.param_count, Some(prod(&[4, 4]) + prod(&[8])));
    assert_eq!(
        d.facts.param_size,
        format_param_size(prod(&[4, 4]) + prod(&[8]))
    );
    assert_eq!(d.facts.precision.as_deref(), Some("float32"));
    assert_eq!(d.facts.quantization, None, "ALL_F32 is not a quantization");
    assert_eq!(d.facts.name.as_deref(), Some("Tiny Split"));

    let d = describe(&[file(names[0], names[0])]);
    assert_eq!(d.errors.len(), 1);
    assert_eq!(d.errors[0].path, names[0]);
    assert_eq!(d.facts.param_size, None);

    // Two separate GGUF models (two quantizations): no single count.
    let d = describe(&[file("a.gguf", "model.gguf"), file("b.gguf", "q8.gguf")]);
    assert!(d.errors.is_empty());
    assert_eq!(d.facts.param_size, None);
    assert_eq!(d.facts.quantization, None);
    assert_eq!(d.facts.format.as_deref(), Some("gguf"));
}

#[test]
fn describe_hostile_gguf_names_file() {
    let mut bytes = fixture("model.gguf");
    bytes.truncate(100);
    let d = describe(&[
        FileInput::from_bytes("m/bad.gguf", bytes),
        file("m/README.md", "README_license.md"),
    ]);
    assert_eq!(d.errors.len(), 1);
    assert!(
        d.errors[0]
            .to_string()
            .starts_with("m/bad.gguf: reading the GGUF header: "),
        "{}",
        d.errors[0]
    );
    assert_eq!(d.facts.param_size, None);
    // README.md is only read at the model root.
    assert_eq!(d.facts.licenses, None);
}

#[test]
fn describe_config_json_variants() {
    let c = parse_config(&fixture("config_llama.json")).unwrap();
    assert_eq!(c.architecture.as_deref(), Some("LlamaForCausalLM"));
    assert_eq!(c.model_type.as_deref(), Some("llama"));
    assert_eq!(c.precision.as_deref(), Some("bfloat16"));
    assert_eq!(c.quantization, None);
    let c = parse_config(&fixture("config_awq.json")).unwrap();
    assert_eq!(c.precision.as_deref(), Some("float16"));
    assert_eq!(c.quantization.as_deref(), Some("awq"));
    let c = parse_config(&fixture("config_model_type_only.json")).unwrap();
    assert_eq!(c.architecture.as_deref(), Some("bert"));
    assert_eq!(c.precision.as_deref(), Some("float32"));

    // Weight headers win over torch_dtype; config.json wins over GGUF for architecture.
    let d = describe(&[
        file("config.json", "config_llama.json"),
        file("model.safetensors", "single.safetensors"),
    ]);
    assert_eq!(d.facts.precision.as_deref(), Some("float16,float32"));
    assert_eq!(d.facts.architecture.as_deref(), Some("LlamaForCausalLM"));
    assert_eq!(d.facts.family.as_deref(), Some("llama"));
    let d = describe(&[
        file("config.json", "config_awq.json"),
        file("x.gguf", "model.gguf"),
    ]);
    assert_eq!(d.facts.architecture.as_deref(), Some("MistralForCausalLM"));
    assert_eq!(d.facts.quantization.as_deref(), Some("Q4_K_M"));
    // Without weights, torch_dtype is the precision.
    let d = describe(&[file("config.json", "config_awq.json")]);
    assert_eq!(d.facts.precision.as_deref(), Some("float16"));
    assert_eq!(d.facts.quantization.as_deref(), Some("awq"));
    assert_eq!(d.facts.param_size, None);
    // A broken config.json is an error naming it.
    let d = describe(&[FileInput::from_bytes("config.json", b"{".to_vec())]);
    assert_eq!(d.errors.len(), 1);
    assert_eq!(d.errors[0].path, "config.json");
}

#[test]
fn describe_model_cards() {
    let c = parse_model_card(&String::from_utf8(fixture("README_license.md")).unwrap()).unwrap();
    assert_eq!(c.licenses, ["apache-2.0"]);
    assert_eq!(c.languages, ["en", "fr", "de"]);
    assert_eq!(c.pipeline_tag.as_deref(), Some("text-generation"));
    assert_eq!(
        (c.input_types, c.output_types),
        (vec!["text".to_string()], vec!["text".to_string()])
    );

    let c = parse_model_card(&String::from_utf8(fixture("README_other.md")).unwrap()).unwrap();
    assert_eq!(c.licenses, ["llama3"]);
    assert_eq!(c.languages, ["de"]);
    assert_eq!(c.input_types, ["audio"]);
    assert_eq!(c.output_types, ["text"]);

    let c = parse_model_card(&String::from_utf8(fixture("README_list.md")).unwrap()).unwrap();
    assert_eq!(c.licenses, ["mit", "apache-2.0"]);
    assert!(c.input_types.is_empty() && c.output_types.is_empty());
    assert_eq!(
        parse_model_card(&String::from_utf8(fixture("README_plain.md")).unwrap()).unwrap(),
        CardFacts::default()
    );

    // The card's license wins over GGUF's.
    let d = describe(&[
        file("README.md", "README_list.md"),
        file("m.gguf", "model.gguf"),
    ]);
    assert_eq!(d.facts.licenses, strs(&["mit", "apache-2.0"]));
    let d = describe(&[file("./readme.md", "README_license.md")]);
    assert_eq!(d.facts.languages, strs(&["en", "fr", "de"]));
    assert_eq!(d.facts.input_types, strs(&["text"]));
}

#[test]
fn describe_mixed_formats() {
    let d = describe(&[
        file("model.safetensors", "single.safetensors"),
        FileInput::from_bytes("pytorch_model.bin", b"not read".to_vec()),
    ]);
    assert_eq!(d.facts.format, None);
    // Counts come from safetensors all the same.
    assert!(d.facts.param_size.is_some());
    assert_eq!(weight_format("a/b.ONNX"), Some("onnx"));
    assert_eq!(weight_format("model.pth"), Some("pytorch"));
    assert_eq!(weight_format("config.json"), None);
    assert_eq!(weight_format("noext"), None);
}

#[test]
fn describe_facts_json_is_camel_case() {
    let facts = ModelFacts {
        param_size: Some("7B".into()),
        input_types: strs(&["text"]),
        ..ModelFacts::default()
    };
    let json = serde_json::to_string(&facts).unwrap();
    assert_eq!(json, r#"{"paramSize":"7B","inputTypes":["text"]}"#);
    assert_eq!(serde_json::from_str::<ModelFacts>(&json).unwrap(), facts);
}

#[test]
fn describe_selection_and_config_mapping() {
    assert!(wants("model-00001-of-00002.safetensors", true));
    assert!(wants("model.safetensors.index.json", false));
    assert!(wants("config.json", false) && wants("README.md", false));
    assert!(
        !wants("sub/config.json", false),
        "only the root config.json"
    );
    assert!(
        !wants("training_args.bin", false),
        "a .bin that is not a weight"
    );
    assert!(!wants("tokenizer.json", false));
    let facts = ModelFacts {
        architecture: Some("LlamaForCausalLM".into()),
        param_size: Some("6.7B".into()),
        licenses: Some(vec!["llama2".into()]),
        languages: Some(vec!["en".into()]),
        input_types: Some(vec!["text".into(), "smell".into()]),
        name: Some("Llama".into()),
        ..ModelFacts::default()
    };
    let c = facts.to_config(false);
    assert_eq!(c.descriptor.name, None, "the user's name wins");
    assert_eq!(
        facts.to_config(true).descriptor.name.as_deref(),
        Some("Llama")
    );
    assert_eq!(c.descriptor.licenses, Some(vec!["llama2".to_string()]));
    let caps = c.config.capabilities.unwrap();
    assert_eq!(
        caps.input_types,
        Some(vec![crate::oci::Modality::Text]),
        "unknown modalities are dropped"
    );
    assert_eq!(caps.languages, Some(vec!["en".to_string()]));
    assert_eq!(c.config.param_size.as_deref(), Some("6.7B"));
    assert_eq!(
        ModelFacts::default().to_config(true),
        crate::config::PartialConfig::default()
    );
}
