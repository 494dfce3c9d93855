//! End-to-end: `--target packager/bundle` (issue 18, the one-build way in).
//! One `docker buildx build` has BuildKit's Dockerfile frontend build a
//! small app (stages of `FROM scratch` with Debian's static busybox, a
//! stage picked with `image_target`, a build arg passed with the
//! `image-build-arg:` prefix, a symlink and a hard link made by `RUN`) and
//! packages a fake-Hub model, writing one OCI layout whose bundle index
//! holds the app's manifest and the model's (`unknown/unknown`, our
//! annotations); then: the CLI validates it and pushes it to the local
//! registry (127.0.0.1:5000); Docker 28.5 runs the app from the pushed
//! reference; the CLI pulls the model from it; a recipe's `image:`
//! section gives the same bundle as the build args; a second build
//! (`--no-cache`) with the same `SOURCE_DATE_EPOCH` gives the same index
//! digest, on Docker 26 as on Docker 28.5 (classic and containerd store),
//! with the same app layer and model everywhere. The layer sharing lost against
//! the app's usual `docker buildx build` image (Docker 28.5 with the
//! containerd store, `-o type=oci`) is measured and printed.
//!
//! A multi-platform build (`--platform linux/amd64,linux/arm64`, a
//! `FROM scratch` + `COPY` app, so nothing runs and no emulation is
//! needed) writes one index with both platforms' images and the model, the
//! same digest twice, on Docker 28.5 with the containerd store; Docker 26
//! and Docker 28.5's classic store refuse it in buildx (the docker driver
//! builds several platforms only with the containerd store). A named
//! build context (`--build-context extra=DIR`, read by `COPY --from=extra`),
//! a label (`--label`) and a bake target as a context (sent as a frontend
//! input) reach the app's Dockerfile build on Docker 26 and 28.5.
//!
//! Needs the engines of `integration/engine.sh`, `engine-next.sh` and
//! `engine-store.sh`, the frontend image, the registry on 127.0.0.1:5000
//! and `busybox-static` (`/bin/busybox`). `#[ignore]`d like every engine
//! test; a missing tool fails it under `CI=true`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use integration::engine::{self, Build, Engine};
use integration::fs::{self, TempDir};
use integration::hub::{unique_repo, FakeHub};
use integration::{run_cli, unique_name};
use serde_json::Value;

const REGISTRY: &str = "127.0.0.1:5000";
const BUSYBOX: &str = "/bin/busybox";
const ROLE: &str = "io.modelpack-frontend.bundle.role";
const MODEL_NAME: &str = "io.modelpack-frontend.bundle.model.name";
const EPOCH: &str = "1700000000";

/// The app: a base stage, the app stage (`image_target=app`) and a last
/// stage that must not be built. `RUN --network=none`: the test engines
/// have no default bridge network.
const DOCKERFILE: &str = r#"FROM scratch AS base
COPY busybox /bin/busybox
RUN --network=none ["/bin/busybox", "ln", "-s", "/bin/busybox", "/bin/sh"]
RUN --network=none ["/bin/busybox", "ln", "/bin/busybox", "/bin/cat"]

FROM base AS app
ARG GREETING=unset
COPY message /message
ENV GREETING=${GREETING}
ENTRYPOINT ["/bin/sh", "-c", "cat /message; echo \"greeting=$GREETING\""]

FROM base AS other
ENTRYPOINT ["/bin/busybox", "echo", "the wrong stage"]
"#;

