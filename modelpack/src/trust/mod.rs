//! Trust documents of a model: a CycloneDX 1.6 ML-BOM (`bom`), an in-toto
//! Statement with a SLSA Provenance v1 predicate (`provenance`) and the OCI
//! 1.1 referrer manifests that attach them to the model manifest
//! (`referrer`). Pure functions of facts both front doors already know
//! (the plan, the config, the sources with their digests, the build's
//! parameters, the builder); no clock, no random id: the same facts give
//! the same bytes. See `docs/trust.md`.

pub mod bom;
pub mod facts;
pub mod provenance;
pub mod referrer;
pub mod signing;
pub mod spdx;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use sha1::{Digest, Sha1};

use crate::huggingface::RepoKind;
use crate::oci::{Descriptor, ModelDescriptor, ModelProperties};

/// Which documents to attach (`attest` build arg, recipe field, `pack --attest`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Attest {
    /// None: the layout holds the model only.
    None,
    /// The CycloneDX BOM only.
    Sbom,
    /// The SLSA provenance only.
    Provenance,
    /// Both (the default where documents are on).
    #[default]
    All,
}

impl Attest {
    /// Every value, in the order the docs list them.
    pub const ALL: [Attest; 4] = [Attest::None, Attest::Sbom, Attest::Provenance, Attest::All];

    /// The word of the build arg.
    pub fn word(self) -> &'static str {
        match self {
            Attest::None => "none",
            Attest::Sbom => "sbom",
            Attest::Provenance => "provenance",
            Attest::All => "all",
        }
    }

    /// Parses the build arg's word.
    pub fn parse(word: &str) -> std::result::Result<Attest, UnknownAttest> {
        Attest::ALL
            .into_iter()
            .find(|a| a.word() == word)
            .ok_or_else(|| UnknownAttest(word.to_string()))
    }

    /// Whether the BOM is written.
    pub fn sbom(self) -> bool {
        matches!(self, Attest::Sbom | Attest::All)
    }

    /// Whether the provenance is written.
    pub fn provenance(self) -> bool {
        matches!(self, Attest::Provenance | Attest::All)
    }
}

/// A word that names no [`Attest`]. Its message leaves out the setting's
/// name, which each door spells its own way (`attest`, `--attest`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownAttest(pub String);

impl std::fmt::Display for UnknownAttest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "must be none, sbom, provenance or all, not {:?}", self.0)
    }
}

impl std::error::Error for UnknownAttest {}

/// A Hugging Face repo at a commit, as a source of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubSource {
    /// The endpoint, e.g. `https://huggingface.co` (no trailing `/`).
    pub endpoint: String,
    /// Model or dataset repo.
    pub kind: RepoKind,
    /// `org/name`.
    pub repo: String,
    /// The revision asked for (branch, tag or commit).
    pub revision: String,
    /// The commit it resolved to (40 hex digits).
    pub commit: String,
}

/// Where a file of the model came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileSource {
    /// A file of `Facts::hub[source]`, at `path` in that repo.
    Hub {
        /// Index into [`Facts::hub`].
        source: usize,
        /// The path inside the repo.
        path: String,
        /// The git blob id the Hub lists (small files).
        git_blob: Option<String>,
    },
    /// A file downloaded from `url`.
    Url {
        /// The URL as given (no credentials: those are refused).
        url: String,
        /// Whether a checksum was given and checked against the bytes.
        checksum_checked: bool,
    },
    /// A file of the build context (a local folder).
    Context,
}

/// One file of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFile {
    /// Path inside the model.
    pub path: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// `sha256:<hex>` of the file's bytes, when known (for raw layers the
    /// layer digest; an LFS file's listed sha256; a scanned file's).
    pub sha256: Option<String>,
    /// `sha256:<hex>` of its layer blob.
    pub layer_digest: String,
    /// Where it came from.
    pub source: FileSource,
}

