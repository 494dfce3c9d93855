//! `push LAYOUT[:NAME] REF [REF...]`: a layout's manifest, config and
//! blobs to registries, byte for byte.

use std::collections::HashMap;
use std::sync::Arc;

use oci_registry::{Progress, Reference};

use super::progress::Bars;
use super::remote::{self, RegistryFlags};
use super::{human, positional, step, text, unexpected, Command, Failure, Outcome};
use modelpack::layout::{self, Layout, LayoutRef};

/// The command.
pub const COMMAND: Command = Command {
    name: "push",
    summary: "push a ModelPack layout to one or more registry references",
    help: concat!(
        "\
Usage: modelpack-frontend push LAYOUT[:NAME] REF [REF...] [flags]

Uploads the manifest named NAME (or the only one) of the OCI image layout
at LAYOUT to every REF
(a bundle, an image index written by `bundle`, is pushed whole: every
manifest it lists, each by digest, then the index under REF's tag, then
the model's referrers the layout lists) (host[:port]/repository[:tag][@digest]): layers the
registry lacks (several at once, large ones in resumable chunks), then the
config, then the manifest byte for byte, so the pushed digest equals
index.json's. Blobs already in the repository are skipped; later REFs on
the same registry mount blobs from the first. Prints the manifest digest on
stdout; progress (live bars on a terminal, one line per blob otherwise)
and a summary on stderr.

  --from REPO          first try to mount blobs from repository REPO of the
                       same registry (nothing is sent for blobs it has)
",
        registry_flags_help!(),
        "
Example: modelpack-frontend push out/layout:tiny registry.example.com/models/tiny:v1
"
    ),
    run,
};

fn run(p: &mut lexopt::Parser) -> Outcome {
    let mut flags = RegistryFlags::default();
    let mut from: Option<String> = None;
    let mut args: Vec<String> = Vec::new();
    while let Some(arg) = p.next()? {
        match arg {
            lexopt::Arg::Long("from") => from = Some(text(p, "--from")?),
            lexopt::Arg::Long(l) if RegistryFlags::knows(l) => {
                let l = l.to_string();
                flags.take(&l, p)?;
            }
            lexopt::Arg::Value(v) => args.push(positional(v, "argument")?),
            other => return Err(unexpected(other)),
        }
    }
    flags.check()?;
    let mut args = args.into_iter();
    let source = args
        .next()
        .ok_or_else(|| Failure::Usage("LAYOUT[:NAME] and at least one REF are required".into()))?;
    let targets: Vec<Reference> = args
        .map(|a| Reference::parse(&a).map_err(|e| Failure::Usage(e.to_string())))
        .collect::<Result<_, _>>()?;
    if targets.is_empty() {
        return Err(Failure::Usage(
            "at least one REF to push to is required".into(),
        ));
    }
    let r = LayoutRef::parse(&source);
    if super::bundle::is_bundle_layout(&r)? {
        return super::bundle::push(&r, &targets, from.as_deref(), &flags);
    }
    let layout = Layout::open(&r.dir)?;
    let loaded = layout.load(r.name.as_deref())?;
    let labels: HashMap<String, String> = loaded
        .manifest
        .layers
        .iter()
        .filter_map(|d| layout::filepath(d).map(|f| (d.digest.clone(), f.to_string())))
        .chain(std::iter::once((
            loaded.manifest.config.digest.clone(),
            "(config)".to_string(),
        )))
        .collect();
    let names: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
    step(&format!(
        "pushing {r} ({} layers, {}) to {}",
        loaded.manifest.layers.len(),
        human(loaded.manifest.layers.iter().map(|d| d.size).sum()),
        names.join(", ")
    ));
    let bars = Bars::new(labels);
    let client = flags
        .client(Some(bars.clone() as Arc<dyn Progress>))
        .inspect_err(|_| bars.finish())?;
    let result = client.push_layout_from(&r.dir, r.name.as_deref(), &targets, from.as_deref());
    bars.finish();
    let s = result.map_err(remote::registry_error)?;
    step(&format!(
        "pushed {} to {}: {} blobs uploaded, {} skipped, {} mounted, {} sent",
        s.manifest_digest,
        names.join(", "),
        s.blobs_uploaded,
        s.blobs_skipped,
        s.blobs_mounted,
        human(s.bytes_sent)
    ));
    println!("{}", s.manifest_digest);
    Ok(())
}
