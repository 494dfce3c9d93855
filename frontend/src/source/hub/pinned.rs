//! The LFS files of a commit, fetched anonymously by one cached
//! `hf-get-many` step of our image straight to their blob paths (or as
//! their layers), so the layout is written on top of the step's output and
//! the weights are never copied; the engine's inability to run the step
//! (no default network, no `network.host`) gives way to [`super::sources`].

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::anyhow;
use llb::State;

use super::explain::{explain_failure_of, not_in_time};
use super::fetcher::{engine_cannot_run_step, step_network, Fetcher};
use super::{plan_file, sha, short_commit, Failure, FormatOf};
use crate::buildkit_errors::classify_error;
use crate::deadline::{self, Unfinished};
use crate::emit::blob_path;
use crate::gateway::Solve;
use crate::hf_get_many;
use crate::options::Request;
use crate::steps;
use modelpack::huggingface::{HfRef, HubFile, RepoInfo};
use modelpack::human::human_size;
use modelpack::plan::PlanFile;
use modelpack::LayerPackaging;
use modelpack_hub::download::LayerSpec;

/// Downloads `lfs` (of `bytes` in all) in one step within `bound`: the plan
/// files (all of source 1) and the step's output, or `None` when the
/// engine cannot run the step and each file is to be a BuildKit HTTP
/// source instead.
#[allow(clippy::too_many_arguments)]
pub(super) async fn fetch(
    bridge: &dyn Solve,
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    fetcher: &Fetcher,
    lfs: &[(String, HubFile)],
    format_of: FormatOf<'_>,
    bytes: u64,
    bound: Duration,
) -> Result<Option<(Vec<PlanFile>, Vec<State>)>, Failure> {
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
                Some(meta) => {
                    steps::read_json(
                        bridge,
                        meta,
                        hf_get_many::PACKED_FILE,
                        "what the download step packed",
                    )
                    .await?
                }
                None => Vec::new(),
            };
            let mut files = Vec::with_capacity(lfs.len());
            for (i, ((rel, f), format)) in lfs.iter().zip(formats).enumerate() {
                if format == LayerPackaging::Raw {
                    files.push(plan_file(
                        rel,
                        f,
                        1,
                        blob_path(&format!("sha256:{}", sha(f))),
                    ));
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
            Ok(Some((files, vec![step.tree])))
        }
        Err(Unfinished::Failed(_, e)) if engine_cannot_run_step(optional, &e) => {
            eprintln!(
                "modelpack-frontend: {}; fetching the LFS files of {} as one BuildKit HTTP source each (--build-arg download_network=host --allow network.host fetches them in one cached step)",
                classify_error(&e).phrase(),
                hf.repo
            );
            Ok(None)
        }
        Err(Unfinished::Failed(_, e)) => {
            // The step's output names the failing file; with one file, so does the error.
            let only = match list.files.as_slice() {
                [_] => lfs.first().map(|(_, f)| f.path.as_str()),
                _ => None,
            };
            Err(explain_failure_of(request, hf, info, only, e))
        }
        Err(Unfinished::TimedOut(_)) => {
            let names: Vec<&str> = lfs.iter().map(|(_, f)| f.path.as_str()).collect();
            Err(not_in_time(hf, info, bound, &names, lfs.len()))
        }
    }
}
