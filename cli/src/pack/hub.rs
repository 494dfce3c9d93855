//! `pack huggingface://org/repo[@rev][/path]`: the repo resolved to a
//! commit and its files selected exactly as the frontend does
//! ([`modelpack::huggingface`]), then downloaded and verified, with the
//! Hub token from `--token-file` or `HF_TOKEN`.

use std::path::Path;

use anyhow::anyhow;

use super::download::{fetch_all, Job};
use super::{check_transport, Prepared};
use crate::{step, Failure};
use modelpack::huggingface::{parse_info, HfRef, HubFile};
use modelpack::patterns::PatternList;
use modelpack::plan::{Origin, PlanFile};
use modelpack::setting::{self, Door};
use modelpack_hub::download::{self as hf_get, exit, Expect, GetError};

/// What to fetch with.
pub struct Options<'a> {
    /// Hub endpoint, without a trailing `/`.
    pub endpoint: String,
    /// The Hub token, if one was given.
    pub token: Option<String>,
    /// `--include` / `--exclude`.
    pub patterns: &'a PatternList,
    /// Downloads at once.
    pub connections: usize,
}

/// The hint given with every refusal.
const TOKEN_HINT: &str = "set HF_TOKEN or pass --token-file FILE with a token that can read it";

/// The endpoint: `--hf-endpoint`, else `$HF_ENDPOINT`, else the Hub's.
pub fn endpoint(flag: Option<&str>) -> Result<String, String> {
    let env = std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty());
    let (value, what) = match (flag, env) {
        (Some(f), _) => (f.trim().to_string(), "--hf-endpoint"),
        (None, Some(e)) => (e.trim().to_string(), "HF_ENDPOINT"),
        (None, None) => return Ok(modelpack_hub::DEFAULT_ENDPOINT.to_string()),
    };
    check_transport(&value, what)?;
    Ok(value.trim_end_matches('/').to_string())
}

/// The token: the first line of `--token-file`, else `$HF_TOKEN`; none
/// when neither is given (or both are empty).
pub fn token(file: Option<&Path>) -> Result<Option<String>, Failure> {
    let raw = match file {
        Some(f) => std::fs::read_to_string(f).map_err(|e| {
            Failure::Failed(anyhow!(
                "--token-file {}: cannot read it ({e}); pass a file holding the Hub token",
                f.display()
            ))
        })?,
        None => std::env::var("HF_TOKEN").unwrap_or_default(),
    };
    let t = raw.trim();
    if t.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Failure::Failed(anyhow!(
            "the Hub token (from {}) holds spaces or control characters; it must be one line",
            if file.is_some() {
                "--token-file"
            } else {
                "HF_TOKEN"
            }
        )));
    }
    Ok((!t.is_empty()).then(|| t.to_string()))
}

/// Resolves `hf`, downloads the selected files into `downloads` and
/// returns them as the frontend lists them: LFS files first (digest from
/// the listing, checked by the download), then small files (hashed here
/// after their git blob id was checked), each in the Hub's order.
pub fn prepare(
    hf: &HfRef,
    o: &Options,
    default_name: &str,
    downloads: tempfile::TempDir,
) -> Result<Prepared, Failure> {
    let ep = &o.endpoint;
    step(&format!("resolving {}@{} on {ep}", hf.repo, hf.revision));
    let answer = downloads.path().join("info.json");
    hf_get::get_as(
        &hf.info_url(ep, &hf.revision),
        &answer,
        &Expect::Anything,
        o.token.as_deref(),
    )
    .map_err(|e| info_failure(hf, o, e))?;
    // Bounded as the frontend's read of the same answer is: a listing
    // larger than this is not a Hub answer we can package.
    let len = std::fs::metadata(&answer).map(|m| m.len()).unwrap_or(0);
    if len > modelpack_hub::MAX_INFO_BYTES as u64 {
        return Err(anyhow!(
            "the answer of {ep} about {}@{} is {len} bytes, over the {} MiB a listing may take (about 300,000 files, as the frontend reads it); check --hf-endpoint",
            hf.repo,
            hf.revision,
            modelpack_hub::MAX_INFO_BYTES >> 20
        )
        .into());
    }
    let bytes = std::fs::read(&answer)
        .map_err(|e| anyhow!("reading the Hub's answer about {}: {e}", hf.repo))?;
    let info = parse_info(&bytes, &hf.repo)?;
    let selected = hf
        .select(&info, o.patterns)
        .map_err(|e| Failure::Failed(anyhow!(setting::render(&e, Door::Cli))))?;
    let at = format!("{}@{} (commit {})", hf.repo, hf.revision, info.commit);
    let total: u64 = selected.iter().map(|(_, f)| f.size).sum();
    step(&format!(
        "{at}: downloading {} files ({})",
        selected.len(),
        crate::human(total)
    ));

    let root = downloads.path().join("files");
    let (lfs, small): (Vec<_>, Vec<_>) = selected
        .into_iter()
        .partition(|(_, f)| f.lfs_sha256.is_some());
    let ordered: Vec<(String, HubFile)> = lfs.into_iter().chain(small).collect();
    let jobs: Vec<Job> = ordered
        .iter()
        .map(|(rel, f)| Job {
            url: hf.resolve_url(ep, &info.commit, &f.path),
            dest: root.join(rel),
            expect: match (&f.lfs_sha256, &f.blob_id) {
                (Some(sha), _) => Expect::Sha256(sha.clone()),
                (None, Some(blob)) => Expect::GitSha1(blob.clone()),
                (None, None) => Expect::Anything,
            },
            size: f.size,
            label: rel.clone(),
        })
        .collect();
    fetch_all(&jobs, o.connections, o.token.as_deref())
        .map_err(|(i, e)| file_failure(&ordered[i].1, &at, o, e))?;

    let mut files = Vec::with_capacity(ordered.len());
    for ((rel, f), job) in ordered.iter().zip(&jobs) {
        files.push(plan_file(rel, f, &job.dest, &at)?);
    }
    Ok(Prepared {
        root,
        files,
        default_name: default_name.to_string(),
        created_at: info.date.clone(),
        source_url: Some(hf.web_url(ep)),
        revision: Some(info.commit.clone()),
        _downloads: Some(downloads),
    })
}

