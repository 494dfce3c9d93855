//! Fetching a Hugging Face repo through BuildKit. The frontend has no
//! network: repo info is an LLB HTTP source that buildkitd fetches; the
//! LFS files come from one cached download step of our own image that
//! writes them to their blob paths (checked by sha256), as their layers
//! when they are to be packed, the small files from another
//! ([`crate::hf_get_many`]); where those steps cannot run, each
//! file is a BuildKit HTTP source (LFS files checked by sha256, so cached
//! without a request).
//! When the Hub refuses (gated or private repos), the build is tried again
//! with steps that re-execute our own image with the `hf-token` secret
//! mounted; the frontend never sees the token. Only the small info JSON and
//! the scan listing come back over gRPC.

use std::collections::BTreeSet;

use anyhow::anyhow;
use llb::{CopyOptions, Exec, FileOp, Mount, NetMode, State};

use crate::buildkit_errors::{classify, classify_error, Cause};
use crate::deadline::{self, Unfinished};
use crate::emit::blob_path;
use crate::gateway::{Bridge, GatewayError, Reference};
use crate::hf_get_many;
use crate::options::{DownloadNetwork, Request};
use crate::output::{Metadata, Output};
use crate::sizes;
use crate::source::package;
use crate::steps::{self, BINARY};
use modelpack::huggingface::{is_commit, parse_info, HfRef, HubFile, RepoInfo};
use modelpack::human::human_size;
use modelpack::plan::{ModelInfo, Origin, PlanFile};
use modelpack::scan::Listing;
use modelpack::LayerPackaging;
use modelpack_hub::download::{Expect, LayerSpec};
use modelpack_steps::hf_get::{TOKEN_PATH, TOKEN_SECRET_ID};

/// The token hint shown with every access error.
pub const TOKEN_HINT: &str = "pass --secret id=hf-token,env=HF_TOKEN with a token that can read it";

/// How files and API answers are fetched.
pub struct Fetcher {
    image: State,
    token: bool,
    network: NetMode,
    /// Proxy variables for the download steps (not in their cache keys).
    proxy: llb::proto::pb::ProxyEnv,
}

/// A failed attempt: the explained error, and whether the Hub refused
/// access (so that a try with the token secret makes sense).
struct Failure {
    refused: bool,
    error: GatewayError,
}

impl From<GatewayError> for Failure {
    fn from(error: GatewayError) -> Self {
        Failure {
            refused: false,
            error,
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure {
            refused: false,
            error: GatewayError::Local(e),
        }
    }
}

/// Packages `hf` into an OCI layout: anonymously through BuildKit's HTTP
/// sources first, then, if the Hub refused, with the `hf-token` secret.
pub async fn build_layout(
    bridge: &Bridge,
    request: &Request,
    output: &Output,
    hf: &HfRef,
) -> Result<(Reference, Metadata), GatewayError> {
    let image = steps::own_image()?;
    let anonymous = Fetcher::new(image.clone(), request, false);
    let refused = match attempt(bridge, request, output, hf, &anonymous).await {
        Ok(r) => return Ok(r),
        Err(f) if f.refused => f.error,
        Err(f) => return Err(f.error),
    };
    eprintln!(
        "modelpack-frontend: {} refused anonymous access; trying with the hf-token secret",
        hf.repo
    );
    let with_token = Fetcher::new(image, request, true);
    match attempt(bridge, request, output, hf, &with_token).await {
        Ok(r) => Ok(r),
        Err(f) if f.refused => Err(f.error),
        Err(f) => Err(GatewayError::Local(anyhow!(
            "{refused}; downloading with the hf-token secret failed too: {}{}",
            f.error,
            if classify_error(&f.error) == Cause::NoBridgeNetwork {
                " (on an engine without a default network pass --build-arg download_network=host --allow network.host)"
            } else {
                ""
            }
        ))),
    }
}

/// The files of `hf` and their states, for a composition of several
/// sources: anonymously first, then, if the Hub refused, with the
/// `hf-token` secret (as [`build_layout`]). Returns the pinned repo info.
pub(crate) async fn fetch_pinned(
    bridge: &Bridge,
    request: &Request,
    hf: &HfRef,
) -> Result<(Vec<PlanFile>, Vec<State>, RepoInfo), GatewayError> {
    let image = steps::own_image()?;
    let anonymous = Fetcher::new(image.clone(), request, false);
    let (fetched, fetcher) = match fetch(bridge, request, hf, &anonymous, None).await {
        Ok(f) => (f, anonymous),
        Err(f) if !f.refused => return Err(f.error),
        Err(_) => {
            eprintln!(
                "modelpack-frontend: {} refused anonymous access; trying with the hf-token secret",
                hf.repo
            );
            let with_token = Fetcher::new(image, request, true);
            (
                fetch(bridge, request, hf, &with_token, None)
                    .await
                    .map_err(|f| f.error)?,
                with_token,
            )
        }
    };
    fetched
        .check_sizes(bridge, hf, &fetcher)
        .await
        .map_err(|e| explain_file_failure(request, hf, &fetched.info, e).error)?;
    Ok((fetched.files, fetched.sources, fetched.info))
}

async fn attempt(
    bridge: &Bridge,
    request: &Request,
    output: &Output,
    hf: &HfRef,
    fetcher: &Fetcher,
) -> Result<(Reference, Metadata), Failure> {
    let format_of = package::format_of(request, output);
    let fetched = fetch(bridge, request, hf, fetcher, Some(&format_of)).await?;
    let info = ModelInfo {
        name: request.name.clone(),
        created_at: request.created_at.clone().or(fetched.info.date.clone()),
        source_url: Some(hf.web_url(&request.hf_endpoint)),
        revision: Some(fetched.info.commit.clone()),
        overrides: request.overrides.clone(),
        ..Default::default()
    };
    let sizes = fetched.check_sizes(bridge, hf, fetcher);
    let fetched_files = package::Fetched {
        files: fetched.files.clone(),
        sources: fetched.sources.clone(),
        blob_source: fetched.blob_source,
        raw_blobs: fetched.small_blobs.clone(),
        // Source 0 gathers the small files and nothing else.
        small_source: Some(0),
        pinned: true,
    };
    package::layout(
        bridge,
        &fetcher.image,
        request,
        output,
        fetched_files,
        &info,
        sizes,
    )
    .await
    .map_err(|e| explain_file_failure(request, hf, &fetched.info, e))
}

/// The model files of a Hub repo as plan inputs, plus their source states.
struct Fetched {
    info: RepoInfo,
    files: Vec<PlanFile>,
    sources: Vec<State>,
    /// The source holding exactly the LFS files at their blob paths, when
    /// one step downloaded them ([`fetch_lfs_files`]).
    blob_source: Option<usize>,
    /// The small files at their blob paths, and their digests.
    small_blobs: Option<(State, BTreeSet<String>)>,
}

impl Fetcher {
    /// Downloads as `request` says (network, proxies), with the token
    /// secret mounted or not.
    fn new(image: State, request: &Request, token: bool) -> Self {
        let network = match request.download_network {
            DownloadNetwork::Default => NetMode::Sandbox,
            DownloadNetwork::Host => NetMode::Host,
        };
        Fetcher {
            image,
            token,
            network,
            proxy: request.proxy.clone(),
        }
    }