/// What the model card says that the config has no field for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CardFacts {
    /// `pipeline_tag` (the task).
    pub pipeline_tag: Option<String>,
    /// `datasets:` entries.
    pub datasets: Vec<String>,
    /// The exact parameter count from the weights' headers.
    pub param_count: Option<u128>,
}

/// An image reference with the digest it resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The reference as given (BuildKit's `source` opt).
    pub reference: String,
    /// `sha256:<hex>` it resolved to through the gateway.
    pub digest: String,
}

/// Who built the documents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Builder {
    /// [`BUILDER_FRONTEND`] or [`BUILDER_CLI`].
    pub id: String,
    /// `modelpack-frontend`'s version.
    pub version: String,
    /// The frontend image (frontend builds only).
    pub image: Option<ResolvedImage>,
}

/// Everything the documents say, gathered by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The model manifest's descriptor (media type, digest, size).
    pub subject: Descriptor,
    /// The model's name (`name` build arg).
    pub name: String,
    /// The config's `descriptor`.
    pub descriptor: ModelDescriptor,
    /// The config's `config`.
    pub properties: ModelProperties,
    /// Model-card facts beyond the config.
    pub card: CardFacts,
    /// Hub repos the files came from.
    pub hub: Vec<HubSource>,
    /// The model's files, in manifest order.
    pub files: Vec<ModelFile>,
    /// The build's parameters as asked (build args, recipe); callers pass
    /// no secret, and [`provenance`] drops any key naming one.
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// The builder.
    pub builder: Builder,
}

/// The CycloneDX BOM's media type (also the referrer's `artifactType`).
pub const MEDIA_TYPE_CYCLONEDX: &str = "application/vnd.cyclonedx+json";
/// The in-toto Statement's media type (also the referrer's `artifactType`).
pub const MEDIA_TYPE_IN_TOTO: &str = "application/vnd.in-toto+json";
/// The SLSA `buildType` of our builds: documented in `docs/trust.md`.
pub const BUILD_TYPE: &str = "https://modelpack-frontend.dev/buildtypes/model/v1";
/// `builder.id` of builds through the BuildKit frontend.
pub const BUILDER_FRONTEND: &str = "https://modelpack-frontend.dev/builders/buildkit-frontend/v1";
/// `builder.id` of the command line's `pack`.
pub const BUILDER_CLI: &str = "https://modelpack-frontend.dev/builders/cli/v1";

/// RFC 4122's URL namespace, under which [`serial_number`] derives UUIDs.
const NAMESPACE_URL: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

/// A UUID version 5 (RFC 4122 §4.3: SHA-1 of namespace and name).
pub fn uuid_v5(namespace: &[u8; 16], name: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(namespace);
    hasher.update(name.as_bytes());
    let hash = hasher.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The BOM's `serialNumber`: `urn:uuid:` and the UUIDv5, in the URL
/// namespace, of the model manifest's digest (`sha256:<hex>`).
pub fn serial_number(manifest_digest: &str) -> String {
    format!("urn:uuid:{}", uuid_v5(&NAMESPACE_URL, manifest_digest))
}

/// The hex part of `sha256:<hex>` (or the string itself without prefix).
pub(crate) fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// A Hub source's web URL at its commit (`…/tree/<commit>`).
pub fn hub_tree_url(hub: &HubSource) -> String {
    format!(
        "{}/tree/{}",
        hub_ref(hub).web_url(&hub.endpoint),
        hub.commit
    )
}

fn hub_ref(hub: &HubSource) -> crate::huggingface::HfRef {
    crate::huggingface::HfRef {
        kind: hub.kind,
        repo: hub.repo.clone(),
        revision: hub.commit.clone(),
        path: None,
    }
}

/// A Hub file's download URL pinned to the commit.
pub fn hub_file_url(hub: &HubSource, path: &str) -> String {
    hub_ref(hub).resolve_url(&hub.endpoint, &hub.commit, path)
}

/// A Hub source's web URL without the commit (`<endpoint>/[datasets/]org/name`).
pub(crate) fn hub_tree_base(hub: &HubSource) -> String {
    hub_ref(hub).web_url(&hub.endpoint)
}
