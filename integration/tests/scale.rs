//! End-to-end: a Hub repo with more files than `max_connections`, fetched
//! in waves and packed with concurrent pack steps, then rebuilt unchanged
//! while the fake hub counts requests. `#[ignore]`d like the other e2e
//! tests; `integration/test.sh` runs them. Timings belong in
//! `integration/bench.sh`, never here.

use integration::engine::Build;
use integration::fs::{self, TempDir};
use integration::hub::{unique_repo, FakeHub};
use integration::layout::Layout;

const SMALL: usize = 40;
const LFS: usize = 20;
const LIMIT: usize = 8;

/// `.gitattributes`, `SMALL` small text files in folders and `LFS` LFS
/// weights, unique to `seed`.
fn repo_files(seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![(
        ".gitattributes".to_string(),
        b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n".to_vec(),
    )];
    for i in 0..SMALL {
        files.push((
            format!("part{}/note{i}.txt", i % 4),
            format!("note {i} of {seed:016x}\n").into_bytes(),
        ));
    }
    for i in 0..LFS {
        files.push((
            format!("w{i}.safetensors"),
            fs::pseudo_random_bytes(3000 + i * 7, seed ^ i as u64),
        ));
    }
    files
}

fn build(hub: &FakeHub, ctx: &TempDir, source: &str, dest: &std::path::Path) -> Build {
    Build::new(ctx.path())
        .arg("source", source)
        .arg("hf_endpoint", &hub.endpoint)
        .arg("max_connections", &LIMIT.to_string())
        .arg("layer_packaging", "tar")
        .output(dest)
}

/// Builds a one-file context once, before the tests' first builds.
///
/// On Docker 26 (BuildKit 0.13), when the engine's cache is empty and two
/// builds pull the frontend image at the same moment, the next build of
/// each re-runs every step of our image (FileOps stay cached): seen after
/// `docker buildx prune -af` with these tests first, never once the image
/// had been pulled. That is a one-time cost of a fresh builder, not what
/// these tests measure, so they start from a pulled image.
fn pull_the_frontend_image_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let ctx = TempDir::new("scale-warm");
        fs::write_file(ctx.path(), "weights.bin", b"warm-up");
        let out = TempDir::new("scale-warm-out");
        let outcome = Build::new(ctx.path())
            .arg("source", ".")
            .output(out.join("layout"))
            .run();
        assert!(
            outcome.success,
            "warm-up build failed\n{}",
            outcome.report()
        );
    });
}

/// A fresh repo of [`repo_files`] on its own fake hub, pinned to its commit.
struct Pinned {
    hub: FakeHub,
    ctx: TempDir,
    repo: String,
    files: Vec<(String, Vec<u8>)>,
    source: String,
}

impl Pinned {
    fn new(prefix: &str) -> Self {
        let files = repo_files(fs::fresh_seed());
        let (hub, repo, commit) = fresh_repo(prefix, &files);
        let source = format!("hf://{repo}@{commit}");
        Pinned {
            hub,
            ctx: TempDir::new("scale-ctx"),
            repo,
            files,
            source,
        }
    }

    /// Asserts that `layout` unpacks to the repo's files.
    fn assert_unpacks(&self, layout: &Layout) {
        let want = TempDir::new("scale-want");
        for (path, bytes) in self.files.iter().filter(|(p, _)| p != ".gitattributes") {
            fs::write_file(want.path(), path, bytes);
        }
        let got = TempDir::new("scale-got");
        layout.unpack(got.path());
        fs::assert_same_tree(want.path(), got.path());
    }
}

