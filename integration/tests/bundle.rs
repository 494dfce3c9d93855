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
//! digest; a referrer of the model stays a referrer. Through a counting
//! proxy on loopback in front of the same registry (a real
//! docker-registry, not a mock): `bundle --image REF` downloads no app
//! blob, `push` of that bundle mounts every blob and uploads none, a push
//! to a second registry fetches exactly the app's blobs, `bundle --model
//! REF` brings the model's referrer along, `docker pull` fetches no model
//! blob. The second test runs the app with its model as a platform would:
//! an init step of our image unpacks the bundle's model into a volume the
//! app reads, and the model built with `output_mode=image` is mounted
//! beside the app (an image mount of the bundle is the app).
//!
//! Needs the engines of `integration/engine-next.sh` and
//! `integration/engine-store.sh`, the frontend image (`MODELPACK_IMAGE`)
//! in the registry on 127.0.0.1:5000,
//! `busybox-static` (`/bin/busybox`), `skopeo`, `oras` and crane
//! (`/opt/modelpack-engine-28/usr/bin/crane`). `#[ignore]`d like every
//! engine test; a missing tool fails it under `CI=true`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use integration::engine::{self, Build, Engine, NEXT_ROOT};
use integration::fs::{self, TempDir};
use integration::{run_cli, sha256_digest, unique_name};
use oci_registry::testing::{Proxy, ProxyRule};
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

/// The config digest of the one app manifest of the bundle index
/// `index_digest` in `layout` (the entry that is not the model).
fn app_config_of(layout: &Path, index_digest: &str) -> String {
    let index: Value = serde_json::from_slice(&blob(layout, index_digest)).unwrap();
    let apps: Vec<&Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["annotations"]["io.modelpack-frontend.bundle.role"] != "model")
        .collect();
    assert_eq!(apps.len(), 1, "{index}");
    let doc: Value =
        serde_json::from_slice(&blob(layout, apps[0]["digest"].as_str().unwrap())).unwrap();
    doc["config"]["digest"].as_str().unwrap().to_string()
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

/// The config and layer digests of a manifest document.
fn blobs_of(manifest: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::from([manifest["config"]["digest"].as_str().unwrap().to_string()]);
    for l in manifest["layers"].as_array().unwrap() {
        out.insert(l["digest"].as_str().unwrap().to_string());
    }
    out
}

/// The blob digests the proxy saw fetched (`GET …/blobs/sha256:…`) from
/// its `from`-th request on.
fn blob_gets(proxy: &Proxy, from: usize) -> BTreeSet<String> {
    requests_of(proxy, from, "GET ")
        .iter()
        .filter_map(|r| r.split("/blobs/").nth(1).map(String::from))
        .filter(|d| d.starts_with("sha256:"))
        .collect()
}

/// The requests the proxy saw from its `from`-th on that start with `method`.
fn requests_of(proxy: &Proxy, from: usize, method: &str) -> Vec<String> {
    proxy.requests.lock().unwrap()[from..]
        .iter()
        .filter(|r| r.starts_with(method))
        .cloned()
        .collect()
}

/// The referrers `oras discover` lists for `subject` (a reference by
/// digest): the registry's referrers API, else the tag-schema fallback, as
/// any referrers client finds them.
fn discovered(subject: &str) -> String {
    stdout(&run("oras", &["discover", "--plain-http", subject]))
}

/// What [`from_references`] checks against.
struct Remote<'a> {
    repo: &'a str,
    work: &'a Path,
    /// The bundle index's digest from layouts.
    d1: &'a str,
    /// The model manifest's digest.
    model: &'a str,
    /// The model's referrer (pushed with the model to `repo:model`).
    referrer: &'a str,
    /// The app's configs and layers.
    app_blobs: &'a BTreeSet<String>,
    /// The app's config (`repo:app1` is one image manifest, not an index,
    /// so `bundle` reads its config, in memory, for the platform).
    app_config: &'a str,
    /// The model's config and layers.
    model_blobs: &'a BTreeSet<String>,
}

