//! The local build context as a source: a `local://context` transfer
//! limited to the requested path, then a scan step for sizes and digests.

use anyhow::{bail, Result};
use llb::State;

use crate::gateway::{Bridge, GatewayError, Reference};
use crate::options::Request;
use crate::output::{Metadata, Output};
use modelpack::patterns::PatternList;
use modelpack::plan::{ModelInfo, Origin, PlanFile};
use modelpack::scan::Listing;
use crate::selfimage;
use crate::source::is_bookkeeping;

/// Packages the context (or `path` inside it) into the requested output.
pub async fn build_layout(
    bridge: &mut Bridge,
    session: &str,
    request: &Request,
    output: &Output,
    path: Option<&str>,
) -> Result<(Reference, Metadata), GatewayError> {
    let image = selfimage::own_image()?;
    let ignore = read_dockerignore(bridge, session).await?;
    let tree = state(session, path, &ignore);
    let what = format!("build context {}", path.unwrap_or("."));
    let listing = selfimage::scan_listing(bridge, &image, &tree, &what, false).await?;
    let files = files(path, listing, &request.patterns)?;
    let mut sources = vec![tree];
    let files = selfimage::pack_files(bridge, &image, files, &mut sources, output.packaging()).await?;
    let info = ModelInfo {
        name: request.name.clone(),
        created_at: request.created_at.clone(),
        source_url: None,
        revision: None,
    };
    let plan = output.plan(files, &info)?;
    let (result, metadata) = output.emit(&plan, &sources, &request.name)?;
    Ok((bridge.solve(result.to_definition()).await?, metadata))
}

/// The context's `.dockerignore` patterns (none when there is no file).
async fn read_dockerignore(bridge: &mut Bridge, session: &str) -> Result<Vec<String>, GatewayError> {
    let r = bridge.solve(dockerignore_state(session).to_definition()).await?;
    match bridge.read_file(&r, DOCKERIGNORE).await {
        Ok(bytes) => Ok(parse_dockerignore(&String::from_utf8_lossy(&bytes))),
        Err(_) => Ok(Vec::new()),
    }
}

/// Never transferred from the context: version-control and download-cache
/// folders, which are not part of a model.
pub const DEFAULT_EXCLUDES: &[&str] = &[".git", ".cache/huggingface"];

/// The `.dockerignore` of the context, as BuildKit's Dockerfile frontend
/// would honour it.
pub const DOCKERIGNORE: &str = ".dockerignore";

/// A state holding only the context's `.dockerignore`, if any.
pub fn dockerignore_state(session: &str) -> State {
    llb::source::local("context")
        .session(session)
        .include_patterns(&[DOCKERIGNORE.to_string()])
        .shared_key_hint("context:.dockerignore")
        .custom_name("load .dockerignore")
        .into_state()
}

/// Patterns of a `.dockerignore` file: one per line, `#` comments and blank
/// lines skipped, a leading `/` dropped.
pub fn parse_dockerignore(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix('!') {
            Some(rest) => format!("!{}", rest.trim_start_matches('/')),
            None => l.trim_start_matches('/').to_string(),
        })
        .filter(|l| !l.is_empty() && l != "!")
        .collect()
}

