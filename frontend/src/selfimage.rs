//! Our own image as a build-graph state, so build steps can re-execute this
//! binary (no shell, no third-party image, nothing pulled).

use anyhow::{Context, Result};
use llb::proto::pb;
use llb::{Exec, Imported, Mount, NetMode, State};
use prost::Message;

use crate::gateway::{Bridge, GatewayError};
use modelpack::LayerPackaging;
use modelpack::pack::{Written, BLOB_FILE, LAYER_FILE};
use modelpack::plan::{Origin, Packed, PlanFile};
use modelpack::scan::{Listing, LISTING_FILE};

/// Where buildkitd mounts the marshalled definition of the frontend image.
pub const FRONTEND_BIN: &str = "/run/config/buildkit/metadata/frontend.bin";
/// Path of this binary inside the frontend image.
pub const BINARY: &str = "/modelpack-frontend";

/// Loads the frontend image's definition; fails clearly when run elsewhere.
pub fn own_image() -> Result<State> {
    let bytes = std::fs::read(FRONTEND_BIN).with_context(|| {
        format!("reading {FRONTEND_BIN}: this BuildKit does not tell the frontend its own image (needs BuildKit >= 0.10)")
    })?;
    let def = pb::Definition::decode(bytes.as_slice())
        .with_context(|| format!("decoding {FRONTEND_BIN}"))?;
    Ok(Imported::from_definition(def).map_err(anyhow::Error::msg)?.into_state())
}

/// A step that lists and hashes every file of `tree` (network off); its
/// result holds [`LISTING_FILE`].
pub fn scan_step(image: &State, tree: &State, what: &str, git_sha1: bool) -> State {
    let mut args = vec![BINARY, "scan"];
    if git_sha1 {
        args.push(modelpack::scan::GIT_SHA1_FLAG);
    }
    args.extend(["/src", "/out"]);
    Exec::new(image, args)
        .network(NetMode::None)
        .mount(Mount::bind("/src", tree).readonly())
        .mount(Mount::bind("/out", &State::scratch()))
        .custom_name(&format!("hash {what}"))
        .build()
        .output("/out")
        .expect("/out is a writable mount")
}

/// Runs [`scan_step`] on `tree` and reads back its listing.
pub async fn scan_listing(
    bridge: &mut Bridge,
    image: &State,
    tree: &State,
    what: &str,
    git_sha1: bool,
) -> Result<Listing, GatewayError> {
    let step = scan_step(image, tree, what, git_sha1);
    // Evaluated here rather than lazily on ReadFile: with many sources
    // (1000+ files) a lazy ReadFile was seen to stall BuildKit 0.13.
    let r = bridge.solve_evaluated(step.to_definition()).await?;
    let bytes = bridge.read_file(&r, LISTING_FILE).await?;
    let listing = serde_json::from_slice(&bytes).with_context(|| format!("reading the listing of {what}"))?;
    Ok(listing)
}

/// A step packing the file at `path` of `tree` as a tar layer named `name`
/// (network off). Only that file is mounted, so BuildKit caches the step
/// per file content; its result holds the blob and its description.
pub fn pack_step(image: &State, tree: &State, path: &str, name: &str, mode: u32, format: LayerPackaging) -> State {
    let mode = format!("{mode:o}");
    Exec::new(image, [BINARY, "pack-layer", format.suffix(), name, mode.as_str(), "/src/file", "/out"])
        .network(NetMode::None)
        .mount(Mount::bind("/src/file", tree).readonly().selector(path.trim_start_matches('/')))
        .mount(Mount::bind("/out", &State::scratch()))
        .custom_name(&format!("pack {name} as {}", format.suffix()))
        .build()
        .output("/out")
        .expect("/out is a writable mount")
}

/// Turns raw plan files into tar layers of `format`, one pack step each;
/// the new blobs' states are appended to `sources`. Raw stays as it is.
pub async fn pack_files(
    bridge: &mut Bridge,
    image: &State,
    files: Vec<PlanFile>,
    sources: &mut Vec<State>,
    format: LayerPackaging,
) -> Result<Vec<PlanFile>, GatewayError> {
    if format == LayerPackaging::Raw {
        return Ok(files);
    }
    let mut packed = Vec::with_capacity(files.len());
    for mut f in files {
        let out = pack_step(image, &sources[f.origin.source], &f.origin.path, &f.path, f.mode(), format);
        let r = bridge.solve_evaluated(out.to_definition()).await?;
        let written: Written = serde_json::from_slice(&bridge.read_file(&r, LAYER_FILE).await?)
            .with_context(|| format!("reading the pack result of {}", f.path))?;
        sources.push(out);
        f.origin = Origin { source: sources.len() - 1, path: format!("/{BLOB_FILE}") };
        f.digest = written.digest;
        f.packed = Some(Packed { blob_size: written.size, diff_id: written.diff_id });
        packed.push(f);
    }
    Ok(packed)
}
