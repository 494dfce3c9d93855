//! The `bundle-image` step of `packager/bundle`: turns the file system a
//! Dockerfile build gave for each platform (mounted read-only) into a
//! one-layer app image ([`modelpack::rootfs`], [`modelpack::app_image`])
//! and writes them, with the bundle index of those images (in the order
//! given) and the model ([`modelpack::bundle_layout`]),
//! into the model's OCI layout (mounted writable: the model's blobs stay
//! where they are, only the image's blobs, the index and `index.json` are
//! added).

use std::path::Path;

use anyhow::{bail, Context, Result};
use modelpack::layout::{self, Layout};
use modelpack::{app_image, bundle_layout, rootfs};

use crate::Step;

/// The step's name.
pub const NAME: &str = "bundle-image";
/// Flag: clamp file times to, and date the image at, these seconds since 1970.
pub const EPOCH_FLAG: &str = "--source-date-epoch";

/// The table entry.
pub const STEP: Step = Step {
    name: NAME,
    argv: "[--source-date-epoch <secs>] (<rootfs-dir> <image-config.json>)... <name> <layout-dir>",
    reads: "each <rootfs-dir> (the app's file system for one platform) and its <image-config.json>, the model in <layout-dir>",
    writes: "each app image's layer, config and manifest, the bundle index and index.json into <layout-dir>",
    run: |args| run(args).map(|()| 0),
};

const USAGE: &str = "usage: modelpack-frontend bundle-image [--source-date-epoch <secs>] (<rootfs-dir> <image-config.json>)... <name> <layout-dir>";

