//! Hugging Face sources: `huggingface://[datasets/]org/repo[@rev|:rev][/path]`.

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::patterns::is_bookkeeping;
use crate::patterns::PatternList;
use crate::setting::SourceError;

/// Which kind of Hub repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepoKind {
    /// A model repo (`/api/models`, resolve URLs without prefix).
    Model,
    /// A dataset repo (`/api/datasets`, resolve URLs under `datasets/`).
    Dataset,
}

/// A parsed Hugging Face reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HfRef {
    /// Model or dataset.
    pub kind: RepoKind,
    /// `org/name`.
    pub repo: String,
    /// Branch, tag, commit or `refs/…`; `main` when not given.
    pub revision: String,
    /// A file or folder inside the repo, if only that is wanted.
    pub path: Option<String>,
}

impl HfRef {
    /// Parses what follows the scheme.
    pub fn parse(rest: &str, revision_arg: Option<&str>) -> Result<Self, SourceError> {
        let (kind, rest) = match rest.strip_prefix("datasets/") {
            Some(r) => (RepoKind::Dataset, r),
            None => (RepoKind::Model, rest),
        };
        let mut parts = rest.splitn(3, '/');
        let org = parts.next().unwrap_or("");
        let name_rev = parts.next().unwrap_or("");
        let path = parts
            .next()
            .map(|p| p.trim_end_matches('/'))
            .filter(|p| !p.is_empty());
        let (name, inline_rev) = match name_rev.find(['@', ':']) {
            Some(i) => (&name_rev[..i], Some(&name_rev[i + 1..])),
            None => (name_rev, None),
        };
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        if !valid(org) || !valid(name) {
            return Err(SourceError::NotARepository {
                rest: rest.to_string(),
            });
        }
        if inline_rev == Some("") {
            return Err(SourceError::EmptyRevision {
                rest: rest.to_string(),
            });
        }
        let revision = match (inline_rev, revision_arg) {
            (Some(a), Some(b)) if a != b => {
                return Err(SourceError::RevisionContradicts {
                    inline: a.to_string(),
                    given: b.to_string(),
                })
            }
            (Some(r), _) | (None, Some(r)) => r.to_string(),
            (None, None) => "main".to_string(),
        };
        if let Some(p) = path {
            if p.split('/').any(|c| c == ".." || c == ".") {
                return Err(SourceError::PathNotRepoRelative {
                    path: p.to_string(),
                    rest: rest.to_string(),
                });
            }
        }
        Ok(HfRef {
            kind,
            repo: format!("{org}/{name}"),
            revision,
            path: path.map(str::to_string),
        })
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/`
/// when `keep_slash`), as the Hub's clients do for revisions and paths.
pub fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        let plain = b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/');
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `s` is a full 40-hex commit id.
pub fn is_commit(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl HfRef {
    fn api_kind(&self) -> &'static str {
        match self.kind {
            RepoKind::Model => "models",
            RepoKind::Dataset => "datasets",
        }
    }

    fn url_prefix(&self) -> &'static str {
        match self.kind {
            RepoKind::Model => "",
            RepoKind::Dataset => "datasets/",
        }
    }

    /// Repo info at `revision` with file sizes and LFS hashes (unpaginated).
    pub fn info_url(&self, endpoint: &str, revision: &str) -> String {
        format!(
            "{endpoint}/api/{}/{}/revision/{}?blobs=true",
            self.api_kind(),
            self.repo,
            percent_encode(revision, false)
        )
    }

    /// Repo info at the default branch: tells "no such repo" from "no such revision".
    pub fn repo_api_url(&self, endpoint: &str) -> String {
        format!("{endpoint}/api/{}/{}", self.api_kind(), self.repo)
    }

    /// Download URL of one file, pinned to a commit.
    pub fn resolve_url(&self, endpoint: &str, commit: &str, path: &str) -> String {
        format!(
            "{endpoint}/{}{}/resolve/{commit}/{}",
            self.url_prefix(),
            self.repo,
            percent_encode(path, true)
        )
    }

    /// The repo's web page (`descriptor.sourceURL`).
    pub fn web_url(&self, endpoint: &str) -> String {
        format!("{endpoint}/{}{}", self.url_prefix(), self.repo)
    }

    /// Picks the requested file or folder and applies include/exclude.
    /// Returns (path inside the model, file); model paths are relative to
    /// the requested folder, or the file's name for a single file.
    pub fn select(
        &self,
        info: &RepoInfo,
        patterns: &PatternList,
    ) -> Result<Vec<(String, HubFile)>> {
        let picked: Vec<(String, HubFile)> = match &self.path {
            None => info
                .files
                .iter()
                .map(|f| (f.path.clone(), f.clone()))
                .collect(),
            Some(p) => match info.files.iter().find(|f| &f.path == p) {
                Some(f) => {
                    let name = p.rsplit('/').next().unwrap_or(p).to_string();
                    vec![(name, f.clone())]
                }
                None => {
                    let prefix = format!("{p}/");
                    info.files
                        .iter()
                        .filter_map(|f| {
                            f.path
                                .strip_prefix(&prefix)
                                .map(|r| (r.to_string(), f.clone()))
                        })
                        .collect()
                }
            },
        };
        if picked.is_empty() {
            match &self.path {
                Some(p) => bail!(
                    "path {p:?} not found in {} at revision {} (commit {}); check the path after the repo name in source",
                    self.repo, self.revision, info.commit
                ),
                None => bail!("{} has no files at revision {} (commit {})", self.repo, self.revision, info.commit),
            }
        }
        let total = picked.len();
        let kept: Vec<_> = picked
            .into_iter()
            .filter(|(rel, _)| patterns.keeps(rel))
            .filter(|(rel, _)| !is_bookkeeping(rel) || patterns.include.iter().any(|p| p == rel))
            .collect();
        if kept.is_empty() {
            return Err(SourceError::NothingSelected {
                total,
                repo: self.repo.clone(),
            }
            .into());
        }
        if kept.len() > MAX_SELECTED_FILES {
            return Err(SourceError::TooManySelected {
                count: kept.len(),
                repo: self.repo.clone(),
                max: MAX_SELECTED_FILES,
            }
            .into());
        }
        Ok(kept)
    }
}

/// The most files one build packages from a Hub repo: each is a BuildKit
/// source and a layer, and a listing beyond this (a dataset of shards)
/// needs include/exclude. Listings themselves may be larger (up to what
/// the 64 MiB answer limit holds).
pub const MAX_SELECTED_FILES: usize = 10_000;

/// One file as the Hub lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubFile {
    /// Repo-relative path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the content, for LFS files.
    pub lfs_sha256: Option<String>,
    /// Git blob id (sha1 of `blob <len>\0<bytes>`), for regular files.
    pub blob_id: Option<String>,
}

/// A revision resolved to its commit, with its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoInfo {
    /// 40-hex commit id.
    pub commit: String,
    /// The commit's date (RFC 3339), when given.
    pub date: Option<String>,
    /// Every file, sorted by path.
    pub files: Vec<HubFile>,
}

#[derive(Deserialize)]
struct InfoJson {
    sha: Option<String>,
    #[serde(rename = "lastModified")]
    last_modified: Option<String>,
    #[serde(default)]
    siblings: Vec<SiblingJson>,
}

#[derive(Deserialize)]
struct SiblingJson {
    rfilename: String,
    size: Option<u64>,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    lfs: Option<LfsJson>,
}

#[derive(Deserialize)]
struct LfsJson {
    sha256: String,
    size: Option<u64>,
}

/// Whether a file name from the Hub is safe as a path in the model on every
/// reader's system: relative, `/`-separated, no empty, `.` or `..`
/// component, no backslash (a separator on Windows) and no control
/// character.
pub fn is_safe_repo_path(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.chars().any(char::is_control)
        && !name
            .split('/')
            .any(|c| c == ".." || c == "." || c.is_empty())
}

/// Parses `/api/{models|datasets}/{repo}/revision/{rev}?blobs=true`.
pub fn parse_info(bytes: &[u8], repo: &str) -> Result<RepoInfo> {
    let info: InfoJson = serde_json::from_slice(bytes)
        .with_context(|| format!("the Hub's answer about {repo} is not the expected JSON"))?;
    let commit = info.sha.unwrap_or_default();
    if !is_commit(&commit) {
        bail!("the Hub's answer about {repo} has no commit id (sha: {commit:?})");
    }
    let mut files = Vec::new();
    for s in info.siblings {
        if !is_safe_repo_path(&s.rfilename) {
            bail!(
                "the Hub listed an unsafe file name {:?} in {repo}",
                s.rfilename
            );
        }
        let lfs_sha256 = match &s.lfs {
            Some(l) if l.sha256.len() == 64 && l.sha256.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(l.sha256.to_ascii_lowercase())
            }
            Some(l) => bail!(
                "the Hub listed a malformed sha256 {:?} for {} in {repo}",
                l.sha256,
                s.rfilename
            ),
            None => None,
        };
        let size = s
            .lfs
            .as_ref()
            .and_then(|l| l.size)
            .or(s.size)
            .with_context(|| {
                format!(
                    "the Hub listed no size for {} in {repo} (asked with blobs=true)",
                    s.rfilename
                )
            })?;
        crate::names::check_length(&s.rfilename)
            .map_err(|e| anyhow::anyhow!("the Hub's listing of {repo}: {e}"))?;
        files.push(HubFile {
            path: s.rfilename,
            size,
            lfs_sha256,
            blob_id: s.blob_id,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(w) = files.windows(2).find(|w| w[0].path == w[1].path) {
        bail!("the Hub listed {:?} twice in {repo}", w[0].path);
    }
    crate::names::check_collisions(files.iter().map(|f| f.path.as_str()))
        .map_err(|e| anyhow::anyhow!("the Hub's listing of {repo}: {e}"))?;
    let date = info.last_modified.filter(|d| crate::time::is_rfc3339(d));
    Ok(RepoInfo {
        commit,
        date,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> HfRef {
        HfRef::parse(s, None).unwrap()
    }

    #[test]
    fn a_listing_of_100k_files_parses_fast_and_selection_is_bounded() {
        let siblings: Vec<String> = (0..100_000)
            .map(|i| format!(r#"{{"rfilename":"shards/part-{i:06}.bin","size":1,"lfs":{{"sha256":"{:064x}","size":1}}}}"#, i))
            .collect();
        let body = format!(
            r#"{{"sha":"{}","siblings":[{}]}}"#,
            "a".repeat(40),
            siblings.join(",")
        );
        let info = parse_info(body.as_bytes(), "org/big").unwrap();
        assert_eq!(info.files.len(), 100_000);
        let err = parse("org/big")
            .select(&info, &PatternList::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("100000 files") && err.contains("10000"),
            "{err}"
        );
        let some = PatternList::parse("shards/part-00000*", "");
        assert_eq!(parse("org/big").select(&info, &some).unwrap().len(), 10);
    }

    #[test]
    fn listings_with_colliding_or_overlong_names_are_refused() {
        let listing = |names: &[&str]| {
            let siblings: Vec<String> = names
                .iter()
                .map(|n| {
                    format!(
                        r#"{{"rfilename":{},"size":1}}"#,
                        serde_json::to_string(n).unwrap()
                    )
                })
                .collect();
            format!(
                r#"{{"sha":"{}","siblings":[{}]}}"#,
                "b".repeat(40),
                siblings.join(",")
            )
        };
        let err = parse_info(
            listing(&["caf\u{e9}.md", "cafe\u{301}.md"]).as_bytes(),
            "o/r",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("the Hub's listing of o/r: the names \"cafe\\u{301}.md\" and \"caf\u{e9}.md\" differ only by case or Unicode normalisation"),
            "{err}"
        );
        let err = parse_info(listing(&["README.md", "readme.md"]).as_bytes(), "o/r")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the Hub's listing of o/r: the names \"README.md\" and \"readme.md\" differ only by case or Unicode normalisation"),
            "{err}"
        );
        // Issue 19: different letters are different files.
        let info = parse_info(listing(&["caf\u{e9}.md", "cafe.md"]).as_bytes(), "o/r").unwrap();
        assert_eq!(info.files.len(), 2);
        assert!(parse_info(listing(&["a.md", "a.md"]).as_bytes(), "o/r")
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let long = "x".repeat(300);
        assert!(parse_info(listing(&[long.as_str()]).as_bytes(), "o/r")
            .unwrap_err()
            .to_string()
            .contains("255 bytes"));
        parse_info(listing(&["README.md", "docs/readme.md"]).as_bytes(), "o/r").unwrap();
    }

    #[test]
    fn unsafe_repo_paths_are_refused() {
        for bad in [
            "",
            "/abs",
            "a/../..",
            "..",
            "./a",
            "a//b",
            "..\\x.safetensors",
            "a\\b",
            "new\nline",
            "tab\t",
        ] {
            assert!(!is_safe_repo_path(bad), "{bad:?}");
        }
        for good in [
            "model.safetensors",
            "sub/dir/tokenizer.json",
            "caf\u{e9}.md",
            "a..b",
        ] {
            assert!(is_safe_repo_path(good), "{good:?}");
        }
    }

    #[test]
    fn grammar() {
        let r = parse("Qwen/Qwen3-0.6B");
        assert_eq!(
            (r.kind, r.repo.as_str(), r.revision.as_str(), r.path),
            (RepoKind::Model, "Qwen/Qwen3-0.6B", "main", None)
        );
        let r = parse("org/repo@v1.0/sub/dir/");
        assert_eq!(
            (r.revision.as_str(), r.path.as_deref()),
            ("v1.0", Some("sub/dir"))
        );
        let r = parse("org/repo:0123456789abcdef0123456789abcdef01234567/model.gguf");
        assert_eq!(r.revision, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(r.path.as_deref(), Some("model.gguf"));
        let r = parse("datasets/org/data");
        assert_eq!((r.kind, r.repo.as_str()), (RepoKind::Dataset, "org/data"));
        let r = HfRef::parse("org/repo", Some("refs/pr/1")).unwrap();
        assert_eq!(r.revision, "refs/pr/1");
    }

    fn info(files: &[&str]) -> RepoInfo {
        RepoInfo {
            commit: "a".repeat(40),
            date: None,
            files: files
                .iter()
                .map(|p| HubFile {
                    path: p.to_string(),
                    size: 1,
                    lfs_sha256: None,
                    blob_id: None,
                })
                .collect(),
        }
    }

    #[test]
    fn urls_encode_revisions_and_paths() {
        let r = HfRef::parse("org/repo", Some("refs/pr/1")).unwrap();
        assert_eq!(
            r.info_url("http://h", &r.revision),
            "http://h/api/models/org/repo/revision/refs%2Fpr%2F1?blobs=true"
        );
        assert_eq!(
            r.resolve_url("http://h", "c0ffee", "dir/a b?.json"),
            "http://h/org/repo/resolve/c0ffee/dir/a%20b%3F.json"
        );
        let d = parse("datasets/org/data");
        assert_eq!(
            d.resolve_url("http://h", "c", "x"),
            "http://h/datasets/org/data/resolve/c/x"
        );
        assert_eq!(d.repo_api_url("http://h"), "http://h/api/datasets/org/data");
        assert_eq!(
            d.web_url("https://huggingface.co"),
            "https://huggingface.co/datasets/org/data"
        );
    }

    #[test]
    fn info_parsing_takes_lfs_hashes_and_sizes() {
        let json = br#"{"id":"org/repo","sha":"0123456789abcdef0123456789abcdef01234567","lastModified":"2026-01-02T03:04:05.000Z",
            "siblings":[{"rfilename":"b/w.safetensors","size":5,"blobId":"x","lfs":{"sha256":"ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789","size":5,"pointerSize":130}},
                        {"rfilename":"a.json","size":2,"blobId":"9e26dfeeb6e641a33dae4961196235bdb965b21b"}]}"#;
        let info = parse_info(json, "org/repo").unwrap();
        assert_eq!(info.commit, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(info.date.as_deref(), Some("2026-01-02T03:04:05.000Z"));
        assert_eq!(info.files[0].path, "a.json");
        assert_eq!(info.files[0].lfs_sha256, None);
        assert_eq!(
            info.files[1].lfs_sha256.as_deref(),
            Some("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")
        );
        for bad in [
            &br#"{"sha":"main","siblings":[]}"#[..],
            br#"{"sha":"0123456789abcdef0123456789abcdef01234567","siblings":[{"rfilename":"../x","size":1}]}"#,
            br#"{"sha":"0123456789abcdef0123456789abcdef01234567","siblings":[{"rfilename":"x"}]}"#,
            b"<html>",
        ] {
            assert!(parse_info(bad, "org/repo").is_err());
        }
    }

    #[test]
    fn selection_of_files_folders_and_patterns() {
        let i = info(&[
            ".gitattributes",
            "a.json",
            "sub/x.bin",
            "sub/y/z.md",
            "subway.txt",
        ]);
        let paths = |r: &HfRef, p: &PatternList| -> Vec<String> {
            r.select(&i, p)
                .unwrap()
                .into_iter()
                .map(|(rel, _)| rel)
                .collect()
        };
        let none = PatternList::default();
        assert_eq!(
            paths(&parse("o/r"), &none),
            ["a.json", "sub/x.bin", "sub/y/z.md", "subway.txt"]
        );
        assert_eq!(paths(&parse("o/r/sub"), &none), ["x.bin", "y/z.md"]);
        assert_eq!(paths(&parse("o/r/sub/y/z.md"), &none), ["z.md"]);
        assert_eq!(
            paths(&parse("o/r"), &PatternList::parse("*.bin,*.md", "sub/y/")),
            ["sub/x.bin"]
        );
        assert_eq!(
            paths(&parse("o/r"), &PatternList::parse(".gitattributes", "")),
            [".gitattributes"]
        );
        let err = parse("o/r@main/nope")
            .select(&i, &none)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"nope\" not found in o/r at revision main"),
            "{err}"
        );
    }

    #[test]
    fn bad_references() {
        for bad in ["", "org", "org/", "/repo", "org/re po", "org/repo@"] {
            assert!(HfRef::parse(bad, None).is_err(), "{bad:?} accepted");
        }
        assert!(HfRef::parse("org/repo@a", Some("b")).is_err());
        assert!(HfRef::parse("org/repo/../x", None).is_err());
    }
}
