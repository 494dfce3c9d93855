//! End-to-end: models alongside images (issue 18, the command-line way
//! in). A tiny app image (`FROM scratch` with Debian's static busybox) is
//! built here by Docker 28.5 with the containerd image store as an OCI
//! layout (`-o type=oci`), a small model is packed with `pack`, `bundle`
//! puts both in one OCI image index, `push` uploads it to the local
//! registry (127.0.0.1:5000), and then: Docker 28.5 (`docker pull` and
//! `docker run` of the bundle reference) runs the app; `pull`, `validate`,
//! `inspect` and `unpack` of the bundle reference find the model; `crane`,
//! `skopeo copy --all` and `oras cp -r` carry the index unchanged; a second
//! bundle with a changed app and the same model uploads no model blob; the
//! same inputs (from layouts, or from the registry) give the same index
//! digest; a referrer of the model stays a referrer.
//!
//! Needs the engines of `integration/engine-next.sh` and
//! `integration/engine-store.sh`, the registry on 127.0.0.1:5000,
//! `busybox-static` (`/bin/busybox`), `skopeo`, `oras` and crane
//! (`/opt/modelpack-engine-28/usr/bin/crane`). `#[ignore]`d like every
//! engine test; a missing tool fails it under `CI=true`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use integration::engine::{self, Engine, NEXT_ROOT};
use integration::fs::{self, TempDir};
use integration::{run_cli, sha256_digest, unique_name};
use serde_json::Value;

const REGISTRY: &str = "127.0.0.1:5000";
const BUSYBOX: &str = "/bin/busybox";
const ROLE: &str = "io.modelpack-frontend.bundle.role";

fn timeout() -> Duration {
    engine::default_timeout()
}

fn crane() -> String {
    format!("{NEXT_ROOT}/usr/bin/crane")
}

/// Runs the CLI; panics with its output unless it exits 0; returns stdout.
fn cli(args: &[&str]) -> (String, String) {
    let (code, out, err) = run_cli(args, &[]);
    assert_eq!(code, 0, "{args:?} failed\nstdout:\n{out}\nstderr:\n{err}");
    (out.trim().to_string(), err)
}

fn run(program: &str, args: &[&str]) -> engine::Outcome {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let o = engine::run(program, &args, timeout());
    o.assert_success();
    o
}

fn stdout(o: &engine::Outcome) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The tools the test needs: present, or a skip (a failure under CI=true).
fn have_tools() -> bool {
    let file = |p: &str| Path::new(p).is_file() || oci_registry::testing::skip_without(p);
    file(BUSYBOX)
        && file(&crane())
        && file(&Engine::Store.docker())
        && oci_registry::testing::require_tool("skopeo")
        && oci_registry::testing::require_tool("oras")
}

