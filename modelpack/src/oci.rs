//! The JSON documents of an OCI image layout and a ModelPack config, with
//! field order fixed by the structs so the bytes (and digests) are stable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The OCI names shared with the registry client (media types of
/// manifests and indexes, `oci-layout`, title and ref-name annotations).
pub use oci_types::{
    ANNOTATION_REF_NAME, ANNOTATION_TITLE, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, OCI_LAYOUT,
};
/// ModelPack manifest `artifactType`.
pub const ARTIFACT_TYPE_MODEL: &str = "application/vnd.cncf.model.manifest.v1+json";
/// ModelPack config media type.
pub const MEDIA_TYPE_MODEL_CONFIG: &str = "application/vnd.cncf.model.config.v1+json";

/// Layer annotation: the file's path inside the model.
pub const ANNOTATION_FILEPATH: &str = "org.cncf.model.filepath";
/// Layer annotation: file metadata as a JSON string.
pub const ANNOTATION_FILE_METADATA: &str = "org.cncf.model.file.metadata+json";
/// Layer annotation: "true" when the media type was guessed.
pub const ANNOTATION_MEDIATYPE_UNTESTED: &str = "org.cncf.model.file.mediatype.untested";

/// model-spec v0.0.6 (`specs-go/v1` at tag v0.0.6, the last release before
/// the CNCF rename): manifest `artifactType`.
pub const LEGACY_ARTIFACT_TYPE_MODEL: &str = "application/vnd.cnai.model.manifest.v1+json";
/// model-spec v0.0.6: config media type.
pub const LEGACY_MEDIA_TYPE_MODEL_CONFIG: &str = "application/vnd.cnai.model.config.v1+json";
/// model-spec v0.0.6: layer media type prefix.
pub const LEGACY_LAYER_PREFIX: &str = "application/vnd.cnai.model.";
/// Current layer media type prefix.
pub const LAYER_PREFIX: &str = "application/vnd.cncf.model.";
/// model-spec v0.0.6: layer annotation of the file's path.
pub const LEGACY_ANNOTATION_FILEPATH: &str = "org.cnai.model.filepath";
/// model-spec v0.0.6: layer annotation of the file metadata.
pub const LEGACY_ANNOTATION_FILE_METADATA: &str = "org.cnai.model.file.metadata+json";
/// model-spec v0.0.6: layer annotation "true" when the media type was guessed.
pub const LEGACY_ANNOTATION_MEDIATYPE_UNTESTED: &str = "org.cnai.model.file.mediatype.untested";

/// Which spelling of the model-spec names a ModelPack artifact is written
/// in (the `media_types` build arg, `pack --media-types`, a recipe's
/// `media_types:`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Spelling {
    /// `application/vnd.cncf.model.*`, `org.cncf.model.*`,
    /// `modelfs.diffIds`: model-spec v0.0.7 and later (the default).
    #[default]
    Cncf,
    /// `application/vnd.cnai.model.*`, `org.cnai.model.*`,
    /// `modelfs.diff_ids` and no field v0.0.6's config schema lacks:
    /// model-spec v0.0.6, for Harbor up to 2.15.2 and modctl 0.2.2.
    Cnai,
}

impl Spelling {
    /// Every spelling, the default first.
    pub const ALL: [Spelling; 2] = [Spelling::Cncf, Spelling::Cnai];

    /// The option value: `cncf` or `cnai`.
    pub fn word(self) -> &'static str {
        match self {
            Spelling::Cncf => "cncf",
            Spelling::Cnai => "cnai",
        }
    }

    /// The spelling an option value names.
    pub fn parse(word: &str) -> Option<Spelling> {
        Spelling::ALL.into_iter().find(|s| s.word() == word)
    }

    /// The manifest `artifactType`.
    pub fn artifact_type(self) -> &'static str {
        match self {
            Spelling::Cncf => ARTIFACT_TYPE_MODEL,
            Spelling::Cnai => LEGACY_ARTIFACT_TYPE_MODEL,
        }
    }

    /// The config media type.
    pub fn config_media_type(self) -> &'static str {
        match self {
            Spelling::Cncf => MEDIA_TYPE_MODEL_CONFIG,
            Spelling::Cnai => LEGACY_MEDIA_TYPE_MODEL_CONFIG,
        }
    }

    /// The layer media type prefix (`application/vnd.cncf.model.`).
    pub fn layer_prefix(self) -> &'static str {
        match self {
            Spelling::Cncf => LAYER_PREFIX,
            Spelling::Cnai => LEGACY_LAYER_PREFIX,
        }
    }

    /// The layer annotation of the file's path.
    pub fn annotation_filepath(self) -> &'static str {
        match self {
            Spelling::Cncf => ANNOTATION_FILEPATH,
            Spelling::Cnai => LEGACY_ANNOTATION_FILEPATH,
        }
    }

    /// The layer annotation of the file metadata.
    pub fn annotation_file_metadata(self) -> &'static str {
        match self {
            Spelling::Cncf => ANNOTATION_FILE_METADATA,
            Spelling::Cnai => LEGACY_ANNOTATION_FILE_METADATA,
        }
    }

    /// The layer annotation saying whether the media type was guessed.
    pub fn annotation_mediatype_untested(self) -> &'static str {
        match self {
            Spelling::Cncf => ANNOTATION_MEDIATYPE_UNTESTED,
            Spelling::Cnai => LEGACY_ANNOTATION_MEDIATYPE_UNTESTED,
        }
    }

    /// The prefix of our own keys in this namespace (`org.cncf.model.`).
    pub fn annotation_prefix(self) -> &'static str {
        match self {
            Spelling::Cncf => "org.cncf.model.",
            Spelling::Cnai => "org.cnai.model.",
        }
    }
}

/// A content descriptor (one type with the registry client's).
pub use oci_types::Descriptor;

