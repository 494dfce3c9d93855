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
    /// `output_mode=image`: where the model files go in the image.
    pub const MODEL_DIR: &str = "model_dir";
    /// `output_mode=image`: the image the model is put on top of.
    pub const BASE_IMAGE: &str = "base_image";
    /// `packager/generic`: the manifest `artifactType`.
    pub const ARTIFACT_TYPE: &str = "artifact_type";
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
    keys::MODEL_DIR,
    keys::BASE_IMAGE,
    keys::ARTIFACT_TYPE,
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
    /// Only the files, at their model paths.
    Files,
    /// The files plus `containerimage.artifact*` metadata for exporters
    /// that build artifacts themselves.
    Artifact,
    /// A data image for stock exporters: one layer per file under `model_dir`.
    Image,
}

/// `output_mode` values as written in build args.
pub const OUTPUT_MODES: &[(&str, OutputMode)] = &[
    ("layout", OutputMode::Layout),
    ("files", OutputMode::Files),
    ("artifact", OutputMode::Artifact),
    ("image", OutputMode::Image),
];

/// Default `model_dir`.
pub const DEFAULT_MODEL_DIR: &str = "/models";

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
    /// `SOURCE_DATE_EPOCH` in seconds, if given.
    pub source_date_epoch: Option<i64>,
    /// Network mode of in-build download steps.
    pub download_network: DownloadNetwork,
    /// `output_mode=image`: absolute, clean directory of the model files.
    pub model_dir: String,
    /// `output_mode=image`: the base image reference, if any.
    pub base_image: Option<String>,
    /// `artifact_type` as given (checked by the generic target).
    pub artifact_type: Option<String>,
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
            "build-arg source is required: pass --build-arg source=<.|path/glob in the context|huggingface://org/repo[@rev][/path]>"
        );
    };
    let revision = arg(keys::REVISION);
    let source = SourceSpec::parse(source, revision)?;

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
        Some(v) => one_of(keys::OUTPUT_MODE, v, OUTPUT_MODES)?,
    };
    check_packaging_fits(packaging, output)?;
    let model_dir = match arg(keys::MODEL_DIR) {
        None => DEFAULT_MODEL_DIR.to_string(),
        Some(d) => validate_model_dir(d)?,
    };
    let base_image = arg(keys::BASE_IMAGE).map(str::to_string);
    if output != OutputMode::Image {
        for key in [keys::MODEL_DIR, keys::BASE_IMAGE] {
            if arg(key).is_some() {
                bail!("build-arg {key} only applies to output_mode=image; add --build-arg output_mode=image or drop it");
            }
        }
    }
    if let Some(b) = &base_image {
        if b.chars().any(|c| c.is_whitespace() || c.is_control()) || b.contains("://") {
            bail!("build-arg base_image: {b:?} is not an image reference; e.g. busybox:1.36 or 127.0.0.1:5000/base:1");
        }
    }
    let artifact_type = arg(keys::ARTIFACT_TYPE).map(str::to_string);
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

    let source_date_epoch = match arg(keys::SOURCE_DATE_EPOCH) {
        None => None,
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            anyhow::anyhow!("build-arg SOURCE_DATE_EPOCH: {v:?} is not a number of seconds since 1970")
        })?),
    };
    let created_at = source_date_epoch.map(modelpack::time::rfc3339);

    Ok(Request {
        source,
        name,
        packaging,
        output,
        patterns,
        hf_endpoint,
        created_at,
        source_date_epoch,
        download_network,
        model_dir,
        base_image,
        artifact_type,
    })
}

/// Tar layers exist only in an OCI layout; the other modes hand BuildKit
/// plain files.
fn check_packaging_fits(packaging: LayerPackaging, output: OutputMode) -> Result<()> {
    if packaging == LayerPackaging::Raw || output == OutputMode::Layout {
        return Ok(());
    }
    let mode = OUTPUT_MODES.iter().find(|(_, m)| *m == output).map_or("?", |(n, _)| *n);
    bail!(
        "build-arg layer_packaging={} needs output_mode=layout; output_mode={mode} hands over plain files (use layer_packaging=raw, or let the exporter compress)",
        packaging.suffix()
    )
}

/// Checks `model_dir`: absolute, no `.`/`..`/empty components, no
/// trailing slash (except `/` itself).
pub fn validate_model_dir(dir: &str) -> Result<String> {
    let clean = dir == "/"
        || (dir.starts_with('/')
            && dir[1..].split('/').all(|c| !c.is_empty() && c != "." && c != "..")
            && !dir.chars().any(|c| c.is_control() || c == '\\'));
    if !clean {
        bail!("build-arg model_dir: {dir:?} is not a clean absolute path; e.g. /models or /opt/model");
    }
    Ok(dir.to_string())
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
        assert!(err.to_string().contains("accepted: layout, files, artifact, image"), "{err}");
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
    fn output_modes_and_their_args() {
        let r = parse(&opts(&[("source", "."), ("output_mode", "image")])).unwrap();
        assert_eq!((r.output, r.model_dir.as_str(), r.base_image.as_deref()), (OutputMode::Image, "/models", None));
        let r = parse(&opts(&[("source", "."), ("output_mode", "image"), ("model_dir", "/opt/m"), ("base_image", "busybox")]))
            .unwrap();
        assert_eq!((r.model_dir.as_str(), r.base_image.as_deref()), ("/opt/m", Some("busybox")));
        assert_eq!(parse(&opts(&[("source", "."), ("output_mode", "files")])).unwrap().output, OutputMode::Files);
        let err = parse(&opts(&[("source", "."), ("base_image", "busybox")])).unwrap_err().to_string();
        assert!(err.starts_with("build-arg base_image only applies to output_mode=image"), "{err}");
        for bad in ["models", "/models/", "/a/../b", "/a//b", "/./a", ""] {
            assert!(validate_model_dir(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_model_dir("/").is_ok());
        let err = parse(&opts(&[("source", "."), ("output_mode", "image"), ("base_image", "a b")])).unwrap_err();
        assert!(err.to_string().contains("not an image reference"), "{err}");
    }

    #[test]
    fn tar_packaging_needs_the_layout_mode() {
        for mode in ["files", "artifact", "image"] {
            let err = parse(&opts(&[("source", "."), ("output_mode", mode), ("layer_packaging", "tar+gzip")]))
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!("build-arg layer_packaging=tar+gzip needs output_mode=layout; output_mode={mode} hands over plain files (use layer_packaging=raw, or let the exporter compress)")
            );
            assert!(parse(&opts(&[("source", "."), ("output_mode", mode), ("layer_packaging", "raw")])).is_ok());
        }
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
