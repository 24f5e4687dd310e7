//! The per-boot TLS key: a P-256 key made in memory and never written
//! anywhere, used directly by rustls and by the certificate builder. The
//! receipt key (`crate::receipts`) and the evidence key (`crate::epochs`)
//! are other keys of the same kind.
//!
//! Signing is ring's (its P-256 is several times faster than a portable
//! one, and an epoch session costs two signatures: the handshake's and
//! the session's). The random seed and the PKCS#8 encoding the key is
//! loaded from are wiped as soon as it is loaded; ring's own copy lives
//! for the boot and is not wiped on drop (ring offers no wiping), so the
//! secret leaves memory when the process does.

use std::sync::Arc;

use p256::pkcs8::EncodePrivateKey as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING};
use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};

/// The enclave's TLS key.
#[derive(Clone)]
pub struct TlsKey {
    key: Arc<EcdsaKeyPair>,
    rng: SystemRandom,
    public_point: Vec<u8>,
    /// Test builds only: the key as PKCS#8, for the stolen-key relay test.
    #[cfg(debug_assertions)]
    pkcs8: Arc<zeroize::Zeroizing<Vec<u8>>>,
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
        let secret = loop {
            getrandom::getrandom(seed.as_mut()).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
            if let Ok(secret) = p256::SecretKey::from_slice(seed.as_ref()) {
                break secret;
            }
        };
        // A SecretDocument: wiped when dropped, at the end of this function.
        let pkcs8 = secret
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("encoding the key: {e}"))?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_bytes(), &rng)
            .map_err(|e| anyhow::anyhow!("loading the key: {e}"))?;
        Ok(TlsKey {
            public_point: key.public_key().as_ref().to_vec(),
            key: Arc::new(key),
            rng,
            #[cfg(debug_assertions)]
            pkcs8: Arc::new(zeroize::Zeroizing::new(pkcs8.as_bytes().to_vec())),
        })
    }

    /// Test builds only: the key as PKCS#8, for the stolen-key relay test.
    #[cfg(debug_assertions)]
    pub fn test_only_pkcs8(&self) -> Vec<u8> {
        self.pkcs8.to_vec()
    }

    /// The public key as a SubjectPublicKeyInfo (DER).
    pub fn spki_der(&self) -> anyhow::Result<Vec<u8>> {
        let pair = rcgen::KeyPair::from_remote(Box::new(self.clone()))
            .map_err(|e| anyhow::anyhow!("encoding the public key: {e}"))?;
        Ok(pair.public_key_der())
    }

    /// An ECDSA P-256 SHA-256 signature (DER) over `message`; empty,
    /// which no verifier accepts, only if the OS random source fails.
    pub fn sign_der(&self, message: &[u8]) -> Vec<u8> {
        self.key
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .unwrap_or_default()
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
        self.key
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| rustls::Error::General("signing failed: the random source failed".into()))
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ECDSA_NISTP256_SHA256
    }
}
