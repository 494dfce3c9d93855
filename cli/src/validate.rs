//! `validate LAYOUT[:NAME]|REF [--json]`: every spec violation, with where.

use super::remote::{self, Subject, SubjectArgs};
use super::{step, Command, Failure, Outcome};
use modelpack::validate::{self, Finding, Problem, Severity};
use std::path::Path;

/// The command.
pub const COMMAND: Command = Command {
    name: "validate",
    summary: "check a ModelPack layout against the spec; lists every problem",
    help: concat!(
        "\
Usage: modelpack-frontend validate LAYOUT[:NAME] [--json]
       modelpack-frontend validate REF [--json] [flags]

Checks the OCI image layout at LAYOUT (the manifest named NAME, or the only
one): layout files, every blob's size and digest, manifest and config media
types and artifactType, the config against the model-spec JSON schema,
modelfs.diffIds against the layers, layer media types and annotations, and
the entries of tar layers. Legacy vnd.cnai media types and keys are
warnings. Prints every problem with its place; exits 1 if any is an error.

LAYOUT is an existing directory (NAME after its last ':'); anything else
is a registry reference (host[:port]/repository[:tag][@digest]), whose
manifest, config and blobs are downloaded, verified while they stream,
into a temporary layout (under TMPDIR) that is then checked and removed.

  --json     print the report as JSON on stdout
",
        registry_flags_help!(),
        "
Examples: modelpack-frontend validate out/layout:tiny
          modelpack-frontend validate registry.example.com/models/tiny:v1
"
    ),
    run,
};

fn run(p: &mut lexopt::Parser) -> Outcome {
    let SubjectArgs {
        target,
        flags,
        json,
        ..
    } = SubjectArgs::parse(p, true, false)?;
    let fetched;
    let (lr, r) = match remote::subject(&target)? {
        Subject::Layout(lr) => (lr.clone(), lr.to_string()),
        Subject::Remote(reference) => {
            step(&format!("downloading {reference} into a temporary layout"));
            fetched = remote::fetch_all(&flags, &reference, None)
                .map_err(|e| remote::explain(&target, &reference, e))?;
            let lr = fetched.layout_ref();
            let model = modelpack::layout::Layout::open(&lr.dir)?.select(lr.name.as_deref())?;
            let n = remote::fetch_referrers(&flags, &reference, &model.digest, &fetched)
                .map_err(|e| remote::explain(&target, &reference, e))?;
            if n > 0 {
                step(&format!("fetched {n} referrer(s) of {reference}"));
            }
            (fetched.layout_ref(), reference.to_string())
        }
    };
    step(&format!("validating {r}"));
    let report = validate::validate(&lr.dir, lr.name.as_deref(), step);
    if !report.referrers.is_empty() {
        step(&format!(
            "checked {} referrer(s): subjects resolve, documents parse",
            report.referrers.len()
        ));
    }
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?;
        println!("{text}");
    } else {
        for p in &report.problems {
            println!("{}", line(p, &lr.dir));
        }
        let warnings = report.problems.len() - report.errors();
        match (&report.manifest, report.ok()) {
            (Some(m), true) => println!(
                "ok: {r} manifest {m}, {} layers, {warnings} warnings",
                report.layers
            ),
            _ => println!("{r}: {} errors, {warnings} warnings", report.errors()),
        }
    }
    if report.ok() {
        Ok(())
    } else {
        Err(Failure::Failed(anyhow::anyhow!(
            "{r} is not a valid ModelPack artifact: {} errors",
            report.errors()
        )))
    }
}

/// A finding as this command prints it: the core's words, and where the
/// core names no argument, this door's (`LAYOUT:NAME` for a layout of
/// several models checked with no name).
fn line(p: &Problem, dir: &Path) -> String {
    let word = match p.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    match p.kind {
        Finding::NameNeeded => format!(
            "{word}: {}: {}; {}",
            p.location,
            p.message,
            super::name_hint(dir)
        ),
        _ => format!("{word}: {}: {}", p.location, p.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_of_several_models_is_told_how_to_name_one() {
        let p = |kind| Problem {
            severity: Severity::Error,
            kind,
            location: "index.json".into(),
            message: "out: index.json lists 2 manifests (names: a, b) and none was named".into(),
        };
        assert_eq!(
            line(&p(Finding::NameNeeded), Path::new("out")),
            "error: index.json: out: index.json lists 2 manifests (names: a, b) and none was named; pick one as out:NAME"
        );
        assert!(!line(&p(Finding::Index), Path::new("out")).contains("NAME"));
    }
}
