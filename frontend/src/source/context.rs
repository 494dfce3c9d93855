//! The local build context as a source: a `local://context` transfer
//! limited to the requested path, then a scan step for sizes and digests.

use llb::State;

use crate::gateway::{GatewayError, Reference, Solve};
use crate::options::Request;
use crate::output::{Metadata, Output};
use crate::source::package;
use crate::steps;
use modelpack::context::{files, parse_dockerignore, Door, DEFAULT_EXCLUDES, DOCKERIGNORE};
use modelpack::plan::ModelInfo;

/// Packages the context (or `path` inside it) into the requested output.
pub async fn build_layout(
    bridge: &dyn Solve,
    session: &str,
    request: &Request,
    output: &Output,
    path: Option<&str>,
) -> Result<(Reference, Metadata), GatewayError> {
    let image = steps::own_image(bridge)?;
    let (files, tree) = fetch(bridge, session, request, path).await?;
    let info = ModelInfo {
        name: request.name.clone(),
        created_at: request.created_at.clone(),
        source_url: None,
        revision: None,
        overrides: request.overrides.clone(),
        ..Default::default()
    };
    package::layout(
        bridge,
        &image,
        request,
        output,
        package::Fetched::new(files, vec![tree]),
        &info,
        std::future::ready(Ok(())),
    )
    .await
}

/// The files of the context (or `path` inside it) selected by the
/// request's patterns, and the context's state they come from.
pub async fn fetch(
    bridge: &dyn Solve,
    session: &str,
    request: &Request,
    path: Option<&str>,
) -> Result<(Vec<modelpack::plan::PlanFile>, State), GatewayError> {
    let image = steps::own_image(bridge)?;
    let ignore = read_dockerignore(bridge, session).await?;
    let tree = state(session, path, &ignore);
    let what = format!("build context {}", path.unwrap_or("."));
    let listing = steps::scan_listing(bridge, &image, &tree, &what, false).await?;
    Ok((
        files(path, listing, &request.patterns, Door::Frontend)?,
        tree,
    ))
}

/// The context's `.dockerignore` patterns (none when there is no file).
pub async fn read_dockerignore(
    bridge: &dyn Solve,
    session: &str,
) -> Result<Vec<String>, GatewayError> {
    let r = bridge
        .solve(dockerignore_state(session).to_definition())
        .await?;
    match bridge.read_file(&r, DOCKERIGNORE).await {
        Ok(bytes) => Ok(parse_dockerignore(&String::from_utf8_lossy(&bytes))),
        Err(_) => Ok(Vec::new()),
    }
}

/// A state holding only the context's `.dockerignore`, if any.
pub fn dockerignore_state(session: &str) -> State {
    llb::source::local("context")
        .session(session)
        .include_patterns(&[DOCKERIGNORE.to_string()])
        .shared_key_hint("context:.dockerignore")
        .custom_name("load .dockerignore")
        .into_state()
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
