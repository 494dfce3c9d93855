//! `push SOURCE REF` for a source that is not a layout (a Hugging Face
//! repo, URLs, a model folder): the streamed publish. Every file goes from
//! its source to the registry through memory, nothing is written to local
//! disk, and the layers, config and manifest are the ones `pack` of the
//! same source and flags writes (the same listing, header reader, layer
//! writer and plan).
//!
//! What moves, file by file (at most `--max-connections` at once):
//! 1. *Reused*: the tag REF already names a manifest of this model; a file
//!    of it whose content is known unchanged (same Hub commit, or the same
//!    LFS sha256 / git blob id in that commit's listing, asked of the Hub
//!    once) with the same layer format keeps its layer: a HEAD confirms
//!    the blob, nothing is downloaded.
//! 2. *Raw layer of known digest* (Hub LFS file: its listed sha256; folder
//!    file; URL with `--checksum`): HEAD, then a mount from `--from`, then
//!    the download streamed into a chunked upload.
//! 3. *Small files* (up to [`SMALL`]): read into memory, hashed (or packed),
//!    HEAD, uploaded only when missing.
//! 4. *Anything else* (a tar layer of a big file, a URL without checksum):
//!    download, tar writer and compressor stream into a chunked upload
//!    whose digest is known at the end.
//!
//! Memory: per file in flight one upload chunk (see [`chunk_size`]), the
//! layer writer's 1 MiB copy buffer and the compressor's window; headers
//! are read with small ranged requests ([`modelpack_hub::stream::HeaderReader`]).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use oci_registry::{BlobOutcome, Client, Digest, Progress, PushOutcome, Reference};
use sha2::Digest as _;

use super::pack::{self, Args, Prepared};
use super::progress::Bars;
use super::remote;
use super::{human, step, Failure, Outcome};
use modelpack::config::PartialConfig;
use modelpack::describe::FileInput;
use modelpack::huggingface::{parse_info, HfRef};
use modelpack::patterns::PatternList;
use modelpack::plan::{self, ModelInfo, Origin, PlanFile};
use modelpack::setting::{self, Door};
use modelpack::source::SourceSpec;
use modelpack::trust::{CardFacts, FileSource, HubSource};
use modelpack::LayerPackaging;
use modelpack_hub::download::{Expect, STALL};
use modelpack_hub::stall::StallBounded;
use modelpack_hub::stream::{self as hf_stream, HeaderReader, HttpReader};

/// Files up to this size are read into memory whole: hashed (or packed)
/// before the registry is asked, so an unchanged one is never uploaded.
pub const SMALL: u64 = 16 << 20;

/// The memory all upload chunks in flight share.
const CHUNK_BUDGET: usize = 64 << 20;

/// The chunk of each streamed upload: [`CHUNK_BUDGET`] over the files in
/// flight, from 1 MiB to 16 MiB.
pub fn chunk_size(connections: usize) -> usize {
    (CHUNK_BUDGET / connections.max(1)).clamp(1 << 20, 16 << 20)
}

/// Where a file's bytes come from.
#[derive(Clone, Debug)]
enum Bytes {
    /// A local file (a folder source).
    Local(PathBuf),
    /// A URL (Hub or URL source).
    Http(String),
}

/// One file to publish.
struct Item {
    /// As the plan takes it; `digest` empty while unknown.
    file: PlanFile,
    bytes: Bytes,
    /// What the source bytes must hash to.
    expect: Expect,
    /// The source's identity of the content (`sha256:…` of an LFS file,
    /// `git-sha1:…` of a small Hub file), to match an older revision's.
    identity: Option<String>,
    /// The layer format this file gets.
    format: LayerPackaging,
    /// Where the file comes from, for the provenance.
    source: FileSource,
}

/// A listed source.
struct Listed {
    items: Vec<Item>,
    default_name: String,
    created_at: Option<String>,
    source_url: Option<String>,
    revision: Option<String>,
    token: Option<String>,
    /// The Hub repo and endpoint, to list an older commit.
    hub: Option<(HfRef, String)>,
    /// The Hub repo at its commit, for the BOM and provenance.
    hub_source: Option<HubSource>,
}

/// A layer of the manifest REF already names.
#[derive(Clone, Debug)]
struct OldLayer {
    digest: String,
    size: u64,
    diff_id: String,
    format: LayerPackaging,
}

/// The manifest REF names now, as far as reuse needs it.
struct Previous {
    digest: String,
    revision: Option<String>,
    layers: HashMap<String, OldLayer>,
}

/// Where blobs may be mounted from: `--from`, else the repositories of
/// REF's namespace the registry's catalog names (asked once, when a first
/// blob is missing).
struct Mounts {
    from: Option<String>,
    found: std::sync::OnceLock<Vec<String>>,
}

impl Mounts {
    fn candidates(&self, client: &Client, target: &Reference) -> &[String] {
        self.found.get_or_init(|| match &self.from {
            Some(f) if f != target.repository() => vec![f.clone()],
            Some(_) => Vec::new(),
            None => client.neighbours(target),
        })
    }
}

