//! `pull REF -o LAYOUT`: a registry manifest with its config and blobs
//! into an OCI image layout, every blob verified while it streams.

use std::sync::Arc;

use oci_registry::{Progress, Reference};

use super::progress::Bars;
use super::remote::{self, RegistryFlags};
use super::{human, positional, step, text, unexpected, Command, Failure, Outcome};

/// The command.
pub const COMMAND: Command = Command {
    name: "pull",
    summary: "pull a ModelPack from a registry into a layout, verified",
    help: concat!(
        "\
Usage: modelpack-frontend pull REF -o LAYOUT [--name NAME] [flags]

Downloads the image manifest REF names (host[:port]/repository[:tag]
[@digest]; for a bundle, its model manifest), its config and every layer
into the OCI image layout LAYOUT (created if missing; other manifests
there are kept). Each blob is checked
against its digest while it streams and only then moved into place; blobs
already present with the right digest are not fetched again. A pull that
was interrupted (Ctrl-C, a lost connection) leaves BLOB.partial files; run
it again and each goes on from where it stopped (an HTTP Range request;
the whole blob is still verified, and downloaded anew if the registry
ignores Range or the partial file is wrong). index.json
names the manifest NAME (default: REF's tag). Prints the manifest digest on
stdout; progress and a summary on stderr.

  -o, --output LAYOUT  the layout folder
  --name NAME          the name to record in index.json (default: the tag)
  --referrers          also pull the manifests that refer to it (BOM,
                       provenance, signatures: the referrers API, else the
                       fallback tag), listed after it in index.json
",
        registry_flags_help!(),
        "
Example: modelpack-frontend pull registry.example.com/models/tiny:v1 -o out/tiny
"
    ),
    run,
};

fn run(p: &mut lexopt::Parser) -> Outcome {
    let mut flags = RegistryFlags::default();
    let mut out: Option<std::path::PathBuf> = None;
    let mut name: Option<String> = None;
    let mut target = None;
    let mut referrers = false;
    while let Some(arg) = p.next()? {
        match arg {
            lexopt::Arg::Short('o') | lexopt::Arg::Long("output") => {
                out = Some(text(p, "--output")?.into())
            }
            lexopt::Arg::Long("name") => name = Some(text(p, "--name")?),
            lexopt::Arg::Long("referrers") => referrers = true,
            lexopt::Arg::Long(l) if RegistryFlags::knows(l) => {
                let l = l.to_string();
                flags.take(&l, p)?;
            }
            lexopt::Arg::Value(v) if target.is_none() => target = Some(positional(v, "REF")?),
            other => return Err(unexpected(other)),
        }
    }
    flags.check()?;
    let target = target.ok_or_else(|| Failure::Usage("REF is required".into()))?;
    let out = out.ok_or_else(|| Failure::Usage("-o LAYOUT is required".into()))?;
    let reference = Reference::parse(&target).map_err(|e| Failure::Usage(e.to_string()))?;
    step(&format!("pulling {reference} into {}", out.display()));
    let bars = Bars::new(Default::default());
    let client = flags
        .client(Some(bars.clone() as Arc<dyn Progress>))
        .inspect_err(|_| bars.finish())?;
    let name = name.or_else(|| reference.tag().map(String::from));
    let result = super::resolve::resolve_model(&client, &reference, remote::registry_error)
        .and_then(|model| {
            client
                .pull_to_layout(&model, &out, name.as_deref())
                .map_err(remote::registry_error)
        });
    bars.finish();
    let s = result?;
    step(&format!(
        "pulled {reference} ({}) into {}: {} blobs downloaded ({} resumed), {} already present, {} received",
        s.manifest_digest,
        out.display(),
        s.blobs_downloaded,
        s.blobs_resumed,
        s.blobs_skipped,
        human(s.bytes_received)
    ));
    if referrers {
        let subject =
            oci_registry::Digest::parse(&s.manifest_digest).map_err(remote::registry_error)?;
        let at = reference.with_digest(subject);
        let found = client.referrers(&at).map_err(remote::registry_error)?;
        for entry in &found {
            let d = oci_registry::Digest::parse(&entry.digest).map_err(remote::registry_error)?;
            client
                .pull_to_layout(&reference.with_digest(d), &out, None)
                .map_err(remote::registry_error)?;
            step(&format!(
                "pulled referrer {} ({})",
                entry.digest,
                entry.artifact_type.as_deref().unwrap_or("no artifactType")
            ));
        }
    }
    println!("{}", s.manifest_digest);
    Ok(())
}
