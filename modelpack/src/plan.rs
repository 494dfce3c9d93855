//! The plan: from a list of files with known digests to every byte of the
//! OCI layout except the layer blobs themselves. Pure data, no BuildKit.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::config::{self, PartialConfig};
use crate::mediatype::{self, Kind};
use crate::oci::{self, Descriptor, FileMetadata, Manifest, ModelConfig, Spelling};
use crate::packaging::LayerPackaging;

use crate::artifact::{assemble, assemble_annotated, blob, checked_sorted};
pub use crate::artifact::{Blob, Plan, PlannedLayer};
pub use crate::plan_file::{Origin, Packed, PlanFile};

/// What the config says about the model beyond its files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelInfo {
    /// Reference and descriptor name.
    pub name: String,
    /// Fixed creation instant, if the source has one.
    pub created_at: Option<String>,
    /// Where the model came from.
    pub source_url: Option<String>,
    /// Source revision (commit).
    pub revision: Option<String>,
    /// What the files say (headers, `config.json`, the model card); over
    /// the fields above.
    pub described: PartialConfig,
    /// What the user says (`config_json`); over everything else.
    pub overrides: PartialConfig,
    /// Annotations of the manifest (none by default).
    pub annotations: BTreeMap<String, String>,
    /// Which spelling of the model-spec names to write (`media_types`).
    pub media_types: Spelling,
}

/// What kind of artifact a plan describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanKind {
    /// A CNCF ModelPack artifact.
    ModelPack,
    /// A plain OCI artifact of any files with this manifest `artifactType`.
    Generic {
        /// The manifest `artifactType`.
        artifact_type: String,
    },
}

/// Default `artifactType` of generic artifacts.
pub const DEFAULT_GENERIC_ARTIFACT_TYPE: &str = "application/vnd.unknown.artifact.v1";

/// Builds the plan for either kind of artifact.
pub fn build_kind(
    kind: &PlanKind,
    files: Vec<PlanFile>,
    info: &ModelInfo,
    packaging: LayerPackaging,
) -> Result<Plan> {
    let plan = match kind {
        PlanKind::ModelPack => build(files, info, packaging)?,
        PlanKind::Generic { artifact_type } => {
            crate::generic::build(files, &info.name, artifact_type, packaging)?
        }
    };
    annotate(plan, &info.annotations, &info.name)
}

