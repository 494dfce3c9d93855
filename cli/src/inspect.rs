//! `inspect LAYOUT[:NAME]|REF [--json]`: a readable summary of a ModelPack.

use serde::Serialize;
use serde_json::Value;

use super::remote::{self, Subject, SubjectArgs};
use super::{human, Command, Outcome};
use modelpack::layout::{self, Layout};

/// The command.
pub const COMMAND: Command = Command {
    name: "inspect",
    summary: "summarize a ModelPack layout: name, digests, config, files",
    help: concat!(
        "\
Usage: modelpack-frontend inspect LAYOUT[:NAME] [--json]
       modelpack-frontend inspect REF [--json] [flags]

Shows the manifest named NAME (or the only one) of the OCI image layout at
LAYOUT: name, manifest digest, total size, the config's descriptor and
config fields, and a table of files (path, kind, format, size). Manifest
and config are checked by size and digest; layer blobs are not read (use
validate for that).

LAYOUT is an existing directory (NAME after its last ':'); anything else
is a registry reference (host[:port]/repository[:tag][@digest]), of which
only the manifest and config are downloaded (Name is then the reference).

  --json     print the summary as JSON on stdout
",
        registry_flags_help!(),
        "
Examples: modelpack-frontend inspect out/layout:tiny
          modelpack-frontend inspect registry.example.com/models/tiny:v1
"
    ),
    run,
};

/// One file of the model.
#[derive(Serialize)]
struct FileRow {
    path: String,
    kind: String,
    format: String,
    media_type: String,
    size: u64,
    digest: String,
}

/// The whole summary (the `--json` output).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    name: Option<String>,
    manifest: String,
    artifact_type: Option<String>,
    config_digest: String,
    total_size: u64,
    descriptor: Value,
    config: Value,
    files: Vec<FileRow>,
}

fn run(p: &mut lexopt::Parser) -> Outcome {
    let SubjectArgs {
        target,
        flags,
        json,
        ..
    } = SubjectArgs::parse(p, true, false)?;
    let fetched;
    let (r, remote_name) = match remote::subject(&target)? {
        Subject::Layout(r) => (r, None),
        Subject::Remote(reference) => {
            fetched = remote::fetch_head(&flags, &reference)
                .map_err(|e| remote::explain(&target, &reference, e))?;
            (fetched.layout_ref(), Some(reference.to_string()))
        }
    };
    let loaded = Layout::open(&r.dir)?.load(r.name.as_deref())?;
    let files: Vec<FileRow> = loaded
        .manifest
        .layers
        .iter()
        .map(|d| {
            let t = layout::layer_type(&d.media_type);
            FileRow {
                path: layout::filepath(d).unwrap_or("?").to_string(),
                kind: t.map_or("?", |t| t.kind).to_string(),
                format: t.map_or("?", |t| t.format.suffix()).to_string(),
                media_type: d.media_type.clone(),
                size: d.size,
                digest: d.digest.clone(),
            }
        })
        .collect();
    let summary = Summary {
        name: remote_name.or_else(|| loaded.name.clone()),
        manifest: loaded.entry.digest.clone(),
        artifact_type: loaded.manifest.artifact_type.clone(),
        config_digest: loaded.manifest.config.digest.clone(),
        total_size: files.iter().map(|f| f.size).sum(),
        descriptor: loaded
            .config
            .get("descriptor")
            .cloned()
            .unwrap_or(Value::Null),
        config: loaded.config.get("config").cloned().unwrap_or(Value::Null),
        files,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).map_err(anyhow::Error::from)?
        );
    } else {
        print!("{}", text(&summary));
    }
    Ok(())
}

fn fields(out: &mut String, title: &str, v: &Value) {
    out.push_str(&format!("{title}:\n"));
    match v.as_object() {
        Some(o) if !o.is_empty() => {
            for (k, v) in o {
                let shown = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push_str(&format!("  {k}: {shown}\n"));
            }
        }
        _ => out.push_str("  (none)\n"),
    }
}

fn text(s: &Summary) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Name:      {}\n",
        s.name.as_deref().unwrap_or("(unnamed)")
    ));
    out.push_str(&format!("Manifest:  {}\n", s.manifest));
    out.push_str(&format!(
        "Artifact:  {}\n",
        s.artifact_type.as_deref().unwrap_or("(none)")
    ));
    out.push_str(&format!("Config:    {}\n", s.config_digest));
    out.push_str(&format!(
        "Size:      {} ({} bytes) in {} files\n",
        human(s.total_size),
        s.total_size,
        s.files.len()
    ));
    fields(&mut out, "Descriptor", &s.descriptor);
    fields(&mut out, "Config", &s.config);
    let w = |f: fn(&FileRow) -> usize, title: &str| {
        s.files.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let (wp, wk, wf) = (
        w(|f| f.path.len(), "PATH"),
        w(|f| f.kind.len(), "KIND"),
        w(|f| f.format.len(), "FORMAT"),
    );
    out.push_str(&format!(
        "Files:\n  {:<wp$}  {:<wk$}  {:<wf$}  {:>12}  {:>9}\n",
        "PATH", "KIND", "FORMAT", "SIZE", "HUMAN"
    ));
    for f in &s.files {
        out.push_str(&format!(
            "  {:<wp$}  {:<wk$}  {:<wf$}  {:>12}  {:>9}\n",
            f.path,
            f.kind,
            f.format,
            f.size,
            human(f.size)
        ));
    }
    out
}
