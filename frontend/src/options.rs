//! Frontend options → a typed [`Request`]. Every error is one line that
//! names the build arg, the bad value and what is accepted.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

pub use modelpack::LayerPackaging;
use modelpack::patterns::PatternList;
use crate::source::SourceSpec;

/// Build-arg keys as they arrive (`--build-arg KEY=…` → `build-arg:KEY`).
pub mod keys {
    /// What to package (required).
    pub const SOURCE: &str = "source";
    /// Reference name in `index.json` and `descriptor.name`.
    pub const NAME: &str = "name";
    /// How files become layers.
    pub const LAYER_PACKAGING: &str = "layer_packaging";
    /// What the build result contains.
    pub const OUTPUT_MODE: &str = "output_mode";
    /// Only package files matching these patterns.
    pub const INCLUDE: &str = "include";
    /// Skip files matching these patterns.
    pub const EXCLUDE: &str = "exclude";
    /// Hugging Face revision (branch, tag, commit, `refs/pr/N`).
    pub const REVISION: &str = "revision";
    /// Hugging Face endpoint (mirrors, tests).
    pub const HF_ENDPOINT: &str = "hf_endpoint";
    /// Reproducible creation time (seconds since the epoch).
    pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";
    /// Network mode of download steps that run our own image.
    pub const DOWNLOAD_NETWORK: &str = "download_network";
    /// `sha256:<hex>` of a URL source's file (a comma list for several URLs).
    pub const CHECKSUM: &str = "checksum";
}

/// Every build arg this frontend reads.
pub const KNOWN: &[&str] = &[
    keys::SOURCE,
    keys::NAME,
    keys::LAYER_PACKAGING,
    keys::OUTPUT_MODE,
    keys::INCLUDE,
    keys::EXCLUDE,
    keys::REVISION,
    keys::HF_ENDPOINT,
    keys::DOWNLOAD_NETWORK,
    keys::SOURCE_DATE_EPOCH,
    keys::CHECKSUM,
];

/// Fails on a lower-case build arg we do not know (most likely a typo such
/// as `layer_packing`). Upper-case args (`BUILDKIT_SYNTAX`, `HTTP_PROXY`, …)
/// and the proxy variables belong to BuildKit and Docker and are left alone.
fn check_unknown_args(opts: &BTreeMap<String, String>) -> Result<()> {
    const PROXIES: &[&str] = &["http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"];
    for key in opts.keys().filter_map(|k| k.strip_prefix("build-arg:")) {
        let ours_in_style = key.chars().any(|c| c.is_ascii_lowercase());
        if ours_in_style && !KNOWN.contains(&key) && !PROXIES.contains(&key) {
            bail!("unknown build-arg {key}; this frontend reads: {}", KNOWN.join(", "));
        }
    }
    Ok(())
}

/// What the build result holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputMode {
    /// An OCI image layout (`index.json`, `oci-layout`, `blobs/`).
    Layout,
}

/// Network for steps that download with our own image (token fallback).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownloadNetwork {
    /// The daemon's default network.
    Default,
    /// The host network (needs `--allow network.host`).
    Host,
}

/// A fully parsed build request.
#[derive(Clone, Debug)]
pub struct Request {
    /// What to package.
    pub source: SourceSpec,
    /// Reference name; defaults from the source.
    pub name: String,
    /// Layer format.
    pub packaging: LayerPackaging,
    /// Result shape.
    pub output: OutputMode,
    /// Include/exclude filters on repo- or context-relative paths.
    pub patterns: PatternList,
    /// Hugging Face endpoint without trailing slash.
    pub hf_endpoint: String,
    /// `descriptor.createdAt` for sources that have no date of their own.
    pub created_at: Option<String>,
    /// Network mode of in-build download steps.
    pub download_network: DownloadNetwork,
}

/// Default Hugging Face endpoint.
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

fn one_of<T: Copy>(key: &str, value: &str, table: &[(&str, T)]) -> Result<T> {
    if let Some((_, v)) = table.iter().find(|(k, _)| *k == value) {
        return Ok(*v);
    }
    let accepted: Vec<&str> = table.iter().map(|(k, _)| *k).collect();
    bail!("build-arg {key}: unknown value {value:?}; accepted: {}", accepted.join(", "))
}

