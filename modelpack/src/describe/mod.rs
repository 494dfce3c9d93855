//! Describes a model from its files: parameter count, precision,
//! quantization, architecture, licenses, languages and modalities, read
//! from weight headers (safetensors, GGUF), `config.json` and the model
//! card. Only headers and small text files are read, never weight data.
//!
//! Depends on std, serde, serde_json, serde_yaml_ng and anyhow only.
//!
//! Precedence when sources disagree:
//! - `paramSize`, `precision`: weight headers (sum of element counts over
//!   all safetensors files, else over the files of one GGUF model); then
//!   `config.json`'s `torch_dtype` for precision and a GGUF
//!   `general.size_label` of the spec's form for paramSize.
//! - `quantization`: GGUF `general.file_type` (llama.cpp spelling, e.g.
//!   "Q4_K_M"; not for F32/F16/BF16) when GGUF files are the counted
//!   weights, else `config.json` `quantization_config.quant_method`.
//! - `architecture`: `config.json`, else GGUF `general.architecture`.
//! - `family`: `config.json` `model_type`, else GGUF `general.basename`.
//! - `name`, `version`: GGUF `general.name`, `general.version`.
//! - `licenses`: the model card, else GGUF `general.license`.
//! - `languages`, `inputTypes`, `outputTypes`: the model card.
//! - `format`: from weight file extensions, only when all agree.

pub mod config_json;
pub mod gguf;
pub mod model_card;
pub mod params;
pub mod safetensors;

use crate::config::is_param_size;
use config_json::parse_config;
use gguf::{file_type_name, GgufHeader};
use model_card::parse_model_card;
use params::{format_param_size, ggml_precision, precision_from_counts, safetensors_precision};
use safetensors::parse_index;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Largest `config.json` or safetensors index read.
pub const MAX_JSON_BYTES: u64 = 16 << 20;
/// How much of a model card is read (its front matter must fit).
pub const MAX_CARD_BYTES: u64 = 1 << 20;

/// What the files say about a model, in the spec's spelling; None when unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelFacts {
    /// e.g. "LlamaForCausalLM" or "llama".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// "safetensors", "gguf", "onnx" or "pytorch".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The exact number of parameters counted in the weights' headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_count: Option<u128>,
    /// e.g. "6.7B", see [`params::format_param_size`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_size: Option<String>,
    /// e.g. "bfloat16" or "float16,float32", see [`params::precision_from_counts`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// e.g. "awq" or "Q4_K_M".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    /// License identifiers as the sources give them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licenses: Option<Vec<String>>,
    /// Two-letter language codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<String>>,
    /// Input modalities (spec enum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_types: Option<Vec<String>>,
    /// Output modalities (spec enum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_types: Option<Vec<String>>,
    /// Model family, e.g. "llama".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Model version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A boxed opener of a file's bytes.
type Opener = Box<dyn Fn() -> io::Result<Box<dyn Read>>>;

/// One file of the model: its path in the model and a way to open it.
pub struct FileInput {
    /// `/`-separated path relative to the model root (e.g. "config.json").
    pub path: String,
    open: Opener,
}

impl FileInput {
    /// A file opened by `open` (called at most once or twice, read from the start).
    pub fn new(
        path: impl Into<String>,
        open: impl Fn() -> io::Result<Box<dyn Read>> + 'static,
    ) -> Self {
        FileInput {
            path: path.into(),
            open: Box::new(open),
        }
    }

    /// The file `root/path` on disk.
    pub fn on_disk(root: &Path, path: &str) -> Self {
        let full: PathBuf = root.join(path);
        FileInput::new(path, move || {
            Ok(Box::new(std::fs::File::open(&full)?) as Box<dyn Read>)
        })
    }

    /// A file held in memory.
    pub fn from_bytes(path: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> Self {
        let bytes: Arc<[u8]> = bytes.into();
        FileInput::new(path, move || {
            Ok(Box::new(io::Cursor::new(bytes.clone())) as Box<dyn Read>)
        })
    }

    /// Opens the bytes from the start.
    pub fn open(&self) -> io::Result<Box<dyn Read>> {
        (self.open)()
    }
}

/// A file that could not be read or understood.
#[derive(Debug)]
pub struct FileError {
    /// The model path of the file.
    pub path: String,
    /// What is wrong.
    pub error: anyhow::Error,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:#}", self.path, self.error)
    }
}

impl std::error::Error for FileError {}

/// The result of [`describe`]: the facts, and the files that failed. Facts
/// that depend on a failed file (e.g. paramSize when one shard is bad) are
/// left out; the caller decides whether any error fails the build.
#[derive(Debug, Default)]
pub struct Description {
    /// What could be told.
    pub facts: ModelFacts,
    /// Files that could not be read or understood.
    pub errors: Vec<FileError>,
}

/// The weight format a path's extension stands for: safetensors, gguf,
/// onnx (`.onnx`, `.onnx_data`) or pytorch (`.bin`, `.pt`, `.pth`); None
/// for other files. Callers should leave out `.bin` files that are not
/// weights (e.g. `training_args.bin`).
pub fn weight_format(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "safetensors" => "safetensors",
        "gguf" => "gguf",
        "onnx" | "onnx_data" => "onnx",
        "bin" | "pt" | "pth" => "pytorch",
        _ => return None,
    })
}

