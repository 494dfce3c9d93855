//! The CycloneDX 1.6 ML-BOM of a model: `metadata.component` is the model
//! (`machine-learning-model`, purl, licences, model card), `components`
//! one `file` per file of the model with its sha256. Field order is fixed
//! by the structs, so the bytes depend on the facts only.

use serde::Serialize;

use super::{hex_of, hub_tree_url, serial_number, spdx, Facts, FileSource, HubSource};
use crate::huggingface::RepoKind;

/// Property names of the model card's `properties` (documented in
/// `docs/trust.md`), for what CycloneDX has no field for.
pub const PROPERTY_PARAM_SIZE: &str = "modelpack:paramSize";
/// The exact parameter count from the weights' headers.
pub const PROPERTY_PARAM_COUNT: &str = "modelpack:parameterCount";
/// Quantization (`Q4_K_M`, `awq` …).
pub const PROPERTY_QUANTIZATION: &str = "modelpack:quantization";
/// Tensor precision(s), dominant first.
pub const PROPERTY_PRECISION: &str = "modelpack:precision";
/// Weight file format.
pub const PROPERTY_FORMAT: &str = "modelpack:format";
/// The OCI manifest digest of the model (on the model component).
pub const PROPERTY_MANIFEST_DIGEST: &str = "modelpack:oci.manifest.digest";
/// A file's layer blob digest (on each file component).
pub const PROPERTY_LAYER_DIGEST: &str = "modelpack:oci.layer.digest";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom<'a> {
    bom_format: &'static str,
    spec_version: &'static str,
    serial_number: String,
    version: u32,
    metadata: Metadata<'a>,
    components: Vec<Component>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    tools: Tools<'a>,
    component: Component,
}

#[derive(Serialize)]
struct Tools<'a> {
    components: Vec<Tool<'a>>,
}

#[derive(Serialize)]
struct Tool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'static str,
    version: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Component {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref")]
    bom_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<LicenseChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_references: Vec<ExternalReference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_card: Option<ModelCard>,
}

#[derive(Serialize)]
struct Hash {
    alg: &'static str,
    content: String,
}

#[derive(Serialize)]
struct LicenseChoice {
    license: License,
}

