//! Generic OCI artifacts: any files, one layer each, with an empty config
//! and `org.opencontainers.image.title` annotations (what `oras pull`
//! writes files by). Manifest and index come from [`crate::plan`].

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::artifact::{self, Plan, PlannedLayer};
use crate::oci::{self, Descriptor};
use crate::packaging::LayerPackaging;
use crate::plan_file::PlanFile;

/// Media type of a raw generic layer.
pub const MEDIA_TYPE_RAW: &str = "application/octet-stream";
/// The OCI empty config's media type.
pub const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The OCI empty config's bytes.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// Layer media type for a packaging: `application/octet-stream` for raw
/// files, the OCI image layer types for tars.
pub fn layer_media_type(packaging: LayerPackaging) -> &'static str {
    match packaging {
        LayerPackaging::Raw => MEDIA_TYPE_RAW,
        LayerPackaging::Tar => "application/vnd.oci.image.layer.v1.tar",
        LayerPackaging::TarGzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        LayerPackaging::TarZstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

/// Checks an `artifactType`: a media type `type/subtype` (RFC 6838 chars).
pub fn validate_artifact_type(value: &str) -> Result<()> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.len() <= 127
            && p.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    match value.split_once('/') {
        Some((t, s)) if ok_part(t) && ok_part(s) => Ok(()),
        _ => bail!(
            "build-arg artifact_type: {value:?} is not a media type; use type/subtype, e.g. application/vnd.example.data.v1"
        ),
    }
}

/// The plan of a generic artifact: layers sorted by path.
pub fn build(
    mut files: Vec<PlanFile>,
    name: &str,
    artifact_type: &str,
    packaging: LayerPackaging,
) -> Result<Plan> {
    validate_artifact_type(artifact_type)?;
    artifact::checked_sorted(&mut files, packaging)?;
    let layers = files
        .iter()
        .map(|f| {
            let descriptor = Descriptor {
                media_type: layer_media_type(f.format()).to_string(),
                digest: f.digest.clone(),
                size: f.packed.as_ref().map_or(f.size, |p| p.blob_size),
                artifact_type: None,
                annotations: BTreeMap::from([(oci::ANNOTATION_TITLE.to_string(), f.path.clone())]),
            };
            PlannedLayer::new(descriptor, f)
        })
        .collect();
    let config = artifact::blob(MEDIA_TYPE_EMPTY, EMPTY_CONFIG.to_vec());
    artifact::assemble(layers, config, artifact_type, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{Index, Manifest};
    use crate::plan::Packed;

    use crate::testutil::plan_file as file;

    #[test]
    fn generic_manifest_has_empty_config_titles_and_the_artifact_type() {
        let files = vec![file("b/x.bin", b"x"), file("a.txt", b"a")];
        let plan = build(
            files,
            "data",
            "application/vnd.example.data.v1",
            LayerPackaging::Raw,
        )
        .unwrap();
        let manifest: Manifest = serde_json::from_slice(&plan.manifest.bytes).unwrap();
        assert_eq!(manifest.artifact_type, "application/vnd.example.data.v1");
        assert_eq!(manifest.config.media_type, MEDIA_TYPE_EMPTY);
        assert_eq!(
            manifest.config.digest,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(manifest.config.size, 2);
        assert_eq!(plan.config.bytes, b"{}");
        let titles: Vec<&str> = manifest
            .layers
            .iter()
            .map(|l| l.annotations[oci::ANNOTATION_TITLE].as_str())
            .collect();
        assert_eq!(titles, ["a.txt", "b/x.bin"]);
        assert!(manifest
            .layers
            .iter()
            .all(|l| l.media_type == MEDIA_TYPE_RAW && l.annotations.len() == 1));
        let index: Index = serde_json::from_slice(&plan.index).unwrap();
        assert_eq!(
            index.manifests[0].annotations[oci::ANNOTATION_REF_NAME],
            "data"
        );
        assert_eq!(
            index.manifests[0].artifact_type.as_deref(),
            Some("application/vnd.example.data.v1")
        );
        assert_eq!(plan.layers[1].path, "b/x.bin");
    }

    #[test]
    fn tar_layers_use_oci_layer_types_and_blob_sizes() {
        let mut f = file("a.txt", b"a");
        f.packed = Some(Packed {
            blob_size: 512,
            diff_id: "sha256:t".into(),
            format: LayerPackaging::TarZstd,
        });
        let plan = build(vec![f], "d", DEFAULT, LayerPackaging::TarZstd).unwrap();
        assert_eq!(
            plan.layers[0].descriptor.media_type,
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
        assert_eq!(plan.layers[0].descriptor.size, 512);
    }

    const DEFAULT: &str = crate::plan::DEFAULT_GENERIC_ARTIFACT_TYPE;

    #[test]
    fn bad_artifact_types_and_empty_input_fail() {
        for bad in ["", "x", "a/", "/b", "a/b c", "a/b/c"] {
            assert!(validate_artifact_type(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_artifact_type(DEFAULT).is_ok());
        assert!(build(vec![], "d", DEFAULT, LayerPackaging::Raw).is_err());
    }
}
