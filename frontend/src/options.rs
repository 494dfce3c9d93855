//! Frontend options → a typed [`Request`]. Every error is one line that
//! names the build arg, the bad value and what is accepted.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use modelpack::config::PartialConfig;
use modelpack::oci::Spelling;
use modelpack::patterns::PatternList;
use modelpack::recipe::{Packaging, RecipeSource};
use modelpack::source::SourceSpec;
pub use modelpack::LayerPackaging;

/// Build-arg keys as they arrive (`--build-arg KEY=…` → `build-arg:KEY`).
pub mod keys {
    /// What to package (required).
    pub const SOURCE: &str = "source";
    /// Reference name in `index.json` and `descriptor.name`.
    pub const NAME: &str = "name";
    /// How files become layers.
    pub const LAYER_PACKAGING: &str = "layer_packaging";
    /// Compress weight layers too (`tar+gzip`/`tar+zstd` only).
    pub const COMPRESS_WEIGHTS: &str = "compress_weights";
    /// Which spelling of the model-spec names: `cncf` or `cnai`.
    pub const MEDIA_TYPES: &str = "media_types";
    /// Documents attached to the model in the layout.
    pub const ATTEST: &str = "attest";
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
    /// A JSON object over the config's `descriptor` and `config`.
    pub const CONFIG_JSON: &str = "config_json";
    /// `sha256:<hex>` of a URL source's file (a comma list for several URLs).
    pub const CHECKSUM: &str = "checksum";
    /// `output_mode=image`: where the model files go in the image.
    pub const MODEL_DIR: &str = "model_dir";
    /// `output_mode=image`: the image the model is put on top of.
    pub const BASE_IMAGE: &str = "base_image";
    /// `packager/generic`: the manifest `artifactType`.
    pub const ARTIFACT_TYPE: &str = "artifact_type";
    /// How many Hub file downloads BuildKit runs at once.
    pub const MAX_CONNECTIONS: &str = "max_connections";
    /// Seconds BuildKit's own downloads (Hub LFS files, URLs) may take.
    pub const DOWNLOAD_TIMEOUT: &str = "download_timeout";
    /// Debugging: write every solve request to stderr under this tag.
    pub const DEBUG_DUMP_LLB: &str = "debug_dump_llb";
    /// `packager/bundle`: the app's Dockerfile, a path in the build context.
    pub const DOCKERFILE: &str = "dockerfile";
    /// `packager/bundle`: the Dockerfile stage the app image is.
    pub const IMAGE_TARGET: &str = "image_target";
    /// `packager/bundle`: build args with this prefix go to the app's
    /// Dockerfile build without it (`image-build-arg:PORT=80` → `PORT=80`).
    pub const IMAGE_BUILD_ARG_PREFIX: &str = "image-build-arg:";
}

/// Every build arg this frontend reads.
pub const KNOWN: &[&str] = &[
    keys::SOURCE,
    keys::NAME,
    keys::LAYER_PACKAGING,
    keys::COMPRESS_WEIGHTS,
    keys::MEDIA_TYPES,
    keys::ATTEST,
    keys::OUTPUT_MODE,
    keys::INCLUDE,
    keys::EXCLUDE,
    keys::REVISION,
    keys::HF_ENDPOINT,
    keys::DOWNLOAD_NETWORK,
    keys::SOURCE_DATE_EPOCH,
    keys::CONFIG_JSON,
    keys::CHECKSUM,
    keys::MODEL_DIR,
    keys::BASE_IMAGE,
    keys::ARTIFACT_TYPE,
    keys::MAX_CONNECTIONS,
    keys::DOWNLOAD_TIMEOUT,
    keys::DEBUG_DUMP_LLB,
    keys::DOCKERFILE,
    keys::IMAGE_TARGET,
];

/// One build arg as users see it: `docker buildx build --call outline`
/// and the build-args table of `docs/usage.md` both come from [`ARGS`].
#[derive(Clone, Copy, Debug)]
pub struct ArgDoc {
    /// The build-arg name (`--build-arg NAME=…`).
    pub name: &'static str,
    /// The value used when the arg is not given ("" when there is none or
    /// it is derived, as the description then says).
    pub default: &'static str,
    /// One line: what it does and which values it takes.
    pub description: &'static str,
}

