//! The OCI layout readers behind `validate`/`unpack`: the input is split
//! into index.json, a manifest and a config written as a layout in a temp
//! dir; validation must report problems, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let index = parts.next().unwrap_or_default();
    let manifest = parts.next().unwrap_or_default();
    let config = parts.next().unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("mp-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(dir.join("index.json"), index).unwrap();
    for blob in [manifest, config] {
        std::fs::write(blobs.join(hex::encode(Sha256::digest(blob))), blob).unwrap();
    }
    let _ = modelpack::validate::validate(&dir, None, |_| {});
    let _ = std::fs::remove_dir_all(&dir);
});