/// The result of one file.
struct Done {
    file: PlanFile,
    outcome: PushOutcome,
    /// `sha256:<hex>` of the file's own bytes, when they were read.
    sha256: Option<String>,
}

/// Publishes `a.source` to `target`; prints the manifest digest.
pub fn run(
    a: &Args,
    target: &Reference,
    client_of: impl FnOnce(Arc<dyn Progress>) -> Result<Client, Failure>,
    from: Option<&str>,
) -> Outcome {
    let patterns = PatternList::parse(&a.include.join(","), &a.exclude.join(","));
    let listed = list(a, &patterns)?;
    let n = listed.items.len();
    let total: u64 = listed.items.iter().map(|i| i.file.size).sum();
    step(&format!(
        "publishing {n} files ({}) as {} to {target}, streamed: nothing is written to local disk",
        human(total),
        a.packaging.suffix()
    ));
    let keys: Vec<Digest> = listed
        .items
        .iter()
        .map(|i| Digest::sha256_of(format!("publish {}", i.file.path).as_bytes()))
        .collect();
    let labels: HashMap<String, String> = keys
        .iter()
        .zip(&listed.items)
        .map(|(k, i)| (k.to_string(), i.file.path.clone()))
        .collect();
    let bars = Bars::for_files(labels);
    let client = client_of(bars.clone() as Arc<dyn Progress>).inspect_err(|_| bars.finish())?;
    let result = publish(a, target, &client, &bars, &keys, listed, from);
    bars.finish();
    let (digest, counts) = result?;
    let (requests, received) = hf_stream::requests();
    step(&format!(
        "published {digest} to {target}: {} layers uploaded, {} skipped (the registry had them), {} mounted, {} sent; {requests} requests to the source, {} received",
        counts.uploaded,
        counts.skipped,
        counts.mounted,
        human(counts.sent),
        human(received)
    ));
    println!("{digest}");
    Ok(())
}

/// What [`publish`] did.
#[derive(Default)]
struct Counts {
    uploaded: usize,
    skipped: usize,
    mounted: usize,
    sent: u64,
}

fn publish(
    a: &Args,
    target: &Reference,
    client: &Client,
    bars: &Arc<Bars>,
    keys: &[Digest],
    mut listed: Listed,
    from: Option<&str>,
) -> Result<(String, Counts), Failure> {
    let previous = previous(client, target);
    let (described, card) = describe(a, &listed);
    // Each file's sha256 as the listing knows it (a folder's scan, an LFS
    // file's, a URL's checksum), before reuse puts layer digests in; the
    // rest are learnt while the files stream.
    let mut sha256: BTreeMap<String, String> = listed
        .items
        .iter()
        .filter(|i| i.file.packed.is_none() && !i.file.digest.is_empty())
        .map(|i| (i.file.path.clone(), i.file.digest.clone()))
        .collect();
    let sources: BTreeMap<String, FileSource> = listed
        .items
        .iter()
        .map(|i| (i.file.path.clone(), i.source.clone()))
        .collect();
    if let Some(p) = &previous {
        reuse(&mut listed, p);
    }
    let token = listed.token.clone();
    let chunk = chunk_size(a.max_connections);
    let compressors = Compressors::new(
        listed
            .items
            .iter()
            .filter(|i| i.file.size > SMALL && compresses(i.format))
            .count(),
    );
    let small_files = Gate::new(SMALL_BUDGET);
    let mounts = Mounts {
        from: from.map(str::to_string),
        found: std::sync::OnceLock::new(),
    };
    let done = modelpack::workers::map_until_failure(listed.items.len(), a.max_connections, |i| {
        one(
            &listed.items[i],
            &keys[i],
            target,
            client,
            bars,
            token.as_deref(),
            chunk,
            &compressors,
            &small_files,
            &mounts,
        )
        .with_context(|| format!("publishing {}", listed.items[i].file.path))
    })?;
    let mut counts = Counts::default();
    let mut files = Vec::with_capacity(done.len());
    for d in done {
        if let Some(s) = d.sha256 {
            sha256.entry(d.file.path.clone()).or_insert(s);
        }
        match d.outcome {
            PushOutcome::Skipped => counts.skipped += 1,
            PushOutcome::Mounted => counts.mounted += 1,
            PushOutcome::Uploaded { bytes_sent } => {
                counts.uploaded += 1;
                counts.sent += bytes_sent;
            }
        }
        files.push(d.file);
    }
    // A kept tar layer of a small file was not read: the BOM and provenance
    // name every file's own sha256, as pack's do. Read it from the layer the
    // registry holds (checked against its digest; no request to the Hub),
    // else from the source.
    for item in &listed.items {
        if sha256.contains_key(&item.file.path) || item.file.size > SMALL {
            continue;
        }
        let kept = files.iter().find(|f| f.path == item.file.path);
        if let Some(s) = kept.and_then(|f| sha256_from_layer(client, target, f)) {
            sha256.insert(item.file.path.clone(), s);
            continue;
        }
        let mut reader =
            open(item, token.as_deref()).with_context(|| format!("opening {}", item.file.path))?;
        io::copy(&mut reader, &mut io::sink()).map_err(|e| reader.error(e))?;
        sha256.insert(item.file.path.clone(), reader.sha256_hex());
    }
    let name = a.name.clone().unwrap_or(listed.default_name);
    let info = ModelInfo {
        name: name.clone(),
        created_at: a.created_at.clone().or(listed.created_at),
        source_url: listed.source_url,
        revision: listed.revision,
        described,
        overrides: a.overrides.clone(),
        media_types: a.media_types,
        ..Default::default()
    };
    let plan = plan::build(files, &info, a.packaging)?;
    let config = &plan.config;
    let config_digest = Digest::parse(&config.descriptor.digest).map_err(remote::registry_error)?;
    client
        .push_blob(
            target,
            &config_digest,
            config.bytes.len() as u64,
            &config.bytes.as_slice(),
            None,
        )
        .map_err(remote::registry_error)?;
    let manifest = &plan.manifest;
    let digest = manifest.descriptor.digest.clone();
    if previous.as_ref().is_some_and(|p| p.digest == digest) {
        step(&format!(
            "{target} already names {digest}: nothing to update"
        ));
    } else {
        client
            .put_manifest(
                target,
                &target.manifest_ref(),
                &manifest.descriptor.media_type,
                &manifest.bytes,
            )
            .map_err(remote::registry_error)?;
    }
    let docs = pack::trust::documents(a, &plan, &name, card, listed.hub_source, &sources, &sha256)?;
    if !docs.is_empty() {
        step(&format!(
            "attaching {} as referrers of {digest}",
            pack::trust::listed(&docs)
        ));
        super::attach::push(client, target, &docs)?;
    }
    Ok((digest, counts))
}

