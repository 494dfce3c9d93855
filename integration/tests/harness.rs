//! Checks of the test harness itself (no docker needed): the layout
//! verifier accepts a well-formed layout and rejects each kind of damage,
//! the tree comparison sees differences, and commands time out.

use std::panic::{catch_unwind, UnwindSafe};
use std::path::Path;
use std::time::Duration;

use integration::engine::{self, Build};
use integration::fs::{self, TempDir};
use integration::layout::{self, Layout};
use integration::sha256_digest;
use serde_json::{json, Value};

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce() + UnwindSafe) -> String {
    let payload = catch_unwind(f).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn write_blob(root: &Path, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    fs::write_file(root, &format!("blobs/sha256/{}", &digest[7..]), bytes);
    digest
}

fn write_json_blob(root: &Path, v: &Value) -> (String, u64) {
    let bytes = serde_json::to_vec(v).unwrap();
    (write_blob(root, &bytes), bytes.len() as u64)
}

/// Hand-writes a layout as the frontend would; `edit_config` may change
/// the config before it is written.
fn write_layout(root: &Path, files: &[(&str, &[u8], &str)], edit_config: impl FnOnce(&mut Value)) {
    let mut layers = Vec::new();
    for (path, bytes, kind) in files {
        let digest = write_blob(root, bytes);
        let name = path.rsplit('/').next().unwrap();
        let meta = json!({"name": name, "mode": 420, "uid": 0, "gid": 0, "size": bytes.len(),
                          "mtime": "1970-01-01T00:00:00Z", "typeflag": 0});
        layers.push(json!({
            "mediaType": layout::raw_media_type(kind),
            "digest": digest,
            "size": bytes.len(),
            "annotations": {
                layout::ANNOTATION_FILEPATH: path,
                layout::ANNOTATION_FILE_METADATA: meta.to_string(),
                layout::ANNOTATION_UNTESTED: "false",
                layout::ANNOTATION_TITLE: path,
            }
        }));
    }
    let diff_ids: Vec<Value> = layers.iter().map(|l| l["digest"].clone()).collect();
    let mut config = json!({"descriptor": {"name": "t"}, "modelfs": {"type": "layers", "diffIds": diff_ids}, "config": {}});
    edit_config(&mut config);
    let (config_digest, config_size) = write_json_blob(root, &config);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": layout::MEDIA_TYPE_MANIFEST,
        "artifactType": layout::ARTIFACT_TYPE_MODEL,
        "config": {"mediaType": layout::MEDIA_TYPE_CONFIG, "digest": config_digest, "size": config_size},
        "layers": layers,
    });
    let (manifest_digest, manifest_size) = write_json_blob(root, &manifest);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": layout::MEDIA_TYPE_INDEX,
        "manifests": [{"mediaType": layout::MEDIA_TYPE_MANIFEST, "digest": manifest_digest, "size": manifest_size,
                       "artifactType": layout::ARTIFACT_TYPE_MODEL,
                       "annotations": {layout::ANNOTATION_REF_NAME: "t"}}],
    });
    fs::write_file(root, "index.json", &serde_json::to_vec(&index).unwrap());
    fs::write_file(root, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
}

const FILES: &[(&str, &[u8], &str)] = &[
    ("config.json", b"{}", "weight.config"),
    ("w/model.safetensors", b"weights", "weight"),
    ("empty.md", b"", "doc"),
];

fn good_layout() -> TempDir {
    let dir = TempDir::new("layout");
    write_layout(dir.path(), FILES, |_| {});
    dir
}

#[test]
fn a_well_formed_layout_verifies_and_unpacks() {
    let dir = good_layout();
    let layout = Layout::verify(dir.path());
    assert_eq!(
        layout.paths(),
        ["config.json", "w/model.safetensors", "empty.md"]
    );
    assert_eq!(layout.ref_name(), Some("t"));
    assert_eq!(layout.layer("w/model.safetensors").kind(), "weight");

    let expected = TempDir::new("expected");
    for (path, bytes, _) in FILES {
        fs::write_file(expected.path(), path, bytes);
    }
    let unpacked = TempDir::new("unpacked");
    layout.unpack(unpacked.path());
    fs::assert_same_tree(expected.path(), unpacked.path());
}

#[test]
fn a_corrupt_layer_blob_is_caught() {
    let dir = good_layout();
    let blob = dir.join(format!("blobs/sha256/{}", &sha256_digest(b"weights")[7..]));
    std::fs::write(&blob, b"weightz").unwrap();
    let msg = panic_message(|| {
        Layout::verify(dir.path());
    });
    assert!(msg.contains("sha256 of the blob's bytes"), "{msg}");
}

