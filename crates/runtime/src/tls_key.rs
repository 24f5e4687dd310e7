//! The per-boot TLS key: a P-256 key made in memory, never written
//! anywhere, wiped when dropped (`p256::ecdsa::SigningKey` zeroizes its
//! scalar on drop), and used directly by rustls and by the certificate
//! builder, so no other copy of the secret exists. The receipt key
//! (`crate::receipts`) is another key of the same kind.

use std::sync::Arc;

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey as P256Key};
use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};

/// The enclave's TLS key.
#[derive(Clone)]
pub struct TlsKey {
    key: Arc<P256Key>,
    public_point: Vec<u8>,
}

impl std::fmt::Debug for TlsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsKey(P-256, secret not shown)")
    }
}

impl TlsKey {
    /// A fresh key from the OS random source.
    pub fn generate() -> anyhow::Result<TlsKey> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        loop {
            getrandom::getrandom(seed.as_mut()).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
            if let Ok(key) = P256Key::from_slice(seed.as_ref()) {
                let public_point = key.verifying_key().to_encoded_point(false).as_bytes().to_vec();
                return Ok(TlsKey {
                    key: Arc::new(key),
                    public_point,
                });
            }
        }
    }

    /// Test builds only: the key as PKCS#8, for the stolen-key relay test.
    #[cfg(debug_assertions)]
    pub fn test_only_pkcs8(&self) -> Vec<u8> {
        use p256::pkcs8::EncodePrivateKey;
        p256::SecretKey::from_bytes(&self.key.to_bytes())
            .ok()
            .and_then(|k| k.to_pkcs8_der().ok())
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default()
    }

    /// The public key as a SubjectPublicKeyInfo (DER).
    pub fn spki_der(&self) -> anyhow::Result<Vec<u8>> {
        let pair = rcgen::KeyPair::from_remote(Box::new(self.clone()))
            .map_err(|e| anyhow::anyhow!("encoding the public key: {e}"))?;
        Ok(pair.public_key_der())
    }

    /// An ECDSA P-256 SHA-256 signature (DER) over `message`.
    pub fn sign_der(&self, message: &[u8]) -> Vec<u8> {
        let sig: DerSignature = self.key.sign(message);
        sig.as_bytes().to_vec()
    }
}

impl rcgen::RemoteKeyPair for TlsKey {
    fn public_key(&self) -> &[u8] {
        &self.public_point
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.sign_der(msg))
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for TlsKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&SignatureScheme::ECDSA_NISTP256_SHA256)
            .then(|| Box::new(self.clone()) as Box<dyn Signer>)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }
}

impl Signer for TlsKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        Ok(self.sign_der(message))
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ECDSA_NISTP256_SHA256
    }
}