/// `bundle --image REF --model REF` through a counting proxy on loopback in
/// front of the registry (`repo:app1` is the app, `repo:model` the model
/// with a referrer): the same index digest as from layouts; of the app's
/// blobs only its config is read (for the platform), its layers are not
/// downloaded; the model's referrer is; `push` to another repository of
/// the same registry mounts every blob (none uploaded) and re-attaches the
/// referrer; `push` to another registry fetches the app's blobs first;
/// `--copy-blobs` downloads them at once.
fn from_references(r: &Remote<'_>) {
    let proxy = Proxy::start(REGISTRY, ProxyRule::Pass);
    let via = |t: &str| format!("{}/{}:{t}", proxy.host(), r.repo);
    let b1r = r.work.join("b1-remote");
    let (digest, err) = cli(&[
        "bundle",
        "--image",
        &via("app1"),
        "--model",
        &via("model"),
        "-o",
        b1r.to_str().unwrap(),
        "--plain-http",
    ]);
    assert_eq!(digest, r.d1, "bundle from references = bundle from layouts");
    let got = blob_gets(&proxy, 0);
    eprintln!(
        "bundle from references fetched {} blob(s): {got:?}",
        got.len()
    );
    let app_read: Vec<&String> = got.intersection(r.app_blobs).collect();
    assert_eq!(
        app_read,
        [r.app_config],
        "of the app's blobs only its config is read (for the platform): {got:?}\n{err}"
    );
    assert!(
        r.model_blobs.is_subset(&got),
        "the model's blobs are downloaded: {got:?}"
    );
    for d in r.app_blobs {
        assert!(!b1r.join("blobs/sha256").join(&d[7..]).exists(), "{d}");
    }
    let top = read_json(&b1r.join("index.json"));
    let listed: Vec<&str> = top["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        vec![r.d1, r.referrer],
        "the model's referrer comes along from the registry"
    );
    assert_eq!(
        top["manifests"][0]["annotations"]["io.modelpack-frontend.bundle.blobs-from"],
        format!("{}/{}", proxy.host(), r.repo).as_str(),
        "{top}"
    );

    // Push to another repository of the same registry: every blob mounted.
    let target = format!("{}/{}-fromref:v1", proxy.host(), r.repo);
    let before = proxy.requests.lock().unwrap().len();
    let (pushed, err) = cli(&["push", b1r.to_str().unwrap(), &target, "--plain-http"]);
    assert_eq!(pushed, r.d1, "{err}");
    let (uploaded, _, mounted) = uploads(&err);
    eprintln!(
        "push from references: {}",
        err.lines().last().unwrap_or_default()
    );
    assert_eq!(uploaded, 0, "no blob uploaded: {err}");
    assert!(
        mounted as usize >= r.app_blobs.len() + r.model_blobs.len(),
        "app and model blobs mounted: {err}"
    );
    assert!(
        err.contains(", 1 referrers;"),
        "the referrer re-attached: {err}"
    );
    let sent = requests_of(&proxy, before, "PATCH ").len()
        + requests_of(&proxy, before, "PUT ")
            .iter()
            .filter(|q| q.contains("/blobs/uploads/"))
            .count();
    assert_eq!(sent, 0, "no blob body went to the registry");
    assert!(blob_gets(&proxy, before).is_empty(), "push reads no blob");
    let crane_digest = |x: &str| stdout(&run(&crane(), &["digest", "--insecure", x]));
    assert_eq!(
        crane_digest(&format!("{REGISTRY}/{}-fromref:v1", r.repo)),
        r.d1
    );
    let found = discovered(&format!("{REGISTRY}/{}-fromref@{}", r.repo, r.model));
    assert!(
        found.contains(r.referrer),
        "the referrer is attached in the new repository: {found}"
    );

    // Push to another registry: the app's blobs are fetched from their
    // repository first, nothing else.
    let other = oci_registry::testing::Registry::plain();
    let before = proxy.requests.lock().unwrap().len();
    let (pushed, err) = cli(&[
        "push",
        b1r.to_str().unwrap(),
        &format!("{}/{}:v1", other.host, r.repo),
        "--plain-http",
    ]);
    assert_eq!(pushed, r.d1, "{err}");
    assert_eq!(
        &blob_gets(&proxy, before),
        r.app_blobs,
        "exactly the app's blobs fetched for another registry: {err}"
    );
    assert_eq!(crane_digest(&format!("{}/{}:v1", other.host, r.repo)), r.d1);

    // --copy-blobs: a complete layout, the same index.
    let copied = r.work.join("b1-copied");
    let (digest, _) = cli(&[
        "bundle",
        "--image",
        &format!("{REGISTRY}/{}:app1", r.repo),
        "--model",
        &format!("{REGISTRY}/{}:model", r.repo),
        "--copy-blobs",
        "-o",
        copied.to_str().unwrap(),
        "--plain-http",
    ]);
    assert_eq!(digest, r.d1);
    for d in r.app_blobs {
        assert!(copied.join("blobs/sha256").join(&d[7..]).exists(), "{d}");
    }
    let top = read_json(&copied.join("index.json"));
    assert!(
        top["manifests"][0]["annotations"]
            .get("io.modelpack-frontend.bundle.blobs-from")
            .is_none(),
        "{top}"
    );
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
    let found = discovered(&format!("{REGISTRY}/{repo}@{model_digest}"));
    assert!(
        found.contains(&referrer),
        "the referrer is attached to the model: {found}"
    );
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
    // Docker fetches none of the model's blobs (seen by a counting proxy
    // on loopback in front of the same registry).
    let proxy = Proxy::start(REGISTRY, ProxyRule::Pass);
    let via = format!("{}/{repo}:v1", proxy.host());
    let model_layers: BTreeSet<String> = blobs_of(&model_manifest);
    docker(&["pull", &via]).assert_success();
    let got = blob_gets(&proxy, 0);
    assert!(
        got.is_disjoint(&model_layers),
        "docker pull fetched model blobs: {got:?}"
    );
    assert!(!got.is_empty(), "docker pull went through the proxy");
    let _ = docker(&["rmi", &via]);

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
    // oras 1.2's `cp -r` of an index whose own digest has no referrers but
    // a child's has never copies the index itself (oras-project/oras#1728),
    // so the index goes first with a plain `cp`; `cp -r` then adds the
    // model's referrers.
    let (from, to) = (tag("v1"), format!("{REGISTRY}/{repo}-oras:v1"));
    for recursive in [false, true] {
        let mut args = vec!["cp"];
        if recursive {
            args.push("-r");
        }
        args.extend(["--from-plain-http", "--to-plain-http", &from, &to]);
        run("oras", &args);
    }
    assert_eq!(crane_digest(&format!("{REGISTRY}/{repo}-oras:v1")), d1);
    let carried = discovered(&format!("{REGISTRY}/{repo}-oras@{model_digest}"));
    assert!(
        carried.contains(&referrer),
        "oras cp -r carries the model's referrer: {carried}"
    );
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
    let model_blobs: BTreeSet<String> = blobs_of(&model_manifest);
    let app_blobs: BTreeSet<String> = leaf_blobs(&b1, &d1)
        .difference(&model_blobs)
        .cloned()
        .collect();
    let app_config = app_config_of(&b1, &d1);
    from_references(&Remote {
        repo: &repo,
        work: work.path(),
        d1: &d1,
        model: &model_digest,
        referrer: &referrer,
        app_blobs: &app_blobs,
        app_config: &app_config,
        model_blobs: &model_blobs,
    });

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

/// A Docker volume removed when the test ends.
struct Volume(Engine, String);

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = self
            .0
            .run_docker(&["volume", "rm", "-f", &self.1], timeout());
    }
}

