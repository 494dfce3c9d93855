//! Content digests as OCI writes them.

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of some bytes.
pub fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_input_has_the_well_known_digest() {
        assert_eq!(
            super::sha256_of(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
