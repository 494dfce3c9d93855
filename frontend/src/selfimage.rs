//! Our own image as a build-graph state, so build steps can re-execute this
//! binary (no shell, no third-party image, nothing pulled).

use anyhow::{Context, Result};
use llb::proto::pb;
use llb::{Exec, Imported, Mount, NetMode, State};
use prost::Message;

use crate::gateway::{Bridge, GatewayError};
use modelpack::config::PartialConfig;
use modelpack::describe::{self, ModelFacts};
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
    bridge: &Bridge,
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

/// Name of the facts file in the `describe` step's output.
pub const FACTS_FILE: &str = "facts.json";

/// A step that reads the headers of `files` (each mounted read-only at
/// `/src/<model path>`, so only those files are in its cache key) and
/// writes what they say about the model to [`FACTS_FILE`] (network off).
pub fn describe_step(image: &State, files: &[&PlanFile], sources: &[State]) -> State {
    let out = format!("/out/{FACTS_FILE}");
    let mut args = vec![BINARY, "describe", "/src", out.as_str()];
    args.extend(files.iter().map(|f| f.path.as_str()));
    let mut exec = Exec::new(image, args).network(NetMode::None);
    for f in files {
        let mount = Mount::bind(&format!("/src/{}", f.path), &sources[f.origin.source])
            .readonly()
            .selector(f.origin.path.trim_start_matches('/'));
        exec = exec.mount(mount);
    }
    exec.mount(Mount::bind("/out", &State::scratch()))
        .custom_name(&format!("read model headers ({} files)", files.len()))
        .build()
        .output("/out")
        .expect("/out is a writable mount")
}

/// What the model's own files say (weights' headers, `config.json`, the
/// model card), read by a [`describe_step`] inside the build: only the
/// small facts JSON comes back over gRPC. `use_name` lets a name in the
/// files (GGUF `general.name`) set `descriptor.name`.
pub async fn describe_files(
    bridge: &Bridge,
    image: &State,
    files: &[PlanFile],
    sources: &[State],
    use_name: bool,
) -> Result<PartialConfig, GatewayError> {
    let wanted = describe::selection(files);
    if wanted.is_empty() {
        return Ok(PartialConfig::default());
    }
    let step = describe_step(image, &wanted, sources);
    let r = bridge.solve_evaluated(step.to_definition()).await?;
    let bytes = bridge.read_file(&r, FACTS_FILE).await?;
    let facts: ModelFacts =
        serde_json::from_slice(&bytes).context("reading what the model-header step found (facts.json)")?;
    Ok(facts.to_config(use_name))
}

/// How many pack steps are solved and read back at once. BuildKit runs
/// the steps of concurrent solves side by side (bounded by its own worker
/// parallelism); this only keeps the number of open gRPC calls sane for
/// repos with thousands of files.
pub const PACK_CONCURRENCY: usize = 64;

/// Turns plan files into tar layers, one pack step each, each file in the
/// format `format_of` gives it (files it gives `raw` stay as they are). All
/// steps are solved together (at most [`PACK_CONCURRENCY`] in flight), so
/// BuildKit packs independent files at the same time. Returns the files,
/// whose origins index `sources` followed by the returned new blob states,
/// in that order.
pub async fn pack_files(
    bridge: &Bridge,
    image: &State,
    files: Vec<PlanFile>,
    sources: &[State],
    format_of: impl Fn(&PlanFile) -> LayerPackaging,
) -> Result<(Vec<PlanFile>, Vec<State>), GatewayError> {
    type Job = (PlanFile, LayerPackaging);
    let (raw, to_pack): (Vec<Job>, Vec<Job>) = files
        .into_iter()
        .map(|f| {
            let format = format_of(&f);
            (f, format)
        })
        .partition(|(_, format)| *format == LayerPackaging::Raw);
    let jobs: Vec<(PlanFile, LayerPackaging, State)> = to_pack
        .into_iter()
        .map(|(f, format)| {
            let out = pack_step(image, &sources[f.origin.source], &f.origin.path, &f.path, f.mode(), format);
            (f, format, out)
        })
        .collect();
    // The first failure in file order is reported, as a sequential run would.
    let solves = jobs
        .iter()
        .map(|(f, _, out)| async move {
            let r = bridge.solve_evaluated(out.to_definition()).await?;
            let bytes = bridge.read_file(&r, LAYER_FILE).await?;
            let written: Written = serde_json::from_slice(&bytes)
                .with_context(|| format!("reading the pack result of {}", f.path))?;
            Ok(written)
        })
        .collect();
    let results: Vec<Written> = crate::deadline::all_in_order(solves, PACK_CONCURRENCY).await?;
    let mut packed: Vec<PlanFile> = raw.into_iter().map(|(f, _)| f).collect();
    let mut states = Vec::with_capacity(jobs.len());
    for ((mut f, format, out), written) in jobs.into_iter().zip(results) {
        f.origin = Origin { source: sources.len() + states.len(), path: format!("/{BLOB_FILE}") };
        f.digest = written.digest;
        f.packed = Some(Packed { blob_size: written.size, diff_id: written.diff_id, format });
        states.push(out);
        packed.push(f);
    }
    Ok((packed, states))
}
