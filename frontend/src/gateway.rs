//! The LLBBridge client: gRPC over our own stdin/stdout, as buildkitd
//! starts a gateway frontend. Nothing else may ever be written to stdout.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use anyhow::{anyhow, Context as _};
use hyper_util::rt::TokioIo;
use llb::proto::gateway::{self as gw, llb_bridge_client::LlbBridgeClient};
use llb::proto::google::rpc::Status;
use llb::proto::pb;
use prost::Message;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::{Channel, Endpoint};

/// gRPC message limit each way, as buildkitd uses.
const MAX_MESSAGE: usize = 16 << 20;

/// The largest file [`Bridge::read_file`] reads back from a build result
/// (listings, facts, answers): 64 MiB, the largest Hub listing either door
/// takes ([`modelpack_hub::MAX_INFO_BYTES`]).
pub const MAX_READ_FILE: usize = modelpack_hub::MAX_INFO_BYTES;

/// Result metadata: the OCI image config of an image result (ours in
/// `output_mode=image`, the Dockerfile frontend's for `packager/bundle`).
pub const META_IMAGE_CONFIG: &str = "containerimage.config";

/// Where buildkitd mounts the marshalled definition of the frontend image.
pub const FRONTEND_BIN: &str = "/run/config/buildkit/metadata/frontend.bin";

/// A gateway call in flight. The frontend runs on one thread, so calls
/// need not be `Send`; boxed so that [`Solve`] can be used as `dyn Solve`.
pub type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, GatewayError>> + 'a>>;

/// The gateway operations a build uses once it is set up: solving LLB,
/// reading files of the results, resolving an image config, and what
/// buildkitd told us (capabilities, platform, our own image). [`Bridge`]
/// does them against buildkitd; the build takes `&dyn Solve`, so the
/// source flows' unit tests hand it a fake that answers by looking at the
/// LLB (`crate::fake_gateway`), without a daemon, as BuildKit tests
/// `dockerfile2llb`.
pub trait Solve {
    /// Solves a definition (lazily, as buildkitd does) and returns its ref.
    fn solve(&self, def: pb::Definition) -> Call<'_, Reference>;

    /// Solves and runs the whole graph now, so failures surface here.
    fn solve_evaluated(&self, def: pb::Definition) -> Call<'_, Reference>;

    /// Has one of BuildKit's own frontends (`dockerfile.v0`) build
    /// `request` (evaluated, with the build's cache imports) and returns
    /// its result: the result's definition and metadata.
    fn solve_frontend<'a>(&'a self, request: &'a FrontendSolve) -> Call<'a, FrontendAnswer>;

    /// The definitions the client sent the frontend as inputs, by name
    /// (gateway `Inputs`, API cap `frontend.inputs`): buildx's named
    /// contexts given as `input:NAME`.
    fn frontend_inputs(&self) -> Call<'_, BTreeMap<String, pb::Definition>>;

    /// Solves the build's result, a tree whose graph also holds every
    /// step solved with [`Solve::solve_evaluated`] before it that it does
    /// not already hold (the steps whose output the frontend reads: scans,
    /// headers, sizes), through [`llb::keep_in_graph`]. BuildKit exports to
    /// a remote cache only the returned result's graph; with those steps
    /// in it, a runner with an empty local cache and that remote cache
    /// takes their outputs from the cache instead of running them again,
    /// which would need their inputs, the model's files.
    fn solve_result<'a>(&'a self, result: &'a llb::State) -> Call<'a, Reference>;

