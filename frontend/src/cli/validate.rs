//! `validate LAYOUT[:NAME] [--json]`: every spec violation, with where.

use super::{positional, step, unexpected, Command, Failure, Outcome};
use modelpack::layout::LayoutRef;
use modelpack::validate::{self, Severity};

/// The command.
pub const COMMAND: Command = Command {
    name: "validate",
    summary: "check a ModelPack layout against the spec; lists every problem",
    help: "\
Usage: modelpack-frontend validate LAYOUT[:NAME] [--json]

Checks the OCI image layout at LAYOUT (the manifest named NAME, or the only
one): layout files, every blob's size and digest, manifest and config media
types and artifactType, the config against the model-spec JSON schema,
modelfs.diffIds against the layers, layer media types and annotations, and
the entries of tar layers. Legacy vnd.cnai media types and keys are
warnings. Prints every problem with its place; exits 1 if any is an error.

  --json     print the report as JSON on stdout

Example: modelpack-frontend validate out/layout:tiny
",
    run,
};

fn run(p: &mut lexopt::Parser) -> Outcome {
    let mut json = false;
    let mut target = None;
    while let Some(arg) = p.next()? {
        match arg {
            lexopt::Arg::Long("json") => json = true,
            lexopt::Arg::Value(v) if target.is_none() => target = Some(positional(v, "LAYOUT")?),
            other => return Err(unexpected(other)),
        }
    }
    let target = target.ok_or_else(|| Failure::Usage("LAYOUT[:NAME] is required".into()))?;
    let r = LayoutRef::parse(&target);
    step(&format!("validating {r}"));
    let report = validate::validate(&r.dir, r.name.as_deref(), step);
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?;
        println!("{text}");
    } else {
        for p in &report.problems {
            let word = if p.severity == Severity::Error { "error" } else { "warning" };
            println!("{word}: {}: {}", p.location, p.message);
        }
        let warnings = report.problems.len() - report.errors();
        match (&report.manifest, report.ok()) {
            (Some(m), true) => println!("ok: {r} manifest {m}, {} layers, {warnings} warnings", report.layers),
            _ => println!("{r}: {} errors, {warnings} warnings", report.errors()),
        }
    }
    if report.ok() {
        Ok(())
    } else {
        Err(Failure::Failed(anyhow::anyhow!("{r} is not a valid ModelPack artifact: {} errors", report.errors())))
    }
}
