//! End-to-end: layouts the frontend writes through `docker buildx`, moved
//! with the command line's `push` to real registries (anonymous plain
//! HTTP, Basic auth over TLS, Bearer token auth; `docker-registry`
//! processes from `oci_registry::testing`), and read back with `pull`,
//! `unpack REF`, `validate REF` and `inspect REF`. Interop: what we push,
//! `oras` and `skopeo` read unchanged; what `oras push` uploads with
//! model-spec media types, our `unpack` extracts.
//!
//! The CLI binary is `MODELPACK_CLI` when set, else
//! `$CARGO_TARGET_DIR/debug/modelpack-frontend` (run `cargo build -p
//! modelpack-frontend` first); the frontend image is `MODELPACK_IMAGE`.
//! Needs `docker-registry`, `openssl`, `oras` and `skopeo`; `#[ignore]`d
//! like every engine test.

use std::io::Write;

use base64::Engine as _;
use std::path::Path;
use std::process::{Command, Stdio};

use integration::engine::{self, Build};
use integration::fs::{self, TempDir};
use oci_registry::testing::{Registry, PASSWORD, USER};

use integration::cli_binary;

/// What one CLI run returned.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self, what: &str) -> &Self {
        assert_eq!(
            self.code, 0,
            "{what} failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs the CLI with `stdin` piped in and `DOCKER_CONFIG` pointing at
/// `docker_config` (so the host's credentials never leak into a test).
fn cli_in(docker_config: &Path, args: &[String], stdin: &str) -> Run {
    let mut child = Command::new(cli_binary())
        .args(args)
        .env("DOCKER_CONFIG", docker_config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("wait for the CLI");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A registry under test with the flags and stdin the CLI needs for it.
struct Target {
    reg: Registry,
    flags: Vec<String>,
    stdin: String,
    /// An empty Docker config folder.
    docker_config: TempDir,
}

impl Target {
    fn new(reg: Registry) -> Target {
        let mut flags = Vec::new();
        if !reg.tls {
            flags.push("--plain-http".to_string());
        }
        if let Some(ca) = &reg.ca {
            flags.extend(["--ca-file".to_string(), ca.display().to_string()]);
        }
        let needs_auth = reg.tls || reg.token_server.is_some();
        let mut stdin = String::new();
        if needs_auth {
            flags.extend([
                "--username".to_string(),
                USER.to_string(),
                "--password-stdin".to_string(),
            ]);
            stdin = format!("{PASSWORD}\n");
        }
        Target {
            reg,
            flags,
            stdin,
            docker_config: TempDir::new("docker-config"),
        }
    }

    fn reference(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.reg.host)
    }

    /// Runs `command args… <registry flags>`.
    fn cli(&self, command: &str, args: &[&str]) -> Run {
        let mut all = vec![command.to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        all.extend(self.flags.iter().cloned());
        cli_in(self.docker_config.path(), &all, &self.stdin)
    }
}

fn require_tools() {
    for tool in ["docker-registry", "openssl"] {
        if !oci_registry::testing::which(tool) {
            panic!("{tool} is not installed; integration/engine.sh installs it");
        }
    }
}

/// A model folder: a weight file, a config, a nested tokenizer file and
/// an executable script.
fn model_dir() -> TempDir {
    let dir = TempDir::new("regcli-model");
    let root = dir.path();
    fs::write_file(
        root,
        "config.json",
        br#"{"architectures":["TinyForCausalLM"]}"#,
    );
    fs::write_file(
        root,
        "model.safetensors",
        &fs::pseudo_random_bytes(200 << 10, fs::fresh_seed()),
    );
    fs::write_file(root, "tokenizer/vocab.json", br#"{"a":0}"#);
    let script = fs::write_file(root, "scripts/run.py", b"print('hi')\n");
    fs::set_mode(&script, 0o755);
    dir
}

/// The frontend's layout of `model`, layers packaged as `packaging`.
fn build_layout(model: &Path, packaging: &str) -> TempDir {
    let out = TempDir::new("regcli-layout");
    Build::new(model)
        .arg("source", ".")
        .arg("name", "tiny")
        .arg("layer_packaging", packaging)
        .output(out.path())
        .run()
        .assert_success();
    out
}

fn index_digest(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The blobs of the layout's model (its manifest, config and layers; not
/// its referrers, which `pull` without `--referrers` and `oras cp` leave
/// behind), by relative path.
fn blobs(layout: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let all = fs::read_tree(&layout.join("blobs"));
    let manifest_digest = index_digest(layout);
    let path = |d: &str| format!("sha256/{}", d.trim_start_matches("sha256:"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&all[&path(&manifest_digest)]).unwrap();
    let mut wanted = vec![
        path(&manifest_digest),
        path(manifest["config"]["digest"].as_str().unwrap()),
    ];
    for l in manifest["layers"].as_array().unwrap() {
        wanted.push(path(l["digest"].as_str().unwrap()));
    }
    all.into_iter()
        .filter(|(k, _)| wanted.contains(k) || k.ends_with(".partial"))
        .collect()
}

/// The `… sent` summary line of a push.
fn summary(run: &Run) -> String {
    run.stderr
        .lines()
        .rfind(|l| l.starts_with("pushed "))
        .unwrap_or_default()
        .to_string()
}

/// Push, push again, pull, unpack, validate and inspect one layout
/// against one registry.
fn roundtrip(t: &Target, model: &Path, layout: &Path, repo: &str) {
    let want = index_digest(layout);
    let reference = t.reference(repo, "v1");
    let src = layout.to_str().unwrap();

    let first = t.cli("push", &[src, &reference]);
    first.ok("push");
    assert_eq!(first.stdout.trim(), want, "push prints the manifest digest");
    assert!(
        summary(&first).contains(" 0 skipped, 0 mounted"),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("uploaded"),
        "one line per blob: {}",
        first.stderr
    );

    let again = t.cli("push", &[src, &reference]);
    again.ok("second push");
    assert_eq!(again.stdout.trim(), want);
    let line = summary(&again);
    assert!(
        line.contains(": 0 blobs uploaded,") && line.ends_with(", 0 B sent"),
        "second push sends nothing: {line}"
    );

    let pulled = TempDir::new("regcli-pulled");
    let run = t.cli("pull", &[&reference, "-o", pulled.path().to_str().unwrap()]);
    run.ok("pull");
    assert_eq!(run.stdout.trim(), want);
    assert_eq!(index_digest(pulled.path()), want);
    assert_eq!(
        blobs(pulled.path()),
        blobs(layout),
        "pulled blobs are the pushed ones"
    );

    let files = TempDir::new("regcli-files");
    t.cli(
        "unpack",
        &[&reference, "-o", files.path().to_str().unwrap()],
    )
    .ok("unpack REF");
    fs::assert_same_tree(model, files.path());
    assert_eq!(fs::mode(&files.join("scripts/run.py")) & 0o777, 0o755);

    let run = t.cli("validate", &[&reference]);
    run.ok("validate REF");
    assert!(
        run.stdout
            .starts_with(&format!("ok: {reference} manifest {want}")),
        "{}",
        run.stdout
    );

    let run = t.cli("inspect", &[&reference]);
    run.ok("inspect REF");
    assert!(
        run.stdout
            .contains(&format!("Name:      {reference}\nManifest:  {want}\n")),
        "{}",
        run.stdout
    );
}

/// A wrong password fails with exit 1 and one line naming the problem.
fn wrong_password(t: &Target, layout: &Path) {
    let reference = t.reference("org/denied", "v1");
    let mut all = vec!["push".to_string(), layout.display().to_string(), reference];
    all.extend(t.flags.iter().cloned());
    let run = cli_in(t.docker_config.path(), &all, "not-the-password\n");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.starts_with("pushing "))
        .collect();
    assert_eq!(errors.len(), 1, "one line: {}", run.stderr);
    eprintln!("wrong password: {}", errors[0]);
    assert!(
        errors[0].starts_with("modelpack-frontend push: "),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains(USER) || errors[0].contains("credentials"),
        "says whose credentials: {}",
        errors[0]
    );
}

#[test]
#[ignore]
fn push_pull_unpack_validate_on_three_registries() {
    require_tools();
    let model = model_dir();
    let layouts = [
        ("raw", build_layout(model.path(), "raw")),
        ("zstd", build_layout(model.path(), "tar+zstd")),
    ];
    for (name, reg) in [
        ("plain", Registry::plain()),
        ("basic-tls", Registry::basic_tls()),
        ("token", Registry::token()),
    ] {
        let t = Target::new(reg);
        for (packaging, layout) in &layouts {
            eprintln!("== {name} registry, {packaging} layout");
            roundtrip(
                &t,
                model.path(),
                layout.path(),
                &format!("org/model-{packaging}"),
            );
        }
        if name != "plain" {
            wrong_password(&t, layouts[0].1.path());
        }
    }
}

#[test]
#[ignore]
fn push_mounts_from_another_repository_and_reads_docker_config() {
    require_tools();
    let model = model_dir();
    let layout = build_layout(model.path(), "raw");
    let src = layout.path().to_str().unwrap();
    let t = Target::new(Registry::basic_tls());
    t.cli("push", &[src, &t.reference("org/first", "v1")])
        .ok("push");

    // Credentials from $DOCKER_CONFIG/config.json instead of flags.
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    fs::write_file(
        t.docker_config.path(),
        "config.json",
        serde_json::json!({"auths": {t.reg.host.clone(): {"auth": auth}}})
            .to_string()
            .as_bytes(),
    );
    let ca = t.reg.ca.as_ref().unwrap().display().to_string();
    let args: Vec<String> = [
        "push",
        src,
        &t.reference("org/second", "v1"),
        "--from",
        "org/first",
        "--ca-file",
        &ca,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = cli_in(t.docker_config.path(), &args, "");
    run.ok("push --from with docker config credentials");
    let line = summary(&run);
    assert!(
        line.contains(": 0 blobs uploaded, 0 skipped,") && line.ends_with(" mounted, 0 B sent"),
        "{line}"
    );
    assert!(!line.contains(" 0 mounted"), "{line}");
    assert!(run.stderr.contains(": mounted"), "{}", run.stderr);
}

#[test]
#[ignore]
fn oras_and_skopeo_read_what_we_push_and_we_unpack_what_oras_pushes() {
    require_tools();
    let model = model_dir();
    let layout = build_layout(model.path(), "tar+zstd");
    let want = index_digest(layout.path());
    let t = Target::new(Registry::plain());
    let reference = t.reference("org/interop", "v1");
    t.cli("push", &[layout.path().to_str().unwrap(), &reference])
        .ok("push");

    // oras copies it into an OCI layout: the same manifest and blobs.
    let copied = TempDir::new("regcli-oras");
    let dest = format!("{}:v1", copied.path().display());
    engine::oras(&[
        "copy",
        "--from-plain-http",
        &reference,
        "--to-oci-layout",
        &dest,
    ])
    .assert_success();
    let manifest = format!("sha256/{}", want.trim_start_matches("sha256:"));
    assert_eq!(
        blobs(copied.path()),
        blobs(layout.path()),
        "oras copy: same blobs"
    );
    assert!(blobs(copied.path()).contains_key(&manifest));

    // skopeo sees the same manifest bytes and copies it unchanged.
    let raw = engine::skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    raw.assert_success();
    assert_eq!(
        integration::sha256_digest(&raw.stdout),
        want,
        "skopeo inspect --raw digest"
    );
    let skopeo_dir = TempDir::new("regcli-skopeo");
    engine::skopeo(&[
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        &format!("docker://{reference}"),
        &format!("oci:{}:v1", skopeo_dir.path().display()),
    ])
    .assert_success();
    assert_eq!(
        index_digest(skopeo_dir.path()),
        want,
        "skopeo copy keeps the digest"
    );
    assert_eq!(
        blobs(skopeo_dir.path()),
        blobs(layout.path()),
        "skopeo copy: same blobs"
    );

    // crane (`CRANE`, else on PATH) agrees on the digest and the bytes.
    match crane() {
        Some(crane) => {
            let digest = engine::run(
                &crane,
                &["digest".into(), "--insecure".into(), reference.clone()],
                engine::default_timeout(),
            );
            digest.assert_success();
            assert_eq!(
                String::from_utf8_lossy(&digest.stdout).trim(),
                want,
                "crane digest"
            );
            let raw = engine::run(
                &crane,
                &["manifest".into(), "--insecure".into(), reference.clone()],
                engine::default_timeout(),
            );
            raw.assert_success();
            assert_eq!(
                integration::sha256_digest(&raw.stdout),
                want,
                "crane manifest bytes"
            );
        }
        None => {
            oci_registry::testing::skip_without("crane (set CRANE or put it on PATH)");
        }
    }

    // oras push with model-spec media types; our unpack extracts it.
    let work = TempDir::new("regcli-oras-push");
    let weights = fs::pseudo_random_bytes(70_000, fs::fresh_seed());
    fs::write_file(work.path(), "weights.bin", &weights);
    fs::write_file(
        work.path(),
        "annotations.json",
        br#"{"weights.bin":{"org.cncf.model.filepath":"models/weights.bin"}}"#,
    );
    let pushed = t.reference("org/from-oras", "v1");
    let out = engine::run(
        "sh",
        &[
            "-c".to_string(),
            format!(
                "cd {} && oras push --plain-http --artifact-type application/vnd.cncf.model.manifest.v1+json \
                 --annotation-file annotations.json {pushed} weights.bin:application/vnd.cncf.model.weight.v1.raw",
                work.path().display()
            ),
        ],
        engine::default_timeout(),
    );
    out.assert_success();
    let files = TempDir::new("regcli-oras-files");
    t.cli("unpack", &[&pushed, "-o", files.path().to_str().unwrap()])
        .ok("unpack what oras pushed");
    assert_eq!(
        fs::read_tree(files.path()).into_iter().collect::<Vec<_>>(),
        vec![("models/weights.bin".to_string(), weights)]
    );
}

/// The crane binary: `CRANE`, else `crane` on PATH (Debian has it only in
/// sid: `apt-get download crane/sid` and `dpkg-deb -x` it).
fn crane() -> Option<String> {
    match std::env::var("CRANE") {
        Ok(c) if !c.is_empty() => Some(c),
        _ => oci_registry::testing::which("crane").then(|| "crane".to_string()),
    }
}

#[test]
#[ignore]
fn registry_usage_errors_exit_2() {
    let cfg = TempDir::new("docker-config");
    let run = |args: &[&str]| {
        cli_in(
            cfg.path(),
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "",
        )
    };
    assert_eq!(run(&["push", "somewhere"]).code, 2, "no REF");
    assert_eq!(
        run(&["push", "x", "127.0.0.1:1/a:b", "--username", "u"]).code,
        2,
        "--username without --password-stdin"
    );
    assert_eq!(run(&["pull", "127.0.0.1:1/a:b"]).code, 2, "-o is required");
    assert_eq!(
        run(&["pull", "127.0.0.1:1/a:b", "-o", "x", "--concurrency", "0"]).code,
        2
    );
    let r = run(&["validate", "127.0.0.1:1/nothing:here", "--plain-http"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("127.0.0.1:1"), "{}", r.stderr);
}

/// A pull interrupted earlier (its blob left as `<hex>.partial`, as after
/// Ctrl-C) goes on from those bytes: the summary counts it as resumed,
/// the blob is whole and verified, and no partial file is left.
#[test]
#[ignore]
fn pull_goes_on_from_a_partial_blob() {
    require_tools();
    let model = model_dir();
    let layout = build_layout(model.path(), "raw");
    let t = Target::new(Registry::plain());
    let reference = t.reference("org/resume", "v1");
    t.cli("push", &[layout.path().to_str().unwrap(), &reference])
        .ok("push");

    let source_blobs = blobs(layout.path());
    let (big_path, big) = source_blobs.iter().max_by_key(|(_, b)| b.len()).unwrap();
    let pulled = TempDir::new("regcli-resume");
    let partial = pulled.join("blobs").join(format!("{big_path}.partial"));
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, &big[..big.len() / 2]).unwrap();

    let run = t.cli("pull", &[&reference, "-o", pulled.path().to_str().unwrap()]);
    run.ok("pull after an interruption");
    let line = run
        .stderr
        .lines()
        .rfind(|l| l.starts_with("pulled "))
        .unwrap_or_default();
    assert!(
        line.contains("(1 resumed)"),
        "the partial blob is resumed: {}",
        run.stderr
    );
    assert_eq!(
        blobs(pulled.path()),
        source_blobs,
        "the pulled blobs are the pushed ones, and no partial file is left"
    );
    assert_eq!(index_digest(pulled.path()), index_digest(layout.path()));

    let again = t.cli("pull", &[&reference, "-o", pulled.path().to_str().unwrap()]);
    again.ok("second pull");
    let line = again
        .stderr
        .lines()
        .rfind(|l| l.starts_with("pulled "))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains(": 0 blobs downloaded (0 resumed),") && line.ends_with(", 0 B received"),
        "{line}"
    );
}
