//! The LFS files of a branch or tag, anonymously: one cached
//! `hf-get-many` step of our image per file, each writing its file
//! straight to its blob path (or as its layer while it downloads, as for a
//! pinned commit, [`super::pinned`]), stacked with MergeOp so that the
//! layout is written on top of them and the weights are never copied.
//! Engines without MergeOp (Docker's classic image store) run the same
//! steps and copy their outputs into one tree, so every engine keys the
//! downloads alike and a remote cache exported by one serves the others.
//!
//! A step is keyed by what it writes, not by the commit: its download
//! list holds the file's URL at the revision as the user named it
//! (`/resolve/<branch>/<path>`), its sha256, its size and its layer
//! format, and nothing else (no commit, no position in the listing, no
//! `max_connections`). When the branch moves, a file that did not change
//! has the same step, which BuildKit (or a remote cache) already holds:
//! it is not downloaded again. A file that changed has a new sha256, so a
//! new step; its download is checked against the listed sha256, so if the
//! branch moved again between the listing and the download, the build
//! fails instead of packaging bytes the listing does not name.
//!
//! Where the engine cannot run the steps, the files are BuildKit HTTP
//! sources ([`super::sources`]).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::anyhow;
use llb::{FileOp, State};

use super::explain::{explain_failure_of, not_in_time};
use super::fetcher::{engine_cannot_run_step, step_network, Fetcher};
use super::{plan_file, sha, Failure, FormatOf};
use crate::buildkit_errors::classify_error;
use crate::deadline::{self, Unfinished};
use crate::emit::{blob_path, folder_copy};
use crate::gateway::Solve;
use crate::hf_get_many;
use crate::options::Request;
use crate::steps;
use modelpack::huggingface::{percent_encode, HfRef, HubFile, RepoInfo};
use modelpack::human::human_size;
use modelpack::plan::PlanFile;
use modelpack::LayerPackaging;
use modelpack_hub::download::LayerSpec;

/// A layer's temp name in its step's output (renamed to its digest).
const LAYER_TEMP: &str = "blobs/sha256/.layer";

/// One download step and the LFS files it serves.
struct OneFile {
    /// The index in `lfs` of the file it downloads.
    first: usize,
    step: hf_get_many::Step,
}

/// The download list of one LFS file: keyed by the revision's name, the
/// path, the sha256 and the layer, never by the commit.
fn download_of(
    request: &Request,
    hf: &HfRef,
    rel: &str,
    f: &HubFile,
    format: LayerPackaging,
) -> hf_get_many::DownloadList {
    let file = plan_file(rel, f, 1, String::new());
    let url = hf.resolve_url(
        &request.hf_endpoint,
        &percent_encode(&hf.revision, false),
        &f.path,
    );
    let (path, layer) = if format == LayerPackaging::Raw {
        (
            blob_path(&file.digest).trim_start_matches('/').to_string(),
            None,
        )
    } else {
        let spec = LayerSpec {
            format: format.suffix().to_string(),
            name: rel.to_string(),
            mode: file.mode(),
            size: f.size,
        };
        (LAYER_TEMP.to_string(), Some(spec))
    };
    hf_get_many::DownloadList {
        // One file: the same key whatever max_connections says.
        connections: 1,
        files: vec![hf_get_many::Download {
            url,
            path,
            git_sha1: None,
            sha256: Some(sha(f)),
            layer,
        }],
    }
}