/// An OCI image manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`MEDIA_TYPE_MANIFEST`].
    pub media_type: String,
    /// [`ARTIFACT_TYPE_MODEL`] for ModelPack.
    pub artifact_type: String,
    /// The config blob.
    pub config: Descriptor,
    /// Layers in order.
    pub layers: Vec<Descriptor>,
    /// Manifest annotations (a recipe's `annotations:`, several sources).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image index (`index.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// [`MEDIA_TYPE_INDEX`]; an `index.json` that leaves it out (the
    /// image-spec says SHOULD) reads as empty.
    #[serde(default)]
    pub media_type: String,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
}

/// `org.cncf.model.file.metadata+json`, fields in the spec's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMetadata {
    /// File name.
    pub name: String,
    /// Permission bits (e.g. 420 for 0644).
    pub mode: u32,
    /// Owner id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, RFC 3339.
    pub mtime: String,
    /// Tar type flag; 0 for a regular file, as modctl writes it.
    pub typeflag: u8,
}

/// The ModelPack config (`application/vnd.cncf.model.config.v1+json`), in
/// the field order of the reference Go structs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Who, what, where from.
    pub descriptor: ModelDescriptor,
    /// The layers' diff ids.
    pub modelfs: ModelFs,
    /// Architecture, format, precision …
    pub config: ModelProperties,
}

impl ModelConfig {
    /// The config's bytes in `spelling`: as is for `cncf`; for `cnai`
    /// `modelfs.diff_ids` and without the fields model-spec v0.0.6's config
    /// schema lacks (`descriptor.datasetsURL`, `config.capabilities`).
    pub fn to_bytes(&self, spelling: Spelling) -> serde_json::Result<Vec<u8>> {
        match spelling {
            Spelling::Cncf => serde_json::to_vec(self),
            Spelling::Cnai => {
                let descriptor = ModelDescriptor {
                    datasets_url: None,
                    ..self.descriptor.clone()
                };
                let config = ModelProperties {
                    capabilities: None,
                    ..self.config.clone()
                };
                serde_json::to_vec(&LegacyModelConfig {
                    descriptor: &descriptor,
                    modelfs: LegacyModelFs {
                        fs_type: &self.modelfs.fs_type,
                        diff_ids: &self.modelfs.diff_ids,
                    },
                    config: &config,
                })
            }
        }
    }
}

/// The config as model-spec v0.0.6 spells it, fields in its Go order.
#[derive(Serialize)]
struct LegacyModelConfig<'a> {
    descriptor: &'a ModelDescriptor,
    modelfs: LegacyModelFs<'a>,
    config: &'a ModelProperties,
}

/// `modelfs` as model-spec v0.0.6 spells it.
#[derive(Serialize)]
struct LegacyModelFs<'a> {
    #[serde(rename = "type")]
    fs_type: &'a str,
    diff_ids: &'a [String],
}

/// `descriptor` of the ModelPack config, fields in the Go marshal order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelDescriptor {
    /// RFC 3339; only ever a fixed, reproducible instant.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub created_at: Option<String>,
    /// Who made the model.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub authors: Option<Vec<String>>,
    /// Model family.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub family: Option<String>,
    /// Model name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// Documentation URL.
    #[serde(rename = "docURL", skip_serializing_if = "Option::is_none", default)]
    pub doc_url: Option<String>,
    /// Where the model came from.
    #[serde(rename = "sourceURL", skip_serializing_if = "Option::is_none", default)]
    pub source_url: Option<String>,
    /// Data sets the model was trained on.
    #[serde(
        rename = "datasetsURL",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub datasets_url: Option<Vec<String>>,
    /// Model version.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
    /// Source revision (a commit for Hugging Face).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub revision: Option<String>,
    /// Who distributes the model.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vendor: Option<String>,
    /// SPDX license expressions (or a license's name).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub licenses: Option<Vec<String>>,
    /// Human-readable title.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub title: Option<String>,
    /// Human-readable description.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
}

/// `modelfs` of the ModelPack config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelFs {
    /// Always "layers".
    #[serde(rename = "type")]
    pub fs_type: String,
    /// One per layer, in layer order.
    pub diff_ids: Vec<String>,
}

/// `config` of the ModelPack config, fields in the Go marshal order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelProperties {
    /// Architecture, e.g. `LlamaForCausalLM` or `llama`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub architecture: Option<String>,
    /// Weight file format, e.g. safetensors or gguf.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub format: Option<String>,
    /// Parameter count in the spec's form (`22.7M`, `6.7B`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub param_size: Option<String>,
    /// Tensor precision(s), dominant first (`bfloat16`, `float16,float32`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub precision: Option<String>,
    /// Quantization (`Q4_K_M`, `awq`, `gptq` …).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub quantization: Option<String>,
    /// What the model takes and gives.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub capabilities: Option<Capabilities>,
}

/// `config.capabilities` of the ModelPack config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Capabilities {
    /// Input modalities.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input_types: Option<Vec<Modality>>,
    /// Output modalities.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_types: Option<Vec<Modality>>,
    /// RFC 3339 knowledge cut-off.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub knowledge_cutoff: Option<String>,
    /// Whether the model reasons.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reasoning: Option<bool>,
    /// Whether the model uses tools.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tool_usage: Option<bool>,
    /// Whether it is a reward model.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reward: Option<bool>,
    /// Two-letter ISO 639-1 language codes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub languages: Option<Vec<String>>,
}

/// A modality of `inputTypes`/`outputTypes` (the schema's enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// Text.
    Text,
    /// Images.
    Image,
    /// Audio.
    Audio,
    /// Video.
    Video,
    /// Embedding vectors.
    Embedding,
    /// Anything else.
    Other,
}