/// Whether the describe step should read `path` (a path in the model):
/// weight files (`is_weight`: classified as weights, so that e.g.
/// `training_args.bin` is left out), safetensors shard indexes, and the
/// root `config.json` and `README.md`.
pub fn wants(path: &str, is_weight: bool) -> bool {
    let lower = path.to_ascii_lowercase();
    (is_weight && weight_format(path).is_some())
        || lower.ends_with(".safetensors.index.json")
        || lower == "config.json"
        || lower == "readme.md"
}

/// The files of a model that the describe step reads, by the one rule both
/// front doors use ([`wants`] with the file's classified kind).
pub fn selection(files: &[crate::plan::PlanFile]) -> Vec<&crate::plan::PlanFile> {
    files
        .iter()
        .filter(|f| {
            wants(
                &f.path,
                crate::mediatype::classify(&f.path, f.size).0 == crate::mediatype::Kind::Weight,
            )
        })
        .collect()
}

impl ModelFacts {
    /// The facts as config fields: architecture, format, paramSize,
    /// precision, quantization and capabilities under `config`; licenses,
    /// family and version under `descriptor`, and the name too when
    /// `use_name` (the user gave no name of their own).
    pub fn to_config(&self, use_name: bool) -> crate::config::PartialConfig {
        use crate::oci::{Capabilities, Modality, ModelDescriptor, ModelProperties};
        let modalities = |v: &Option<Vec<String>>| -> Option<Vec<Modality>> {
            let parsed: Vec<Modality> = v
                .iter()
                .flatten()
                .filter_map(|m| serde_json::from_value(serde_json::Value::String(m.clone())).ok())
                .collect();
            (!parsed.is_empty()).then_some(parsed)
        };
        let capabilities = Capabilities {
            input_types: modalities(&self.input_types),
            output_types: modalities(&self.output_types),
            languages: self.languages.clone().filter(|l| !l.is_empty()),
            ..Default::default()
        };
        crate::config::PartialConfig {
            descriptor: ModelDescriptor {
                family: self.family.clone(),
                name: self.name.clone().filter(|n| use_name && !n.is_empty()),
                version: self.version.clone(),
                licenses: self.licenses.clone().filter(|l| !l.is_empty()),
                ..Default::default()
            },
            config: ModelProperties {
                architecture: self.architecture.clone(),
                format: self.format.clone(),
                param_size: self.param_size.clone(),
                precision: self.precision.clone(),
                quantization: self.quantization.clone(),
                capabilities: (capabilities != Capabilities::default()).then_some(capabilities),
            },
        }
    }
}

fn clean(path: &str) -> &str {
    path.trim_start_matches("./")
}

fn basename(path: &str) -> &str {
    clean(path).rsplit('/').next().unwrap_or(path)
}

fn read_limited(f: &FileInput, max: u64, truncate: bool) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    f.open()
        .context("opening")?
        .take(max + 1)
        .read_to_end(&mut buf)
        .context("reading")?;
    if buf.len() as u64 > max {
        if !truncate {
            bail!("larger than the {max}-byte limit");
        }
        buf.truncate(max as usize);
    }
    Ok(buf)
}