/// The app and its model run together as a platform would (issue 18,
/// item 3), on Docker 28.5: (a) an init step of our own image (the
/// frontend image: the static binary, entrypoint `modelpack-frontend`)
/// unpacks the model of the bundle reference into a volume, and the app,
/// run from the same bundle reference, reads it; (b) the model built with
/// `output_mode=image` is mounted beside the app with `--mount type=image`,
/// and an image mount of the bundle reference is the app image, not the
/// model. Containers reach the registry on loopback only: the init step
/// runs with `--network host` (the engines have no bridge), the daemon
/// pulls from 127.0.0.1:5000 (plain HTTP is allowed for loopback).
#[test]
#[ignore]
fn bundle_runs_beside_its_model_from_an_init_step_or_an_image_mount() {
    if !have_tools() {
        return;
    }
    Engine::Store.assert_ready();
    Engine::Next.assert_ready();
    let repo = unique_name("bundle-run");
    let bundle = format!("{REGISTRY}/{repo}:v1");
    let message = format!("app {repo}");
    let app = build_app(&format!("{message}\n"));
    let model = model_dir();
    let want = sha256_digest(&std::fs::read(model.join("model.safetensors")).unwrap());
    let work = TempDir::new("bundle-run");
    let m = work.join("m");
    cli(&[
        "pack",
        model.path().to_str().unwrap(),
        "-o",
        m.to_str().unwrap(),
        "--name",
        "tiny",
        "--attest",
        "none",
    ]);
    let b = work.join("b");
    cli(&[
        "bundle",
        "--image",
        app.path().to_str().unwrap(),
        "--model",
        m.to_str().unwrap(),
        "-o",
        b.to_str().unwrap(),
    ]);
    cli(&["push", b.to_str().unwrap(), &bundle, "--plain-http"]);
    let docker = |args: &[&str]| {
        let o = Engine::Next.run_docker(args, timeout());
        o.assert_success();
        stdout(&o)
    };
    // The app reads a file through busybox (its entrypoint is `cat /message`).
    let sha_in_app = |mount: &[&str], file: &str| -> String {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(mount);
        args.extend_from_slice(&["--entrypoint", "/bin/busybox", &bundle, "sha256sum", file]);
        let out = docker(&args);
        format!(
            "sha256:{}",
            out.split_whitespace().next().unwrap_or_default()
        )
    };

    // (a) The init step unpacks the bundle's model into a volume; the app
    // reads it read-only.
    let volume = Volume(Engine::Next, unique_name("bundle-model"));
    docker(&["volume", "create", &volume.1]);
    let to_volume = format!("{}:/models", volume.1);
    let read_only = format!("{}:/models:ro", volume.1);
    let cli_image = engine::frontend_image();
    docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-v",
        &to_volume,
        &cli_image,
        "unpack",
        &bundle,
        "-o",
        "/models/tiny",
        "--plain-http",
    ]);
    assert_eq!(
        sha_in_app(&["-v", &read_only], "/models/tiny/model.safetensors"),
        want,
        "the app reads the model the init step unpacked"
    );
    assert_eq!(docker(&["run", "--rm", "-v", &read_only, &bundle]), message);

    // (b) The model as an image (output_mode=image), mounted beside the app.
    let model_image = format!("{REGISTRY}/{repo}-model:image");
    Build::new(model.path())
        .engine(Engine::Next)
        .arg("source", ".")
        .arg("output_mode", "image")
        .arg("name", "tiny")
        .flag("-o")
        .flag(&format!("type=image,name={model_image},push=true"))
        .run()
        .assert_success();
    docker(&["pull", &model_image]);
    let image_mount = format!("type=image,source={model_image},target=/model");
    assert_eq!(
        sha_in_app(
            &["--mount", &image_mount],
            "/model/models/model.safetensors"
        ),
        want,
        "the model image mounted beside the app"
    );
    // An image mount of the bundle reference is the app image (the
    // platform's manifest), not the model: on both of Docker 28.5's stores.
    for engine in [Engine::Next, Engine::Store] {
        let run = |args: &[&str]| {
            let o = engine.run_docker(args, timeout());
            o.assert_success();
            stdout(&o)
        };
        run(&["pull", &bundle]);
        let mount = format!("type=image,source={bundle},target=/mounted");
        let listed = run(&[
            "run",
            "--rm",
            "--mount",
            &mount,
            "--entrypoint",
            "/bin/busybox",
            &bundle,
            "ls",
            "-A",
            "/mounted",
        ]);
        assert_eq!(
            listed.split_whitespace().collect::<Vec<_>>(),
            vec!["bin", "message"],
            "{engine:?}: the bundle mounts as the app image"
        );
        let _ = engine.run_docker(&["rmi", &bundle], timeout());
    }
    let _ = docker(&["rmi", &model_image]);
}
