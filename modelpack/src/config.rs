//! The ModelPack config's `descriptor` and `config` sections, composed from
//! three layers, each over the one before: what the source says (name,
//! revision, source URL, creation time), what the files say (headers,
//! `config.json`, the model card), and what the user says (`config_json`).
//! The result is checked against the rules of the model-spec schema that
//! the types cannot express, so every problem is one line naming the field.

use anyhow::{bail, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::oci::{ModelDescriptor, ModelProperties};

/// A partial `descriptor` + `config`: every field optional, unknown fields
/// refused. Used for what the files say and for user overrides.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialConfig {
    /// Descriptor fields.
    #[serde(default)]
    pub descriptor: ModelDescriptor,
    /// Config fields.
    #[serde(default)]
    pub config: ModelProperties,
}

impl PartialConfig {
    /// Parses a user override (a JSON object with `descriptor` and/or
    /// `config`); `what` names its origin in errors (e.g. `build-arg
    /// config_json`). Unknown fields and wrong types fail with the field's
    /// path.
    pub fn parse_override(text: &str, what: &str) -> Result<PartialConfig> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("{what}: not valid JSON: {e}"))?;
        if !value.is_object() {
            bail!("{what}: not a JSON object with \"descriptor\" and/or \"config\"");
        }
        let parsed: PartialConfig = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            anyhow::anyhow!(
                "{what}: {path}: {}; see the model-spec config fields",
                e.into_inner()
            )
        })?;
        check(&parsed.descriptor, &parsed.config).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
        Ok(parsed)
    }

    /// `self` with every field that `over` sets replaced by `over`'s value
    /// (objects merged key by key, lists and values replaced).
    pub fn overlay(&self, over: &PartialConfig) -> PartialConfig {
        overlay(self, over)
    }
}

/// `base` with every field that `over` sets replaced, recursively.
fn overlay<T: Serialize + DeserializeOwned>(base: &T, over: &T) -> T {
    fn merge(base: &mut Value, over: Value) {
        match (base, over) {
            (Value::Object(b), Value::Object(o)) => {
                for (k, v) in o {
                    if v.is_null() {
                        continue;
                    }
                    match b.get_mut(&k) {
                        Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                        _ => {
                            b.insert(k, v);
                        }
                    }
                }
            }
            (slot, v) => *slot = v,
        }
    }
    let mut b = serde_json::to_value(base).expect("config types serialize");
    merge(
        &mut b,
        serde_json::to_value(over).expect("config types serialize"),
    );
    serde_json::from_value(b).expect("a merge of two valid values of one type is valid")
}

/// The spec's precision values (mixed precisions are comma-separated).
pub const PRECISIONS: &[&str] = &[
    "float32",
    "float64",
    "float16",
    "bfloat16",
    "float8_e4m3",
    "float8_e5m2",
    "complex32",
    "complex64",
    "complex128",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
];