    /// A state holding the body of `url` at `/<name>`, checked against
    /// `expect`. `retry` gives a variant that BuildKit does not serve from
    /// its HTTP cache under the same entry as the first try.
    fn file(
        &self,
        url: &str,
        name: &str,
        expect: &Expect,
        progress: &str,
        fresh: bool,
        retry: bool,
    ) -> State {
        if !self.token {
            let mut src = llb::source::http(url).filename(name).custom_name(progress);
            if let Expect::Sha256(s) = expect {
                src = src.checksum(&format!("sha256:{s}"));
            }
            if retry {
                // BuildKit keys its ETag cache on file name and permissions.
                src = src.perm(0o644);
            }
            return src.into_state();
        }
        let out = format!("/out/{name}");
        let expected = expect.arg();
        let mut args = vec![BINARY, modelpack_steps::hf_get::NAME, url, &out];
        if let Some(e) = &expected {
            args.push(e);
        }
        let mut step = Exec::new(&self.image, args)
            .network(self.network)
            .mount(Mount::secret(TOKEN_PATH, TOKEN_SECRET_ID, true))
            .mount(Mount::bind("/out", &State::scratch()))
            .proxy_env(self.proxy.clone())
            .custom_name(progress);
        if fresh {
            step = step.ignore_cache();
        }
        step.build().output("/out").expect("writable mount")
    }

