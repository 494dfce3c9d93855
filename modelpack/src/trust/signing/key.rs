//! ECDSA P-256 keys for the model-signing format: a private key from PEM
//! (PKCS#8 `PRIVATE KEY`, as `openssl genpkey` writes, or SEC1
//! `EC PRIVATE KEY`, as `openssl ecparam -genkey` writes; not encrypted),
//! signatures over SHA-256 in DER with RFC 6979 nonces (the same key and
//! message give the same signature), and the public key's hint the
//! reference writes into the bundle.

use anyhow::{anyhow, bail, Result};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};

/// A P-256 private key.
pub struct Key {
    signing: SigningKey,
}

/// A P-256 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    verifying: VerifyingKey,
}

impl Key {
    /// Reads a PEM private key (PKCS#8 or SEC1, P-256, unencrypted).
    pub fn from_pem(pem: &str) -> Result<Key> {
        let secret = if pem.contains("-----BEGIN PRIVATE KEY-----") {
            p256::SecretKey::from_pkcs8_pem(pem)
                .map_err(|e| anyhow!("not a P-256 PKCS#8 private key: {e}"))?
        } else if pem.contains("-----BEGIN EC PRIVATE KEY-----") {
            p256::SecretKey::from_sec1_pem(pem)
                .map_err(|e| anyhow!("not a P-256 SEC1 private key: {e}"))?
        } else if pem.contains("ENCRYPTED") {
            bail!(
                "encrypted private keys are not read; write an unencrypted copy \
                 (`openssl pkey -in KEY -out plain.pem`) and keep it safe"
            );
        } else {
            bail!(
                "no PEM private key (PRIVATE KEY or EC PRIVATE KEY) found; \
                 make one with `openssl ecparam -name prime256v1 -genkey -noout -out key.pem`"
            );
        };
        Ok(Key {
            signing: SigningKey::from(&secret),
        })
    }

    /// A key from its 32-byte scalar (tests).
    #[cfg(test)]
    pub(crate) fn from_scalar(scalar: &[u8; 32]) -> Key {
        Key {
            signing: SigningKey::from_slice(scalar).expect("a valid scalar"),
        }
    }

    /// The DER ECDSA signature (SHA-256) of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig: Signature = self.signing.sign(message);
        sig.to_der().as_bytes().to_vec()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            verifying: *self.signing.verifying_key(),
        }
    }
}

impl PublicKey {
    /// Reads a PEM SubjectPublicKeyInfo (`PUBLIC KEY`) of a P-256 key.
    pub fn from_pem(pem: &str) -> Result<PublicKey> {
        let key = p256::PublicKey::from_public_key_pem(pem)
            .map_err(|e| anyhow!("not a P-256 public key in PEM: {e}"))?;
        Ok(PublicKey {
            verifying: VerifyingKey::from(&key),
        })
    }

    /// The SubjectPublicKeyInfo PEM (64-column lines, `\n` endings, as
    /// OpenSSL and Python's `cryptography` write it).
    pub fn to_pem(&self) -> String {
        p256::PublicKey::from(&self.verifying)
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 public key encodes")
    }

    /// The bundle's `publicKey.hint`: the sha256 (hex) of [`Self::to_pem`].
    pub fn hint(&self) -> String {
        hex::encode(Sha256::digest(self.to_pem().as_bytes()))
    }

    /// Checks a DER ECDSA signature (SHA-256) of `message`.
    pub fn verify(&self, message: &[u8], signature_der: &[u8]) -> Result<()> {
        let sig = Signature::from_der(signature_der)
            .map_err(|e| anyhow!("the signature is not a DER ECDSA signature: {e}"))?;
        self.verifying
            .verify(message, &sig)
            .map_err(|_| anyhow!("the signature does not verify with this public key"))
    }
}