#[derive(Serialize)]
struct License {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

#[derive(Serialize)]
struct ExternalReference {
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
}

#[derive(Serialize)]
struct Property {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelCard {
    #[serde(skip_serializing_if = "ModelParameters::is_empty")]
    model_parameters: ModelParameters,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct ModelParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    task: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    architecture_family: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_architecture: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    datasets: Vec<Dataset>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    inputs: Vec<Format>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    outputs: Vec<Format>,
}

impl ModelParameters {
    fn is_empty(&self) -> bool {
        self.task.is_none()
            && self.architecture_family.is_none()
            && self.model_architecture.is_none()
            && self.datasets.is_empty()
            && self.inputs.is_empty()
            && self.outputs.is_empty()
    }
}

#[derive(Serialize)]
struct Dataset {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
}

#[derive(Serialize)]
struct Format {
    format: String,
}

fn sha256_hash(digest: &str) -> Hash {
    Hash {
        alg: "SHA-256",
        content: hex_of(digest).to_string(),
    }
}

/// The package URL of a Hub model at its commit
/// (`pkg:huggingface/<org>/<name>@<commit>`, with `repository_url` when
/// the endpoint is not the public Hub); None for dataset repos.
pub fn hub_purl(hub: &HubSource) -> Option<String> {
    if hub.kind != RepoKind::Model {
        return None;
    }
    let mut purl = format!(
        "pkg:huggingface/{}@{}",
        hub.repo,
        hub.commit.to_ascii_lowercase()
    );
    if hub.endpoint != "https://huggingface.co" {
        purl.push_str("?repository_url=");
        purl.push_str(&crate::huggingface::percent_encode(&hub.endpoint, false));
    }
    Some(purl)
}

/// A licence as CycloneDX spells it: an SPDX id in SPDX's case when the
/// value is one (see [`spdx`]), else its name as given.
fn license(value: &str) -> LicenseChoice {
    match spdx::spdx_id(value) {
        Some(id) => LicenseChoice {
            license: License {
                id: Some(id),
                name: None,
            },
        },
        None => LicenseChoice {
            license: License {
                id: None,
                name: Some(value.to_string()),
            },
        },
    }
}

fn model_component(facts: &Facts) -> Component {
    let d = &facts.descriptor;
    let p = &facts.properties;
    let hub = facts.hub.first();
    let mut external_references = Vec::new();
    for h in &facts.hub {
        external_references.push(ExternalReference {
            kind: "vcs",
            url: hub_tree_url(h),
            comment: Some("Hugging Face repository at the commit"),
            hashes: Vec::new(),
        });
    }
    for f in &facts.files {
        if let FileSource::Url {
            url,
            checksum_checked,
        } = &f.source
        {
            external_references.push(ExternalReference {
                kind: "distribution",
                url: url.clone(),
                comment: Some(if *checksum_checked {
                    "downloaded; checksum checked"
                } else {
                    "downloaded; no checksum given"
                }),
                hashes: f.sha256.iter().map(|s| sha256_hash(s)).collect(),
            });
        }
    }
    if let Some(url) = &d.doc_url {
        external_references.push(ExternalReference {
            kind: "documentation",
            url: url.clone(),
            comment: None,
            hashes: Vec::new(),
        });
    }
    let mut card_properties = Vec::new();
    let mut push = |name: &'static str, value: Option<String>| {
        if let Some(value) = value {
            card_properties.push(Property { name, value });
        }
    };
    push(PROPERTY_PARAM_SIZE, p.param_size.clone());
    push(
        PROPERTY_PARAM_COUNT,
        facts.card.param_count.map(|c| c.to_string()),
    );
    push(PROPERTY_QUANTIZATION, p.quantization.clone());
    push(PROPERTY_PRECISION, p.precision.clone());
    push(PROPERTY_FORMAT, p.format.clone());
    let caps = p.capabilities.clone().unwrap_or_default();
    let formats = |m: Option<Vec<crate::oci::Modality>>| -> Vec<Format> {
        m.unwrap_or_default()
            .into_iter()
            .map(|m| Format {
                format: serde_json::to_value(m)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            })
            .collect()
    };
    let model_parameters = ModelParameters {
        task: facts.card.pipeline_tag.clone(),
        architecture_family: d.family.clone(),
        model_architecture: p.architecture.clone(),
        datasets: facts
            .card
            .datasets
            .iter()
            .map(|name| Dataset {
                kind: "dataset",
                name: name.clone(),
            })
            .collect(),
        inputs: formats(caps.input_types),
        outputs: formats(caps.output_types),
    };
    let model_card =
        (!model_parameters.is_empty() || !card_properties.is_empty()).then_some(ModelCard {
            model_parameters,
            properties: card_properties,
        });
    Component {
        kind: "machine-learning-model",
        bom_ref: "model".into(),
        group: None,
        name: facts.name.clone(),
        version: d.revision.clone().or_else(|| d.version.clone()),
        description: d.description.clone(),
        hashes: Vec::new(),
        licenses: d.licenses.iter().flatten().map(|l| license(l)).collect(),
        purl: hub.and_then(hub_purl),
        external_references,
        properties: vec![Property {
            name: PROPERTY_MANIFEST_DIGEST,
            value: facts.subject.digest.clone(),
        }],
        model_card,
    }
}

fn file_component(f: &super::ModelFile) -> Component {
    Component {
        kind: "file",
        bom_ref: format!("file:{}", f.path),
        group: None,
        name: f.path.clone(),
        version: None,
        description: None,
        hashes: f.sha256.iter().map(|s| sha256_hash(s)).collect(),
        licenses: Vec::new(),
        purl: None,
        external_references: Vec::new(),
        properties: vec![Property {
            name: PROPERTY_LAYER_DIGEST,
            value: f.layer_digest.clone(),
        }],
        model_card: None,
    }
}

/// The BOM's bytes (compact JSON). `serialNumber` is
/// [`serial_number`] of the model manifest's digest; there is no
/// timestamp.
pub fn bom(facts: &Facts) -> Vec<u8> {
    let bom = Bom {
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: serial_number(&facts.subject.digest),
        version: 1,
        metadata: Metadata {
            tools: Tools {
                components: vec![Tool {
                    kind: "application",
                    name: "modelpack-frontend",
                    version: &facts.builder.version,
                }],
            },
            component: model_component(facts),
        },
        components: facts.files.iter().map(file_component).collect(),
    };
    serde_json::to_vec(&bom).expect("the BOM serializes")
}

/// `org/name` of a Hub source (`datasets/org/name` for data sets).
pub(crate) fn hub_name(hub: &HubSource) -> String {
    match hub.kind {
        RepoKind::Model => hub.repo.clone(),
        RepoKind::Dataset => format!("datasets/{}", hub.repo),
    }
}