/// Parses the build args of a frontend invocation.
pub fn parse(opts: &BTreeMap<String, String>) -> Result<Request> {
    check_unknown_args(opts)?;
    let arg = |k: &str| opts.get(&format!("build-arg:{k}")).map(|v| v.trim()).filter(|v| !v.is_empty());

    let Some(source) = arg(keys::SOURCE) else {
        bail!(
            "build-arg source is required: pass --build-arg source=<.|path/glob in the context|huggingface://org/repo[@rev][/path]|https://host/path/file>"
        );
    };
    let revision = arg(keys::REVISION);
    let mut source = SourceSpec::parse(source, revision)?;
    source.apply_checksum(arg(keys::CHECKSUM))?;

    let name = match arg(keys::NAME) {
        Some(n) => validate_name(n)?,
        None => source.default_name(),
    };

    let packaging = match arg(keys::LAYER_PACKAGING) {
        None => LayerPackaging::Raw,
        Some(v) => {
            let table: Vec<(&str, LayerPackaging)> = LayerPackaging::ALL.iter().map(|p| (p.suffix(), *p)).collect();
            one_of(keys::LAYER_PACKAGING, v, &table)?
        }
    };
    let output = match arg(keys::OUTPUT_MODE) {
        None => OutputMode::Layout,
        Some(v) => one_of(keys::OUTPUT_MODE, v, &[("layout", OutputMode::Layout)])?,
    };
    let download_network = match arg(keys::DOWNLOAD_NETWORK) {
        None => DownloadNetwork::Default,
        Some(v) => one_of(
            keys::DOWNLOAD_NETWORK,
            v,
            &[("default", DownloadNetwork::Default), ("host", DownloadNetwork::Host)],
        )?,
    };

    let patterns = PatternList::parse(
        arg(keys::INCLUDE).unwrap_or(""),
        arg(keys::EXCLUDE).unwrap_or(""),
    );

    let hf_endpoint = match arg(keys::HF_ENDPOINT) {
        None => DEFAULT_HF_ENDPOINT.to_string(),
        Some(e) if e.starts_with("http://") || e.starts_with("https://") => {
            e.trim_end_matches('/').to_string()
        }
        Some(e) => bail!("build-arg hf_endpoint: {e:?} is not an http(s) URL; e.g. https://huggingface.co"),
    };

    let created_at = match arg(keys::SOURCE_DATE_EPOCH) {
        None => None,
        Some(v) => {
            let secs: i64 = v.parse().map_err(|_| {
                anyhow::anyhow!("build-arg SOURCE_DATE_EPOCH: {v:?} is not a number of seconds since 1970")
            })?;
            Some(modelpack::time::rfc3339(secs))
        }
    };

    Ok(Request {
        source,
        name,
        packaging,
        output,
        patterns,
        hf_endpoint,
        created_at,
        download_network,
    })
}

/// Checks a reference name: it becomes a tag (`org.opencontainers.image.ref.name`).
pub fn validate_name(name: &str) -> Result<String> {
    let ok_first = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok_first || !ok_rest || name.len() > 128 {
        bail!(
            "build-arg name: {name:?} is not a valid reference name; use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        );
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (format!("build-arg:{k}"), v.to_string())).collect()
    }

    #[test]
    fn missing_source_names_the_arg() {
        let err = parse(&opts(&[("name", "x")])).unwrap_err().to_string();
        assert!(err.contains("build-arg source is required"), "{err}");
    }

    #[test]
    fn unknown_values_list_accepted_ones() {
        let err = parse(&opts(&[("source", "."), ("layer_packaging", "zip")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "build-arg layer_packaging: unknown value \"zip\"; accepted: raw, tar, tar+gzip, tar+zstd"
        );
        let err = parse(&opts(&[("source", "."), ("output_mode", "x")])).unwrap_err();
        assert!(err.to_string().contains("accepted: layout"), "{err}");
    }

    #[test]
    fn defaults_and_name() {
        let r = parse(&opts(&[("source", ".")])).unwrap();
        assert_eq!(r.packaging, LayerPackaging::Raw);
        assert_eq!(r.output, OutputMode::Layout);
        assert_eq!(r.name, "model");
        assert_eq!(r.hf_endpoint, DEFAULT_HF_ENDPOINT);
        assert_eq!(r.created_at, None);
        let r = parse(&opts(&[("source", "."), ("name", "tiny-1.0"), ("SOURCE_DATE_EPOCH", "86400")]))
            .unwrap();
        assert_eq!(r.name, "tiny-1.0");
        assert_eq!(r.created_at.as_deref(), Some("1970-01-02T00:00:00Z"));
    }

    #[test]
    fn unknown_lowercase_args_are_typos_but_docker_args_pass() {
        let err = parse(&opts(&[("source", "."), ("layer_packing", "tar")])).unwrap_err().to_string();
        assert!(err.starts_with("unknown build-arg layer_packing; this frontend reads: source, name, layer_packaging"), "{err}");
        let ok = opts(&[("source", "."), ("BUILDKIT_SYNTAX", "x"), ("HTTP_PROXY", "p"), ("no_proxy", "q")]);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn bad_names_are_rejected() {
        for bad in ["", "-x", "a b", "a/b", "é"] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_frontend_source_opt_is_not_the_model_source() {
        let mut o = opts(&[]);
        o.insert("source".into(), "localhost:5000/frontend:dev".into());
        assert!(parse(&o).is_err());
    }
}
