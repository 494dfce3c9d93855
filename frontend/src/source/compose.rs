//! Several sources in one artifact (a recipe's `sources:` list): each source
//! lists its files as it does alone, its paths go under its `path`, their
//! states join one list, and the shared tail (describe → pack → plan →
//! emit → solve) runs once. Two sources giving the same path fail naming
//! both. Where the files came from is recorded in the manifest annotation
//! [`ANNOTATION_SOURCES`]: a JSON list of `{source, path, revision}`, the
//! revision being the pinned commit of each Hub source; with exactly one
//! Hub source, `descriptor.revision`/`sourceURL` are its commit and page.

use std::collections::BTreeMap;

use anyhow::anyhow;
use llb::State;
use serde_json::json;

use crate::gateway::{GatewayError, Reference, Solve};
use crate::options::Request;
use crate::output::{Metadata, Output};
use crate::source::{context, hub, package, url, SourceSpec};
use crate::steps;
use modelpack::patterns::PatternList;
use modelpack::plan::{ModelInfo, PlanFile};
use modelpack::recipe::RecipeSource;

/// Manifest annotation listing a composed artifact's sources.
pub const ANNOTATION_SOURCES: &str = "org.cncf.model.sources";

/// Packages the recipe's sources together into the requested output.
pub async fn build_layout(
    bridge: &dyn Solve,
    session: &str,
    request: &Request,
    output: &Output,
) -> Result<(Reference, Metadata), GatewayError> {
    let image = steps::own_image(bridge)?;
    let file = request.extras.file.clone();
    let mut files: Vec<PlanFile> = Vec::new();
    let mut states: Vec<State> = Vec::new();
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    let mut listed = Vec::new();
    let mut hubs = Vec::new();
    for (n, part) in request.extras.parts.iter().enumerate() {
        let mut sub = request.clone();
        sub.patterns = PatternList {
            include: part.include.clone(),
            exclude: part.exclude.clone(),
        };
        let (found, part_states, revision) =
            fetch(bridge, session, &sub, part).await.map_err(|e| {
                GatewayError::Local(anyhow!("{file}: sources[{n}] ({}): {e}", part.source))
            })?;
        let offset = states.len();
        for mut f in found {
            f.origin.source += offset;
            if let Some(p) = &part.path {
                f.path = format!("{p}/{}", f.path);
            }
            if let Some(&first) = owner.get(&f.path) {
                let a = &request.extras.parts[first];
                return Err(anyhow!(
                    "{file}: sources[{first}] ({}) and sources[{n}] ({}) both give {:?}; keep them apart with include/exclude or path",
                    a.source, part.source, f.path
                )
                .into());
            }
            owner.insert(f.path.clone(), n);
            files.push(f);
        }
        states.extend(part_states);
        listed.push(json!({"source": part.source, "path": part.path.clone().unwrap_or_default(), "revision": revision.as_ref().map(|r| &r.0)}));
        if let (Some(r), SourceSpec::HuggingFace(hf)) = (revision, &part.spec) {
            hubs.push((hf.web_url(&request.hf_endpoint), r));
        }
    }
    let (source_url, revision, date) = match hubs.as_slice() {
        [(url, r)] => (Some(url.clone()), Some(r.0.clone()), r.1.clone()),
        _ => (None, None, None),
    };
    let mut annotations = BTreeMap::new();
    // `org.cnai.model.sources` with media_types=cnai, in the artifact's namespace.
    let key = match request.media_types {
        modelpack::oci::Spelling::Cncf => ANNOTATION_SOURCES.to_string(),
        other => format!("{}sources", other.annotation_prefix()),
    };
    annotations.insert(
        key,
        serde_json::to_string(&listed).map_err(anyhow::Error::from)?,
    );
    let info = ModelInfo {
        name: request.name.clone(),
        created_at: request.created_at.clone().or(date),
        source_url,
        revision,
        overrides: request.overrides.clone(),
        annotations,
        ..Default::default()
    };
    package::layout(
        bridge,
        &image,
        request,
        output,
        package::Fetched::new(files, states),
        &info,
        std::future::ready(Ok(())),
    )
    .await
}

/// A Hub source's pinned commit and date.
struct Pin(String, Option<String>);

async fn fetch(
    bridge: &dyn Solve,
    session: &str,
    request: &Request,
    part: &RecipeSource,
) -> Result<(Vec<PlanFile>, Vec<State>, Option<Pin>), GatewayError> {
    Ok(match &part.spec {
        SourceSpec::Context(path) => {
            let (files, tree) = context::fetch(bridge, session, request, path.as_deref()).await?;
            (files, vec![tree], None)
        }
        SourceSpec::Url(urls) => {
            let (files, states) = url::fetch(bridge, request, urls).await?;
            (files, states, None)
        }
        SourceSpec::HuggingFace(hf) => {
            let (files, states, info) = hub::fetch_pinned(bridge, request, hf).await?;
            (files, states, Some(Pin(info.commit, info.date)))
        }
    })
}
