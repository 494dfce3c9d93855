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
use modelpack::LayerPackaging;

/// Packages `files` (whose origins index `sources`) into an OCI layout
/// described by `info` and by what the files' headers say, and solves it, so that a failing fetch surfaces
/// here where the caller can explain it.
pub async fn layout(
    bridge: &Bridge,
    image: &State,
    request: &Request,
    output: &Output,
    files: Vec<PlanFile>,
    mut sources: Vec<State>,
    info: &ModelInfo,
) -> Result<(Reference, Metadata), GatewayError> {
    let mut annotations = info.annotations.clone();
    annotations.extend(request.extras.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    let compress_weights = output.compress_weights(request.compress_weights);
    let asked = output.packaging();
    let per_kind = request.extras.packaging.as_ref().filter(|_| asked != LayerPackaging::Raw);
    let format_of = |f: &PlanFile| {
        let kind = classify(&f.path, f.size).0;
        match per_kind {
            Some(table) => table.for_kind(kind, asked, compress_weights),
            None => asked.for_kind(kind, compress_weights),
        }
    };
    // Reading the headers and packing are independent: solve them together.
    let (described, packed) = futures_util::future::join(
        selfimage::describe_files(bridge, image, &files, &sources, !request.name_given),
        selfimage::pack_files(bridge, image, files.clone(), &sources, format_of),
    )
    .await;
    // A failing fetch shows in both; report it as reading the headers did before.
    let described = described?;
    let (files, blobs) = packed?;
    sources.extend(blobs);
    let info = ModelInfo { described, annotations, ..info.clone() };
    let plan = output.plan(files, &info)?;
    let (result, metadata) = output.emit(&plan, &sources, &request.name)?;
    Ok((bridge.solve_evaluated(result.to_definition()).await?, metadata))
}