/// Every build arg of [`KNOWN`], with its default and a one-line description.
pub const ARGS: &[ArgDoc] = &[
    ArgDoc { name: keys::SOURCE, default: "", description: "required: what to package: . or a path/glob in the context, huggingface://org/repo[@rev][/path], or http(s):// URLs (comma/space separated)" },
    ArgDoc { name: keys::NAME, default: "", description: "reference name in index.json (default: from the source: model or the context path's last part, the Hub repo name, or the first URL's file stem)" },
    ArgDoc { name: keys::LAYER_PACKAGING, default: "raw", description: "one layer per file: raw, tar, tar+gzip or tar+zstd" },
    ArgDoc { name: keys::COMPRESS_WEIGHTS, default: "false", description: "with tar+gzip/tar+zstd, compress weight layers too (default: weights stay plain tar)" },
    ArgDoc { name: keys::MEDIA_TYPES, default: "cncf", description: "spelling of the model-spec names: cncf (current) or cnai (model-spec v0.0.6, for Harbor up to 2.15.2 and modctl 0.2.2)" },
    ArgDoc { name: keys::ATTEST, default: "all", description: "output_mode=layout: documents attached to the model as OCI referrers in the layout: all (a CycloneDX BOM and SLSA provenance), sbom, provenance or none" },
    ArgDoc { name: keys::OUTPUT_MODE, default: "layout", description: "what the result holds: layout (an OCI image layout), files, artifact or image" },
    ArgDoc { name: keys::INCLUDE, default: "", description: "only package files matching these patterns (comma/space separated; default: all)" },
    ArgDoc { name: keys::EXCLUDE, default: "", description: "skip files matching these patterns; wins over include" },
    ArgDoc { name: keys::REVISION, default: "main", description: "Hugging Face revision: branch, tag, commit or refs/pr/N" },
    ArgDoc { name: keys::HF_ENDPOINT, default: modelpack_hub::DEFAULT_ENDPOINT, description: "Hugging Face endpoint (a mirror), an http(s) URL" },
    ArgDoc { name: keys::DOWNLOAD_NETWORK, default: "default", description: "network of the download steps (small Hub files, LFS files of a pinned commit, every file with a token): default or host" },
    ArgDoc { name: keys::SOURCE_DATE_EPOCH, default: "", description: "descriptor.createdAt as seconds since 1970 (default: unset)" },
    ArgDoc { name: keys::CONFIG_JSON, default: "", description: "JSON object over the config's descriptor and config (authors, vendor, capabilities …)" },
    ArgDoc { name: keys::CHECKSUM, default: "", description: "sha256:<hex> of an http(s) source's file (a comma list in URL order for several URLs)" },
    ArgDoc { name: keys::MODEL_DIR, default: DEFAULT_MODEL_DIR, description: "output_mode=image: absolute folder the model files go to in the image" },
    ArgDoc { name: keys::BASE_IMAGE, default: "", description: "output_mode=image: image the model is put on top of (default: none, FROM scratch)" },
    ArgDoc { name: keys::ARTIFACT_TYPE, default: "", description: "packager/generic: the manifest artifactType (default application/vnd.unknown.artifact.v1)" },
    ArgDoc { name: keys::MAX_CONNECTIONS, default: "16", description: "at most this many Hub file downloads at once (1-256)" },
    ArgDoc { name: keys::DOWNLOAD_TIMEOUT, default: "", description: "seconds the Hub's LFS files (and URL sources) may take to download before the build fails (default: 600 plus 1 per MiB for the Hub; none for URLs)" },
    ArgDoc { name: keys::DEBUG_DUMP_LLB, default: "", description: "debugging: write every solve request (LLB definition) to the frontend's stderr (buildkitd's log), tagged with this value" },
    ArgDoc { name: keys::DOCKERFILE, default: DEFAULT_DOCKERFILE, description: "packager/bundle: the app's Dockerfile, a path in the build context (its build args: image-build-arg:NAME=VALUE)" },
    ArgDoc { name: keys::IMAGE_TARGET, default: "", description: "packager/bundle: the Dockerfile stage the app image is (default: the last)" },
];

/// Default of `dockerfile`.
pub const DEFAULT_DOCKERFILE: &str = "Dockerfile";

