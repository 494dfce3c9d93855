//! `media_types=cnai`: what is written is model-spec v0.0.6 exactly (its
//! names, its config schema), and our own readers take it back.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::PartialConfig;
use crate::oci::Spelling;
use crate::packaging::LayerPackaging;
use crate::plan::{self, ModelInfo};
use crate::testutil::{self, manifest, plan_file, write_layout_in, TempDir};

/// model-spec v0.0.6 `specs-go/v1/mediatype.go`: `ArtifactTypeModelManifest`
/// and every `MediaTypeModel*` constant, copied from the tag.
const V006_MEDIA_TYPES: &[&str] = &[
    "application/vnd.cnai.model.manifest.v1+json",
    "application/vnd.cnai.model.config.v1+json",
    "application/vnd.cnai.model.weight.v1.raw",
    "application/vnd.cnai.model.weight.v1.tar",
    "application/vnd.cnai.model.weight.v1.tar+gzip",
    "application/vnd.cnai.model.weight.v1.tar+zstd",
    "application/vnd.cnai.model.weight.config.v1.raw",
    "application/vnd.cnai.model.weight.config.v1.tar",
    "application/vnd.cnai.model.weight.config.v1.tar+gzip",
    "application/vnd.cnai.model.weight.config.v1.tar+zstd",
    "application/vnd.cnai.model.doc.v1.raw",
    "application/vnd.cnai.model.doc.v1.tar",
    "application/vnd.cnai.model.doc.v1.tar+gzip",
    "application/vnd.cnai.model.doc.v1.tar+zstd",
    "application/vnd.cnai.model.code.v1.raw",
    "application/vnd.cnai.model.code.v1.tar",
    "application/vnd.cnai.model.code.v1.tar+gzip",
    "application/vnd.cnai.model.code.v1.tar+zstd",
    "application/vnd.cnai.model.dataset.v1.raw",
    "application/vnd.cnai.model.dataset.v1.tar",
    "application/vnd.cnai.model.dataset.v1.tar+gzip",
    "application/vnd.cnai.model.dataset.v1.tar+zstd",
];

/// model-spec v0.0.6 `specs-go/v1/annotations.go`.
const V006_ANNOTATIONS: &[&str] = &[
    "org.cnai.model.filepath",
    "org.cnai.model.file.metadata+json",
    "org.cnai.model.file.mediatype.untested",
];

fn layout(format: LayerPackaging, spelling: Spelling) -> (TempDir, TempDir) {
    let (src, out) = (TempDir::new("cnai-src"), TempDir::new("cnai-out"));
    write_layout_in(&src.0, &out.0, format, spelling);
    (src, out)
}

fn config_of(out: &std::path::Path) -> Value {
    let m = manifest(out);
    let d = m["config"]["digest"].as_str().unwrap();
    serde_json::from_slice(&std::fs::read(out.join("blobs/sha256").join(&d[7..])).unwrap()).unwrap()
}

#[test]
fn every_name_written_is_a_v0_0_6_name() {
    for format in LayerPackaging::ALL {
        let (_src, out) = layout(format, Spelling::Cnai);
        let m = manifest(&out.0);
        let at = format!("{format:?}");
        assert_eq!(m["artifactType"], V006_MEDIA_TYPES[0], "{at}");
        assert_eq!(m["config"]["mediaType"], V006_MEDIA_TYPES[1], "{at}");
        let index: Value =
            serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["artifactType"], V006_MEDIA_TYPES[0]);
        for l in m["layers"].as_array().unwrap() {
            let t = l["mediaType"].as_str().unwrap();
            assert!(V006_MEDIA_TYPES[2..].contains(&t), "{at}: {t}");
            let keys: Vec<&str> = l["annotations"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            for k in &keys {
                assert!(
                    V006_ANNOTATIONS.contains(k) || *k == "org.opencontainers.image.title",
                    "{at}: annotation {k}"
                );
            }
            for k in V006_ANNOTATIONS {
                assert!(keys.contains(k), "{at}: {k} missing");
            }
        }
        let text = String::from_utf8(std::fs::read(out.join("index.json")).unwrap()).unwrap()
            + &m.to_string();
        assert!(!text.contains("cncf"), "{at}: a cncf name in {text}");
        let config = config_of(&out.0);
        assert!(config["modelfs"].get("diffIds").is_none(), "{at}");
        assert_eq!(config["modelfs"]["diff_ids"].as_array().unwrap().len(), 4);
    }
}

