//! Fetching a Hugging Face repo through BuildKit. The frontend has no
//! network: repo info and files are LLB HTTP sources that buildkitd fetches
//! (or, when a token is given, steps that re-execute our own image with the
//! `hf-token` secret mounted). Only the small info JSON and the scan
//! listing come back over gRPC.

use anyhow::{anyhow, Context};
use llb::{CopyOptions, Exec, FileOp, Mount, NetMode, State};

use crate::emit::human_size;
use crate::gateway::{Bridge, GatewayError, Reference};
use crate::hfget::{self, TOKEN_PATH, TOKEN_SECRET_ID};
use crate::options::{DownloadNetwork, Request};
use crate::plan::{Origin, PlanFile};
use crate::scan::{Listing, LISTING_FILE};
use crate::selfimage::{self, BINARY};
use crate::source::huggingface::{parse_info, HfRef, HubFile, RepoInfo};

/// The token hint shown with every access error.
pub const TOKEN_HINT: &str = "pass --secret id=hf-token,env=HF_TOKEN with a token that can read it";

/// How files and API answers are fetched.
pub struct Fetcher {
    image: State,
    token: bool,
    network: NetMode,
}

/// The model files of a Hub repo as plan inputs, plus their source states.
pub struct Fetched {
    /// The resolved revision.
    pub info: RepoInfo,
    /// Files with digests and origins (indexes into `sources`).
    pub files: Vec<PlanFile>,
    /// States the files are copied from.
    pub sources: Vec<State>,
}

impl Fetcher {
    /// Decides how to fetch: asks a tiny step whether the token secret was
    /// given (never its value; re-run every build).
    pub async fn new(bridge: &mut Bridge, request: &Request) -> Result<Self, GatewayError> {
        let image = selfimage::own_image()?;
        let probe = Exec::new(&image, [BINARY, "token-probe", "/out"])
            .network(NetMode::None)
            .mount(Mount::secret(TOKEN_PATH, TOKEN_SECRET_ID, true))
            .mount(Mount::bind("/out", &State::scratch()))
            .ignore_cache()
            .custom_name("check for the hf-token secret")
            .build()
            .output("/out")
            .expect("writable mount");
        let r = bridge.solve(probe.to_definition()).await?;
        let token = bridge.read_file(&r, hfget::PROBE_FILE).await? == b"present";
        let network = match request.download_network {
            DownloadNetwork::Default => NetMode::Sandbox,
            DownloadNetwork::Host => NetMode::Host,
        };
        Ok(Fetcher { image, token, network })
    }

    /// A state holding the body of `url` at `/<name>`, checked against
    /// `sha256` when given.
    fn file(&self, url: &str, name: &str, sha256: Option<&str>, progress: &str, fresh: bool) -> State {
        if !self.token {
            let mut src = llb::source::http(url).filename(name).custom_name(progress);
            if let Some(s) = sha256 {
                src = src.checksum(&format!("sha256:{s}"));
            }
            return src.into_state();
        }
        let out = format!("/out/{name}");
        let mut args = vec![BINARY, "hf-get", url, &out];
        if let Some(s) = sha256 {
            args.push(s);
        }
        let mut step = Exec::new(&self.image, args)
            .network(self.network)
            .mount(Mount::secret(TOKEN_PATH, TOKEN_SECRET_ID, true))
            .mount(Mount::bind("/out", &State::scratch()))
            .custom_name(progress);
        if fresh {
            step = step.ignore_cache();
        }
        step.build().output("/out").expect("writable mount")
    }

    async fn read(
        &self,
        bridge: &mut Bridge,
        url: &str,
        progress: &str,
    ) -> Result<Vec<u8>, GatewayError> {
        let state = self.file(url, "answer.json", None, progress, true);
        let r = bridge.solve_evaluated(state.to_definition()).await?;
        bridge.read_file(&r, "answer.json").await
    }
}