/// Lists the source as `pack` does, without downloading a weight.
fn list(a: &Args, patterns: &PatternList) -> Result<Listed, Failure> {
    if !pack::is_remote(&a.source) {
        let Prepared {
            root,
            files,
            default_name,
            created_at,
            source_url,
            revision,
            sources,
            ..
        } = pack::folder(a, patterns)?;
        let items = files
            .into_iter()
            .map(|f| Item {
                bytes: Bytes::Local(root.join(f.origin.path.trim_start_matches('/'))),
                expect: Expect::Sha256(f.digest.trim_start_matches("sha256:").to_string()),
                identity: None,
                format: format_of(a, &f),
                source: sources.get(&f.path).cloned().unwrap_or(FileSource::Context),
                file: f,
            })
            .collect();
        return Ok(Listed {
            items,
            default_name,
            created_at,
            source_url,
            revision,
            token: None,
            hub: None,
            hub_source: None,
        });
    }
    let mut spec = SourceSpec::parse(a.source.trim(), a.revision.as_deref())
        .map_err(|e| Failure::Usage(e.render(Door::Cli)))?;
    spec.apply_checksum(a.checksum.as_deref())
        .map_err(|e| Failure::Usage(e.render(Door::Cli)))?;
    match &spec {
        SourceSpec::HuggingFace(hf) => list_hub(a, hf, patterns, &spec.default_name()),
        SourceSpec::Url(urls) => list_urls(a, urls, patterns, &spec.default_name()),
        SourceSpec::Context(_) => unreachable!("is_remote only passes Hub and URL sources"),
    }
}

/// The layer format `pack` gives `f`.
fn format_of(a: &Args, f: &PlanFile) -> LayerPackaging {
    a.packaging.for_kind(
        modelpack::mediatype::classify(&f.path, f.size).0,
        a.compress_weights,
    )
}

/// A plan file of the source (digest filled in later when unknown).
fn plan_file(path: &str, size: u64, digest: Option<String>) -> PlanFile {
    PlanFile {
        path: path.to_string(),
        size,
        digest: digest.unwrap_or_default(),
        executable: false,
        origin: Origin {
            source: 0,
            path: format!("/{path}"),
        },
        packed: None,
    }
}

