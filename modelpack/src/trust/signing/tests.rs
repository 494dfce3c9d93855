//! The format against a golden signature of the reference implementation
//! (`golden/README.md` says how it was produced).

use super::*;

const KEY_PKCS8: &str = include_str!("golden/key.pem");
const KEY_SEC1: &str = include_str!("golden/key.sec1.pem");
const PUBLIC: &str = include_str!("golden/pub.pem");
const GOLDEN: &[u8] = include_bytes!("golden/model.sig");

/// The folder the golden signs.
const FILES: [(&str, &[u8]); 6] = [
    ("README.md", b"model card\n"),
    ("config.json", br#"{"model_type":"llama"}"#),
    ("a/b", b"weights"),
    ("a.txt", b"text"),
    (".gitattributes", b"* text\n"),
    ("sub/.gitignore", b"x\n"),
];

fn resources() -> Vec<Resource> {
    FILES
        .iter()
        .map(|(name, bytes)| Resource {
            name: name.to_string(),
            sha256: hex::encode(Sha256::digest(bytes)),
        })
        .collect()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// `ignore_paths` is a set to the reference (its order varies by run).
fn normalized(mut statement: Value) -> Value {
    if let Some(Value::Array(a)) = statement
        .pointer_mut("/predicate/serialization/ignore_paths")
        .map(Value::take)
    {
        let mut a: Vec<String> = a.iter().map(|v| v.as_str().unwrap().into()).collect();
        a.sort();
        statement["predicate"]["serialization"]["ignore_paths"] = a.into();
    }
    statement
}

#[test]
fn the_reference_signature_verifies_with_our_pae_and_key() {
    let public = PublicKey::from_pem(PUBLIC).unwrap();
    let parsed = verify(GOLDEN, &public).expect("our PAE and verifier accept the reference's");
    assert_eq!(parsed.key_hint.as_deref(), Some(public.hint().as_str()));
    // Our PEM of the public key is the reference's, byte for byte (the hint
    // is its sha256).
    assert_eq!(public.to_pem(), PUBLIC);
    for pem in [KEY_PKCS8, KEY_SEC1] {
        assert_eq!(Key::from_pem(pem).unwrap().public_key(), public);
    }
}

#[test]
fn our_statement_is_the_references() {
    let ours = statement("tiny", &resources()).unwrap();
    let theirs = parse(GOLDEN).unwrap().payload;
    assert_eq!(normalized(json(&ours)), normalized(json(&theirs)));
    // The same text too, but for the order of keys (which varies in the
    // reference): the same lines once trailing commas are set aside.
    let lines = |b: &[u8]| {
        let mut l: Vec<String> = String::from_utf8(b.to_vec())
            .unwrap()
            .lines()
            .map(|l| l.trim_end_matches(',').to_string())
            .collect();
        l.sort();
        l
    };
    assert_eq!(lines(&ours), lines(&theirs));
    assert!(!ours.ends_with(b"\n"), "no final newline, as the reference");
}

#[test]
fn resources_are_in_the_references_order_without_top_level_git_paths() {
    let names: Vec<String> = signed_resources(&resources())
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(
        names,
        ["README.md", "a/b", "a.txt", "config.json", "sub/.gitignore"]
    );
    for p in [".git/HEAD", ".github/workflows/x.yml", ".gitignore"] {
        assert!(is_ignored(p), "{p}");
    }
    for p in [".gitmodules", "sub/.gitattributes", "git/x"] {
        assert!(!is_ignored(p), "{p}");
    }
}

#[test]
fn our_bundle_has_the_references_shape_and_verifies() {
    let key = Key::from_pem(KEY_PKCS8).unwrap();
    let ours = sign(&key, "tiny", &resources()).unwrap();
    assert_eq!(ours, sign(&key, "tiny", &resources()).unwrap(), "RFC 6979");
    verify(&ours, &PublicKey::from_pem(PUBLIC).unwrap()).unwrap();
    let strip = |b: &[u8]| {
        let mut v = json(b);
        v["dsseEnvelope"]["payload"] = Value::Null;
        v["dsseEnvelope"]["signatures"][0]["sig"] = Value::Null;
        v
    };
    assert_eq!(strip(&ours), strip(GOLDEN));
    // Compact, in the reference's key order.
    let theirs = std::str::from_utf8(GOLDEN).unwrap();
    let head = |s: &str| s.split("\"payload\"").next().unwrap().to_string();
    assert_eq!(head(std::str::from_utf8(&ours).unwrap()), head(theirs));
}

#[test]
fn tampering_and_other_keys_fail() {
    let key = Key::from_pem(KEY_SEC1).unwrap();
    let good = sign(&key, "tiny", &resources()).unwrap();
    let other = Key::from_scalar(&[7u8; 32]);
    let err = verify(&good, &other.public_key()).unwrap_err();
    assert!(err.to_string().contains("hint does not match"), "{err}");
    let mut v = json(&good);
    let mut changed = resources();
    changed[0].sha256 = hex::encode(Sha256::digest(b"changed"));
    let payload = statement("tiny", &changed).unwrap();
    v["dsseEnvelope"]["payload"] = BASE64.encode(payload).into();
    let tampered = serde_json::to_vec(&v).unwrap();
    let err = verify(&tampered, &key.public_key()).unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    assert!(Key::from_pem("-----BEGIN ENCRYPTED PRIVATE KEY-----\n").is_err());
}

#[test]
fn a_subject_that_does_not_match_its_resources_is_refused() {
    let payload = statement("tiny", &resources()).unwrap();
    let mut v = json(&payload);
    v["subject"][0]["digest"]["sha256"] = "00".repeat(32).into();
    let b = bundle(&serde_json::to_vec(&v).unwrap(), b"x", "");
    let err = parse(&b).unwrap_err();
    assert!(err.to_string().contains("resources hash to"), "{err}");
}
