//! The model-spec config JSON schema, compiled into the binary so that
//! tests and validation never read anything outside the repository.

/// The official ModelPack config schema (draft 2020-12), from
/// `modelpack/model-spec` `schema/config-schema.json`, Apache-2.0; see
/// `spec/README.md` for its origin.
pub const CONFIG_SCHEMA: &str = include_str!("../../spec/model-spec-config-schema.json");

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

    /// When the reference copy beside the repository exists, ours must be
    /// identical to it (a fresh clone without it skips this comparison).
    #[test]
    fn schema_matches_the_shared_reference_copy_when_present() {
        let reference = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/spec/model-spec-config-schema.json"
        );
        match std::fs::read_to_string(reference) {
            Ok(text) => assert_eq!(
                text, CONFIG_SCHEMA,
                "spec/model-spec-config-schema.json differs from {reference}; copy the new schema in and note its origin in spec/README.md"
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("note: {reference} not present; comparison skipped")
            }
            Err(e) => panic!("reading {reference}: {e}"),
        }
    }
}
