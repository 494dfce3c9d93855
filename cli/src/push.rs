//! `push LAYOUT[:NAME] REF [REF...]`: a layout's manifest, config and
//! blobs to registries, byte for byte.

use std::collections::HashMap;
use std::sync::Arc;

use oci_registry::{Progress, Reference};

use super::pack::{Args, Other};
use super::progress::Bars;
use super::remote::{self, RegistryFlags};
use super::{human, step, text, Command, Failure, Outcome};
use modelpack::layout::{self, Layout, LayoutRef};

/// The command.
pub const COMMAND: Command = Command {
    name: "push",
    summary: "push a ModelPack layout, or publish a source straight to a registry",
    help: concat!(
        "\
Usage: modelpack-frontend push LAYOUT[:NAME] REF [REF...] [flags]
       modelpack-frontend push SOURCE REF [pack flags] [flags]

Uploads the manifest named NAME (or the only one) of the OCI image layout
at LAYOUT to every REF
(a bundle, an image index written by `bundle`, is pushed whole: every
manifest it lists, each by digest, then the index under REF's tag, then
the model's referrers the layout lists) (host[:port]/repository[:tag][@digest]): layers the
registry lacks (several at once, large ones in resumable chunks), then the
config, then the manifest byte for byte, so the pushed digest equals
index.json's. Blobs already in the repository are skipped; later REFs on
the same registry mount them from the first, and without --from a
repository of REF's namespace that holds them (the registry's catalog) is
mounted from. Prints the manifest digest on stdout; progress (live bars on
a terminal, one line per blob otherwise) and a summary on stderr.

When SOURCE is not a layout (huggingface://org/repo, https:// URLs, a
model folder: anything `pack` takes, with all of pack's flags except -o),
publishes it streamed: each file goes from its source to the registry
through memory (--max-connections at once), nothing is written to local
disk, and the digest is the one `pack` + `push` give. Blobs the registry
has are not downloaded (a raw layer's digest is known in advance); when REF
already names this model, the layers of unchanged files are kept, so an
unchanged revision moves no weight. One REF per run. After its manifest,
the streamed publish attaches the documents pack would (--attest, default
all: the CycloneDX BOM and the SLSA provenance, the same bytes as pack's)
as referrers. For a layout, the layout's referrers of that manifest
(documents with it as `subject`: the BOM and provenance `pack` and the
frontend attach, signatures) go to every REF's repository: through the
registry's referrers API when it answers OCI-Subject, else by the
distribution spec's fallback tag sha256-<hex> (an index that keeps the
entries others put there).

  --from REPO          first try to mount blobs from repository REPO of the
                       same registry (nothing is sent for blobs it has)
",
        registry_flags_help!(),
        "
Examples:
  modelpack-frontend push out/layout:tiny registry.example.com/models/tiny:v1
  modelpack-frontend push hf://Qwen/Qwen3-0.6B registry.example.com/models/qwen3:v1 --layer-packaging tar
"
    ),
    run,
};

fn run(p: &mut lexopt::Parser) -> Outcome {
    let mut flags = RegistryFlags::default();
    let mut from: Option<String> = None;
    let mut refs: Vec<String> = Vec::new();
    let a = super::pack::parse_with(p, |_, other, p| {
        match other {
            Other::Long(l) if l == "from" => from = Some(text(p, "--from")?),
            Other::Long(l) if RegistryFlags::knows(&l) => flags.take(&l, p)?,
            Other::Long(l) => return Err(Failure::Usage(format!("unknown flag --{l}"))),
            Other::Value(v) => refs.push(v),
        }
        Ok(())
    })?;
    if a.out.is_some() {
        return Err(Failure::Usage(
            "-o does not apply to push: it writes nothing locally (use pack -o LAYOUT)".into(),
        ));
    }
    flags.check()?;
    let source = a.source.clone();
    let targets: Vec<Reference> = refs
        .iter()
        .map(|a| Reference::parse(a).map_err(|e| Failure::Usage(e.to_string())))
        .collect::<Result<_, _>>()?;
    if targets.is_empty() {
        return Err(Failure::Usage(
            "at least one REF to push to is required".into(),
        ));
    }
    if !is_layout(&source) {
        let [target] = &targets[..] else {
            return Err(Failure::Usage(format!(
                "a streamed publish of {source} goes to one REF; push it once, then push the same source to the other REFs (their registries then already hold the blobs) or pack it to a layout and push that"
            )));
        };
        return super::publish::run(&a, target, |bars| flags.client(Some(bars)), from.as_deref());
    }
    if let Some(flag) = pack_flag_given(&a) {
        return Err(Failure::Usage(format!(
            "{flag} does not apply to a layout SOURCE: its manifest is pushed byte for byte"
        )));
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
    let from = from.or_else(|| neighbour_holding(&client, &targets[0], &loaded.manifest.layers));
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
    for target in &targets {
        let done = client
            .push_layout_referrers(&r.dir, &s.manifest_digest, std::slice::from_ref(target))
            .map_err(remote::registry_error)?;
        for (digest, mode) in done {
            step(&format!(
                "attached referrer {digest} to {target} ({})",
                match mode {
                    oci_registry::ReferrerMode::Api => "referrers API".to_string(),
                    oci_registry::ReferrerMode::TagSchema => format!(
                        "fallback tag {}",
                        oci_registry::Digest::parse(&s.manifest_digest)
                            .map(|d| oci_registry::fallback_tag(&d))
                            .unwrap_or_default()
                    ),
                }
            ));
        }
    }
    println!("{}", s.manifest_digest);
    Ok(())
}

/// Whether `source` (`DIR[:NAME]`) is an OCI image layout rather than a
/// model folder or a remote source.
fn is_layout(source: &str) -> bool {
    !super::pack::is_remote(source) && LayoutRef::parse(source).dir.join("oci-layout").is_file()
}

/// The first `pack` flag given, which a layout source cannot take.
fn pack_flag_given(a: &Args) -> Option<&'static str> {
    [
        ("--name", a.name.is_some()),
        (
            "--layer-packaging",
            a.packaging != modelpack::LayerPackaging::Raw,
        ),
        ("--include", !a.include.is_empty()),
        ("--exclude", !a.exclude.is_empty()),
        ("--source-date-epoch", a.created_at.is_some()),
        ("--compress-weights", a.compress_weights),
        ("--revision", a.revision.is_some()),
        ("--checksum", a.checksum.is_some()),
        ("--token-file", a.token_file.is_some()),
        ("--hf-endpoint", a.hf_endpoint.is_some()),
        // A layout's referrers are pushed as they are.
        ("--attest", a.attest != modelpack::trust::Attest::All),
    ]
    .into_iter()
    .find_map(|(f, given)| given.then_some(f))
}

/// Without `--from`: a repository of the target's namespace (from the
/// registry's catalog) holding the biggest layer the target lacks, to
/// mount from; nothing is remembered locally.
fn neighbour_holding(
    client: &oci_registry::Client,
    target: &Reference,
    layers: &[modelpack::oci::Descriptor],
) -> Option<String> {
    let biggest = layers.iter().max_by_key(|d| d.size)?;
    let digest = oci_registry::Digest::parse(&biggest.digest).ok()?;
    if matches!(client.blob_exists(target, &digest), Ok(Some(_))) {
        return None;
    }
    let candidates = client.neighbours(target);
    candidates.into_iter().find(|c| {
        oci_registry::Reference::parse(&format!("{}/{c}", target.registry()))
            .is_ok_and(|r| matches!(client.blob_exists(&r, &digest), Ok(Some(_))))
    })
}
