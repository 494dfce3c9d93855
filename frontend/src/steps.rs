//! The build steps that re-execute this binary from our own image (no
//! shell, no third-party image, nothing pulled): the LLB of `scan`,
//! `describe`, `pack-layer` and `pack-many`, how files are batched into
//! them, and reading their JSON answers back. The emitter side only: each
//! step's name, flags, output files and runner are in `modelpack-steps`.

use anyhow::{Context, Result};
use llb::{CopyOptions, Exec, FileOp, Mount, NetMode, State};

use std::collections::BTreeSet;

use crate::emit::EarlyBlobs;
use crate::gateway::{GatewayError, Solve};
use modelpack::config::PartialConfig;
use modelpack::describe::{self, ModelFacts};
use modelpack::pack::Written;
use modelpack::plan::PlanFile;
use modelpack::scan::Listing;
use modelpack::LayerPackaging;
use modelpack_steps::pack_layer::{BLOB_FILE, LAYER_FILE};
use modelpack_steps::scan::LISTING_FILE;
pub use modelpack_steps::BINARY;
use modelpack_steps::{pack_layer, pack_many};

/// The root of every step that runs this binary: a tree holding only
/// [`BINARY`], copied from the frontend image (whose definition buildkitd
/// hands us, [`Solve::frontend_image`]).
///
/// The steps stand on the copy, not on the image, because BuildKit keys a
/// copy by its content, the same on every engine, while an image is keyed
/// by how the engine stores it: a step run on the image itself, exported
/// to a remote cache by Docker 28 with the containerd image store, was
/// never matched by Docker 26 (classic store), and ran again there.
pub fn own_image(gateway: &dyn Solve) -> Result<State> {
    let image = gateway.frontend_image()?;
    Ok(FileOp::new(State::scratch())
        .copy(&image, BINARY, BINARY, CopyOptions::default())
        .custom_name("take the frontend's binary from its image")
        .into_state())
}

/// A step that lists and hashes every file of `tree` (network off): its
/// result holds [`LISTING_FILE`]; with `blobs`, its second output holds
/// every file of `tree` at its blob path (`/blobs/sha256/<hex>`).
fn scan_node(
    image: &State,
    tree: &State,
    what: &str,
    git_sha1: bool,
    blobs: bool,
) -> (State, Option<State>) {
    let mut args = vec![BINARY, modelpack_steps::scan::NAME];
    if git_sha1 {
        args.push(modelpack_steps::scan::GIT_SHA1_FLAG);
    }
    if blobs {
        args.extend([modelpack_steps::scan::BLOBS_FLAG, "/blobs"]);
    }
    args.extend(["/src", "/out"]);
    let mut exec = Exec::new(image, args)
        .network(NetMode::None)
        .mount(Mount::bind("/src", tree).readonly())
        .mount(Mount::bind("/out", &State::scratch()));
    if blobs {
        exec = exec.mount(Mount::bind("/blobs", &State::scratch()));
    }
    let name = if blobs {
        format!("hash {what} and copy them to blobs/sha256")
    } else {
        format!("hash {what}")
    };
    let node = exec.custom_name(&name).build();
    (
        node.output("/out").expect("/out is a writable mount"),
        blobs.then(|| node.output("/blobs").expect("/blobs is a writable mount")),
    )
}

/// Runs [`scan_node`] on `tree` and reads back its listing.
pub async fn scan_listing(
    bridge: &dyn Solve,
    image: &State,
    tree: &State,
    what: &str,
    git_sha1: bool,
) -> Result<Listing, GatewayError> {
    Ok(scan(bridge, image, tree, what, git_sha1, false).await?.0)
}

/// [`scan_listing`] with git blob ids, plus a state holding every file of
/// `tree` at its blob path, written by the same step (for files that are
/// small: they are copied once more).
pub async fn scan_listing_and_blobs(
    bridge: &dyn Solve,
    image: &State,
    tree: &State,
    what: &str,
) -> Result<(Listing, State), GatewayError> {
    let (listing, blobs) = scan(bridge, image, tree, what, true, true).await?;
    Ok((listing, blobs.expect("asked for blobs")))
}

async fn scan(
    bridge: &dyn Solve,
    image: &State,
    tree: &State,
    what: &str,
    git_sha1: bool,
    blobs: bool,
) -> Result<(Listing, Option<State>), GatewayError> {
    let (step, blobs) = scan_node(image, tree, what, git_sha1, blobs);
    let listing = read_json(
        bridge,
        &step,
        LISTING_FILE,
        &format!("the listing of {what}"),
    )
    .await?;
    Ok((listing, blobs))
}

