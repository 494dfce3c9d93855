//! Which ModelPack kind a file is, from its name (and, for unknown names,
//! its size).

/// The `<kind>` of `application/vnd.cncf.model.<kind>.v1.<format>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Tokenizer, model and generation config files.
    WeightConfig,
    /// Model weights.
    Weight,
    /// Source code and scripts.
    Code,
    /// Documentation and licenses.
    Doc,
    /// Data sets.
    Dataset,
}

impl Kind {
    /// The media-type word for this kind.
    pub fn word(self) -> &'static str {
        match self {
            Kind::WeightConfig => "weight.config",
            Kind::Weight => "weight",
            Kind::Code => "code",
            Kind::Doc => "doc",
            Kind::Dataset => "dataset",
        }
    }

    /// `application/vnd.cncf.model.<kind>.v1.<format>`.
    pub fn media_type(self, format: &str) -> String {
        format!("application/vnd.cncf.model.{}.v1.{format}", self.word())
    }
}

/// Files of unknown type larger than this are taken to be weights.
pub const UNKNOWN_WEIGHT_THRESHOLD: u64 = 10 << 20;

const WEIGHT_EXT: &[&str] = &[
    "safetensors", "gguf", "ggml", "bin", "pt", "pth", "ckpt", "onnx", "onnx_data", "h5", "keras",
    "tflite", "msgpack", "pkl", "pickle", "joblib", "npy", "npz", "mlmodel", "engine", "trt",
    "llamafile", "mar", "pt2", "ptl", "nemo",
];
const CONFIG_EXT: &[&str] = &["json", "yaml", "yml", "toml", "jinja", "tiktoken", "cfg", "ini", "conf"];
const CONFIG_NAMES: &[&str] = &[
    "tokenizer.model", "spiece.model", "vocab.txt", "merges.txt", "added_tokens.txt",
    "special_tokens_map.txt", "tiktoken.model",
];
const CODE_EXT: &[&str] = &[
    "py", "sh", "ipynb", "js", "ts", "go", "rs", "c", "cc", "cpp", "h", "hpp", "cu", "java", "rb",
    "lua", "swift", "kt", "r", "pyx", "so",
];
const DOC_EXT: &[&str] = &["md", "txt", "rst", "pdf", "html", "adoc", "png", "jpg", "jpeg", "gif", "svg"];
const DOC_PREFIXES: &[&str] = &["readme", "license", "licence", "notice", "copying", "citation", "usage_policy"];
const DATASET_EXT: &[&str] = &["csv", "tsv", "parquet", "arrow", "jsonl", "tfrecord"];

/// Classifies a file; the flag is true when the kind is a size-based guess
/// (`org.cncf.model.file.mediatype.untested`).
pub fn classify(path: &str, size: u64) -> (Kind, bool) {
    let base = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let ext = base.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let has = |list: &[&str]| list.contains(&ext);
    let kind = if has(WEIGHT_EXT) || base.contains(".gguf.") || (base.contains(".safetensors.") && !base.ends_with(".json")) {
        Some(Kind::Weight)
    } else if DOC_PREFIXES.iter().any(|p| base.starts_with(p)) {
        Some(Kind::Doc)
    } else if CONFIG_NAMES.contains(&base.as_str())
        || base.starts_with("sentencepiece")
        || base.starts_with("vocab.")
        || has(CONFIG_EXT)
    {
        Some(Kind::WeightConfig)
    } else if has(CODE_EXT) {
        Some(Kind::Code)
    } else if has(DATASET_EXT) {
        Some(Kind::Dataset)
    } else if has(DOC_EXT) {
        Some(Kind::Doc)
    } else {
        None
    };
    match kind {
        Some(k) => (k, false),
        None if size > UNKNOWN_WEIGHT_THRESHOLD => (Kind::Weight, true),
        None => (Kind::WeightConfig, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("model.safetensors", Kind::Weight),
            ("sub/model-00001-of-00002.gguf", Kind::Weight),
            ("pytorch_model.bin", Kind::Weight),
            ("x.pt", Kind::Weight),
            ("x.pth", Kind::Weight),
            ("x.ckpt", Kind::Weight),
            ("model.onnx", Kind::Weight),
            ("config.json", Kind::WeightConfig),
            ("model.safetensors.index.json", Kind::WeightConfig),
            ("tokenizer.json", Kind::WeightConfig),
            ("tokenizer.model", Kind::WeightConfig),
            ("vocab.txt", Kind::WeightConfig),
            ("merges.txt", Kind::WeightConfig),
            ("vocab.json", Kind::WeightConfig),
            ("README.md", Kind::Doc),
            ("LICENSE", Kind::Doc),
            ("LICENSE.txt", Kind::Doc),
            ("docs/usage.md", Kind::Doc),
            ("modeling_x.py", Kind::Code),
            ("train.csv", Kind::Dataset),
        ];
        for (path, kind) in cases {
            assert_eq!(classify(path, 10), (kind, false), "{path}");
        }
    }

    #[test]
    fn unknown_files_are_guessed_by_size() {
        assert_eq!(classify(".gitattributes", 100), (Kind::WeightConfig, true));
        assert_eq!(classify("blob.dat", UNKNOWN_WEIGHT_THRESHOLD + 1), (Kind::Weight, true));
    }

    #[test]
    fn media_types() {
        assert_eq!(Kind::Weight.media_type("raw"), "application/vnd.cncf.model.weight.v1.raw");
        assert_eq!(Kind::WeightConfig.media_type("tar+zstd"), "application/vnd.cncf.model.weight.config.v1.tar+zstd");
    }
}
