//! Subrequests: `docker buildx build --call <name>` asks the frontend a
//! question (opt `requestid=<id>`) instead of building. Each answer is result
//! metadata only: `result.json` (what buildx parses), `result.txt` (what it
//! prints when it cannot parse a newer format), `version`, and for the lint
//! check `result.statuscode`.
//!
//! - `frontend.subrequests.describe`: the subrequests below.
//! - `frontend.targets` (`--call targets`): [`targets::TARGETS`].
//! - `frontend.outline` (`--call outline`): every build arg with its default
//!   and description ([`options::ARGS`]).
//! - `frontend.lint` (`--call check`): problems in the build args, found
//!   without fetching anything ([`crate::check`]).

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::answer::Answer;
use crate::check;
use crate::options;
use crate::targets;

/// `frontend.subrequests.describe`.
pub const DESCRIBE: &str = "frontend.subrequests.describe";
/// `--call targets`.
pub const TARGETS: &str = "frontend.targets";
/// `--call outline`.
pub const OUTLINE: &str = "frontend.outline";
/// `--call check`.
pub const LINT: &str = "frontend.lint";

/// The format version of every answer (buildx prints `result.txt` instead
/// of parsing `result.json` when this is newer than what it knows).
const VERSION: &str = "1.0.0";

/// Every subrequest: id, description, metadata keys of the answer.
const ALL: &[(&str, &str, &[&str])] = &[
    (
        DESCRIBE,
        "List available subrequest types",
        &["result.json"],
    ),
    (
        TARGETS,
        "List all targets current build supports",
        &["result.json", "result.txt"],
    ),
    (
        OUTLINE,
        "List all parameters current build takes",
        &["result.json", "result.txt"],
    ),
    (
        LINT,
        "Check the build args without fetching anything",
        &["result.json", "result.txt", "result.statuscode"],
    ),
];

/// Answers the subrequest `id` for the frontend options `opts` (its build
/// args and `target`).
#[cfg(test)]
pub fn answer(id: &str, opts: &BTreeMap<String, String>) -> Result<BTreeMap<String, Vec<u8>>> {
    answer_with(id, opts, None)
}

/// [`answer`] for a build with a model recipe: `--call targets` marks the
/// recipe's target as the default, `--call outline` adds the recipe's
/// sources and the build args its `${…}` read.
pub fn answer_with(
    id: &str,
    opts: &BTreeMap<String, String>,
    recipe: Option<&crate::recipe::Read>,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let recipe_target = recipe.map(|r| {
        r.loaded
            .recipe
            .target
            .clone()
            .unwrap_or_else(|| "packager/modelpack".into())
    });
    let target = opts
        .get("target")
        .map(String::as_str)
        .filter(|t| !t.trim().is_empty())
        .or(recipe_target.as_deref());
    let (json, txt, extra) = match id {
        DESCRIBE => describe(),
        TARGETS => {
            let (mut json, mut txt, extra) = list_targets();
            if let (Some(t), Some(list)) =
                (recipe_target.as_deref(), json["targets"].as_array_mut())
            {
                for entry in list.iter_mut().filter(|e| e["name"] == t) {
                    entry["default"] = json!(true);
                }
                txt.push_str(&format!("\n(default from the model recipe: {t})\n"));
            }
            (json, txt, extra)
        }
        OUTLINE => {
            let (json, txt, extra) = outline(target);
            match recipe {
                Some(r) => crate::recipe_outline::extend(json, txt, extra, r, opts),
                None => (json, txt, extra),
            }
        }
        LINT => lint(opts),
        other => {
            let known: Vec<&str> = ALL.iter().map(|(n, _, _)| *n).collect();
            bail!(
                "unsupported subrequest {other:?}; supported: {}",
                known.join(", ")
            )
        }
    };
    let mut meta = BTreeMap::from([
        ("result.json".to_string(), serde_json::to_vec_pretty(&json)?),
        ("result.txt".to_string(), txt.into_bytes()),
        ("version".to_string(), VERSION.as_bytes().to_vec()),
    ]);
    meta.extend(extra);
    Ok(meta)
}

fn describe() -> Answer {
    let list: Vec<Value> = ALL
        .iter()
        .map(|(name, description, keys)| {
            let metadata: Vec<Value> = keys.iter().map(|k| json!({"name": k})).collect();
            json!({"name": name, "version": VERSION, "type": "rpc", "description": description, "metadata": metadata})
        })
        .collect();
    let txt: String = ALL.iter().map(|(n, _, _)| format!("{n}\n")).collect();
    (Value::Array(list), txt, vec![])
}

fn list_targets() -> Answer {
    let list: Vec<Value> = targets::TARGETS
        .iter()
        .map(|(name, _, description)| json!({"name": name, "description": description}))
        .collect();
    let rows: Vec<[&str; 2]> = targets::TARGETS.iter().map(|(n, _, d)| [*n, *d]).collect();
    (
        json!({"targets": list}),
        table(["TARGET", "DESCRIPTION"], &rows),
        vec![],
    )
}

