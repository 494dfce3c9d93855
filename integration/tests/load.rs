//! Builds under load and interruption, end to end on one engine: several
//! builds at once (different repos, and the same repo twice) give exactly
//! the layouts the same builds give one at a time, and a build cancelled
//! with Ctrl-C mid-download ends, stops its download and frontend, and
//! leaves nothing that breaks the next build.
//!
//! Small repos (a few small files and one LFS file of a few MiB each), so
//! these stay cheap in CI. `#[ignore]`d for plain `cargo test`;
//! `integration/test.sh` runs them.

use std::time::{Duration, Instant};

use integration::engine::{Build, Outcome};
use integration::fs::{self, TempDir};
use integration::hub::{unique_repo, FakeHub};
use integration::layout::Layout;
use integration::procs;
use integration::sha256_digest;
use serde_json::json;

/// Files as `(path, bytes)`.
type Tree = Vec<(String, Vec<u8>)>;

/// A small repo: config, tokenizer, model card and an LFS weight of
/// `weight_mib` MiB, all with bytes of their own.
fn small_repo(weight_mib: usize) -> Tree {
    let seed = fs::fresh_seed();
    vec![
        (
            "config.json".into(),
            format!(r#"{{"architectures":["LoadForCausalLM"],"n":"{seed:x}"}}"#).into_bytes(),
        ),
        (
            "tokenizer.json".into(),
            format!(r#"{{"version":"1.0","seed":"{seed:x}"}}"#).into_bytes(),
        ),
        (
            "README.md".into(),
            format!("# load {seed:x}\n").into_bytes(),
        ),
        (
            "model.safetensors".into(),
            fs::pseudo_random_bytes(weight_mib << 20, seed),
        ),
    ]
}

/// Unpacks `layout` and compares it byte for byte with `files`.
fn assert_unpacks_to(layout: &Layout, files: &[(String, Vec<u8>)]) {
    let want = TempDir::new("load-expected");
    for (path, bytes) in files {
        fs::write_file(want.path(), path, bytes);
    }
    let got = TempDir::new("load-unpacked");
    layout.unpack(got.path());
    fs::assert_same_tree(want.path(), got.path());
}

/// One build of the concurrent round: its repo, files, format and output.
struct Job {
    repo: String,
    files: Tree,
    format: &'static str,
    out: TempDir,
}

impl Job {
    fn build(&self, hub: &FakeHub, ctx: &TempDir) -> Build {
        Build::new(ctx.path())
            .arg("source", &format!("hf://{}", self.repo))
            .arg("hf_endpoint", &hub.endpoint)
            .arg("layer_packaging", self.format)
            .arg("compress_weights", "true")
            .output(self.out.join("layout"))
    }
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn concurrent_builds_give_the_layouts_of_serial_builds() {
    let hub = FakeHub::start();
    let ctx = TempDir::new("load-ctx");
    // Four repos in four formats (tar formats run pack steps of our image
    // side by side), and a fifth repo built twice at the same time.
    let formats = ["raw", "tar", "tar+gzip", "tar+zstd", "tar+zstd"];
    let mut jobs: Vec<Job> = formats
        .iter()
        .map(|&format| {
            let repo = unique_repo("load");
            let files = small_repo(3);
            hub.create_repo(&repo, files.clone(), None);
            Job {
                repo,
                files,
                format,
                out: TempDir::new("load-out"),
            }
        })
        .collect();
    let twin = Job {
        repo: jobs[4].repo.clone(),
        files: jobs[4].files.clone(),
        format: jobs[4].format,
        out: TempDir::new("load-out"),
    };
    jobs.push(twin);

    // All six at once, on a cold cache (every repo is new).
    let running: Vec<_> = jobs.iter().map(|j| j.build(&hub, &ctx).spawn()).collect();
    let outcomes: Vec<Outcome> = running
        .into_iter()
        .map(|r| r.wait(Duration::from_secs(300)))
        .collect();
    let mut concurrent = Vec::new();
    for (job, outcome) in jobs.iter().zip(&outcomes) {
        assert!(
            outcome.success,
            "concurrent build of {} ({}) failed\n{}\n{}",
            job.repo,
            job.format,
            outcome.report(),
            hub.stats().describe()
        );
        let layout = Layout::verify(job.out.join("layout"));
        assert_unpacks_to(&layout, &job.files);
        if job.format == "raw" {
            let weight = &job
                .files
                .iter()
                .find(|(p, _)| p == "model.safetensors")
                .unwrap()
                .1;
            assert_eq!(
                layout.layer("model.safetensors").descriptor.digest,
                sha256_digest(weight)
            );
        }
        concurrent.push(layout.manifest_digest().to_string());
    }
    // The same repo built twice at once: the same bytes.
    assert_eq!(
        concurrent[4], concurrent[5],
        "two concurrent builds of {} gave different manifests",
        jobs[4].repo
    );
    fs::assert_same_tree(&jobs[4].out.join("layout"), &jobs[5].out.join("layout"));

    // The same builds one at a time, with --no-cache (every download and
    // step runs again): the same layouts, byte for byte.
    for (job, digest) in jobs.iter().zip(&concurrent).take(5) {
        let serial = Job {
            repo: job.repo.clone(),
            files: job.files.clone(),
            format: job.format,
            out: TempDir::new("load-serial"),
        };
        let outcome = serial.build(&hub, &ctx).no_cache().run();
        assert!(
            outcome.success,
            "serial build of {} ({}) failed\n{}",
            job.repo,
            job.format,
            outcome.report()
        );
        let layout = Layout::verify(serial.out.join("layout"));
        assert_eq!(
            layout.manifest_digest(),
            digest,
            "{} ({}): serial and concurrent builds differ",
            job.repo,
            job.format
        );
        fs::assert_same_tree(&job.out.join("layout"), &serial.out.join("layout"));
    }
}

/// Frontend processes (the gateway, or steps of our image) of builds
/// whose build args mention `needle`.
fn frontends_mentioning(needle: &str) -> Vec<procs::Proc> {
    procs::frontend_processes()
        .into_iter()
        .filter(|p| p.mentions(needle))
        .collect()
}

/// Polls `check` every 200 ms until it holds or `limit` has passed.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn ctrl_c_mid_download_ends_the_build_and_the_next_build_succeeds() {
    let hub = FakeHub::start();
    let ctx = TempDir::new("load-ctx");
    let repo = unique_repo("ctrlc");
    let files = small_repo(4);
    hub.create_repo(&repo, files.clone(), None);
    // The weight's first download sends 1 MiB, then nothing (BuildKit's
    // HTTP source has no stall timeout: it waits until cancelled).
    hub.fail(json!({"path_contains": "model.safetensors", "port": "cdn", "truncate_after": 1 << 20, "stall_secs": 300, "count": 1}));
    let build = |out: &TempDir| {
        Build::new(ctx.path())
            .arg("source", &format!("hf://{repo}"))
            .arg("hf_endpoint", &hub.endpoint)
            .output(out.join("layout"))
    };

    let cancelled_out = TempDir::new("load-out");
    let running = build(&cancelled_out).spawn();
    let stalled = eventually(Duration::from_secs(90), || {
        hub.stats()
            .requests
            .iter()
            .any(|r| r.port == "cdn" && r.method == "GET" && r.status == Some(200))
    });
    assert!(
        stalled,
        "the weight's download never started\n{}\n{}",
        running.stderr_so_far(),
        hub.stats().describe()
    );
    // The frontend is running (waiting for the download): the check below
    // that it is gone after Ctrl-C can fail.
    let frontends = frontends_mentioning(&repo);
    assert!(
        !frontends.is_empty(),
        "no /modelpack-frontend process mentions {repo} during its build"
    );
    assert_eq!(
        hub.stats().count("stall-closed:cdn"),
        0,
        "the stalled download ended before Ctrl-C"
    );

    running.interrupt();
    // Bounded below the 300 s stall: a build that ends in time ended on Ctrl-C.
    let outcome = running.wait(Duration::from_secs(240));
    assert!(
        !outcome.timed_out && !outcome.success,
        "the build did not end on Ctrl-C\n{}",
        outcome.report()
    );
    assert!(
        !cancelled_out.join("layout/index.json").exists(),
        "a cancelled build exported a layout"
    );

    // The engine stopped the build: BuildKit closed the stalled download
    // and no frontend process of this build is left.
    assert!(
        eventually(Duration::from_secs(30), || hub.stats().count("stall-closed:cdn") == 1),
        "BuildKit did not give up the stalled download within 30 s of Ctrl-C (the build still runs in the engine)\n{}",
        hub.stats().describe()
    );
    assert!(
        eventually(Duration::from_secs(30), || frontends_mentioning(&repo)
            .is_empty()),
        "frontend processes of the cancelled build still run 30 s after Ctrl-C: {:?}",
        frontends_mentioning(&repo)
    );

    // The hub serves normally now: the next build succeeds with the repo's
    // exact bytes, and a --no-cache build gives the same manifest.
    let out = TempDir::new("load-out");
    let outcome = build(&out).run();
    assert!(
        outcome.success,
        "the build after Ctrl-C failed\n{}\n{}",
        outcome.report(),
        hub.stats().describe()
    );
    let layout = Layout::verify(out.join("layout"));
    assert_unpacks_to(&layout, &files);
    let weight = &files
        .iter()
        .find(|(p, _)| p == "model.safetensors")
        .unwrap()
        .1;
    assert_eq!(
        layout.layer("model.safetensors").descriptor.digest,
        sha256_digest(weight)
    );
    let again = TempDir::new("load-out");
    let outcome = build(&again).no_cache().run();
    assert!(
        outcome.success,
        "the --no-cache build after Ctrl-C failed\n{}",
        outcome.report()
    );
    assert_eq!(
        Layout::verify(again.join("layout")).manifest_digest(),
        layout.manifest_digest()
    );
}
