//! The `pack-many` step: many small files packed as `pack-layer` would,
//! one per CPU, in one container instead of one step each
//! ([`modelpack::pack::pack_many`]).

use std::path::Path;

use anyhow::{bail, Context, Result};
use modelpack::pack::{pack_many, PackList};

use crate::Step;

/// The step's name.
pub const NAME: &str = "pack-many";

/// The table entry.
pub const STEP: Step = Step {
    name: NAME,
    argv: "<list.json.zst> <src-dir> <out-dir> <meta-dir>",
    reads: "the compressed pack list and the listed files under <src-dir>",
    writes: "each layer at <out-dir>/blobs/sha256/<hex>; <meta-dir>/layers.json",
    run: |args| run(args).map(|()| 0),
};

/// Name of the descriptions (a JSON array of [`Written`], in list order)
/// in the `pack-many` step's meta output.
pub const PACKED_LIST_FILE: &str = "layers.json";

/// `modelpack-frontend pack-many <list.json.zst> <src-dir> <out-dir> <meta-dir>`:
/// packs each file of the (compressed) [`PackList`] to its blob path under
/// `<out-dir>` and writes their descriptions to `<meta-dir>/`[`PACKED_LIST_FILE`].
pub fn run(args: &[String]) -> Result<()> {
    let [list, src, out, meta] = args else {
        bail!("usage: modelpack-frontend pack-many <list.json.zst> <src-dir> <out-dir> <meta-dir>");
    };
    let bytes = modelpack::compact::read(Path::new(list))?;
    let list: PackList =
        serde_json::from_slice(&bytes).with_context(|| format!("parsing the pack list {list}"))?;
    let written = pack_many(&list, Path::new(src), Path::new(out))?;
    let file = Path::new(meta).join(PACKED_LIST_FILE);
    std::fs::write(&file, serde_json::to_vec(&written)?)
        .with_context(|| format!("writing {}", file.display()))?;
    eprintln!("packed {} file(s)", written.len());
    Ok(())
}
