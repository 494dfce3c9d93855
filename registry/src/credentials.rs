//! Where registry credentials come from: nothing, an explicit user and
//! password, or Docker's `config.json` (inline `auths`, identity tokens,
//! `credsStore` / `credHelpers` programs).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};

/// The credential source a [`crate::Client`] uses for every host.
#[derive(Clone, Debug, Default)]
pub enum Credentials {
    /// Never send credentials.
    #[default]
    Anonymous,
    /// The same username and password for every host.
    Basic {
        /// User name.
        username: String,
        /// Password or personal access token.
        password: String,
    },
    /// Look hosts up in a Docker config file: `Some(path)` to a
    /// `config.json`, or `None` for `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`. A missing file means anonymous.
    DockerConfig(Option<PathBuf>),
}

/// Credentials resolved for one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCredentials {
    /// No credentials.
    None,
    /// Username and password (sent as Basic, to the registry or token realm).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// An OAuth2 refresh token (Docker's `identitytoken`).
    IdentityToken {
        /// User name, when known (for messages).
        username: Option<String>,
        /// The refresh token.
        token: String,
    },
}

impl HostCredentials {
    /// Who we authenticate as, for error messages.
    pub fn who(&self) -> String {
        match self {
            HostCredentials::None => "anonymous".into(),
            HostCredentials::Basic { username, .. } => username.clone(),
            HostCredentials::IdentityToken { username, .. } => username
                .clone()
                .unwrap_or_else(|| "an identity token".into()),
        }
    }
}

impl Credentials {
    /// Resolves the credentials to send to `host` (`host[:port]`).
    pub fn for_host(&self, host: &str) -> Result<HostCredentials> {
        match self {
            Credentials::Anonymous => Ok(HostCredentials::None),
            Credentials::Basic { username, password } => Ok(HostCredentials::Basic {
                username: username.clone(),
                password: password.clone(),
            }),
            Credentials::DockerConfig(path) => {
                let path = match path {
                    Some(p) => p.clone(),
                    None => match default_docker_config() {
                        Some(p) => p,
                        None => return Ok(HostCredentials::None),
                    },
                };
                if !path.exists() {
                    return Ok(HostCredentials::None);
                }
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Error::io(format!("cannot read Docker config {}", path.display()), e)
                })?;
                docker_config_lookup(&text, &path, host, &run_helper)
            }
        }
    }
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn default_docker_config() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The credentials for `host` in the text of a Docker `config.json` (the
/// parsing half of [`Credentials::for_host`]): a host served by a
/// `credHelpers` or `credsStore` program resolves to `helper(program name,
/// server)` instead of running it. An error for text that is not a Docker
/// config or an `auth` that is not base64 `user:password`. (Public for the
/// fuzz target.)
pub fn docker_config_credentials(
    text: &str,
    host: &str,
    helper: &dyn Fn(&str, &str) -> Result<HostCredentials>,
) -> Result<HostCredentials> {
    docker_config_lookup(text, Path::new("config.json"), host, helper)
}

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// `docker.io` hosts are stored under Docker Hub's historical key.
fn config_keys(host: &str) -> Vec<String> {
    if matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        vec![
            "https://index.docker.io/v1/".into(),
            "index.docker.io".into(),
            "docker.io".into(),
        ]
    } else {
        vec![
            host.to_string(),
            format!("https://{host}"),
            format!("http://{host}"),
        ]
    }
}

