//! The in-toto Statement v1 with a SLSA Provenance v1 predicate: the
//! subject is the model manifest; `resolvedDependencies` every input with
//! its digest (Hub repos at their commit, Hub files by sha256 or git blob
//! id, URLs, context files, the frontend image). No `startedOn`, no
//! invocation id: the bytes depend on the facts only.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{hex_of, hub_file_url, Facts, FileSource, BUILD_TYPE};

/// The in-toto Statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The SLSA Provenance v1 predicate type.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";

#[derive(Serialize)]
struct Statement<'a> {
    #[serde(rename = "_type")]
    kind: &'static str,
    subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    predicate_type: &'static str,
    predicate: Predicate<'a>,
}

/// The SLSA Provenance v1 predicate.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Predicate<'a> {
    build_definition: BuildDefinition,
    run_details: RunDetails<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildDefinition {
    build_type: &'static str,
    external_parameters: BTreeMap<String, serde_json::Value>,
    resolved_dependencies: Vec<ResourceDescriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunDetails<'a> {
    builder: BuilderId<'a>,
}

#[derive(Serialize)]
struct BuilderId<'a> {
    id: &'a str,
    version: BTreeMap<&'static str, &'a str>,
}

/// An in-toto ResourceDescriptor.
#[derive(Serialize)]
struct ResourceDescriptor {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
    digest: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'static str, serde_json::Value>,
}

/// Whether a parameter's key names a secret (`token`, `secret`,
/// `password`, `credential`, any case): such keys are left out.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["token", "secret", "password", "credential"]
        .iter()
        .any(|w| k.contains(w))
}

fn without_secrets(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .filter(|(k, _)| !is_secret_key(k))
                .map(|(k, v)| (k.clone(), without_secrets(v)))
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(without_secrets).collect())
        }
        other => other.clone(),
    }
}

fn sha256(digest: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([("sha256", hex_of(digest).to_string())])
}

fn dependencies(facts: &Facts) -> Vec<ResourceDescriptor> {
    let mut deps = Vec::new();
    for h in &facts.hub {
        deps.push(ResourceDescriptor {
            name: Some(format!("hf://{}", super::bom::hub_name(h))),
            uri: Some(format!("git+{}@{}", super::hub_tree_base(h), h.commit)),
            digest: BTreeMap::from([("gitCommit", h.commit.clone())]),
            annotations: BTreeMap::from([("revision", h.revision.clone().into())]),
        });
    }
    for f in &facts.files {
        let (uri, digest, annotations) = match &f.source {
            FileSource::Hub {
                source,
                path,
                git_blob,
            } => {
                let uri = facts.hub.get(*source).map(|h| hub_file_url(h, path));
                let digest = match (&f.sha256, git_blob) {
                    (_, Some(blob)) if f.sha256.is_none() => {
                        BTreeMap::from([("gitBlob", blob.clone())])
                    }
                    (Some(s), Some(blob)) => {
                        let mut d = sha256(s);
                        d.insert("gitBlob", blob.clone());
                        d
                    }
                    (Some(s), None) => sha256(s),
                    (None, _) => sha256(&f.layer_digest),
                };
                (uri, digest, BTreeMap::new())
            }
            FileSource::Url {
                url,
                checksum_checked,
            } => (
                Some(url.clone()),
                sha256(f.sha256.as_deref().unwrap_or(&f.layer_digest)),
                BTreeMap::from([("checksumChecked", (*checksum_checked).into())]),
            ),
            FileSource::Context => (
                None,
                sha256(f.sha256.as_deref().unwrap_or(&f.layer_digest)),
                BTreeMap::new(),
            ),
        };
        deps.push(ResourceDescriptor {
            name: Some(f.path.clone()),
            uri,
            digest,
            annotations,
        });
    }
    if let Some(image) = &facts.builder.image {
        deps.push(ResourceDescriptor {
            name: Some("frontend".into()),
            uri: Some(image.reference.clone()),
            digest: sha256(&image.digest),
            annotations: BTreeMap::new(),
        });
    }
    deps
}

fn predicate_of(facts: &Facts) -> Predicate<'_> {
    Predicate {
        build_definition: BuildDefinition {
            build_type: BUILD_TYPE,
            external_parameters: facts
                .parameters
                .iter()
                .filter(|(k, _)| !is_secret_key(k))
                .map(|(k, v)| (k.clone(), without_secrets(v)))
                .collect(),
            resolved_dependencies: dependencies(facts),
        },
        run_details: RunDetails {
            builder: BuilderId {
                id: &facts.builder.id,
                version: BTreeMap::from([("modelpack-frontend", facts.builder.version.as_str())]),
            },
        },
    }
}

/// The Statement's bytes (compact JSON).
pub fn statement(facts: &Facts) -> Vec<u8> {
    let statement = Statement {
        kind: STATEMENT_TYPE,
        subject: vec![ResourceDescriptor {
            name: Some(facts.name.clone()),
            uri: None,
            digest: sha256(&facts.subject.digest),
            annotations: BTreeMap::new(),
        }],
        predicate_type: PREDICATE_TYPE,
        predicate: predicate_of(facts),
    };
    serde_json::to_vec(&statement).expect("the statement serializes")
}

/// The predicate alone, as `cosign attest --type slsaprovenance1
/// --predicate` takes it (`inspect --predicate`), from a Statement's bytes.
pub fn predicate_from_statement(statement: &[u8]) -> anyhow::Result<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(statement)?;
    if v.get("predicateType").and_then(|t| t.as_str()) != Some(PREDICATE_TYPE) {
        anyhow::bail!("not a SLSA Provenance v1 statement");
    }
    let predicate = v
        .get("predicate")
        .ok_or_else(|| anyhow::anyhow!("the statement has no predicate"))?;
    Ok(serde_json::to_vec(predicate)?)
}

/// `text` with the `user[:password]@` of every URL in it removed (URLs
/// are separated by commas or white space), for parameters recorded in
/// the provenance.
pub fn without_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == ',' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority_end = tail[..end].find(['/', '?', '#']).unwrap_or(end);
        match tail[..authority_end].rfind('@') {
            Some(i) => rest = &tail[i + 1..],
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}
