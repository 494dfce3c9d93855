//! What a failed fetch from the Hub means, in one line saying what to do:
//! BuildKit's error text (or an `hf-get` step's exit code) classified by
//! [`crate::buildkit_errors`], named by repo, revision, commit and file,
//! and whether the Hub refused access (so that a try with the token secret
//! makes sense).

use anyhow::anyhow;

use super::fetcher::Fetcher;
use super::Failure;
use crate::buildkit_errors::{classify, classify_error, Cause};
use crate::deadline;
use crate::gateway::{GatewayError, Solve};
use crate::options::Request;
use modelpack::huggingface::{is_commit, HfRef, RepoInfo};

/// The token hint shown with every access error.
pub const TOKEN_HINT: &str = "pass --secret id=hf-token,env=HF_TOKEN with a token that can read it";

fn explained(ours: String, cause: &GatewayError, refused: bool) -> Failure {
    Failure {
        refused,
        error: GatewayError::Local(anyhow!("{ours} (BuildKit: {cause})")),
    }
}

pub(super) async fn explain_info_failure(
    bridge: &dyn Solve,
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

pub(super) fn explain_file_failure(
    request: &Request,
    hf: &HfRef,
    info: &RepoInfo,
    err: GatewayError,
) -> Failure {
    explain_failure_of(request, hf, info, None, err)
}

/// Explains a failed download of files of `hf`, naming `file` when the
/// failure is known to be that file's.
pub(super) fn explain_failure_of(
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
    // A branch's LFS files are downloaded at the branch, not its commit
    // (see `branch`): it may have moved on since it was resolved.
    let moved = if is_commit(&hf.revision) {
        String::new()
    } else {
        format!(
            "; or {} moved to another commit since it was resolved",
            hf.revision
        )
    };
    let message = match (status, mismatch) {
        (_, Some(f)) if cause == Cause::DigestMismatch => format!(
            "{} from {at}: the downloaded bytes do not match the sha256 {} the Hub lists; the server answered an error instead of the file (BuildKit hides the HTTP status of checksummed downloads: check access to the repo) or the file is corrupted on the server or in transit{moved}; try again",
            f.path,
            f.lfs_sha256.as_deref().unwrap_or("")
        ),
        (Some(0), None) => match file {
            Some(p) => format!("{p} from {at} does not match the checksum the Hub lists{moved}; try again"),
            None => format!("a file from {at} does not match the checksum the Hub lists{moved}; try again"),
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

/// The error for downloads unfinished within `bound`.
pub(super) fn not_in_time(
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

#[cfg(test)]
mod tests {
    use super::*;

    use modelpack::huggingface::HubFile;

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
