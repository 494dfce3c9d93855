//! `pack SOURCE -o LAYOUT`: a local folder, a Hugging Face repo or files at
//! http(s) URLs as a ModelPack layout, through the same core code as the
//! frontend (listing, Hub selection, layer writer, plan), so the same
//! source and options give the same digests.
//!
//! Each kind of source ends up as [`Prepared`] files on disk (a folder as
//! it is; Hub and URL files downloaded and verified into a temporary
//! folder beside the layout); [`package`] turns them into the layout.

mod download;
pub(crate) mod hub;
pub(crate) mod trust;
mod url;

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{positional, step, text, unexpected, Command, Failure, Outcome};
use modelpack::config::PartialConfig;
use modelpack::context::{self, Door, Excludes};
use modelpack::describe::FileInput;
use modelpack::layout::{self, check_digest};
use modelpack::oci::Spelling;
use modelpack::patterns::PatternList;
use modelpack::plan::{self, ModelInfo, PlanFile};
use modelpack::source::SourceSpec;
use modelpack::LayerPackaging;

/// The command.
pub const COMMAND: Command = Command {
    name: "pack",
    summary: "package a model folder, Hugging Face repo or URL as a ModelPack OCI layout",
    help: "\
Usage: modelpack-frontend pack SOURCE -o LAYOUT [flags]

Packages SOURCE into the OCI image layout LAYOUT, exactly as
`docker buildx build --build-arg source=SOURCE` with this frontend would:
same files, same layers, same manifest digest. SOURCE is one of:
  a folder                      (its .dockerignore honoured; .git and
                                .cache/huggingface skipped)
  huggingface://org/repo[@rev][/path]   a Hugging Face repo (alias hf://;
                                datasets/org/repo for a dataset)
  https://host/path/file[,…]    files at URLs (comma or space separated)