/// `https://host/v1/` → `host`.
fn normalize_key(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

type HelperFn<'a> = dyn Fn(&str, &str) -> Result<HostCredentials> + 'a;

fn docker_config_lookup(
    text: &str,
    path: &Path,
    host: &str,
    helper: &HelperFn,
) -> Result<HostCredentials> {
    let cfg: DockerConfig = serde_json::from_str(text).map_err(|e| {
        Error::new(
            ErrorKind::Invalid,
            format!("cannot parse Docker config {}: {e}", path.display()),
        )
    })?;
    let keys = config_keys(host);
    let norm_host = normalize_key(&keys[0]).to_string();
    if let Some(name) = cfg
        .cred_helpers
        .iter()
        .find(|(k, _)| normalize_key(k) == norm_host)
        .map(|(_, v)| v)
    {
        return helper(name, &keys[0]);
    }
    let entry = cfg
        .auths
        .iter()
        .find(|(k, _)| normalize_key(k) == norm_host)
        .map(|(_, v)| v);
    if let Some(e) = entry {
        if let Some(tok) = e.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(HostCredentials::IdentityToken {
                username: e.username.clone(),
                token: tok.clone(),
            });
        }
        if let Some(auth) = e.auth.as_ref().filter(|a| !a.is_empty()) {
            let raw = base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| {
                Error::invalid(format!(
                    "Docker config {}: auths.{host}.auth is not base64; run `docker login {host}` again",
                    path.display()
                ))
            })?;
            let s = String::from_utf8_lossy(&raw);
            let (u, p) = s.split_once(':').ok_or_else(|| {
                Error::invalid(format!(
                    "Docker config {}: auths.{host}.auth is not user:password; run `docker login {host}` again",
                    path.display()
                ))
            })?;
            return Ok(HostCredentials::Basic {
                username: u.into(),
                password: p.into(),
            });
        }
        if let (Some(u), Some(p)) = (&e.username, &e.password) {
            return Ok(HostCredentials::Basic {
                username: u.clone(),
                password: p.clone(),
            });
        }
    }
    if let Some(store) = cfg.creds_store.as_ref().filter(|s| !s.is_empty()) {
        return helper(store, &keys[0]);
    }
    Ok(HostCredentials::None)
}

#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-<name> get` with the server URL on stdin.
fn run_helper(name: &str, server: &str) -> Result<HostCredentials> {
    let prog = format!("docker-credential-{name}");
    let mut child = Command::new(&prog)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::new(ErrorKind::Auth, format!(
                "cannot run credential helper {prog} for {server}: {e}; install it or remove it from the Docker config"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| {
        Error::new(
            ErrorKind::Auth,
            format!("credential helper {prog} failed: {e}"),
        )
    })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout);
        let msg = msg.trim();
        // "credentials not found in native keychain" means: anonymous.
        if msg.contains("not found") || String::from_utf8_lossy(&out.stderr).contains("not found") {
            return Ok(HostCredentials::None);
        }
        return Err(Error::new(
            ErrorKind::Auth,
            format!(
                "credential helper {prog} failed for {server}: {}",
                if msg.is_empty() {
                    String::from_utf8_lossy(&out.stderr).trim().to_string()
                } else {
                    msg.to_string()
                }
            ),
        ));
    }
    let reply: HelperReply = serde_json::from_slice(&out.stdout).map_err(|e| {
        Error::new(
            ErrorKind::Auth,
            format!("credential helper {prog} printed invalid JSON for {server}: {e}"),
        )
    })?;
    if reply.username == "<token>" {
        Ok(HostCredentials::IdentityToken {
            username: None,
            token: reply.secret,
        })
    } else {
        Ok(HostCredentials::Basic {
            username: reply.username,
            password: reply.secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_helper(_: &str, _: &str) -> Result<HostCredentials> {
        panic!("helper not expected")
    }

    #[test]
    fn inline_auths() {
        let cfg = r#"{"auths":{"https://127.0.0.1:5000/v1/":{"auth":"dXNlcjpwYTpzcw=="},
            "ghcr.io":{"identitytoken":"tok","username":"me"}}}"#;
        let p = Path::new("config.json");
        assert_eq!(
            docker_config_lookup(cfg, p, "127.0.0.1:5000", &no_helper).unwrap(),
            HostCredentials::Basic {
                username: "user".into(),
                password: "pa:ss".into()
            }
        );
        assert_eq!(
            docker_config_lookup(cfg, p, "ghcr.io", &no_helper).unwrap(),
            HostCredentials::IdentityToken {
                username: Some("me".into()),
                token: "tok".into()
            }
        );
        assert_eq!(
            docker_config_lookup(cfg, p, "other.io", &no_helper).unwrap(),
            HostCredentials::None
        );
    }

    #[test]
    fn helpers_take_precedence() {
        let cfg = r#"{"auths":{"a.io":{}},"credsStore":"desktop","credHelpers":{"b.io":"gcr"}}"#;
        let seen = std::cell::RefCell::new(Vec::new());
        let h = |name: &str, server: &str| {
            seen.borrow_mut().push(format!("{name} {server}"));
            Ok(HostCredentials::None)
        };
        let p = Path::new("c");
        docker_config_lookup(cfg, p, "b.io", &h).unwrap();
        docker_config_lookup(cfg, p, "a.io", &h).unwrap();
        docker_config_lookup(cfg, p, "docker.io", &h).unwrap();
        assert_eq!(
            *seen.borrow(),
            [
                "gcr b.io",
                "desktop a.io",
                "desktop https://index.docker.io/v1/"
            ]
        );
    }
}
