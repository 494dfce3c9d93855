//! Why an OCI image layout could not be read ([`LayoutError`]): the
//! failures callers tell apart (`anyhow::Error::downcast_ref`, or a
//! `match` where a function returns it) and each door words its own way
//! (the command line says how to name a manifest: `LAYOUT:NAME`).

use std::io;
use std::path::PathBuf;

use crate::oci;

/// Which document of a layout did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Document {
    /// An image manifest.
    Manifest,
    /// A manifest's config.
    Config,
    /// The model entry of a bundle's image index.
    ModelEntry,
}

/// A layout that cannot be read, or has no manifest to pick. `Display`
/// is the whole message, the underlying I/O or JSON error included
/// (there is no `source()`, so `{e}` and `{e:#}` say the same).
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// `oci-layout` cannot be read: the folder is no OCI image layout.
    #[error("{} is not an OCI image layout: cannot read {}: {error}", root.display(), root.join("oci-layout").display())]
    NotALayout {
        /// The folder.
        root: PathBuf,
        /// Why `oci-layout` could not be read.
        error: io::Error,
    },
    /// `oci-layout` is not JSON.
    #[error("{} is not JSON: {error}", path.display())]
    MarkerNotJson {
        /// The `oci-layout` file.
        path: PathBuf,
        /// The parse error.
        error: serde_json::Error,
    },
    /// `oci-layout` names a version other than 1.0.0.
    #[error("{}: imageLayoutVersion is not \"1.0.0\"", path.display())]
    UnknownVersion {
        /// The `oci-layout` file.
        path: PathBuf,
    },
    /// A file of the layout cannot be opened or read.
    #[error("reading {}: {error}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
    /// A file over the size read into memory.
    #[error("{} is larger than {max} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// `index.json` is not an OCI image index.
    #[error("{} is not an OCI image index: {error}", path.display())]
    NotAnIndex {
        /// The `index.json` file.
        path: PathBuf,
        /// The parse error.
        error: serde_json::Error,
    },
    /// `index.json` lists no manifest (none but referrers, when no name
    /// was given).
    #[error("{}: index.json lists no manifest", root.display())]
    NoManifest {
        /// The layout folder.
        root: PathBuf,
    },
    /// No `index.json` entry has the name asked for.
    #[error("{}: no manifest named {name:?}; the layout has: {}", root.display(), names.join(", "))]
    NoSuchName {
        /// The layout folder.
        root: PathBuf,
        /// The name asked for.
        name: String,
        /// The names there are (an entry without one by its digest).
        names: Vec<String>,
    },
    /// Several entries and no name given: each door says how to give one.
    #[error("{}: index.json lists {} manifests (names: {}) and none was named", root.display(), names.len(), names.join(", "))]
    NameNeeded {
        /// The layout folder.
        root: PathBuf,
        /// The names there are (an entry without one by its digest).
        names: Vec<String>,
    },
    /// A digest that is not `sha256:<64 hex>`, so it cannot name a file.
    #[error("digest {digest:?} is not sha256:<64 lower-case hex digits>")]
    BadDigest {
        /// The digest as given.
        digest: String,
    },
    /// A blob a descriptor names is not in the layout.
    #[error("blob {digest} is missing: cannot open {}: {error}", path.display())]
    BlobMissing {
        /// The blob's digest.
        digest: String,
        /// Where it should be.
        path: PathBuf,
        /// The I/O error (not found).
        error: io::Error,
    },
    /// A descriptor of a document says it is over [`crate::layout::MAX_DOCUMENT`].
    #[error(
        "blob {digest} is {size} bytes; documents over {} bytes are refused",
        crate::layout::MAX_DOCUMENT
    )]
    DocumentTooLarge {
        /// The blob's digest.
        digest: String,
        /// The size its descriptor gives.
        size: u64,
    },
    /// A blob whose size is not its descriptor's.
    #[error("blob {digest}: size is {actual} bytes, the descriptor says {expected}")]
    SizeMismatch {
        /// The blob's digest.
        digest: String,
        /// Its size on disk.
        actual: u64,
        /// The descriptor's size.
        expected: u64,
    },
    /// A blob whose content does not hash to its digest.
    #[error("blob {digest}: content hashes to {actual}")]
    DigestMismatch {
        /// The digest the descriptor gives.
        digest: String,
        /// What the content hashes to.
        actual: String,
    },
    /// A manifest, config or model entry that does not parse.
    #[error("{}: {error}", match document {
        Document::Manifest => format!("manifest {digest} is not an OCI image manifest"),
        Document::Config => format!("config {digest} is not JSON"),
        Document::ModelEntry => format!("the model entry of index {digest} is not a descriptor"),
    })]
    BadDocument {
        /// Which document.
        document: Document,
        /// The manifest's or config's digest; the index's for a model entry.
        digest: String,
        /// The parse error.
        error: serde_json::Error,
    },
    /// A picked image index (a bundle) with no ModelPack manifest in it.
    #[error(
        "{}: {digest} is an image index with no ModelPack manifest (no entry annotated {}={} or with artifactType {})",
        root.display(),
        crate::bundle::ANNOTATION_ROLE,
        crate::bundle::ROLE_MODEL,
        oci::ARTIFACT_TYPE_MODEL
    )]
    IndexWithoutModel {
        /// The layout folder.
        root: PathBuf,
        /// The image index's digest.
        digest: String,
    },
}