    /// Reads a file of a solved reference in ranges, failing with a clear
    /// error once it is longer than `max` bytes (never holding more than
    /// `max` plus one range in memory).
    fn read_file_bounded<'a>(
        &'a self,
        r: &'a Reference,
        path: &'a str,
        max: usize,
    ) -> Call<'a, Vec<u8>>;

    /// Reads a whole file from a solved ref, in ranges that stay under the
    /// gRPC message limit, up to [`MAX_READ_FILE`] bytes (small JSON files).
    fn read_file<'a>(&'a self, r: &'a Reference, path: &'a str) -> Call<'a, Vec<u8>> {
        self.read_file_bounded(r, path, MAX_READ_FILE)
    }

    /// Resolves an image reference to its digest and config JSON for a
    /// platform (gateway `ResolveImageConfig`, API cap `resolveimage`).
    fn resolve_image_config<'a>(
        &'a self,
        reference: &'a str,
        platform: &'a pb::Platform,
    ) -> Call<'a, (String, Vec<u8>)>;

    /// [`Solve::resolve_image_config`] asking the registry (BuildKit's
    /// `pull` resolve mode), shown as `log_name`: Docker's engine answers
    /// no digest in the default mode for an image it holds. Fakes answer
    /// as `resolve_image_config`.
    fn resolve_image_from_registry<'a>(
        &'a self,
        reference: &'a str,
        platform: &'a pb::Platform,
        log_name: &'a str,
    ) -> Call<'a, (String, Vec<u8>)> {
        let _ = log_name;
        self.resolve_image_config(reference, platform)
    }

    /// Whether buildkitd offers an LLB capability (e.g. `mergeop`).
    fn has_llb_cap(&self, cap: &str) -> bool;

    /// Fails with one line naming what is missing when buildkitd lacks a
    /// capability we rely on.
    fn require_caps(&self, llb: &[&str], api: &[&str]) -> anyhow::Result<()>;

    /// The first platform of the first worker, as `Ping` reported it.
    fn worker_platform(&self) -> Option<pb::Platform>;

    /// The frontend's own image, from the definition buildkitd hands the
    /// frontend in [`FRONTEND_BIN`] (fails clearly when run elsewhere);
    /// the steps that re-run this binary stand on a copy of its binary
    /// (`steps::own_image`).
    fn frontend_image(&self) -> anyhow::Result<llb::State>;
}

/// A solve by one of BuildKit's own frontends: which (`dockerfile.v0`),
/// its options (`filename`, `target`, `build-arg:*`, …) and its inputs
/// (`context`, `dockerfile`: definitions the frontend takes instead of the
/// client's local sources).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrontendSolve {
    /// The frontend's name.
    pub frontend: String,
    /// Its options.
    pub opts: BTreeMap<String, String>,
    /// Its inputs by name.
    pub inputs: BTreeMap<String, pb::Definition>,
}

/// What a frontend solve answered (its ref is not needed: the result is
/// built on by its definition).
#[derive(Clone, Debug)]
pub struct FrontendAnswer {
    /// The result's definition (gateway `Ref.def`): the LLB it is, to build on.
    pub def: pb::Definition,
    /// The result's metadata (`containerimage.config`, …).
    pub metadata: BTreeMap<String, Vec<u8>>,
}

/// The gateway request of `solve`: evaluated, results returned as refs
/// with their definitions, the build's cache imports, and under
/// `--no-cache` the frontend's own `no-cache` option.
pub fn frontend_request(
    solve: &FrontendSolve,
    cache_imports: &[gw::CacheOptionsEntry],
    no_cache: bool,
) -> gw::SolveRequest {
    let mut opts = solve.opts.clone();
    let mut inputs = solve.inputs.clone();
    if no_cache {
        opts.insert("no-cache".into(), String::new());
        // Our own ops, as in every other solve of the build.
        inputs.values_mut().for_each(llb::ignore_cache);
    }
    gw::SolveRequest {
        frontend: solve.frontend.clone(),
        frontend_opt: opts,
        frontend_inputs: inputs,
        allow_result_return: true,
        allow_result_array_ref: true,
        evaluate: true,
        cache_imports: cache_imports.to_vec(),
        ..Default::default()
    }
}

/// Everything buildkitd hands the frontend through its environment.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// Frontend options (`build-arg:*`, `target`, `source`, …).
    pub opts: BTreeMap<String, String>,
    /// The client session, used as `local.session` for local sources.
    pub session_id: String,
}

