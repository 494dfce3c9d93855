//! The LFS files where the download steps cannot run (no default network,
//! or a loopback Hub without `network.host`; no MergeOp for a branch), or
//! with the token: one download each, a BuildKit HTTP source checked by
//! its sha256 (or an `hf-get` step with the secret), so a weight that did
//! not change is not downloaded again when a branch moves; solved at most
//! `max_connections` at a time within the download bound, then copied
//! into the layout.

use std::time::Duration;

use llb::State;

use super::explain::{explain_failure_of, not_in_time};
use super::fetcher::Fetcher;
use super::{file_name, plan_file, sha, Failure};
use crate::deadline::{self, Unfinished};
use crate::gateway::Solve;
use crate::options::Request;
use modelpack::huggingface::{HfRef, HubFile, RepoInfo};
use modelpack::human::human_size;
use modelpack::plan::PlanFile;
use modelpack_hub::download::Expect;

/// `lfs` as sources 1.., one download each, all solved within `bound`:
/// the plan files and the states holding them.
pub(super) async fn fetch(
    bridge: &dyn Solve,
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    fetcher: &Fetcher,
    lfs: &[(String, HubFile)],
    bound: Duration,
) -> Result<(Vec<PlanFile>, Vec<State>), Failure> {
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
    Ok((files, states))
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
    bridge: &dyn Solve,
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    files: &[PlanFile],
    sources: &[State],
    bound: Duration,
) -> Result<(), Failure> {
    let lfs: Vec<&PlanFile> = files.iter().filter(|f| f.origin.source != 0).collect();
    // Each download is solved through a step on top of it that changes
    // nothing, rather than as the HTTP source itself: BuildKit takes a
    // step's result from a remote cache (`--cache-from`), but fetches an
    // HTTP source again even when its result is there. The step enters
    // the result's graph (`Solve::solve_result`), so it is exported.
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
