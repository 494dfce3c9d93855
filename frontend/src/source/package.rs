//! The tail every source shares once it has its model files and their
//! source states: read the model headers → pack (unless raw) → plan →
//! emit the requested output → solve.

use std::collections::BTreeSet;

use llb::State;

use crate::emit::{self, EarlyBlob};
use crate::gateway::{GatewayError, Reference, Solve};
use crate::options::{OutputMode, Request};
use crate::output::{Metadata, Output};
use crate::steps;
use modelpack::mediatype::classify;
use modelpack::plan::{ModelInfo, PlanFile};
use modelpack::LayerPackaging;

/// A source's model files and the states they come from.
pub struct Fetched {
    /// The model files; their origins index `sources`.
    pub files: Vec<PlanFile>,
    /// The states the files come from.
    pub sources: Vec<State>,
    /// A source that holds exactly the files whose origin it is, each at its
    /// blob path (`/blobs/sha256/<hex>` of its own digest), if any.
    pub blob_source: Option<usize>,
    /// A state holding some files' bytes at their blob paths, nothing
    /// else, and their digests (the Hub's small files, written there by
    /// their scan): copied into a layout in one action when every one of
    /// them is a raw layer.
    pub raw_blobs: Option<(State, BTreeSet<String>)>,
    /// A source holding only small files (the Hub's downloaded small
    /// files), which a step may mount whole to pack many of them at once.
    pub small_source: Option<usize>,
    /// Every source's definition pins its content (checksummed downloads),
    /// so steps reading the files are keyed by it instead of BuildKit
    /// hashing the files first. Not for the build context, whose
    /// definition names only the session.
    pub pinned: bool,
}

impl Fetched {
    /// Files from `sources`, none of them at a blob path.
    pub fn new(files: Vec<PlanFile>, sources: Vec<State>) -> Self {
        Fetched {
            files,
            sources,
            blob_source: None,
            raw_blobs: None,
            small_source: None,
            pinned: false,
        }
    }
}

/// The format each file gets, as the request and output say (the layer
/// packaging, per kind when the recipe sets it, and `compress_weights`).
pub fn format_of<'a>(
    request: &'a Request,
    output: &Output,
) -> impl Fn(&PlanFile) -> LayerPackaging + 'a {
    let compress_weights = output.compress_weights(request.compress_weights);
    let asked = output.packaging();
    let per_kind = request
        .extras
        .packaging
        .as_ref()
        .filter(|_| asked != LayerPackaging::Raw);
    move |f: &PlanFile| {
        let kind = classify(&f.path, f.size).0;
        match per_kind {
            Some(table) => table.for_kind(kind, asked, compress_weights),
            None => asked.for_kind(kind, compress_weights),
        }
    }
}

/// Packages the fetched files into an OCI layout
/// described by `info` and by what the files' headers say, and solves it,
/// so that a failing fetch surfaces here where the caller can explain it.
/// `pending` is a check of the caller's (e.g. the downloaded sizes) run
/// alongside; the result is returned only if it passes.
pub async fn layout(
    bridge: &dyn Solve,
    image: &State,
    request: &Request,
    output: &Output,
    fetched: Fetched,
    info: &ModelInfo,
    pending: impl std::future::Future<Output = Result<(), GatewayError>>,
) -> Result<(Reference, Metadata), GatewayError> {
    let Fetched {
        files,
        mut sources,
        blob_source,
        raw_blobs,
        small_source,
        pinned,
    } = fetched;
    let mut annotations = info.annotations.clone();
    annotations.extend(
        request
            .extras
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let format_of = format_of(request, output);
    // Files that stay raw are their own blobs: a layout can copy them into
    // place now, while the headers are read and the other files packed.
    let early = if output.mode == OutputMode::Layout {
        let in_blob_source = |f: &PlanFile| Some(f.origin.source) == blob_source;
        let base = blob_source.map(|i| {
            (
                &sources[i],
                files
                    .iter()
                    .filter(|f| in_blob_source(f))
                    .map(|f| f.digest.clone())
                    .collect(),
            )
        });
        let stays_raw = |f: &PlanFile| !in_blob_source(f) && format_of(f) == LayerPackaging::Raw;
        let raw_layers: BTreeSet<&str> = files
            .iter()
            .filter(|f| stays_raw(f))
            .map(|f| f.digest.as_str())
            .collect();
        // Blobs written by a step go in whole when each is a raw layer.
        let whole = raw_blobs
            .as_ref()
            .filter(|(_, digests)| digests.iter().all(|d| raw_layers.contains(d.as_str())));
        let raw = files.iter().filter(|f| stays_raw(f)).map(|f| EarlyBlob {
            from: &sources[f.origin.source],
            path: &f.origin.path,
            digest: &f.digest,
            size: f.size,
        });
        emit::early_blobs(
            base,
            whole.map(|(state, digests)| (state, digests)),
            raw,
            &request.name,
        )
    } else {
        None
    };
    let copy_early = async {
        match &early {
            Some(e) => bridge
                .solve_evaluated(e.state.to_definition())
                .await
                .map(drop),
            None => Ok(()),
        }
    };
    // Reading the headers, packing and the early copies are independent:
    // solve them together, with whatever else the caller still checks.
    let (described, packed, copied, checked) = futures_util::future::join4(
        steps::describe_files(bridge, image, &files, &sources, !request.name_given, pinned),
        steps::pack_files(
            bridge,
            image,
            files.clone(),
            &sources,
            format_of,
            pinned,
            small_source,
        ),
        copy_early,
        pending,
    )
    .await;
    // A failing fetch shows in all; report it as reading the headers did before.
    let (described, card) = described?;
    let packed = packed?;
    copied?;
    checked?;
    sources.extend(packed.states);
    let info = ModelInfo {
        described,
        annotations,
        media_types: request.media_types,
        ..info.clone()
    };
    let plan = output.plan(packed.files, &info)?;
    // The model's documents (a layout's referrers): `files` still has each
    // file's own sha256, from before packing.
    let referrers = if output.mode == OutputMode::Layout {
        crate::attest::referrers(
            bridge,
            request,
            &plan,
            &files,
            card,
            info.revision.as_deref(),
        )
        .await?
    } else {
        Vec::new()
    };
    // The layout takes whole every tree of blobs that holds only blobs of
    // this plan: the raw blobs copied early, the packed weights' chain, the
    // batch of packed small files.
    let (result, metadata) = output.emit_with(
        &plan,
        &sources,
        &request.name,
        early.into_iter().chain(packed.trees),
        Some(image),
        &referrers,
    )?;
    let result = match &output.bundle {
        Some(apps) => crate::bundle::bundle_layout(
            image,
            &result,
            apps,
            &request.name,
            request.source_date_epoch,
        ),
        None => result,
    };
    let solved = if output.mode == OutputMode::Layout {
        bridge.solve_result(&result).await?
    } else {
        bridge.solve_evaluated(result.to_definition()).await?
    };
    Ok((solved, metadata))
}
