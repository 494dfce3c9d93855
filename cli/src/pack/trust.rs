//! `pack --attest`: the model's BOM and provenance, written into the
//! layout as referrers of the manifest just written (the manifest itself
//! is unchanged). The facts are the ones `pack` already has: the plan,
//! what the headers and card said, each file's source and sha256, the
//! flags.

use std::collections::BTreeMap;

use modelpack::plan::Plan;
use modelpack::trust::facts::{self, FileFact};
use modelpack::trust::referrer::Referrer;
use modelpack::trust::{self as core, Builder, CardFacts, FileSource, HubSource};

use super::Args;
use crate::{step, Outcome};

/// The flags as the build args they stand for, for the provenance's
/// `externalParameters` (never `--token-file`: its file holds a secret;
/// `createdAt` stands for `--source-date-epoch`).
fn parameters(a: &Args, name: &str) -> BTreeMap<String, serde_json::Value> {
    let mut p: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    // A folder is the build's context: where it lies is no fact of the model.
    let source = if super::is_remote(&a.source) {
        a.source.clone()
    } else {
        ".".to_string()
    };
    p.insert("source".into(), source.into());
    p.insert("name".into(), name.into());
    p.insert("layer_packaging".into(), a.packaging.suffix().into());
    p.insert("compress_weights".into(), a.compress_weights.into());
    p.insert("media_types".into(), a.media_types.word().into());
    p.insert("attest".into(), a.attest.word().into());
    let mut opt = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            p.insert(k.into(), v.into());
        }
    };
    opt("include", Some(a.include.join(",")));
    opt("exclude", Some(a.exclude.join(",")));
    opt("revision", a.revision.clone());
    opt("hf_endpoint", a.hf_endpoint.clone());
    opt("checksum", a.checksum.clone());
    opt("created_at", a.created_at.clone());
    if a.overrides != Default::default() {
        if let Ok(v) = serde_json::to_value(&a.overrides) {
            p.insert("config_json".into(), v);
        }
    }
    p
}

/// The documents `a.attest` asks for, as referrers of `plan`'s manifest
/// (none for `--attest none`); `pack` writes them into its layout, the
/// streamed publish pushes them after the manifest.
pub(crate) fn documents(
    a: &Args,
    plan: &Plan,
    name: &str,
    card: CardFacts,
    hub: Option<HubSource>,
    sources: &BTreeMap<String, FileSource>,
    sha256: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<Referrer>> {
    if a.attest == core::Attest::None {
        return Ok(Vec::new());
    }
    let files: BTreeMap<String, FileFact> = sha256
        .iter()
        .map(|(path, digest)| {
            let fact = FileFact {
                sha256: Some(digest.clone()),
                source: sources.get(path).cloned().unwrap_or(FileSource::Context),
            };
            (path.clone(), fact)
        })
        .collect();
    let parameters = parameters(a, name);
    let builder = Builder {
        id: core::BUILDER_CLI.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        image: None,
    };
    let facts = facts::from_plan(
        plan,
        name,
        card,
        hub.into_iter().collect(),
        &files,
        parameters,
        builder,
    )?;
    Ok(core::referrer::documents(&facts, a.attest))
}

/// The documents' media types in words (`… and …`), for progress lines.
pub(crate) fn listed(docs: &[Referrer]) -> String {
    docs.iter()
        .map(|d| d.artifact_type().to_string())
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Writes the documents `a.attest` asks for into the layout `a.out`.
pub(super) fn attach(
    a: &Args,
    plan: &Plan,
    name: &str,
    card: CardFacts,
    hub: Option<HubSource>,
    sources: &BTreeMap<String, FileSource>,
    sha256: &BTreeMap<String, String>,
) -> Outcome {
    let docs = documents(a, plan, name, card, hub, sources, sha256)?;
    if docs.is_empty() {
        return Ok(());
    }
    step(&format!(
        "attaching {} as referrers of {}",
        listed(&docs),
        modelpack::layout::short(&plan.manifest.descriptor.digest)
    ));
    modelpack::layout::write_referrers(a.out(), &docs)?;
    Ok(())
}
