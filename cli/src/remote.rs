//! What the registry commands share: the registry flags (TLS, auth,
//! concurrency), the client they build, telling a registry reference from
//! a layout path, and fetching a reference into a temporary layout so the
//! layout code (validate, inspect, unpack) runs on it unchanged.
//!
//! The rule for `LAYOUT[:NAME]` versus `REF`: an argument naming an
//! existing directory (whole, or before its last `:NAME`) is a layout;
//! anything else is parsed as a registry reference
//! `host[:port]/repository[:tag][@digest]`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use modelpack::layout::LayoutRef;
use oci_registry::{
    Client, ClientOptions, Credentials, Digest, Fix, Progress, Reference, OCI_MANIFEST,
};

use super::progress::Bars;
use super::{text, Failure};

/// The `--name` used inside temporary layouts fetched from a registry.
const FETCHED: &str = "fetched";

/// Parsed registry flags.
#[derive(Debug, Default)]
pub struct RegistryFlags {
    plain_http: bool,
    ca_file: Option<PathBuf>,
    username: Option<String>,
    password_stdin: bool,
    concurrency: Option<usize>,
    /// The password read from stdin, kept for every client of the command
    /// (stdin can be read once).
    password: std::sync::OnceLock<String>,
}

impl RegistryFlags {
    /// True when `--flag` is one of the registry flags.
    pub fn knows(flag: &str) -> bool {
        matches!(
            flag,
            "username" | "password-stdin" | "plain-http" | "ca-file" | "concurrency"
        )
    }

    /// Takes the registry flag `--flag` (one [`RegistryFlags::knows`]),
    /// reading its value from `p` when it has one.
    pub fn take(&mut self, flag: &str, p: &mut lexopt::Parser) -> Result<(), Failure> {
        match flag {
            "username" => self.username = Some(text(p, "--username")?),
            "password-stdin" => self.password_stdin = true,
            "plain-http" => self.plain_http = true,
            "ca-file" => self.ca_file = Some(text(p, "--ca-file")?.into()),
            "concurrency" => {
                let v = text(p, "--concurrency")?;
                match v.parse::<usize>() {
                    Ok(n) if (1..=64).contains(&n) => self.concurrency = Some(n),
                    _ => {
                        return Err(Failure::Usage(format!(
                            "--concurrency: {v:?} is not a number from 1 to 64"
                        )))
                    }
                }
            }
            other => return Err(Failure::Usage(format!("unknown flag --{other}"))),
        }
        Ok(())
    }

    /// Usage errors among the flags, found before any work is done.
    pub fn check(&self) -> Result<(), Failure> {
        match (&self.username, self.password_stdin) {
            (None, true) => Err(Failure::Usage("--password-stdin needs --username".into())),
            (Some(_), false) => Err(Failure::Usage(
                "--username needs --password-stdin (pipe the password in, e.g. `echo \"$TOKEN\" | … --password-stdin`)".into(),
            )),
            _ => match &self.ca_file {
                Some(ca) if !ca.is_file() => Err(Failure::Usage(format!("--ca-file {}: no such file", ca.display()))),
                _ => Ok(()),
            },
        }
    }

    /// Where credentials come from; reads stdin for `--password-stdin`.
    fn credentials(&self) -> Result<Credentials, Failure> {
        self.check()?;
        match (&self.username, self.password_stdin) {
            (Some(user), true) => {
                let password = match self.password.get() {
                    Some(p) => p.clone(),
                    None => {
                        let mut password = String::new();
                        std::io::stdin()
                            .read_to_string(&mut password)
                            .context("reading the password from stdin")?;
                        let password = password.strip_suffix('\n').unwrap_or(&password);
                        let password = password.strip_suffix('\r').unwrap_or(password).to_string();
                        self.password.get_or_init(|| password).clone()
                    }
                };
                if password.is_empty() {
                    return Err(Failure::Usage(
                        "--password-stdin: stdin was empty; pipe the password in".into(),
                    ));
                }
                Ok(Credentials::Basic {
                    username: user.clone(),
                    password,
                })
            }
            _ => Ok(Credentials::DockerConfig(None)),
        }
    }