#[test]
fn the_layer_blobs_are_the_same_only_the_documents_differ() {
    for format in LayerPackaging::ALL {
        let (_a, cncf) = layout(format, Spelling::Cncf);
        let (_b, cnai) = layout(format, Spelling::Cnai);
        let digests = |out: &std::path::Path| -> Vec<Value> {
            manifest(out)["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].clone())
                .collect()
        };
        assert_eq!(digests(&cncf.0), digests(&cnai.0), "{format:?}");
        assert_eq!(
            config_of(&cncf.0)["modelfs"]["diffIds"],
            config_of(&cnai.0)["modelfs"]["diff_ids"]
        );
    }
}

fn info(spelling: Spelling, described: &str) -> ModelInfo {
    ModelInfo {
        name: "tiny".into(),
        created_at: Some("2025-06-13T00:00:00Z".into()),
        source_url: Some("https://huggingface.co/o/r".into()),
        revision: Some("abc".into()),
        described: PartialConfig::parse_override(described, "t").unwrap(),
        media_types: spelling,
        ..Default::default()
    }
}

/// Every field the files can give, `capabilities` and `datasetsURL`
/// included.
const DESCRIBED: &str = r#"{"descriptor":{"licenses":["mit"],"family":"llama","version":"1","datasetsURL":["https://d"]},
 "config":{"architecture":"LlamaForCausalLM","paramSize":"6.7B","precision":"bfloat16","quantization":"awq",
           "capabilities":{"inputTypes":["text"],"outputTypes":["text"],"languages":["en"]}}}"#;

fn config_bytes(spelling: Spelling, described: &str) -> Value {
    let files = vec![
        plan_file("config.json", b"{}"),
        plan_file("w.safetensors", b"w"),
    ];
    let plan = plan::build(files, &info(spelling, described), LayerPackaging::Raw).unwrap();
    assert_eq!(
        plan.config.descriptor.media_type,
        spelling.config_media_type()
    );
    serde_json::from_slice(&plan.config.bytes).unwrap()
}

fn errors(schema: &Value, config: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("the schema compiles");
    validator
        .iter_errors(config)
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn a_cnai_config_is_valid_under_the_v0_0_6_schema() {
    let legacy = crate::schema::v0_0_6_config_schema();
    let cnai = config_bytes(Spelling::Cnai, DESCRIBED);
    assert_eq!(errors(&legacy, &cnai), Vec::<String>::new(), "{cnai}");
    let cncf = config_bytes(Spelling::Cncf, DESCRIBED);
    assert!(
        !errors(&legacy, &cncf).is_empty(),
        "the v0.0.6 schema refuses the current spelling"
    );
    assert_eq!(
        errors(&crate::schema::config_schema(), &cncf),
        Vec::<String>::new()
    );
    // The same config, but diff_ids and without what v0.0.6 lacks.
    let mut expected = cncf.clone();
    let ids = expected["modelfs"]
        .as_object_mut()
        .unwrap()
        .remove("diffIds")
        .unwrap();
    expected["modelfs"]["diff_ids"] = ids;
    expected["config"]
        .as_object_mut()
        .unwrap()
        .remove("capabilities");
    expected["descriptor"]
        .as_object_mut()
        .unwrap()
        .remove("datasetsURL");
    assert_eq!(cnai, expected);
    assert_eq!(cnai["config"]["quantization"], "awq");
}

#[test]
fn user_fields_v0_0_6_lacks_are_an_error_with_cnai() {
    let files = vec![plan_file("w.safetensors", b"w")];
    for (over, field) in [
        (
            r#"{"config":{"capabilities":{"reasoning":true}}}"#,
            "config.capabilities",
        ),
        (
            r#"{"descriptor":{"datasetsURL":["https://d"]}}"#,
            "descriptor.datasetsURL",
        ),
    ] {
        let mut i = info(Spelling::Cnai, "{}");
        i.overrides = PartialConfig::parse_override(over, "t").unwrap();
        let err = plan::build(files.clone(), &i, LayerPackaging::Raw)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(field) && err.contains("media_types=cnai"),
            "{err}"
        );
        i.media_types = Spelling::Cncf;
        plan::build(files.clone(), &i, LayerPackaging::Raw).unwrap();
    }
}

#[test]
fn manifest_annotations_keep_the_spelling_of_the_artifact() {
    let files = vec![plan_file("w.safetensors", b"w")];
    let mut i = info(Spelling::Cnai, "{}");
    i.annotations = BTreeMap::from([("org.example.team".to_string(), "ml".to_string())]);
    let plan =
        plan::build_kind(&plan::PlanKind::ModelPack, files, &i, LayerPackaging::Raw).unwrap();
    let m: Value = serde_json::from_slice(&plan.manifest.bytes).unwrap();
    assert_eq!(m["artifactType"], V006_MEDIA_TYPES[0]);
    assert_eq!(m["annotations"]["org.example.team"], "ml");
}

#[test]
fn validate_and_unpack_read_what_cnai_writes() {
    for format in LayerPackaging::ALL {
        let (_src, out) = layout(format, Spelling::Cnai);
        let report = crate::validate::validate(&out.0, None, |_| {});
        assert_eq!(report.errors(), 0, "{format:?}: {:#?}", report.problems);
        assert_eq!(report.layers, 4);
        let dest = TempDir::new("cnai-dest");
        let l = crate::layout::Layout::open(&out.0).unwrap();
        let loaded = l.load(None).unwrap();
        assert_eq!(loaded.diff_ids().unwrap().len(), 4);
        crate::unpack::unpack(&l, &loaded, &dest.0, |_| {}).unwrap();
        for (path, bytes, _) in testutil::sample_files() {
            assert_eq!(
                std::fs::read(dest.join(path)).unwrap(),
                bytes,
                "{format:?} {path}"
            );
        }
    }
}
