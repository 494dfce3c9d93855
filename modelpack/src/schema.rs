//! The model-spec config JSON schema, compiled into the binary so that
//! tests and validation never read anything outside the repository.

/// The official ModelPack config schema (draft 2020-12), from
/// `modelpack/model-spec` `schema/config-schema.json`, Apache-2.0; see
/// `spec/README.md` for its origin.
pub const CONFIG_SCHEMA: &str = include_str!("../../spec/model-spec-config-schema.json");

/// model-spec v0.0.6's config schema (draft-04; `modelfs.diff_ids`, no
/// `capabilities`, no `datasetsURL`), from `modelpack/model-spec`
/// `schema/config-schema.json` at tag v0.0.6, Apache-2.0: what
/// `media_types=cnai` writes. See `spec/README.md`.
pub const V0_0_6_CONFIG_SCHEMA: &str =
    include_str!("../../spec/model-spec-v0.0.6-config-schema.json");

/// model-spec v0.0.6's config schema as JSON.
pub fn v0_0_6_config_schema() -> serde_json::Value {
    serde_json::from_str(V0_0_6_CONFIG_SCHEMA)
        .expect("the compiled-in v0.0.6 config schema is valid JSON")
}

/// The schema as JSON.
pub fn config_schema() -> serde_json::Value {
    serde_json::from_str(CONFIG_SCHEMA).expect("the compiled-in config schema is valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_the_model_spec_config_schema() {
        let schema = config_schema();
        assert_eq!(
            schema["$id"],
            "https://github.com/modelpack/model-spec/config"
        );
        assert_eq!(
            schema["required"],
            serde_json::json!(["descriptor", "config", "modelfs"])
        );
    }

    #[test]
    fn v0_0_6_schema_is_the_legacy_config_schema() {
        let schema = v0_0_6_config_schema();
        assert_eq!(
            schema["$id"],
            "https://github.com/CloudNativeAI/model-spec/config"
        );
        assert_eq!(
            schema["$defs"]["ModelFS"]["required"],
            serde_json::json!(["type", "diff_ids"])
        );
        assert!(schema["$defs"]["ModelConfig"]["properties"]
            .get("capabilities")
            .is_none());
    }

    /// When the reference copies beside the repository exist, ours must be
    /// identical to them (a fresh clone without them skips this comparison).
    #[test]
    fn schema_matches_the_shared_reference_copy_when_present() {
        for (file, ours) in [
            ("model-spec-config-schema.json", CONFIG_SCHEMA),
            ("model-spec-v0.0.6-config-schema.json", V0_0_6_CONFIG_SCHEMA),
        ] {
            compare_with_reference(file, ours);
        }
    }

    fn compare_with_reference(file: &str, ours: &str) {
        let reference = format!("{}/../../shared/spec/{file}", env!("CARGO_MANIFEST_DIR"));
        let reference = reference.as_str();
        match std::fs::read_to_string(reference) {
            Ok(text) => assert_eq!(
                text, ours,
                "spec/{file} differs from {reference}; copy the new schema in and note its origin in spec/README.md"
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("note: {reference} not present; comparison skipped")
            }
            Err(e) => panic!("reading {reference}: {e}"),
        }
    }
}