    /// A client with these settings, reporting transfers to `progress`.
    pub fn client(&self, progress: Option<Arc<dyn Progress>>) -> Result<Client, Failure> {
        let opts = ClientOptions {
            plain_http: self.plain_http,
            ca_file: self.ca_file.clone(),
            credentials: self.credentials()?,
            concurrency: self.concurrency.unwrap_or(4),
            progress,
            ..Default::default()
        };
        Client::new(opts).map_err(|e| Failure::Failed(registry_error(e)))
    }
}

/// A command's subject: a local layout or a registry reference.
#[derive(Debug)]
pub enum Subject {
    /// An OCI image layout on disk.
    Layout(LayoutRef),
    /// A manifest in a registry.
    Remote(Reference),
}

/// Tells a layout from a reference (see the module docs for the rule).
/// The arguments `validate`, `inspect` and `unpack` share: registry flags,
/// `--json` and `-o DIR` where the command takes them, and one
/// `LAYOUT[:NAME]` or `REF`.
#[derive(Debug, Default)]
pub struct SubjectArgs {
    /// The positional `LAYOUT[:NAME]` or `REF`.
    pub target: String,
    /// Registry flags (for a `REF`).
    pub flags: RegistryFlags,
    /// `--json` was given.
    pub json: bool,
    /// `-o`/`--output`, if given.
    pub out: Option<PathBuf>,
    /// The command's own switches that were given (see [`SubjectArgs::parse_with`]).
    pub switches: Vec<String>,
    /// The command's own flags with a value that were given (see
    /// [`SubjectArgs::parse_with_values`]), by flag name.
    pub values: std::collections::BTreeMap<String, String>,
}

impl SubjectArgs {
    /// Parses the command line; `json` and `output` say whether the command
    /// takes `--json` and `-o DIR` (anything else is a usage error).
    pub fn parse(p: &mut lexopt::Parser, json: bool, output: bool) -> Result<SubjectArgs, Failure> {
        Self::parse_with(p, json, output, &[])
    }

    /// [`SubjectArgs::parse`], also taking the switches (flags without a
    /// value) named in `switches`.
    pub fn parse_with(
        p: &mut lexopt::Parser,
        json: bool,
        output: bool,
        switches: &[&str],
    ) -> Result<SubjectArgs, Failure> {
        Self::parse_with_values(p, json, output, switches, &[])
    }

    /// [`SubjectArgs::parse_with`], also taking the flags with a value
    /// named in `values`.
    pub fn parse_with_values(
        p: &mut lexopt::Parser,
        json: bool,
        output: bool,
        switches: &[&str],
        values: &[&str],
    ) -> Result<SubjectArgs, Failure> {
        let mut a = SubjectArgs::default();
        let mut target = None;
        while let Some(arg) = p.next()? {
            match arg {
                lexopt::Arg::Long("json") if json => a.json = true,
                lexopt::Arg::Long(l) if switches.contains(&l) => a.switches.push(l.to_string()),
                lexopt::Arg::Long(l) if values.contains(&l) => {
                    let l = l.to_string();
                    let v = text(p, &format!("--{l}"))?;
                    a.values.insert(l, v);
                }
                lexopt::Arg::Short('o') | lexopt::Arg::Long("output") if output => {
                    a.out = Some(text(p, "--output")?.into())
                }
                lexopt::Arg::Long(l) if RegistryFlags::knows(l) => {
                    let l = l.to_string();
                    a.flags.take(&l, p)?;
                }
                lexopt::Arg::Value(v) if target.is_none() => {
                    target = Some(super::positional(v, "LAYOUT")?)
                }
                other => return Err(super::unexpected(other)),
            }
        }
        a.flags.check()?;
        a.target = target.ok_or_else(|| Failure::Usage("LAYOUT[:NAME] is required".into()))?;
        Ok(a)
    }
}

/// Reads `arg` as a layout or a registry reference (see [`Subject`]).
pub fn subject(arg: &str) -> Result<Subject, Failure> {
    let r = LayoutRef::parse(arg);
    if r.dir.is_dir() {
        return Ok(Subject::Layout(r));
    }
    match Reference::parse(arg) {
        Ok(reference) => Ok(Subject::Remote(reference)),
        Err(e) => Err(Failure::Failed(anyhow!(
            "{arg:?} is neither an existing layout directory nor a registry reference: {e}"
        ))),
    }
}

