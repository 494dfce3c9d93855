//! Referrers made in memory (a signature, the streamed publish's BOM and
//! provenance) pushed after their subject: the empty config and the
//! document first, then the manifest, through the referrers API when the
//! registry answers `OCI-Subject`, else the tag-schema fallback
//! (`oci_registry::Client::put_referrer`).

use modelpack::trust::referrer::Referrer;
use oci_registry::{Client, Digest, Reference, ReferrerMode};

use super::remote::registry_error;
use super::step;

/// Pushes each of `referrers` to `target`'s repository; prints one line
/// per referrer as `push` does.
pub fn push(client: &Client, target: &Reference, referrers: &[Referrer]) -> anyhow::Result<()> {
    for r in referrers {
        for b in [&r.config, &r.document] {
            let digest = Digest::parse(&b.descriptor.digest).map_err(registry_error)?;
            client
                .push_blob(
                    target,
                    &digest,
                    b.bytes.len() as u64,
                    &b.bytes.as_slice(),
                    None,
                )
                .map_err(|e| {
                    registry_error(e).context(format!("push of a referrer to {target}"))
                })?;
        }
        let mode = client
            .put_referrer(target, &r.manifest.bytes)
            .map_err(registry_error)?;
        step(&format!(
            "attached referrer {} ({}) to {target} ({})",
            r.manifest.descriptor.digest,
            r.artifact_type(),
            describe(mode, r)
        ));
    }
    Ok(())
}

/// How a referrer was indexed, in words.
fn describe(mode: ReferrerMode, r: &Referrer) -> String {
    match mode {
        ReferrerMode::Api => "referrers API".to_string(),
        ReferrerMode::TagSchema => {
            let subject = modelpack::trust::referrer::subject_of(&r.manifest.bytes)
                .and_then(|s| Digest::parse(&s.digest).ok())
                .map(|d| oci_registry::fallback_tag(&d))
                .unwrap_or_default();
            format!("fallback tag {subject}")
        }
    }
}