fn list_hub(
    a: &Args,
    hf: &HfRef,
    patterns: &PatternList,
    default_name: &str,
) -> Result<Listed, Failure> {
    let endpoint = pack::hub::endpoint(a.hf_endpoint.as_deref()).map_err(Failure::Usage)?;
    let token = pack::hub::token(a.token_file.as_deref())?;
    let options = pack::hub::Options {
        endpoint: endpoint.clone(),
        token: token.clone(),
        patterns,
        connections: a.max_connections,
    };
    step(&format!(
        "resolving {}@{} on {endpoint}",
        hf.repo, hf.revision
    ));
    let bytes = hf_stream::get_bytes(
        &hf.info_url(&endpoint, &hf.revision),
        token.as_deref(),
        modelpack_hub::MAX_INFO_BYTES as u64,
    )
    .map_err(|e| pack::hub::info_failure(hf, &options, e))?;
    let info = parse_info(&bytes, &hf.repo)?;
    let selected = hf
        .select(&info, patterns)
        .map_err(|e| Failure::Failed(anyhow!(setting::render(&e, Door::Cli))))?;
    let (lfs, small): (Vec<_>, Vec<_>) = selected
        .into_iter()
        .partition(|(_, f)| f.lfs_sha256.is_some());
    let items = lfs
        .into_iter()
        .chain(small)
        .map(|(rel, f)| {
            let (expect, identity) = match (&f.lfs_sha256, &f.blob_id) {
                (Some(sha), _) => (Expect::Sha256(sha.clone()), Some(format!("sha256:{sha}"))),
                (None, Some(b)) => (Expect::GitSha1(b.clone()), Some(format!("git-sha1:{b}"))),
                (None, None) => (Expect::Anything, None),
            };
            let file = plan_file(
                &rel,
                f.size,
                f.lfs_sha256.as_ref().map(|s| format!("sha256:{s}")),
            );
            Item {
                bytes: Bytes::Http(hf.resolve_url(&endpoint, &info.commit, &f.path)),
                expect,
                identity,
                format: format_of(a, &file),
                source: FileSource::Hub {
                    source: 0,
                    path: f.path.clone(),
                    git_blob: f.blob_id.clone(),
                },
                file,
            }
        })
        .collect();
    Ok(Listed {
        items,
        default_name: default_name.to_string(),
        created_at: info.date.clone(),
        source_url: Some(hf.web_url(&endpoint)),
        revision: Some(info.commit.clone()),
        token,
        hub_source: Some(HubSource {
            endpoint: endpoint.clone(),
            kind: hf.kind,
            repo: hf.repo.clone(),
            revision: hf.revision.clone(),
            commit: info.commit.clone(),
        }),
        hub: Some((hf.clone(), endpoint)),
    })
}

fn list_urls(
    a: &Args,
    urls: &[modelpack::source::UrlSource],
    patterns: &PatternList,
    default_name: &str,
) -> Result<Listed, Failure> {
    let kept: Vec<_> = urls
        .iter()
        .filter(|u| patterns.keeps(&u.file_name))
        .collect();
    if kept.is_empty() {
        return Err(Failure::Usage(format!(
            "--include/--exclude left none of the {} URL file name(s) to fetch; check the patterns",
            urls.len()
        )));
    }
    let mut items = Vec::new();
    for u in kept {
        if u.url != u.shown {
            return Err(Failure::Usage(format!(
                "{}: credentials in the URL (user:password@) are not sent; use a public or pre-signed URL",
                u.shown
            )));
        }
        pack::check_transport(&u.url, "SOURCE").map_err(Failure::Usage)?;
        let size = hf_stream::size_of(&u.url)
            .map_err(|e| anyhow!("{}: cannot learn its size: {}", u.shown, e.message))?;
        let sha = u
            .checksum
            .as_deref()
            .and_then(|c| c.strip_prefix("sha256:"))
            .map(str::to_string);
        let file = plan_file(
            &u.file_name,
            size,
            sha.as_ref().map(|s| format!("sha256:{s}")),
        );
        items.push(Item {
            bytes: Bytes::Http(u.url.clone()),
            expect: sha.map_or(Expect::Anything, Expect::Sha256),
            identity: None,
            format: format_of(a, &file),
            source: FileSource::Url {
                url: u.shown.clone(),
                checksum_checked: u.checksum.is_some(),
            },
            file,
        });
    }
    Ok(Listed {
        items,
        default_name: default_name.to_string(),
        created_at: None,
        source_url: modelpack::urlsource::source_url(urls),
        revision: None,
        token: None,
        hub: None,
        hub_source: None,
    })
}

/// The manifest `target` names now, with its config's revision and each
/// layer's digest and diff id by model path; `None` when there is none or
/// it is not a ModelPack manifest (a warning says why when it could not
/// be read).
fn previous(client: &Client, target: &Reference) -> Option<Previous> {
    let m = match client.get_manifest(target, &[oci_registry::OCI_MANIFEST]) {
        Ok(m) => m,
        Err(e) if e.kind() == oci_registry::ErrorKind::NotFound => return None,
        Err(e) => {
            step(&format!(
                "warning: cannot read what {target} names now ({e}); every file is looked at anew"
            ));
            return None;
        }
    };
    let manifest: modelpack::oci::Manifest = serde_json::from_slice(&m.bytes).ok()?;
    let config_digest = Digest::parse(&manifest.config.digest).ok()?;
    if manifest.config.size > 4 << 20 {
        return None;
    }
    let mut bytes = Vec::new();
    client.pull_blob(target, &config_digest, &mut bytes).ok()?;
    let config: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let revision = config["descriptor"]["revision"]
        .as_str()
        .map(str::to_string);
    let modelfs = &config["modelfs"];
    let diff_ids = modelfs["diffIds"]
        .as_array()
        .or_else(|| modelfs["diff_ids"].as_array())?;
    if diff_ids.len() != manifest.layers.len() {
        return None;
    }
    let mut layers = HashMap::new();
    for (d, diff) in manifest.layers.iter().zip(diff_ids) {
        let (Some(path), Some(t), Some(diff)) = (
            modelpack::layout::filepath(d),
            modelpack::layout::layer_type(&d.media_type),
            diff.as_str(),
        ) else {
            continue;
        };
        layers.insert(
            path.to_string(),
            OldLayer {
                digest: d.digest.clone(),
                size: d.size,
                diff_id: diff.to_string(),
                format: t.format,
            },
        );
    }
    Some(Previous {
        digest: m.digest.to_string(),
        revision,
        layers,
    })
}

