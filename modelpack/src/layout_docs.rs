//! A layout's small documents (`oci-layout`, `index.json`, the manifest
//! and config blobs) as one compressed bundle, written into the layout by
//! a step of our own image (`modelpack-frontend write-docs`).
//!
//! A file op would carry them in the build graph verbatim: about 470 bytes
//! of manifest and 75 of config per file, so 10,000 files come to 5.4 MB,
//! over BuildKit 0.13's 4 MiB request limit on their own. Compressed
//! ([`crate::compact`]) they are about a tenth of that.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::layout::{blob_path_in, write_atomic};

/// One document and where it goes in the layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doc {
    /// Absolute path inside the layout, e.g. `/index.json` or
    /// `/blobs/sha256/<hex>`.
    pub path: String,
    /// Its bytes (JSON documents are UTF-8).
    pub text: String,
}

/// The documents of one layout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// In writing order.
    pub docs: Vec<Doc>,
}

impl Bundle {
    /// Adds a document; `bytes` must be UTF-8 (every OCI document is JSON).
    pub fn push(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        let text =
            String::from_utf8(bytes.to_vec()).with_context(|| format!("{path} is not UTF-8"))?;
        self.docs.push(Doc {
            path: path.to_string(),
            text,
        });
        Ok(())
    }

    /// The bundle compressed, as the step reads it.
    pub fn to_compressed(&self) -> Vec<u8> {
        crate::compact::compress(&serde_json::to_vec(self).expect("a bundle serializes"))
    }
}

/// Where a document may go: a top-level file, or a blob whose bytes must
/// hash to the digest its name says.
fn checked_dest(root: &Path, doc: &Doc) -> Result<std::path::PathBuf> {
    match doc.path.strip_prefix("/blobs/sha256/") {
        Some(hex) => {
            let digest = format!("sha256:{hex}");
            let dest = blob_path_in(root, &digest)?;
            let actual = crate::digest::sha256_of(doc.text.as_bytes());
            if actual != digest {
                bail!(
                    "{} holds bytes hashing to {actual}: the bundle is damaged",
                    doc.path
                );
            }
            Ok(dest)
        }
        None if ["/index.json", "/oci-layout"].contains(&doc.path.as_str()) => {
            Ok(root.join(&doc.path[1..]))
        }
        None => bail!("refusing to write {:?}: not a layout document", doc.path),
    }
}

/// Writes every document of the bundle at `bundle` into the layout at `root`.
pub fn write(bundle: &Path, root: &Path) -> Result<usize> {
    let bytes = crate::compact::read(bundle)?;
    let bundle: Bundle =
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", bundle.display()))?;
    let blobs = root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
    for doc in &bundle.docs {
        let dest = checked_dest(root, doc)?;
        write_atomic(&dest, doc.text.as_bytes())?;
    }
    Ok(bundle.docs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_land_at_their_paths_byte_for_byte() {
        let manifest = br#"{"schemaVersion":2}"#;
        let digest = crate::digest::sha256_of(manifest);
        let mut bundle = Bundle::default();
        bundle
            .push(&format!("/blobs/sha256/{}", &digest[7..]), manifest)
            .unwrap();
        bundle.push("/index.json", b"{\"manifests\":[]}").unwrap();
        bundle
            .push("/oci-layout", b"{\"imageLayoutVersion\":\"1.0.0\"}")
            .unwrap();
        let dir = crate::testutil::TempDir::new("docs");
        let input = dir.join("docs.json.zst");
        std::fs::write(&input, bundle.to_compressed()).unwrap();
        let root = dir.join("layout");
        assert_eq!(write(&input, &root).unwrap(), 3);
        assert_eq!(
            std::fs::read(root.join("blobs/sha256").join(&digest[7..])).unwrap(),
            manifest
        );
        assert_eq!(
            std::fs::read(root.join("index.json")).unwrap(),
            b"{\"manifests\":[]}"
        );
        assert_eq!(
            std::fs::read(root.join("oci-layout")).unwrap(),
            b"{\"imageLayoutVersion\":\"1.0.0\"}"
        );
    }

    #[test]
    fn a_blob_that_does_not_match_its_name_or_a_stray_path_is_refused() {
        let dir = crate::testutil::TempDir::new("docs-bad");
        let input = dir.join("docs.json.zst");
        for (path, why) in [
            (format!("/blobs/sha256/{}", "0".repeat(64)), "hashing to"),
            ("/../etc/passwd".to_string(), "not a layout document"),
            ("/blobs/sha256/../../x".to_string(), "digest"),
        ] {
            let mut bundle = Bundle::default();
            bundle.push(&path, b"{}").unwrap();
            std::fs::write(&input, bundle.to_compressed()).unwrap();
            let err = write(&input, &dir.join("layout")).unwrap_err();
            assert!(format!("{err:#}").contains(why), "{path}: {err:#}");
        }
    }
}