/// Builds the app image printing `message` as an OCI layout (directory).
fn build_app(message: &str) -> TempDir {
    let ctx = TempDir::new("bundle-app-ctx");
    std::fs::copy(BUSYBOX, ctx.join("busybox")).expect("copy busybox");
    fs::write_file(ctx.path(), "message", message.as_bytes());
    fs::write_file(
        ctx.path(),
        "Dockerfile",
        b"FROM scratch\nCOPY busybox /bin/busybox\nCOPY message /message\nENTRYPOINT [\"/bin/busybox\", \"cat\", \"/message\"]\n",
    );
    let out = TempDir::new("bundle-app-oci");
    let dest = format!("type=oci,tar=false,dest={}", out.path().display());
    Engine::Store
        .run_docker(
            &[
                "buildx",
                "build",
                "--platform",
                "linux/amd64",
                "-o",
                &dest,
                ctx.path().to_str().unwrap(),
            ],
            timeout(),
        )
        .assert_success();
    out
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

/// The config and layer digests the manifests of the bundle `layout` name.
fn leaf_blobs(layout: &Path, index_digest: &str) -> BTreeSet<String> {
    let index: Value = serde_json::from_slice(&blob(layout, index_digest)).unwrap();
    let mut out = BTreeSet::new();
    for m in index["manifests"].as_array().unwrap() {
        let doc: Value =
            serde_json::from_slice(&blob(layout, m["digest"].as_str().unwrap())).unwrap();
        out.insert(doc["config"]["digest"].as_str().unwrap().to_string());
        for l in doc["layers"].as_array().unwrap() {
            out.insert(l["digest"].as_str().unwrap().to_string());
        }
    }
    out
}

/// A small model folder.
fn model_dir() -> TempDir {
    let dir = TempDir::new("bundle-model");
    fs::write_file(
        dir.path(),
        "config.json",
        br#"{"architectures":["TinyForCausalLM"]}"#,
    );
    fs::write_file(
        dir.path(),
        "model.safetensors",
        &fs::pseudo_random_bytes(300 << 10, fs::fresh_seed()),
    );
    dir
}

/// Adds to the model layout a referrer of its manifest (an SBOM-like
/// artifact with a `subject`), listed in its index.json; returns its digest.
fn add_referrer(layout: &Path, subject: &Value) -> String {
    let put = |bytes: &[u8]| -> String {
        let d = sha256_digest(bytes);
        std::fs::write(layout.join("blobs/sha256").join(&d[7..]), bytes).unwrap();
        d
    };
    let empty = put(b"{}");
    let body = b"{\"sbom\":\"tiny\"}";
    let layer = put(body);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.sbom.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/json", "digest": layer, "size": body.len()}],
        "subject": {"mediaType": subject["mediaType"], "digest": subject["digest"], "size": subject["size"]},
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let d = put(&bytes);
    let mut index = read_json(&layout.join("index.json"));
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d, "size": bytes.len(),
            "artifactType": "application/vnd.example.sbom.v1+json",
        }));
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    d
}

/// `N blobs uploaded, M skipped, K mounted` from push's summary line.
fn uploads(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("pushed bundle"))
        .unwrap_or_else(|| panic!("no summary line in\n{stderr}"));
    let n = |word: &str| -> u64 {
        let before = line.split(word).next().unwrap();
        before
            .rsplit([' ', ';', ','])
            .find(|s| !s.is_empty())
            .unwrap()
            .parse()
            .unwrap_or_else(|e| panic!("{word} in {line}: {e}"))
    };
    (n(" blobs uploaded"), n(" skipped"), n(" mounted"))
}

