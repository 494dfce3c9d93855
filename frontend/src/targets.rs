//! Target routing: `--target` picks what the frontend builds.

use anyhow::{bail, Result};

/// What a build produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A ModelPack artifact (`application/vnd.cncf.model.*`).
    ModelPack,
    /// A plain OCI artifact of arbitrary files.
    Generic,
}

/// Every target with a one-line description (for errors and `--call targets`).
pub const TARGETS: &[(&str, Target, &str)] = &[
    ("packager/modelpack", Target::ModelPack, "package a model as a CNCF ModelPack OCI artifact"),
    ("packager/generic", Target::Generic, "package any files as a generic OCI artifact"),
];

fn names() -> String {
    TARGETS.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")
}

/// Resolves the `target` option.
pub fn route(target: Option<&str>) -> Result<Target> {
    match target.map(str::trim).filter(|t| !t.is_empty()) {
        None => bail!("no target given: pass --target <target>; valid targets: {}", names()),
        Some(t) => match TARGETS.iter().find(|(n, _, _)| *n == t) {
            Some((_, target, _)) => Ok(*target),
            None => bail!("unknown target {t:?}; valid targets: {}", names()),
        },
    }
}

/// Subrequest ids answered instead of a build (`docker buildx build --call`).
pub const SUBREQUEST_DESCRIBE: &str = "frontend.subrequests.describe";
/// `--call targets`.
pub const SUBREQUEST_TARGETS: &str = "frontend.targets";

/// The answer to a subrequest: result metadata only, no filesystem.
pub fn answer_subrequest(id: &str) -> Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let (json, txt) = match id {
        SUBREQUEST_DESCRIBE => {
            let list = serde_json::json!([
                {"name": SUBREQUEST_DESCRIBE, "version": "1.0.0", "type": "rpc",
                 "description": "List available subrequest types",
                 "metadata": [{"name": "result.json"}]},
                {"name": SUBREQUEST_TARGETS, "version": "1.0.0", "type": "rpc",
                 "description": "List all targets current build supports",
                 "metadata": [{"name": "result.json"}, {"name": "result.txt"}]},
            ]);
            let txt = format!("{SUBREQUEST_DESCRIBE}\n{SUBREQUEST_TARGETS}\n");
            (list, txt)
        }
        SUBREQUEST_TARGETS => {
            let targets: Vec<_> = TARGETS
                .iter()
                .map(|(name, _, description)| serde_json::json!({"name": name, "description": description}))
                .collect();
            let width = TARGETS.iter().map(|(n, _, _)| n.len()).max().unwrap_or(0);
            let mut txt = format!("{:width$}  DESCRIPTION\n", "TARGET");
            for (name, _, description) in TARGETS {
                txt.push_str(&format!("{name:width$}  {description}\n"));
            }
            (serde_json::json!({"targets": targets}), txt)
        }
        other => bail!(
            "unsupported subrequest {other:?}; supported: {SUBREQUEST_DESCRIBE}, {SUBREQUEST_TARGETS}"
        ),
    };
    Ok(std::collections::BTreeMap::from([
        ("result.json".to_string(), serde_json::to_vec(&json)?),
        ("result.txt".to_string(), txt.into_bytes()),
        ("version".to_string(), b"1.0.0".to_vec()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route(Some("packager/modelpack")).unwrap(), Target::ModelPack);
        assert_eq!(route(Some("packager/generic")).unwrap(), Target::Generic);
        let err = route(Some("packager/x")).unwrap_err().to_string();
        assert_eq!(err, "unknown target \"packager/x\"; valid targets: packager/modelpack, packager/generic");
        assert!(route(None).unwrap_err().to_string().starts_with("no target given"));
        assert!(route(Some(" ")).is_err());
    }

    #[test]
    fn targets_subrequest_lists_every_target() {
        let meta = answer_subrequest(SUBREQUEST_TARGETS).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&meta["result.json"]).unwrap();
        let names: Vec<&str> = json["targets"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["packager/modelpack", "packager/generic"]);
        assert!(String::from_utf8_lossy(&meta["result.txt"]).contains("packager/modelpack"));
        let describe = answer_subrequest(SUBREQUEST_DESCRIBE).unwrap();
        assert!(String::from_utf8_lossy(&describe["result.json"]).contains(SUBREQUEST_TARGETS));
        assert!(answer_subrequest("frontend.outline").is_err());
    }
}
