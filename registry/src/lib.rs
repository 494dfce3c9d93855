//! A blocking OCI distribution client that knows nothing about models.
//!
//! [`Reference`] parses `host[:port]/repo[:tag][@digest]`. [`Client`] talks
//! to registries over HTTPS (system roots plus an optional CA file) or
//! plain HTTP, authenticates with Basic or Bearer tokens using
//! [`Credentials`] (explicit or from Docker's `config.json` and credential
//! helpers), retries 5xx/429/connection errors with backoff, and decodes
//! registry errors into one line. Blobs: [`Client::blob_exists`],
//! [`Client::push_blob`] (monolithic or resumable chunked upload,
//! cross-repository mount, monolithic fallback) and [`Client::pull_blob`]
//! (verified while streaming); [`Client::blob_writer`] streams a blob of
//! unknown digest in bounded memory. Manifests: [`Client::put_manifest`],
//! [`Client::get_manifest`]. Layouts: [`Client::push_layout`] and
//! [`Client::pull_to_layout`] move an OCI image layout to and from
//! registries, reporting counts in [`PushSummary`] / [`PullSummary`].
//! Progress goes to a [`Progress`] implementation; there is no terminal
//! code here.
//!
//! TLS uses rustls: Mozilla's roots (webpki-roots) by default; with
//! [`ClientOptions::ca_file`], that CA plus the system bundle file
//! (`/etc/ssl/certs/ca-certificates.crt` and the like) when present.
//! Registry credentials are only ever sent to the registry's own origin
//! and to the token realm it names, never across a redirect.
#![deny(missing_docs)]

mod auth;
mod blobs;
mod client;
mod credentials;
mod digest;
mod error;
mod index;
mod layout;
mod manifests;
mod progress;
mod reference;
mod referrers;
mod stream;
#[cfg(feature = "test-support")]
pub mod testing;

pub use auth::{parse_challenges, Challenge};
pub use blobs::{BlobSource, FileSource, FnSource, PushOutcome};
pub use client::{Client, ClientOptions};
pub use credentials::{
    default_docker_config, docker_config_credentials, Credentials, HostCredentials,
};
pub use digest::{Digest, Hasher};
pub use error::{Error, ErrorKind, Fix, Result};
pub use index::IndexPushSummary;
pub use layout::{
    blob_path, Descriptor, PullSummary, PushSummary, ANNOTATION_REF_NAME, OCI_LAYOUT,
};
pub use manifests::{
    subject_of, Manifest, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, MAX_MANIFEST, OCI_INDEX,
    OCI_MANIFEST,
};
pub use progress::{BlobOutcome, Progress};
pub use reference::{Reference, DEFAULT_REGISTRY, DEFAULT_TAG};
pub use referrers::{fallback_tag, layout_referrers, ReferrerEntry, ReferrerMode};
pub use stream::{BlobWriter, Streamed};