/// Builds the repo twice, the second time unchanged, and returns the
/// requests the rebuild sent to the hub. `step`: fetch small files in our
/// own cached download step (host network, as a `--bridge=none` engine
/// needs); otherwise the engine's missing default network makes the
/// frontend fall back to one BuildKit HTTP source per file (small and LFS).
fn build_twice(step: bool, second_args: &[(&str, &str)]) -> integration::hub::HubStats {
    let pinned = Pinned::new("scale");
    let Pinned {
        hub,
        ctx,
        repo,
        source,
        ..
    } = &pinned;
    let build = |dest: &std::path::Path| {
        let b = build(hub, ctx, source, dest);
        if step {
            b.arg("download_network", "host")
                .flag("--allow=network.host")
        } else {
            b
        }
    };

    let out = TempDir::new("scale-out");
    let first = out.join("first");
    let outcome = build(&first).run();
    assert!(
        outcome.success,
        "first build failed\n{}\n{}",
        outcome.report(),
        hub.stats().describe()
    );
    let layout = Layout::verify(&first);
    pinned.assert_unpacks(&layout);
    // Progress names tell the paths apart: one download step, or one
    // BuildKit HTTP source per small file.
    let per_file = outcome.stderr.contains("fetch part0/note0.txt (");
    assert_eq!(
        per_file,
        !step,
        "small files fetched one source each: {per_file}\n{}",
        outcome.report()
    );
    if step {
        assert!(
            outcome
                .stderr
                .contains(&format!("fetch {SMALL} small file(s) of {repo}@")),
            "{}",
            outcome.report()
        );
    }
    // The small files are packed by one step, not one step each.
    assert!(
        outcome
            .stderr
            .contains(" small file(s) as tar into blobs/sha256"),
        "{}",
        outcome.report()
    );
    assert!(
        !outcome.stderr.contains("pack part0/note0.txt as tar"),
        "{}",
        outcome.report()
    );
    // LFS files likewise: one step writing blobs/sha256, or one source each.
    let lfs_per_file = outcome.stderr.contains("fetch w0.safetensors (");
    assert_eq!(
        lfs_per_file,
        !step,
        "LFS files fetched one source each: {lfs_per_file}\n{}",
        outcome.report()
    );
    if step {
        assert!(
            outcome
                .stderr
                .contains(&format!("fetch {LFS} LFS file(s) of {repo}@")),
            "{}",
            outcome.report()
        );
    }

    hub.reset_stats();
    let second = out.join("second");
    let outcome = second_args
        .iter()
        .fold(build(&second), |b, (k, v)| b.arg(k, v))
        .run();
    assert!(
        outcome.success,
        "rebuild failed\n{}\n{}",
        outcome.report(),
        hub.stats().describe()
    );
    let stats = hub.stats();
    eprintln!(
        "unchanged rebuild of {} files with max_connections={LIMIT} (step: {step}):\n{}",
        SMALL + LFS,
        stats.describe()
    );
    assert_eq!(
        Layout::verify(&second).manifest_digest(),
        layout.manifest_digest(),
        "same commit, same manifest"
    );
    let bodies: Vec<String> = stats.body_downloads().iter().map(|r| r.line()).collect();
    assert!(
        bodies.is_empty(),
        "the rebuild downloaded file bodies again: {bodies:#?}\n{}",
        outcome.report()
    );
    assert!(
        stats.requests.iter().all(|r| r.port == "hub"),
        "LFS files are cached by sha256: no CDN request"
    );
    stats
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn an_unchanged_pinned_rebuild_asks_the_hub_only_for_the_revision() {
    let stats = build_twice(true, &[]);
    // The revision lookup; the download step is cached by commit and
    // git blob ids, LFS files by sha256.
    assert!(
        stats.requests.len() <= 2,
        "{} requests for an unchanged rebuild of {} files (bound 2):\n{}",
        stats.requests.len(),
        SMALL + LFS,
        stats.describe()
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn without_a_default_network_small_files_fall_back_to_http_sources_in_waves() {
    let stats = build_twice(false, &[]);
    // One look at the revision, at most one revalidation per small file;
    // the waves add none.
    assert!(
        stats.requests.len() <= 1 + SMALL,
        "{} requests for an unchanged rebuild (bound {}):\n{}",
        stats.requests.len(),
        1 + SMALL,
        stats.describe()
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn proxy_build_args_do_not_re_run_the_cached_download_step() {
    // buildx passes the client's proxy settings as build args; they reach
    // our download steps out of the cache key, so a rebuild that only adds
    // them is still fully cached (and loopback bypasses the proxy).
    let proxy = [
        ("HTTPS_PROXY", "http://127.0.0.1:9"),
        ("HTTP_PROXY", "http://127.0.0.1:9"),
        ("NO_PROXY", "127.0.0.1,localhost"),
    ];
    let stats = build_twice(true, &proxy);
    assert!(
        stats.requests.len() <= 2,
        "{} requests:\n{}",
        stats.requests.len(),
        stats.describe()
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn a_raw_layout_is_the_same_whether_lfs_files_come_in_one_step_or_one_source_each() {
    let pinned = Pinned::new("scale-raw");
    let Pinned {
        hub,
        ctx,
        repo,
        source,
        ..
    } = &pinned;
    let out = TempDir::new("scale-raw-out");
    let raw = |dest: &std::path::Path| build(hub, ctx, source, dest).arg("layer_packaging", "raw");

    // One step: the layout is written on top of its output, so only the
    // small files are copied into blobs/sha256 (the weights never are), in
    // one action from where their scan wrote them.
    let one_step = raw(&out.join("step"))
        .arg("download_network", "host")
        .flag("--allow=network.host")
        .run();
    assert!(one_step.success, "{}", one_step.report());
    assert!(
        one_step
            .stderr
            .contains(&format!("fetch {LFS} LFS file(s) of {repo}@")),
        "{}",
        one_step.report()
    );
    assert!(
        one_step.stderr.contains(&format!(
            "copy {SMALL} scanned small file(s) of {} to blobs/sha256 in one copy",
            repo.rsplit('/').next().unwrap()
        )),
        "only the small files are copied\n{}",
        one_step.report()
    );
    // One source each (the engine has no default network): every LFS
    // file is copied into blobs/sha256, on the small files' scanned blobs.
    let per_file = raw(&out.join("sources")).run();
    assert!(per_file.success, "{}", per_file.report());
    assert!(
        per_file.stderr.contains("fetch w0.safetensors ("),
        "{}",
        per_file.report()
    );
    assert!(
        per_file
            .stderr
            .contains(&format!("copy {LFS} raw file(s) of ")),
        "{}",
        per_file.report()
    );

    let a = Layout::verify(out.join("step"));
    let b = Layout::verify(out.join("sources"));
    assert_eq!(
        a.manifest_digest(),
        b.manifest_digest(),
        "the same bytes either way"
    );
    pinned.assert_unpacks(&a);
}

/// A fake hub serving a new repo of `files` (after the image is pulled):
/// the hub, the repo and its commit.
fn fresh_repo(prefix: &str, files: &[(String, Vec<u8>)]) -> (FakeHub, String, String) {
    pull_the_frontend_image_once();
    let hub = FakeHub::start();
    let repo = unique_repo(prefix);
    let commit = hub.create_repo(
        &repo,
        files.iter().map(|(p, b)| (p.as_str(), b.as_slice())),
        None,
    );
    (hub, repo, commit)
}

/// Files of the many-files repo: more than fit in one BuildKit 0.13 solve
/// request (4 MiB) when a layout's documents and download list were
/// written into the graph verbatim (about 850 bytes per file), and fewer
/// than make a manifest over the 4 MiB registries accept.
const MANY: usize = 6_000;

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn six_thousand_small_files_fit_in_one_request_and_an_unchanged_rebuild_asks_only_for_the_revision()
{
    let seed = fs::fresh_seed();
    let files: Vec<(String, Vec<u8>)> = (0..MANY)
        .map(|i| {
            (
                format!("d{:02}/f{i:05}.txt", i / 500),
                format!("file {i} of {seed:016x}\n").into_bytes(),
            )
        })
        .collect();
    let (hub, repo, commit) = fresh_repo("scale-many", &files);
    let ctx = TempDir::new("scale-many-ctx");
    let out = TempDir::new("scale-many-out");
    let build = |dest: &std::path::Path| {
        Build::new(ctx.path())
            .arg("source", &format!("hf://{repo}@{commit}"))
            .arg("hf_endpoint", &hub.endpoint)
            .arg("download_network", "host")
            .flag("--allow=network.host")
            .output(dest)
    };

    let first = build(&out.join("first")).run();
    assert!(
        first.success,
        "{}\n{}",
        first.report(),
        hub.stats().describe()
    );
    assert!(
        first
            .stderr
            .contains(&format!("fetch {MANY} small file(s) of {repo}@")),
        "{}",
        first.report()
    );
    assert!(
        first
            .stderr
            .contains("write the documents of ModelPack layout"),
        "big documents come from a step\n{}",
        first.report()
    );
    let layout = Layout::verify(out.join("first"));
    let want = TempDir::new("scale-many-want");
    for (path, bytes) in &files {
        fs::write_file(want.path(), path, bytes);
    }
    let got = TempDir::new("scale-many-got");
    layout.unpack(got.path());
    fs::assert_same_tree(want.path(), got.path());

    hub.reset_stats();
    let second = build(&out.join("second")).run();
    assert!(second.success, "{}", second.report());
    assert_eq!(
        Layout::verify(out.join("second")).manifest_digest(),
        layout.manifest_digest()
    );
    let stats = hub.stats();
    assert!(
        stats.requests.len() <= 2,
        "{} requests for an unchanged rebuild of {MANY} files:\n{}",
        stats.requests.len(),
        stats.describe()
    );
}

/// A model fixture written by the real `safetensors` writer
/// (`modelpack/tests/fixtures/describe/`).
fn fixture(name: &str) -> Vec<u8> {
    let path = integration::repo_root()
        .join("modelpack/tests/fixtures/describe")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()))
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn packed_lfs_files_written_as_layers_while_downloading_equal_those_packed_after_and_are_described()
{
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            ".gitattributes".into(),
            b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n".to_vec(),
        ),
        (
            "model-00001-of-00002.safetensors".into(),
            fixture("sharded/model-00001-of-00002.safetensors"),
        ),
        (
            "shards/model-00002-of-00002.safetensors".into(),
            fixture("sharded/model-00002-of-00002.safetensors"),
        ),
        ("config.json".into(), fixture("config_llama.json")),
        (
            "note.txt".into(),
            format!("seed {:016x}\n", fs::fresh_seed()).into_bytes(),
        ),
    ];
    let (hub, repo, commit) = fresh_repo("scale-packed", &files);
    let ctx = TempDir::new("scale-packed-ctx");
    let out = TempDir::new("scale-packed-out");
    for (format, compress) in [("tar", "false"), ("tar+zstd", "true")] {
        let build = |dest: &std::path::Path| {
            Build::new(ctx.path())
                .arg("source", &format!("hf://{repo}@{commit}"))
                .arg("hf_endpoint", &hub.endpoint)
                .arg("layer_packaging", format)
                .arg("compress_weights", compress)
                .output(dest)
        };
        let in_step = out.join(format!("{format}-step"));
        let step = build(&in_step)
            .arg("download_network", "host")
            .flag("--allow=network.host")
            .run();
        assert!(step.success, "{}", step.report());
        assert!(
            step.stderr
                .contains(&format!("into blobs/sha256, written as {format}")),
            "{}",
            step.report()
        );
        assert!(
            !step
                .stderr
                .contains("pack model-00001-of-00002.safetensors"),
            "no pack step for the weights\n{}",
            step.report()
        );
        // Without a default network the LFS files are BuildKit HTTP
        // sources, packed by pack steps afterwards.
        let after = out.join(format!("{format}-after"));
        let packed_after = build(&after).run();
        assert!(packed_after.success, "{}", packed_after.report());
        assert!(
            packed_after
                .stderr
                .contains("pack model-00001-of-00002.safetensors as "),
            "{}",
            packed_after.report()
        );

        let (a, b) = (Layout::verify(&in_step), Layout::verify(&after));
        assert_eq!(
            a.manifest_digest(),
            b.manifest_digest(),
            "{format}: the same bytes either way"
        );
        let config = &a.config;
        assert!(
            config["config"]["paramSize"].is_string(),
            "{format}: headers read from inside the layers: {config}"
        );
        assert_eq!(config["config"]["format"], "safetensors", "{config}");
        let got = TempDir::new("scale-packed-got");
        a.unpack(got.path());
        for (path, bytes) in files.iter().filter(|(p, _)| p != ".gitattributes") {
            assert!(
                std::fs::read(got.path().join(path)).unwrap() == *bytes,
                "{format}: {path}"
            );
        }
    }
}
