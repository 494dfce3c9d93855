//! The OCI image-spec names both the model core (`modelpack`) and the
//! registry client (`oci-registry`) use, written once: the media types of
//! manifests and indexes, the `oci-layout` file, the annotations both
//! read, and where a blob lives in a layout. Nothing about models or
//! registries; no dependencies.
#![deny(missing_docs)]

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
