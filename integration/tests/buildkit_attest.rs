//! End-to-end: BuildKit's own attestations beside ours. A `layout` build
//! exported with `-o type=local` and `--provenance=mode=max
//! --sbom=generator=<stub>` (the stub SBOM generator of
//! `integration/sbom-stub/`, pushed to the local registry, following
//! BuildKit's scanner protocol) gets two files beside the layout:
//! `provenance.json` (BuildKit's SLSA provenance of the build, its subjects
//! every file of the output) and `sbom.spdx.json` (the scanner's SPDX
//! document of the layout's files), both in-toto statements. The layout
//! itself is byte for byte the one a build without them writes, with our
//! own BOM and provenance as referrers of the model. The full matrix
//! (output modes × exporters × engines) is `integration/attest-matrix.sh`;
//! what each gives is in docs/trust.md.
//!
//! `#[ignore]`d like every end-to-end test: needs Docker 26
//! (`integration/engine.sh`), the frontend image and Debian's
//! `busybox-static` (`/bin/busybox`) for the stub generator.

use std::collections::{BTreeMap, BTreeSet};
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

#[test]
#[ignore = "needs docker buildx, the frontend image and busybox-static: run integration/test.sh"]
fn provenance_and_sbom_of_buildkit_land_beside_the_layout() {
    Engine::Current.assert_ready();
    if !stub_generator() {
        return;
    }
    let ctx = model_context();
    let out = TempDir::new("attest-out");
    let plain = out.join("plain");
    let attested = out.join("attested");
    let build = Build::new(ctx.path())
        .engine(Engine::Current)
        .arg("source", ".");
    build.clone().output(&plain).run().assert_success();
    build
        .clone()
        .flag("--provenance=mode=max")
        .flag(&format!("--sbom=generator={STUB}"))
        .output(&attested)
        .run()
        .assert_success();

    // Two files beside the layout, nothing else changed.
    let top: BTreeSet<String> = std::fs::read_dir(&attested)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let want: BTreeSet<String> = [
        "blobs",
        "index.json",
        "oci-layout",
        "provenance.json",
        "sbom.spdx.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(top, want, "top-level entries of {}", attested.display());
    let provenance = json(&attested.join("provenance.json"));
    let sbom = json(&attested.join("sbom.spdx.json"));
    let layout_files = file_digests(&attested, &["provenance.json", "sbom.spdx.json"]);
    std::fs::remove_file(attested.join("provenance.json")).unwrap();
    std::fs::remove_file(attested.join("sbom.spdx.json")).unwrap();
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

    // The scanner's SBOM: BuildKit ran the generator on the layout
    // (mounted at BUILDKIT_SCAN_SOURCE) although our frontend never looks
    // at the attest:sbom option; its subjects are the output files too.
    assert_eq!(sbom["predicateType"], "https://spdx.dev/Document", "{sbom}");
    assert_eq!(subjects(&sbom), layout_files, "sbom subjects");
    let doc = &sbom["predicate"];
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
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
