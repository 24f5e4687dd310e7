//! # blindfold-crypto
//!
//! The one small seam through which every Blindfold verifier hashes bytes and
//! checks signatures, and through which sealed model weights are encrypted
//! and opened (AES-256-GCM): the [`CryptoProvider`] trait, the library-neutral key,
//! scheme and digest types it speaks, and two implementations: [`RustCrypto`]
//! (pure Rust: `sha1`, `sha2`, `sm3`, `rsa`, `p256`, `p384`) and [`Ring`]
//! (the default: `ring` for the RSA and ECDSA checks it implements, several
//! times faster, RustCrypto for the rest). Tests run both on the same
//! quotes, so each is an oracle for the other.
//!
//! What it is **not**: it knows nothing about TPMs, certificates or policy.
//! It does not decide which algorithms are acceptable (SHA-1 signatures, for
//! example, are refused by the TPM verifier, not here); it only computes.
//! It holds no signing keys; the AEAD keys it is given ([`AeadKey`]) are
//! wiped on drop and never printed.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod aead;
mod digest;
mod key;
mod ring_provider;
mod rustcrypto;

pub use aead::{AeadKey, AEAD_KEY_LEN, AEAD_NONCE_LEN, AEAD_TAG_LEN};
pub use digest::{ct_eq, Digest, HashAlg};
pub use key::{EccCurve, PublicKey, Signature, SignatureScheme};
pub use ring_provider::Ring;
pub use rustcrypto::RustCrypto;

/// Errors from key decoding and signature checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The signature does not verify under the key for this message.
    #[error("signature does not verify ({scheme} with {key})")]
    BadSignature {
        /// The scheme that was checked.
        scheme: SignatureScheme,
        /// A short description of the key (type and size).
        key: String,
    },
    /// The key and the scheme or signature do not fit together
    /// (an ECDSA signature for an RSA key, a P-384 point for P-256, ...).
    #[error("key and signature do not match: {0}")]
    KeySchemeMismatch(String),
    /// The public key bytes do not describe a usable key.
    #[error("invalid public key: {0}")]
    InvalidKey(String),
    /// An AEAD ciphertext did not authenticate under the key, nonce and
    /// associated data: it was altered, or opened with the wrong ones.
    #[error("the ciphertext does not authenticate (altered, or another key, nonce or associated data)")]
    AeadOpen,
    /// The plaintext is longer than AES-GCM allows under one nonce (64 GiB).
    #[error("the plaintext is too long for one AES-GCM nonce")]
    AeadSeal,
    /// The SubjectPublicKeyInfo uses an algorithm this provider does not support.
    #[error("unsupported public key algorithm {0} (supported: RSA, EC P-256, EC P-384)")]
    UnsupportedKeyAlgorithm(String),
}

/// Hashing and signature verification, the only cryptography the verifier
/// side needs. One implementation ([`RustCrypto`]) ships; a `ring` or
/// hardware-backed one can replace it without touching the verifiers.
pub trait CryptoProvider: Send + Sync + std::fmt::Debug {
    /// Hashes the concatenation of `parts` with `alg`.
    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Digest;

    /// Checks that `signature` is a valid `scheme` signature by `key` over
    /// `message` (the message itself, not its digest: the provider hashes it
    /// with the scheme's hash algorithm).
    fn verify_signature(
        &self,
        key: &PublicKey,
        scheme: SignatureScheme,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError>;

    /// AES-256-GCM: encrypts `in_out` in place and appends the 16-byte tag.
    /// Each nonce must be used once per key (the caller's construction
    /// guarantees it).
    fn aes256gcm_seal(
        &self,
        key: &AeadKey,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        in_out: &mut Vec<u8>,
    ) -> Result<(), CryptoError>;

    /// AES-256-GCM: checks the tag at the end of `in_out` and decrypts in
    /// place, leaving the plaintext; on failure `in_out` holds no plaintext.
    fn aes256gcm_open(
        &self,
        key: &AeadKey,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        in_out: &mut Vec<u8>,
    ) -> Result<(), CryptoError>;

    /// HMAC with `alg` over the concatenation of `parts` (the attester's
    /// TPM sessions: KDFa and command authorization).
    fn hmac(&self, alg: HashAlg, key: &[u8], parts: &[&[u8]]) -> Digest;

    /// RSA-OAEP encryption of `message` to `key` with `alg` as the hash and
    /// mask hash and `label` (a TPM session's salt, to the TPM's EK).
    fn rsa_oaep_encrypt(
        &self,
        key: &PublicKey,
        alg: HashAlg,
        label: &[u8],
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;
}

/// The provider the verifiers use when the caller does not choose one ([`Ring`]).
pub fn default_provider() -> &'static dyn CryptoProvider {
    static PROVIDER: Ring = Ring;
    &PROVIDER
}

/// Every provider this crate ships, for tests that check them against each other.
pub fn all_providers() -> [&'static dyn CryptoProvider; 2] {
    static RING: Ring = Ring;
    static RUSTCRYPTO: RustCrypto = RustCrypto;
    [&RING, &RUSTCRYPTO]
}
