//! The OCI image-spec names both the model core (`modelpack`) and the
//! registry client (`oci-registry`) use, written once: the media types of
//! manifests and indexes, the content [`Descriptor`], the `oci-layout`
//! file, the annotations both read, and where a blob lives in a layout.
//! Nothing about models or registries; serde is its one dependency.
#![deny(missing_docs)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A content descriptor: an `index.json` or index entry, a manifest's
/// config or layer. Serialized in the image-spec's field order, leaving out
/// an absent `artifactType` and empty `annotations`, so the same
/// descriptor always gives the same bytes. A missing `mediaType` (some
/// layouts' `index.json`) reads as empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// `<algorithm>:<encoded>`, e.g. `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Artifact type of a referenced manifest (index entries only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub artifact_type: Option<String>,
    /// Annotations, sorted by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image manifest.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index (`index.json` of a layout).
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A Docker schema 2 manifest (read, never written).
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// A Docker manifest list (read, never written).
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";

/// Contents of a layout's `oci-layout` file.
pub const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// `index.json` annotation naming a manifest (its tag).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// A layer's file name.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";

/// Where the blob of `digest` (`<algorithm>:<encoded>`) lives in a layout,
/// relative to its root: `blobs/<algorithm>/<encoded>`. The digest is not
/// checked here; callers check it first (a `..` in it would leave the
/// layout).
pub fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_lives_under_its_algorithm() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(blob_path(&d), format!("blobs/sha256/{}", "ab".repeat(32)));
        assert_eq!(blob_path("sha512:00"), "blobs/sha512/00");
    }
}