/// Default of `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// Whether a build-arg name looks like ours but is not one we read (most
/// likely a typo such as `layer_packing`). Upper-case args (`BUILDKIT_SYNTAX`,
/// `HTTP_PROXY`, …) and the proxy variables belong to BuildKit and Docker.
pub fn is_unknown_arg(key: &str) -> bool {
    const PROXIES: &[&str] = &[
        "http_proxy",
        "https_proxy",
        "ftp_proxy",
        "no_proxy",
        "all_proxy",
    ];
    let ours_in_style = key.chars().any(|c| c.is_ascii_lowercase());
    ours_in_style
        && !KNOWN.contains(&key)
        && !PROXIES.contains(&key)
        && !key.starts_with(keys::IMAGE_BUILD_ARG_PREFIX)
}

/// Fails on the first build arg for which [`is_unknown_arg`] holds.
fn check_unknown_args(opts: &BTreeMap<String, String>) -> Result<()> {
    for key in opts.keys().filter_map(|k| k.strip_prefix("build-arg:")) {
        if is_unknown_arg(key) {
            bail!(
                "unknown build-arg {key}; this frontend reads: {}",
                KNOWN.join(", ")
            );
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

impl OutputMode {
    /// The mode as build args write it (see [`OUTPUT_MODES`]).
    pub fn word(self) -> &'static str {
        OUTPUT_MODES
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("?", |(n, _)| *n)
    }
}

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
    /// Proxy variables for our download steps, from the standard proxy
    /// build args (`http_proxy`, `HTTPS_PROXY`, …; buildx passes the
    /// client's proxy configuration as these). Kept out of cache keys.
    pub proxy: llb::proto::pb::ProxyEnv,
    /// What to package.
    pub source: SourceSpec,
    /// Reference name; defaults from the source.
    pub name: String,
    /// Layer format.
    pub packaging: LayerPackaging,
    /// Whether weight layers are compressed too; otherwise they are plain
    /// `tar` when `packaging` is compressed ([`LayerPackaging::for_kind`]).
    pub compress_weights: bool,
    /// Spelling of the model-spec names (`media_types`).
    pub media_types: Spelling,
    /// Documents attached to the model (`attest`; layouts only).
    pub attest: modelpack::trust::Attest,
    /// The build args given that this frontend reads (the provenance's
    /// external parameters; no secret is a build arg).
    pub given: std::collections::BTreeMap<String, String>,
    /// BuildKit's `source` opt: the reference of this frontend's image.
    pub frontend_image: Option<String>,
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
    /// Whether `name` was given (else it is the source's default name, and
    /// a name the files give, such as GGUF's `general.name`, may be used
    /// for `descriptor.name`).
    pub name_given: bool,
    /// `config_json`: what the user says about the model, over what the
    /// files say.
    pub overrides: PartialConfig,
    /// `output_mode=image`: absolute, clean directory of the model files.
    pub model_dir: String,
    /// `output_mode=image`: the base image reference, if any.
    pub base_image: Option<String>,
    /// `artifact_type` as given (checked by the generic target).
    pub artifact_type: Option<String>,
    /// What a model recipe says beyond build args (several sources,
    /// per-kind packaging, annotations); empty without a recipe.
    pub extras: Extras,
    /// At most this many Hub file downloads in flight (`max_connections`).
    pub max_connections: usize,
    /// Bound for BuildKit's own downloads (`download_timeout`); `None`:
    /// the default (see [`crate::deadline`]).
    pub download_timeout: Option<std::time::Duration>,
    /// `packager/bundle`: how the app image is built.
    pub app: AppBuild,
}

/// The app image of `packager/bundle`: what BuildKit's Dockerfile frontend
/// is asked to build.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppBuild {
    /// The Dockerfile's path in the build context (`dockerfile`).
    pub dockerfile: String,
    /// The stage (`image_target`), if given.
    pub target: Option<String>,
    /// Its build args (`image-build-arg:NAME=VALUE`, prefix taken off).
    pub build_args: BTreeMap<String, String>,
}