Hub and URL files are downloaded (at most --max-connections at once),
each verified (LFS sha256, git blob id, size, --checksum), into a folder
beside LAYOUT that is removed afterwards. Plain http:// is used only for
loopback hosts (test servers). An existing layout gets the manifest added
to its index.json (same name replaced).

  -o, --output LAYOUT          the layout folder to write (required)
  --name NAME                  reference name and descriptor.name (default:
                               the folder's, repo's or first file's name)
  --layer-packaging FORMAT     raw (default), tar, tar+gzip or tar+zstd
  --compress-weights           with tar+gzip/tar+zstd, compress weights too
  --media-types SPELLING       cncf (default) or cnai: model-spec v0.0.6's
                               names, for Harbor <= 2.15.2 and modctl 0.2.2
  --include PATTERNS           only files matching (repeatable; commas/spaces)
  --exclude PATTERNS           skip files matching (repeatable)
  --config-json JSON           descriptor/config fields over the defaults
  --source-date-epoch SECONDS  descriptor.createdAt (default: the Hub
                               commit's date; none for folders and URLs)
  --revision REV               Hub branch, tag or commit (default main)
  --hf-endpoint URL            Hub endpoint (default $HF_ENDPOINT, else
                               https://huggingface.co)
  --token-file FILE            Hub token for gated or private repos (else
                               $HF_TOKEN); sent only to the endpoint
  --checksum sha256:HEX[,…]    URL sources: the sha256 of each file
  --max-connections N          downloads at once, 1 to 256 (default 8)
  --attest WHICH               documents attached to the model as OCI
                               referrers: all (default: a CycloneDX BOM and
                               SLSA provenance), sbom, provenance or none

Example: modelpack-frontend pack hf://Qwen/Qwen3-0.6B -o out/layout --layer-packaging tar
",
    run,
};

/// Parsed flags (also `push`'s, for a source to publish).
pub(crate) struct Args {
    /// SOURCE as given.
    pub(crate) source: String,
    /// `-o LAYOUT` (`pack` requires it).
    pub(crate) out: Option<PathBuf>,
    pub(crate) name: Option<String>,
    pub(crate) packaging: LayerPackaging,
    pub(crate) include: Vec<String>,
    pub(crate) exclude: Vec<String>,
    pub(crate) overrides: PartialConfig,
    pub(crate) created_at: Option<String>,
    pub(crate) compress_weights: bool,
    pub(crate) media_types: Spelling,
    pub(crate) revision: Option<String>,
    pub(crate) hf_endpoint: Option<String>,
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) checksum: Option<String>,
    pub(crate) max_connections: usize,
    pub(crate) attest: modelpack::trust::Attest,
}

impl Args {
    /// `-o LAYOUT` (checked by `pack`'s parse).
    fn out(&self) -> &Path {
        self.out.as_deref().expect("pack's parse requires -o")
    }
}

/// Default of `--max-connections`.
const DEFAULT_CONNECTIONS: usize = 8;

/// An argument `pack`'s flags do not take, for a command that takes them
/// too (`push`).
pub(crate) enum Other {
    /// `--flag`, its value (if any) still in the parser.
    Long(String),
    /// A positional argument.
    Value(String),
}

fn parse(p: &mut lexopt::Parser) -> Result<Args, Failure> {
    let a = parse_with(p, |_, other, _| match other {
        Other::Long(l) => Err(Failure::Usage(format!("unknown flag --{l}"))),
        Other::Value(v) => Err(Failure::Usage(format!("unexpected argument {v:?}"))),
    })?;
    if a.out.is_none() {
        return Err(Failure::Usage("-o LAYOUT is required".into()));
    }
    Ok(a)
}

/// Parses `pack`'s flags; anything else goes to `other` (which is told
/// whether SOURCE was already given). The first positional is SOURCE
/// unless `other` takes it.
pub(crate) fn parse_with(
    p: &mut lexopt::Parser,
    mut other: impl FnMut(bool, Other, &mut lexopt::Parser) -> Result<(), Failure>,
) -> Result<Args, Failure> {
    let (mut source, mut out, mut name) = (None, None, None);
    let mut packaging = LayerPackaging::Raw;
    let (mut include, mut exclude) = (Vec::new(), Vec::new());
    let mut overrides = PartialConfig::default();
    let mut created_at = None;
    let mut compress_weights = false;
    let mut media_types = Spelling::Cncf;
    let (mut revision, mut hf_endpoint, mut token_file, mut checksum) = (None, None, None, None);
    let mut max_connections = DEFAULT_CONNECTIONS;
    let mut attest = modelpack::trust::Attest::All;
    while let Some(arg) = p.next()? {
        match arg {
            lexopt::Arg::Short('o') | lexopt::Arg::Long("output") => {
                out = Some(PathBuf::from(text(p, "--output")?))
            }
            lexopt::Arg::Long("name") => {
                let n = text(p, "--name")?;
                modelpack::names::validate_name(&n)
                    .map_err(|e| Failure::Usage(e.render(Door::Cli)))?;
                name = Some(n);
            }
            lexopt::Arg::Long("layer-packaging") => {
                let v = text(p, "--layer-packaging")?;
                packaging = LayerPackaging::from_suffix(&v).ok_or_else(|| {
                    Failure::Usage(format!("--layer-packaging: unknown value {v:?}; accepted: raw, tar, tar+gzip, tar+zstd"))
                })?;
            }
            lexopt::Arg::Long("compress-weights") => compress_weights = true,
            lexopt::Arg::Long("media-types") => {
                let v = text(p, "--media-types")?;
                media_types = Spelling::parse(&v).ok_or_else(|| {
                    Failure::Usage(format!(
                        "--media-types: unknown value {v:?}; accepted: cncf, cnai"
                    ))
                })?;
            }
            lexopt::Arg::Long("include") => include.push(text(p, "--include")?),
            lexopt::Arg::Long("exclude") => exclude.push(text(p, "--exclude")?),
            lexopt::Arg::Long("config-json") => {
                overrides =
                    PartialConfig::parse_override(&text(p, "--config-json")?, "--config-json")
                        .map_err(|e| Failure::Usage(e.to_string()))?;
            }
            lexopt::Arg::Long("source-date-epoch") => {
                let v = text(p, "--source-date-epoch")?;
                let secs: i64 = v.parse().map_err(|_| {
                    Failure::Usage(format!(
                        "--source-date-epoch: {v:?} is not a number of seconds since 1970"
                    ))
                })?;
                created_at = Some(modelpack::time::rfc3339(secs));
            }
            lexopt::Arg::Long("revision") => revision = Some(text(p, "--revision")?),
            lexopt::Arg::Long("hf-endpoint") => hf_endpoint = Some(text(p, "--hf-endpoint")?),
            lexopt::Arg::Long("token-file") => {
                token_file = Some(PathBuf::from(text(p, "--token-file")?))
            }
            lexopt::Arg::Long("checksum") => checksum = Some(text(p, "--checksum")?),
            lexopt::Arg::Long("attest") => {
                let v = text(p, "--attest")?;
                attest = modelpack::trust::Attest::parse(&v)
                    .map_err(|e| Failure::Usage(format!("--attest {e}")))?;
            }
            lexopt::Arg::Long("max-connections") => {
                let v = text(p, "--max-connections")?;
                max_connections = match v.parse::<usize>() {
                    Ok(n @ 1..=256) => n,
                    _ => {
                        return Err(Failure::Usage(format!(
                            "--max-connections: {v:?} is not a number from 1 to 256"
                        )))
                    }
                };
            }
            lexopt::Arg::Value(v) if source.is_none() => source = Some(positional(v, "SOURCE")?),
            lexopt::Arg::Value(v) => {
                let v = positional(v, "argument")?;
                other(true, Other::Value(v), p)?
            }
            lexopt::Arg::Long(l) => {
                let l = l.to_string();
                other(source.is_some(), Other::Long(l), p)?
            }
            a => return Err(unexpected(a)),
        }
    }
    modelpack::plan::check_fits(media_types, &overrides)
        .map_err(|e| Failure::Usage(format!("--config-json: {}", e.render(Door::Cli))))?;
    Ok(Args {
        source: source.ok_or_else(|| {
            Failure::Usage(
                "SOURCE (a model folder, huggingface://org/repo or an https:// URL) is required"
                    .into(),
            )
        })?,
        out,
        name,
        packaging,
        include,
        exclude,
        overrides,
        created_at,
        compress_weights,
        media_types,
        revision,
        hf_endpoint,
        token_file,
        checksum,
        max_connections,
        attest,
    })
}

/// Model files on disk, ready for [`package`], and what their source says
/// about the model.
pub struct Prepared {
    /// The folder the files' `origin.path`s are relative to.
    pub root: PathBuf,
    /// The model files, in the order the frontend lists them.
    pub files: Vec<PlanFile>,
    /// The reference name when `--name` is not given.
    pub default_name: String,
    /// `descriptor.createdAt` of the source (the Hub commit's date).
    pub created_at: Option<String>,
    /// `descriptor.sourceURL`.
    pub source_url: Option<String>,
    /// `descriptor.revision` (the Hub commit).
    pub revision: Option<String>,
    /// The Hub repo the files came from, for the documents.
    pub hub: Option<modelpack::trust::HubSource>,
    /// Each file's source (by model path), for the documents; files not
    /// listed are a folder's.
    pub sources: std::collections::BTreeMap<String, modelpack::trust::FileSource>,
    /// The download folder, removed when this is dropped.
    pub _downloads: Option<tempfile::TempDir>,
}

/// Whether `source` names a Hub repo or URLs rather than a folder.
pub(crate) fn is_remote(source: &str) -> bool {
    source.starts_with("huggingface://")
        || source.starts_with("hf://")
        || modelpack::urlsource::is_url_list(source)
}

fn run(p: &mut lexopt::Parser) -> Outcome {
    let a = parse(p)?;
    let patterns = PatternList::parse(&a.include.join(","), &a.exclude.join(","));
    let prepared = if is_remote(&a.source) {
        let mut spec = SourceSpec::parse(a.source.trim(), a.revision.as_deref())
            .map_err(|e| Failure::Usage(e.render(Door::Cli)))?;
        spec.apply_checksum(a.checksum.as_deref())
            .map_err(|e| Failure::Usage(e.render(Door::Cli)))?;
        let downloads = download_dir(a.out())?;
        match &spec {
            SourceSpec::HuggingFace(hf) => {
                let endpoint = hub::endpoint(a.hf_endpoint.as_deref()).map_err(Failure::Usage)?;
                let token = hub::token(a.token_file.as_deref())?;
                let options = hub::Options {
                    endpoint,
                    token,
                    patterns: &patterns,
                    connections: a.max_connections,
                };
                hub::prepare(hf, &options, &spec.default_name(), downloads)?
            }
            SourceSpec::Url(urls) => url::prepare(
                urls,
                &patterns,
                &spec.default_name(),
                a.max_connections,
                downloads,
            )?,
            SourceSpec::Context(_) => unreachable!("is_remote only passes Hub and URL sources"),
        }
    } else {
        for (flag, given) in [
            ("--revision", a.revision.is_some()),
            ("--checksum", a.checksum.is_some()),
        ] {
            if given {
                return Err(Failure::Usage(format!(
                    "{flag} does not apply to a folder SOURCE"
                )));
            }
        }
        folder(&a, &patterns)?
    };
    package(&a, prepared)
}

/// The download folder for a Hub or URL source: beside the layout (on the
/// same disk, which has room for the layout), removed when dropped.
fn download_dir(out: &Path) -> Result<tempfile::TempDir, Failure> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let dir = tempfile::Builder::new()
        .prefix(".modelpack-download-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a download folder in {}", parent.display()))?;
    Ok(dir)
}