/// Solves `state` and parses the JSON file `file` of its result; `what`
/// names it in errors. Evaluated before reading rather than lazily on
/// ReadFile: with many sources (1000+ files) a lazy ReadFile was seen to
/// stall BuildKit 0.13.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    bridge: &dyn Solve,
    state: &State,
    file: &str,
    what: &str,
) -> Result<T, GatewayError> {
    let r = bridge.solve_evaluated(state.to_definition()).await?;
    let bytes = bridge.read_file(&r, file).await?;
    Ok(serde_json::from_slice(&bytes).with_context(|| format!("reading {what} ({file})"))?)
}

/// `tree`'s file at `path`, mounted read-only at `dest`. With
/// `by_definition` (sources whose definition pins their content: the Hub's
/// checksummed downloads), BuildKit keys the step by that definition
/// instead of first reading the whole file to hash it.
fn input_file(dest: &str, tree: &State, path: &str, by_definition: bool) -> Mount {
    keyed(
        Mount::bind(dest, tree)
            .readonly()
            .selector(path.trim_start_matches('/')),
        by_definition,
    )
}

/// `mount`, keyed by its input's definition when `by_definition`.
fn keyed(mount: Mount, by_definition: bool) -> Mount {
    if by_definition {
        mount.keyed_by_definition()
    } else {
        mount
    }
}

/// A step packing the file at `path` of `tree` as a tar layer named `name`
/// (network off). Only that file is mounted, so BuildKit caches the step
/// per file content; its result holds the blob and its description.
pub fn pack_step(
    image: &State,
    tree: &State,
    path: &str,
    name: &str,
    mode: u32,
    format: LayerPackaging,
    by_definition: bool,
) -> State {
    let mode = format!("{mode:o}");
    Exec::new(
        image,
        [
            BINARY,
            pack_layer::NAME,
            format.suffix(),
            name,
            mode.as_str(),
            "/src/file",
            "/out",
        ],
    )
    .network(NetMode::None)
    .mount(input_file("/src/file", tree, path, by_definition))
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
pub fn describe_step(
    image: &State,
    files: &[&PlanFile],
    sources: &[State],
    by_definition: bool,
) -> State {
    let out = format!("/out/{FACTS_FILE}");
    let mut args = vec![
        BINARY,
        modelpack_steps::describe::NAME,
        "/src",
        out.as_str(),
    ];
    for f in files {
        // A file written as a layer already is read from inside it.
        if let Some(p) = &f.packed {
            args.extend([modelpack_steps::describe::LAYER_FLAG, p.format.suffix()]);
        }
        args.push(f.path.as_str());
    }
    let mut exec = Exec::new(image, args).network(NetMode::None);
    for f in files {
        exec = exec.mount(input_file(
            &format!("/src/{}", f.path),
            &sources[f.origin.source],
            &f.origin.path,
            by_definition,
        ));
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
    bridge: &dyn Solve,
    image: &State,
    files: &[PlanFile],
    sources: &[State],
    use_name: bool,
    by_definition: bool,
) -> Result<PartialConfig, GatewayError> {
    let wanted = describe::selection(files);
    if wanted.is_empty() {
        return Ok(PartialConfig::default());
    }
    let step = describe_step(image, &wanted, sources, by_definition);
    let facts: ModelFacts = read_json(
        bridge,
        &step,
        FACTS_FILE,
        "what the model-header step found",
    )
    .await?;
    Ok(facts.to_config(use_name))
}

/// How many pack steps are solved and read back at once. BuildKit runs
/// the steps of concurrent solves side by side (bounded by its own worker
/// parallelism); this only keeps the number of open gRPC calls sane for
/// repos with thousands of files.
pub const PACK_CONCURRENCY: usize = 64;

/// Packed files at least this big are packed by a chain of steps that
/// write their blobs into one tree at their blob paths (see [`pack_files`]).
pub const CHAIN_MIN_BYTES: u64 = 16 << 20;

/// A step packing `file` (at its origin path of `tree`) like [`pack_step`],
/// but writing the blob to `blobs/sha256/<hex>` of a writable mount based on
/// `below` (the tree of the previous such step: overlaid, not copied).
/// Returns that tree and the step's separate output holding [`LAYER_FILE`].
fn pack_step_into(
    image: &State,
    tree: &State,
    file: &PlanFile,
    format: LayerPackaging,
    below: &State,
    by_definition: bool,
) -> (State, State) {
    let (path, name) = (file.origin.path.as_str(), file.path.as_str());
    let mode = format!("{:o}", file.mode());
    let node = Exec::new(
        image,
        [
            BINARY,
            pack_layer::NAME,
            format.suffix(),
            name,
            mode.as_str(),
            "/src/file",
            "/out",
            "/meta",
        ],
    )
    .network(NetMode::None)
    .mount(input_file("/src/file", tree, path, by_definition))
    .mount(Mount::bind("/out", below))
    .mount(Mount::bind("/meta", &State::scratch()))
    .custom_name(&format!(
        "pack {name} as {} into blobs/sha256",
        format.suffix()
    ))
    .build();
    (
        node.output("/out").expect("/out is a writable mount"),
        node.output("/meta").expect("/meta is a writable mount"),
    )
}

/// Solves each pack step and reads back what it wrote.
fn read_results<'a>(
    bridge: &'a dyn Solve,
    jobs: &'a [(PlanFile, LayerPackaging, State)],
) -> Vec<impl std::future::Future<Output = Result<Written, GatewayError>> + 'a> {
    jobs.iter()
        .map(|(f, _, out)| async move {
            read_json(
                bridge,
                out,
                LAYER_FILE,
                &format!("the pack result of {}", f.path),
            )
            .await
        })
        .collect()
}

