//! What to package: the grammar of a `source` (build arg or CLI argument).

use crate::setting::SourceError;

pub use crate::huggingface::HfRef;
pub use crate::patterns::is_bookkeeping;
pub use crate::urlsource::UrlSource;

/// A parsed `source` build arg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    /// The build context, whole (`None`) or a path/glob inside it.
    Context(Option<String>),
    /// A Hugging Face repository, optionally one file or folder of it.
    HuggingFace(HfRef),
    /// One or more files fetched over http(s), in the order given.
    Url(Vec<UrlSource>),
}

pub use crate::setting::ACCEPTED_FORMS;

impl SourceSpec {
    /// Parses `source`; `revision` is the separate build arg, if given.
    pub fn parse(source: &str, revision: Option<&str>) -> Result<Self, SourceError> {
        if let Some(rest) = source
            .strip_prefix("huggingface://")
            .or_else(|| source.strip_prefix("hf://"))
        {
            return Ok(SourceSpec::HuggingFace(HfRef::parse(rest, revision)?));
        }
        if crate::urlsource::is_url_list(source) {
            if revision.is_some() {
                return Err(SourceError::RevisionForUrls);
            }
            return Ok(SourceSpec::Url(crate::urlsource::parse_list(source)?));
        }
        if revision.is_some() {
            return Err(SourceError::RevisionForContext {
                given: source.to_string(),
            });
        }
        if let Some((scheme, _)) = source.split_once("://") {
            return Err(SourceError::UnsupportedScheme {
                scheme: scheme.to_string(),
            });
        }
        if source == "." || source == "context" || source == "./" {
            return Ok(SourceSpec::Context(None));
        }
        let path = source
            .trim_start_matches("./")
            .trim_start_matches('/')
            .trim_end_matches('/');
        if path.split('/').any(|c| c == "..") {
            return Err(SourceError::LeavesContext {
                given: source.to_string(),
            });
        }
        if path.is_empty() || path == "." {
            return Ok(SourceSpec::Context(None));
        }
        Ok(SourceSpec::Context(Some(path.to_string())))
    }

    /// Applies build arg `checksum`, which only URL sources take.
    pub fn apply_checksum(&mut self, checksum: Option<&str>) -> Result<(), SourceError> {
        match (self, checksum) {
            (_, None) => Ok(()),
            (SourceSpec::Url(urls), Some(c)) => crate::urlsource::apply_checksums(urls, c),
            (_, Some(_)) => Err(SourceError::ChecksumNotForUrls),
        }
    }

    /// The reference name used when `name` is not given.
    pub fn default_name(&self) -> String {
        let raw = match self {
            SourceSpec::Context(None) => "model",
            SourceSpec::Context(Some(p)) => p
                .split('/')
                .rev()
                .find(|c| !c.contains(['*', '?', '[']))
                .unwrap_or("model"),
            SourceSpec::HuggingFace(r) => r.repo.rsplit('/').next().unwrap_or("model"),
            SourceSpec::Url(urls) => urls.first().map(UrlSource::stem).unwrap_or("model"),
        };
        let cleaned: String = raw
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let cleaned = cleaned.trim_start_matches(['.', '_', '-']).to_string();
        if cleaned.is_empty() {
            "model".into()
        } else {
            cleaned.chars().take(128).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_forms() {
        for s in [".", "context", "./", "/"] {
            assert_eq!(
                SourceSpec::parse(s, None).unwrap(),
                SourceSpec::Context(None),
                "{s}"
            );
        }
        assert_eq!(
            SourceSpec::parse("./models/tiny/", None).unwrap(),
            SourceSpec::Context(Some("models/tiny".into()))
        );
        assert!(SourceSpec::parse("../x", None).is_err());
        let err = SourceSpec::parse("s3://bucket/x", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("s3:// sources are not supported") && err.contains("huggingface://"),
            "{err}"
        );
    }

    #[test]
    fn default_names() {
        let name = |s: &str| SourceSpec::parse(s, None).unwrap().default_name();
        assert_eq!(name("."), "model");
        assert_eq!(name("models/Tiny Llama"), "tiny-llama");
        assert_eq!(name("models/*.gguf"), "models");
        assert_eq!(name("huggingface://Qwen/Qwen3-0.6B@main"), "qwen3-0.6b");
        assert_eq!(
            name("https://h/x/Qwen3-0.6B-Q8_0.gguf?download=1, https://h/y/b.gguf"),
            "qwen3-0.6b-q8_0"
        );
    }

    #[test]
    fn url_sources() {
        let s = SourceSpec::parse("https://h/m.gguf http://g:81/c.json", None).unwrap();
        let SourceSpec::Url(urls) = &s else {
            panic!("a URL source: {s:?}")
        };
        assert_eq!(
            urls.iter()
                .map(|u| u.file_name.as_str())
                .collect::<Vec<_>>(),
            ["m.gguf", "c.json"]
        );
        assert!(SourceSpec::parse("https://h/m.gguf", Some("main")).is_err());
        let mut s = SourceSpec::parse("https://h/m.gguf", None).unwrap();
        s.apply_checksum(Some(&format!("sha256:{}", "0".repeat(64))))
            .unwrap();
        let mut ctx = SourceSpec::parse(".", None).unwrap();
        let err = ctx
            .apply_checksum(Some("sha256:00"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("build-arg checksum only applies to http(s):// sources"),
            "{err}"
        );
    }
}