/// `modelpack-frontend bundle-image [--source-date-epoch <secs>] (<rootfs-dir> <image-config.json>)... <name> <layout-dir>`:
/// one app image per pair (one per platform), listed in the bundle index in
/// that order before the model.
pub fn run(args: &[String]) -> Result<()> {
    let (epoch, rest) = match args {
        [flag, secs, rest @ ..] if flag == EPOCH_FLAG => (
            Some(
                secs.parse::<i64>()
                    .with_context(|| format!("{EPOCH_FLAG} {secs:?} is not a number"))?,
            ),
            rest,
        ),
        _ => (None, args),
    };
    let (apps, name, out) = match rest {
        [apps @ .., name, out] if !apps.is_empty() && apps.len() % 2 == 0 => (apps, name, out),
        _ => bail!("{USAGE}"),
    };
    let out = Path::new(out);
    let threads = modelpack::pack::default_threads();
    let mut entries = Vec::new();
    let mut shown = Vec::new();
    for pair in apps.chunks(2) {
        let [rootfs_dir, config] = pair else {
            unreachable!("chunks of an even-length list are pairs")
        };
        let layer = rootfs::write_tree_layer_blob(Path::new(rootfs_dir), out, epoch, threads)?;
        let config =
            std::fs::read(config).with_context(|| format!("reading the image config {config}"))?;
        let image = app_image::documents(&config, &layer, epoch)?;
        for doc in [&image.config, &image.manifest] {
            let d = modelpack::digest::sha256_of(doc);
            layout::write_atomic(&layout::blob_path_in(out, &d)?, doc)?;
        }
        if let Some(same) = entries
            .iter()
            .find(|e: &&serde_json::Value| e["platform"] == image.entry["platform"])
        {
            bail!(
                "two of the app's platforms gave images for the same platform {} ({} and {}); does the Dockerfile fix one with FROM --platform?",
                image.entry["platform"],
                same["digest"].as_str().unwrap_or("?"),
                image.entry["digest"].as_str().unwrap_or("?")
            );
        }
        shown.push(format!(
            "{} (one layer, {} bytes)",
            image.entry["digest"].as_str().unwrap_or("?"),
            layer.size
        ));
        entries.push(image.entry);
    }
    let model = Layout::open(out)?;
    let part = bundle_layout::model_part(&model, None)?;
    let digest = bundle_layout::write(out, &entries, &part, name, &Default::default())?;
    eprintln!(
        "app image {} and model {} bundled as {name} ({digest})",
        shown.join(", "),
        part.loaded.entry.digest
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn put(root: &Path, bytes: &[u8]) -> (String, usize) {
        let d = modelpack::digest::sha256_of(bytes);
        let path = layout::blob_path_in(root, &d).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        (d, bytes.len())
    }

    /// A one-file ModelPack layout named `tiny` in `root`.
    fn model_layout(root: &Path) {
        let (cd, cs) = put(root, br#"{"descriptor":{"name":"tiny"}}"#);
        let (ld, ls) = put(root, b"weights");
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": modelpack::oci::ARTIFACT_TYPE_MODEL,
            "config": {"mediaType": "application/vnd.cncf.model.config.v1+json", "digest": cd, "size": cs},
            "layers": [{"mediaType": "application/vnd.cncf.model.weight.v1.raw", "digest": ld, "size": ls}],
        }))
        .unwrap();
        let (md, ms) = put(root, &manifest);
        std::fs::write(root.join("oci-layout"), modelpack::oci::OCI_LAYOUT).unwrap();
        std::fs::write(
            root.join("index.json"),
            serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": md, "size": ms,
                "annotations": {"org.opencontainers.image.ref.name": "tiny"}}]}))
            .unwrap(),
        )
        .unwrap();
    }

    /// An app's file system and config for `arch` under `dir`.
    fn app(dir: &Path, arch: &str) -> (String, String) {
        let rootfs = dir.join(format!("rootfs-{arch}"));
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::write(rootfs.join("app"), arch).unwrap();
        let config = dir.join(format!("config-{arch}.json"));
        std::fs::write(
            &config,
            format!(r#"{{"architecture":"{arch}","os":"linux","config":{{}}}}"#),
        )
        .unwrap();
        (
            rootfs.to_str().unwrap().to_string(),
            config.to_str().unwrap().to_string(),
        )
    }

    fn bundle_index(root: &Path) -> Value {
        let top: Value =
            serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
        let d = top["manifests"][0]["digest"].as_str().unwrap();
        let path = layout::blob_path_in(root, d).unwrap();
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn every_platforms_image_is_listed_in_order_before_the_model() {
        let tmp = tempfile::tempdir().unwrap();
        let (arm_fs, arm_cfg) = app(tmp.path(), "arm64");
        let (amd_fs, amd_cfg) = app(tmp.path(), "amd64");
        let out = tmp.path().join("layout");
        model_layout(&out);
        let o = out.to_str().unwrap().to_string();
        let args = |pairs: &[&String]| -> Vec<String> {
            let mut a = vec![EPOCH_FLAG.to_string(), "1700000000".to_string()];
            a.extend(pairs.iter().map(|s| s.to_string()));
            a.extend(["tiny".to_string(), o.clone()]);
            a
        };
        run(&args(&[&arm_fs, &arm_cfg, &amd_fs, &amd_cfg])).unwrap();
        let index = bundle_index(&out);
        let m = index["manifests"].as_array().unwrap();
        let archs: Vec<&str> = m
            .iter()
            .map(|e| e["platform"]["architecture"].as_str().unwrap())
            .collect();
        assert_eq!(archs, ["arm64", "amd64", "unknown"], "{index}");
        let first = index.clone();
        // The same inputs again: the same index.
        run(&args(&[&arm_fs, &arm_cfg, &amd_fs, &amd_cfg])).unwrap();
        assert_eq!(bundle_index(&out), first);
        // One pair: one image, as a one-platform build always had.
        run(&args(&[&amd_fs, &amd_cfg])).unwrap();
        let one = bundle_index(&out);
        assert_eq!(one["manifests"].as_array().unwrap().len(), 2, "{one}");
        assert_eq!(one["manifests"][0], m[1], "the same amd64 image");
        // Two images for one platform are refused.
        let err = run(&args(&[&amd_fs, &amd_cfg, &arm_fs, &amd_cfg])).unwrap_err();
        assert!(format!("{err:#}").contains("the same platform"), "{err:#}");
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(format!("{:#}", run(&[]).unwrap_err()).contains("usage"));
        let args: Vec<String> = [EPOCH_FLAG, "soon", "a", "b", "c", "d"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(format!("{:#}", run(&args).unwrap_err()).contains("not a number"));
        let odd: Vec<String> = ["r0", "c0", "r1", "name", "out"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(format!("{:#}", run(&odd).unwrap_err()).contains("usage"));
    }
}
