//! `validate LAYOUT[:NAME]|REF [--json]`: every spec violation, with where.

use super::remote::{self, Subject, SubjectArgs};
use super::{step, Command, Failure, Outcome};
use modelpack::validate::{self, Severity};

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
            (fetched.layout_ref(), reference.to_string())
        }
    };
    step(&format!("validating {r}"));
    let report = validate::validate(&lr.dir, lr.name.as_deref(), step);
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?;
        println!("{text}");
    } else {
        for p in &report.problems {
            let word = if p.severity == Severity::Error {
                "error"
            } else {
                "warning"
            };
            println!("{word}: {}: {}", p.location, p.message);
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
