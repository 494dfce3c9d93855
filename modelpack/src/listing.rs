//! What the `scan` step reports: each regular file of a tree with its
//! size, digest and executable bit, sorted by path. Plain data, shared by
//! the step that writes it (`scan`) and those that read it (`context`).

use serde::{Deserialize, Serialize};

/// One regular file found by the scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannedFile {
    /// Path relative to the scanned root, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Whether any execute bit is set.
    pub executable: bool,
    /// Git blob id (`sha1("blob <size>\0" + bytes)`), when asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub git_sha1: Option<String>,
}

/// The scan result, sorted by path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The files.
    pub files: Vec<ScannedFile>,
}
