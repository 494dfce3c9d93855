//! The `sizes` step: `stat`s downloaded files (mounted read-only, never
//! read) and writes their sizes, for the frontend to compare with the
//! sizes the Hub listed.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _, Result};

use crate::Step;

/// The step's name.
pub const NAME: &str = "sizes";

/// The table entry.
pub const STEP: Step = Step {
    name: NAME,
    argv: "<out-dir> <file>…",
    reads: "the metadata of each <file> (not its bytes)",
    writes: "<out-dir>/sizes.json",
    run: |args| run(args).map(|()| 0),
};

/// The file the step writes: `{"<index>": <size>}`.
pub const SIZES_FILE: &str = "sizes.json";
/// `modelpack-frontend sizes <out-dir> <file>…`: writes the size of each
/// file, keyed by its position, into `<out-dir>/sizes.json`.
pub fn run(args: &[String]) -> Result<()> {
    let Some((out, files)) = args.split_first() else {
        bail!("usage: modelpack-frontend sizes <out-dir> <file>…");
    };
    let mut sizes = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        let meta = std::fs::metadata(f).with_context(|| format!("stat {f}"))?;
        sizes.insert(i.to_string(), meta.len());
    }
    let dest = std::path::Path::new(out).join(SIZES_FILE);
    std::fs::write(&dest, serde_json::to_vec(&sizes)?)
        .with_context(|| format!("writing {}", dest.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_written_by_position() {
        let dir = std::env::temp_dir().join(format!("sizes-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a"), b"12345").unwrap();
        std::fs::write(dir.join("b"), b"").unwrap();
        let arg = |n: &str| dir.join(n).display().to_string();
        run(&[arg(""), arg("a"), arg("b")]).unwrap();
        let sizes: BTreeMap<String, u64> =
            serde_json::from_slice(&std::fs::read(dir.join(SIZES_FILE)).unwrap()).unwrap();
        assert_eq!(
            sizes,
            BTreeMap::from([("0".to_string(), 5), ("1".to_string(), 0)])
        );
        assert!(run(&[arg(""), arg("missing")])
            .unwrap_err()
            .to_string()
            .contains("missing"));
        assert!(run(&[]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
