//! The tail every source shares once it has its model files and their
//! source states: read the model headers → pack (unless raw) → plan →
//! emit the requested output → solve.

use llb::State;

use crate::gateway::{Bridge, GatewayError, Reference};
use crate::options::Request;
use crate::output::{Metadata, Output};
use crate::selfimage;
use modelpack::mediatype::classify;
use modelpack::plan::{ModelInfo, PlanFile};
use modelpack::recipe::Packaging;
use modelpack::LayerPackaging;

/// Packages `files` (whose origins index `sources`) into an OCI layout
/// described by `info` and by what the files' headers say, and solves it, so that a failing fetch surfaces
/// here where the caller can explain it.
pub async fn layout(
    bridge: &mut Bridge,
    image: &State,
    request: &Request,
    output: &Output,
    files: Vec<PlanFile>,
    mut sources: Vec<State>,
    info: &ModelInfo,
) -> Result<(Reference, Metadata), GatewayError> {
    let described = selfimage::describe_files(bridge, image, &files, &sources, !request.name_given).await?;
    let mut annotations = info.annotations.clone();
    annotations.extend(request.extras.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    let info = ModelInfo { described, annotations, ..info.clone() };
    let compress_weights = output.compress_weights(request.compress_weights);
    let files = match &request.extras.packaging {
        Some(per_kind) if output.packaging() != LayerPackaging::Raw => {
            pack_by_kind(bridge, image, files, &mut sources, per_kind, output.packaging(), compress_weights).await?
        }
        _ => selfimage::pack_files(bridge, image, files, &mut sources, output.packaging(), compress_weights).await?,
    };
    let plan = output.plan(files, &info)?;
    let (result, metadata) = output.emit(&plan, &sources, &request.name)?;
    Ok((bridge.solve_evaluated(result.to_definition()).await?, metadata))
}

/// Packs each file in the format a recipe's `layer_packaging` map gives its
/// kind (`fallback` for kinds it does not name); `raw` files stay as they are.
async fn pack_by_kind(
    bridge: &mut Bridge,
    image: &State,
    files: Vec<PlanFile>,
    sources: &mut Vec<State>,
    per_kind: &Packaging,
    fallback: LayerPackaging,
    compress_weights: bool,
) -> Result<Vec<PlanFile>, GatewayError> {
    let mut groups: Vec<(LayerPackaging, Vec<PlanFile>)> = Vec::new();
    for f in files {
        let format = per_kind.for_kind(classify(&f.path, f.size).0, fallback, compress_weights);
        match groups.iter_mut().find(|(g, _)| *g == format) {
            Some((_, list)) => list.push(f),
            None => groups.push((format, vec![f])),
        }
    }
    let mut out = Vec::new();
    for (format, group) in groups {
        // Each group's format is already the one for its kind.
        out.extend(selfimage::pack_files(bridge, image, group, sources, format, true).await?);
    }
    Ok(out)
}