impl Environment {
    /// Reads `BUILDKIT_FRONTEND_OPT_<n>=<key>=<value>` and `BUILDKIT_SESSION_ID`.
    pub fn from_vars<I: IntoIterator<Item = (String, String)>>(vars: I) -> Self {
        let mut env = Environment::default();
        for (k, v) in vars {
            if k.starts_with("BUILDKIT_FRONTEND_OPT_") {
                let (key, value) = v.split_once('=').unwrap_or((v.as_str(), ""));
                env.opts.insert(key.to_string(), value.to_string());
            } else if k == "BUILDKIT_SESSION_ID" {
                env.session_id = v;
            }
        }
        env
    }
}

/// A failed gateway call. A `Status` from a failed solve is kept so it can be
/// returned to buildkitd unchanged (with its vertex details).
#[derive(Debug)]
pub enum GatewayError {
    /// buildkitd answered with an error status.
    Remote(Status),
    /// Anything else (transport, decoding, our own checks).
    Local(anyhow::Error),
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GatewayError::Remote(s) => f.write_str(&s.message),
            GatewayError::Local(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for GatewayError {}

fn remote(status: tonic::Status) -> GatewayError {
    // grpc-status-details-bin holds the full google.rpc.Status when present.
    if let Ok(full) = Status::decode(status.details()) {
        if full.code != 0 {
            return GatewayError::Remote(full);
        }
    }
    GatewayError::Remote(Status {
        code: status.code() as i32,
        message: status.message().to_string(),
        details: Vec::new(),
    })
}

/// Explains BuildKit refusing a solve request of `size` bytes as larger
/// than its gRPC limit (4 MiB on BuildKit 0.13); other errors pass.
fn too_big(e: GatewayError, size: usize) -> GatewayError {
    match &e {
        GatewayError::Remote(s) if s.code == tonic::Code::ResourceExhausted as i32 && s.message.contains("larger than max") => {
            GatewayError::Local(anyhow!(
                "the build graph is {:.1} MiB, more than this BuildKit accepts in one request ({}); it grows with the number of files (their downloads, copies and manifest entries; 10,000 small files take about 8 MiB), and BuildKit 0.13 (Docker 26) accepts 4 MiB, about 4,500 files, while Docker 28.5 took 8 MiB here: use a newer engine, or package fewer files per build with include/exclude",
                size as f64 / (1 << 20) as f64,
                s.message
            ))
        }
        _ => e,
    }
}

/// A connected LLBBridge client plus what `Ping` told us. Every call
/// takes `&self` and clones the tonic client (a cheap handle onto one
/// HTTP/2 connection), so independent solves and reads can be in flight
/// together and BuildKit runs their steps side by side.
pub struct Bridge {
    client: LlbBridgeClient<Channel>,
    no_cache: bool,
    cache_imports: Vec<gw::CacheOptionsEntry>,
    evaluated: Mutex<Vec<pb::Definition>>,
    /// Digests of the ops another frontend's answer holds (kept with their
    /// own cache options under `--no-cache`, see [`llb::ignore_cache_except`]).
    foreign_ops: Mutex<BTreeSet<String>>,
    llb_caps: BTreeMap<String, bool>,
    api_caps: BTreeMap<String, bool>,
    worker_platform: Option<pb::Platform>,
    dump: Option<crate::llbdump::Dump>,
}

/// A solved reference, valid until `Return`.
#[derive(Clone, Debug)]
pub struct Reference(pub String);

impl Bridge {
    /// Connects over stdin/stdout and pings buildkitd.
    pub async fn connect() -> anyhow::Result<Self> {
        let io = Mutex::new(Some(StdioStream::new()));
        let channel = Endpoint::from_static("http://localhost")
            .connect_with_connector(tower::service_fn(move |_| {
                let stream = io.lock().unwrap().take();
                async move {
                    stream
                        .map(TokioIo::new)
                        .ok_or_else(|| std::io::Error::other("stdio connection already used"))
                }
            }))
            .await
            .context("connecting to buildkitd over stdin/stdout")?;
        let mut client = LlbBridgeClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let pong = client
            .ping(gw::PingRequest {})
            .await
            .map_err(|s| anyhow!("ping buildkitd: {}", s.message()))?
            .into_inner();
        let caps = |list: Vec<gw::ApiCap>| list.into_iter().map(|c| (c.id, c.enabled)).collect();
        let worker_platform = pong
            .workers
            .into_iter()
            .find_map(|w| w.platforms.into_iter().next());
        Ok(Bridge {
            client,
            no_cache: false,
            cache_imports: Vec::new(),
            evaluated: Mutex::new(Vec::new()),
            foreign_ops: Mutex::new(BTreeSet::new()),
            llb_caps: caps(pong.llb_caps),
            api_caps: caps(pong.frontend_api_caps),
            worker_platform,
            dump: None,
        })
    }

    /// From now on every solve runs all its ops again (`--no-cache`).
    pub fn set_no_cache(&mut self, no_cache: bool) {
        self.no_cache = no_cache;
    }

    /// From now on every solve asks BuildKit to use these remote caches
    /// (`--cache-from`, see [`crate::cache_imports`]), as the Dockerfile
    /// frontend does for each of its solves.
    pub fn set_cache_imports(&mut self, imports: Vec<gw::CacheOptionsEntry>) {
        self.cache_imports = imports;
    }

    /// From now on every solve request is written to stderr as it is sent
    /// (build arg `debug_dump_llb`, see [`crate::llbdump`]).
    pub fn set_dump(&mut self, dump: Option<crate::llbdump::Dump>) {
        self.dump = dump;
    }

    /// Writes the dump's `end` line (when dumping): every solve is recorded.
    pub fn finish_dump(&self) {
        if let Some(d) = &self.dump {
            d.finish();
        }
    }

    /// [`Solve::solve_result`] against buildkitd.
    async fn solve_keeping_steps(&self, result: &llb::State) -> Result<Reference, GatewayError> {
        let def = result.to_definition();
        // Every op output the result's graph uses (an op with two outputs
        // may have one in the graph and the other only read).
        let held: BTreeSet<(String, i64)> = def
            .def
            .iter()
            .filter_map(|op| pb::Op::decode(op.as_slice()).ok())
            .flat_map(|op| op.inputs)
            .map(|i| (i.digest, i.index))
            .collect();
        let mut heads = BTreeSet::new();
        let helpers: Vec<llb::State> = self
            .evaluated
            .lock()
            .expect("the list of solved definitions")
            .iter()
            .filter_map(|d| llb::Imported::from_definition(d.clone()).ok())
            .filter(|i| {
                let head = (i.head().digest.clone(), i.head().index);
                !held.contains(&head) && heads.insert(head)
            })
            .map(llb::Imported::into_state)
            .collect();
        if helpers.is_empty() {
            return self.solve_with(def, true).await;
        }
        let name = format!(
            "keep {} step(s) whose output was read in the result's graph (for remote caches)",
            helpers.len()
        );
        let kept = llb::keep_in_graph(result, &helpers, &name);
        self.solve_with(kept.to_definition(), true).await
    }

    async fn solve_with(
        &self,
        mut def: pb::Definition,
        evaluate: bool,
    ) -> Result<Reference, GatewayError> {
        if self.no_cache {
            let foreign = self.foreign_ops.lock().expect("the foreign ops");
            llb::ignore_cache_except(&mut def, &foreign);
        }
        // Kept for solve_result once it has succeeded (a failed step, say
        // one a fallback replaces, must not enter the result's graph).
        let kept = evaluate.then(|| def.clone());
        let request = gw::SolveRequest {
            definition: Some(def),
            allow_result_return: true,
            allow_result_array_ref: true,
            evaluate,
            cache_imports: self.cache_imports.clone(),
            ..Default::default()
        };
        let response = self.send(request).await?;
        match response.result.and_then(|r| r.result) {
            Some(gw::result::Result::Ref(r)) => {
                if let Some(def) = kept {
                    self.evaluated
                        .lock()
                        .expect("the list of solved definitions")
                        .push(def);
                }
                Ok(Reference(r.id))
            }
            None => Err(GatewayError::Local(anyhow!("BuildKit's solve returned no result; try the build again"))),
            Some(_) => Err(GatewayError::Local(anyhow!("BuildKit's solve returned several results where one was expected; try the build again"))),
        }
    }

    /// Sends one solve request to buildkitd (recorded first when the LLB is
    /// dumped); a refusal for its size says so.
    async fn send(&self, request: gw::SolveRequest) -> Result<gw::SolveResponse, GatewayError> {
        if let Some(d) = &self.dump {
            // The very message handed to gRPC below, but for the values
            // of cache attributes that may be credentials.
            let shown = gw::SolveRequest {
                cache_imports: crate::cache_imports::redacted(&request.cache_imports),
                ..request.clone()
            };
            d.record(&shown.encode_to_vec());
        }
        let size = request.encoded_len();
        Ok(self
            .client
            .clone()
            .solve(request)
            .await
            .map_err(|e| too_big(remote(e), size))?
            .into_inner())
    }

    /// [`Solve::solve_frontend`] against buildkitd.
    async fn solve_by_frontend(
        &self,
        solve: &FrontendSolve,
    ) -> Result<FrontendAnswer, GatewayError> {
        let request = frontend_request(solve, &self.cache_imports, self.no_cache);
        let response = self.send(request).await?;
        let result = response.result.ok_or_else(|| {
            GatewayError::Local(anyhow!(
                "BuildKit's {} solve returned no result",
                solve.frontend
            ))
        })?;
        match result.result {
            Some(gw::result::Result::Ref(r)) if r.id.is_empty() => Err(GatewayError::Local(anyhow!(
                "the Dockerfile build's result is an empty file system (FROM scratch with nothing added); there is no app image to bundle"
            ))),
            Some(gw::result::Result::Ref(r)) => Ok(FrontendAnswer {
                def: self.note_foreign(r.def.ok_or_else(|| GatewayError::Local(anyhow!(
                    "BuildKit's {} solve returned a ref without its definition; this BuildKit is too old for packager/bundle",
                    solve.frontend
                )))?),
                metadata: result.metadata,
            }),
            Some(gw::result::Result::Refs(_)) => Err(GatewayError::Local(anyhow!(
                "the Dockerfile build returned several platforms where one was asked for (a BUILDKIT_MULTI_PLATFORM build arg?); packager/bundle builds each platform of --platform by itself"
            ))),
            _ => Err(GatewayError::Local(anyhow!(
                "BuildKit's {} solve returned no file system (an empty result)",
                solve.frontend
            ))),
        }
    }

    /// Records the ops of `def` (a frontend's answer) as foreign; returns it.
    fn note_foreign(&self, def: pb::Definition) -> pb::Definition {
        let mut foreign = self.foreign_ops.lock().expect("the foreign ops");
        if let Some((_, ops)) = def.def.split_last() {
            foreign.extend(ops.iter().map(|op| llb::digest_of(op)));
        }
        def
    }

    /// [`Solve::read_file_bounded`] against buildkitd.
    async fn read_in_ranges(
        &self,
        r: &Reference,
        path: &str,
        max: usize,
    ) -> Result<Vec<u8>, GatewayError> {
        const CHUNK: i64 = 8 << 20;
        let mut data = Vec::new();
        loop {
            let request = gw::ReadFileRequest {
                r#ref: r.0.clone(),
                file_path: path.to_string(),
                range: Some(gw::FileRange {
                    offset: data.len() as i64,
                    length: CHUNK,
                }),
            };
            let chunk = self
                .client
                .clone()
                .read_file(request)
                .await
                .map_err(remote)?
                .into_inner()
                .data;
            let done = (chunk.len() as i64) < CHUNK;
            data.extend_from_slice(&chunk);
            if data.len() > max {
                return Err(GatewayError::Local(anyhow!(
                    "{path} of an intermediate build result is larger than {} MiB, the most the frontend reads; the source has too many files or too large metadata",
                    max >> 20
                )));
            }
            if done {
                return Ok(data);
            }
        }
    }

    /// Returns the final result (a ref, or none for metadata-only answers
    /// such as subrequests) with metadata; ends the build.
    pub async fn return_result(
        &self,
        r: Option<Reference>,
        metadata: BTreeMap<String, Vec<u8>>,
    ) -> anyhow::Result<()> {
        let result = gw::Result {
            result: r.map(|r| gw::result::Result::Ref(gw::Ref { id: r.0, def: None })),
            metadata,
        };
        let request = gw::ReturnRequest {
            result: Some(result),
            error: None,
        };
        self.client
            .clone()
            .r#return(request)
            .await
            .map_err(|s| anyhow!("return result: {}", s.message()))?;
        Ok(())
    }

    /// Returns an error; ends the build. Remote statuses pass through as-is.
    pub async fn return_error(&self, err: GatewayError) -> anyhow::Result<()> {
        let status = match err {
            GatewayError::Remote(s) => s,
            GatewayError::Local(e) => Status {
                code: 2,
                message: format!("{e:#}"),
                details: vec![],
            },
        };
        let request = gw::ReturnRequest {
            result: None,
            error: Some(status),
        };
        self.client
            .clone()
            .r#return(request)
            .await
            .map_err(|s| anyhow!("return error: {}", s.message()))?;
        Ok(())
    }

    /// [`Solve::frontend_inputs`] against buildkitd.
    async fn inputs(&self) -> Result<BTreeMap<String, pb::Definition>, GatewayError> {
        self.require_caps(&[], &["frontend.inputs"])?;
        let response = self
            .client
            .clone()
            .inputs(gw::InputsRequest {})
            .await
            .map_err(remote)?
            .into_inner();
        Ok(response.definitions)
    }

    /// An image's digest and config through the gateway, in BuildKit's
    /// resolve mode `mode` (`default`: the engine's own store first;
    /// `pull`: the registry), shown in the progress as `log_name`.
    async fn resolve_image(
        &self,
        reference: &str,
        platform: &pb::Platform,
        mode: &str,
        log_name: &str,
    ) -> Result<(String, Vec<u8>), GatewayError> {
        let request = gw::ResolveImageConfigRequest {
            r#ref: reference.to_string(),
            platform: Some(platform.clone()),
            resolve_mode: mode.into(),
            log_name: log_name.to_string(),
        };
        let response = self
            .client
            .clone()
            .resolve_image_config(request)
            .await
            .map_err(remote)?
            .into_inner();
        Ok((response.digest, response.config))
    }
}

impl Solve for Bridge {
    fn solve(&self, def: pb::Definition) -> Call<'_, Reference> {
        Box::pin(self.solve_with(def, false))
    }

    fn solve_evaluated(&self, def: pb::Definition) -> Call<'_, Reference> {
        Box::pin(self.solve_with(def, true))
    }