/// A registry error as the CLI shows it: the library's [`Fix`] spelled as
/// this command line's flags.
pub fn registry_error(e: oci_registry::Error) -> anyhow::Error {
    match e.fix() {
        Some(fix) => anyhow!("{}; {}", e.message(), fix_in_flags(fix)),
        None => anyhow!("{}", e.message()),
    }
}

/// What to do about a registry error, in this command line's flags.
fn fix_in_flags(fix: &Fix) -> String {
    match fix {
        Fix::CaFile => "if the registry uses a private CA, pass it with --ca-file".into(),
        Fix::PlainHttp => "is it a plain-HTTP registry? then pass --plain-http".into(),
        Fix::Credentials { host } => {
            format!("log in with `docker login {host}` or pass --username with --password-stdin")
        }
        other => other.describe(),
    }
}

/// `e` with, when `arg` named no registry host of its own (so the
/// default registry was assumed), a note on how `arg` was read.
pub fn explain(arg: &str, reference: &Reference, e: anyhow::Error) -> anyhow::Error {
    if arg.starts_with(reference.registry()) {
        e
    } else {
        e.context(format!(
            "{arg} is no directory, so it was read as the registry reference {reference}"
        ))
    }
}

/// Pulls `reference` (manifest, config, every layer, each verified while
/// it streams) into a fresh layout under `parent` (the system temp folder
/// when `None`), with live progress. The layout is removed when the
/// returned guard drops.
pub fn fetch_all(
    flags: &RegistryFlags,
    reference: &Reference,
    parent: Option<&Path>,
) -> anyhow::Result<Fetched> {
    let dir = temp_dir(parent)?;
    let bars = Bars::new(Default::default());
    let client = flags
        .client(Some(bars.clone() as Arc<dyn Progress>))
        .inspect_err(|_| bars.finish())
        .map_err(failure_error)?;
    let reference = &super::resolve::resolve_model(&client, reference, registry_error)
        .inspect_err(|_| bars.finish())?;
    let result = client.pull_to_layout(reference, dir.path(), Some(FETCHED));
    bars.finish();
    let s = result.map_err(|e| registry_error(e).context(format!("pull of {reference}")))?;
    super::step(&format!(
        "fetched {reference} ({}): {} blobs, {}",
        s.manifest_digest,
        s.blobs_downloaded,
        super::human(s.bytes_received)
    ));
    Ok(Fetched::new(dir))
}

/// Pulls the referrers of `subject` (the manifest digest fetched from
/// `reference`) into the layout `fetched`, after the model.
pub fn fetch_referrers(
    flags: &RegistryFlags,
    reference: &Reference,
    subject: &str,
    fetched: &Fetched,
) -> anyhow::Result<usize> {
    let client = flags.client(None).map_err(failure_error)?;
    let at = reference.with_digest(Digest::parse(subject).map_err(registry_error)?);
    let entries = client.referrers(&at).map_err(registry_error)?;
    for e in &entries {
        let d = Digest::parse(&e.digest).map_err(registry_error)?;
        client
            .pull_to_layout(&reference.with_digest(d), fetched.dir.path(), None)
            .map_err(|e| registry_error(e).context(format!("pull of a referrer of {reference}")))?;
    }
    Ok(entries.len())
}

