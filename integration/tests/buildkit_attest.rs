//! End-to-end: BuildKit's own attestations beside ours. A `layout` build
//! exported with `-o type=local` and `--provenance=mode=max` gets
//! `provenance.json` beside the layout (BuildKit's SLSA provenance of the
//! build, an in-toto statement whose subjects are every file of the
//! output); the layout itself is byte for byte the one a build without it
//! writes, with our own BOM and provenance as referrers of the model. With
//! `--sbom=generator=<stub>` (the stub SBOM generator of
//! `integration/sbom-stub/`, pushed to the local registry, following
//! BuildKit's scanner protocol) BuildKit runs the scanner on our result by
//! itself; where the engine lets it finish, `sbom.spdx.json` lands beside
//! the layout. The full matrix
//! (output modes × exporters × engines) is `integration/attest-matrix.sh`;
//! what each gives is in docs/trust.md.
//!
//! It runs on Docker 28.5 with the containerd image store
//! (`integration/engine-store.sh`): with the classic image store, buildx's
//! `docker` driver refuses every attestation flag ("Attestation is not
//! supported for the docker driver").
//!
//! `#[ignore]`d like every end-to-end test: needs the engines, the
//! frontend image and Debian's `busybox-static` (`/bin/busybox`) for the
//! stub generator (built and pushed with Docker 26).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use integration::engine::{self, Build, Engine};
use integration::fs::{self, TempDir};
use integration::layout::Layout;
use integration::{repo_root, sha256_digest};
use serde_json::Value;

/// Where `integration/sbom-stub/build.sh` pushes the stub generator.
const STUB: &str = "localhost:5000/modelpack-test/sbom-stub:1";

/// Builds and pushes the stub generator; false (a skip, a failure under
/// CI=true) without busybox.
fn stub_generator() -> bool {
    if !Path::new("/bin/busybox").is_file()
        && !oci_registry::testing::skip_without("/bin/busybox (busybox-static)")
    {
        return false;
    }
    let script = repo_root().join("integration/sbom-stub/build.sh");
    engine::run(
        script.to_str().unwrap(),
        &[STUB.to_string()],
        Duration::from_secs(120),
    )
    .assert_success();
    true
}

