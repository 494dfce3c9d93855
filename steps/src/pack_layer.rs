//! The `pack-layer` step: one file as one reproducible tar layer (tar,
//! tar+gzip or tar+zstd), its digest and diff id, written by
//! [`modelpack::pack::write_layer`].

use std::fs::File;
use std::io;
use std::path::Path;

use anyhow::{bail, Context, Result};
use modelpack::pack::write_layer;
use modelpack::LayerPackaging;

use crate::Step;

/// The step's name.
pub const NAME: &str = "pack-layer";

/// The table entry.
pub const STEP: Step = Step {
    name: NAME,
    argv: "<tar|tar+gzip|tar+zstd> <name-in-tar> <mode-octal> <src-file> <out-dir> [<meta-dir>]",
    reads: "<src-file>",
    writes: "<out-dir>/blob and <out-dir>/layer.json; with <meta-dir>, the blob at <out-dir>/blobs/sha256/<hex> and <meta-dir>/layer.json",
    run: |args| run(args).map(|()| 0),
};

/// Name of the blob in the `pack` step's output.
pub const BLOB_FILE: &str = "blob";
/// Name of the JSON description in the `pack` step's output.
pub const LAYER_FILE: &str = "layer.json";

/// `modelpack-frontend pack-layer <format> <name> <mode-octal> <src-file> <out-dir> [<meta-dir>]`.
///
/// With `<out-dir>` alone, writes the blob to `<out-dir>/blob` and its
/// description to `<out-dir>/layer.json`. With `<meta-dir>`, writes the blob
/// to `<out-dir>/blobs/sha256/<hex>` (next to blobs already there) and the
/// description to `<meta-dir>/layer.json`.
pub fn run(args: &[String]) -> Result<()> {
    let (format, name, mode, src, out, meta) = match args {
        [format, name, mode, src, out] => (format, name, mode, src, out, None),
        [format, name, mode, src, out, meta] => (format, name, mode, src, out, Some(Path::new(meta))),
        _ => bail!("usage: modelpack-frontend pack-layer <tar|tar+gzip|tar+zstd> <name-in-tar> <mode-octal> <src-file> <out-dir> [<meta-dir>]"),
    };
    let format = LayerPackaging::from_suffix(format)
        .with_context(|| format!("unknown layer format {format:?}"))?;
    let mode =
        u32::from_str_radix(mode, 8).with_context(|| format!("mode {mode:?} is not octal"))?;
    let out = Path::new(out);
    let target = match meta {
        None => out.join(BLOB_FILE),
        Some(_) => {
            let dir = out.join("blobs").join("sha256");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.join(".packing")
        }
    };
    let blob = File::create(&target).with_context(|| format!("creating {}", target.display()))?;
    let written = write_layer(
        Path::new(src),
        name,
        mode,
        format,
        io::BufWriter::with_capacity(1 << 20, blob),
    )
    .with_context(|| format!("packing {src} as {name}"))?;
    let description = match meta {
        None => out.join(LAYER_FILE),
        Some(meta) => {
            let at = modelpack::layout::blob_path_in(out, &written.digest)?;
            std::fs::rename(&target, &at)
                .with_context(|| format!("renaming {} to {}", target.display(), at.display()))?;
            meta.join(LAYER_FILE)
        }
    };
    std::fs::write(description, serde_json::to_vec(&written)?)?;
    eprintln!("packed {name}: {} bytes, {}", written.size, written.digest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelpack::pack::Written;

    fn sample(dir: &Path) -> std::path::PathBuf {
        let bytes: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let path = dir.join("w.bin");
        std::fs::write(&path, &bytes).unwrap();
        path
    }

    #[test]
    fn with_a_meta_dir_blobs_go_to_their_blob_paths_beside_earlier_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let src = sample(&dir);
        let (out, meta1, meta2) = (dir.join("out"), dir.join("m1"), dir.join("m2"));
        for d in [&out, &meta1, &meta2] {
            std::fs::create_dir_all(d).unwrap();
        }
        let arg = |s: &Path| s.to_str().unwrap().to_string();
        let run_one = |format: &str, meta: &Path| {
            run(&[
                format.into(),
                "w.bin".into(),
                "644".into(),
                arg(&src),
                arg(&out),
                arg(meta),
            ])
            .unwrap();
            let w: Written =
                serde_json::from_slice(&std::fs::read(meta.join(LAYER_FILE)).unwrap()).unwrap();
            w
        };
        let tar = run_one("tar", &meta1);
        let zst = run_one("tar+zstd", &meta2);
        for w in [&tar, &zst] {
            let bytes =
                std::fs::read(modelpack::layout::blob_path_in(&out, &w.digest).unwrap()).unwrap();
            assert_eq!(bytes.len() as u64, w.size);
            assert_eq!(modelpack::digest::sha256_of(&bytes), w.digest);
        }
        let names: Vec<_> = std::fs::read_dir(out.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temp file left: {names:?}");
    }
}