/// Gives every file the previous manifest's layer when its content is
/// known unchanged: same commit, or the same identity in the previous
/// commit's listing (one request to the Hub).
fn reuse(listed: &mut Listed, p: &Previous) {
    let Some(old_rev) = &p.revision else { return };
    let same_commit = listed.revision.as_deref() == Some(old_rev.as_str());
    let old_identities: HashMap<String, String> = if same_commit {
        HashMap::new()
    } else {
        match &listed.hub {
            Some((hf, ep)) => old_listing(hf, ep, old_rev, listed.token.as_deref()),
            None => return,
        }
    };
    let mut reused = 0;
    for item in &mut listed.items {
        let Some(old) = p.layers.get(&item.file.path) else {
            continue;
        };
        let unchanged = same_commit
            || (item.identity.is_some()
                && old_identities.get(&item.file.path) == item.identity.as_ref());
        if !unchanged || old.format != item.format {
            continue;
        }
        if item.format == LayerPackaging::Raw {
            if !item.file.digest.is_empty() && item.file.digest != old.digest {
                continue;
            }
            item.file.digest = old.digest.clone();
        } else {
            item.file.set_packed(
                modelpack::pack::Written {
                    digest: old.digest.clone(),
                    size: old.size,
                    diff_id: old.diff_id.clone(),
                },
                old.format,
                0,
                item.file.origin.path.clone(),
            );
        }
        reused += 1;
    }
    if reused > 0 {
        step(&format!(
            "{reused} of {} files unchanged since the published revision {old_rev}: their layers are kept",
            listed.items.len()
        ));
    }
}

/// The identities of an older commit's files, by model path (empty when
/// the Hub cannot list it).
fn old_listing(hf: &HfRef, ep: &str, commit: &str, token: Option<&str>) -> HashMap<String, String> {
    let Ok(bytes) = hf_stream::get_bytes(
        &hf.info_url(ep, commit),
        token,
        modelpack_hub::MAX_INFO_BYTES as u64,
    ) else {
        return HashMap::new();
    };
    let Ok(info) = parse_info(&bytes, &hf.repo) else {
        return HashMap::new();
    };
    let all = PatternList::parse("", "");
    let Ok(selected) = hf.select(&info, &all) else {
        return HashMap::new();
    };
    selected
        .into_iter()
        .filter_map(|(rel, f)| {
            let id = match (&f.lfs_sha256, &f.blob_id) {
                (Some(s), _) => format!("sha256:{s}"),
                (None, Some(b)) => format!("git-sha1:{b}"),
                (None, None) => return None,
            };
            Some((rel, id))
        })
        .collect()
}

/// Reads the model headers as `pack` does, the weights' with small ranged
/// requests.
fn describe(a: &Args, listed: &Listed) -> (PartialConfig, CardFacts) {
    let files: Vec<PlanFile> = listed.items.iter().map(|i| i.file.clone()).collect();
    let wanted = modelpack::describe::selection(&files);
    if wanted.is_empty() {
        return (PartialConfig::default(), CardFacts::default());
    }
    step(&format!("reading model headers ({} files)", wanted.len()));
    let inputs: Vec<FileInput> = wanted
        .iter()
        .map(|f| {
            let item = listed
                .items
                .iter()
                .find(|i| i.file.path == f.path)
                .expect("selected from these items");
            let (bytes, size, token) = (item.bytes.clone(), item.file.size, listed.token.clone());
            FileInput::new(f.path.clone(), move || -> io::Result<Box<dyn Read>> {
                Ok(match &bytes {
                    Bytes::Local(p) => Box::new(std::fs::File::open(p)?),
                    Bytes::Http(url) => Box::new(HeaderReader::new(url, token.as_deref(), size)),
                })
            })
        })
        .collect();
    let description = modelpack::describe::describe(&inputs);
    for e in &description.errors {
        step(&format!("warning: {e}"));
    }
    (
        description.facts.to_config(a.name.is_none()),
        description.facts.card_facts(),
    )
}

/// Opens a file's bytes from the start, checked against the item's
/// `expect` at the end.
fn open(item: &Item, token: Option<&str>) -> io::Result<Verified<Box<dyn Read + Send>>> {
    open_with(item, token, false)
}

/// [`open`], or with `count_only` the bytes only counted against the
/// listed size (see [`Verified::counting`]).
fn open_with(
    item: &Item,
    token: Option<&str>,
    count_only: bool,
) -> io::Result<Verified<Box<dyn Read + Send>>> {
    let inner: Box<dyn Read + Send> = match &item.bytes {
        Bytes::Local(p) => Box::new(std::fs::File::open(p)?),
        Bytes::Http(url) => Box::new(StallBounded::new(
            HttpReader::new(url, token, 0, None),
            &item.file.path,
            STALL,
        )),
    };
    Ok(if count_only {
        Verified::counting(inner, item.file.size, &item.file.path)
    } else {
        Verified::new(inner, item.expect.clone(), item.file.size, &item.file.path)
    })
}

