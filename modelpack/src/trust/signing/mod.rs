//! The OpenSSF model-signing format, key-based, as the reference signer
//! (PyPI `model-signing` 1.1.1, `model_signing sign key`) writes it: a
//! sigstore bundle v0.3 holding a DSSE envelope whose payload is an in-toto
//! Statement v1 with predicate type `https://model_signing/signature/v1.0`,
//! signed with ECDSA P-256 over the DSSE pre-authentication encoding.
//!
//! The statement lists the model's files (`resources`: name, `sha256`,
//! digest) in the reference's order and leaves out what it leaves out by
//! default (the top-level `.git`, `.gitattributes`, `.github`,
//! `.gitignore`); its subject is the model's name and the sha256 over the
//! resources' raw digests in that order. See `docs/trust.md`.

pub mod key;
#[cfg(test)]
mod tests;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use key::{Key, PublicKey};

/// The sigstore bundle's media type (also the referrer's `artifactType`).
pub const MEDIA_TYPE_SIGSTORE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The DSSE payload type of the statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto Statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The model-signing predicate type (v1.0).
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// The signature's file name: the reference CLI's default `--signature`
/// (also the referrer layer's `org.opencontainers.image.title`).
pub const SIGNATURE_FILE: &str = "model.sig";
/// The paths the reference leaves out by default (`ignore_git_paths`),
/// relative to the model's root, each with everything below it.
pub const IGNORED_GIT_PATHS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// One file of the model as the statement lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// The path inside the model (`/`-separated).
    pub name: String,
    /// The file's sha256, 64 lower-case hex digits.
    pub sha256: String,
}

/// Whether the reference signer leaves `path` out by default: its first
/// component is one of [`IGNORED_GIT_PATHS`] (a `.gitignore` deeper down
/// is signed, as the reference does).
pub fn is_ignored(path: &str) -> bool {
    let first = path.split('/').next().unwrap_or_default();
    IGNORED_GIT_PATHS.contains(&first)
}

/// `resources` without the ignored ones, in the reference's order: by
/// path components (`a/b` before `a.txt`), as Python orders `PurePosixPath`s.
pub fn signed_resources(resources: &[Resource]) -> Vec<Resource> {
    let mut kept: Vec<Resource> = resources
        .iter()
        .filter(|r| !is_ignored(&r.name))
        .cloned()
        .collect();
    kept.sort_by(|a, b| a.name.split('/').cmp(b.name.split('/')));
    kept
}

#[derive(Serialize)]
struct Statement<'a> {
    #[serde(rename = "_type")]
    kind: &'a str,
    subject: [Subject<'a>; 1],
    #[serde(rename = "predicateType")]
    predicate_type: &'a str,
    predicate: Predicate<'a>,
}

#[derive(Serialize)]
struct Subject<'a> {
    name: &'a str,
    digest: Sha256Digest,
}

#[derive(Serialize)]
struct Sha256Digest {
    sha256: String,
}

#[derive(Serialize)]
struct Predicate<'a> {
    serialization: Serialization,
    resources: Vec<ResourceEntry<'a>>,
}

/// The reference's default file serialization (`method` `files`).
#[derive(Serialize)]
struct Serialization {
    method: &'static str,
    hash_type: &'static str,
    allow_symlinks: bool,
    ignore_paths: [&'static str; 4],
}

#[derive(Serialize)]
struct ResourceEntry<'a> {
    name: &'a str,
    algorithm: &'static str,
    digest: &'a str,
}

/// The subject's digest: sha256 over the raw 32-byte digests of
/// `resources` in order (as [`signed_resources`] gives them).
pub fn root_digest(resources: &[Resource]) -> Result<String> {
    let mut h = Sha256::new();
    for r in resources {
        let raw = hex::decode(&r.sha256)
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| anyhow!("{}: {:?} is not a sha256 in hex", r.name, r.sha256))?;
        h.update(raw);
    }
    Ok(hex::encode(h.finalize()))
}

/// The statement's bytes (the DSSE payload), formatted as the reference
/// formats it (protobuf's JSON with an indent of 2, no final newline), with
/// keys in the reference's insertion order (the reference's own key order
/// varies from run to run with Python's hash seed; readers parse JSON).
pub fn statement(model_name: &str, resources: &[Resource]) -> Result<Vec<u8>> {
    let resources = signed_resources(resources);
    let statement = Statement {
        kind: STATEMENT_TYPE,
        subject: [Subject {
            name: model_name,
            digest: Sha256Digest {
                sha256: root_digest(&resources)?,
            },
        }],
        predicate_type: PREDICATE_TYPE,
        predicate: Predicate {
            serialization: Serialization {
                method: "files",
                hash_type: "sha256",
                allow_symlinks: false,
                ignore_paths: IGNORED_GIT_PATHS,
            },
            resources: resources
                .iter()
                .map(|r| ResourceEntry {
                    name: &r.name,
                    algorithm: "sha256",
                    digest: &r.sha256,
                })
                .collect(),
        },
    };
    Ok(serde_json::to_vec_pretty(&statement)?)
}

/// DSSE v1's pre-authentication encoding of `payload`:
/// `DSSEv1 <len(type)> <type> <len(payload)> <payload>`.
pub fn pae(payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {PAYLOAD_TYPE} {} ",
        PAYLOAD_TYPE.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bundle<'a> {
    media_type: &'a str,
    verification_material: VerificationMaterial<'a>,
    dsse_envelope: Envelope,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerificationMaterial<'a> {
    public_key: PublicKeyHint<'a>,
    tlog_entries: [(); 0],
}