/// `plan` with `annotations` added to its manifest (and the index entry
/// pointing at the new manifest); unchanged when there are none.
pub fn annotate(plan: Plan, annotations: &BTreeMap<String, String>, name: &str) -> Result<Plan> {
    if annotations.is_empty() {
        return Ok(plan);
    }
    let manifest: Manifest = serde_json::from_slice(&plan.manifest.bytes)?;
    let mut all = manifest.annotations;
    all.extend(annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    assemble_annotated(plan.layers, plan.config, &manifest.artifact_type, name, all)
}

/// Fixed mtime written into file metadata, for reproducible manifests.
pub const EPOCH: &str = "1970-01-01T00:00:00Z";

fn layer_descriptor(file: &PlanFile, spelling: Spelling) -> (Kind, Descriptor) {
    let (kind, untested) = mediatype::classify(&file.path, file.size);
    let metadata = FileMetadata {
        name: file
            .path
            .rsplit('/')
            .next()
            .unwrap_or(&file.path)
            .to_string(),
        mode: file.mode(),
        uid: 0,
        gid: 0,
        size: file.size,
        mtime: EPOCH.to_string(),
        typeflag: 0,
    };
    let annotations = BTreeMap::from([
        (
            spelling.annotation_filepath().to_string(),
            file.path.clone(),
        ),
        (
            spelling.annotation_file_metadata().to_string(),
            serde_json::to_string(&metadata).expect("metadata serializes"),
        ),
        (
            spelling.annotation_mediatype_untested().to_string(),
            untested.to_string(),
        ),
        (oci::ANNOTATION_TITLE.to_string(), file.path.clone()),
    ]);
    let descriptor = Descriptor {
        media_type: kind.media_type_in(spelling, file.format().suffix()),
        digest: file.digest.clone(),
        size: file.packed.as_ref().map_or(file.size, |p| p.blob_size),
        artifact_type: None,
        annotations,
    };
    (kind, descriptor)
}

/// The weight format when all weights share one well-known extension.
fn weight_format(files: &[(Kind, &PlanFile)]) -> Option<String> {
    let mut formats = files
        .iter()
        .filter(|(k, _)| *k == Kind::Weight)
        .map(|(_, f)| {
            f.path
                .rsplit_once('.')
                .map(|(_, e)| e.to_ascii_lowercase())
                .unwrap_or_default()
        });
    let first = formats.next()?;
    let known = ["safetensors", "gguf", "onnx"];
    (known.contains(&first.as_str()) && formats.all(|f| f == first)).then_some(first)
}

/// Builds the plan. Layers are grouped by kind (config, weights, code, docs,
/// datasets) and sorted by path within a group. Each layer's media type
/// says the format its file was packed in; `packaging` is the format asked
/// for, checked against them (a tar layout needs every file packed).
pub fn build(
    mut files: Vec<PlanFile>,
    info: &ModelInfo,
    packaging: LayerPackaging,
) -> Result<Plan> {
    checked_sorted(&mut files, packaging)?;
    let mut layers: Vec<(Kind, Descriptor, &PlanFile)> = files
        .iter()
        .map(|f| {
            let (kind, d) = layer_descriptor(f, info.media_types);
            (kind, d, f)
        })
        .collect();
    layers.sort_by(|a, b| (a.0, &a.2.path).cmp(&(b.0, &b.2.path)));

    let kinds: Vec<(Kind, &PlanFile)> = layers.iter().map(|(k, _, f)| (*k, *f)).collect();
    let from_source = PartialConfig {
        descriptor: oci::ModelDescriptor {
            created_at: info.created_at.clone(),
            name: Some(info.name.clone()),
            source_url: info.source_url.clone(),
            revision: info.revision.clone(),
            ..Default::default()
        },
        config: oci::ModelProperties {
            format: weight_format(&kinds),
            ..Default::default()
        },
    };
    check_fits(info.media_types, &info.overrides)?;
    let composed = from_source
        .overlay(&info.described)
        .overlay(&info.overrides);
    config::check(&composed.descriptor, &composed.config)
        .map_err(|e| anyhow::anyhow!("the model config would not be valid: {e}"))?;
    let config = ModelConfig {
        descriptor: composed.descriptor,
        modelfs: oci::ModelFs {
            fs_type: "layers".into(),
            diff_ids: layers
                .iter()
                .map(|(_, _, f)| f.diff_id().to_string())
                .collect(),
        },
        config: composed.config,
    };
    let spelling = info.media_types;
    let config = blob(spelling.config_media_type(), config.to_bytes(spelling)?);

    let layers = layers
        .into_iter()
        .map(|(_, descriptor, f)| PlannedLayer::new(descriptor, f))
        .collect();
    assemble(layers, config, spelling.artifact_type(), &info.name)
}

/// What the user asks for must fit the config of the spelling: with
/// `media_types=cnai`, model-spec v0.0.6's config has no
/// `descriptor.datasetsURL` and no `config.capabilities`. (What the files
/// say there is left out.)
pub fn check_fits(
    spelling: Spelling,
    overrides: &PartialConfig,
) -> Result<(), crate::setting::SettingError> {
    if spelling == Spelling::Cncf {
        return Ok(());
    }
    let mut extra = Vec::new();
    if overrides.descriptor.datasets_url.is_some() {
        extra.push("descriptor.datasetsURL");
    }
    if overrides.config.capabilities.is_some() {
        extra.push("config.capabilities");
    }
    if !extra.is_empty() {
        return Err(crate::setting::SettingError::NotInCnai { fields: extra });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Index;

    use crate::testutil::plan_file as file;

    #[test]
    fn annotations_go_to_the_manifest_and_none_change_nothing() {
        let files = vec![file("config.json", b"{}"), file("w.safetensors", b"w")];
        let plain = build_kind(
            &PlanKind::ModelPack,
            files.clone(),
            &info(),
            LayerPackaging::Raw,
        )
        .unwrap();
        let mut i = info();
        i.annotations.insert("org.example.team".into(), "ml".into());
        let annotated = build_kind(&PlanKind::ModelPack, files, &i, LayerPackaging::Raw).unwrap();
        let m: Manifest = serde_json::from_slice(&annotated.manifest.bytes).unwrap();
        assert_eq!(m.annotations["org.example.team"], "ml");
        assert_eq!(annotated.config, plain.config);
        let m: Manifest = serde_json::from_slice(&plain.manifest.bytes).unwrap();
        assert!(m.annotations.is_empty());
        assert!(!String::from_utf8_lossy(&plain.manifest.bytes)
            .contains("\"annotations\":{\"org.example"));
        let index: Index = serde_json::from_slice(&annotated.index).unwrap();
        assert_eq!(
            index.manifests[0].digest,
            annotated.manifest.descriptor.digest
        );
    }

    fn info() -> ModelInfo {
        ModelInfo {
            name: "tiny".into(),
            ..Default::default()
        }
    }

    #[test]
    fn files_then_user_overrides_compose_the_config() {
        let mut i = info();
        i.revision = Some("abc".into());
        i.described = PartialConfig::parse_override(
            r#"{"descriptor":{"licenses":["mit"]},"config":{"architecture":"LlamaForCausalLM","paramSize":"6.7B","precision":"bfloat16"}}"#,
            "t",
        )
        .unwrap();
        i.overrides = PartialConfig::parse_override(
            r#"{"descriptor":{"vendor":"ACME","revision":"v2"},"config":{"paramSize":"7B"}}"#,
            "t",
        )
        .unwrap();
        let plan = build(sample(), &i, LayerPackaging::Raw).unwrap();
        let text = String::from_utf8(plan.config.bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"descriptor":{"name":"tiny","revision":"v2","vendor":"ACME","licenses":["mit"]},"modelfs":"#),
            "Go field order, overrides last: {text}"
        );
        assert!(
            text.ends_with(r#""config":{"architecture":"LlamaForCausalLM","format":"safetensors","paramSize":"7B","precision":"bfloat16"}}"#),
            "{text}"
        );
        let validator = jsonschema::validator_for(&crate::schema::config_schema()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(validator.is_valid(&value));
    }

    fn sample() -> Vec<PlanFile> {
        vec![
            file("README.md", b"# tiny"),
            file("model.safetensors", b"weights"),
            file("config.json", b"{}"),
            file("sub/tokenizer.json", b"{\"t\":1}"),
            file("run.py", b"print(1)"),
        ]
    }

    #[test]
    fn layers_are_grouped_by_kind_then_path() {
        let plan = build(sample(), &info(), LayerPackaging::Raw).unwrap();
        let paths: Vec<&str> = plan
            .layers
            .iter()
            .map(|l| l.descriptor.annotations[oci::ANNOTATION_FILEPATH].as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "config.json",
                "sub/tokenizer.json",
                "model.safetensors",
                "run.py",
                "README.md"
            ]
        );
        let types: Vec<&str> = plan
            .layers
            .iter()
            .map(|l| l.descriptor.media_type.as_str())
            .collect();
        assert_eq!(types[2], "application/vnd.cncf.model.weight.v1.raw");
        assert_eq!(types[0], "application/vnd.cncf.model.weight.config.v1.raw");
        assert_eq!(types[3], "application/vnd.cncf.model.code.v1.raw");
        assert_eq!(types[4], "application/vnd.cncf.model.doc.v1.raw");
    }

    #[test]
    fn config_lists_diff_ids_in_layer_order_and_blobs_hash_their_bytes() {
        let plan = build(sample(), &info(), LayerPackaging::Raw).unwrap();
        let config: serde_json::Value = serde_json::from_slice(&plan.config.bytes).unwrap();
        let diff_ids: Vec<&str> = config["modelfs"]["diffIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let digests: Vec<&str> = plan
            .layers
            .iter()
            .map(|l| l.descriptor.digest.as_str())
            .collect();
        assert_eq!(diff_ids, digests);
        assert_eq!(config["descriptor"]["name"], "tiny");
        assert_eq!(config["config"]["format"], "safetensors");
        assert_eq!(
            plan.config.descriptor.digest,
            crate::digest::sha256_of(&plan.config.bytes)
        );
        assert_eq!(
            plan.manifest.descriptor.digest,
            crate::digest::sha256_of(&plan.manifest.bytes)
        );
        let manifest: Manifest = serde_json::from_slice(&plan.manifest.bytes).unwrap();
        assert_eq!(manifest.config, plan.config.descriptor);
        assert_eq!(manifest.artifact_type, oci::ARTIFACT_TYPE_MODEL);
        let index: Index = serde_json::from_slice(&plan.index).unwrap();
        assert_eq!(index.manifests[0].digest, plan.manifest.descriptor.digest);
        assert_eq!(
            index.manifests[0].annotations[oci::ANNOTATION_REF_NAME],
            "tiny"
        );
    }

    #[test]
    fn metadata_annotation_is_fixed_and_ordered() {
        let mut files = vec![file("bin/run.sh", b"#!/bin/sh\n")];
        files[0].executable = true;
        let plan = build(files, &info(), LayerPackaging::Raw).unwrap();
        let meta = &plan.layers[0].descriptor.annotations[oci::ANNOTATION_FILE_METADATA];
        assert_eq!(
            meta,
            r#"{"name":"run.sh","mode":493,"uid":0,"gid":0,"size":10,"mtime":"1970-01-01T00:00:00Z","typeflag":0}"#
        );
    }

    #[test]
    fn same_input_in_any_order_gives_the_same_bytes() {
        let a = build(sample(), &info(), LayerPackaging::Raw).unwrap();
        let mut shuffled = sample();
        shuffled.reverse();
        let b = build(shuffled, &info(), LayerPackaging::Raw).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn config_validates_against_the_official_schema() {
        let schema = crate::schema::config_schema();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let mut with_everything = info();
        with_everything.created_at = Some(EPOCH.into());
        with_everything.source_url = Some("https://huggingface.co/org/repo".into());
        with_everything.revision = Some("0123456789abcdef0123456789abcdef01234567".into());
        for info in [info(), with_everything] {
            let plan = build(sample(), &info, LayerPackaging::Raw).unwrap();
            let config: serde_json::Value = serde_json::from_slice(&plan.config.bytes).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&config)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{errors:?}");
        }
        let broken = serde_json::json!({"descriptor": {}, "config": {}, "modelfs": {"type": "layers", "diffIds": []}});
        assert!(!validator.is_valid(&broken), "the schema check can fail");
    }

    #[test]
    fn packed_layers_use_blob_sizes_and_tar_diff_ids() {
        let mut f = file("model.safetensors", b"weights");
        f.digest = "sha256:blob".into();
        f.packed = Some(Packed {
            blob_size: 99,
            diff_id: "sha256:tar".into(),
            format: LayerPackaging::TarZstd,
        });
        let plan = build(vec![f], &info(), LayerPackaging::TarZstd).unwrap();
        let d = &plan.layers[0].descriptor;
        assert_eq!(
            (d.media_type.as_str(), d.digest.as_str(), d.size),
            (
                "application/vnd.cncf.model.weight.v1.tar+zstd",
                "sha256:blob",
                99
            )
        );
        let config: serde_json::Value = serde_json::from_slice(&plan.config.bytes).unwrap();
        assert_eq!(config["modelfs"]["diffIds"][0], "sha256:tar");
        assert!(
            d.annotations[oci::ANNOTATION_FILE_METADATA].contains("\"size\":7"),
            "metadata keeps the file size"
        );
    }

    #[test]
    fn each_layer_says_the_format_its_file_was_packed_in() {
        let files: Vec<PlanFile> = sample()
            .into_iter()
            .map(|mut f| {
                let kind = mediatype::classify(&f.path, f.size).0;
                let format = LayerPackaging::TarZstd.for_kind(kind, false);
                f.packed = Some(Packed {
                    blob_size: f.size,
                    diff_id: f.digest.clone(),
                    format,
                });
                f
            })
            .collect();
        let plan = build(files, &info(), LayerPackaging::TarZstd).unwrap();
        let types: Vec<&str> = plan
            .layers
            .iter()
            .map(|l| l.descriptor.media_type.as_str())
            .collect();
        assert_eq!(
            types,
            [
                "application/vnd.cncf.model.weight.config.v1.tar+zstd",
                "application/vnd.cncf.model.weight.config.v1.tar+zstd",
                "application/vnd.cncf.model.weight.v1.tar",
                "application/vnd.cncf.model.code.v1.tar+zstd",
                "application/vnd.cncf.model.doc.v1.tar+zstd",
            ]
        );
    }

    #[test]
    fn tar_layouts_may_mix_in_raw_layers_but_raw_layouts_take_no_tar() {
        // A recipe's per-kind packaging (`weight: raw`) mixes formats.
        assert!(build(sample(), &info(), LayerPackaging::Tar).is_ok());
        let mut files = sample();
        files[0].packed = Some(Packed {
            blob_size: 1,
            diff_id: files[0].digest.clone(),
            format: LayerPackaging::Tar,
        });
        let err = build(files, &info(), LayerPackaging::Raw)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a tar layer in a raw layout"), "{err}");
    }

    #[test]
    fn empty_and_colliding_inputs_fail() {
        assert!(build(vec![], &info(), LayerPackaging::Raw).is_err());
        let err = build(
            vec![file("a", b"1"), file("a", b"2")],
            &info(),
            LayerPackaging::Raw,
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"a\""));
    }
}