/// Whether `s` is a parameter count in the spec's form: digits, at most one
/// decimal digit, then K, M, B, T or Q (any case), e.g. `6.7B`.
pub fn is_param_size(s: &str) -> bool {
    let Some(scale) = s.chars().last() else {
        return false;
    };
    if !"KMBTQkmbtq".contains(scale) {
        return false;
    }
    let count = &s[..s.len() - 1];
    let (int, frac) = count.split_once('.').unwrap_or((count, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && (count.len() == int.len()
            || (frac.len() == 1 && frac.bytes().all(|b| b.is_ascii_digit())))
}

/// Checks what the types cannot: non-empty name, RFC 3339 instants,
/// two-letter languages, the spec's paramSize and precision forms.
pub fn check(descriptor: &ModelDescriptor, config: &ModelProperties) -> Result<()> {
    if descriptor.name.as_deref() == Some("") {
        bail!("descriptor.name must not be empty");
    }
    if let Some(t) = descriptor
        .created_at
        .as_deref()
        .filter(|t| !crate::time::is_rfc3339(t))
    {
        bail!(
            "descriptor.createdAt {t:?} is not an RFC 3339 date-time (e.g. 2025-01-31T12:00:00Z)"
        );
    }
    if let Some(p) = config.param_size.as_deref().filter(|p| !is_param_size(p)) {
        bail!("config.paramSize {p:?} is not a count with a scale (e.g. 7B, 6.7B, 22.7M; at most one decimal)");
    }
    if let Some(p) = &config.precision {
        if let Some(bad) = p.split(',').find(|v| !PRECISIONS.contains(v)) {
            bail!(
                "config.precision {p:?}: {bad:?} is not one of {}",
                PRECISIONS.join(", ")
            );
        }
    }
    if let Some(c) = &config.capabilities {
        if let Some(t) = c
            .knowledge_cutoff
            .as_deref()
            .filter(|t| !crate::time::is_rfc3339(t))
        {
            bail!("config.capabilities.knowledgeCutoff {t:?} is not an RFC 3339 date-time");
        }
        for (i, l) in c.languages.iter().flatten().enumerate() {
            if !(l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase())) {
                bail!("config.capabilities.languages[{i}] {l:?} is not a two-letter lower-case code (ISO 639-1, e.g. \"en\")");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Modality;

    #[test]
    fn overrides_parse_and_name_the_field_on_errors() {
        let p = PartialConfig::parse_override(
            r#"{"descriptor":{"authors":["A"],"vendor":"V"},"config":{"capabilities":{"inputTypes":["text"],"toolUsage":true}}}"#,
            "build-arg config_json",
        )
        .unwrap();
        assert_eq!(p.descriptor.vendor.as_deref(), Some("V"));
        assert_eq!(
            p.config.capabilities.unwrap().input_types,
            Some(vec![Modality::Text])
        );
        let err = |t: &str| {
            PartialConfig::parse_override(t, "build-arg config_json")
                .unwrap_err()
                .to_string()
        };
        let e = err(r#"{"descriptor":{"autors":["A"]}}"#);
        assert!(e.starts_with("build-arg config_json: descriptor.autors: unknown field `autors`, expected one of `createdAt`"), "{e}");
        let e = err(r#"{"config":{"capabilities":{"inputTypes":["smell"]}}}"#);
        assert!(
            e.starts_with(
                "build-arg config_json: config.capabilities.inputTypes[0]: unknown variant `smell`"
            ),
            "{e}"
        );
        let e = err(r#"{"config":{"paramSize":7}}"#);
        assert!(
            e.starts_with("build-arg config_json: config.paramSize: invalid type"),
            "{e}"
        );
        let e = err(r#"{"modelfs":{}}"#);
        assert!(e.contains("unknown field `modelfs`"), "{e}");
        let e = err("[1]");
        assert!(
            e.starts_with("build-arg config_json: not a JSON object"),
            "{e}"
        );
        let e = err(r#"{"config":{"capabilities":{"languages":["en","eng"]}}}"#);
        assert_eq!(e, "build-arg config_json: config.capabilities.languages[1] \"eng\" is not a two-letter lower-case code (ISO 639-1, e.g. \"en\")");
        let e = err(r#"{"descriptor":{"createdAt":"yesterday"}}"#);
        assert!(
            e.contains("descriptor.createdAt \"yesterday\" is not an RFC 3339"),
            "{e}"
        );
        let e = err(r#"{"config":{"precision":"fp16"}}"#);
        assert!(
            e.contains("config.precision \"fp16\": \"fp16\" is not one of float32"),
            "{e}"
        );
        assert!(
            err("{} x").starts_with("build-arg config_json: not valid JSON: trailing characters")
        );
    }

    #[test]
    fn overlay_replaces_set_fields_and_merges_objects() {
        let base = PartialConfig::parse_override(
            r#"{"descriptor":{"name":"a","licenses":["mit"]},"config":{"format":"gguf","capabilities":{"languages":["en"]}}}"#,
            "t",
        )
        .unwrap();
        let over = PartialConfig::parse_override(
            r#"{"descriptor":{"licenses":["apache-2.0"]},"config":{"capabilities":{"reasoning":true}}}"#,
            "t",
        )
        .unwrap();
        let m = base.overlay(&over);
        assert_eq!(m.descriptor.name.as_deref(), Some("a"));
        assert_eq!(m.descriptor.licenses, Some(vec!["apache-2.0".to_string()]));
        let caps = m.config.capabilities.unwrap();
        assert_eq!(
            (caps.languages, caps.reasoning),
            (Some(vec!["en".to_string()]), Some(true))
        );
        assert_eq!(m.config.format.as_deref(), Some("gguf"));
    }

    #[test]
    fn param_sizes_in_the_spec_form() {
        for good in ["7B", "6.7B", "22.7M", "1.0t", "100m", "135B", "999K"] {
            assert!(is_param_size(good), "{good}");
        }
        for bad in ["", "B", "7", "6.75B", "7.B", ".5B", "7 B", "7X", "é"] {
            assert!(!is_param_size(bad), "{bad}");
        }
    }
}
