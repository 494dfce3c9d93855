//! The `describe` step: reads the headers of the listed model files
//! (safetensors, GGUF), `config.json` and the model card, and writes what
//! they say about the model ([`modelpack::describe`] does the reading).

use std::path::{Component, Path};

use anyhow::{bail, Context, Result};
use modelpack::describe::{describe, FileInput};

use crate::Step;

/// The step's name.
pub const NAME: &str = "describe";

/// The table entry.
pub const STEP: Step = Step {
    name: NAME,
    argv: "[--strict] <src-dir> <out-file> [[--layer <format>] <path>…]",
    reads: "the headers of the listed files under <src-dir> (a file inside a one-file layer with --layer)",
    writes: "<out-file>: the model facts as JSON",
    run: |args| run(args).map(|()| 0),
};

/// Checks that a model path stays under the source directory.
fn safe_relative(path: &str) -> Result<()> {
    let p = Path::new(path);
    if path.is_empty()
        || !p
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        bail!("path {path:?} must be relative and stay inside the model directory");
    }
    Ok(())
}

/// Before a path of the `describe` step: SRC_DIR/PATH is a one-file layer
/// of the format that follows (`--layer tar+zstd PATH`), read from inside.
pub const LAYER_FLAG: &str = "--layer";

/// The `describe` build step: `describe [--strict] SRC_DIR OUT_FILE
/// [[--layer FORMAT] PATH...]` reads the headers of the listed model paths
/// under SRC_DIR and writes the [`modelpack::describe::ModelFacts`] JSON to OUT_FILE. Unreadable
/// files are reported on stderr; with `--strict` they fail the step.
pub fn run(args: &[String]) -> Result<()> {
    let (strict, args) = match args.first().map(String::as_str) {
        Some("--strict") => (true, &args[1..]),
        _ => (false, args),
    };
    let [src, out, paths @ ..] = args else {
        bail!("usage: describe [--strict] SRC_DIR OUT_FILE [PATH...]");
    };
    let root = Path::new(src);
    let mut files = Vec::with_capacity(paths.len());
    let mut rest = paths.iter();
    while let Some(p) = rest.next() {
        if p == LAYER_FLAG {
            let (Some(format), Some(p)) = (rest.next(), rest.next()) else {
                bail!("usage: {LAYER_FLAG} FORMAT PATH");
            };
            let format = modelpack::LayerPackaging::from_suffix(format)
                .with_context(|| format!("unknown layer format {format:?}"))?;
            safe_relative(p)?;
            let full = root.join(p);
            files.push(FileInput::new(p.as_str(), move || {
                modelpack::pack::open_layer_file(&full, format).map(|(_, r)| r)
            }));
            continue;
        }
        safe_relative(p)?;
        files.push(FileInput::on_disk(root, p));
    }
    let description = describe(&files);
    for e in &description.errors {
        eprintln!("describe: {e}");
    }
    if strict {
        if let Some(e) = description.errors.into_iter().next() {
            return Err(anyhow::Error::new(e).context("describing the model"));
        }
    }
    let mut json =
        serde_json::to_vec_pretty(&description.facts).context("encoding the model facts")?;
    json.push(b'\n');
    std::fs::write(out, json).with_context(|| format!("writing {out}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelpack::describe::ModelFacts;
    use std::path::PathBuf;

    fn fixture_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../modelpack/tests/fixtures/describe")
    }

    #[test]
    fn describe_run_step() {
        let out = std::env::temp_dir().join(format!("describe-run-{}.json", std::process::id()));
        let src = fixture_dir();
        let args: Vec<String> = [
            src.to_str().unwrap(),
            out.to_str().unwrap(),
            "single.safetensors",
            "README_other.md",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        run(&args).unwrap();
        let facts: ModelFacts = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        let _ = std::fs::remove_file(&out);
        assert_eq!(facts.format.as_deref(), Some("safetensors"));
        assert_eq!(facts.param_count, Some(32 * 8 + 16 * 8 + 32));

        let bad = |extra: &str| {
            let args: Vec<String> = [src.to_str().unwrap(), out.to_str().unwrap(), extra]
                .iter()
                .map(|s| s.to_string())
                .collect();
            run(&args)
        };
        assert!(bad("../x.gguf").is_err());
        assert!(bad("/etc/passwd").is_err());
        assert!(run(&["only-one".to_string()]).is_err());
        // --strict fails on an unreadable file; without it the step succeeds.
        let strict: Vec<String> = [
            "--strict",
            src.to_str().unwrap(),
            out.to_str().unwrap(),
            "missing.gguf",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let err = run(&strict).unwrap_err();
        assert!(format!("{err:#}").contains("missing.gguf"), "{err:#}");
        run(&strict[1..]).unwrap();
        let _ = std::fs::remove_file(&out);
    }
}
