//! Fetching a Hugging Face repo through BuildKit. The frontend has no
//! network: repo info is an LLB HTTP source that buildkitd fetches; the
//! LFS files come from cached download steps of our own image that write
//! them to their blob paths (checked by sha256), as their layers when
//! they are to be packed (one step for a commit, one per file for a
//! branch), the small files from another
//! ([`crate::hf_get_many`]); where those steps cannot run, each
//! file is a BuildKit HTTP source (LFS files checked by sha256, so cached
//! without a request).
//! When the Hub refuses (gated or private repos), the build is tried again
//! with steps that re-execute our own image with the `hf-token` secret
//! mounted; the frontend never sees the token. Only the small info JSON and
//! the scan listing come back over gRPC.
//!
//! This file is the orchestration (the two attempts, resolving and
//! listing the revision, the small and LFS files side by side, the size
//! check); the parts: [`fetcher`] (anonymous or with the token),
//! [`small`] (the small files), [`pinned`] (a commit's LFS files in one
//! step), [`branch`] (a branch's LFS files, one step each, keyed by
//! content), [`sources`] (LFS files as BuildKit HTTP sources or with the
//! token), [`explain`] (what a failure means).

mod branch;
mod explain;
mod fetcher;
mod pinned;
mod small;
mod sources;

use std::collections::BTreeSet;

use anyhow::anyhow;
use llb::State;

use crate::buildkit_errors::{classify_error, Cause};
use crate::deadline;
use crate::gateway::{GatewayError, Reference, Solve};
use crate::options::Request;
use crate::output::{Metadata, Output};
use crate::sizes;
use crate::source::package;
use crate::steps;
use explain::{explain_file_failure, explain_info_failure};
use fetcher::Fetcher;
use modelpack::huggingface::{is_commit, parse_info, HfRef, HubFile, RepoInfo};
use modelpack::plan::{ModelInfo, Origin, PlanFile};
use modelpack::LayerPackaging;
use small::{fetch_small_files, matches_listing, SmallFiles};

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
    bridge: &dyn Solve,
    request: &Request,
    output: &Output,
    hf: &HfRef,
) -> Result<(Reference, Metadata), GatewayError> {
    let image = steps::own_image(bridge)?;
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
    bridge: &dyn Solve,
    request: &Request,
    hf: &HfRef,
) -> Result<(Vec<PlanFile>, Vec<State>, RepoInfo), GatewayError> {
    let image = steps::own_image(bridge)?;
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
    bridge: &dyn Solve,
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

/// The format a file is to be packaged in, when known at download time.
type FormatOf<'a> = Option<&'a dyn Fn(&PlanFile) -> LayerPackaging>;

/// Resolves the revision, lists and fetches the selected files. With
/// `format_of`, LFS files downloaded by one step are written in their
/// layer format as they arrive ([`fetch_lfs_files`]).
async fn fetch(
    bridge: &dyn Solve,
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
        bridge: &dyn Solve,
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

/// The LFS files of `hf` as plan files and the states holding them (the
/// plan files' origins index the states from 1, after the small files),
/// and whether one state holds them all at their blob paths.
///
/// Anonymously, steps of our image download them, each checked by its
/// sha256 while it is written, straight to `/blobs/sha256/<hex>`: the
/// path a raw layer's blob has in the layout, so the layout is written on
/// top of the steps' output and the weights are never copied (see
/// `package::layout`). A file that `format_of` packs is written as its
/// layer while it downloads (the plan file then has its blob's digest and
/// `packed` set), so no pack step reads it again. For a repo pinned to a
/// commit, one step downloads them all, at most `max_connections` at a
/// time, cached by its list, which holds the commit and the formats:
/// right for a commit, which never moves ([`pinned`]). For a branch or
/// tag, one step per file, keyed by the file's sha256 and format and not
/// by the commit, the steps' outputs merged ([`branch`]): a weight that
/// did not change is not downloaded again when the branch moves. Where
/// the steps cannot run, or with the token, each file is its own BuildKit
/// HTTP source or `hf-get` step ([`sources`]); those files are copied
/// into the layout.
async fn fetch_lfs_files(
    bridge: &dyn Solve,
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
    let bytes: u64 = lfs.iter().map(|(_, f)| f.size).sum();
    let bound = request
        .download_timeout
        .unwrap_or_else(|| deadline::default_bound(bytes));
    if !fetcher.token {
        let in_steps = if is_commit(&hf.revision) {
            pinned::fetch(
                bridge, request, hf, info, fetcher, lfs, format_of, bytes, bound,
            )
            .await?
        } else {
            branch::fetch(bridge, request, hf, info, fetcher, lfs, format_of, bound).await?
        };
        if let Some((files, states)) = in_steps {
            return Ok((files, states, true));
        }
    }
    let (files, states) = sources::fetch(bridge, request, hf, info, fetcher, lfs, bound).await?;
    Ok((files, states, false))
}

/// An LFS file's sha256 (hex).
fn sha(f: &HubFile) -> String {
    f.lfs_sha256.clone().expect("LFS files have a sha256")
}

/// An LFS file as a plan file, from `path` of source `source`.
fn plan_file(rel: &str, f: &HubFile, source: usize, path: String) -> PlanFile {
    PlanFile {
        path: rel.to_string(),
        size: f.size,
        digest: format!("sha256:{}", sha(f)),
        executable: false,
        origin: Origin { source, path },
        packed: None,
    }
}

/// The name a file gets inside its download state.
fn file_name(f: &HubFile) -> String {
    f.path.rsplit('/').next().unwrap_or(&f.path).to_string()
}

/// The first 12 hex digits of a commit, for progress names.
fn short_commit(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

#[cfg(test)]
mod flow_tests;