fn cli(args: &[&str]) -> String {
    let (code, out, err) = run_cli(args, &[]);
    assert_eq!(code, 0, "{args:?} failed\nstdout:\n{out}\nstderr:\n{err}");
    out.trim().to_string()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn blob(layout: &Path, digest: &str) -> Value {
    read_json(
        &layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
}

/// The app's build context: the Dockerfile, busybox and the message.
fn app_context(message: &str) -> TempDir {
    let ctx = TempDir::new("bundle-target-ctx");
    std::fs::copy(BUSYBOX, ctx.join("busybox")).expect("copy busybox");
    fs::write_file(ctx.path(), "message", message.as_bytes());
    fs::write_file(ctx.path(), "Dockerfile", DOCKERFILE.as_bytes());
    ctx
}

/// `packager/bundle` of `ctx` and the Hub model `repo` on `engine` into `out`.
fn bundle_build(engine: Engine, ctx: &Path, hub: &FakeHub, repo: &str, out: &Path) -> Build {
    Build::new(ctx)
        .engine(engine)
        .target("packager/bundle")
        .arg("source", &format!("huggingface://{repo}"))
        .arg("hf_endpoint", &hub.endpoint)
        .arg("name", "tiny")
        .arg("image_target", "app")
        .arg("image-build-arg:GREETING", "hello")
        .arg("SOURCE_DATE_EPOCH", EPOCH)
        .output(out)
}

/// Checks the layout `out`: index.json lists the bundle (named `tiny`) and
/// the model's referrers; the bundle holds the app's manifest and the
/// model's. Returns (bundle digest, app manifest digest, model digest).
fn check_layout(out: &Path) -> (String, String, String) {
    let top = read_json(&out.join("index.json"));
    let entries = top["manifests"].as_array().unwrap();
    let bundles: Vec<&Value> = entries
        .iter()
        .filter(|e| e["mediaType"] == "application/vnd.oci.image.index.v1+json")
        .collect();
    assert_eq!(bundles.len(), 1, "{top}");
    assert_eq!(
        bundles[0]["annotations"]["org.opencontainers.image.ref.name"],
        "tiny"
    );
    let digest = bundles[0]["digest"].as_str().unwrap().to_string();
    let index = blob(out, &digest);
    let m = index["manifests"].as_array().unwrap();
    assert_eq!(m.len(), 2, "app and model: {index}");
    assert_eq!(m[0]["platform"]["os"], "linux", "{index}");
    assert!(m[0].get("annotations").is_none(), "{index}");
    assert_eq!(
        m[1]["platform"],
        serde_json::json!({"architecture": "unknown", "os": "unknown"})
    );
    assert_eq!(m[1]["annotations"][ROLE], "model");
    assert_eq!(m[1]["annotations"][MODEL_NAME], "tiny");
    let model = m[1]["digest"].as_str().unwrap().to_string();
    assert!(blob(out, &model).get("subject").is_none());
    // The model's documents (BOM, provenance) are referrers beside the bundle.
    let referrers: Vec<&Value> = entries
        .iter()
        .filter(|e| e["digest"] != digest.as_str())
        .collect();
    assert!(!referrers.is_empty(), "{top}");
    for r in referrers {
        let doc = blob(out, r["digest"].as_str().unwrap());
        assert_eq!(doc["subject"]["digest"], model.as_str(), "{doc}");
    }
    // The app image: one layer, history to match, the stage and arg asked for.
    let app = m[0]["digest"].as_str().unwrap().to_string();
    let manifest = blob(out, &app);
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        1,
        "{manifest}"
    );
    let config = blob(out, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    let history = config["history"].as_array().unwrap();
    assert_eq!(
        history.iter().filter(|h| h["empty_layer"] != true).count(),
        1,
        "{config}"
    );
    let env = config["config"]["Env"].to_string();
    assert!(env.contains("GREETING=hello"), "{config}");
    (digest, app, model)
}

/// The diff ids of the first image manifest an OCI layout's index names.
fn diff_ids(layout: &Path) -> Vec<String> {
    let top = read_json(&layout.join("index.json"));
    let mut d = top["manifests"][0]["digest"].as_str().unwrap().to_string();
    let mut doc = blob(layout, &d);
    if doc["manifests"].is_array() {
        d = doc["manifests"][0]["digest"].as_str().unwrap().to_string();
        doc = blob(layout, &d);
    }
    let config = blob(layout, doc["config"]["digest"].as_str().unwrap());
    config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
#[ignore = "needs the engines, the frontend image and the registry: run integration/test.sh"]
fn one_build_writes_a_bundle_that_pushes_runs_and_repeats() {
    if !(Path::new(BUSYBOX).is_file() || oci_registry::testing::skip_without(BUSYBOX)) {
        return;
    }
    for e in [Engine::Current, Engine::Next, Engine::Store] {
        e.assert_ready();
    }
    let hub = FakeHub::start();
    let repo = unique_repo("bundle-target");
    let seed = fs::fresh_seed();
    hub.create_repo(
        &repo,
        [
            (
                "config.json",
                format!(r#"{{"architectures":["TinyForCausalLM"],"nonce":"{seed:x}"}}"#)
                    .into_bytes(),
            ),
            ("model.safetensors", fs::pseudo_random_bytes(64 << 10, seed)),
        ],
        None,
    );
    let name = unique_name("bundle-target");
    let message = format!("app {name}\n");
    let ctx = app_context(&message);
    let work = TempDir::new("bundle-target-out");

    // Two builds per engine, the second with --no-cache: one digest per
    // engine. Across engines the app's layer and the model are the same;
    // the config may differ, as the engine's own Dockerfile frontend
    // writes it (BuildKit 0.13 writes `ARG GREETING=unset` in the history
    // where Docker 28.5's writes `ARG GREETING=hello`).
    let mut per_engine: Vec<(Engine, String, String, String)> = Vec::new();
    let mut first = None;
    for engine in [Engine::Next, Engine::Current, Engine::Store] {
        let mut digests = BTreeSet::new();
        for again in [false, true] {
            let out = work.join(format!("{engine:?}-{again}"));
            let mut build = bundle_build(engine, ctx.path(), &hub, &repo, &out);
            if again {
                build = build.no_cache();
            }
            let outcome = build.run();
            assert!(
                outcome.success,
                "{engine:?} (again: {again}):\n{}",
                outcome.report()
            );
            let (digest, app, model) = check_layout(&out);
            cli(&["validate", out.to_str().unwrap()]);
            digests.insert(digest.clone());
            let layer = blob(&out, &app)["layers"][0]["digest"]
                .as_str()
                .unwrap()
                .to_string();
            per_engine.push((engine, digest.clone(), layer, model.clone()));
            first.get_or_insert((out, digest, app, model));
        }
        assert_eq!(
            digests.len(),
            1,
            "{engine:?}: same inputs and SOURCE_DATE_EPOCH, same bundle digest: {digests:?}"
        );
    }
    let layers: BTreeSet<&String> = per_engine.iter().map(|(_, _, l, _)| l).collect();
    let models: BTreeSet<&String> = per_engine.iter().map(|(_, _, _, m)| m).collect();
    assert_eq!(
        (layers.len(), models.len()),
        (1, 1),
        "the same layer and model on both engines: {per_engine:?}"
    );
    let (out, digest, app, model) = first.unwrap();

    // The same bundle from a recipe's `image:` section.
    let recipe_dir = TempDir::new("bundle-target-recipe");
    fs::write_file(
        recipe_dir.path(),
        "model.yaml",
        format!(
            "target: packager/bundle\nname: tiny\nsources:\n  - source: huggingface://{repo}\nimage:\n  dockerfile: Dockerfile\n  target: app\n  build_args: {{GREETING: hello}}\n"
        )
        .as_bytes(),
    );
    let from_recipe = work.join("recipe");
    let outcome = Build::new(ctx.path())
        .engine(Engine::Next)
        .no_target()
        .file(recipe_dir.join("model.yaml"))
        .arg("hf_endpoint", &hub.endpoint)
        .arg("SOURCE_DATE_EPOCH", EPOCH)
        .output(&from_recipe)
        .run();
    assert!(outcome.success, "recipe:\n{}", outcome.report());
    let (recipe_digest, _, _) = check_layout(&from_recipe);
    assert_eq!(
        recipe_digest, digest,
        "the recipe's image: section is the build args' bundle"
    );

    // Push with the CLI; Docker 28.5 runs the app from the bundle reference.
    let reference = format!("{REGISTRY}/{name}:v1");
    let pushed = cli(&["push", out.to_str().unwrap(), &reference, "--plain-http"]);
    assert_eq!(pushed, digest);
    let ran = Engine::Next.run_docker(&["run", "--rm", &reference], engine::default_timeout());
    ran.assert_success();
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        format!("app {name}\ngreeting=hello"),
        "the app stage, its build arg, the symlink and hard link work"
    );
    let _ = Engine::Next.run_docker(&["rmi", &reference], engine::default_timeout());
    let pulled = work.join("pulled");
    let got = cli(&[
        "pull",
        &reference,
        "-o",
        pulled.to_str().unwrap(),
        "--plain-http",
    ]);
    assert_eq!(got, model, "the model is found in the bundle reference");

    // What layer sharing is lost: the app's usual image, by buildx.
    let usual = work.join("usual");
    Engine::Store
        .run_docker(
            &[
                "buildx",
                "build",
                "--platform",
                "linux/amd64",
                "--target",
                "app",
                "--build-arg",
                "GREETING=hello",
                "--build-arg",
                &format!("SOURCE_DATE_EPOCH={EPOCH}"),
                "-o",
                &format!("type=oci,tar=false,dest={}", usual.display()),
                ctx.path().to_str().unwrap(),
            ],
            engine::default_timeout(),
        )
        .assert_success();
    let usual_ids = diff_ids(&usual);
    let ours = blob(&out, &app);
    let ours_ids: Vec<String> = blob(&out, ours["config"]["digest"].as_str().unwrap())["rootfs"]
        ["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let shared = ours_ids.iter().filter(|d| usual_ids.contains(d)).count();
    eprintln!(
        "layer sharing with the usual image: usual {} layer(s), bundle {} layer(s), {shared} shared",
        usual_ids.len(),
        ours_ids.len()
    );
    assert_eq!(
        usual_ids.len(),
        4,
        "one layer per COPY and RUN: {usual_ids:?}"
    );
    assert_eq!(
        (ours_ids.len(), shared),
        (1, 0),
        "squashed: one layer, none shared with the usual image (docs/layout-and-readers.md)"
    );
}

/// The files (path → bytes) of the one layer of the image manifest
/// `manifest` in the layout `layout`.
fn layer_files(layout: &Path, manifest: &str) -> BTreeMap<String, Vec<u8>> {
    let m = blob(layout, manifest);
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{m}");
    let digest = layers[0]["digest"].as_str().unwrap();
    let gz = std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz.as_slice()));
    let mut files = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let path = entry.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            files.insert(path, bytes);
        }
    }
    files
}

