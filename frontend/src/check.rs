//! `docker buildx build --call check`: every problem in the build args, each
//! as one warning naming the arg, found without fetching anything. A build
//! with the same args fails on the first of them; the check lists them all.

use std::collections::BTreeMap;

use crate::options::{self, keys};

/// One problem in the build args.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// A stable rule name (`UnknownBuildArg`, `MissingSource`, …).
    pub rule: &'static str,
    /// What the rule checks, one line.
    pub description: &'static str,
    /// What is wrong here: names the arg, the value and what is accepted.
    pub detail: String,
}

const UNKNOWN_ARG: (&str, &str) = (
    "UnknownBuildArg",
    "Build args this frontend does not read are most likely typos",
);
const MISSING_SOURCE: (&str, &str) = ("MissingSource", "The build arg source is required");
const INVALID_SOURCE: (&str, &str) = (
    "InvalidSource",
    "The source (with revision) must follow the source grammar",
);
const INVALID_VALUE: (&str, &str) = (
    "InvalidBuildArgValue",
    "Each build arg must have a value it accepts",
);

fn warning((rule, description): (&'static str, &'static str), detail: String) -> Warning {
    Warning {
        rule,
        description,
        detail,
    }
}

/// Checks the build args in the frontend options `opts`: unknown args, the
/// source (with `revision`), then each other arg on its own (against the
/// context source `.`), so one bad value does not hide another.
pub fn check(opts: &BTreeMap<String, String>) -> Vec<Warning> {
    let mut out = Vec::new();
    let args: BTreeMap<&str, &str> = opts
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("build-arg:")?, v.as_str())))
        .collect();
    for key in args.keys().filter(|k| options::is_unknown_arg(k)) {
        out.push(warning(
            UNKNOWN_ARG,
            format!(
                "unknown build-arg {key}; this frontend reads: {}",
                options::KNOWN.join(", ")
            ),
        ));
    }
    let given = |k: &str| args.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let with = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("build-arg:{k}"), v.to_string()))
            .collect()
    };
    match given(keys::SOURCE) {
        None => out.push(warning(
            MISSING_SOURCE,
            "build-arg source is required: pass --build-arg source=<.|path/glob in the context|huggingface://org/repo[@rev][/path]>"
                .to_string(),
        )),
        Some(source) => {
            let mut pairs = vec![(keys::SOURCE, source)];
            pairs.extend(given(keys::REVISION).map(|r| (keys::REVISION, r)));
            if let Err(e) = options::parse(&with(&pairs)) {
                out.push(warning(INVALID_SOURCE, format!("{e:#}")));
            }
        }
    }
    for key in options::KNOWN
        .iter()
        .filter(|k| ![keys::SOURCE, keys::REVISION].contains(k))
    {
        if let Some(value) = given(key) {
            if let Err(e) = options::parse(&with(&[(keys::SOURCE, "."), (key, value)])) {
                out.push(warning(INVALID_VALUE, format!("{e:#}")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("build-arg:{k}"), v.to_string()))
            .collect()
    }

    fn rules(w: &[Warning]) -> Vec<&str> {
        w.iter().map(|w| w.rule).collect()
    }

    #[test]
    fn a_good_set_passes() {
        let ok = args(&[
            ("source", "huggingface://org/tiny"),
            ("revision", "refs/pr/1"),
            ("layer_packaging", "tar+zstd"),
            ("name", "tiny"),
            ("BUILDKIT_SYNTAX", "x"),
            ("SOURCE_DATE_EPOCH", "0"),
        ]);
        assert_eq!(check(&ok), vec![]);
        assert_eq!(check(&args(&[("source", ".")])), vec![]);
    }

    #[test]
    fn every_problem_is_reported_naming_its_arg() {
        let w = check(&args(&[
            ("source", "s3://bucket/x"),
            ("layer_packing", "tar"),
            ("layer_packaging", "zip"),
            ("name", "a b"),
            ("hf_endpoint", "ftp://x"),
            ("SOURCE_DATE_EPOCH", "yesterday"),
        ]));
        assert_eq!(
            rules(&w),
            [
                "UnknownBuildArg",
                "InvalidSource",
                "InvalidBuildArgValue",
                "InvalidBuildArgValue",
                "InvalidBuildArgValue",
                "InvalidBuildArgValue"
            ]
        );
        assert!(w[0].detail.contains("layer_packing"), "{:?}", w[0]);
        assert!(
            w[1].detail.starts_with("build-arg source: s3://"),
            "{:?}",
            w[1]
        );
        for (w, arg) in w[2..].iter().zip([
            "name",
            "layer_packaging",
            "hf_endpoint",
            "SOURCE_DATE_EPOCH",
        ]) {
            assert!(
                w.detail.contains(&format!("build-arg {arg}")),
                "{arg}: {:?}",
                w.detail
            );
        }
    }

    #[test]
    fn a_missing_source_is_one_warning() {
        let w = check(&args(&[("name", "x")]));
        assert_eq!(rules(&w), ["MissingSource"]);
        assert!(w[0].detail.contains("build-arg source"));
    }
}
