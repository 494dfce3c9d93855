//! The remote caches a build may import (`--cache-from`), read from the
//! frontend options as BuildKit's Dockerfile frontend reads them, so that
//! every solve the frontend sends can ask BuildKit to use them.
//!
//! buildx and buildctl send `cache-imports`, a JSON list of
//! `{"Type": …, "Attrs": {…}}` entries (BuildKit's `CacheOptionsEntry`);
//! older clients send `cache-from`, a comma-separated list of registry
//! references. Both are honoured, in that order. The entries are passed
//! on unchanged, whatever their type (`registry`, `local`, `gha`, `s3`,
//! `azblob`, …): BuildKit, not the frontend, reads them.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Context as _, Result};
use llb::proto::gateway::CacheOptionsEntry;
use serde::Deserialize;

/// The frontend option holding the JSON list of cache imports.
pub const KEY_CACHE_IMPORTS: &str = "cache-imports";
/// The legacy frontend option: comma-separated registry references.
pub const KEY_CACHE_FROM: &str = "cache-from";

/// Attributes whose values are shown as they are in the LLB dump; every
/// other value (a `gha` token, S3 or Azure credentials) is replaced.
const SHOWN_ATTRS: &[&str] = &[
    "ref",
    "scope",
    "name",
    "src",
    "digest",
    "tag",
    "mode",
    "bucket",
    "region",
    "prefix",
    "manifests_prefix",
    "blobs_prefix",
    "container",
    "ignore-error",
];

/// One entry of `cache-imports`, as Go's `encoding/json` would read it
/// (field names matched without regard to case).
#[derive(Deserialize)]
struct Entry {
    #[serde(alias = "type", alias = "TYPE", default)]
    #[serde(rename = "Type")]
    kind: String,
    #[serde(alias = "attrs", alias = "ATTRS", default)]
    #[serde(rename = "Attrs")]
    attrs: Option<HashMap<String, String>>,
}

/// The cache imports the options ask for, in the order BuildKit's
/// Dockerfile frontend uses: `cache-imports` first, then `cache-from`.
pub fn parse(opts: &BTreeMap<String, String>) -> Result<Vec<CacheOptionsEntry>> {
    let mut imports = Vec::new();
    if let Some(json) = opts.get(KEY_CACHE_IMPORTS).filter(|v| !v.trim().is_empty()) {
        let entries: Vec<Option<Entry>> = serde_json::from_str(json).with_context(|| {
            format!("frontend option {KEY_CACHE_IMPORTS}: {json:?} is not a JSON list of {{\"Type\": …, \"Attrs\": {{…}}}} entries")
        })?;
        for (i, entry) in entries.into_iter().enumerate() {
            let Some(entry) = entry else {
                bail!("frontend option {KEY_CACHE_IMPORTS}: entry {i} is null");
            };
            if entry.kind.is_empty() {
                bail!("frontend option {KEY_CACHE_IMPORTS}: entry {i} has no Type");
            }
            imports.push(CacheOptionsEntry {
                r#type: entry.kind,
                attrs: entry.attrs.unwrap_or_default().into_iter().collect(),
            });
        }
    }
    if let Some(list) = opts.get(KEY_CACHE_FROM) {
        for reference in list.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            imports.push(CacheOptionsEntry {
                r#type: "registry".into(),
                attrs: [("ref".to_string(), reference.to_string())]
                    .into_iter()
                    .collect(),
            });
        }
    }
    Ok(imports)
}

/// A copy of `imports` fit to be recorded: the value of every attribute
/// not in a short list of names known to be harmless is replaced, so a
/// credential given to a cache backend never reaches a log.
pub fn redacted(imports: &[CacheOptionsEntry]) -> Vec<CacheOptionsEntry> {
    imports
        .iter()
        .map(|e| CacheOptionsEntry {
            r#type: e.r#type.clone(),
            attrs: e
                .attrs
                .iter()
                .map(|(k, v)| {
                    let v = if SHOWN_ATTRS.contains(&k.as_str()) {
                        v.clone()
                    } else {
                        "<redacted>".to_string()
                    };
                    (k.clone(), v)
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn attrs(e: &CacheOptionsEntry) -> Vec<(&str, &str)> {
        e.attrs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn buildx_cache_imports_are_read_in_order_with_their_attrs() {
        // What buildx 0.29 sends for two --cache-from flags.
        let json = r#"[{"Type":"registry","Attrs":{"ref":"127.0.0.1:5000/cache:tiny"}},{"Type":"local","Attrs":{"src":"/tmp/cache","digest":"sha256:ab"}}]"#;
        let got = parse(&opts(&[(KEY_CACHE_IMPORTS, json)])).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].r#type, "registry");
        assert_eq!(attrs(&got[0]), [("ref", "127.0.0.1:5000/cache:tiny")]);
        assert_eq!(got[1].r#type, "local");
        assert_eq!(
            attrs(&got[1]),
            [("digest", "sha256:ab"), ("src", "/tmp/cache")]
        );
    }

    #[test]
    fn legacy_cache_from_adds_registry_imports_after_the_json_ones() {
        let got = parse(&opts(&[
            (
                KEY_CACHE_IMPORTS,
                r#"[{"type":"gha","attrs":{"scope":"m"}}]"#,
            ),
            (KEY_CACHE_FROM, "reg/a:cache, reg/b:cache,"),
        ]))
        .unwrap();
        let summary: Vec<_> = got.iter().map(|e| (e.r#type.as_str(), attrs(e))).collect();
        assert_eq!(
            summary,
            [
                ("gha", vec![("scope", "m")]),
                ("registry", vec![("ref", "reg/a:cache")]),
                ("registry", vec![("ref", "reg/b:cache")]),
            ]
        );
    }

    #[test]
    fn no_option_means_no_imports() {
        assert!(parse(&opts(&[])).unwrap().is_empty());
        assert!(parse(&opts(&[(KEY_CACHE_IMPORTS, "")])).unwrap().is_empty());
    }

    #[test]
    fn malformed_imports_are_refused_naming_the_option() {
        for (bad, want) in [
            ("{", "is not a JSON list"),
            ("[null]", "entry 0 is null"),
            (r#"[{"Attrs":{}}]"#, "entry 0 has no Type"),
        ] {
            let err = parse(&opts(&[(KEY_CACHE_IMPORTS, bad)]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(KEY_CACHE_IMPORTS) && err.contains(want),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn credentials_of_a_cache_backend_are_redacted_for_the_dump() {
        let json = r#"[{"Type":"gha","Attrs":{"scope":"m","token":"ghs_secret","url":"https://cache/x"}}]"#;
        let got = redacted(&parse(&opts(&[(KEY_CACHE_IMPORTS, json)])).unwrap());
        assert_eq!(
            attrs(&got[0]),
            [
                ("scope", "m"),
                ("token", "<redacted>"),
                ("url", "<redacted>")
            ]
        );
    }
}
