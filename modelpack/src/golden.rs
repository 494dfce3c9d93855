//! Golden digests: the sample model packaged in every layer format must
//! give exactly these manifest and layer digests. A dependency bump that
//! changes compressed bytes (flate2, zstd, tar) or any change to the
//! documents fails here; update the values only on purpose, and say so in
//! the release notes (every digest users pinned changes).

use crate::oci::Spelling;
use crate::packaging::LayerPackaging;
use crate::testutil::{manifest, write_layout_in, TempDir};

/// (format, manifest digest, layer digests in manifest order).
const GOLDEN: &[(LayerPackaging, &str, &[&str])] = &[
    (
        LayerPackaging::Raw,
        "sha256:f1cba4889ed84a22a212a69e45b48613cc1306a038b95d62a1d12b9254b35fbf",
        &[
            "sha256:b838ba346d78e6c67131629add5bcb85738ce7d998cf6a567ae72fb6ff5ff2cd",
            "sha256:048d9a5b243fb761677d44e4ebd29245937c2ac6b9ced486b2f80e6f57d780c9",
            "sha256:299001868fb8c02fd431c336c6d058f5558c5dff5b5af5e6fe04b870a6a9cbba",
            "sha256:da0f266deed7c2c66f4708aa801d1ecd4aa289d2ee87e9c4525b30c8cba9ac88",
        ],
    ),
    (
        LayerPackaging::Tar,
        "sha256:8d998bf326f91de633c21d30488f40781d33011b504052df1500a295c82eb213",
        &[
            "sha256:8654abb048f516224ed24fe1047250e2752b900bae4ee0b3eb95157d8edda971",
            "sha256:c09b3fa29348274fd657f6ef423880152b9b67d968eedcd9591842ba30bed4d6",
            "sha256:2710f911015bcc3c816852da35e8611d8ea958883a25296326eee5ef0980b727",
            "sha256:b07a6f31b799ab33005f16c1b0275596219d60f043ba65693c322717484b36b3",
        ],
    ),
    (
        LayerPackaging::TarGzip,
        "sha256:c39fded549d73a1485f80ab992d8b460ed9ba5797903d48a016844650872d5dc",
        &[
            "sha256:ae9297c90bd15f44b3a3b9999153ed22869314488d1342c49c5c0cd910714aff",
            "sha256:322ba7ed66d5a1f99b5247270559d7c6f3639479356b2ca57f02621f0829d5ad",
            "sha256:2fb95712c0b616f59ce312f5554ca1716ca311fc259058249474d41385df6947",
            "sha256:90f64051b587ca5115b66f353fd07262ee079e08928a8455bd9e0065d98d5e71",
        ],
    ),
    (
        LayerPackaging::TarZstd,
        "sha256:189435d0b5c3e7abf903d8dec289d17c78e2952140944e0d8e724a75f821688b",
        &[
            "sha256:d9d132f91b3fd6431b55090376a49a1b2fc04424f65bb76a98667a25755c6175",
            "sha256:ad2ae396f7dbf0463ecd145ccce2686cc3ed2a5535f825e5683fe42d69a0be90",
            "sha256:0a93f3c7a444e7d1b6e39b94050b0eae908688e1295ee9df5ce4778d70373f51",
            "sha256:52b845121c6653654366f076658a297df9601cc70f066d9fe57b4da6a9ec659e",
        ],
    ),
];

/// `media_types=cnai` (model-spec v0.0.6): (format, manifest digest); the
/// layer digests are those of [`GOLDEN`], only the documents differ.
const GOLDEN_CNAI: &[(LayerPackaging, &str)] = &[
    (
        LayerPackaging::Raw,
        "sha256:1804e5a4933227afa5ebdb79068dfb48742d2ffa8bcc3323921b12d0c4b09458",
    ),
    (
        LayerPackaging::Tar,
        "sha256:674200571cc9ed256ee337e7ea21108f75481e91b4413502ad3142f1e43951af",
    ),
    (
        LayerPackaging::TarGzip,
        "sha256:0728178565a5b5510699802209729d321127531cb19f506e65e0255b61c01149",
    ),
    (
        LayerPackaging::TarZstd,
        "sha256:94304bd7ef759184bcb5ffb818ea0cc292828575e933f6e5080af5cae476f011",
    ),
];

fn packaged(format: LayerPackaging) -> (String, Vec<String>) {
    packaged_in(format, Spelling::Cncf)
}

fn packaged_in(format: LayerPackaging, spelling: Spelling) -> (String, Vec<String>) {
    let src = TempDir::new("golden-src");
    let out = TempDir::new("golden-out");
    write_layout_in(&src.0, &out.0, format, spelling);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let layers = manifest(&out.0)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    (digest, layers)
}

#[test]
fn every_format_gives_its_golden_digests() {
    let mut seen = Vec::new();
    for format in LayerPackaging::ALL {
        let (digest, layers) = packaged(format);
        seen.push(format!(
            "(LayerPackaging::{format:?}, {digest:?}, &{layers:?}),"
        ));
        if let Some((_, want, want_layers)) = GOLDEN.iter().find(|(f, _, _)| *f == format) {
            assert_eq!(
                &layers,
                want_layers,
                "layer digests of {} changed",
                format.suffix()
            );
            assert_eq!(
                &digest,
                want,
                "manifest digest of {} changed",
                format.suffix()
            );
        }
    }
    assert_eq!(
        GOLDEN.len(),
        LayerPackaging::ALL.len(),
        "golden values missing; got:\n{}",
        seen.join("\n")
    );
}

#[test]
fn every_format_gives_its_golden_cnai_digests() {
    let mut seen = Vec::new();
    for format in LayerPackaging::ALL {
        let (digest, layers) = packaged_in(format, Spelling::Cnai);
        seen.push(format!("(LayerPackaging::{format:?}, {digest:?}),"));
        let (_, _, want_layers) = GOLDEN.iter().find(|(f, _, _)| *f == format).unwrap();
        assert_eq!(
            &layers,
            want_layers,
            "cnai layer digests of {}",
            format.suffix()
        );
        if let Some((_, want)) = GOLDEN_CNAI.iter().find(|(f, _)| *f == format) {
            assert_eq!(
                &digest,
                want,
                "cnai manifest digest of {} changed",
                format.suffix()
            );
        }
    }
    assert_eq!(
        GOLDEN_CNAI.len(),
        LayerPackaging::ALL.len(),
        "golden cnai values missing; got:\n{}",
        seen.join("\n")
    );
}

#[test]
fn packaging_twice_gives_the_same_digests() {
    assert_eq!(
        packaged(LayerPackaging::TarZstd),
        packaged(LayerPackaging::TarZstd)
    );
}