/// A downloaded file as a plan file, its size checked against the listing
/// (an LFS file's sha256 and a small file's git blob id were checked while
/// downloading).
fn plan_file(rel: &str, f: &HubFile, on_disk: &Path, at: &str) -> anyhow::Result<PlanFile> {
    let read = |e: std::io::Error| anyhow!("reading the downloaded {} of {at}: {e}", f.path);
    let (size, digest) = match &f.lfs_sha256 {
        Some(sha) => (
            std::fs::metadata(on_disk).map_err(read)?.len(),
            format!("sha256:{sha}"),
        ),
        None => {
            let hashes =
                modelpack::scan::hash_reader(std::fs::File::open(on_disk).map_err(read)?, None)
                    .map_err(read)?;
            (hashes.size, hashes.digest)
        }
    };
    if size != f.size {
        return Err(anyhow!(
            "{} from {at}: the Hub lists {} bytes but served {size}; the listing or the file is wrong on the server, try again later",
            f.path,
            f.size
        ));
    }
    Ok(PlanFile {
        path: rel.to_string(),
        size,
        digest,
        executable: false,
        origin: Origin {
            source: 0,
            path: format!("/{rel}"),
        },
        packed: None,
    })
}

/// Explains a failed resolve: refused, no such repo or revision, rate limit.
pub(crate) fn info_failure(hf: &HfRef, o: &Options, e: GetError) -> Failure {
    let (ep, repo, rev) = (&o.endpoint, &hf.repo, &hf.revision);
    let with_token = if o.token.is_some() {
        "; the token given cannot read it"
    } else {
        ""
    };
    let message = match e.code {
        exit::AUTH => format!("{ep} refused access to {repo}: the repo does not exist, or it is private or gated{with_token}; {TOKEN_HINT}"),
        exit::NOT_FOUND => {
            let probe = tempfile::NamedTempFile::new().ok();
            let repo_exists = probe.as_ref().is_some_and(|p| {
                hf_get::get_as(&hf.repo_api_url(ep), p.path(), &Expect::Anything, o.token.as_deref()).is_ok()
            });
            if repo_exists {
                format!("revision {rev:?} not found in {repo} on {ep}; use a branch, tag or commit that exists (--revision for names with '/')")
            } else {
                format!("repository {repo} not found on {ep}; check the org/name in SOURCE (and if it is private, {TOKEN_HINT})")
            }
        }
        exit::RATE_LIMITED => format!("{ep} is rate-limiting requests (HTTP 429) while resolving {repo}@{rev}; wait a few minutes, or {TOKEN_HINT}"),
        _ => format!("resolving {repo}@{rev} on {ep} failed: {}", e.message),
    };
    Failure::Failed(anyhow!(message))
}

