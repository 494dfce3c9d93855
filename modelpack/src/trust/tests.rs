use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use super::referrer::{documents, index_with, subject_of, ReferrerManifest, MEDIA_TYPE_EMPTY};
use super::*;
use crate::digest::sha256_of;
use crate::oci::{Capabilities, Modality};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn digest(s: &str) -> String {
    sha256_of(s.as_bytes())
}

/// A Hub model of three files, one fetched from a URL too, built by the
/// frontend from a resolved image.
pub(crate) fn fixture() -> Facts {
    let manifest = b"{\"schemaVersion\":2}";
    Facts {
        subject: Descriptor {
            media_type: crate::oci::MEDIA_TYPE_MANIFEST.into(),
            digest: sha256_of(manifest),
            size: manifest.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        },
        name: "tiny-llama".into(),
        descriptor: ModelDescriptor {
            created_at: Some("2025-01-02T03:04:05Z".into()),
            family: Some("llama".into()),
            name: Some("tiny-llama".into()),
            source_url: Some("https://huggingface.co/acme/tiny-llama".into()),
            revision: Some(COMMIT.into()),
            licenses: Some(vec!["apache-2.0".into(), "llama3.2".into()]),
            ..Default::default()
        },
        properties: ModelProperties {
            architecture: Some("LlamaForCausalLM".into()),
            format: Some("safetensors".into()),
            param_size: Some("1.2M".into()),
            precision: Some("bfloat16".into()),
            quantization: None,
            capabilities: Some(Capabilities {
                input_types: Some(vec![Modality::Text]),
                output_types: Some(vec![Modality::Text]),
                ..Default::default()
            }),
        },
        card: CardFacts {
            pipeline_tag: Some("text-generation".into()),
            datasets: vec!["wikitext".into(), "acme/chat".into()],
            param_count: Some(1_234_567),
        },
        hub: vec![HubSource {
            endpoint: "https://huggingface.co".into(),
            kind: RepoKind::Model,
            repo: "acme/tiny-llama".into(),
            revision: "main".into(),
            commit: COMMIT.into(),
        }],
        files: vec![
            ModelFile {
                path: "config.json".into(),
                size: 10,
                sha256: Some(digest("config")),
                layer_digest: digest("config"),
                source: FileSource::Hub {
                    source: 0,
                    path: "config.json".into(),
                    git_blob: Some("aa".repeat(20)),
                },
            },
            ModelFile {
                path: "model.safetensors".into(),
                size: 1000,
                sha256: Some(digest("weights")),
                layer_digest: digest("weights"),
                source: FileSource::Hub {
                    source: 0,
                    path: "model.safetensors".into(),
                    git_blob: None,
                },
            },
            ModelFile {
                path: "extra/adapter.gguf".into(),
                size: 20,
                sha256: Some(digest("adapter")),
                layer_digest: digest("adapter-tar"),
                source: FileSource::Url {
                    url: "https://example.com/adapter.gguf".into(),
                    checksum_checked: true,
                },
            },
        ],
        parameters: BTreeMap::from([
            ("source".into(), "hf://acme/tiny-llama".into()),
            ("layer_packaging".into(), "raw".into()),
            ("hf_token".into(), "hf_never".into()),
            (
                "recipe".into(),
                serde_json::json!({"name": "tiny-llama", "auth": {"password": "never"}}),
            ),
        ]),
        builder: Builder {
            id: BUILDER_FRONTEND.into(),
            version: "0.1.0".into(),
            image: Some(ResolvedImage {
                reference: "localhost:5000/modelpack-frontend:v1".into(),
                digest: digest("image"),
            }),
        },
    }
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn uuid_v5_matches_rfc_4122() {
    // Python's uuid.uuid5(uuid.NAMESPACE_URL, …).
    assert_eq!(
        uuid_v5(&NAMESPACE_URL, "http://python.org/"),
        "4c565f0d-3f5a-5890-b41b-20cf47701c5e"
    );
    assert_eq!(
        serial_number(&format!("sha256:{}", "ab".repeat(32))),
        "urn:uuid:9cee660b-b2ca-516a-b8b5-88e6d2e104a0"
    );
}

#[test]
fn attest_words() {
    for a in Attest::ALL {
        assert_eq!(Attest::parse(a.word()).unwrap(), a);
    }
    assert!(Attest::parse("yes").is_err());
    assert_eq!(Attest::default(), Attest::All);
    assert!(Attest::All.sbom() && Attest::All.provenance());
    assert!(Attest::Sbom.sbom() && !Attest::Sbom.provenance());
    assert!(!Attest::None.sbom() && !Attest::None.provenance());
}

#[test]
fn bom_fields() {
    let facts = fixture();
    let b = json(&bom::bom(&facts));
    assert_eq!(b["bomFormat"], "CycloneDX");
    assert_eq!(b["specVersion"], "1.6");
    assert_eq!(b["serialNumber"], serial_number(&facts.subject.digest));
    assert!(b["metadata"].get("timestamp").is_none());
    let model = &b["metadata"]["component"];
    assert_eq!(model["type"], "machine-learning-model");
    assert_eq!(model["name"], "tiny-llama");
    assert_eq!(model["version"], COMMIT);
    assert_eq!(
        model["purl"],
        format!("pkg:huggingface/acme/tiny-llama@{COMMIT}")
    );
    assert_eq!(
        model["licenses"],
        serde_json::json!([{"license": {"id": "Apache-2.0"}}, {"license": {"name": "llama3.2"}}])
    );
    let params = &model["modelCard"]["modelParameters"];
    assert_eq!(params["task"], "text-generation");
    assert_eq!(params["architectureFamily"], "llama");
    assert_eq!(params["modelArchitecture"], "LlamaForCausalLM");
    assert_eq!(
        params["datasets"][1],
        serde_json::json!({"type": "dataset", "name": "acme/chat"})
    );
    assert_eq!(params["inputs"], serde_json::json!([{"format": "text"}]));
    let props: BTreeMap<String, String> = model["modelCard"]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(props[bom::PROPERTY_PARAM_COUNT], "1234567");
    assert_eq!(props[bom::PROPERTY_PARAM_SIZE], "1.2M");
    assert_eq!(props[bom::PROPERTY_FORMAT], "safetensors");
    assert_eq!(props[bom::PROPERTY_PRECISION], "bfloat16");
    let refs = model["externalReferences"].as_array().unwrap();
    assert_eq!(
        refs[0]["url"],
        format!("https://huggingface.co/acme/tiny-llama/tree/{COMMIT}")
    );
    assert_eq!(refs[1]["url"], "https://example.com/adapter.gguf");
    assert_eq!(refs[1]["hashes"][0]["content"], hex_of(&digest("adapter")));
    let files = b["components"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[2]["name"], "extra/adapter.gguf");
    assert_eq!(
        files[2]["hashes"][0],
        serde_json::json!({"alg": "SHA-256", "content": hex_of(&digest("adapter"))})
    );
    assert_eq!(files[2]["properties"][0]["value"], digest("adapter-tar"));
}

#[test]
fn purl_of_a_private_endpoint_and_no_purl_for_datasets() {
    let mut hub = fixture().hub.remove(0);
    hub.endpoint = "http://127.0.0.1:8080".into();
    assert_eq!(
        bom::hub_purl(&hub).unwrap(),
        format!(
            "pkg:huggingface/acme/tiny-llama@{COMMIT}?repository_url=http%3A%2F%2F127.0.0.1%3A8080"
        )
    );
    hub.kind = RepoKind::Dataset;
    assert_eq!(bom::hub_purl(&hub), None);
}

#[test]
fn provenance_fields() {
    let facts = fixture();
    let bytes = provenance::statement(&facts);
    let s = json(&bytes);
    assert_eq!(s["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(s["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(
        s["subject"][0]["digest"]["sha256"],
        hex_of(&facts.subject.digest)
    );
    let def = &s["predicate"]["buildDefinition"];
    assert_eq!(def["buildType"], BUILD_TYPE);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(!text.contains("never"), "a secret leaked: {text}");
    assert_eq!(def["externalParameters"]["source"], "hf://acme/tiny-llama");
    assert_eq!(
        def["externalParameters"]["recipe"],
        serde_json::json!({"name": "tiny-llama", "auth": {}})
    );
    let deps = def["resolvedDependencies"].as_array().unwrap();
    assert_eq!(deps[0]["digest"], serde_json::json!({"gitCommit": COMMIT}));
    assert_eq!(
        deps[0]["uri"],
        format!("git+https://huggingface.co/acme/tiny-llama@{COMMIT}")
    );
    assert_eq!(
        deps[1]["uri"],
        format!("https://huggingface.co/acme/tiny-llama/resolve/{COMMIT}/config.json")
    );
    assert_eq!(deps[1]["digest"]["gitBlob"], "aa".repeat(20));
    assert_eq!(
        deps[2]["digest"],
        serde_json::json!({"sha256": hex_of(&digest("weights"))})
    );
    assert_eq!(deps[3]["annotations"]["checksumChecked"], true);
    assert_eq!(deps[4]["uri"], "localhost:5000/modelpack-frontend:v1");
    assert_eq!(deps[4]["digest"]["sha256"], hex_of(&digest("image")));
    let builder = &s["predicate"]["runDetails"]["builder"];
    assert_eq!(builder["id"], BUILDER_FRONTEND);
    assert!(s["predicate"]["runDetails"].get("metadata").is_none());
    let predicate = provenance::predicate_from_statement(&bytes).unwrap();
    assert_eq!(json(&predicate), s["predicate"]);
    assert!(provenance::predicate_from_statement(&bom::bom(&facts)).is_err());
}

#[test]
fn referrers_point_at_the_model() {
    let facts = fixture();
    let docs = documents(&facts, Attest::All);
    assert_eq!(docs.len(), 2);
    for (r, t) in docs.iter().zip([MEDIA_TYPE_CYCLONEDX, MEDIA_TYPE_IN_TOTO]) {
        let m: ReferrerManifest = serde_json::from_slice(&r.manifest.bytes).unwrap();
        assert_eq!(m.artifact_type, t);
        assert_eq!(m.subject.digest, facts.subject.digest);
        assert_eq!(m.subject.size, facts.subject.size);
        assert_eq!(m.config.media_type, MEDIA_TYPE_EMPTY);
        assert_eq!(
            m.config.digest,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(m.layers, vec![r.document.descriptor.clone()]);
        assert_eq!(
            subject_of(&r.manifest.bytes).unwrap().digest,
            facts.subject.digest
        );
    }
    assert!(documents(&facts, Attest::None).is_empty());
    assert_eq!(documents(&facts, Attest::Sbom).len(), 1);
    assert_eq!(
        documents(&facts, Attest::Provenance)[0].artifact_type(),
        MEDIA_TYPE_IN_TOTO
    );
    assert_eq!(subject_of(b"{\"schemaVersion\":2}"), None);

    let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:00","size":1}]}"#;
    let with = index_with(index, &docs).unwrap();
    let again = index_with(&with, &docs).unwrap();
    assert_eq!(with, again);
    let parsed: crate::oci::Index = serde_json::from_slice(&with).unwrap();
    assert_eq!(parsed.manifests.len(), 3);
    assert_eq!(parsed.manifests[0].digest, "sha256:00");
    assert_eq!(
        parsed.manifests[1].artifact_type.as_deref(),
        Some(MEDIA_TYPE_CYCLONEDX)
    );
    assert_eq!(
        parsed.manifests[2].digest,
        docs[1].manifest.descriptor.digest
    );
}

/// The documents' digests: any change to what the BOM, the statement or
/// the referrer manifests say changes these, on purpose only.
#[test]
fn golden_digests() {
    let facts = fixture();
    let docs = documents(&facts, Attest::All);
    let got: Vec<&str> = docs
        .iter()
        .flat_map(|r| {
            [
                r.document.descriptor.digest.as_str(),
                r.manifest.descriptor.digest.as_str(),
            ]
        })
        .collect();
    assert_eq!(
        got, GOLDEN,
        "BOM, BOM referrer, statement, statement referrer"
    );
    // Twice the same facts, the same bytes.
    assert_eq!(docs, documents(&fixture(), Attest::All));
}

const GOLDEN: [&str; 4] = [
    "sha256:ac839c6fcd0fbf1fe205b58ae340faae1973e7df693eba0ed1451e96530c1d17",
    "sha256:21d0853f66afe84be1ab2719c5a7392f19b57ed60cbe3ee5b009900bbec519fb",
    "sha256:234b0484ec8e462cea6ea5909061308f46bd4a4b99694e26bac6b3b033021dee",
    "sha256:7512e2975dfd1e6d71c78e626ad51e9aa1beb8a3407aff9cc97e07f865172efc",
];

#[test]
fn spdx_ids_in_exact_case() {
    assert_eq!(spdx::spdx_id("apache-2.0"), Some("Apache-2.0"));
    assert_eq!(spdx::spdx_id("cc-by-nc-sa-4.0"), Some("CC-BY-NC-SA-4.0"));
    assert_eq!(spdx::spdx_id("POSTGRESQL"), Some("PostgreSQL"));
    assert_eq!(spdx::spdx_id("llama3.2"), None);
    assert_eq!(spdx::spdx_id("openrail"), None);
}

/// Validates BOMs with CycloneDX's own validator (`cyclonedx-python-lib`,
/// `JsonStrictValidator(SchemaVersion.V1_6)`): the fixture's, one with
/// every SPDX id of the table, and one with no optional fact.
#[test]
fn boms_pass_the_cyclonedx_strict_validator() {
    let probe = Command::new("python3")
        .args([
            "-c",
            "from cyclonedx.validation.json import JsonStrictValidator",
        ])
        .status();
    if !matches!(probe, Ok(s) if s.success()) {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("python3 with cyclonedx-python-lib[json-validation] is needed; CI=true forbids skipping");
        }
        eprintln!("cyclonedx-python-lib is not installed; skipping");
        return;
    }
    let full = fixture();
    let mut every_licence = fixture();
    every_licence.descriptor.licenses = Some(
        spdx::HUB_SPDX_IDS
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect(),
    );
    let mut bare = fixture();
    bare.descriptor = ModelDescriptor::default();
    bare.properties = ModelProperties::default();
    bare.card = CardFacts::default();
    bare.hub.clear();
    for f in &mut bare.files {
        f.source = FileSource::Context;
        f.sha256 = None;
    }
    let mut invalid = bom::bom(&full);
    invalid.splice(1..1, b"\"extra\":1,".iter().copied());
    for (facts_bom, valid) in [
        (bom::bom(&full), true),
        (bom::bom(&every_licence), true),
        (bom::bom(&bare), true),
        (invalid, false),
    ] {
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import sys\n\
                 from cyclonedx.schema import SchemaVersion\n\
                 from cyclonedx.validation.json import JsonStrictValidator\n\
                 e = JsonStrictValidator(SchemaVersion.V1_6).validate_str(sys.stdin.read())\n\
                 print(e)\n\
                 sys.exit(1 if e else 0)",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&facts_bom).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.success(),
            valid,
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&facts_bom)
        );
    }
}

#[test]
fn facts_from_a_plan() {
    use crate::testutil::plan_file;
    let files = vec![
        plan_file("config.json", br#"{"a":1}"#),
        plan_file("model.safetensors", b"weights"),
    ];
    let info = crate::plan::ModelInfo {
        name: "tiny".into(),
        revision: Some(COMMIT.into()),
        ..Default::default()
    };
    let plan = crate::plan::build(files, &info, crate::LayerPackaging::Raw).unwrap();
    let known = BTreeMap::from([(
        "model.safetensors".to_string(),
        facts::FileFact {
            sha256: Some(digest("weights")),
            source: FileSource::Url {
                url: "https://example.com/model.safetensors".into(),
                checksum_checked: false,
            },
        },
    )]);
    let builder = Builder {
        id: BUILDER_CLI.into(),
        version: "0.1.0".into(),
        image: None,
    };
    let f = facts::from_plan(
        &plan,
        "tiny",
        CardFacts::default(),
        Vec::new(),
        &known,
        BTreeMap::new(),
        builder,
    )
    .unwrap();
    assert_eq!(f.subject, plan.manifest.descriptor);
    assert_eq!(f.descriptor.revision.as_deref(), Some(COMMIT));
    let paths: Vec<&str> = f.files.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(paths, ["config.json", "model.safetensors"]);
    // Unknown to the caller: a context file whose raw layer is the file.
    assert_eq!(f.files[0].source, FileSource::Context);
    assert_eq!(
        f.files[0].sha256.as_deref(),
        Some(f.files[0].layer_digest.as_str())
    );
    assert_eq!(f.files[0].size, 7);
    assert!(matches!(f.files[1].source, FileSource::Url { .. }));
    assert_eq!(f.files[1].sha256, Some(digest("weights")));
}

#[test]
fn referrers_in_a_layout_leave_the_model_as_it_was() {
    use crate::layout::{self, Layout};
    let dir = crate::testutil::TempDir::new("trust-layout");
    let (src, out) = (dir.join("src"), dir.join("out"));
    crate::testutil::write_layout(&src, &out, crate::LayerPackaging::Raw);
    let l = Layout::open(&out).unwrap();
    let model = l.select(None).unwrap();
    let mut facts = fixture();
    facts.subject = crate::oci::Descriptor {
        annotations: BTreeMap::new(),
        artifact_type: None,
        ..model.clone()
    };
    let docs = documents(&facts, Attest::All);
    layout::write_referrers(&out, &docs).unwrap();
    let after = l.index().unwrap();
    assert_eq!(after.manifests.len(), 3);
    assert_eq!(
        after.manifests[0], model,
        "the model's entry is unchanged and first"
    );
    assert!(after.manifests[1..]
        .iter()
        .all(|d| d.annotations.is_empty()));
    // Unnamed readers still find the model; referrers are listed by subject.
    assert_eq!(l.select(None).unwrap(), model);
    assert_eq!(l.select(Some("tiny")).unwrap(), model);
    assert_eq!(l.load(None).unwrap().entry, model);
    let found = l.referrers(&model.digest).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].1, docs[0].manifest.bytes);
    assert!(l.is_referrer(&found[1].0) && !l.is_referrer(&model));
    // validate checks them: subjects resolve, documents parse.
    let report = crate::validate::validate(&out, None, |_| {});
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.referrers.len(), 2);
    assert_eq!(report.manifest.as_deref(), Some(model.digest.as_str()));
    // Twice: the same index.
    layout::write_referrers(&out, &docs).unwrap();
    assert_eq!(l.index().unwrap(), after);
    // The model re-packed under its name with other bytes: the old
    // documents' entries go, as their subject is no longer listed.
    let mut all = after.clone();
    all.manifests[0].digest = digest("other");
    std::fs::write(out.join("index.json"), serde_json::to_vec(&all).unwrap()).unwrap();
    layout::write_referrers(&out, &[]).unwrap();
    assert_eq!(l.index().unwrap().manifests.len(), 1);
}

