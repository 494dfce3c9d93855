//! `pack SOURCE -o LAYOUT`: a local folder as a ModelPack layout, through
//! the same core code as the frontend's build context (listing, layer
//! writer, plan), so the same folder and options give the same digests.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{positional, step, text, unexpected, Command, Failure, Outcome};
use modelpack::describe::FileInput;
use modelpack::config::PartialConfig;
use modelpack::context::{self, Door, Excludes};
use modelpack::layout::{self, check_digest};
use modelpack::patterns::PatternList;
use modelpack::plan::{self, ModelInfo, Packed};
use modelpack::source::SourceSpec;
use modelpack::LayerPackaging;

/// The command.
pub const COMMAND: Command = Command {
    name: "pack",
    summary: "package a local model folder as a ModelPack OCI layout",
    help: "\
Usage: modelpack-frontend pack SOURCE -o LAYOUT [flags]

Packages the folder SOURCE (honouring its .dockerignore; .git and
.cache/huggingface are skipped) into the OCI image layout LAYOUT, exactly
as `docker buildx build --build-arg source=. SOURCE` with this frontend
would: same listing, same layers, same manifest digest. An existing layout
gets the manifest added to its index.json (same name replaced).

  -o, --output LAYOUT          the layout folder to write (required)
  --name NAME                  reference name and descriptor.name
                               (default: SOURCE's folder name)
  --layer-packaging FORMAT     raw (default), tar, tar+gzip or tar+zstd
  --include PATTERNS           only files matching (repeatable; commas/spaces)
  --exclude PATTERNS           skip files matching (repeatable)
  --config-json JSON           descriptor/config fields over the defaults
  --source-date-epoch SECONDS  descriptor.createdAt (else none: reproducible)

Example: modelpack-frontend pack ./tiny -o out/layout --name tiny --layer-packaging tar
",
    run,
};

/// Parsed flags.
struct Args {
    source: PathBuf,
    out: PathBuf,
    name: Option<String>,
    packaging: LayerPackaging,
    include: Vec<String>,
    exclude: Vec<String>,
    overrides: PartialConfig,
    created_at: Option<String>,
    compress_weights: bool,
}

fn parse(p: &mut lexopt::Parser) -> Result<Args, Failure> {
    let (mut source, mut out, mut name) = (None, None, None);
    let mut packaging = LayerPackaging::Raw;
    let (mut include, mut exclude) = (Vec::new(), Vec::new());
    let mut overrides = PartialConfig::default();
    let mut created_at = None;
    let mut compress_weights = false;
    while let Some(arg) = p.next()? {
        match arg {
            lexopt::Arg::Short('o') | lexopt::Arg::Long("output") => out = Some(PathBuf::from(text(p, "--output")?)),
            lexopt::Arg::Long("name") => {
                let n = text(p, "--name")?;
                crate::options::validate_name(&n)
                    .map_err(|e| Failure::Usage(e.to_string().replace("build-arg name", "--name")))?;
                name = Some(n);
            }
            lexopt::Arg::Long("layer-packaging") => {
                let v = text(p, "--layer-packaging")?;
                packaging = LayerPackaging::from_suffix(&v).ok_or_else(|| {
                    Failure::Usage(format!("--layer-packaging: unknown value {v:?}; accepted: raw, tar, tar+gzip, tar+zstd"))
                })?;
            }
            lexopt::Arg::Long("compress-weights") => compress_weights = true,
            lexopt::Arg::Long("include") => include.push(text(p, "--include")?),
            lexopt::Arg::Long("exclude") => exclude.push(text(p, "--exclude")?),
            lexopt::Arg::Long("config-json") => {
                overrides = PartialConfig::parse_override(&text(p, "--config-json")?, "--config-json")
                    .map_err(|e| Failure::Usage(e.to_string()))?;
            }
            lexopt::Arg::Long("source-date-epoch") => {
                let v = text(p, "--source-date-epoch")?;
                let secs: i64 = v.parse().map_err(|_| {
                    Failure::Usage(format!("--source-date-epoch: {v:?} is not a number of seconds since 1970"))
                })?;
                created_at = Some(modelpack::time::rfc3339(secs));
            }
            lexopt::Arg::Value(v) if source.is_none() => source = Some(PathBuf::from(positional(v, "SOURCE")?)),
            other => return Err(unexpected(other)),
        }
    }
    Ok(Args {
        source: source.ok_or_else(|| Failure::Usage("SOURCE (a model folder) is required".into()))?,
        out: out.ok_or_else(|| Failure::Usage("-o LAYOUT is required".into()))?,
        name,
        packaging,
        include,
        exclude,
        overrides,
        created_at,
        compress_weights,
    })
}

/// The default name: the folder's name, cleaned as the frontend cleans a
/// `source` path's last component.
fn default_name(source: &Path) -> String {
    let full = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    let last = full.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    SourceSpec::Context(Some(last)).default_name()
}

fn run(p: &mut lexopt::Parser) -> Outcome {
    let a = parse(p)?;
    if !a.source.is_dir() {
        return Err(Failure::Failed(anyhow::anyhow!(
            "SOURCE {} is not a folder; pass the folder holding the model files",
            a.source.display()
        )));
    }
    let name = a.name.clone().unwrap_or_else(|| default_name(&a.source));
    let ignore = match std::fs::read_to_string(a.source.join(context::DOCKERIGNORE)) {
        Ok(t) => context::parse_dockerignore(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Failure::Failed(anyhow::Error::from(e).context("reading .dockerignore"))),
    };
    step(&format!("scanning {}", a.source.display()));
    let listing = modelpack::scan::scan_excluding(&a.source, false, &Excludes::for_directory(&ignore))?;
    let patterns = PatternList::parse(&a.include.join(","), &a.exclude.join(","));
    let mut files = context::files(None, listing, &patterns, Door::Cli)?;
    step(&format!("{} files to package as {}", files.len(), a.packaging.suffix()));

    let use_name = a.name.is_none();
    let wanted = modelpack::describe::selection(&files);
    let described = if wanted.is_empty() {
        PartialConfig::default()
    } else {
        step(&format!("reading model headers ({} files)", wanted.len()));
        let inputs: Vec<FileInput> = wanted
            .iter()
            .map(|f| {
                let on_disk = a.source.join(f.origin.path.trim_start_matches('/'));
                FileInput::new(f.path.clone(), move || {
                    Ok(Box::new(std::fs::File::open(&on_disk)?) as Box<dyn std::io::Read>)
                })
            })
            .collect();
        let description = modelpack::describe::describe(&inputs);
        for e in &description.errors {
            step(&format!("warning: {e}"));
        }
        description.facts.to_config(use_name)
    };

    let blobs = a.out.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
    let source_of = |origin: &str| a.source.join(origin.trim_start_matches('/'));
    if a.packaging != LayerPackaging::Raw {
        let n = files.len();
        for (i, f) in files.iter_mut().enumerate() {
            let format = a.packaging.for_kind(modelpack::mediatype::classify(&f.path, f.size).0, a.compress_weights);
            step(&format!("packing {}/{n} {} as {}", i + 1, f.path, format.suffix()));
            let tmp = layout::temp_beside(&blobs.join(format!("pack-{i}")));
            let out = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
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
            std::fs::rename(&tmp, &dest).with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))?;
            f.origin.path = dest.to_string_lossy().into_owned();
            f.digest = written.digest;
            f.packed = Some(Packed { blob_size: written.size, diff_id: written.diff_id, format });
        }
    }
    let info = ModelInfo {
        name: name.clone(),
        created_at: a.created_at.clone(),
        described,
        overrides: a.overrides.clone(),
        ..Default::default()
    };
    let plan = plan::build(files, &info, a.packaging)?;
    let origins: Vec<PathBuf> = plan
        .layers
        .iter()
        .map(|l| if a.packaging == LayerPackaging::Raw { source_of(&l.origin.path) } else { PathBuf::from(&l.origin.path) })
        .collect();
    layout::write(&a.out, &plan, |i| origins[i].clone(), step)?;
    println!("{}:{name} {}", a.out.display(), plan.manifest.descriptor.digest);
    Ok(())
}