/// Explains a failed file download, naming the file and the commit.
pub(crate) fn file_failure(f: &HubFile, at: &str, o: &Options, e: GetError) -> Failure {
    let ep = &o.endpoint;
    let message = match e.code {
        exit::AUTH => format!(
            "{ep} refused to serve {} of {at}: the repo is gated or private{}; accept its terms on the Hub and {TOKEN_HINT}",
            f.path,
            if o.token.is_some() { " and the token given cannot read it" } else { "" }
        ),
        exit::NOT_FOUND => format!("{} listed in {at} could not be downloaded (HTTP 404); the commit may have been removed", f.path),
        exit::RATE_LIMITED => format!("{ep} is rate-limiting downloads of {at} (HTTP 429); wait a few minutes, or {TOKEN_HINT}"),
        exit::CHECKSUM => format!("{} from {at}: {}; the file is corrupted on the server or in transit, try again", f.path, e.message),
        _ => format!("{} from {at}: {}", f.path, e.message),
    };
    Failure::Failed(anyhow!(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(token: Option<&str>) -> (PatternList, Option<String>) {
        (PatternList::parse("", ""), token.map(str::to_string))
    }

    #[test]
    fn refusals_say_how_to_pass_a_token_and_never_print_it() {
        let hf = HfRef::parse("org/repo", None).unwrap();
        let (patterns, token) = options(Some("hf_secret_value"));
        let o = Options {
            endpoint: "https://hub".into(),
            token,
            patterns: &patterns,
            connections: 1,
        };
        let e = |code| GetError {
            code,
            message: "downloading w.bin: HTTP 401 from https://hub".into(),
        };
        let Failure::Failed(m) = info_failure(&hf, &o, e(exit::AUTH)) else {
            panic!()
        };
        let m = m.to_string();
        assert!(
            m.contains("refused access to org/repo")
                && m.contains("HF_TOKEN")
                && m.contains("--token-file"),
            "{m}"
        );
        assert!(
            m.contains("the token given cannot read it") && !m.contains("hf_secret_value"),
            "{m}"
        );
        let f = HubFile {
            path: "w.bin".into(),
            size: 1,
            lfs_sha256: None,
            blob_id: None,
        };
        let Failure::Failed(m) =
            file_failure(&f, "org/repo@main (commit c)", &o, e(exit::RATE_LIMITED))
        else {
            panic!()
        };
        assert!(m.to_string().contains("HTTP 429"), "{m}");
        let Failure::Failed(m) = file_failure(&f, "org/repo@main (commit c)", &o, e(exit::AUTH))
        else {
            panic!()
        };
        assert!(
            m.to_string()
                .starts_with("https://hub refused to serve w.bin of org/repo@main (commit c)"),
            "{m}"
        );
        assert!(!m.to_string().contains('\n'));
    }

    #[test]
    fn the_token_comes_from_the_file_first() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        std::fs::write(&file, "hf_abc\n").unwrap();
        assert_eq!(token(Some(&file)).unwrap().as_deref(), Some("hf_abc"));
        std::fs::write(&file, "  \n").unwrap();
        assert_eq!(token(Some(&file)).unwrap(), None);
        std::fs::write(&file, "a b\n").unwrap();
        assert!(token(Some(&file)).is_err());
        assert!(token(Some(&dir.path().join("missing"))).is_err());
    }

    #[test]
    fn sizes_are_checked_against_the_listing() {
        let dir = tempfile::tempdir().unwrap();
        let on_disk = dir.path().join("c.json");
        std::fs::write(&on_disk, b"{}").unwrap();
        let f = HubFile {
            path: "sub/c.json".into(),
            size: 2,
            lfs_sha256: None,
            blob_id: None,
        };
        let p = plan_file("c.json", &f, &on_disk, "o/r@main").unwrap();
        assert_eq!(
            (p.path.as_str(), p.size, p.origin.path.as_str()),
            ("c.json", 2, "/c.json")
        );
        assert_eq!(
            p.digest,
            format!(
                "sha256:{}",
                "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
            )
        );
        let wrong = HubFile { size: 3, ..f };
        let e = plan_file("c.json", &wrong, &on_disk, "o/r@main")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sub/c.json") && e.contains("3 bytes") && e.contains("served 2"),
            "{e}"
        );
    }

    #[test]
    fn endpoints_are_checked() {
        assert_eq!(
            endpoint(Some("https://mirror.example/")).unwrap(),
            "https://mirror.example"
        );
        assert!(endpoint(Some("http://mirror.example")).is_err());
        assert_eq!(
            endpoint(Some("http://127.0.0.1:9")).unwrap(),
            "http://127.0.0.1:9"
        );
    }
}
