//! The `write-docs` step: writes a layout's small documents (`oci-layout`,
//! `index.json`, the manifest and config blobs) from one compressed bundle
//! ([`modelpack::layout_docs`]), for layouts whose documents are too big to
//! travel in the build graph inline.

use std::path::Path;

use anyhow::{bail, Result};
use modelpack::layout_docs::write;

use crate::Step;

/// The step's name.
pub const NAME: &str = "write-docs";

/// The table entry.
pub const STEP: Step = Step {
    name: NAME,
    argv: "<bundle.json.zst> <layout-dir>",
    reads: "the compressed bundle of documents",
    writes: "oci-layout, index.json and the document blobs under <layout-dir>",
    run: |args| run(args).map(|()| 0),
};

/// `modelpack-frontend write-docs <bundle.json.zst> <layout-dir>`.
pub fn run(args: &[String]) -> Result<()> {
    let [bundle, root] = args else {
        bail!("usage: modelpack-frontend write-docs <bundle.json.zst> <layout-dir>");
    };
    let n = write(Path::new(bundle), Path::new(root))?;
    eprintln!("wrote {n} layout document(s) into {root}");
    Ok(())
}
