//! Target routing: `--target` picks what the frontend builds.

use anyhow::{bail, Result};

/// What a build produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A ModelPack artifact (`application/vnd.cncf.model.*`).
    ModelPack,
    /// A plain OCI artifact of arbitrary files.
    Generic,
    /// The context's Dockerfile built as an app image and a ModelPack, in
    /// one OCI image index (`crate::bundle`).
    Bundle,
}

/// Every target with a one-line description (for errors and `--call targets`,
/// see `subrequests.rs`).
pub const TARGETS: &[(&str, Target, &str)] = &[
    (
        "packager/modelpack",
        Target::ModelPack,
        "package a model as a CNCF ModelPack OCI artifact",
    ),
    (
        "packager/generic",
        Target::Generic,
        "package any files as a generic OCI artifact",
    ),
    (
        "packager/bundle",
        Target::Bundle,
        "build the context's Dockerfile and package the model: both in one OCI image index (a layout)",
    ),
];

fn names() -> String {
    TARGETS
        .iter()
        .map(|(n, _, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolves the `target` option.
pub fn route(target: Option<&str>) -> Result<Target> {
    match target.map(str::trim).filter(|t| !t.is_empty()) {
        None => bail!(
            "no target given: pass --target <target>; valid targets: {}",
            names()
        ),
        Some(t) => match TARGETS.iter().find(|(n, _, _)| *n == t) {
            Some((_, target, _)) => Ok(*target),
            None => bail!("unknown target {t:?}; valid targets: {}", names()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route(Some("packager/modelpack")).unwrap(),
            Target::ModelPack
        );
        assert_eq!(route(Some("packager/generic")).unwrap(), Target::Generic);
        assert_eq!(route(Some("packager/bundle")).unwrap(), Target::Bundle);
        let err = route(Some("packager/x")).unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown target \"packager/x\"; valid targets: packager/modelpack, packager/generic, packager/bundle"
        );
        assert!(route(None)
            .unwrap_err()
            .to_string()
            .starts_with("no target given"));
        assert!(route(Some(" ")).is_err());
    }
}