/// One file to the registry; see the module documentation.
#[allow(clippy::too_many_arguments)]
fn one(
    item: &Item,
    key: &Digest,
    target: &Reference,
    client: &Client,
    bars: &Arc<Bars>,
    token: Option<&str>,
    chunk: usize,
    compressors: &Compressors,
    small_files: &Gate,
    from: &Mounts,
) -> anyhow::Result<Done> {
    let mut file = item.file.clone();
    let raw = item.format == LayerPackaging::Raw;
    bars.started(key, item.file.size);
    let known = if raw || file.packed.is_some() {
        (!file.digest.is_empty())
            .then(|| Digest::parse(&file.digest))
            .transpose()?
    } else {
        None
    };
    if let Some(d) = &known {
        if client
            .blob_exists(target, d)
            .map_err(remote::registry_error)?
            .is_some()
        {
            bars.done(key, BlobOutcome::Skipped);
            return Ok(Done {
                sha256: raw.then(|| file.digest.clone()),
                file,
                outcome: PushOutcome::Skipped,
            });
        }
        if file.packed.is_some() {
            // A kept tar layer the repository lost: pack it again.
            file.packed = None;
            file.digest.clear();
        } else {
            let candidates = from.candidates(client, target);
            if client
                .mount_from_any(target, d, candidates)
                .map_err(remote::registry_error)?
                .is_some()
            {
                bars.done(key, BlobOutcome::Mounted);
                return Ok(Done {
                    sha256: Some(file.digest.clone()),
                    file,
                    outcome: PushOutcome::Mounted,
                });
            }
        }
    }
    if item.file.size <= SMALL {
        let _held = small_files.take(small_cost(item.file.size, item.format));
        return small(item, file, key, target, client, bars, token, chunk);
    }
    let _compressing = compresses(item.format).then(|| compressors.enter());
    // A raw file of known digest is not hashed here: the upload names that
    // digest and the registry refuses bytes that hash to anything else
    // (DIGEST_INVALID), so its check is the source's check. Only the size
    // is counted. On two CPUs this hashing was a third of the publish.
    let registry_checks = raw && known.is_some();
    let mut reader = open_with(item, token, registry_checks)
        .with_context(|| format!("opening {}", item.file.path))?;
    let mut w = match (&known, raw) {
        (Some(d), true) => client.blob_writer_for(target, d, chunk),
        _ => client.blob_writer(target, key, chunk),
    }
    .map_err(remote::registry_error)?;
    let expect = if raw {
        copy_big(&mut reader, &mut w).map_err(|e| reader.error(e))?;
        known.clone()
    } else {
        let written = modelpack::pack::write_layer_from(
            &mut reader,
            item.file.size,
            &item.file.path,
            item.file.mode(),
            item.format,
            &mut w,
            compressors.threads,
        )
        .map_err(|e| reader.error(e))?;
        let d = Digest::parse(&written.digest).map_err(remote::registry_error)?;
        file.set_packed(written, item.format, 0, file.origin.path.clone());
        Some(d)
    };
    let streamed = w.finish(expect.as_ref()).map_err(|e| {
        if registry_checks && e.kind() == oci_registry::ErrorKind::DigestMismatch {
            anyhow!(
                "{}: the registry found that the bytes do not hash to {}, the sha256 the source lists ({}); the file is corrupted on the server or in transit, try again",
                item.file.path,
                file.digest,
                e.message()
            )
        } else {
            remote::registry_error(e)
        }
    })?;
    if raw {
        file.digest = streamed.digest.to_string();
    }
    Ok(Done {
        sha256: Some(if registry_checks {
            streamed.digest.to_string()
        } else {
            reader.sha256_hex()
        }),
        file,
        outcome: PushOutcome::Uploaded {
            bytes_sent: streamed.bytes_sent,
        },
    })
}

/// The sha256 of the small file `f` from its tar layer in the registry
/// (`pull_blob` checks the blob's digest); `None` when it is not a tar
/// layer or cannot be read (the caller reads the source then).
fn sha256_from_layer(client: &Client, target: &Reference, f: &PlanFile) -> Option<String> {
    let packed = f.packed.as_ref()?;
    if packed.blob_size > SMALL + (1 << 20) {
        return None;
    }
    let digest = Digest::parse(&f.digest).ok()?;
    let mut blob = Vec::with_capacity(packed.blob_size as usize);
    client.pull_blob(target, &digest, &mut blob).ok()?;
    modelpack::signed_files::tar_layer_files(blob.as_slice(), packed.format)
        .ok()?
        .into_iter()
        .find(|r| r.name == f.path)
        .map(|r| format!("sha256:{}", r.sha256))
}

/// Big files compressed at once. A compressor's buffers grow with what it
/// cannot shrink (weights): a zstd encoder of one worker holds about 40 MiB
/// of jobs and their output, so compressing four files at once took the
/// publish to 212 MiB of RSS on incompressible shards, two to 109 MiB. On
/// two CPUs two were as fast as four.
const MAX_COMPRESSING: usize = 2;