fn model_context() -> TempDir {
    let ctx = TempDir::new("attest-ctx");
    fs::write_file(
        ctx.path(),
        "config.json",
        br#"{"architectures":["TinyForCausalLM"]}"#,
    );
    fs::write_file(
        ctx.path(),
        "model.safetensors",
        &fs::pseudo_random_bytes(48 << 10, fs::fresh_seed()),
    );
    fs::write_file(ctx.path(), "README.md", b"---\nlicense: mit\n---\n# tiny\n");
    ctx
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every regular file under `root` (relative path → sha256 digest), less
/// the names in `leave_out`.
fn file_digests(root: &Path, leave_out: &[&str]) -> BTreeMap<String, String> {
    fs::read_tree(root)
        .into_iter()
        .filter(|(p, _)| !leave_out.contains(&p.as_str()))
        .map(|(p, bytes)| (p, sha256_digest(&bytes)))
        .collect()
}

/// The names in `dir`, sorted.
fn top_level(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// An in-toto statement's subjects (name → `sha256:` digest).
fn subjects(stmt: &Value) -> BTreeMap<String, String> {
    stmt["subject"]
        .as_array()
        .unwrap_or_else(|| panic!("no subject list: {stmt}"))
        .iter()
        .map(|s| {
            let name = s["name"]
                .as_str()
                .unwrap()
                .trim_start_matches("./")
                .to_string();
            (
                name,
                format!("sha256:{}", s["digest"]["sha256"].as_str().unwrap()),
            )
        })
        .collect()
}

/// The part of BuildKit's output the test needs: with `--sbom`, the
/// scanner step's name, or the error that stopped it.
fn sbom_step_lines(outcome: &engine::Outcome) -> String {
    outcome
        .output()
        .lines()
        .filter(|l| l.contains("generating sbom using") || l.contains("ERROR"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
#[ignore = "needs docker buildx, the frontend image and busybox-static: run integration/test.sh"]
fn provenance_and_sbom_of_buildkit_land_beside_the_layout() {
    Engine::Store.assert_ready();
    if !stub_generator() {
        return;
    }
    let ctx = model_context();
    let out = TempDir::new("attest-out");
    let plain = out.join("plain");
    let attested = out.join("attested");
    let build = Build::new(ctx.path())
        .engine(Engine::Store)
        .arg("source", ".");
    build.clone().output(&plain).run().assert_success();
    build
        .clone()
        .flag("--provenance=mode=max")
        .output(&attested)
        .run()
        .assert_success();

    // One file beside the layout, nothing else changed.
    assert_eq!(
        top_level(&attested),
        ["blobs", "index.json", "oci-layout", "provenance.json"],
        "top-level entries of {}",
        attested.display()
    );
    let provenance = json(&attested.join("provenance.json"));
    let layout_files = file_digests(&attested, &["provenance.json"]);
    std::fs::remove_file(attested.join("provenance.json")).unwrap();
    fs::assert_same_tree(&plain, &attested);
    let layout = Layout::verify(&attested);
    assert_eq!(
        layout.manifest_digest(),
        Layout::verify(&plain).manifest_digest()
    );
    // Our documents stay what they are: referrers of the model in index.json.
    let index = json(&attested.join("index.json"));
    let types: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["artifactType"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "application/vnd.cncf.model.manifest.v1+json",
            "application/vnd.cyclonedx+json",
            "application/vnd.in-toto+json"
        ],
        "{index}"
    );

    // BuildKit's provenance: the build's, its subjects every output file
    // (the local exporter read the whole layout to hash it).
    assert!(
        provenance["predicateType"]
            .as_str()
            .is_some_and(|t| t.starts_with("https://slsa.dev/provenance/")),
        "{provenance}"
    );
    assert_eq!(subjects(&provenance), layout_files, "provenance subjects");

    // --sbom: BuildKit itself runs the generator on the layout (our
    // frontend never reads the attest:sbom option). These engines run
    // without a bridge network (integration/engine-lib.sh, --bridge=none)
    // and BuildKit runs the scanner on the default network, so here the
    // scanner starts and fails on "network bridge not found"; on an engine
    // with a bridge the SBOM lands beside the layout as sbom.spdx.json.
    let sbom_dir = out.join("sbom");
    let outcome = build
        .clone()
        .flag(&format!("--sbom=generator={STUB}"))
        .output(&sbom_dir)
        .run();
    let lines = sbom_step_lines(&outcome);
    assert!(
        lines.contains(&format!("generating sbom using {STUB}")),
        "BuildKit did not start the scanner on our result:\n{}",
        outcome.report()
    );
    if !outcome.success {
        assert!(
            lines.contains("network bridge not found"),
            "the scanner failed for another reason than the engines' missing bridge:\n{}",
            outcome.report()
        );
        return;
    }
    assert_eq!(
        top_level(&sbom_dir),
        ["blobs", "index.json", "oci-layout", "sbom.spdx.json"],
        "top-level entries of {}",
        sbom_dir.display()
    );
    let sbom = json(&sbom_dir.join("sbom.spdx.json"));
    let layout_files = file_digests(&sbom_dir, &["sbom.spdx.json"]);
    assert_eq!(sbom["predicateType"], "https://spdx.dev/Document", "{sbom}");
    assert_eq!(subjects(&sbom), layout_files, "sbom subjects");
    let doc = &sbom["predicate"];
    assert!(
        doc["comment"]
            .as_str()
            .is_some_and(|c| c.contains("BUILDKIT_SCAN_SOURCE=/run/src/core/sbom")),
        "{doc}"
    );
    let scanned: BTreeMap<String, String> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["fileName"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("./")
                    .to_string(),
                format!(
                    "sha256:{}",
                    f["checksums"][0]["checksumValue"].as_str().unwrap()
                ),
            )
        })
        .collect();
    assert_eq!(scanned, layout_files, "the files the scanner saw");
}
