//! The `bundle-image` step of `packager/bundle`: turns the file system a
//! Dockerfile build gave (mounted read-only) into a one-layer app image
//! ([`modelpack::rootfs`], [`modelpack::app_image`]) and writes it, with
//! the bundle index of that image and the model ([`modelpack::bundle_layout`]),
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
    argv: "[--source-date-epoch <secs>] <rootfs-dir> <image-config.json> <name> <layout-dir>",
    reads: "<rootfs-dir> (the app's file system), <image-config.json>, the model in <layout-dir>",
    writes: "the app image's layer, config and manifest, the bundle index and index.json into <layout-dir>",
    run: |args| run(args).map(|()| 0),
};

const USAGE: &str = "usage: modelpack-frontend bundle-image [--source-date-epoch <secs>] <rootfs-dir> <image-config.json> <name> <layout-dir>";

/// `modelpack-frontend bundle-image [--source-date-epoch <secs>] <rootfs-dir> <image-config.json> <name> <layout-dir>`.
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
    let [rootfs_dir, config, name, out] = rest else {
        bail!("{USAGE}");
    };
    let out = Path::new(out);
    let threads = modelpack::pack::default_threads();
    let layer = rootfs::write_tree_layer_blob(Path::new(rootfs_dir), out, epoch, threads)?;
    let config =
        std::fs::read(config).with_context(|| format!("reading the image config {config}"))?;
    let image = app_image::documents(&config, &layer, epoch)?;
    for doc in [&image.config, &image.manifest] {
        let d = modelpack::digest::sha256_of(doc);
        layout::write_atomic(&layout::blob_path_in(out, &d)?, doc)?;
    }
    let model = Layout::open(out)?;
    let part = bundle_layout::model_part(&model, None)?;
    let digest = bundle_layout::write(
        out,
        std::slice::from_ref(&image.entry),
        &part,
        name,
        &Default::default(),
    )?;
    eprintln!(
        "app image {} (one layer, {} bytes) and model {} bundled as {name} ({digest})",
        image.entry["digest"].as_str().unwrap_or("?"),
        layer.size,
        part.loaded.entry.digest
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_arguments_are_refused() {
        assert!(format!("{:#}", run(&[]).unwrap_err()).contains("usage"));
        let args: Vec<String> = [EPOCH_FLAG, "soon", "a", "b", "c", "d"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(format!("{:#}", run(&args).unwrap_err()).contains("not a number"));
    }
}