/// The [`AppBuild`] the build args ask for.
pub fn app_build(opts: &BTreeMap<String, String>) -> Result<AppBuild> {
    let arg = |k: &str| {
        opts.get(&format!("build-arg:{k}"))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    let dockerfile = arg(keys::DOCKERFILE).unwrap_or(DEFAULT_DOCKERFILE);
    if dockerfile.starts_with('/')
        || dockerfile.split('/').any(|p| p == "..")
        || dockerfile.chars().any(char::is_control)
    {
        bail!("build-arg dockerfile: {dockerfile:?} is not a path in the build context; e.g. Dockerfile or app/Dockerfile");
    }
    let prefix = format!("build-arg:{}", keys::IMAGE_BUILD_ARG_PREFIX);
    let mut build_args = BTreeMap::new();
    for (k, v) in opts {
        if let Some(name) = k.strip_prefix(&prefix) {
            if name.is_empty() || name.contains(['=', ' ']) {
                bail!("build-arg {}{name}: no build-arg name after the prefix; e.g. --build-arg {}PORT=8080", keys::IMAGE_BUILD_ARG_PREFIX, keys::IMAGE_BUILD_ARG_PREFIX);
            }
            build_args.insert(name.to_string(), v.clone());
        }
    }
    Ok(AppBuild {
        dockerfile: dockerfile.to_string(),
        target: arg(keys::IMAGE_TARGET).map(str::to_string),
        build_args,
    })
}

/// What a recipe says beyond build args.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    /// The recipe file's name, for errors.
    pub file: String,
    /// Sources composed into one artifact (empty: the `source` build arg).
    pub parts: Vec<RecipeSource>,
    /// Per-kind layer formats (`None`: the `layer_packaging` build arg).
    pub packaging: Option<Packaging>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

fn one_of<T: Copy>(key: &str, value: &str, table: &[(&str, T)]) -> Result<T> {
    if let Some((_, v)) = table.iter().find(|(k, _)| *k == value) {
        return Ok(*v);
    }
    let accepted: Vec<&str> = table.iter().map(|(k, _)| *k).collect();
    bail!(
        "build-arg {key}: unknown value {value:?}; accepted: {}",
        accepted.join(", ")
    )
}

/// Parses the build args of a frontend invocation.
pub fn parse(opts: &BTreeMap<String, String>) -> Result<Request> {
    check_unknown_args(opts)?;
    let arg = |k: &str| {
        opts.get(&format!("build-arg:{k}"))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };

    let Some(source) = arg(keys::SOURCE) else {
        bail!(
            "build-arg source is required: pass --build-arg source=<.|path/glob in the context|huggingface://org/repo[@rev][/path]|https://host/path/file>"
        );
    };
    let revision = arg(keys::REVISION);
    let mut source = SourceSpec::parse(source, revision)?;
    source.apply_checksum(arg(keys::CHECKSUM))?;

    let name = match arg(keys::NAME) {
        Some(n) => modelpack::names::validate_name(n)?,
        None => source.default_name(),
    };

    let packaging = match arg(keys::LAYER_PACKAGING) {
        None => LayerPackaging::Raw,
        Some(v) => {
            let table: Vec<(&str, LayerPackaging)> = LayerPackaging::ALL
                .iter()
                .map(|p| (p.suffix(), *p))
                .collect();
            one_of(keys::LAYER_PACKAGING, v, &table)?
        }
    };
    let compress_weights = match arg(keys::COMPRESS_WEIGHTS) {
        None => false,
        Some(v) => one_of(
            keys::COMPRESS_WEIGHTS,
            v,
            &[("false", false), ("true", true)],
        )?,
    };
    let media_types = match arg(keys::MEDIA_TYPES) {
        None => Spelling::Cncf,
        Some(v) => {
            let table: Vec<(&str, Spelling)> =
                Spelling::ALL.iter().map(|s| (s.word(), *s)).collect();
            one_of(keys::MEDIA_TYPES, v, &table)?
        }
    };
    let attest = match arg(keys::ATTEST) {
        None => modelpack::trust::Attest::All,
        Some(v) => {
            let table: Vec<(&str, modelpack::trust::Attest)> = modelpack::trust::Attest::ALL
                .iter()
                .map(|a| (a.word(), *a))
                .collect();
            one_of(keys::ATTEST, v, &table)?
        }
    };
    let given = KNOWN
        .iter()
        .filter(|k| **k != keys::DEBUG_DUMP_LLB)
        .filter_map(|k| arg(k).map(|v| (k.to_string(), v.to_string())))
        .collect();
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
            &[
                ("default", DownloadNetwork::Default),
                ("host", DownloadNetwork::Host),
            ],
        )?,
    };

    let patterns = PatternList::parse(
        arg(keys::INCLUDE).unwrap_or(""),
        arg(keys::EXCLUDE).unwrap_or(""),
    );

    let hf_endpoint = match arg(keys::HF_ENDPOINT) {
        None => modelpack_hub::DEFAULT_ENDPOINT.to_string(),
        Some(e) if e.starts_with("http://") || e.starts_with("https://") => {
            e.trim_end_matches('/').to_string()
        }
        Some(e) => {
            bail!("build-arg hf_endpoint: {e:?} is not an http(s) URL; e.g. https://huggingface.co")
        }
    };

    let source_date_epoch = match arg(keys::SOURCE_DATE_EPOCH) {
        None => None,
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            anyhow::anyhow!(
                "build-arg SOURCE_DATE_EPOCH: {v:?} is not a number of seconds since 1970"
            )
        })?),
    };
    let created_at = source_date_epoch.map(modelpack::time::rfc3339);

    let overrides = match arg(keys::CONFIG_JSON) {
        None => PartialConfig::default(),
        Some(text) => PartialConfig::parse_override(text, "build-arg config_json")?,
    };

    modelpack::plan::check_fits(media_types, &overrides)
        .map_err(|e| anyhow::anyhow!("build-arg config_json: {e}"))?;

    let max_connections = match arg(keys::MAX_CONNECTIONS) {
        None => DEFAULT_MAX_CONNECTIONS,
        Some(v) => match v.parse::<usize>() {
            Ok(n @ 1..=256) => n,
            _ => bail!("build-arg max_connections: {v:?} is not a number from 1 to 256; e.g. 16"),
        },
    };

    let download_timeout = match arg(keys::DOWNLOAD_TIMEOUT) {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n @ 1..=604_800) => Some(std::time::Duration::from_secs(n)),
            _ => bail!("build-arg download_timeout: {v:?} is not a number of seconds from 1 to 604800 (a week); e.g. 3600"),
        },
    };

    // Lower case first, as curl and Go read them; then the upper-case spelling.
    let proxy_arg = |name: &str| {
        arg(name)
            .or_else(|| arg(&name.to_ascii_uppercase()))
            .map(str::to_string)
            .unwrap_or_default()
    };
    let proxy = llb::proto::pb::ProxyEnv {
        http_proxy: proxy_arg("http_proxy"),
        https_proxy: proxy_arg("https_proxy"),
        ftp_proxy: proxy_arg("ftp_proxy"),
        no_proxy: proxy_arg("no_proxy"),
        all_proxy: proxy_arg("all_proxy"),
    };

    Ok(Request {
        proxy,
        max_connections,
        download_timeout,
        name_given: arg(keys::NAME).is_some(),
        overrides,
        source,
        name,
        packaging,
        compress_weights,
        media_types,
        attest,
        given,
        frontend_image: opts.get("source").filter(|s| !s.is_empty()).cloned(),
        output,
        patterns,
        hf_endpoint,
        created_at,
        source_date_epoch,
        download_network,
        model_dir,
        base_image,
        artifact_type,
        extras: Default::default(),
        app: app_build(opts)?,
    })
}