    async fn read(
        &self,
        bridge: &Bridge,
        url: &str,
        progress: &str,
    ) -> Result<Vec<u8>, GatewayError> {
        let state = self.file(url, "answer.json", &Expect::Anything, progress, true, false);
        let r = bridge.solve_evaluated(state.to_definition()).await?;
        bridge.read_file(&r, "answer.json").await
    }
}

/// The format a file is to be packaged in, when known at download time.
type FormatOf<'a> = Option<&'a dyn Fn(&PlanFile) -> LayerPackaging>;

/// Resolves the revision, lists and fetches the selected files. With
/// `format_of`, LFS files downloaded by one step are written in their
/// layer format as they arrive ([`fetch_lfs_files`]).
async fn fetch(
    bridge: &Bridge,
    request: &Request,
    hf: &HfRef,
    fetcher: &Fetcher,
    format_of: FormatOf<'_>,
) -> Result<Fetched, Failure> {
    let ep = &request.hf_endpoint;
    let progress = format!("resolve {}@{} on {ep}", hf.repo, hf.revision);
    let bytes = match fetcher
        .read(bridge, &hf.info_url(ep, &hf.revision), &progress)
        .await
    {
        Ok(b) => b,
        Err(e) => return Err(explain_info_failure(bridge, fetcher, request, hf, e).await),
    };
    let info = parse_info(&bytes, &hf.repo)?;
    let selected = hf.select(&info, &request.patterns)?;

    // Source 0 gathers the small (non-LFS) files so one scan step hashes them.
    let mut sources = vec![State::scratch()];
    let (lfs, small): (Vec<_>, Vec<_>) = selected
        .into_iter()
        .partition(|(_, f)| f.lfs_sha256.is_some());
    // The small files and the LFS downloads run at the same time. A small
    // file's error wins over an LFS one: for a refused repo (401/403) it
    // says so, while BuildKit reports any error answer to a checksummed
    // HTTP source as a digest mismatch. A small-file error is returned at
    // once; an LFS error waits for the small files to tell which it is.
    let blob_source;
    let (mut files, fetched_small) = {
        let small_files = async {
            if small.is_empty() {
                Ok(None)
            } else {
                fetch_small_files(bridge, request, hf, &info, fetcher, &small)
                    .await
                    .map(Some)
            }
        };
        let lfs_files = fetch_lfs_files(bridge, request, hf, &info, fetcher, &lfs, format_of);
        tokio::pin!(small_files, lfs_files);
        let (lfs_fetched, small_fetched) = tokio::select! {
            biased;
            r = &mut small_files => {
                let r = r?;
                ((&mut lfs_files).await?, r)
            }
            r = &mut lfs_files => match r {
                Ok(l) => (l, small_files.await?),
                Err(lfs_error) => {
                    small_files.await?;
                    return Err(lfs_error);
                }
            },
        };
        let (lfs_plan, lfs_states, one_step) = lfs_fetched;
        sources.extend(lfs_states);
        // That step's output holds exactly the LFS files, at their blob paths.
        blob_source = one_step.then_some(1);
        (lfs_plan, small_fetched)
    };

    let mut small_blobs = None;
    if let Some(SmallFiles {
        tree,
        listing,
        blobs,
    }) = fetched_small
    {
        let mut digests = BTreeSet::new();
        for (rel, f) in small {
            let scanned = listing
                .files
                .iter()
                .find(|s| s.path == f.path)
                .ok_or_else(|| {
                    anyhow!(
                        "{} is listed in {}@{} but was not downloaded",
                        f.path,
                        hf.repo,
                        info.commit
                    )
                })?;
            if !matches_listing(&f, scanned) {
                return Err(anyhow!(
                    "{} from {}@{}: the downloaded content does not match the Hub's listing ({} bytes, git blob {}; got {} bytes, git blob {}), also when fetched again; the file is corrupted on the server, and BuildKit keeps the bad copy in its HTTP cache: once the Hub serves it correctly, clear the cache (docker buildx prune) and build again",
                    f.path, hf.repo, info.commit, f.size, f.blob_id.as_deref().unwrap_or("?"), scanned.size,
                    scanned.git_sha1.as_deref().unwrap_or("?")
                )
                .into());
            }
            digests.insert(scanned.digest.clone());
            files.push(PlanFile {
                path: rel,
                size: scanned.size,
                digest: scanned.digest.clone(),
                executable: false,
                origin: Origin {
                    source: 0,
                    path: format!("/{}", f.path),
                },
                packed: None,
            });
        }
        sources[0] = tree;
        small_blobs = Some((blobs, digests));
    }
    Ok(Fetched {
        info,
        files,
        sources,
        blob_source,
        small_blobs,
    })
}

impl Fetched {
    /// Checks the downloaded LFS files against their listed sizes: a raw
    /// layer's descriptor takes the listed size (their sha256 is checked
    /// by the download itself). One step, run while the layout is made.
    async fn check_sizes(
        &self,
        bridge: &Bridge,
        hf: &HfRef,
        fetcher: &Fetcher,
    ) -> Result<(), GatewayError> {
        let lfs: Vec<sizes::Expected> = self
            .files
            .iter()
            // Layers written while downloading were checked by the step.
            .filter(|f| f.origin.source != 0 && f.packed.is_none())
            .map(|f| sizes::Expected {
                state: &self.sources[f.origin.source],
                path: f.origin.path.trim_start_matches('/').to_string(),
                size: f.size,
                shown: format!("{} from {}@{}", f.path, hf.repo, self.info.commit),
            })
            .collect();
        if lfs.is_empty() {
            return Ok(());
        }
        sizes::check(
            bridge,
            &fetcher.image,
            &lfs,
            &format!("the LFS files of {}", hf.repo),
        )
        .await
    }
}

/// The name a file gets inside its download state.
fn file_name(f: &HubFile) -> String {
    f.path.rsplit('/').next().unwrap_or(&f.path).to_string()
}

fn matches_listing(f: &HubFile, scanned: &modelpack::scan::ScannedFile) -> bool {
    let blob_ok = match (&f.blob_id, &scanned.git_sha1) {
        (Some(want), Some(got)) => want == got,
        _ => true,
    };
    scanned.size == f.size && blob_ok
}

/// Paths of small files whose download does not match the listing.
fn mismatched(small: &[(String, HubFile)], listing: &Listing) -> BTreeSet<String> {
    small
        .iter()
        .filter(|(_, f)| {
            !listing
                .files
                .iter()
                .any(|s| s.path == f.path && matches_listing(f, s))
        })
        .map(|(_, f)| f.path.clone())
        .collect()
}

/// The small files of `hf` in one tree, and their listing: fetched by one
/// cached step of our own image ([`hf_get_many`]), or, on an engine whose
/// default network is missing (`--bridge=none`) while `download_network`
/// is the default, as BuildKit HTTP sources, one per file, like before.
async fn fetch_small_files(
    bridge: &Bridge,
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    fetcher: &Fetcher,
    small: &[(String, HubFile)],
) -> Result<SmallFiles, Failure> {
    let list = hf_get_many::DownloadList {
        connections: request.max_connections,
        files: small
            .iter()
            .map(|(_, f)| hf_get_many::Download {
                url: hf.resolve_url(&request.hf_endpoint, &info.commit, &f.path),
                path: f.path.clone(),
                git_sha1: f.blob_id.clone(),
                sha256: None,
                layer: None,
            })
            .collect(),
    };
    let total: u64 = small.iter().map(|(_, f)| f.size).sum();
    let progress = format!(
        "fetch {} small file(s) of {}@{} ({}, {} at a time)",
        small.len(),
        hf.repo,
        short_commit(&info.commit),
        human_size(total),
        request.max_connections.min(small.len())
    );
    let (optional, net) = step_network(request, fetcher);
    let tree = hf_get_many::step(&fetcher.image, &list, &net, &progress).tree;
    match bridge.solve_evaluated(tree.to_definition()).await {
        Ok(_) => {}
        Err(e) if engine_cannot_run_step(optional, &e) => {
            eprintln!(
                "modelpack-frontend: {}; fetching the small files of {} as one BuildKit HTTP source each (--build-arg download_network=host --allow network.host fetches them in one cached step)",
                classify_error(&e).phrase(),
                hf.repo
            );
            return fetch_small_by_sources(bridge, request, hf, info, fetcher, small).await;
        }
        Err(e) => return Err(explain_file_failure(request, hf, info, e)),
    }
    scan_small(bridge, request, hf, info, fetcher, tree).await
}

/// The small files' tree, its listing (with git blob ids) and the same
/// files at their blob paths, from one scan step.
async fn scan_small(
    bridge: &Bridge,
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    fetcher: &Fetcher,
    tree: State,
) -> Result<SmallFiles, Failure> {
    let what = format!("small files of {}", hf.repo);
    let (listing, blobs) = steps::scan_listing_and_blobs(bridge, &fetcher.image, &tree, &what)
        .await
        .map_err(|e| explain_file_failure(request, hf, info, e))?;
    Ok(SmallFiles {
        tree,
        listing,
        blobs,
    })
}

/// The small files of a repo, downloaded and scanned.
struct SmallFiles {
    /// Each file at `/<repo path>`.
    tree: State,
    /// What the scan found (sizes, sha256, git blob ids).
    listing: Listing,
    /// Each file's bytes at `/blobs/sha256/<hex>`, nothing else.
    blobs: State,
}

/// The first 12 hex digits of a commit, for progress names.
fn short_commit(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// The small files as one BuildKit HTTP source each, gathered and hashed;
/// a file that does not match the listing is fetched once more.
async fn fetch_small_by_sources(
    bridge: &Bridge,
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    fetcher: &Fetcher,
    small: &[(String, HubFile)],
) -> Result<SmallFiles, Failure> {
    let fetched = fetch_small(bridge, request, hf, info, fetcher, small, &BTreeSet::new()).await?;
    let bad = mismatched(small, &fetched.listing);
    if bad.is_empty() {
        return Ok(fetched);
    }
    // BuildKit may hold a corrupted copy under the right ETag: fetch
    // those files again as a variant it has no entry for.
    eprintln!(
        "modelpack-frontend: {} file(s) did not match the Hub's listing; fetching them again",
        bad.len()
    );
    fetch_small(bridge, request, hf, info, fetcher, small, &bad).await
}

/// Gathers the small files into one tree (those in `retry` as a fresh
/// variant) and hashes it in a scan step.
async fn fetch_small(
    bridge: &Bridge,
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    fetcher: &Fetcher,
    small: &[(String, HubFile)],
    retry: &BTreeSet<String>,
) -> Result<SmallFiles, Failure> {
    let copy = CopyOptions {
        create_dest_path: true,
        ..Default::default()
    };
    let mut parts = Vec::with_capacity(small.len());
    for (_, f) in small {
        let name = file_name(f);
        let url = hf.resolve_url(&request.hf_endpoint, &info.commit, &f.path);
        let again = retry.contains(&f.path);
        let progress = format!(
            "fetch {} ({}){}",
            f.path,
            human_size(f.size),
            if again { " again" } else { "" }
        );
        let expect = f
            .blob_id
            .clone()
            .map(Expect::GitSha1)
            .unwrap_or(Expect::Anything);
        let state = fetcher.file(&url, &name, &expect, &progress, false, again);
        parts.push((state, format!("/{name}"), format!("/{}", f.path)));
    }
    let gather = |parts: &[(State, String, String)]| {
        parts
            .iter()
            .fold(FileOp::new(State::scratch()), |op, (state, from, to)| {
                op.copy(state, from, to, copy.clone())
            })
    };
    // Small files come in waves of one gather each (one solve per wave,
    // not one per file): BuildKit would otherwise open a connection per
    // file at once (see `fetch_lfs`).
    if parts.len() > request.max_connections {
        for (i, wave) in parts.chunks(request.max_connections).enumerate() {
            let name = format!(
                "fetch small files of {}, wave {} of {}",
                hf.repo,
                i + 1,
                parts.len().div_ceil(request.max_connections)
            );
            let state = gather(wave).custom_name(&name).into_state();
            bridge
                .solve_evaluated(state.to_definition())
                .await
                .map_err(|e| explain_file_failure(request, hf, info, e))?;
        }
    }
    let tree = gather(&parts);
    let tree = tree
        .custom_name(&format!(
            "gather {} small file(s) of {}",
            small.len(),
            hf.repo
        ))
        .into_state();
    scan_small(bridge, request, hf, info, fetcher, tree).await
}

/// How a download step of our image reaches the Hub, and whether it is
/// optional: without a token and with the default network, the steps are
/// an optimisation; when the engine cannot run them (no default network,
/// or a Hub on this host's loopback and no `--allow network.host`), the
/// files come as BuildKit HTTP sources instead, as they always could.
fn step_network(request: &Request, fetcher: &Fetcher) -> (bool, hf_get_many::StepNetwork) {
    let optional = !fetcher.token && request.download_network == DownloadNetwork::Default;
    let mode = if optional && modelpack::urlsource::is_loopback_url(&request.hf_endpoint) {
        // A sandboxed step cannot reach the host's loopback; BuildKit's own
        // HTTP sources (fetched by the daemon) can.
        NetMode::Host
    } else {
        fetcher.network
    };
    (
        optional,
        hf_get_many::StepNetwork {
            mode,
            token: fetcher.token,
            proxy: fetcher.proxy.clone(),
        },
    )
}

/// Whether a failed optional step should give way to BuildKit HTTP sources.
fn engine_cannot_run_step(optional: bool, e: &GatewayError) -> bool {
    optional
        && matches!(
            classify_error(e),
            Cause::NoBridgeNetwork | Cause::HostNetworkNotAllowed
        )
}

/// The LFS files of `hf` as plan files and the states holding them (the
/// plan files' origins index the states from 1, after the small files),
/// and whether one step holds them all at their blob paths.
///
/// For a repo pinned to a commit, anonymously, one cached step of our image
/// downloads them all, at most `max_connections` at a time, each checked by
/// its sha256 while it is written, straight to `/blobs/sha256/<hex>`: the
/// path a raw layer's blob has in the layout, so the layout is written on
/// top of the step's output and the weights are never copied (see
/// `package::layout`). A file that `format_of` packs is written as its
/// layer while it downloads (the plan file then has its blob's digest and
/// `packed` set), so no pack step reads it again. The step is cached by
/// its list, which holds the commit and the formats: right for a pinned
/// commit, which never moves. For a branch or
/// tag, each file is its own BuildKit HTTP source cached by its sha256
/// ([`fetch_lfs`]), so a weight that did not change is not downloaded
/// again when the branch moves; so too where the step cannot run, or with
/// the token. Those files are copied into the layout.
async fn fetch_lfs_files(
    bridge: &Bridge,
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    fetcher: &Fetcher,
    lfs: &[(String, HubFile)],
    format_of: FormatOf<'_>,
) -> Result<(Vec<PlanFile>, Vec<State>, bool), Failure> {
    if lfs.is_empty() {
        return Ok((Vec::new(), Vec::new(), false));
    }
    let sha = |f: &HubFile| f.lfs_sha256.clone().expect("LFS files have a sha256");
    let plan_file = |rel: &str, f: &HubFile, source: usize, path: String| PlanFile {
        path: rel.to_string(),
        size: f.size,
        digest: format!("sha256:{}", sha(f)),
        executable: false,
        origin: Origin { source, path },
        packed: None,
    };
    let bytes: u64 = lfs.iter().map(|(_, f)| f.size).sum();
    let bound = request
        .download_timeout
        .unwrap_or_else(|| deadline::default_bound(bytes));
    if !fetcher.token && is_commit(&hf.revision) {
        let (optional, net) = step_network(request, fetcher);
        // Files packed as layers are written as such while they download;
        // the others land at their own blob path (each content once).
        // A layer's temp name in the step's output (renamed to its digest).
        let layer_path = |i: usize| format!("blobs/sha256/.layer-{i}");
        let mut seen = BTreeSet::new();
        let mut entries = Vec::new();
        let mut formats = Vec::with_capacity(lfs.len());
        for (i, (rel, f)) in lfs.iter().enumerate() {
            let file = plan_file(rel, f, 1, String::new());
            let format = format_of.map_or(LayerPackaging::Raw, |of| of(&file));
            formats.push(format);
            let url = hf.resolve_url(&request.hf_endpoint, &info.commit, &f.path);
            let (path, layer) = if format == LayerPackaging::Raw {
                if !seen.insert(sha(f)) {
                    continue;
                }
                (
                    blob_path(&file.digest).trim_start_matches('/').to_string(),
                    None,
                )
            } else {
                let spec = LayerSpec {
                    format: format.suffix().to_string(),
                    name: rel.clone(),
                    mode: file.mode(),
                    size: f.size,
                };
                (layer_path(i), Some(spec))
            };
            entries.push(hf_get_many::Download {
                url,
                path,
                git_sha1: None,
                sha256: Some(sha(f)),
                layer,
            });
        }
        let list = hf_get_many::DownloadList {
            connections: request.max_connections,
            files: entries,
        };
        let packed_as: BTreeSet<&str> = formats
            .iter()
            .filter(|f| **f != LayerPackaging::Raw)
            .map(|f| f.suffix())
            .collect();
        let progress = format!(
            "fetch {} LFS file(s) of {}@{} ({}, {} at a time) into blobs/sha256{}",
            list.files.len(),
            hf.repo,
            short_commit(&info.commit),
            human_size(bytes),
            request.max_connections.min(list.files.len()),
            if packed_as.is_empty() {
                String::new()
            } else {
                format!(
                    ", written as {}",
                    packed_as.into_iter().collect::<Vec<_>>().join("/")
                )
            }
        );
        let step = hf_get_many::step(&fetcher.image, &list, &net, &progress);
        let solve = vec![bridge.solve_evaluated(step.tree.to_definition())];
        match deadline::run_all(solve, 1, Some(bound)).await {
            Ok(_) => {
                let packed: Vec<hf_get_many::PackedDownload> = match &step.meta {
                    Some(meta) => steps::read_json(bridge, meta, hf_get_many::PACKED_FILE, "what the download step packed").await?,
                    None => Vec::new(),
                };
                let mut files = Vec::with_capacity(lfs.len());
                for (i, ((rel, f), format)) in lfs.iter().zip(formats).enumerate() {
                    if format == LayerPackaging::Raw {
                        files.push(plan_file(rel, f, 1, blob_path(&format!("sha256:{}", sha(f)))));
                        continue;
                    }
                    let key = layer_path(i);
                    let written = packed.iter().find(|p| p.path == key).map(|p| p.written.clone()).ok_or_else(|| {
                        anyhow!("the download step did not describe the layer of {} ({key}); please report it", f.path)
                    })?;
                    let mut file = plan_file(rel, f, 1, String::new());
                    let path = blob_path(&written.digest);
                    file.set_packed(written, format, 1, path);
                    files.push(file);
                }
                return Ok((files, vec![step.tree], true));
            }
            Err(Unfinished::Failed(_, e)) if engine_cannot_run_step(optional, &e) => eprintln!(
                "modelpack-frontend: {}; fetching the LFS files of {} as one BuildKit HTTP source each (--build-arg download_network=host --allow network.host fetches them in one cached step)",
                classify_error(&e).phrase(),
                hf.repo
            ),
            Err(Unfinished::Failed(_, e)) => {
                // The step's output names the failing file; with one file, so does the error.
                let only = match list.files.as_slice() {
                    [_] => lfs.first().map(|(_, f)| f.path.as_str()),
                    _ => None,
                };
                return Err(explain_failure_of(request, hf, info, only, e));
            }
            Err(Unfinished::TimedOut(_)) => {
                let names: Vec<&str> = lfs.iter().map(|(_, f)| f.path.as_str()).collect();
                return Err(not_in_time(hf, info, bound, &names, lfs.len()));
            }
        }
    }
    // One download each, as sources 1.. (index 0 stands for the small files).
    let mut states = vec![State::scratch()];
    let mut files = Vec::with_capacity(lfs.len());
    for (rel, f) in lfs {
        let name = file_name(f);
        let url = hf.resolve_url(&request.hf_endpoint, &info.commit, &f.path);
        let progress = format!("fetch {} ({})", f.path, human_size(f.size));
        files.push(plan_file(rel, f, states.len(), format!("/{name}")));
        states.push(fetcher.file(
            &url,
            &name,
            &Expect::Sha256(sha(f)),
            &progress,
            false,
            false,
        ));
    }
    fetch_lfs(bridge, request, hf, info, &files, &states, bound).await?;
    states.remove(0);
    Ok((files, states, false))
}

/// The error for downloads unfinished within `bound`.
fn not_in_time(
    hf: &HfRef,
    info: &RepoInfo,
    bound: std::time::Duration,
    names: &[&str],
    total: usize,
) -> Failure {
    anyhow!(
        "{} from {}@{} (commit {}): not downloaded within {} s ({} of {} LFS file(s) unfinished); the server stalled or sends slower than the bound allows (download_timeout; by default {} s plus 1 s per MiB); try again, or raise --build-arg download_timeout",
        deadline::some_names(names),
        hf.repo,
        hf.revision,
        info.commit,
        bound.as_secs(),
        names.len(),
        total,
        deadline::BASE.as_secs(),
    )
    .into()
}

/// Solves every LFS download (`files`' sources), at most
/// `max_connections` at a time, within the download bound.
///
/// BuildKit fetches every HTTP source a solve needs at the same time, with
/// no limit of its own and no stall timeout, so a repo with thousands of
/// files would open thousands of connections to the Hub, and a server that
/// stops sending would keep the build waiting for ever. The downloads are
/// therefore solved here, each on its own, with at most `max_connections`
/// in flight; the solved sources stay in this build's solver state, so the
/// steps that use them later (describe, stat, pack, the layout) reuse the
/// results and send no further request. When they have not all finished
/// within `download_timeout` (default: [`deadline::default_bound`] of
/// their listed sizes), the build fails naming the files still running.
async fn fetch_lfs(
    bridge: &Bridge,
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    files: &[PlanFile],
    sources: &[State],
    bound: std::time::Duration,
) -> Result<(), Failure> {
    let lfs: Vec<&PlanFile> = files.iter().filter(|f| f.origin.source != 0).collect();
    // Each download is solved through a step on top of it that changes
    // nothing, rather than as the HTTP source itself: BuildKit takes a
    // step's result from a remote cache (`--cache-from`), but fetches an
    // HTTP source again even when its result is there. The step enters
    // the result's graph (`Bridge::solve_result`), so it is exported.
    let jobs = lfs
        .iter()
        .map(|f| {
            let fetched = llb::unchanged(&sources[f.origin.source], &format!("fetched {}", f.path));
            bridge.solve_evaluated(fetched.to_definition())
        })
        .collect();
    match deadline::run_all(jobs, request.max_connections, Some(bound)).await {
        Ok(_) => Ok(()),
        Err(Unfinished::Failed(i, e)) => {
            Err(explain_failure_of(request, hf, info, Some(&lfs[i].path), e))
        }
        Err(Unfinished::TimedOut(pending)) => {
            let names: Vec<&str> = pending.iter().map(|&i| lfs[i].path.as_str()).collect();
            Err(not_in_time(hf, info, bound, &names, lfs.len()))
        }
    }
}

fn explained(ours: String, cause: &GatewayError, refused: bool) -> Failure {
    Failure {
        refused,
        error: GatewayError::Local(anyhow!("{ours} (BuildKit: {cause})")),
    }
}

async fn explain_info_failure(
    bridge: &Bridge,
    fetcher: &Fetcher,
    request: &Request,
    hf: &HfRef,
    err: GatewayError,
) -> Failure {
    let ep = &request.hf_endpoint;
    let (repo, rev) = (&hf.repo, &hf.revision);
    let status = classify_error(&err).status();
    let message = match status {
        Some(401) | Some(403) => format!(
            "{ep} refused access to {repo}: the repo does not exist, or it is private or gated; {TOKEN_HINT}"
        ),
        Some(404) => {
            let repo_exists = fetcher.read(bridge, &hf.repo_api_url(ep), &format!("check that {repo} exists")).await.is_ok();
            if repo_exists {
                format!("revision {rev:?} not found in {repo} on {ep}; use a branch, tag or commit that exists (revisions with '/' go in --build-arg revision=…)")
            } else {
                format!("repository {repo} not found on {ep}; check the org/name in source (and {TOKEN_HINT} if it is private)")
            }
        }
        Some(429) => format!("{ep} is rate-limiting requests (HTTP 429) while resolving {repo}@{rev}; wait a few minutes, or {TOKEN_HINT}"),
        Some(s) if s >= 500 => format!("{ep} failed (HTTP {s}) while resolving {repo}@{rev}; try again later"),
        _ => return err.into(),
    };
    explained(message, &err, matches!(status, Some(401) | Some(403)))
}

fn explain_file_failure(
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    err: GatewayError,
) -> Failure {
    explain_failure_of(request, hf, info, None, err)
}

/// Explains a failed download of files of `hf`, naming `file` when the
/// failure is known to be that file's.
fn explain_failure_of(
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    file: Option<&str>,
    err: GatewayError,
) -> Failure {
    let text = err.to_string();
    let ep = &request.hf_endpoint;
    let at = format!("{}@{} (commit {})", hf.repo, hf.revision, info.commit);
    // "files of <repo>…", or "<path> from <repo>…" when the file is known.
    let files = match file {
        Some(p) => format!("{p} from {at}"),
        None => format!("files of {at}"),
    };
    let cause = classify(&text);
    let status = cause.status();
    let mismatch = info.files.iter().find(|f| {
        f.lfs_sha256
            .as_ref()
            .is_some_and(|s| text.contains(s.as_str()))
    });
    let message = match (status, mismatch) {
        (_, Some(f)) if cause == Cause::DigestMismatch => format!(
            "{} from {at}: the downloaded bytes do not match the sha256 {} the Hub lists; the server answered an error instead of the file (BuildKit hides the HTTP status of checksummed downloads: check access to the repo) or the file is corrupted on the server or in transit; try again",
            f.path,
            f.lfs_sha256.as_deref().unwrap_or("")
        ),
        (Some(0), None) => match file {
            Some(p) => format!("{p} from {at} does not match the checksum the Hub lists; try again"),
            None => format!("a file from {at} does not match the checksum the Hub lists; try again"),
        },
        (Some(401) | Some(403), _) => format!("{ep} refused to serve {files}: the repo is gated or private; accept its terms on the Hub and {TOKEN_HINT}"),
        (Some(404), _) => match file {
            Some(p) => format!("{p} from {at} could not be downloaded (HTTP 404); the commit may have been removed"),
            None => format!("a file listed in {at} could not be downloaded (HTTP 404); the commit may have been removed"),
        },
        (Some(429), _) => format!("{ep} is rate-limiting downloads of {files} (HTTP 429); wait a few minutes, or {TOKEN_HINT}"),
        (Some(s), _) if s >= 500 => format!("{ep} failed (HTTP {s}) while serving {files}; try again later"),
        (Some(s), _) if s >= 300 => format!("{ep} answered HTTP {s} instead of {files}"),
        (None, _) if cause != Cause::Unknown && cause != Cause::NoBridgeNetwork => {
            format!("downloading {files} from {ep} failed: {}; try again later", cause.phrase())
        }
        _ => return err.into(),
    };
    explained(message, &err, cause.is_refusal())
}

#[cfg(test)]
mod tests {
    use super::*;

    use llb::proto::pb::{self, op::Op as Kind};
    use prost::Message;

    fn head_op(state: &State) -> pb::Op {
        let def = state.to_definition();
        let terminal = pb::Op::decode(def.def.last().unwrap().as_slice()).unwrap();
        let head = def
            .def
            .iter()
            .find(|b| llb::digest_of(b) == terminal.inputs[0].digest)
            .unwrap();
        pb::Op::decode(head.as_slice()).unwrap()
    }

    fn fetcher(token: bool) -> Fetcher {
        let image = llb::source::image("localhost:5000/modelpack-frontend:dev").into_state();
        Fetcher {
            image,
            token,
            network: NetMode::Host,
            proxy: Default::default(),
        }
    }

    #[test]
    fn without_a_token_files_are_http_sources_verified_by_checksum() {
        let sha = "ab".repeat(32);
        let expect = Expect::Sha256(sha.clone());
        let op = head_op(&fetcher(false).file(
            "http://h/o/r/resolve/c/w.bin",
            "w.bin",
            &expect,
            "fetch w.bin",
            false,
            false,
        ));
        let Some(Kind::Source(src)) = op.op else {
            panic!("an http source")
        };
        assert_eq!(src.identifier, "http://h/o/r/resolve/c/w.bin");
        assert_eq!(src.attrs["http.checksum"], format!("sha256:{sha}"));
        assert_eq!(src.attrs["http.filename"], "w.bin");
        assert!(!src.attrs.contains_key("http.perm"));
        let retry = head_op(&fetcher(false).file(
            "http://h/x",
            "x",
            &Expect::Anything,
            "fetch x again",
            false,
            true,
        ));
        let Some(Kind::Source(src)) = retry.op else {
            panic!("an http source")
        };
        assert_eq!(
            src.attrs["http.perm"], "0644",
            "a retry is a different BuildKit cache entry"
        );
    }

    #[test]
    fn with_a_token_a_step_of_our_image_downloads_with_the_secret_mounted() {
        let sha = "cd".repeat(32);
        let expect = Expect::Sha256(sha.clone());
        let state = fetcher(true).file(
            "http://h/o/r/resolve/c/w.bin",
            "w.bin",
            &expect,
            "fetch w.bin",
            false,
            false,
        );
        let op = head_op(&state);
        let Some(Kind::Exec(exec)) = op.op else {
            panic!("an exec step")
        };
        let meta = exec.meta.unwrap();
        let expected = format!("sha256:{sha}");
        assert_eq!(
            meta.args,
            [
                BINARY,
                "hf-get",
                "http://h/o/r/resolve/c/w.bin",
                "/out/w.bin",
                expected.as_str()
            ]
        );
        assert!(
            meta.env.is_empty(),
            "the token never travels in the environment"
        );
        assert_eq!(exec.network, pb::NetMode::Host as i32);
        let secret = exec
            .mounts
            .iter()
            .find(|m| m.dest == TOKEN_PATH)
            .expect("secret mount");
        assert_eq!(secret.mount_type, pb::MountType::Secret as i32);
        assert_eq!(secret.secret_opt.as_ref().unwrap().id, TOKEN_SECRET_ID);
    }

    #[test]
    fn checksum_mismatch_names_the_file() {
        let hf = HfRef::parse("org/repo", None).unwrap();
        let sha = "ab".repeat(32);
        let info = RepoInfo {
            commit: "c".repeat(40),
            date: None,
            files: vec![HubFile {
                path: "w.safetensors".into(),
                size: 9,
                lfs_sha256: Some(sha.clone()),
                blob_id: None,
            }],
        };
        let request = crate::options::parse(
            &[("build-arg:source".to_string(), "hf://org/repo".to_string())]
                .into_iter()
                .collect(),
        )
        .unwrap();
        let err = GatewayError::Local(anyhow!("digest mismatch sha256:ffff: sha256:{sha}"));
        let failure = explain_file_failure(&request, &hf, &info, err);
        let text = failure.error.to_string();
        assert!(
            text.starts_with("w.safetensors from org/repo@main"),
            "{text}"
        );
        assert!(!failure.refused);
        let err = GatewayError::Local(anyhow!("invalid response status 401"));
        let failure = explain_file_failure(&request, &hf, &info, err);
        let text = failure.error.to_string();
        assert!(
            text.contains("gated or private") && text.contains("--secret id=hf-token,env=HF_TOKEN"),
            "{text}"
        );
        assert!(
            failure.refused,
            "a refusal leads to a try with the token secret"
        );
        let err = GatewayError::Local(anyhow!("unrelated"));
        assert_eq!(
            explain_file_failure(&request, &hf, &info, err)
                .error
                .to_string(),
            "unrelated"
        );
        // A failure known to be one file's names it.
        let err = GatewayError::Local(anyhow!(
            "failed to load cache key: read tcp 1->2: read: connection reset by peer"
        ));
        let text = explain_failure_of(&request, &hf, &info, Some("w.safetensors"), err)
            .error
            .to_string();
        assert!(
            text.starts_with("downloading w.safetensors from org/repo@main"),
            "{text}"
        );
        let err = GatewayError::Local(anyhow!(
            "failed to load cache key: invalid response status 404"
        ));
        let text = explain_failure_of(&request, &hf, &info, Some("w.safetensors"), err)
            .error
            .to_string();
        assert!(
            text.starts_with("w.safetensors from org/repo@main"),
            "{text}"
        );
    }
}
