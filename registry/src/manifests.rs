//! Manifest push and pull, byte for byte.

use ureq::http::Method;

use crate::auth::repo_scope;
use crate::client::{header, Body, Client, Req};
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::reference::Reference;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = oci_types::MEDIA_TYPE_MANIFEST;
/// OCI image index media type.
pub const OCI_INDEX: &str = oci_types::MEDIA_TYPE_INDEX;
/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = oci_types::MEDIA_TYPE_DOCKER_MANIFEST;
/// Docker manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = oci_types::MEDIA_TYPE_DOCKER_MANIFEST_LIST;

/// Largest manifest we accept (4 MiB, the distribution-spec's suggestion).
pub const MAX_MANIFEST: u64 = 4 << 20;

/// The body of `resp`, a manifest or an index: at most [`MAX_MANIFEST`]
/// bytes; `what` names the request in the error.
pub(crate) fn read_document(
    resp: &mut ureq::http::Response<ureq::Body>,
    what: &str,
) -> Result<Vec<u8>> {
    resp.body_mut()
        .with_config()
        .limit(MAX_MANIFEST)
        .read_to_vec()
        .map_err(|e| {
            Error::new(
                ErrorKind::Transport,
                format!("{what}: cannot read the answer (at most {MAX_MANIFEST} bytes): {e}"),
            )
        })
}

/// The `subject` digest of a manifest's bytes, if it has one (a referrer).
pub fn subject_of(manifest: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Subject {
        digest: String,
    }
    #[derive(serde::Deserialize)]
    struct WithSubject {
        subject: Option<Subject>,
    }
    serde_json::from_slice::<WithSubject>(manifest)
        .ok()
        .and_then(|m| m.subject)
        .map(|s| s.digest)
}

/// A manifest as the registry served it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// `Content-Type` (or the document's `mediaType`).
    pub media_type: String,
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// sha256 of `bytes` (verified against the reference's digest).
    pub digest: Digest,
}

impl Client {
    /// `PUT /v2/<repo>/manifests/<tag_or_digest>` with the exact bytes.
    /// Returns the sha256 digest of `bytes`, checked against the registry's
    /// `Docker-Content-Digest` when it sends one.
    pub fn put_manifest(
        &self,
        repo: &Reference,
        tag_or_digest: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        self.put_manifest_subject(repo, tag_or_digest, media_type, bytes)
            .map(|(digest, _)| digest)
    }

    /// [`Client::put_manifest`], also returning the registry's `OCI-Subject`
    /// answer (empty when it sends none: a registry without the referrers
    /// API).
    pub(crate) fn put_manifest_subject(
        &self,
        repo: &Reference,
        tag_or_digest: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(Digest, String)> {
        let host = repo.api_host();
        let digest = Digest::sha256_of(bytes);
        let url = format!(
            "{}{}/manifests/{tag_or_digest}",
            self.v2(host),
            repo.repository()
        );
        let req = Req::new(Method::PUT, url, vec![repo_scope(repo.repository(), true)])
            .header("Content-Type", media_type)
            .body(Body::Bytes(bytes));
        let resp = self.send(host, &req).map_err(|f| f.into_error(host))?;
        let what = format!(
            "push of manifest {digest} to {}:{tag_or_digest}",
            repo.repository()
        );
        if !(200..=202).contains(&resp.status().as_u16()) {
            return Err(self.error_from(host, &what, resp));
        }
        let theirs = header(&resp, "docker-content-digest");
        if !theirs.is_empty() && theirs != digest.as_str() {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("{what}: registry {host} stored it as {theirs}; it rewrote the manifest"),
            ));
        }
        Ok((digest, header(&resp, "oci-subject")))
    }

    /// `GET /v2/<repo>/manifests/<ref>` accepting `accept` media types.
    /// When the reference has a digest the bytes must hash to it.
    pub fn get_manifest(&self, reference: &Reference, accept: &[&str]) -> Result<Manifest> {
        let host = reference.api_host();
        let mref = reference.manifest_ref();
        let url = format!(
            "{}{}/manifests/{mref}",
            self.v2(host),
            reference.repository()
        );
        let accept = if accept.is_empty() {
            vec![
                OCI_MANIFEST,
                OCI_INDEX,
                DOCKER_MANIFEST,
                DOCKER_MANIFEST_LIST,
            ]
        } else {
            accept.to_vec()
        };
        let req = Req::new(
            Method::GET,
            url,
            vec![repo_scope(reference.repository(), false)],
        )
        .header("Accept", accept.join(", "));
        let mut resp = self.send(host, &req).map_err(|f| f.into_error(host))?;
        let what = format!("pull of manifest {reference}");
        if resp.status().as_u16() != 200 {
            return Err(self.error_from(host, &what, resp));
        }
        let content_type = header(&resp, "content-type");
        let theirs = header(&resp, "docker-content-digest");
        let bytes = read_document(&mut resp, &what)?;
        let expected = match reference.digest() {
            Some(d) => Some(d.clone()),
            None => Digest::parse(&theirs).ok(),
        };
        let digest = match &expected {
            Some(d) => {
                let mut h = d.hasher();
                h.update(&bytes);
                let got = h.finish();
                if &got != d {
                    return Err(Error::new(
                        ErrorKind::DigestMismatch,
                        format!("{what}: content hashes to {got}, not {d}"),
                    ));
                }
                if d.algorithm() == "sha256" {
                    d.clone()
                } else {
                    Digest::sha256_of(&bytes)
                }
            }
            None => Digest::sha256_of(&bytes),
        };
        let media_type = match content_type
            .split(';')
            .next()
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "application/json")
        {
            Some(t) => t.to_string(),
            None => serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.get("mediaType")
                        .and_then(|m| m.as_str())
                        .map(String::from)
                })
                .unwrap_or_else(|| OCI_MANIFEST.to_string()),
        };
        Ok(Manifest {
            media_type,
            bytes,
            digest,
        })
    }
}
