//! Hugging Face sources: `huggingface://[datasets/]org/repo[@rev|:rev][/path]`.

use anyhow::{bail, Result};

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
    pub fn parse(rest: &str, revision_arg: Option<&str>) -> Result<Self> {
        let usage = "expected huggingface://org/repo[@revision][/path]";
        let (kind, rest) = match rest.strip_prefix("datasets/") {
            Some(r) => (RepoKind::Dataset, r),
            None => (RepoKind::Model, rest),
        };
        let mut parts = rest.splitn(3, '/');
        let org = parts.next().unwrap_or("");
        let name_rev = parts.next().unwrap_or("");
        let path = parts.next().map(|p| p.trim_end_matches('/')).filter(|p| !p.is_empty());
        let (name, inline_rev) = match name_rev.find(['@', ':']) {
            Some(i) => (&name_rev[..i], Some(&name_rev[i + 1..])),
            None => (name_rev, None),
        };
        let valid = |s: &str| {
            !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        if !valid(org) || !valid(name) {
            bail!("build-arg source: huggingface://{rest} is not a repository; {usage}");
        }
        if inline_rev == Some("") {
            bail!("build-arg source: empty revision after '@' in huggingface://{rest}; {usage}");
        }
        let revision = match (inline_rev, revision_arg) {
            (Some(a), Some(b)) if a != b => bail!(
                "build-arg revision={b:?} contradicts the revision {a:?} in source; give it once"
            ),
            (Some(r), _) | (None, Some(r)) => r.to_string(),
            (None, None) => "main".to_string(),
        };
        if let Some(p) = path {
            if p.split('/').any(|c| c == ".." || c == ".") {
                bail!("build-arg source: path {p:?} in huggingface://{rest} must be repo-relative");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> HfRef {
        HfRef::parse(s, None).unwrap()
    }

    #[test]
    fn grammar() {
        let r = parse("Qwen/Qwen3-0.6B");
        assert_eq!((r.kind, r.repo.as_str(), r.revision.as_str(), r.path), (RepoKind::Model, "Qwen/Qwen3-0.6B", "main", None));
        let r = parse("org/repo@v1.0/sub/dir/");
        assert_eq!((r.revision.as_str(), r.path.as_deref()), ("v1.0", Some("sub/dir")));
        let r = parse("org/repo:0123456789abcdef0123456789abcdef01234567/model.gguf");
        assert_eq!(r.revision, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(r.path.as_deref(), Some("model.gguf"));
        let r = parse("datasets/org/data");
        assert_eq!((r.kind, r.repo.as_str()), (RepoKind::Dataset, "org/data"));
        let r = HfRef::parse("org/repo", Some("refs/pr/1")).unwrap();
        assert_eq!(r.revision, "refs/pr/1");
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