/// The default name: the folder's name, cleaned as the frontend cleans a
/// `source` path's last component.
fn default_name(source: &Path) -> String {
    let full = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    let last = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    SourceSpec::Context(Some(last)).default_name()
}

/// A local folder: its listing, as the frontend lists a build context.
pub(crate) fn folder(a: &Args, patterns: &PatternList) -> Result<Prepared, Failure> {
    let source = PathBuf::from(&a.source);
    if !source.is_dir() {
        return Err(Failure::Failed(anyhow::anyhow!(
            "SOURCE {} is not a folder; pass the folder holding the model files, huggingface://org/repo or an https:// URL",
            source.display()
        )));
    }
    let ignore = match std::fs::read_to_string(source.join(context::DOCKERIGNORE)) {
        Ok(t) => context::parse_dockerignore(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(Failure::Failed(
                anyhow::Error::from(e).context("reading .dockerignore"),
            ))
        }
    };
    step(&format!("scanning {}", source.display()));
    let listing =
        modelpack::scan::scan_excluding(&source, false, &Excludes::for_directory(&ignore)?)?;
    let files = context::files(None, listing, patterns, Door::Cli)?;
    Ok(Prepared {
        default_name: default_name(&source),
        root: source,
        files,
        created_at: None,
        source_url: None,
        revision: None,
        hub: None,
        sources: Default::default(),
        _downloads: None,
    })
}

