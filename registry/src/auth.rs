//! `WWW-Authenticate` challenges and per-host auth state (scheme, cached
//! Bearer tokens per scope).

use std::collections::HashMap;

use crate::credentials::HostCredentials;

/// One parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The auth scheme, lowercased (`bearer`, `basic`).
    pub scheme: String,
    /// Its parameters, names lowercased (`realm`, `service`, `scope`).
    pub params: HashMap<String, String>,
}

/// Parses a `WWW-Authenticate` value, e.g.
/// `Bearer realm="https://auth",service="reg",scope="repository:a:pull"`.
/// Several challenges in one header are split at a scheme token. Never
/// fails: what cannot be read is skipped. (Public for the fuzz target.)
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut s = header.trim();
    while !s.is_empty() {
        // token [= value] [,]
        let tok_end = s
            .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
            .unwrap_or(s.len());
        let token = &s[..tok_end];
        let after = s[tok_end..].trim_start();
        if let Some(rest) = after.strip_prefix('=') {
            let rest = rest.trim_start();
            let (value, remaining) = if let Some(q) = rest.strip_prefix('"') {
                let mut val = String::new();
                let mut chars = q.char_indices();
                let mut end = q.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                val.push(n)
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        _ => val.push(c),
                    }
                }
                (val, &q[end.min(q.len())..])
            } else {
                let e = rest.find(',').unwrap_or(rest.len());
                (rest[..e].trim().to_string(), &rest[e..])
            };
            if let Some(c) = out.last_mut() {
                c.params.insert(token.to_ascii_lowercase(), value);
            }
            s = remaining.trim_start().trim_start_matches(',').trim_start();
        } else {
            if !token.is_empty() {
                out.push(Challenge {
                    scheme: token.to_ascii_lowercase(),
                    params: HashMap::new(),
                });
            }
            s = after.trim_start_matches(',').trim_start();
            if token.is_empty() && s.len() == after.len() {
                break;
            }
        }
    }
    out
}

/// How a host wants to be authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// Not probed yet: send nothing, learn from a 401.
    Unknown,
    /// Basic with the host's credentials.
    Basic,
    /// Bearer tokens from `realm` for `service`.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Auth state for one registry host.
#[derive(Debug)]
pub(crate) struct HostAuth {
    pub creds: HostCredentials,
    pub scheme: Scheme,
    /// Token per scope key (scopes joined with a space).
    pub tokens: HashMap<String, String>,
}

impl HostAuth {
    pub fn new(creds: HostCredentials) -> Self {
        HostAuth {
            creds,
            scheme: Scheme::Unknown,
            tokens: HashMap::new(),
        }
    }
}

/// `repository:<name>:pull` or `…:pull,push`.
pub(crate) fn repo_scope(repo: &str, push: bool) -> String {
    format!(
        "repository:{repo}:{}",
        if push { "pull,push" } else { "pull" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.io/token",service="registry.io",scope="repository:a/b:pull,push",error="insufficient_scope""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.io/token");
        assert_eq!(c[0].params["scope"], "repository:a/b:pull,push");
        assert_eq!(c[0].params["error"], "insufficient_scope");
        let c = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(
            (c[0].scheme.as_str(), c[0].params["realm"].as_str()),
            ("basic", "Registry Realm")
        );
        let c = parse_challenges(r#"Basic realm=x, Bearer realm="y""#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].params["realm"], "y");
        assert!(parse_challenges("").is_empty());
        assert_eq!(parse_challenges("=,=").len(), 0);
    }
}