#[derive(Serialize)]
struct PublicKeyHint<'a> {
    hint: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: &'static str,
    signatures: [EnvelopeSignature; 1],
}

#[derive(Serialize)]
struct EnvelopeSignature {
    sig: String,
    keyid: &'static str,
}

/// The bundle holding `payload` and its DER signature, with the key-based
/// verification material the reference writes: the public key's hint (the
/// sha256 of its SubjectPublicKeyInfo PEM) and no transparency-log entry.
pub fn bundle(payload: &[u8], signature_der: &[u8], key_hint: &str) -> Vec<u8> {
    let b = Bundle {
        media_type: MEDIA_TYPE_SIGSTORE_BUNDLE,
        verification_material: VerificationMaterial {
            public_key: PublicKeyHint { hint: key_hint },
            tlog_entries: [],
        },
        dsse_envelope: Envelope {
            payload: BASE64.encode(payload),
            payload_type: PAYLOAD_TYPE,
            signatures: [EnvelopeSignature {
                sig: BASE64.encode(signature_der),
                keyid: "",
            }],
        },
    };
    serde_json::to_vec(&b).expect("a bundle serializes")
}

/// Signs the model `model_name` made of `resources` with `key`: the
/// bundle's bytes.
pub fn sign(key: &Key, model_name: &str, resources: &[Resource]) -> Result<Vec<u8>> {
    let payload = statement(model_name, resources)?;
    let signature = key.sign(&pae(&payload));
    Ok(bundle(&payload, &signature, &key.public_key().hint()))
}

/// What a bundle says, read without checking its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The statement (the decoded DSSE payload).
    pub statement: Value,
    /// The payload's bytes, as signed.
    pub payload: Vec<u8>,
    /// The first signature, DER.
    pub signature: Vec<u8>,
    /// The public key hint, when the bundle has one.
    pub key_hint: Option<String>,
}

impl Parsed {
    /// The resources the statement lists, in its order.
    pub fn resources(&self) -> Result<Vec<Resource>> {
        let list = self.statement["predicate"]["resources"]
            .as_array()
            .ok_or_else(|| anyhow!("the statement has no predicate.resources list"))?;
        list.iter()
            .map(|r| {
                let text = |k: &str| {
                    r[k].as_str()
                        .map(str::to_string)
                        .ok_or_else(|| anyhow!("a resource has no {k}"))
                };
                if text("algorithm")? != "sha256" {
                    bail!("resource {}: only sha256 is read", text("name")?);
                }
                Ok(Resource {
                    name: text("name")?,
                    sha256: text("digest")?,
                })
            })
            .collect()
    }
}

/// Reads a model-signing bundle: its media type, the DSSE envelope, the
/// statement's type and predicate type, and the subject's digest against
/// the resources (as the reference's verifier checks before any hashing).
pub fn parse(bundle: &[u8]) -> Result<Parsed> {
    let v: Value = serde_json::from_slice(bundle).context("the bundle is not JSON")?;
    let media_type = v["mediaType"].as_str().unwrap_or_default();
    if media_type != MEDIA_TYPE_SIGSTORE_BUNDLE {
        bail!("the bundle's mediaType is {media_type:?}, not {MEDIA_TYPE_SIGSTORE_BUNDLE}");
    }
    let env = &v["dsseEnvelope"];
    if env["payloadType"].as_str() != Some(PAYLOAD_TYPE) {
        bail!("the DSSE envelope's payloadType is not {PAYLOAD_TYPE}");
    }
    let decode = |what: &str, v: &Value| -> Result<Vec<u8>> {
        BASE64
            .decode(
                v.as_str()
                    .ok_or_else(|| anyhow!("the envelope has no {what}"))?,
            )
            .with_context(|| format!("the envelope's {what} is not base64"))
    };
    let payload = decode("payload", &env["payload"])?;
    let signature = decode("signature", &env["signatures"][0]["sig"])?;
    let statement: Value =
        serde_json::from_slice(&payload).context("the DSSE payload is not JSON")?;
    if statement["_type"].as_str() != Some(STATEMENT_TYPE) {
        bail!("the DSSE payload is not an in-toto Statement v1");
    }
    if statement["predicateType"].as_str() != Some(PREDICATE_TYPE) {
        bail!("the statement's predicateType is not {PREDICATE_TYPE}");
    }
    let parsed = Parsed {
        key_hint: v["verificationMaterial"]["publicKey"]["hint"]
            .as_str()
            .map(str::to_string),
        statement,
        payload,
        signature,
    };
    let want = parsed.statement["subject"][0]["digest"]["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let got = root_digest(&parsed.resources()?)?;
    if want != got {
        bail!("the statement's subject digest is {want:?} but its resources hash to {got}");
    }
    Ok(parsed)
}

/// Checks `bundle`'s signature with `public_key` (and its key hint, when
/// present), as the reference's key verifier does; the statement on success.
pub fn verify(bundle: &[u8], public_key: &PublicKey) -> Result<Parsed> {
    let parsed = parse(bundle)?;
    if let Some(hint) = &parsed.key_hint {
        if *hint != public_key.hint() {
            bail!("the bundle's public key hint does not match the given public key");
        }
    }
    public_key.verify(&pae(&parsed.payload), &parsed.signature)?;
    Ok(parsed)
}