/// The shared tail: read the model headers, write tar layers (unless raw),
/// plan, and write the layout; prints `LAYOUT:NAME DIGEST`.
fn package(a: &Args, prepared: Prepared) -> Outcome {
    let Prepared {
        root,
        mut files,
        default_name,
        created_at,
        source_url,
        revision,
        hub,
        sources,
        _downloads,
    } = prepared;
    // Each file's sha256 before any tar layer replaces its digest.
    let file_sha256: std::collections::BTreeMap<String, String> = files
        .iter()
        .map(|f| (f.path.clone(), f.digest.clone()))
        .collect();
    let name = a.name.clone().unwrap_or(default_name);
    step(&format!(
        "{} files to package as {}",
        files.len(),
        a.packaging.suffix()
    ));

    let use_name = a.name.is_none();
    let source_of = |origin: &str| root.join(origin.trim_start_matches('/'));
    let wanted = modelpack::describe::selection(&files);
    let mut card = modelpack::trust::CardFacts::default();
    let described = if wanted.is_empty() {
        PartialConfig::default()
    } else {
        step(&format!("reading model headers ({} files)", wanted.len()));
        let inputs: Vec<FileInput> = wanted
            .iter()
            .map(|f| {
                let on_disk = source_of(&f.origin.path);
                FileInput::new(f.path.clone(), move || {
                    Ok(Box::new(std::fs::File::open(&on_disk)?) as Box<dyn std::io::Read>)
                })
            })
            .collect();
        let description = modelpack::describe::describe(&inputs);
        for e in &description.errors {
            step(&format!("warning: {e}"));
        }
        card = description.facts.card_facts();
        description.facts.to_config(use_name)
    };

    let blobs = a.out().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
    if a.packaging != LayerPackaging::Raw {
        let n = files.len();
        for (i, f) in files.iter_mut().enumerate() {
            let format = a.packaging.for_kind(
                modelpack::mediatype::classify(&f.path, f.size).0,
                a.compress_weights,
            );
            step(&format!(
                "packing {}/{n} {} as {}",
                i + 1,
                f.path,
                format.suffix()
            ));
            let tmp = layout::temp_beside(&blobs.join(format!("pack-{i}")));
            let out = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            let written = modelpack::pack::write_layer(
                &source_of(&f.origin.path),
                &f.path,
                f.mode(),
                format,
                std::io::BufWriter::with_capacity(1 << 20, out),
            )
            .with_context(|| format!("packing {}", f.path));
            let written = match written {
                Ok(w) => w,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e.into());
                }
            };
            let dest = blobs.join(check_digest(&written.digest)?);
            std::fs::rename(&tmp, &dest)
                .with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))?;
            f.set_packed(
                written,
                format,
                f.origin.source,
                dest.to_string_lossy().into_owned(),
            );
        }
    }
    let info = ModelInfo {
        name: name.clone(),
        created_at: a.created_at.clone().or(created_at),
        source_url,
        revision,
        described,
        overrides: a.overrides.clone(),
        media_types: a.media_types,
        ..Default::default()
    };
    let plan = plan::build(files, &info, a.packaging)?;
    let origins: Vec<PathBuf> = plan
        .layers
        .iter()
        .map(|l| {
            if a.packaging == LayerPackaging::Raw {
                source_of(&l.origin.path)
            } else {
                PathBuf::from(&l.origin.path)
            }
        })
        .collect();
    layout::write(a.out(), &plan, |i| origins[i].clone(), step)?;
    trust::attach(a, &plan, &name, card, hub, &sources, &file_sha256)?;
    println!(
        "{}:{name} {}",
        a.out().display(),
        plan.manifest.descriptor.digest
    );
    Ok(())
}

