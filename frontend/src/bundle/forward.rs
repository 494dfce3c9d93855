//! What the app's Dockerfile build gets of the build's own options as
//! they are: named build contexts (`--build-context NAME=…`) and labels
//! (`--label k=v`), under the option names BuildKit's Dockerfile frontend
//! (`frontend/dockerui`) reads, and the frontend inputs such a context
//! names (`context:NAME=input:INPUT`).
//!
//! buildx sends a named context as `context:NAME` whose value is
//! `local:NAME` (a directory shared in the build's session, with
//! `sharedkey:localdir:NAME` and, for a separate session,
//! `local-sessionid:NAME`), `docker-image://…`, `oci-layout://…` (a store in
//! the session), a Git or HTTP URL, or `input:NAME` (a definition sent as
//! the frontend input `NAME`, with its image config in
//! `input-metadata:NAME`); a context for one platform is
//! `context:NAME::os/arch`. The nested solve runs in the same session, so
//! passing these on lets the Dockerfile frontend load every kind as it
//! would in a plain `docker buildx build`.

use std::collections::{BTreeMap, BTreeSet};

/// Option prefixes passed on unchanged: dockerui's named contexts, their
/// input metadata, shared keys and sessions, and image labels.
pub const PREFIXES: &[&str] = &[
    "context:",
    "input-metadata:",
    "sharedkey:localdir:",
    "local-sessionid:",
    "label:",
];

/// Input names the request to the Dockerfile frontend fills itself (the
/// app's build context and Dockerfile); a named context's input of that
/// name is not passed on.
pub const OWN_INPUTS: &[&str] = &["context", "dockerfile"];

/// The options of `opts` the Dockerfile build gets as they are.
pub fn opts(opts: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    opts.iter()
        .filter(|(k, _)| PREFIXES.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The frontend inputs the named contexts of `opts` name
/// (`context:NAME=input:INPUT`), but [`OWN_INPUTS`].
pub fn wanted_inputs(opts: &BTreeMap<String, String>) -> BTreeSet<String> {
    opts.iter()
        .filter(|(k, _)| k.starts_with("context:"))
        .filter_map(|(_, v)| v.strip_prefix("input:"))
        .filter(|name| !name.is_empty() && !OWN_INPUTS.contains(name))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn named_contexts_and_labels_are_passed_on_and_nothing_else() {
        let o = opts_of(&[
            ("context:extra", "local:extra"),
            ("sharedkey:localdir:extra", "extra:node"),
            ("local-sessionid:extra", "sess2"),
            ("context:base::linux/arm64", "docker-image://alpine:3"),
            ("context:built", "input:built"),
            ("input-metadata:built", r#"{"containerimage.config":""}"#),
            ("label:org.example.team", "ml"),
            ("build-arg:source", "."),
            ("build-arg:label:x", "y"),
            ("platform", "linux/amd64"),
            ("input:git_state_extra", "https://example.invalid/x.git"),
            ("contexts", "no"),
        ]);
        let got = opts(&o);
        assert_eq!(
            got.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "context:base::linux/arm64",
                "context:built",
                "context:extra",
                "input-metadata:built",
                "label:org.example.team",
                "local-sessionid:extra",
                "sharedkey:localdir:extra",
            ]
        );
        assert_eq!(got["label:org.example.team"], "ml");
        assert_eq!(got["context:extra"], "local:extra");
    }

    #[test]
    fn only_input_contexts_name_inputs_and_ours_stay_ours() {
        let o = opts_of(&[
            ("context:a", "input:a"),
            ("context:b::linux/arm64", "input:b::linux/arm64"),
            ("context:c", "local:c"),
            ("context:context", "input:context"),
            ("context:d", "input:"),
            ("label:x", "input:z"),
        ]);
        assert_eq!(
            wanted_inputs(&o).into_iter().collect::<Vec<_>>(),
            ["a", "b::linux/arm64"]
        );
    }
}