#[test]
#[ignore]
fn bundle_of_app_and_model_runs_pulls_and_shares_the_model() {
    if !have_tools() {
        return;
    }
    Engine::Store.assert_ready();
    Engine::Next.assert_ready();
    let repo = unique_name("bundle");
    let tag = |t: &str| format!("{REGISTRY}/{repo}:{t}");

    // The inputs: an app image made by buildx, a model made by pack, a referrer.
    let app1 = build_app(&format!("app one {repo}\n"));
    let model = model_dir();
    let mlayout = TempDir::new("bundle-mlayout");
    let mdir = mlayout.join("m");
    let (model_digest, _) = cli(&[
        "pack",
        model.path().to_str().unwrap(),
        "-o",
        mdir.to_str().unwrap(),
        "--name",
        "tiny",
        // One referrer of our own below, so the counts stay exact (the
        // BOM and provenance `pack` attaches by default are tests/trust.rs').
        "--attest",
        "none",
    ]);
    let model_digest = model_digest.split_whitespace().last().unwrap().to_string();
    let mentry = read_json(&mdir.join("index.json"))["manifests"][0].clone();
    assert_eq!(mentry["digest"], model_digest.as_str());
    let referrer = add_referrer(&mdir, &mentry);

    // Compose: the same inputs give the same index digest.
    let work = TempDir::new("bundle-out");
    let b1 = work.join("b1");
    let m_arg = format!("{}:tiny", mdir.display());
    let (d1, _) = cli(&[
        "bundle",
        "--image",
        app1.path().to_str().unwrap(),
        "--model",
        &m_arg,
        "-o",
        b1.to_str().unwrap(),
    ]);
    let (d1_again, _) = cli(&[
        "bundle",
        "--image",
        app1.path().to_str().unwrap(),
        "--model",
        &m_arg,
        "-o",
        work.join("b1-again").to_str().unwrap(),
    ]);
    assert_eq!(d1, d1_again, "same inputs, same index digest");
    let index: Value = serde_json::from_slice(&blob(&b1, &d1)).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    let model_entries: Vec<&Value> = entries
        .iter()
        .filter(|e| e["annotations"][ROLE] == "model")
        .collect();
    assert_eq!(model_entries.len(), 1, "{index}");
    let me = model_entries[0];
    assert_eq!(me["digest"], model_digest.as_str());
    assert_eq!(
        me["platform"],
        serde_json::json!({"architecture": "unknown", "os": "unknown"})
    );
    assert!(me.get("artifactType").is_none(), "{me}");
    assert!(
        entries.iter().all(|e| e["digest"] != referrer.as_str()),
        "the referrer is not in the bundle index"
    );
    let app_index = read_json(&app1.join("index.json"));
    let app_top = app_index["manifests"][0]["digest"].as_str().unwrap();
    let app_entries: Value = serde_json::from_slice(&blob(app1.path(), app_top))
        .map(|v: Value| v["manifests"].clone())
        .unwrap_or(Value::Null);
    if let Some(app_entries) = app_entries.as_array() {
        assert_eq!(
            &entries[..entries.len() - 1],
            app_entries.as_slice(),
            "the app's entries, as buildx wrote them"
        );
    }
    let model_manifest: Value = serde_json::from_slice(&blob(&b1, &model_digest)).unwrap();
    assert!(model_manifest.get("subject").is_none());
    let listed: Vec<String> = read_json(&b1.join("index.json"))["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        listed,
        vec![d1.clone(), referrer.clone()],
        "the layout lists the bundle and the model's referrer"
    );

    // The CLI reads the bundle layout as its model.
    cli(&["validate", b1.to_str().unwrap()]);
    let (inspected, _) = cli(&["inspect", b1.to_str().unwrap(), "--json"]);
    assert!(inspected.contains(&model_digest), "{inspected}");

    // Push: the whole index, the model's referrer too.
    let (pushed, err) = cli(&["push", b1.to_str().unwrap(), &tag("v1"), "--plain-http"]);
    assert_eq!(pushed, d1, "{err}");
    let (up1, _, _) = uploads(&err);
    assert!(
        up1 >= 3,
        "first push uploads the app's and the model's blobs: {err}"
    );
    let crane_digest = |r: &str| stdout(&run(&crane(), &["digest", "--insecure", r]));
    assert_eq!(crane_digest(&tag("v1")), d1);
    let referrer_doc = stdout(&run(
        &crane(),
        &[
            "manifest",
            "--insecure",
            &format!("{REGISTRY}/{repo}@{referrer}"),
        ],
    ));
    assert!(referrer_doc.contains(&model_digest), "{referrer_doc}");
    let model_doc = stdout(&run(
        &crane(),
        &[
            "manifest",
            "--insecure",
            &format!("{REGISTRY}/{repo}@{model_digest}"),
        ],
    ));
    assert_eq!(
        sha256_digest(model_doc.as_bytes()),
        model_digest,
        "crane reads the model manifest byte for byte"
    );

    // Docker 28.5 (classic store, and containerd store) pulls the bundle
    // reference and runs the app.
    let docker = |args: &[&str]| Engine::Next.run_docker(args, timeout());
    for engine in [Engine::Next, Engine::Store] {
        engine
            .run_docker(&["pull", &tag("v1")], timeout())
            .assert_success();
        let ran = engine.run_docker(&["run", "--rm", &tag("v1")], timeout());
        ran.assert_success();
        assert_eq!(stdout(&ran), format!("app one {repo}"), "{engine:?}");
        let _ = engine.run_docker(&["rmi", &tag("v1")], timeout());
    }

    // Our commands find the model in the bundle reference.
    let pulled = work.join("pulled");
    let (pulled_digest, _) = cli(&[
        "pull",
        &tag("v1"),
        "-o",
        pulled.to_str().unwrap(),
        "--plain-http",
    ]);
    assert_eq!(pulled_digest, model_digest);
    cli(&["validate", pulled.to_str().unwrap()]);
    cli(&["validate", &tag("v1"), "--plain-http"]);
    let (inspected, _) = cli(&["inspect", &tag("v1"), "--plain-http", "--json"]);
    assert!(inspected.contains(&model_digest), "{inspected}");
    let files = work.join("files");
    cli(&[
        "unpack",
        &tag("v1"),
        "-o",
        files.to_str().unwrap(),
        "--plain-http",
    ]);
    assert_eq!(
        std::fs::read(files.join("model.safetensors")).unwrap(),
        std::fs::read(model.join("model.safetensors")).unwrap()
    );

    // Others carry the index unchanged.
    run(
        "skopeo",
        &[
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{}", tag("v1")),
            &format!("docker://{}", tag("skopeo")),
        ],
    );
    assert_eq!(crane_digest(&tag("skopeo")), d1);
    run(
        "oras",
        &[
            "cp",
            "-r",
            "--from-plain-http",
            "--to-plain-http",
            &tag("v1"),
            &format!("{REGISTRY}/{repo}-oras:v1"),
        ],
    );
    assert_eq!(crane_digest(&format!("{REGISTRY}/{repo}-oras:v1")), d1);
    run(&crane(), &["copy", "--insecure", &tag("v1"), &tag("crane")]);
    assert_eq!(crane_digest(&tag("crane")), d1);

    // From the registry, the same inputs give the same bundle.
    run(
        "skopeo",
        &[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}", app1.path().display()),
            &format!("docker://{}", tag("app1")),
        ],
    );
    let (_, _) = cli(&["push", &m_arg, &tag("model"), "--plain-http"]);
    let (d1_remote, _) = cli(&[
        "bundle",
        "--image",
        &tag("app1"),
        "--model",
        &tag("model"),
        "-o",
        work.join("b1-remote").to_str().unwrap(),
        "--plain-http",
    ]);
    assert_eq!(
        d1_remote, d1,
        "bundle from references = bundle from layouts"
    );

    // A new app version with the same model: only the app's new blobs go up.
    let app2 = build_app(&format!("app two {repo}\n"));
    let b2 = work.join("b2");
    let (d2, _) = cli(&[
        "bundle",
        "--image",
        app2.path().to_str().unwrap(),
        "--model",
        &m_arg,
        "-o",
        b2.to_str().unwrap(),
    ]);
    assert_ne!(d2, d1);
    let new: BTreeSet<String> = leaf_blobs(&b2, &d2)
        .difference(&leaf_blobs(&b1, &d1))
        .cloned()
        .collect();
    let (pushed2, err2) = cli(&["push", b2.to_str().unwrap(), &tag("v2"), "--plain-http"]);
    assert_eq!(pushed2, d2);
    let (up2, skipped2, _) = uploads(&err2);
    eprintln!("first push: {}", err.lines().last().unwrap_or_default());
    eprintln!("second push: {}", err2.lines().last().unwrap_or_default());
    assert_eq!(
        up2 as usize,
        new.len(),
        "only the new app blobs {new:?} are uploaded: {err2}"
    );
    let model_blobs = model_manifest["layers"].as_array().unwrap().len() as u64 + 1;
    assert!(
        skipped2 >= model_blobs,
        "the model's {model_blobs} blobs are skipped: {err2}"
    );
    let ran = docker(&["run", "--rm", "--pull", "always", &tag("v2")]);
    ran.assert_success();
    assert_eq!(stdout(&ran), format!("app two {repo}"));
    let (pulled2, _) = cli(&[
        "pull",
        &tag("v2"),
        "-o",
        work.join("pulled2").to_str().unwrap(),
        "--plain-http",
    ]);
    assert_eq!(pulled2, model_digest);

    let _ = docker(&["rmi", &tag("v2")]);
}