/// Compressor threads over all the files compressed at once: the memory
/// bound wins over more cores (four zstd workers outrun most uploads).
const MAX_COMPRESS_THREADS: usize = 4;

/// Whether a layer format compresses (and so holds a compressor's buffers).
fn compresses(format: LayerPackaging) -> bool {
    matches!(format, LayerPackaging::TarGzip | LayerPackaging::TarZstd)
}

/// The compressors of a publish: threads per file and a gate that lets
/// [`MAX_COMPRESSING`] big files compress at once. The layer bytes are the
/// same for any thread count.
struct Compressors {
    threads: usize,
    gate: Gate,
}

impl Compressors {
    /// For `big` big files to compress.
    fn new(big: usize) -> Self {
        let max = MAX_COMPRESSING.min(big).max(1);
        let cores = modelpack::pack::default_threads().min(MAX_COMPRESS_THREADS);
        Compressors {
            threads: (cores / max).max(1),
            gate: Gate::new(max as u64),
        }
    }

    /// Waits for a free compressor; it is freed when the guard drops.
    fn enter(&self) -> Held<'_> {
        self.gate.take(1)
    }
}

/// The memory small files held whole may take at once, counted as their
/// size once (raw), twice (tar: the bytes and the layer) or three times
/// (compressed: and the compressor's buffers).
const SMALL_BUDGET: u64 = 48 << 20;

/// What a small file in `format` is counted for in [`SMALL_BUDGET`].
fn small_cost(size: u64, format: LayerPackaging) -> u64 {
    let copies = match format {
        LayerPackaging::Raw => 1,
        LayerPackaging::Tar => 2,
        LayerPackaging::TarGzip | LayerPackaging::TarZstd => 3,
    };
    size.max(1) * copies
}

/// A counting gate: takers wait while what is taken would pass `max`
/// (one taker alone always gets in, whatever it asks).
struct Gate {
    used: std::sync::Mutex<u64>,
    freed: std::sync::Condvar,
    max: u64,
}

impl Gate {
    fn new(max: u64) -> Self {
        Gate {
            used: std::sync::Mutex::new(0),
            freed: std::sync::Condvar::new(),
            max,
        }
    }

    /// Waits until `n` fits; it is given back when the guard drops.
    fn take(&self, n: u64) -> Held<'_> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used > 0 && *used + n > self.max {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += n;
        Held(self, n)
    }
}

/// What a taker holds of a [`Gate`].
struct Held<'a>(&'a Gate, u64);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut used = self.0.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= self.1;
        self.0.freed.notify_all();
    }
}

/// `io::copy` with a buffer of [`COPY_BUFFER`] rather than 8 KiB: a
/// streamed weight moves in a few large writes into the upload chunk.
fn copy_big(r: &mut impl Read, w: &mut impl io::Write) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// The buffer of [`copy_big`].
const COPY_BUFFER: usize = 1 << 20;

/// A small file: read into memory, hashed and packed there, uploaded only
/// when the registry lacks the blob.
#[allow(clippy::too_many_arguments)]
fn small(
    item: &Item,
    mut file: PlanFile,
    key: &Digest,
    target: &Reference,
    client: &Client,
    bars: &Arc<Bars>,
    token: Option<&str>,
    chunk: usize,
) -> anyhow::Result<Done> {
    let mut reader = open(item, token).with_context(|| format!("opening {}", item.file.path))?;
    let mut bytes = Vec::with_capacity(item.file.size as usize);
    (&mut reader)
        .take(SMALL + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| reader.error(e))?;
    reader.check_end().map_err(|e| reader.error(e))?;
    let sha256 = Some(reader.sha256_hex());
    let blob = if item.format == LayerPackaging::Raw {
        file.digest = Digest::sha256_of(&bytes).to_string();
        bytes
    } else {
        let mut out = Vec::new();
        let written = modelpack::pack::write_layer_from(
            &bytes[..],
            bytes.len() as u64,
            &item.file.path,
            item.file.mode(),
            item.format,
            &mut out,
            modelpack::pack::default_threads(),
        )?;
        file.set_packed(written, item.format, 0, file.origin.path.clone());
        out
    };
    let digest = Digest::parse(&file.digest).map_err(remote::registry_error)?;
    if client
        .blob_exists(target, &digest)
        .map_err(remote::registry_error)?
        .is_some()
    {
        bars.done(key, BlobOutcome::Skipped);
        return Ok(Done {
            sha256,
            file,
            outcome: PushOutcome::Skipped,
        });
    }
    // Through a writer, so the bars follow this file by its key.
    let mut w = client
        .blob_writer(target, key, chunk)
        .map_err(remote::registry_error)?;
    io::Write::write_all(&mut w, &blob).with_context(|| format!("uploading {}", item.file.path))?;
    let streamed = w.finish(Some(&digest)).map_err(remote::registry_error)?;
    Ok(Done {
        sha256,
        file,
        outcome: PushOutcome::Uploaded {
            bytes_sent: streamed.bytes_sent,
        },
    })
}

