//! The referrers `inspect` lists (local: `index.json` entries whose
//! manifest has the model as `subject`; remote: the registry's referrers
//! API, else its fallback tag), and `inspect --predicate` / `--bom`, which
//! print one of our documents alone.

use anyhow::{anyhow, Context};
use serde::Serialize;

use super::remote::{self, RegistryFlags};
use super::{Failure, Outcome};
use modelpack::layout::{Layout, MAX_DOCUMENT};
use modelpack::trust::referrer::ReferrerManifest;
use modelpack::trust::{provenance, MEDIA_TYPE_CYCLONEDX, MEDIA_TYPE_IN_TOTO};
use oci_registry::{Digest, Reference};

/// One referrer as `inspect` shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The referrer manifest's digest.
    pub digest: String,
    /// Its `artifactType`.
    pub artifact_type: Option<String>,
    /// The size of its manifest.
    pub size: u64,
}

/// A referrer and, for ours (BOM, provenance), its document's bytes.
pub struct Doc {
    /// What the summary shows.
    pub row: Row,
    document: Option<Vec<u8>>,
}

fn ours(artifact_type: Option<&str>) -> bool {
    matches!(
        artifact_type,
        Some(MEDIA_TYPE_CYCLONEDX) | Some(MEDIA_TYPE_IN_TOTO)
    )
}

/// The referrers of `subject` in `layout`, in index order.
pub fn local(layout: &Layout, subject: &str) -> anyhow::Result<Vec<Doc>> {
    let mut out = Vec::new();
    for (entry, bytes) in layout.referrers(subject)? {
        let manifest: Option<ReferrerManifest> = serde_json::from_slice(&bytes).ok();
        let artifact_type = manifest.as_ref().map(|m| m.artifact_type.clone());
        let document = match &manifest {
            Some(m) if ours(artifact_type.as_deref()) && m.layers.len() == 1 => {
                Some(layout.read_blob(&m.layers[0])?)
            }
            _ => None,
        };
        out.push(Doc {
            row: Row {
                digest: entry.digest.clone(),
                artifact_type,
                size: entry.size,
            },
            document,
        });
    }
    Ok(out)
}

/// The referrers of `subject` in the repository of `reference`.
pub fn remote(
    flags: &RegistryFlags,
    reference: &Reference,
    subject: &str,
) -> anyhow::Result<Vec<Doc>> {
    let client = flags.client(None).map_err(|f| match f {
        Failure::Usage(m) => anyhow!(m),
        Failure::Failed(e) => e,
    })?;
    let at = reference.with_digest(Digest::parse(subject).map_err(remote::registry_error)?);
    let entries = client.referrers(&at).map_err(remote::registry_error)?;
    let mut out = Vec::new();
    for e in entries {
        let mut document = None;
        if ours(e.artifact_type.as_deref()) {
            let d = Digest::parse(&e.digest).map_err(remote::registry_error)?;
            let m = client
                .get_manifest(&reference.with_digest(d), &[oci_registry::OCI_MANIFEST])
                .map_err(remote::registry_error)?;
            let manifest: ReferrerManifest = serde_json::from_slice(&m.bytes)
                .with_context(|| format!("referrer {} is not a referrer manifest", e.digest))?;
            if let [layer] = manifest.layers.as_slice() {
                if layer.size > MAX_DOCUMENT {
                    return Err(anyhow!(
                        "the document of referrer {} is {} bytes, over {MAX_DOCUMENT}",
                        e.digest,
                        layer.size
                    ));
                }
                let mut bytes = Vec::new();
                let digest = Digest::parse(&layer.digest).map_err(remote::registry_error)?;
                client
                    .pull_blob(reference, &digest, &mut bytes)
                    .map_err(remote::registry_error)?;
                document = Some(bytes);
            }
        }
        out.push(Doc {
            row: Row {
                digest: e.digest,
                artifact_type: e.artifact_type,
                size: e.size,
            },
            document,
        });
    }
    Ok(out)
}

/// Prints the provenance's predicate (`which` = `predicate`) or the BOM
/// (`bom`) alone on stdout.
pub fn print_document(docs: &[Doc], which: &str) -> Outcome {
    let want = if which == "bom" {
        MEDIA_TYPE_CYCLONEDX
    } else {
        MEDIA_TYPE_IN_TOTO
    };
    let Some(doc) = docs
        .iter()
        .find(|d| d.row.artifact_type.as_deref() == Some(want))
        .and_then(|d| d.document.as_ref())
    else {
        return Err(Failure::Failed(anyhow!(
            "no {want} document refers to this model; pack it with --attest all (or the build arg attest=all)"
        )));
    };
    let bytes = if which == "bom" {
        doc.clone()
    } else {
        provenance::predicate_from_statement(doc)?
    };
    println!("{}", String::from_utf8_lossy(&bytes));
    Ok(())
}