#[test]
fn a_missing_blob_is_caught() {
    let dir = good_layout();
    std::fs::remove_file(dir.join(format!("blobs/sha256/{}", &sha256_digest(b"{}")[7..]))).unwrap();
    let msg = panic_message(|| {
        Layout::verify(dir.path());
    });
    assert!(msg.contains("is missing from the layout"), "{msg}");
}

#[test]
fn an_unreferenced_blob_is_caught() {
    let dir = good_layout();
    let stray = write_blob(dir.path(), b"stray");
    let msg = panic_message(|| {
        Layout::verify(dir.path());
    });
    assert!(
        msg.contains("not referenced") && msg.contains(&stray),
        "{msg}"
    );
}

#[test]
fn an_extra_top_level_file_is_caught() {
    let dir = good_layout();
    fs::write_file(dir.path(), "provenance.json", b"{}");
    let msg = panic_message(|| {
        Layout::verify(dir.path());
    });
    assert!(msg.contains("top-level entries"), "{msg}");
}

#[test]
fn diff_ids_out_of_order_are_caught() {
    let dir = TempDir::new("layout");
    write_layout(dir.path(), FILES, |c| {
        c["modelfs"]["diffIds"].as_array_mut().unwrap().reverse();
    });
    let msg = panic_message(|| {
        Layout::verify(dir.path());
    });
    assert!(msg.contains("diffIds"), "{msg}");
}

#[test]
fn a_config_outside_the_official_schema_is_caught() {
    let dir = TempDir::new("layout");
    write_layout(dir.path(), FILES, |c| {
        c["config"]["notInTheSpec"] = json!(true);
    });
    let msg = panic_message(|| {
        Layout::verify(dir.path());
    });
    assert!(msg.contains("official schema"), "{msg}");
}

#[test]
fn tree_comparison_sees_missing_files_and_different_bytes() {
    let (a, b) = (TempDir::new("a"), TempDir::new("b"));
    fs::write_file(a.path(), "x/same", b"1");
    fs::write_file(b.path(), "x/same", b"1");
    fs::assert_same_tree(a.path(), b.path());

    fs::write_file(a.path(), "only-a", b"");
    let msg = panic_message(|| fs::assert_same_tree(a.path(), b.path()));
    assert!(msg.contains("only-a"), "{msg}");

    fs::write_file(b.path(), "only-a", b"!");
    let msg = panic_message(|| fs::assert_same_tree(a.path(), b.path()));
    assert!(msg.contains("\"only-a\" differs"), "{msg}");
}

#[test]
fn build_command_line_has_the_fixed_parts() {
    let argv = Build::new("/ctx")
        .image("reg/img:t")
        .arg("source", ".")
        .secret("id=hf_token,env=HF_TOKEN")
        .flag("--allow=network.host")
        .output("/out")
        .argv();
    let line = argv.join(" ");
    assert!(
        line.starts_with("buildx build --progress=plain --build-arg BUILDKIT_SYNTAX=reg/img:t"),
        "{line}"
    );
    assert!(
        line.contains("--target packager/modelpack --build-arg source=."),
        "{line}"
    );
    assert!(
        line.contains("--secret id=hf_token,env=HF_TOKEN --allow=network.host"),
        "{line}"
    );
    assert!(line.ends_with("-o type=local,dest=/out -f- /ctx"), "{line}");
    assert!(!Build::new("/ctx")
        .no_target()
        .argv()
        .contains(&"--target".to_string()));
}

#[test]
fn a_hung_command_is_killed_at_its_timeout() {
    let outcome = engine::run("sleep", &["60".to_string()], Duration::from_secs(1));
    assert!(
        outcome.timed_out && !outcome.success,
        "{}",
        outcome.report()
    );
    assert!(outcome.report().contains("HUNG"), "{}", outcome.report());
}

#[test]
fn pseudo_random_bytes_are_repeatable() {
    assert_eq!(
        fs::pseudo_random_bytes(100, 3),
        fs::pseudo_random_bytes(100, 3)
    );
    assert_ne!(
        fs::pseudo_random_bytes(100, 3),
        fs::pseudo_random_bytes(100, 4)
    );
    // Neighbouring seeds differing only in the lowest bit give other bytes.
    for seed in [0u64, 2, 42, u64::MAX - 1] {
        assert_ne!(
            fs::pseudo_random_bytes(64, seed),
            fs::pseudo_random_bytes(64, seed + 1),
            "seed {seed}"
        );
    }
    assert_eq!(fs::pseudo_random_bytes(65536, 1).len(), 65536);
}