/// Resolves the revision, lists and fetches the selected files.
pub async fn fetch(
    bridge: &mut Bridge,
    request: &Request,
    hf: &HfRef,
) -> Result<Fetched, GatewayError> {
    let fetcher = Fetcher::new(bridge, request).await?;
    let ep = &request.hf_endpoint;
    let progress = format!("resolve {}@{} on {ep}", hf.repo, hf.revision);
    let bytes = match fetcher.read(bridge, &hf.info_url(ep, &hf.revision), &progress).await {
        Ok(b) => b,
        Err(e) => return Err(explain_info_failure(bridge, &fetcher, request, hf, e).await),
    };
    let info = parse_info(&bytes, &hf.repo)?;
    let selected = hf.select(&info, &request.patterns)?;

    // Source 0 gathers the small (non-LFS) files so one scan step hashes them.
    let mut sources = vec![State::scratch()];
    let mut files = Vec::new();
    let mut small_tree = FileOp::new(State::scratch());
    let mut small: Vec<(String, HubFile)> = Vec::new();
    for (rel, f) in selected {
        let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
        let url = hf.resolve_url(ep, &info.commit, &f.path);
        let progress = format!("fetch {} ({})", f.path, human_size(f.size));
        let state = fetcher.file(&url, &name, f.lfs_sha256.as_deref(), &progress, false);
        match &f.lfs_sha256 {
            Some(sha) => {
                files.push(PlanFile {
                    path: rel,
                    size: f.size,
                    digest: format!("sha256:{sha}"),
                    executable: false,
                    origin: Origin { source: sources.len(), path: format!("/{name}") },
                });
                sources.push(state);
            }
            None => {
                let copy = CopyOptions { create_dest_path: true, ..Default::default() };
                small_tree = small_tree.copy(&state, &format!("/{name}"), &format!("/{}", f.path), copy);
                small.push((rel, f));
            }
        }
    }
    if !small.is_empty() {
        let tree = small_tree.custom_name(&format!("gather {} small file(s) of {}", small.len(), hf.repo)).into_state();
        let scan = selfimage::scan_step(&fetcher.image, &tree, &format!("small files of {}", hf.repo), true);
        let r = match bridge.solve_evaluated(scan.to_definition()).await {
            Ok(r) => r,
            Err(e) => return Err(explain_file_failure(request, hf, &info, e)),
        };
        let listing: Listing = serde_json::from_slice(&bridge.read_file(&r, LISTING_FILE).await?)
            .context("reading the scan listing of the small files")?;
        for (rel, f) in small {
            let scanned = listing.files.iter().find(|s| s.path == f.path).ok_or_else(|| {
                anyhow!("{} is listed in {}@{} but was not downloaded", f.path, hf.repo, info.commit)
            })?;
            let blob_ok = match (&f.blob_id, &scanned.git_sha1) {
                (Some(want), Some(got)) => want == got,
                _ => true,
            };
            if scanned.size != f.size || !blob_ok {
                return Err(anyhow!(
                    "{} from {}@{}: the downloaded content does not match the Hub's listing ({} bytes, git blob {}; got {} bytes, git blob {}); the file was corrupted in transit or changed, try again",
                    f.path, hf.repo, info.commit, f.size, f.blob_id.as_deref().unwrap_or("?"), scanned.size,
                    scanned.git_sha1.as_deref().unwrap_or("?")
                )
                .into());
            }
            files.push(PlanFile {
                path: rel,
                size: scanned.size,
                digest: scanned.digest.clone(),
                executable: false,
                origin: Origin { source: 0, path: format!("/{}", f.path) },
            });
        }
        sources[0] = tree;
    }
    Ok(Fetched { info, files, sources })
}

/// Solves the final layout now, so a failed download is explained here.
pub async fn solve_layout(
    bridge: &mut Bridge,
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    layout: &State,
) -> Result<Reference, GatewayError> {
    bridge
        .solve_evaluated(layout.to_definition())
        .await
        .map_err(|e| explain_file_failure(request, hf, info, e))
}

/// The HTTP status (or our `hf-get` exit code) in a BuildKit error.
fn status_in(message: &str) -> Option<u16> {
    let number_after = |key: &str| {
        let i = message.find(key)? + key.len();
        let digits: String = message[i..].chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse::<u16>().ok()
    };
    if let Some(s) = number_after("invalid response status ") {
        return Some(s);
    }
    match number_after("exit code: ")? as u8 {
        hfget::exit::AUTH => Some(401),
        hfget::exit::NOT_FOUND => Some(404),
        hfget::exit::RATE_LIMITED => Some(429),
        hfget::exit::SERVER => Some(500),
        hfget::exit::CHECKSUM => Some(0),
        _ => None,
    }
}

fn with_cause(ours: String, cause: &GatewayError) -> GatewayError {
    GatewayError::Local(anyhow!("{ours} (BuildKit: {cause})"))
}

async fn explain_info_failure(
    bridge: &mut Bridge,
    fetcher: &Fetcher,
    request: &Request,
    hf: &HfRef,
    err: GatewayError,
) -> GatewayError {
    let ep = &request.hf_endpoint;
    let (repo, rev) = (&hf.repo, &hf.revision);
    let message = match status_in(&err.to_string()) {
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
        _ => return err,
    };
    with_cause(message, &err)
}