/// A context whose Dockerfile only copies (`FROM scratch`, no `RUN`): it
/// builds for any platform without emulation.
fn copy_only_context(dockerfile: &str, message: &str) -> TempDir {
    let ctx = TempDir::new("bundle-target-copy");
    fs::write_file(ctx.path(), "message", message.as_bytes());
    fs::write_file(ctx.path(), "Dockerfile", dockerfile.as_bytes());
    ctx
}

/// A tiny fake-Hub model (one config, one small weight file).
fn tiny_model(hub: &FakeHub, prefix: &str) -> String {
    let repo = unique_repo(prefix);
    let seed = fs::fresh_seed();
    hub.create_repo(
        &repo,
        [
            (
                "config.json",
                format!(r#"{{"architectures":["TinyForCausalLM"],"nonce":"{seed:x}"}}"#)
                    .into_bytes(),
            ),
            ("model.safetensors", fs::pseudo_random_bytes(4 << 10, seed)),
        ],
        None,
    );
    repo
}

/// `packager/bundle` of the copy-only app `ctx` and the Hub model `repo`.
fn copy_only_build(engine: Engine, ctx: &Path, hub: &FakeHub, repo: &str, out: &Path) -> Build {
    Build::new(ctx)
        .engine(engine)
        .target("packager/bundle")
        .arg("source", &format!("huggingface://{repo}"))
        .arg("hf_endpoint", &hub.endpoint)
        .arg("name", "tiny")
        .arg("SOURCE_DATE_EPOCH", EPOCH)
        .output(out)
}

/// The bundle index of the layout `out` (the one index `index.json` lists).
fn bundle_index(out: &Path) -> (String, Value) {
    let top = read_json(&out.join("index.json"));
    let bundles: Vec<&Value> = top["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["mediaType"] == "application/vnd.oci.image.index.v1+json")
        .collect();
    assert_eq!(bundles.len(), 1, "{top}");
    let digest = bundles[0]["digest"].as_str().unwrap().to_string();
    let index = blob(out, &digest);
    (digest, index)
}

#[test]
#[ignore = "needs the engines, the frontend image and the registry: run integration/test.sh"]
fn a_multi_platform_build_bundles_every_platforms_image_and_the_model_once() {
    for e in [Engine::Current, Engine::Next, Engine::Store] {
        e.assert_ready();
    }
    let hub = FakeHub::start();
    let repo = tiny_model(&hub, "bundle-target-mp");
    let message = format!("app {}\n", unique_name("bundle-target-mp"));
    let ctx = copy_only_context("FROM scratch\nCOPY message /message\n", &message);
    let work = TempDir::new("bundle-target-mp-out");
    let both = "--platform=linux/amd64,linux/arm64";

    // Docker 28.5 with the containerd store: both platforms, then the model.
    let mut digests = BTreeSet::new();
    let mut first = None;
    for again in [false, true] {
        let out = work.join(format!("store-{again}"));
        let mut build = copy_only_build(Engine::Store, ctx.path(), &hub, &repo, &out).flag(both);
        if again {
            build = build.no_cache();
        }
        let outcome = build.run();
        assert!(outcome.success, "again: {again}\n{}", outcome.report());
        cli(&["validate", out.to_str().unwrap()]);
        let (digest, index) = bundle_index(&out);
        let m = index["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 3, "two images and the model: {index}");
        let platforms: Vec<&Value> = m.iter().map(|e| &e["platform"]).collect();
        assert_eq!(
            platforms,
            [
                &serde_json::json!({"architecture": "amd64", "os": "linux"}),
                &serde_json::json!({"architecture": "arm64", "os": "linux"}),
                &serde_json::json!({"architecture": "unknown", "os": "unknown"}),
            ],
            "the order given, then the model: {index}"
        );
        assert_eq!(m[2]["annotations"][ROLE], "model");
        let mut layers = BTreeSet::new();
        for (e, arch) in m[..2].iter().zip(["amd64", "arm64"]) {
            let app = e["digest"].as_str().unwrap();
            assert_eq!(
                e["mediaType"], "application/vnd.oci.image.manifest.v1+json",
                "{e}"
            );
            let manifest = blob(&out, app);
            let config = blob(&out, manifest["config"]["digest"].as_str().unwrap());
            assert_eq!(
                (config["architecture"].as_str(), config["os"].as_str()),
                (Some(arch), Some("linux")),
                "{config}"
            );
            assert_eq!(config["created"], "2023-11-14T22:13:20Z");
            let files = layer_files(&out, app);
            assert_eq!(
                files.get("message").map(Vec::as_slice),
                Some(message.as_bytes()),
                "{:?}",
                files.keys().collect::<Vec<_>>()
            );
            layers.insert(
                manifest["layers"][0]["digest"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        assert_eq!(
            layers.len(),
            1,
            "the same files on both platforms are the same squashed layer"
        );
        digests.insert(digest.clone());
        first.get_or_insert((out, index));
    }
    assert_eq!(
        digests.len(),
        1,
        "same inputs (the second --no-cache), same bundle digest: {digests:?}"
    );
    let (_, multi) = first.unwrap();

    // One platform alone gives that platform's image of the multi-platform bundle.
    let alone = work.join("store-arm64");
    copy_only_build(Engine::Store, ctx.path(), &hub, &repo, &alone)
        .flag("--platform=linux/arm64/v8")
        .run()
        .assert_success();
    let (_, index) = bundle_index(&alone);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");
    assert_eq!(index["manifests"][0], multi["manifests"][1]);
    assert_eq!(
        index["manifests"][1], multi["manifests"][2],
        "the same model"
    );

    // The docker driver without the containerd store: buildx refuses
    // before the frontend runs (Docker 26's buildx 0.13, Docker 28.5's 0.29).
    for engine in [Engine::Current, Engine::Next] {
        let out = work.join(format!("{engine:?}"));
        copy_only_build(engine, ctx.path(), &hub, &repo, &out)
            .flag(both)
            .run()
            .assert_failure_with("Multi-platform build is not supported for the docker driver");
    }
}

#[test]
#[ignore = "needs the engines, the frontend image and the registry: run integration/test.sh"]
fn named_build_contexts_and_labels_reach_the_apps_dockerfile_build() {
    for e in [Engine::Current, Engine::Next] {
        e.assert_ready();
    }
    let hub = FakeHub::start();
    let repo = tiny_model(&hub, "bundle-target-ctx");
    let message = format!("app {}\n", unique_name("bundle-target-ctx"));
    let ctx = copy_only_context(
        "FROM scratch\nCOPY message /message\nCOPY --from=extra extra.txt /extra.txt\n",
        &message,
    );
    let extra = TempDir::new("bundle-target-extra");
    fs::write_file(extra.path(), "extra.txt", b"from the named context\n");
    let work = TempDir::new("bundle-target-ctx-out");
    for engine in [Engine::Current, Engine::Next] {
        let out = work.join(format!("{engine:?}"));
        let outcome = copy_only_build(engine, ctx.path(), &hub, &repo, &out)
            .flag(&format!("--build-context=extra={}", extra.path().display()))
            .flag("--label=org.example.team=ml")
            .run();
        assert!(outcome.success, "{engine:?}:\n{}", outcome.report());
        let (_, index) = bundle_index(&out);
        let app = index["manifests"][0]["digest"].as_str().unwrap();
        let files = layer_files(&out, app);
        assert_eq!(
            files.get("extra.txt").map(Vec::as_slice),
            Some(&b"from the named context\n"[..]),
            "{engine:?}: COPY --from=extra read the named context: {:?}",
            files.keys().collect::<Vec<_>>()
        );
        let manifest = blob(&out, app);
        let config = blob(&out, manifest["config"]["digest"].as_str().unwrap());
        assert_eq!(
            config["config"]["Labels"]["org.example.team"], "ml",
            "{engine:?}: {config}"
        );
    }
    // A bake target as the context (`contexts = { extra = "target:other" }`):
    // buildx builds `other` first and sends its result as the frontend
    // input `extra` (`context:extra=input:extra`), which the frontend asks
    // the gateway for and passes on.
    let other = TempDir::new("bundle-target-other");
    fs::write_file(
        other.path(),
        "Dockerfile",
        b"FROM scratch\nCOPY extra.txt /extra.txt\n",
    );
    fs::write_file(other.path(), "extra.txt", b"built by another bake target\n");
    fs::write_file(work.path(), "empty-recipe", b"");
    for engine in [Engine::Current, Engine::Next] {
        let out = work.join(format!("bake-{engine:?}"));
        let hcl = format!(
            r#"target "other" {{
  context = "{other}"
}}
target "bundle" {{
  context = "{ctx}"
  dockerfile = "{recipe}"
  target = "packager/bundle"
  contexts = {{ extra = "target:other" }}
  args = {{
    BUILDKIT_SYNTAX = "{image}"
    source = "huggingface://{repo}"
    hf_endpoint = "{endpoint}"
    name = "tiny"
    SOURCE_DATE_EPOCH = "{EPOCH}"
  }}
  output = ["type=local,dest={out}"]
}}
"#,
            other = other.path().display(),
            ctx = ctx.path().display(),
            recipe = work.join("empty-recipe").display(),
            image = engine::frontend_image(),
            endpoint = hub.endpoint,
            out = out.display(),
        );
        let file = fs::write_file(work.path(), &format!("bake-{engine:?}.hcl"), hcl.as_bytes());
        // buildx 0.29 asks for read access to folders outside the
        // working directory, and write access for the output there
        // (bake's entitlements; 0.13 has none).
        let tmp = std::env::temp_dir();
        let allow_read = format!("--allow=fs.read={}", tmp.display());
        let allow_write = format!("--allow=fs.write={}", tmp.display());
        let mut args = vec!["buildx", "bake", "--progress=plain"];
        if engine == Engine::Next {
            args.extend([allow_read.as_str(), allow_write.as_str()]);
        }
        args.extend(["-f", file.to_str().unwrap(), "bundle"]);
        engine
            .run_docker(&args, engine::default_timeout())
            .assert_success();
        let (_, index) = bundle_index(&out);
        let files = layer_files(&out, index["manifests"][0]["digest"].as_str().unwrap());
        assert_eq!(
            files.get("extra.txt").map(Vec::as_slice),
            Some(&b"built by another bake target\n"[..]),
            "{engine:?}: COPY --from=extra read the other target's result"
        );
    }

    // Another target refuses the named context instead of ignoring it.
    Build::new(ctx.path())
        .engine(Engine::Next)
        .arg("source", &format!("huggingface://{repo}"))
        .arg("hf_endpoint", &hub.endpoint)
        .flag(&format!("--build-context=extra={}", extra.path().display()))
        .output(work.join("modelpack"))
        .run()
        .assert_failure_with("--build-context extra only applies to --target packager/bundle");
}