/// Files packed by [`pack_files`]: every file (origins index `sources`
/// followed by `states`), the new states, and the trees of blobs at their
/// blob paths the steps wrote.
pub struct PackedFiles {
    /// Every file, packed ones with their blob's digest and origin.
    pub files: Vec<PlanFile>,
    /// The states the packed blobs come from, after the caller's sources.
    pub states: Vec<State>,
    /// Trees holding only packed blobs at their blob paths (the chain of
    /// big files, the batch of small ones), each also in `states`.
    pub trees: Vec<EarlyBlobs>,
}

/// Small files of one source packed together when there are at least this
/// many: one container instead of one step each.
pub const BATCH_MIN_FILES: usize = 8;

/// A step packing `jobs` (files of `tree`, in their formats) in one
/// container (`pack-many`, network off): their blobs at their blob paths
/// in its first output, their descriptions in the second. `tree` is
/// mounted whole, so it must hold little besides these files.
fn pack_many_step(
    image: &State,
    tree: &State,
    jobs: &[(PlanFile, LayerPackaging)],
    by_definition: bool,
) -> (State, State) {
    let list = modelpack::pack::PackList {
        files: jobs
            .iter()
            .map(|(f, format)| modelpack::pack::PackJob {
                path: f.origin.path.trim_start_matches('/').to_string(),
                name: f.path.clone(),
                mode: f.mode(),
                format: format.suffix().to_string(),
            })
            .collect(),
    };
    let json = serde_json::to_vec(&list).expect("a pack list serializes");
    let input = llb::FileOp::new(State::scratch())
        .mkfile("/list.json.zst", 0o644, modelpack::compact::compress(&json))
        .custom_name(&format!("list {} small file(s) to pack", jobs.len()))
        .into_state();
    let formats: BTreeSet<&str> = jobs.iter().map(|(_, f)| f.suffix()).collect();
    let node = Exec::new(
        image,
        [
            BINARY,
            pack_many::NAME,
            "/in/list.json.zst",
            "/src",
            "/out",
            "/meta",
        ],
    )
    .network(NetMode::None)
    .mount(keyed(Mount::bind("/src", tree).readonly(), by_definition))
    .mount(Mount::bind("/in", &input).readonly())
    .mount(Mount::bind("/out", &State::scratch()))
    .mount(Mount::bind("/meta", &State::scratch()))
    .custom_name(&format!(
        "pack {} small file(s) as {} into blobs/sha256",
        jobs.len(),
        formats.into_iter().collect::<Vec<_>>().join("/")
    ))
    .build();
    (
        node.output("/out").expect("/out is a writable mount"),
        node.output("/meta").expect("/meta is a writable mount"),
    )
}