/// The context (or the part of it named by `path`) as a state, without
/// [`DEFAULT_EXCLUDES`] and the `.dockerignore` patterns.
pub fn state(session: &str, path: Option<&str>, ignore: &[String]) -> State {
    let shown = path.unwrap_or(".");
    let mut excludes: Vec<String> = DEFAULT_EXCLUDES.iter().map(|s| s.to_string()).collect();
    excludes.extend(ignore.iter().cloned());
    let mut src = llb::source::local("context")
        .session(session)
        .exclude_patterns(&excludes)
        .shared_key_hint(&format!("context:{shown}"))
        .custom_name(&format!("load build context {shown}"));
    if let Some(p) = path {
        src = src.include_patterns(&[p.to_string()]);
    }
    src.into_state()
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The directory that model paths are relative to: the named directory,
/// the parent of a named file, or the part of a glob before any wildcard.
fn base_dir(path: Option<&str>, listing: &Listing) -> String {
    let Some(p) = path else { return String::new() };
    if has_glob(p) {
        let fixed: Vec<&str> = p.split('/').take_while(|c| !has_glob(c)).collect();
        return fixed.join("/");
    }
    if listing.files.iter().any(|f| f.path == p) {
        return p.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
    }
    p.to_string()
}

/// Turns the scan of the context into model files (origin source 0).
pub fn files(path: Option<&str>, listing: Listing, patterns: &PatternList) -> Result<Vec<PlanFile>> {
    let base = base_dir(path, &listing);
    let prefix = if base.is_empty() { String::new() } else { format!("{base}/") };
    let mut out = Vec::new();
    let mut matched = 0usize;
    for f in listing.files {
        let Some(rel) = f.path.strip_prefix(&prefix) else { continue };
        matched += 1;
        if !patterns.keeps(rel) || (is_bookkeeping(rel) && !patterns.include.iter().any(|p| p == rel)) {
            continue;
        }
        out.push(PlanFile {
            path: rel.to_string(),
            size: f.size,
            digest: f.digest,
            executable: f.executable,
            origin: Origin { source: 0, path: format!("/{}", f.path) },
            packed: None,
        });
    }
    if matched == 0 {
        match path {
            Some(p) => bail!(
                "build-arg source: nothing in the build context matches {p:?}; paths are relative to the build context (the directory passed to docker buildx build)"
            ),
            None => bail!("build-arg source: the build context is empty; pass the model directory as the build context"),
        }
    }
    if out.is_empty() {
        bail!("build-args include/exclude left no file to package out of {matched}; check the patterns");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelpack::scan::ScannedFile;

    fn listing(paths: &[&str]) -> Listing {
        Listing {
            files: paths
                .iter()
                .map(|p| ScannedFile { path: p.to_string(), size: 1, digest: "sha256:00".into(), executable: false, git_sha1: None })
                .collect(),
        }
    }

    fn model_paths(path: Option<&str>, paths: &[&str]) -> Vec<String> {
        files(path, listing(paths), &PatternList::default()).unwrap().into_iter().map(|f| f.path).collect()
    }

    #[test]
    fn paths_are_relative_to_the_named_directory_or_file() {
        assert_eq!(model_paths(None, &["a.json", "d/b.bin"]), ["a.json", "d/b.bin"]);
        assert_eq!(model_paths(Some("models/tiny"), &["models/tiny/a.json", "models/tiny/x/b.bin"]), ["a.json", "x/b.bin"]);
        assert_eq!(model_paths(Some("models/m.gguf"), &["models/m.gguf"]), ["m.gguf"]);
        assert_eq!(model_paths(Some("models/*.gguf"), &["models/a.gguf", "models/b.gguf"]), ["a.gguf", "b.gguf"]);
    }

    #[test]
    fn origins_keep_the_context_path() {
        let f = files(Some("m"), listing(&["m/a.json"]), &PatternList::default()).unwrap();
        assert_eq!(f[0].origin, Origin { source: 0, path: "/m/a.json".into() });
    }

    #[test]
    fn a_path_that_matches_nothing_names_the_arg() {
        let err = files(Some("nope"), listing(&[]), &PatternList::default()).unwrap_err().to_string();
        assert!(err.starts_with("build-arg source: nothing in the build context matches \"nope\""), "{err}");
    }

    #[test]
    fn dockerignore_lines() {
        let text = "# comment\n\n/big.bin\n*.tmp\n!keep.tmp\n  spaced/  \n!\n";
        assert_eq!(parse_dockerignore(text), ["big.bin", "*.tmp", "!keep.tmp", "spaced/"]);
    }

    #[test]
    fn gitattributes_is_skipped_unless_included_by_name() {
        let none = PatternList::default();
        let f = files(None, listing(&[".gitattributes", "a.json"]), &none).unwrap();
        assert_eq!(f.len(), 1);
        let p = PatternList::parse(".gitattributes a.json", "");
        assert_eq!(files(None, listing(&[".gitattributes", "a.json"]), &p).unwrap().len(), 2);
    }

    #[test]
    fn patterns_filter_model_paths() {
        let p = PatternList::parse("*.json", "");
        let f = files(None, listing(&["a.json", "b.bin"]), &p).unwrap();
        assert_eq!(f.len(), 1);
        assert!(files(None, listing(&["b.bin"]), &p).is_err());
    }
}
