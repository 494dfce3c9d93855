//! The small (non-LFS) files of a repo: downloaded by one cached
//! `hf-get-many` step and hashed by one scan step that also writes them to
//! their blob paths; on an engine that cannot run the step, one BuildKit
//! HTTP source each, gathered in waves, and a file that does not match the
//! Hub's listing fetched once more.

use std::collections::BTreeSet;

use llb::{CopyOptions, FileOp, State};

use super::explain::explain_file_failure;
use super::fetcher::{engine_cannot_run_step, step_network, Fetcher};
use super::{file_name, short_commit, Failure};
use crate::buildkit_errors::classify_error;
use crate::gateway::Solve;
use crate::hf_get_many;
use crate::options::Request;
use crate::steps;
use modelpack::huggingface::{HfRef, HubFile, RepoInfo};
use modelpack::human::human_size;
use modelpack::scan::Listing;
use modelpack_hub::download::Expect;

/// The small files of `hf` in one tree, and their listing: fetched by one
/// cached step of our own image ([`hf_get_many`]), or, on an engine whose
/// default network is missing (`--bridge=none`) while `download_network`
/// is the default, as BuildKit HTTP sources, one per file, like before.
pub(super) async fn fetch_small_files(
    bridge: &dyn Solve,
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
    bridge: &dyn Solve,
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
pub(super) struct SmallFiles {
    /// Each file at `/<repo path>`.
    pub tree: State,
    /// What the scan found (sizes, sha256, git blob ids).
    pub listing: Listing,
    /// Each file's bytes at `/blobs/sha256/<hex>`, nothing else.
    pub blobs: State,
}

/// The small files as one BuildKit HTTP source each, gathered and hashed;
/// a file that does not match the listing is fetched once more.
async fn fetch_small_by_sources(
    bridge: &dyn Solve,
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
    bridge: &dyn Solve,
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

pub(super) fn matches_listing(f: &HubFile, scanned: &modelpack::scan::ScannedFile) -> bool {
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