    fn solve_result<'a>(&'a self, result: &'a llb::State) -> Call<'a, Reference> {
        Box::pin(self.solve_keeping_steps(result))
    }

    fn solve_frontend<'a>(&'a self, request: &'a FrontendSolve) -> Call<'a, FrontendAnswer> {
        Box::pin(self.solve_by_frontend(request))
    }

    fn frontend_inputs(&self) -> Call<'_, BTreeMap<String, pb::Definition>> {
        Box::pin(self.inputs())
    }

    fn read_file_bounded<'a>(
        &'a self,
        r: &'a Reference,
        path: &'a str,
        max: usize,
    ) -> Call<'a, Vec<u8>> {
        Box::pin(self.read_in_ranges(r, path, max))
    }

    fn resolve_image_config<'a>(
        &'a self,
        reference: &'a str,
        platform: &'a pb::Platform,
    ) -> Call<'a, (String, Vec<u8>)> {
        Box::pin(async move {
            let log_name = format!("resolve base image {reference}");
            self.resolve_image(reference, platform, "default", &log_name)
                .await
        })
    }

    fn resolve_image_from_registry<'a>(
        &'a self,
        reference: &'a str,
        platform: &'a pb::Platform,
        log_name: &'a str,
    ) -> Call<'a, (String, Vec<u8>)> {
        Box::pin(self.resolve_image(reference, platform, "pull", log_name))
    }

    /// A daemon reporting no caps at all is taken to have the frozen
    /// defaults, which include none of the optional ones.
    fn has_llb_cap(&self, cap: &str) -> bool {
        self.llb_caps.get(cap).copied().unwrap_or(false)
    }

    /// Empty cap lists (very old daemons report none) are not checked.
    fn require_caps(&self, llb: &[&str], api: &[&str]) -> anyhow::Result<()> {
        let missing = |have: &BTreeMap<String, bool>, want: &[&str]| -> Vec<String> {
            if have.is_empty() {
                return Vec::new();
            }
            want.iter()
                .filter(|c| !have.get(**c).copied().unwrap_or(false))
                .map(|c| c.to_string())
                .collect()
        };
        let mut gaps = missing(&self.llb_caps, llb);
        gaps.extend(missing(&self.api_caps, api));
        if gaps.is_empty() {
            Ok(())
        } else {
            Err(anyhow!(
                "this BuildKit lacks capabilities the frontend needs: {}; upgrade Docker/BuildKit (0.13 or newer is tested)",
                gaps.join(", ")
            ))
        }
    }

    fn worker_platform(&self) -> Option<pb::Platform> {
        self.worker_platform.clone()
    }

    fn frontend_image(&self) -> anyhow::Result<llb::State> {
        let bytes = std::fs::read(FRONTEND_BIN).with_context(|| {
            format!("reading {FRONTEND_BIN}: this BuildKit does not tell the frontend its own image (needs BuildKit >= 0.10)")
        })?;
        let def = pb::Definition::decode(bytes.as_slice())
            .with_context(|| format!("decoding {FRONTEND_BIN}"))?;
        Ok(llb::Imported::from_definition(def)
            .map_err(anyhow::Error::msg)?
            .into_state())
    }
}