/// Tar layers exist only in an OCI layout; the other modes hand BuildKit
/// plain files.
fn check_packaging_fits(packaging: LayerPackaging, output: OutputMode) -> Result<()> {
    if packaging == LayerPackaging::Raw || output == OutputMode::Layout {
        return Ok(());
    }
    bail!(
        "build-arg layer_packaging={} needs output_mode=layout; output_mode={} hands over plain files (use layer_packaging=raw, or let the exporter compress)",
        packaging.suffix(),
        output.word()
    )
}

/// Checks `model_dir`: absolute, no `.`/`..`/empty components, no
/// trailing slash (except `/` itself).
pub fn validate_model_dir(dir: &str) -> Result<String> {
    let clean = dir == "/"
        || (dir.starts_with('/')
            && dir[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..")
            && !dir.chars().any(|c| c.is_control() || c == '\\'));
    if !clean {
        bail!(
            "build-arg model_dir: {dir:?} is not a clean absolute path; e.g. /models or /opt/model"
        );
    }
    Ok(dir.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("build-arg:{k}"), v.to_string()))
            .collect()
    }

    #[test]
    fn config_json_is_parsed_and_checked() {
        let r = parse(&opts(&[
            ("source", "."),
            ("config_json", r#"{"descriptor":{"vendor":"ACME"}}"#),
        ]))
        .unwrap();
        assert_eq!(r.overrides.descriptor.vendor.as_deref(), Some("ACME"));
        assert!(!r.name_given);
        let err = parse(&opts(&[
            ("source", "."),
            ("config_json", r#"{"config":{"paramSize":"lots"}}"#),
        ]))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "build-arg config_json: config.paramSize \"lots\" is not a count with a scale (e.g. 7B, 6.7B, 22.7M; at most one decimal)"
        );
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
        assert!(
            err.to_string()
                .contains("accepted: layout, files, artifact, image"),
            "{err}"
        );
    }

    #[test]
    fn proxy_build_args_reach_the_request_lower_case_first() {
        let r = parse(&opts(&[
            ("source", "."),
            ("HTTPS_PROXY", "http://upper:3128"),
            ("https_proxy", "http://lower:3128"),
            ("HTTP_PROXY", "http://only-upper:3128"),
            ("no_proxy", "localhost,.internal"),
        ]))
        .unwrap();
        assert_eq!(r.proxy.https_proxy, "http://lower:3128");
        assert_eq!(r.proxy.http_proxy, "http://only-upper:3128");
        assert_eq!(r.proxy.no_proxy, "localhost,.internal");
        assert_eq!(r.proxy.all_proxy, "");
        assert_eq!(
            parse(&opts(&[("source", ".")])).unwrap().proxy,
            Default::default()
        );
    }

    #[test]
    fn max_connections_is_a_bounded_number() {
        assert_eq!(
            parse(&opts(&[("source", ".")])).unwrap().max_connections,
            16
        );
        assert_eq!(
            parse(&opts(&[("source", "."), ("max_connections", "4")]))
                .unwrap()
                .max_connections,
            4
        );
        for bad in ["0", "257", "many", "-1"] {
            let err = parse(&opts(&[("source", "."), ("max_connections", bad)]))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("build-arg max_connections:"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn media_types_is_cncf_cnai_or_one_line_error() {
        let r = parse(&opts(&[("source", ".")])).unwrap();
        assert_eq!(r.media_types, Spelling::Cncf, "default");
        let r = parse(&opts(&[("source", "."), ("media_types", "cnai")])).unwrap();
        assert_eq!(r.media_types, Spelling::Cnai);
        let err = parse(&opts(&[("source", "."), ("media_types", "CNAI")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "build-arg media_types: unknown value \"CNAI\"; accepted: cncf, cnai"
        );
        let err = parse(&opts(&[
            ("source", "."),
            ("media_types", "cnai"),
            (
                "config_json",
                r#"{"config":{"capabilities":{"reasoning":true}}}"#,
            ),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("build-arg config_json: media_types=cnai writes model-spec v0.0.6, whose config has no config.capabilities"),
            "{err}"
        );
    }

    #[test]
    fn compress_weights_is_false_true_or_one_line_error() {
        let r = parse(&opts(&[("source", "."), ("layer_packaging", "tar+zstd")])).unwrap();
        assert!(!r.compress_weights, "default");
        let r = parse(&opts(&[("source", "."), ("compress_weights", "true")])).unwrap();
        assert!(r.compress_weights);
        let r = parse(&opts(&[("source", "."), ("compress_weights", "false")])).unwrap();
        assert!(!r.compress_weights);
        let err = parse(&opts(&[("source", "."), ("compress_weights", "yes")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "build-arg compress_weights: unknown value \"yes\"; accepted: false, true"
        );
    }

    #[test]
    fn defaults_and_name() {
        let r = parse(&opts(&[("source", ".")])).unwrap();
        assert_eq!(r.packaging, LayerPackaging::Raw);
        assert_eq!(r.output, OutputMode::Layout);
        assert_eq!(r.name, "model");
        assert_eq!(r.hf_endpoint, modelpack_hub::DEFAULT_ENDPOINT);
        assert_eq!(r.created_at, None);
        let r = parse(&opts(&[
            ("source", "."),
            ("name", "tiny-1.0"),
            ("SOURCE_DATE_EPOCH", "86400"),
        ]))
        .unwrap();
        assert_eq!(r.name, "tiny-1.0");
        assert_eq!(r.created_at.as_deref(), Some("1970-01-02T00:00:00Z"));
    }

    #[test]
    fn unknown_lowercase_args_are_typos_but_docker_args_pass() {
        let err = parse(&opts(&[("source", "."), ("layer_packing", "tar")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("unknown build-arg layer_packing; this frontend reads: source, name, layer_packaging"), "{err}");
        let ok = opts(&[
            ("source", "."),
            ("BUILDKIT_SYNTAX", "x"),
            ("HTTP_PROXY", "p"),
            ("no_proxy", "q"),
        ]);
        assert!(parse(&ok).is_ok());
    }

    /// [`ARGS`] as the Markdown table in `docs/usage.md` (section "Build
    /// args"): one table drives `--call outline`, the docs and this check.
    fn args_markdown() -> String {
        let mut out = String::from("| build arg | default | what it does |\n|---|---|---|\n");
        for a in ARGS {
            let default = if a.default.is_empty() {
                "–".to_string()
            } else {
                format!("`{}`", a.default)
            };
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                a.name,
                default,
                // Escaped so GitHub shows `|` and `<hex>` as text.
                a.description.replace('|', "\\|").replace('<', "\\<")
            ));
        }
        out
    }

    #[test]
    fn every_known_arg_has_one_description_and_the_docs_hold_the_table() {
        let documented: Vec<&str> = ARGS.iter().map(|a| a.name).collect();
        assert_eq!(
            documented, KNOWN,
            "ARGS and KNOWN must list the same args in the same order"
        );
        for a in ARGS {
            assert!(
                !a.description.trim().is_empty() && !a.description.contains('\n'),
                "{}: one line",
                a.name
            );
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/usage.md");
        let docs = std::fs::read_to_string(path).expect("docs/usage.md beside the crates");
        let table = args_markdown();
        assert!(
            docs.contains(&table),
            "docs/usage.md section Build args must hold this table verbatim (generated from ARGS):\n{table}"
        );
    }

    #[test]
    fn output_modes_and_their_args() {
        let r = parse(&opts(&[("source", "."), ("output_mode", "image")])).unwrap();
        assert_eq!(
            (r.output, r.model_dir.as_str(), r.base_image.as_deref()),
            (OutputMode::Image, "/models", None)
        );
        let r = parse(&opts(&[
            ("source", "."),
            ("output_mode", "image"),
            ("model_dir", "/opt/m"),
            ("base_image", "busybox"),
        ]))
        .unwrap();
        assert_eq!(
            (r.model_dir.as_str(), r.base_image.as_deref()),
            ("/opt/m", Some("busybox"))
        );
        assert_eq!(
            parse(&opts(&[("source", "."), ("output_mode", "files")]))
                .unwrap()
                .output,
            OutputMode::Files
        );
        let err = parse(&opts(&[("source", "."), ("base_image", "busybox")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("build-arg base_image only applies to output_mode=image"),
            "{err}"
        );
        for bad in ["models", "/models/", "/a/../b", "/a//b", "/./a", ""] {
            assert!(validate_model_dir(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_model_dir("/").is_ok());
        let err = parse(&opts(&[
            ("source", "."),
            ("output_mode", "image"),
            ("base_image", "a b"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("not an image reference"), "{err}");
    }

    #[test]
    fn tar_packaging_needs_the_layout_mode() {
        for mode in ["files", "artifact", "image"] {
            let err = parse(&opts(&[
                ("source", "."),
                ("output_mode", mode),
                ("layer_packaging", "tar+gzip"),
            ]))
            .unwrap_err()
            .to_string();
            assert_eq!(
                err,
                format!("build-arg layer_packaging=tar+gzip needs output_mode=layout; output_mode={mode} hands over plain files (use layer_packaging=raw, or let the exporter compress)")
            );
            assert!(parse(&opts(&[
                ("source", "."),
                ("output_mode", mode),
                ("layer_packaging", "raw")
            ]))
            .is_ok());
        }
    }

    #[test]
    fn the_frontend_source_opt_is_not_the_model_source() {
        let mut o = opts(&[]);
        o.insert("source".into(), "localhost:5000/frontend:dev".into());
        assert!(parse(&o).is_err());
    }
}