/// Downloads `lfs` with one step each, at most `max_connections` at a
/// time, all within `bound`: the plan files (all of source 1, the steps'
/// outputs merged, or copied into one tree without MergeOp) and that
/// state; `None` when the engine cannot run the steps, and each file is to
/// be a BuildKit HTTP source instead.
#[allow(clippy::too_many_arguments)]
pub(super) async fn fetch(
    bridge: &dyn Solve,
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    fetcher: &Fetcher,
    lfs: &[(String, HubFile)],
    format_of: FormatOf<'_>,
    bound: Duration,
) -> Result<Option<(Vec<PlanFile>, Vec<State>)>, Failure> {
    let (optional, net) = step_network(request, fetcher);
    let mut formats = Vec::with_capacity(lfs.len());
    let mut steps: Vec<OneFile> = Vec::new();
    // A raw file is its blob: one download for each content.
    let mut raw_seen = BTreeSet::new();
    for (i, (rel, f)) in lfs.iter().enumerate() {
        let format = format_of.map_or(LayerPackaging::Raw, |of| {
            of(&plan_file(rel, f, 1, String::new()))
        });
        formats.push(format);
        if format == LayerPackaging::Raw && !raw_seen.insert(sha(f)) {
            continue;
        }
        let list = download_of(request, hf, rel, f, format);
        // The progress name is not part of the step's cache key.
        let progress = format!(
            "fetch {} ({}) of {}@{} into blobs/sha256{}",
            f.path,
            human_size(f.size),
            hf.repo,
            hf.revision,
            if format == LayerPackaging::Raw {
                String::new()
            } else {
                format!(", written as {}", format.suffix())
            }
        );
        let step = hf_get_many::step(&fetcher.image, &list, &net, &progress);
        steps.push(OneFile { first: i, step });
    }
    let jobs = steps
        .iter()
        .map(|s| bridge.solve_evaluated(s.step.tree.to_definition()))
        .collect();
    match deadline::run_all(jobs, request.max_connections, Some(bound)).await {
        Ok(_) => {}
        Err(Unfinished::Failed(_, e)) if engine_cannot_run_step(optional, &e) => {
            eprintln!(
                "modelpack-frontend: {}; fetching the LFS files of {} as one BuildKit HTTP source each (--build-arg download_network=host --allow network.host fetches them in cached steps)",
                classify_error(&e).phrase(),
                hf.repo
            );
            return Ok(None);
        }
        Err(Unfinished::Failed(i, e)) => {
            let path = &lfs[steps[i].first].1.path;
            return Err(explain_failure_of(request, hf, info, Some(path), e));
        }
        Err(Unfinished::TimedOut(pending)) => {
            let names: Vec<&str> = pending
                .iter()
                .map(|&i| lfs[steps[i].first].1.path.as_str())
                .collect();
            return Err(not_in_time(hf, info, bound, &names, lfs.len()));
        }
    }
    // What each packing step wrote, read at once.
    let reads = steps.iter().filter_map(|s| {
        let meta = s.step.meta.as_ref()?;
        Some(async move {
            let packed: Vec<hf_get_many::PackedDownload> = steps::read_json(
                bridge,
                meta,
                hf_get_many::PACKED_FILE,
                "what the download step packed",
            )
            .await?;
            let written = packed
                .into_iter()
                .find(|p| p.path == LAYER_TEMP)
                .map(|p| p.written)
                .ok_or_else(|| {
                    anyhow!(
                        "the download step did not describe the layer of {}; please report it",
                        lfs[s.first].1.path
                    )
                })?;
            Ok::<_, crate::gateway::GatewayError>((s.first, written))
        })
    });
    let layers: std::collections::BTreeMap<usize, _> = futures_util::future::try_join_all(reads)
        .await?
        .into_iter()
        .collect();
    let mut files = Vec::with_capacity(lfs.len());
    for (i, ((rel, f), format)) in lfs.iter().zip(formats).enumerate() {
        let mut file = plan_file(rel, f, 1, String::new());
        if format == LayerPackaging::Raw {
            file.origin.path = blob_path(&file.digest);
        } else {
            let written = layers[&i].clone();
            let path = blob_path(&written.digest);
            file.set_packed(written, format, 1, path);
        }
        files.push(file);
    }
    let trees: Vec<State> = steps.into_iter().map(|s| s.step.tree).collect();
    Ok(Some((files, vec![stack(bridge, &trees, hf)])))
}

/// The steps' output trees as one: merged where the engine has MergeOp,
/// else their `/blobs/sha256` copied into one tree (the steps stay the
/// same either way, so their cache keys do too).
fn stack(bridge: &dyn Solve, trees: &[State], hf: &HfRef) -> State {
    let what = format!(
        "the {} LFS download(s) of {}@{}",
        trees.len(),
        hf.repo,
        hf.revision
    );
    if bridge.has_llb_cap(crate::output::CAP_MERGE) || trees.len() == 1 {
        return llb::merge(trees, &format!("stack {what}"));
    }
    let mut op = FileOp::new(State::scratch()).mkdir("/blobs/sha256", 0o755, true);
    for t in trees {
        op = op.copy(t, "/blobs/sha256", "/blobs/sha256", folder_copy());
    }
    op.custom_name(&format!("copy {what} into one tree (no MergeOp here)"))
        .into_state()
}
