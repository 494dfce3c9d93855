//! The tail every source shares once it has its model files and their
//! source states: read the model headers → pack (unless raw) → plan →
//! emit the requested output → solve.

use llb::State;

use crate::gateway::{Bridge, GatewayError, Reference};
use crate::options::Request;
use crate::output::{Metadata, Output};
use crate::selfimage;
use modelpack::plan::{ModelInfo, PlanFile};

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
    // Reading the headers and packing are independent: solve them together.
    let (described, packed) = futures_util::future::join(
        selfimage::describe_files(bridge, image, &files, &sources, !request.name_given),
        selfimage::pack_files(
            bridge,
            image,
            files.clone(),
            &sources,
            output.packaging(),
            output.compress_weights(request.compress_weights),
        ),
    )
    .await;
    // A failing fetch shows in both; report it as reading the headers did before.
    let described = described?;
    let (files, blobs) = packed?;
    let info = ModelInfo { described, ..info.clone() };
    sources.extend(blobs);
    let plan = output.plan(files, &info)?;
    let (result, metadata) = output.emit(&plan, &sources, &request.name)?;
    Ok((bridge.solve_evaluated(result.to_definition()).await?, metadata))
}
