//! The tail every source shares once it has its model files and their
//! source states: read the model headers → pack (unless raw) → plan →
//! emit the layout → solve.

use llb::State;

use crate::emit;
use crate::gateway::{Bridge, GatewayError, Reference};
use crate::options::Request;
use crate::selfimage;
use modelpack::plan::{self, ModelInfo, PlanFile};

/// Packages `files` (whose origins index `sources`) into an OCI layout
/// described by `info` and by what the files' headers say, and solves it, so that a failing fetch surfaces
/// here where the caller can explain it.
pub async fn layout(
    bridge: &mut Bridge,
    image: &State,
    request: &Request,
    files: Vec<PlanFile>,
    mut sources: Vec<State>,
    info: &ModelInfo,
) -> Result<Reference, GatewayError> {
    let described = selfimage::describe_files(bridge, image, &files, &sources, !request.name_given).await?;
    let info = ModelInfo { described, ..info.clone() };
    let files =
        selfimage::pack_files(bridge, image, files, &mut sources, request.packaging, request.compress_weights).await?;
    let plan = plan::build(files, &info, request.packaging)?;
    let layout = emit::layout(&plan, &sources, &request.name);
    bridge.solve_evaluated(layout.to_definition()).await
}