#[test]
fn validate_finds_broken_referrers() {
    use crate::layout;
    let dir = crate::testutil::TempDir::new("trust-broken");
    let (src, out) = (dir.join("src"), dir.join("out"));
    crate::testutil::write_layout(&src, &out, crate::LayerPackaging::Raw);
    let model = layout::Layout::open(&out).unwrap().select(None).unwrap();
    let subject = crate::oci::Descriptor {
        annotations: BTreeMap::new(),
        ..model
    };
    let mut other = subject.clone();
    other.digest = digest("elsewhere");
    let broken = vec![
        // A BOM that is not JSON.
        super::referrer::referrer(&subject, MEDIA_TYPE_CYCLONEDX, "x", b"{not json".to_vec()),
        // A statement about another manifest.
        super::referrer::referrer(
            &subject,
            MEDIA_TYPE_IN_TOTO,
            "y",
            provenance::statement(&Facts {
                subject: other.clone(),
                ..fixture()
            }),
        ),
        // A subject the layout does not hold.
        super::referrer::referrer(&other, MEDIA_TYPE_CYCLONEDX, "z", bom::bom(&fixture())),
    ];
    layout::write_referrers(&out, &broken).unwrap();
    let report = crate::validate::validate(&out, None, |_| {});
    let messages: Vec<&str> = report.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(report.errors(), 3, "{messages:?}");
    assert!(messages[0].contains("is not JSON"), "{messages:?}");
    assert!(
        messages[1].contains("not about its subject"),
        "{messages:?}"
    );
    assert!(messages[2].contains("does not resolve"), "{messages:?}");
}

