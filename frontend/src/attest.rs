//! The model's documents in a frontend build (`attest`, layouts only): the
//! BOM and provenance of the plan, from what the build knows: the source
//! (Hub repo at its commit, URLs and whether their checksum was checked,
//! context files), each file's sha256 before packing, what the headers and
//! card said, the build args given, and this frontend's image, resolved
//! through the gateway to its digest (BuildKit hands a frontend only the
//! reference it was started from, as the `source` opt; resolved in
//! BuildKit's `pull` mode, since Docker's engine answers no digest for an
//! image it holds; else the digest BuildKit pinned in the definition it
//! hands us, `frontend.bin`, if it did).

use std::collections::BTreeMap;

use modelpack::plan::{Plan, PlanFile};
use modelpack::source::SourceSpec;
use modelpack::trust::facts::{self, FileFact};
use modelpack::trust::referrer::{self, Referrer};
use modelpack::trust::{self as core, Builder, CardFacts, FileSource, HubSource, ResolvedImage};

use crate::gateway::{GatewayError, Solve};
use crate::options::Request;

/// The referrers `request.attest` asks for, for `plan`, whose files were
/// `files` before packing; `commit` is the Hub commit the source resolved
/// to.
pub async fn referrers(
    bridge: &dyn Solve,
    request: &Request,
    plan: &Plan,
    files: &[PlanFile],
    card: CardFacts,
    commit: Option<&str>,
) -> Result<Vec<Referrer>, GatewayError> {
    if request.attest == core::Attest::None {
        return Ok(Vec::new());
    }
    let image = match (&request.frontend_image, bridge.worker_platform()) {
        (Some(reference), Some(platform)) if request.attest.provenance() => bridge
            .resolve_image_from_registry(
                reference,
                &platform,
                &format!("resolve the frontend image {reference} for the provenance"),
            )
            .await
            .ok()
            .map(|(digest, _)| digest)
            .filter(|d| d.starts_with("sha256:"))
            .or_else(pinned_frontend_digest)
            .map(|digest| ResolvedImage {
                reference: reference.clone(),
                digest,
            }),
        _ => None,
    };
    let builder = Builder {
        id: core::BUILDER_FRONTEND.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        image,
    };
    let facts = facts_of(request, plan, files, card, commit, builder)?;
    Ok(referrer::documents(&facts, request.attest))
}

/// The digest of the image source in the frontend's own definition
/// ([`crate::gateway::FRONTEND_BIN`]): `docker-image://…@sha256:…`.
fn pinned_frontend_digest() -> Option<String> {
    use prost::Message;
    let bytes = std::fs::read(crate::gateway::FRONTEND_BIN).ok()?;
    let def = llb::proto::pb::Definition::decode(bytes.as_slice()).ok()?;
    def.def.iter().find_map(|op| {
        let op = llb::proto::pb::Op::decode(op.as_slice()).ok()?;
        match op.op? {
            llb::proto::pb::op::Op::Source(s) => pinned_digest(&s.identifier),
            _ => None,
        }
    })
}

/// `sha256:<hex>` of a pinned `docker-image://ref@sha256:<hex>` identifier.
fn pinned_digest(identifier: &str) -> Option<String> {
    let rest = identifier.strip_prefix("docker-image://")?;
    let (_, digest) = rest.rsplit_once('@')?;
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| digest.to_string())
}

/// The facts of a build (pure, for tests).
pub fn facts_of(
    request: &Request,
    plan: &Plan,
    files: &[PlanFile],
    card: CardFacts,
    commit: Option<&str>,
    builder: Builder,
) -> anyhow::Result<core::Facts> {
    let several = !request.extras.parts.is_empty();
    let mut hub = Vec::new();
    let source_of = |path: &str| -> FileSource {
        match (&request.source, several) {
            (SourceSpec::HuggingFace(hf), false) if commit.is_some() => FileSource::Hub {
                source: 0,
                path: repo_path(hf.path.as_deref(), path, files.len()),
                git_blob: None,
            },
            (SourceSpec::Url(urls), false) => {
                urls.iter()
                    .find(|u| u.file_name == path)
                    .map_or(FileSource::Context, |u| FileSource::Url {
                        url: u.shown.clone(),
                        checksum_checked: u.checksum.is_some(),
                    })
            }
            _ => FileSource::Context,
        }
    };
    if let (SourceSpec::HuggingFace(hf), false, Some(commit)) = (&request.source, several, commit) {
        hub.push(HubSource {
            endpoint: request.hf_endpoint.clone(),
            kind: hf.kind,
            repo: hf.repo.clone(),
            revision: hf.revision.clone(),
            commit: commit.to_string(),
        });
    }
    let known: BTreeMap<String, FileFact> = files
        .iter()
        .map(|f| {
            let fact = FileFact {
                sha256: Some(f.digest.clone()),
                source: source_of(&f.path),
            };
            (f.path.clone(), fact)
        })
        .collect();
    let parameters = request
        .given
        .iter()
        .map(|(k, v)| {
            let v = core::provenance::without_userinfo(v);
            (k.clone(), serde_json::Value::String(v))
        })
        .collect();
    facts::from_plan(plan, &request.name, card, hub, &known, parameters, builder)
}

/// A model path's path in the Hub repo: under the folder the source names
/// (`hf://org/repo/folder`), or that file itself when the source names one
/// file (the model then holds it alone, under its base name).
fn repo_path(source_path: Option<&str>, model_path: &str, count: usize) -> String {
    match source_path {
        None => model_path.to_string(),
        Some(p) if count == 1 && p.rsplit('/').next() == Some(model_path) => p.to_string(),
        Some(p) => format!("{}/{model_path}", p.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::{pinned_digest, repo_path};

    #[test]
    fn the_frontend_image_digest_comes_from_a_pinned_identifier() {
        let hex = "ab".repeat(32);
        assert_eq!(
            pinned_digest(&format!("docker-image://localhost:5000/f:v1@sha256:{hex}")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(pinned_digest("docker-image://localhost:5000/f:v1"), None);
        assert_eq!(pinned_digest("local://context"), None);
    }

    #[test]
    fn repo_paths_follow_the_source_path() {
        assert_eq!(repo_path(None, "a/b.json", 3), "a/b.json");
        assert_eq!(repo_path(Some("onnx"), "model.onnx", 2), "onnx/model.onnx");
        assert_eq!(repo_path(Some("q4/m.gguf"), "m.gguf", 1), "q4/m.gguf");
        assert_eq!(repo_path(Some("q4"), "m.gguf", 1), "q4/m.gguf");
    }
}
