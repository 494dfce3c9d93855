//! End-to-end: a remote build cache shared between two runners. One engine
//! (Docker 28.5 with the containerd image store, whose docker driver can
//! export caches) builds a Hub repo with `--cache-to`; other engines that
//! have never seen it (Docker 26 and Docker 28.5 with the classic store)
//! build it again with `--cache-from`, as a fresh CI runner would. The
//! frontend forwards the cache imports to every solve it makes and keeps
//! the steps whose output it reads in the result's graph, so the second
//! runner gets the same artifact without downloading any file from the Hub
//! or its CDN (only the revision is resolved).
//!
//! Docker 26 (BuildKit 0.13) matches the exec steps of a cache that
//! BuildKit 0.25 exported only because no exec mount names input or
//! output 0 (`llb::Exec::build`): the two marshal a 0 there differently
//! into the step's cache key (`docs/design.md`, "Remote caches"). A plain
//! Dockerfile `RUN --mount=type=bind,from=…` still misses there.
//!
//! The repo's bytes are unique to the run, so nothing is in any engine's
//! local cache. `#[ignore]`d like the other e2e tests;
//! `integration/test.sh` runs them after starting the engines.

use integration::engine::{Build, Engine};
use integration::fs::{self, TempDir};
use integration::hub::{unique_repo, FakeHub};
use integration::layout::Layout;

/// The registry the tests' caches go to (`integration/engine.sh`).
const REGISTRY: &str = "127.0.0.1:5000";

/// A `.gitattributes`, a few small files and two LFS weights, unique to
/// this run.
fn repo_files() -> Vec<(String, Vec<u8>)> {
    let seed = fs::fresh_seed();
    let mut files = vec![
        (
            ".gitattributes".to_string(),
            b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n".to_vec(),
        ),
        (
            "config.json".to_string(),
            format!(r#"{{"architectures":["TinyForCausalLM"],"nonce":"{seed:x}"}}"#).into_bytes(),
        ),
        (
            "README.md".to_string(),
            format!("# cached {seed:x}\n").into_bytes(),
        ),
    ];
    for i in 0..2u64 {
        files.push((
            format!("model-{i}.safetensors"),
            fs::pseudo_random_bytes(256 << 10, seed ^ i),
        ));
    }
    files
}

/// Where a cache is exported to and imported from.
enum CacheKind {
    /// `type=registry` at a fresh reference of the local registry.
    Registry(String),
    /// `type=local` in a fresh directory.
    Local(TempDir),
}

impl CacheKind {
    fn export_flag(&self) -> String {
        match self {
            CacheKind::Registry(r) => format!("--cache-to=type=registry,ref={r},mode=max"),
            CacheKind::Local(d) => {
                format!("--cache-to=type=local,dest={},mode=max", d.path().display())
            }
        }
    }

    fn import_flag(&self) -> String {
        match self {
            CacheKind::Registry(r) => format!("--cache-from=type=registry,ref={r}"),
            CacheKind::Local(d) => format!("--cache-from=type=local,src={}", d.path().display()),
        }
    }
}

/// A build of `source` from `hub` in `format`, with the download steps on
/// the host network (the engines have no bridge).
fn build(hub: &FakeHub, ctx: &TempDir, source: &str, format: &str, engine: Engine) -> Build {
    Build::new(ctx.path())
        .engine(engine)
        .arg("source", source)
        .arg("hf_endpoint", &hub.endpoint)
        .arg("layer_packaging", format)
        .arg("download_network", "host")
        .flag("--allow=network.host")
}

/// Exports a cache of `source` from the containerd-store engine, then, on
/// each importing engine in turn, builds it with only that cache and
/// asserts the same manifest digest and no file body from the Hub.
fn share_cache(source_of: impl Fn(&str, &str) -> String, format: &str, cache: CacheKind) {
    let hub = FakeHub::start();
    let repo = unique_repo("cache");
    let commit = hub.create_repo(&repo, repo_files(), None);
    let source = source_of(&repo, &commit);
    let ctx = TempDir::new("cache-ctx");
    let out = TempDir::new("cache-out");
    let what = format!("{source} in {format}");

    let first = build(&hub, &ctx, &source, format, Engine::Store)
        .flag(&cache.export_flag())
        .output(out.join("exported"))
        .run();
    assert!(
        first.success,
        "{what}: the exporting build failed\n{}",
        first.report()
    );
    let exported = Layout::verify(out.join("exported"));
    assert!(
        !hub.stats().body_downloads().is_empty(),
        "{what}: the exporting build downloaded nothing: the test proves nothing\n{}",
        hub.stats().describe()
    );

    for engine in [Engine::Current, Engine::Next] {
        hub.reset_stats();
        let dest = out.join(format!("{engine:?}"));
        let second = build(&hub, &ctx, &source, format, engine)
            .flag(&cache.import_flag())
            .output(&dest)
            .run();
        assert!(
            second.success,
            "{what}: the importing build on {engine:?} failed\n{}",
            second.report()
        );
        let imported = Layout::verify(&dest);
        assert_eq!(
            imported.manifest_digest(),
            exported.manifest_digest(),
            "{what}: {engine:?} built another artifact from the cache"
        );
        let stats = hub.stats();
        let bodies: Vec<String> = stats.body_downloads().iter().map(|r| r.line()).collect();
        assert!(
            bodies.is_empty(),
            "{what}: {engine:?} with a warm remote cache downloaded from the Hub:\n{}\n{}\n{}",
            bodies.join("\n"),
            stats.describe(),
            second.output()
        );
    }
}

fn pinned(repo: &str, commit: &str) -> String {
    format!("huggingface://{repo}@{commit}")
}

fn branch(repo: &str, _commit: &str) -> String {
    format!("huggingface://{repo}")
}

fn registry_cache(name: &str) -> CacheKind {
    CacheKind::Registry(format!(
        "{REGISTRY}/modelpack-cache/{}:latest",
        integration::unique_name(name)
    ))
}

#[test]
#[ignore = "needs the three engines, the registry and the frontend image: run integration/test.sh"]
fn a_registry_cache_spares_the_hub_for_a_pinned_commit_in_raw() {
    share_cache(pinned, "raw", registry_cache("pinned-raw"));
}

#[test]
#[ignore = "needs the three engines, the registry and the frontend image: run integration/test.sh"]
fn a_registry_cache_spares_the_hub_for_a_pinned_commit_in_tar_zstd() {
    share_cache(pinned, "tar+zstd", registry_cache("pinned-zstd"));
}

#[test]
#[ignore = "needs the three engines, the registry and the frontend image: run integration/test.sh"]
fn a_registry_cache_spares_the_hub_for_a_branch_in_tar() {
    share_cache(branch, "tar", registry_cache("branch-tar"));
}

#[test]
#[ignore = "needs the three engines, the registry and the frontend image: run integration/test.sh"]
fn a_local_cache_spares_the_hub_for_a_branch_in_raw() {
    share_cache(branch, "raw", CacheKind::Local(TempDir::new("cache-local")));
}