/// The outline of a target: its name and description and every build arg.
/// The args are the same for every target; an unknown target still gets
/// them (the build would then fail naming the valid targets).
fn outline(target: Option<&str>) -> Answer {
    let target = target.map(str::trim).filter(|t| !t.is_empty());
    let description = targets::TARGETS
        .iter()
        .find(|(n, _, _)| Some(*n) == target)
        .map(|(_, _, d)| *d);
    let args: Vec<Value> = options::ARGS
        .iter()
        .map(|a| json!({"name": a.name, "description": a.description, "value": a.default}))
        .collect();
    let mut out = json!({"args": args});
    if let Some(t) = target {
        out["name"] = json!(t);
    }
    if let Some(d) = description {
        out["description"] = json!(d);
    }
    let rows: Vec<[&str; 3]> = options::ARGS
        .iter()
        .map(|a| [a.name, a.default, a.description])
        .collect();
    let mut txt = String::new();
    if let Some(t) = target {
        txt.push_str(&format!("TARGET: {t}\n"));
        if let Some(d) = description {
            txt.push_str(&format!("DESCRIPTION: {d}\n"));
        }
        txt.push('\n');
    }
    txt.push_str(&table(["BUILD ARG", "VALUE", "DESCRIPTION"], &rows));
    (out, txt, vec![])
}

fn lint(opts: &BTreeMap<String, String>) -> Answer {
    let warnings = check::check(opts);
    let list: Vec<Value> = warnings
        .iter()
        .map(|w| {
            // sourceIndex -1: the warning points at no source file (buildx
            // then prints the rule and the detail only).
            json!({"ruleName": w.rule, "description": w.description, "detail": w.detail,
                   "location": {"sourceIndex": -1}})
        })
        .collect();
    let mut txt = String::new();
    for w in &warnings {
        txt.push_str(&format!("WARNING: {}\n{}\n\n", w.rule, w.detail));
    }
    if warnings.is_empty() {
        txt.push_str("Check complete, no warnings found.\n");
    }
    let status = if warnings.is_empty() { "0" } else { "1" };
    let out = json!({"warnings": list, "sources": []});
    (
        out,
        txt,
        vec![("result.statuscode".to_string(), status.as_bytes().to_vec())],
    )
}

/// Left-aligned columns, two spaces apart, with a header row.
fn table<const N: usize>(header: [&str; N], rows: &[[&str; N]]) -> String {
    let mut width = header.map(str::len);
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[&str; N]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == N {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    std::iter::once(line(&header))
        .chain(rows.iter().map(line))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_of(meta: &BTreeMap<String, Vec<u8>>) -> Value {
        serde_json::from_slice(&meta["result.json"]).unwrap()
    }

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("build-arg:{k}"), v.to_string()))
            .collect()
    }

    #[test]
    fn describe_lists_every_subrequest() {
        let d = json_of(&answer(DESCRIBE, &BTreeMap::new()).unwrap());
        let names: Vec<&str> = d
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, [DESCRIBE, TARGETS, OUTLINE, LINT]);
    }

    #[test]
    fn targets_lists_every_target() {
        let meta = answer(TARGETS, &BTreeMap::new()).unwrap();
        let names: Vec<String> = json_of(&meta)["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        let want: Vec<String> = targets::TARGETS
            .iter()
            .map(|(n, _, _)| n.to_string())
            .collect();
        assert_eq!(names, want);
        assert!(String::from_utf8_lossy(&meta["result.txt"]).contains("packager/modelpack"));
        assert_eq!(meta["version"], b"1.0.0");
    }

    #[test]
    fn outline_has_every_arg_with_default_and_description() {
        let mut opts = BTreeMap::new();
        opts.insert("target".to_string(), "packager/modelpack".to_string());
        let meta = answer(OUTLINE, &opts).unwrap();
        let o = json_of(&meta);
        assert_eq!(o["name"], "packager/modelpack");
        let listed = o["args"].as_array().unwrap();
        assert_eq!(listed.len(), options::KNOWN.len());
        for (a, key) in listed.iter().zip(options::KNOWN) {
            assert_eq!(a["name"], *key);
            assert!(!a["description"].as_str().unwrap().is_empty());
        }
        let lp = listed
            .iter()
            .find(|a| a["name"] == "layer_packaging")
            .unwrap();
        assert_eq!(lp["value"], "raw");
        let txt = String::from_utf8_lossy(&meta["result.txt"]).into_owned();
        assert!(txt.starts_with("TARGET: packager/modelpack\n"), "{txt}");
        for key in options::KNOWN {
            assert!(txt.contains(key), "{key} missing from\n{txt}");
        }
    }

    #[test]
    fn lint_reports_problems_with_status_1_and_passes_a_good_set() {
        let meta = answer(LINT, &args(&[("source", "."), ("layer_packing", "tar")])).unwrap();
        assert_eq!(meta["result.statuscode"], b"1");
        let w = &json_of(&meta)["warnings"][0];
        assert_eq!(w["ruleName"], "UnknownBuildArg");
        assert!(
            w["detail"].as_str().unwrap().contains("layer_packing"),
            "{w}"
        );
        assert_eq!(w["location"]["sourceIndex"], -1);

        let meta = answer(LINT, &args(&[("source", "."), ("layer_packaging", "tar")])).unwrap();
        assert_eq!(meta["result.statuscode"], b"0");
        assert_eq!(json_of(&meta)["warnings"], json!([]));
    }

    #[test]
    fn unknown_subrequests_name_the_supported_ones() {
        let err = answer("frontend.nope", &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("frontend.outline") && err.contains("frontend.lint"),
            "{err}"
        );
    }

    #[test]
    fn tables_align() {
        assert_eq!(
            table(["A", "B"], &[["xyz", "1"], ["q", "22"]]),
            "A    B\nxyz  1\nq    22\n"
        );
    }
}