/// Turns plan files into tar layers, each file in the format `format_of`
/// gives it (files it gives `raw`, and files packed already, stay as they
/// are).
///
/// Small files of `batch_source` (a tree of small files only, e.g. the
/// Hub's downloaded small files), when there are [`BATCH_MIN_FILES`] or
/// more, are packed by one step ([`pack_many_step`]). Other files under
/// [`CHAIN_MIN_BYTES`] get one pack step each, all solved together (at
/// most [`PACK_CONCURRENCY`] in flight), so BuildKit packs them at the
/// same time; their blobs are copied into the layout later. Bigger files
/// (the weights) are packed one after another by a chain of steps, each
/// writing its blob at its blob path on top of the previous step's tree: a
/// layout written on that tree never copies them (zstd and gzip use every
/// core within each step, so little is lost by the order).
pub async fn pack_files(
    bridge: &dyn Solve,
    image: &State,
    files: Vec<PlanFile>,
    sources: &[State],
    format_of: impl Fn(&PlanFile) -> LayerPackaging,
    by_definition: bool,
    batch_source: Option<usize>,
) -> Result<PackedFiles, GatewayError> {
    type Job = (PlanFile, LayerPackaging);
    let (raw, to_pack): (Vec<Job>, Vec<Job>) = files
        .into_iter()
        .map(|f| {
            let format = format_of(&f);
            (f, format)
        })
        // Files packed already (written as layers while downloading) stay.
        .partition(|(f, format)| *format == LayerPackaging::Raw || f.packed.is_some());
    let (chained, small): (Vec<Job>, Vec<Job>) = to_pack
        .into_iter()
        .partition(|(f, _)| f.size >= CHAIN_MIN_BYTES);
    let (batched, single): (Vec<Job>, Vec<Job>) = small
        .into_iter()
        .partition(|(f, _)| Some(f.origin.source) == batch_source);
    let (batched, single) = if batched.len() >= BATCH_MIN_FILES {
        (batched, single)
    } else {
        (Vec::new(), batched.into_iter().chain(single).collect())
    };
    let jobs: Vec<(PlanFile, LayerPackaging, State)> = single
        .into_iter()
        .map(|(f, format)| {
            let out = pack_step(
                image,
                &sources[f.origin.source],
                &f.origin.path,
                &f.path,
                f.mode(),
                format,
                by_definition,
            );
            (f, format, out)
        })
        .collect();
    let mut below = State::scratch();
    let mut links: Vec<(PlanFile, LayerPackaging, State)> = Vec::with_capacity(chained.len());
    for (f, format) in chained {
        let (tree, meta) = pack_step_into(
            image,
            &sources[f.origin.source],
            &f,
            format,
            &below,
            by_definition,
        );
        below = tree;
        links.push((f, format, meta));
    }
    let batch = batch_source
        .filter(|_| !batched.is_empty())
        .map(|i| pack_many_step(image, &sources[i], &batched, by_definition));
    let read_batch = async {
        let Some((_, meta)) = &batch else {
            return Ok(Vec::new());
        };
        let written: Vec<Written> = read_json(
            bridge,
            meta,
            pack_many::PACKED_LIST_FILE,
            "what the pack-many step packed",
        )
        .await?;
        if written.len() != batched.len() {
            return Err(GatewayError::Local(anyhow::anyhow!(
                "the pack-many step described {} of {} files; please report it",
                written.len(),
                batched.len()
            )));
        }
        Ok(written)
    };
    // The first failure in file order is reported, as a sequential run
    // would (the small files' first).
    let (singles, chain, batch_written) = futures_util::future::join3(
        crate::deadline::all_in_order(read_results(bridge, &jobs), PACK_CONCURRENCY),
        crate::deadline::all_in_order(read_results(bridge, &links), PACK_CONCURRENCY),
        read_batch,
    )
    .await;
    let (singles, chain, batch_written): (Vec<Written>, Vec<Written>, Vec<Written>) =
        (singles?, chain?, batch_written?);
    let mut packed: Vec<PlanFile> = raw.into_iter().map(|(f, _)| f).collect();
    let mut states = Vec::with_capacity(jobs.len() + 2);
    let mut trees = Vec::new();
    let packed_as = |mut f: PlanFile, format, written: Written, source, path| {
        f.set_packed(written, format, source, path);
        f
    };
    for ((f, format, out), written) in jobs.into_iter().zip(singles) {
        packed.push(packed_as(
            f,
            format,
            written,
            sources.len() + states.len(),
            format!("/{BLOB_FILE}"),
        ));
        states.push(out);
    }
    // A tree of blobs at their blob paths: one more source.
    let mut add_tree = |tree: State,
                        files: Vec<(PlanFile, LayerPackaging)>,
                        written: Vec<Written>,
                        states: &mut Vec<State>| {
        let source = sources.len() + states.len();
        let mut digests = BTreeSet::new();
        for ((f, format), written) in files.into_iter().zip(written) {
            let path = crate::emit::blob_path(&written.digest);
            digests.insert(written.digest.clone());
            packed.push(packed_as(f, format, written, source, path));
        }
        states.push(tree.clone());
        trees.push(EarlyBlobs {
            state: tree,
            digests,
        });
    };
    if !links.is_empty() {
        let files = links
            .into_iter()
            .map(|(f, format, _)| (f, format))
            .collect();
        add_tree(below, files, chain, &mut states);
    }
    if let Some((tree, _)) = batch {
        add_tree(tree, batched, batch_written, &mut states);
    }
    Ok(PackedFiles {
        files: packed,
        states,
        trees,
    })
}