#[test]
fn userinfo_is_left_out_of_recorded_urls() {
    use provenance::without_userinfo as w;
    assert_eq!(w("https://u:p@h/a.gguf?x=@y"), "https://h/a.gguf?x=@y");
    assert_eq!(
        w("https://h/a.gguf, http://me@127.0.0.1:8/b c"),
        "https://h/a.gguf, http://127.0.0.1:8/b c"
    );
    assert_eq!(w("hf://org/repo@main"), "hf://org/repo@main");
    assert_eq!(w("."), ".");
}

#[test]
fn validate_checks_a_signature_against_the_model() {
    use super::signing::{self, Key, MEDIA_TYPE_SIGSTORE_BUNDLE, SIGNATURE_FILE};
    use crate::layout::{self, Layout};
    let dir = crate::testutil::TempDir::new("trust-signed");
    let (src, out) = (dir.join("src"), dir.join("out"));
    crate::testutil::write_layout(&src, &out, crate::LayerPackaging::Raw);
    let loaded = Layout::open(&out).unwrap().load(None).unwrap();
    let mut no_blob = |_: &crate::oci::Descriptor| -> anyhow::Result<Box<dyn std::io::Read>> {
        panic!("raw layers are not read")
    };
    let resources =
        crate::signed_files::from_layers(&loaded.manifest.layers, &mut no_blob).unwrap();
    assert!(!resources.is_empty());
    let key = Key::from_scalar(&[9u8; 32]);
    let sign = |resources: &[signing::Resource]| {
        super::referrer::referrer(
            &loaded.entry,
            MEDIA_TYPE_SIGSTORE_BUNDLE,
            SIGNATURE_FILE,
            signing::sign(&key, "tiny", resources).unwrap(),
        )
    };
    layout::write_referrers(&out, &[sign(&resources)]).unwrap();
    let report = crate::validate::validate(&out, None, |_| {});
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.referrers.len(), 1);

    // Another model's signature, and a bundle that is no bundle.
    let mut other = resources.clone();
    other[0].sha256 = "11".repeat(32);
    other.push(signing::Resource {
        name: "extra.bin".into(),
        sha256: "22".repeat(32),
    });
    let garbage = super::referrer::referrer(
        &loaded.entry,
        MEDIA_TYPE_SIGSTORE_BUNDLE,
        SIGNATURE_FILE,
        br#"{"mediaType":"application/json"}"#.to_vec(),
    );
    layout::write_referrers(&out, &[sign(&other), garbage]).unwrap();
    let report = crate::validate::validate(&out, None, |_| {});
    let messages: Vec<&str> = report.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(report.errors(), 3, "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.contains(&format!("does not list {}", resources[0].name))),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("extra.bin, which is no file")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("does not parse")),
        "{messages:?}"
    );
}