fn explain_file_failure(request: &Request, hf: &HfRef, info: &RepoInfo, err: GatewayError) -> GatewayError {
    let text = err.to_string();
    let ep = &request.hf_endpoint;
    let at = format!("{}@{} (commit {})", hf.repo, hf.revision, info.commit);
    let mismatch = info
        .files
        .iter()
        .find(|f| f.lfs_sha256.as_ref().is_some_and(|s| text.contains(s.as_str())));
    let message = match (status_in(&text), mismatch) {
        (_, Some(f)) if text.contains("mismatch") || status_in(&text) == Some(0) => format!(
            "{} from {at}: the downloaded bytes do not match the sha256 {} the Hub lists; the file is corrupted on the server or in transit, try again",
            f.path,
            f.lfs_sha256.as_deref().unwrap_or("")
        ),
        (Some(0), None) => format!("a file from {at} does not match the sha256 the Hub lists; try again"),
        (Some(401) | Some(403), _) => format!("{ep} refused to serve files of {at}: the repo is gated or private; accept its terms on the Hub and {TOKEN_HINT}"),
        (Some(404), _) => format!("a file listed in {at} could not be downloaded (HTTP 404); the commit may have been removed"),
        (Some(429), _) => format!("{ep} is rate-limiting downloads of {at} (HTTP 429); wait a few minutes, or {TOKEN_HINT}"),
        (Some(s), _) if s >= 500 => format!("{ep} failed (HTTP {s}) while serving files of {at}; try again later"),
        _ => return err,
    };
    with_cause(message, &err)
}

#[cfg(test)]
mod tests {
    use super::*;

    use llb::proto::pb::{self, op::Op as Kind};
    use prost::Message;

    fn head_op(state: &State) -> pb::Op {
        let def = state.to_definition();
        let terminal = pb::Op::decode(def.def.last().unwrap().as_slice()).unwrap();
        let head = def.def.iter().find(|b| llb::digest_of(b) == terminal.inputs[0].digest).unwrap();
        pb::Op::decode(head.as_slice()).unwrap()
    }

    fn fetcher(token: bool) -> Fetcher {
        let image = llb::source::image("localhost:5000/modelpack-frontend:dev").into_state();
        Fetcher { image, token, network: NetMode::Host }
    }

    #[test]
    fn without_a_token_files_are_http_sources_verified_by_checksum() {
        let sha = "ab".repeat(32);
        let op = head_op(&fetcher(false).file("http://h/o/r/resolve/c/w.bin", "w.bin", Some(&sha), "fetch w.bin", false));
        let Some(Kind::Source(src)) = op.op else { panic!("an http source") };
        assert_eq!(src.identifier, "http://h/o/r/resolve/c/w.bin");
        assert_eq!(src.attrs["http.checksum"], format!("sha256:{sha}"));
        assert_eq!(src.attrs["http.filename"], "w.bin");
    }

    #[test]
    fn with_a_token_a_step_of_our_image_downloads_with_the_secret_mounted() {
        let sha = "cd".repeat(32);
        let state = fetcher(true).file("http://h/o/r/resolve/c/w.bin", "w.bin", Some(&sha), "fetch w.bin", false);
        let op = head_op(&state);
        let Some(Kind::Exec(exec)) = op.op else { panic!("an exec step") };
        let meta = exec.meta.unwrap();
        assert_eq!(meta.args, [BINARY, "hf-get", "http://h/o/r/resolve/c/w.bin", "/out/w.bin", sha.as_str()]);
        assert!(meta.env.is_empty(), "the token never travels in the environment");
        assert_eq!(exec.network, pb::NetMode::Host as i32);
        let secret = exec.mounts.iter().find(|m| m.dest == TOKEN_PATH).expect("secret mount");
        assert_eq!(secret.mount_type, pb::MountType::Secret as i32);
        assert_eq!(secret.secret_opt.as_ref().unwrap().id, TOKEN_SECRET_ID);
    }

    #[test]
    fn statuses_are_found_in_buildkit_errors() {
        assert_eq!(status_in("failed to load cache key: invalid response status 404"), Some(404));
        assert_eq!(status_in(r#"process "/modelpack-frontend hf-get x" did not complete successfully: exit code: 41"#), Some(401));
        assert_eq!(status_in("exit code: 60"), Some(0));
        assert_eq!(status_in("exit code: 1"), None);
        assert_eq!(status_in("something else"), None);
    }

    #[test]
    fn checksum_mismatch_names_the_file() {
        let hf = HfRef::parse("org/repo", None).unwrap();
        let sha = "ab".repeat(32);
        let info = RepoInfo {
            commit: "c".repeat(40),
            date: None,
            files: vec![HubFile { path: "w.safetensors".into(), size: 9, lfs_sha256: Some(sha.clone()), blob_id: None }],
        };
        let request = crate::options::parse(
            &[("build-arg:source".to_string(), "hf://org/repo".to_string())].into_iter().collect(),
        )
        .unwrap();
        let err = GatewayError::Local(anyhow!("digest mismatch sha256:ffff: sha256:{sha}"));
        let text = explain_file_failure(&request, &hf, &info, err).to_string();
        assert!(text.starts_with("w.safetensors from org/repo@main"), "{text}");
        let err = GatewayError::Local(anyhow!("invalid response status 401"));
        let text = explain_file_failure(&request, &hf, &info, err).to_string();
        assert!(text.contains("gated or private") && text.contains("--secret id=hf-token,env=HF_TOKEN"), "{text}");
        let err = GatewayError::Local(anyhow!("unrelated"));
        assert_eq!(explain_file_failure(&request, &hf, &info, err).to_string(), "unrelated");
    }
}