/// Fetches only the manifest and config of `reference` into a temporary
/// layout (enough for `inspect`, which does not read layers).
pub fn fetch_head(flags: &RegistryFlags, reference: &Reference) -> anyhow::Result<Fetched> {
    let dir = temp_dir(None)?;
    let client = flags.client(None).map_err(failure_error)?;
    let reference = &super::resolve::resolve_model(&client, reference, registry_error)?;
    let m = client
        .get_manifest(reference, &[OCI_MANIFEST])
        .map_err(registry_error)?;
    let doc: serde_json::Value = serde_json::from_slice(&m.bytes)
        .with_context(|| format!("manifest of {reference} is not JSON"))?;
    let config = doc["config"]["digest"].as_str().ok_or_else(|| {
        anyhow!("manifest of {reference} has no config digest; it is not an image manifest")
    })?;
    let config = Digest::parse(config).map_err(|e| anyhow!("manifest of {reference}: {e}"))?;
    let blobs = dir.path().join("blobs").join(m.digest.algorithm());
    std::fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
    std::fs::write(blobs.join(m.digest.hex()), &m.bytes).context("writing the fetched manifest")?;
    let cpath = dir
        .path()
        .join("blobs")
        .join(config.algorithm())
        .join(config.hex());
    std::fs::create_dir_all(cpath.parent().unwrap_or(dir.path()))
        .context("creating the blobs folder")?;
    let mut f =
        std::fs::File::create(&cpath).with_context(|| format!("creating {}", cpath.display()))?;
    client
        .pull_blob(reference, &config, &mut f)
        .map_err(|e| registry_error(e).context(format!("config of {reference}")))?;
    std::fs::write(dir.path().join("oci-layout"), oci_registry::OCI_LAYOUT)
        .context("writing oci-layout")?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": oci_registry::OCI_INDEX,
        "manifests": [{
            "mediaType": m.media_type,
            "digest": m.digest.to_string(),
            "size": m.bytes.len(),
            "annotations": { oci_registry::ANNOTATION_REF_NAME: FETCHED },
        }],
    });
    std::fs::write(dir.path().join("index.json"), index.to_string())
        .context("writing index.json")?;
    Ok(Fetched::new(dir))
}

fn temp_dir(parent: Option<&Path>) -> anyhow::Result<tempfile::TempDir> {
    let b = tempfile::Builder::new()
        .prefix(".modelpack-fetch-")
        .tempdir_in(match parent {
            Some(p) => p.to_path_buf(),
            None => std::env::temp_dir(),
        });
    b.context("creating a temporary layout folder (set TMPDIR to a writable folder)")
}

fn failure_error(f: Failure) -> anyhow::Error {
    match f {
        Failure::Usage(m) => anyhow!(m),
        Failure::Failed(e) => e,
    }
}

/// A layout fetched from a registry, deleted on drop.
pub struct Fetched {
    dir: tempfile::TempDir,
}

impl Fetched {
    fn new(dir: tempfile::TempDir) -> Self {
        Fetched { dir }
    }

    /// The layout and the name of its one manifest.
    pub fn layout_ref(&self) -> LayoutRef {
        LayoutRef {
            dir: self.dir.path().to_path_buf(),
            name: Some(FETCHED.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_name_the_fix_as_this_command_lines_flags() {
        let e =
            |fix| oci_registry::Error::new(oci_registry::ErrorKind::Transport, "x").with_fix(fix);
        let shown = |fix| registry_error(e(fix)).to_string();
        assert_eq!(
            shown(Fix::PlainHttp),
            "x; is it a plain-HTTP registry? then pass --plain-http"
        );
        assert_eq!(
            shown(Fix::CaFile),
            "x; if the registry uses a private CA, pass it with --ca-file"
        );
        assert_eq!(
            shown(Fix::Credentials {
                host: "r.example".into()
            }),
            "x; log in with `docker login r.example` or pass --username with --password-stdin"
        );
        let plain = oci_registry::Error::new(oci_registry::ErrorKind::NotFound, "gone");
        assert_eq!(registry_error(plain).to_string(), "gone");
    }

    #[test]
    fn existing_directories_are_layouts_and_the_rest_references() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_str().unwrap().to_string();
        assert!(matches!(subject(&dir), Ok(Subject::Layout(r)) if r.name.is_none()));
        assert!(
            matches!(subject(&format!("{dir}:tiny")), Ok(Subject::Layout(r)) if r.name.as_deref() == Some("tiny"))
        );
        match subject("127.0.0.1:5000/org/model:v1") {
            Ok(Subject::Remote(r)) => assert_eq!(r.to_string(), "127.0.0.1:5000/org/model:v1"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            subject("/nonexistent/layout"),
            Err(Failure::Failed(_))
        ));
    }

    #[test]
    fn username_and_password_stdin_go_together() {
        let f = RegistryFlags {
            username: Some("u".into()),
            ..Default::default()
        };
        assert!(matches!(f.credentials(), Err(Failure::Usage(_))));
        let f = RegistryFlags {
            password_stdin: true,
            ..Default::default()
        };
        assert!(matches!(f.credentials(), Err(Failure::Usage(_))));
        assert!(matches!(
            RegistryFlags::default().credentials(),
            Ok(Credentials::DockerConfig(None))
        ));
    }
}