/// Describes a model from its files (headers only). See the module doc for
/// which source wins when sources disagree.
pub fn describe(files: &[FileInput]) -> Description {
    let mut errors = Vec::new();
    let mut fail = |path: &str, error: anyhow::Error| {
        errors.push(FileError {
            path: path.to_string(),
            error,
        })
    };

    // Format: all weight files must agree.
    let formats: BTreeSet<&str> = files
        .iter()
        .filter_map(|f| weight_format(&f.path))
        .collect();
    let format = (formats.len() == 1)
        .then(|| formats.iter().next().map(|s| s.to_string()))
        .flatten();

    // safetensors headers and indexes.
    let mut st_counts: BTreeMap<Option<&'static str>, u128> = BTreeMap::new();
    let mut st_seen = BTreeSet::new();
    let mut st_ok = true;
    for f in files
        .iter()
        .filter(|f| weight_format(&f.path) == Some("safetensors"))
    {
        match f
            .open()
            .context("opening")
            .and_then(safetensors::read_header)
        {
            Ok(h) => {
                for (dtype, n) in h.elements_by_dtype {
                    let slot = st_counts.entry(safetensors_precision(&dtype)).or_insert(0);
                    *slot = slot.saturating_add(n);
                }
                st_seen.insert(clean(&f.path).to_string());
            }
            Err(e) => {
                st_ok = false;
                fail(&f.path, e.context("reading the safetensors header"));
            }
        }
    }
    for f in files
        .iter()
        .filter(|f| basename(&f.path).ends_with(".safetensors.index.json"))
    {
        let dir = clean(&f.path)
            .rsplit_once('/')
            .map(|(d, _)| format!("{d}/"))
            .unwrap_or_default();
        match read_limited(f, MAX_JSON_BYTES, false).and_then(|b| parse_index(&b)) {
            Ok(index) => {
                if let Some(missing) = index
                    .shards
                    .iter()
                    .find(|s| !st_seen.contains(&format!("{dir}{s}")))
                {
                    st_ok = false;
                    fail(
                        &f.path,
                        anyhow::anyhow!(
                            "lists shard {missing:?}, which is not among the files read"
                        ),
                    );
                }
            }
            Err(e) => fail(&f.path, e.context("reading the safetensors index")),
        }
    }

    // GGUF headers.
    let mut ggufs: Vec<(&str, GgufHeader)> = Vec::new();
    let mut gguf_ok = true;
    for f in files
        .iter()
        .filter(|f| weight_format(&f.path) == Some("gguf"))
    {
        match f.open().context("opening").and_then(gguf::read_header) {
            Ok(h) => ggufs.push((&f.path, h)),
            Err(e) => {
                gguf_ok = false;
                fail(&f.path, e.context("reading the GGUF header"));
            }
        }
    }
    ggufs.sort_by(|a, b| a.0.cmp(b.0));
    // One GGUF model: a single file, or all files of one split set.
    let gguf_single = match ggufs.as_slice() {
        [] => false,
        [(path, h)] => match h.metadata.split_count {
            Some(n) if n > 1 => {
                fail(
                    path,
                    anyhow::anyhow!("is one of {n} split files, but only 1 was given"),
                );
                false
            }
            _ => true,
        },
        many => {
            let counts: BTreeSet<Option<u64>> =
                many.iter().map(|(_, h)| h.metadata.split_count).collect();
            let nos: BTreeSet<Option<u64>> =
                many.iter().map(|(_, h)| h.metadata.split_no).collect();
            let n = many.len() as u64;
            let want: BTreeSet<Option<u64>> = (0..n).map(Some).collect();
            match counts.iter().next() {
                Some(Some(c)) if counts.len() == 1 && *c == n && nos == want => true,
                Some(Some(c)) if counts.len() == 1 && *c > 1 => {
                    let given: Vec<u64> = nos.iter().flatten().copied().collect();
                    fail(
                        many[0].0,
                        anyhow::anyhow!(
                            "split.count is {c}, but the files given have split.no {}",
                            given
                                .iter()
                                .map(u64::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    false
                }
                // Several separate GGUF models (e.g. two quantizations): no single count.
                _ => false,
            }
        }
    };
    let gguf_meta = ggufs
        .iter()
        .find(|(_, h)| h.metadata.split_no == Some(0))
        .or(ggufs.first())
        .map(|(_, h)| h.metadata.clone())
        .unwrap_or_default();

    // Which weights are counted.
    let mut counts = BTreeMap::new();
    let mut counted_gguf = false;
    if !st_seen.is_empty() || !st_ok {
        if st_ok {
            counts = st_counts;
        }
    } else if gguf_single && gguf_ok {
        counted_gguf = true;
        for (_, h) in &ggufs {
            for t in &h.tensors {
                let slot = counts.entry(ggml_precision(t.ggml_type)).or_insert(0u128);
                *slot = slot.saturating_add(t.elements);
            }
        }
    }
    let total: u128 = counts.values().fold(0u128, |a, &n| a.saturating_add(n));

    // config.json and the model card, at the model root.
    let config = files
        .iter()
        .find(|f| clean(&f.path) == "config.json")
        .and_then(|f| {
            read_limited(f, MAX_JSON_BYTES, false)
                .and_then(|b| parse_config(&b))
                .map_err(|e| fail(&f.path, e.context("reading config.json")))
                .ok()
        });
    let config = config.unwrap_or_default();
    let card = files
        .iter()
        .find(|f| clean(&f.path).eq_ignore_ascii_case("readme.md"))
        .and_then(|f| {
            read_limited(f, MAX_CARD_BYTES, true)
                .and_then(|b| parse_model_card(&String::from_utf8_lossy(&b)))
                .map_err(|e| fail(&f.path, e.context("reading the model card")))
                .ok()
        });
    let card = card.unwrap_or_default();

    let non_empty = |v: Vec<String>| (!v.is_empty()).then_some(v);
    let size_label = gguf_meta
        .size_label
        .clone()
        .filter(|s| gguf_single && is_param_size(s));
    let gguf_quant = gguf_meta
        .file_type
        .filter(|&t| counted_gguf && gguf::file_type_is_quantized(t))
        .and_then(file_type_name);
    let facts = ModelFacts {
        architecture: config.architecture.or(gguf_meta.architecture),
        format,
        param_count: (total > 0).then_some(total),
        param_size: format_param_size(total).or(size_label),
        precision: precision_from_counts(&counts).or(config.precision),
        quantization: gguf_quant.map(str::to_string).or(config.quantization),
        licenses: non_empty(card.licenses).or_else(|| gguf_meta.license.map(|l| vec![l])),
        languages: non_empty(card.languages),
        input_types: non_empty(card.input_types),
        output_types: non_empty(card.output_types),
        family: config.model_type.or(gguf_meta.basename),
        name: gguf_meta.name,
        version: gguf_meta.version,
    };
    Description { facts, errors }
}

#[cfg(test)]
mod tests;