/// Our stdin (server → us) and stdout (us → server) as one duplex stream.
struct StdioStream {
    stdin: tokio::io::Stdin,
    stdout: tokio::io::Stdout,
}

impl StdioStream {
    fn new() -> Self {
        StdioStream {
            stdin: tokio::io::stdin(),
            stdout: tokio::io::stdout(),
        }
    }
}

impl AsyncRead for StdioStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_read(cx, buf)
    }
}

impl AsyncWrite for StdioStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stdout).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_on_first_equals_and_session_is_read() {
        let vars = vec![
            (
                "BUILDKIT_FRONTEND_OPT_0".into(),
                "build-arg:source=a=b".into(),
            ),
            (
                "BUILDKIT_FRONTEND_OPT_1".into(),
                "target=packager/modelpack".into(),
            ),
            ("BUILDKIT_FRONTEND_OPT_2".into(), "no-cache".into()),
            ("BUILDKIT_SESSION_ID".into(), "s1".into()),
            ("PATH".into(), "/bin".into()),
        ];
        let env = Environment::from_vars(vars);
        assert_eq!(env.opts["build-arg:source"], "a=b");
        assert_eq!(env.opts["target"], "packager/modelpack");
        assert_eq!(env.opts["no-cache"], "");
        assert_eq!(env.session_id, "s1");
        assert_eq!(env.opts.len(), 3);
    }

    #[test]
    fn a_request_over_buildkits_limit_is_explained_with_its_size() {
        let refused = GatewayError::Remote(Status {
            code: tonic::Code::ResourceExhausted as i32,
            message: "grpc: received message larger than max (8610781 vs. 4194304)".into(),
            details: vec![],
        });
        let text = too_big(refused, 8_610_781).to_string();
        assert!(text.starts_with("the build graph is 8.2 MiB"), "{text}");
        assert!(
            text.contains("8610781 vs. 4194304") && text.contains("include/exclude"),
            "{text}"
        );
        let other = GatewayError::Remote(Status {
            code: 2,
            message: "exec failed".into(),
            details: vec![],
        });
        assert_eq!(too_big(other, 9 << 20).to_string(), "exec failed");
    }

    #[test]
    fn remote_status_details_are_kept() {
        let inner = Status {
            code: 2,
            message: "exec failed".into(),
            details: vec![],
        };
        let status = tonic::Status::with_details(
            tonic::Code::Unknown,
            "exec failed",
            inner.encode_to_vec().into(),
        );
        match remote(status) {
            GatewayError::Remote(s) => assert_eq!(s, inner),
            other => panic!("unexpected {other:?}"),
        }
    }
}
