//! Docker-style image references: `host[:port]/repo[:tag][@digest]`.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Registry used when a reference names none (Docker Hub).
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// Tag used when a reference names neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed reference to a manifest in a repository.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `host[:port]/repo[:tag][@digest]`. The first path component
    /// is a registry host when it contains `.` or `:` or is `localhost`;
    /// otherwise the registry is Docker Hub (and one-component names get
    /// `library/`). Without tag or digest the tag is `latest`.
    pub fn parse(s: &str) -> Result<Reference> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "invalid reference {s:?}: {why} (expected host[:port]/repository[:tag][@sha256:…])"
            ))
        };
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("empty or contains whitespace"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d).map_err(|e| bad(e.message()))?)),
            None => (s, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path)
            }
            _ => (DEFAULT_REGISTRY.to_string(), rest),
        };
        validate_host(&registry).map_err(|why| bad(&why))?;
        // A tag is after the last ':' of the last path component.
        let last_slash = path.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repo, tag) = match path[last_slash..].rfind(':') {
            Some(i) => (&path[..last_slash + i], Some(&path[last_slash + i + 1..])),
            None => (path, None),
        };
        if let Some(t) = tag {
            validate_tag(t).map_err(|why| bad(&why))?;
        }
        let mut repository = repo.to_string();
        if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            repository = format!("library/{repository}");
        }
        validate_repository(&repository).map_err(|why| bad(&why))?;
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_string()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// Builds a reference from parts (validated).
    pub fn new(registry: &str, repository: &str, tag_or_digest: &str) -> Result<Reference> {
        let sep = if tag_or_digest.contains(':') {
            "@"
        } else {
            ":"
        };
        Reference::parse(&format!("{registry}/{repository}{sep}{tag_or_digest}"))
    }

    /// Registry as written (`docker.io`, `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Host to contact for the API (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DEFAULT_REGISTRY {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    /// Repository path (`library/ubuntu`, `org/model`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What goes after `/manifests/`: the digest when there is one, else the tag.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }

    /// The same repository with `digest` instead of tag/digest.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            tag: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse(s)
    }
}

fn validate_host(host: &str) -> Result<(), String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.contains(']') || n.ends_with(']') => (n, Some(p)),
        _ => (host, None),
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
    {
        return Err(format!("bad registry host {host:?}"));
    }
    if let Some(p) = port {
        if p.parse::<u16>().is_err() {
            return Err(format!("bad port in registry host {host:?}"));
        }
    }
    Ok(())
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!("bad tag {tag:?}: use letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-')"))
    }
}

fn validate_repository(repo: &str) -> Result<(), String> {
    if repo.is_empty() {
        return Err("empty repository".into());
    }
    for comp in repo.split('/') {
        let b = comp.as_bytes();
        let ok = !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && comp.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if !ok {
            return Err(format!(
                "bad repository component {comp:?}: use lowercase letters, digits and '.', '_', '-' between them"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_style() {
        let r = Reference::parse("127.0.0.1:5000/org/model:v1").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("127.0.0.1:5000", "org/model", Some("v1"))
        );
        let r = Reference::parse("localhost/model").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("localhost", "model", Some("latest"))
        );
        let r = Reference::parse("ubuntu").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.api_host()),
            ("docker.io", "library/ubuntu", "registry-1.docker.io")
        );
        let d = Digest::sha256_of(b"x");
        let r = Reference::parse(&format!("ghcr.io/a/b@{d}")).unwrap();
        assert_eq!((r.tag(), r.digest()), (None, Some(&d)));
        assert_eq!(r.manifest_ref(), d.to_string());
        let r = Reference::parse(&format!("localhost:5000/a:t@{d}")).unwrap();
        assert_eq!((r.tag(), r.manifest_ref()), (Some("t"), d.to_string()));
        assert_eq!(r.to_string(), format!("localhost:5000/a:t@{d}"));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "a b",
            "localhost:x/a",
            "Host.io/Upper",
            "h.io/a:",
            "h.io/a@sha256:12",
            "h.io/-a",
            "h.io/a//b",
            "h.io/a:.t",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