/// A source's bytes checked on their way through: the count against the
/// listed size and the hash against `expect`, at the end of the stream
/// (an error there stops the layer before it is committed).
struct Verified<R> {
    inner: R,
    expect: Expect,
    size: u64,
    name: String,
    read: u64,
    sha256: sha2::Sha256,
    /// Only for a git blob id to check.
    git: Option<sha1::Sha1>,
    checked: bool,
    /// Off: the bytes are counted, not hashed (see [`Verified::counting`]).
    hash: bool,
}

impl<R: Read> Verified<R> {
    fn new(inner: R, expect: Expect, size: u64, name: &str) -> Self {
        let git = matches!(expect, Expect::GitSha1(_)).then(|| {
            let mut git = sha1::Sha1::new();
            git.update(format!("blob {size}\0").as_bytes());
            git
        });
        Verified {
            inner,
            expect,
            size,
            name: name.to_string(),
            read: 0,
            sha256: sha2::Sha256::new(),
            git,
            checked: false,
            hash: true,
        }
    }

    /// A reader that counts the bytes against `size` without hashing them,
    /// for a check made elsewhere (the registry's of an upload under a known
    /// digest); [`Verified::sha256_hex`] means nothing for it.
    fn counting(inner: R, size: u64, name: &str) -> Self {
        Verified {
            hash: false,
            ..Verified::new(inner, Expect::Anything, size, name)
        }
    }

    /// The failure at the end of the stream, if any.
    fn check_end(&mut self) -> io::Result<()> {
        if self.checked {
            return Ok(());
        }
        self.checked = true;
        let bad = |m: String| Err(io::Error::new(io::ErrorKind::InvalidData, m));
        if self.read != self.size {
            return bad(format!(
                "{}: the source lists {} bytes but served {}",
                self.name, self.size, self.read
            ));
        }
        let (what, want, got) = match &self.expect {
            Expect::Anything => return Ok(()),
            Expect::Sha256(want) => ("sha256", want, hex::encode(self.sha256.clone().finalize())),
            Expect::GitSha1(want) => (
                "git blob id",
                want,
                self.git
                    .clone()
                    .map(|g| hex::encode(g.finalize()))
                    .unwrap_or_default(),
            ),
        };
        if *want != got {
            return bad(format!(
                "{}: {what} is {got}, the source lists {want}; the file is corrupted on the server or in transit, try again",
                self.name
            ));
        }
        Ok(())
    }

    /// `sha256:<hex>` of the bytes read so far (all of them, once read).
    fn sha256_hex(&self) -> String {
        format!("sha256:{}", hex::encode(self.sha256.clone().finalize()))
    }

    /// `e` with what the downloader knows about it.
    fn error(&mut self, e: io::Error) -> anyhow::Error {
        anyhow!("reading {}: {e}", self.name)
    }
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.check_end()?;
            return Ok(0);
        }
        self.read += n as u64;
        if !self.hash {
            return Ok(n);
        }
        self.sha256.update(&buf[..n]);
        if let Some(g) = &mut self.git {
            g.update(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    #[test]
    fn no_more_files_compress_at_once_than_the_gate_allows() {
        let c = Compressors::new(5);
        assert_eq!(c.gate.max, MAX_COMPRESSING as u64);
        assert!(c.threads >= 1 && c.threads * MAX_COMPRESSING <= MAX_COMPRESS_THREADS.max(2));
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    for _ in 0..20 {
                        let _slot = c.enter();
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(n, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        now.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), MAX_COMPRESSING);
        assert_eq!(*c.gate.used.lock().unwrap(), 0, "every slot given back");
    }

    #[test]
    fn one_file_to_compress_gets_every_compressor_thread() {
        let c = Compressors::new(1);
        assert_eq!(c.gate.max, 1);
        assert_eq!(
            c.threads,
            modelpack::pack::default_threads().min(MAX_COMPRESS_THREADS)
        );
        assert!(compresses(LayerPackaging::TarZstd) && compresses(LayerPackaging::TarGzip));
        assert!(!compresses(LayerPackaging::Tar) && !compresses(LayerPackaging::Raw));
    }

    #[test]
    fn small_files_held_whole_stay_within_their_budget() {
        let g = Gate::new(SMALL_BUDGET);
        let sizes = [16u64 << 20, 10 << 20, 1 << 20, 15 << 20, 4 << 20, 16 << 20];
        let (now, most) = (AtomicU64::new(0), AtomicU64::new(0));
        std::thread::scope(|s| {
            for (i, size) in sizes.iter().enumerate() {
                let (g, now, most) = (&g, &now, &most);
                s.spawn(move || {
                    let format = [
                        LayerPackaging::Raw,
                        LayerPackaging::Tar,
                        LayerPackaging::TarZstd,
                    ][i % 3];
                    let cost = small_cost(*size, format);
                    let _held = g.take(cost);
                    let n = now.fetch_add(cost, Ordering::SeqCst) + cost;
                    most.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    now.fetch_sub(cost, Ordering::SeqCst);
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= SMALL_BUDGET);
        assert_eq!(
            small_cost(16 << 20, LayerPackaging::TarZstd),
            SMALL_BUDGET,
            "the biggest fits alone"
        );
        assert_eq!(*g.used.lock().unwrap(), 0);
    }
}