/// Whether `url` may be fetched: https anywhere, plain http only from a
/// loopback host (test servers such as the fake hub). `what` names the
/// URL's role in the error.
pub fn check_transport(url: &str, what: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(());
    }
    if !lower.starts_with("http://") {
        return Err(format!(
            "{what} {url:?} is not an http(s) URL; e.g. https://huggingface.co"
        ));
    }
    if modelpack::urlsource::is_loopback_url(&lower) {
        Ok(())
    } else {
        Err(format!("{what} {url:?} is plain http://, which pack only uses for loopback hosts (test servers); use https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback() {
        for ok in [
            "https://huggingface.co",
            "http://127.0.0.1:8080",
            "http://localhost/x",
            "http://[::1]:9/a",
            "HTTP://127.0.0.2/a",
        ] {
            assert!(check_transport(ok, "x").is_ok(), "{ok}");
        }
        for bad in [
            "http://huggingface.co",
            "http://127.0.0.1.example.com/a",
            "http://u:p@example.com/a",
            "ftp://h/a",
        ] {
            assert!(
                check_transport(bad, "--hf-endpoint")
                    .unwrap_err()
                    .starts_with("--hf-endpoint"),
                "{bad}"
            );
        }
    }

    #[test]
    fn core_errors_name_the_flags() {
        let e = SourceSpec::parse("hf://o/r@b", Some("a")).unwrap_err();
        assert_eq!(
            e.render(Door::Cli),
            "--revision=\"a\" contradicts the revision \"b\" in source; give it once"
        );
        let e = SourceSpec::parse("s3://bucket/m", None).unwrap_err();
        assert!(e
            .render(Door::Cli)
            .starts_with("SOURCE: s3:// sources are not supported yet"));
    }

    #[test]
    fn only_hub_and_url_sources_are_remote() {
        assert!(
            is_remote("hf://a/b")
                && is_remote("huggingface://a/b@main")
                && is_remote("https://h/a.gguf")
        );
        assert!(!is_remote("./models") && !is_remote("hf:/a"));
    }
}
