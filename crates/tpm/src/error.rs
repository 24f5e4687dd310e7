//! The errors of this crate: wire parsing, then quote verification.

use blindfold_crypto::{CryptoError, HashAlg};

use crate::pcr::PcrIndex;

/// A structure could not be read from its bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended inside a structure.
    #[error("{structure}: truncated at offset {offset}: needed {needed} more bytes, {remaining} left")]
    Truncated {
        /// Structure being read.
        structure: &'static str,
        /// Offset inside that structure.
        offset: usize,
        /// Bytes the next field needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// Bytes were left after the structure ended.
    #[error("{structure}: {count} trailing bytes after the structure")]
    TrailingBytes {
        /// Structure that was read.
        structure: &'static str,
        /// How many bytes were left.
        count: usize,
    },
    /// A size field exceeds what the specification allows.
    #[error("{structure}: size {size} exceeds the maximum {max}")]
    TooLarge {
        /// The sized structure.
        structure: &'static str,
        /// The size found.
        size: usize,
        /// The largest size allowed.
        max: usize,
    },
    /// A field holds a value the specification does not allow there.
    #[error("{structure}: invalid {field} {value}")]
    InvalidValue {
        /// Structure being read.
        structure: &'static str,
        /// The field.
        field: &'static str,
        /// The value found (hex or decimal).
        value: String,
    },
    /// An algorithm identifier we do not implement.
    #[error("{structure}: unsupported {field} algorithm 0x{alg:04x}")]
    UnsupportedAlgorithm {
        /// Structure being read.
        structure: &'static str,
        /// What the algorithm is for (hash, signature scheme, key type, curve).
        field: &'static str,
        /// The `TPM_ALG_ID` (or `TPM_ECC_CURVE`) found.
        alg: u16,
    },
}

/// Every way TPM structure handling and quote verification can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- parsing ----
    /// A structure could not be parsed.
    #[error(transparent)]
    Wire(#[from] WireError),

    // ---- the attestation key ----
    /// The AK public area is not a restricted, fixedTPM signing key, so a
    /// `TPM_GENERATED` message signed by it proves nothing.
    #[error(
        "attestation key is not a restricted fixedTPM signing key (objectAttributes 0x{attributes:08x})"
    )]
    AkNotRestrictedSigningKey {
        /// The key's `TPMA_OBJECT`.
        attributes: u32,
    },
    /// The AK could not be used.
    #[error("attestation key: {0}")]
    AkUnusable(CryptoError),
    /// The signature's scheme is not the one the AK is bound to.
    #[error("signature scheme {actual} differs from the attestation key's scheme {expected}")]
    SchemeMismatch {
        /// The AK's scheme.
        expected: String,
        /// The signature's scheme.
        actual: String,
    },
    /// A SHA-1 signature, refused unless the caller opted in.
    #[error("quote is signed with SHA-1, which is refused (opt in with allow_sha1 only for legacy TPMs)")]
    Sha1Refused,

    // ---- the quote ----
    /// The message does not start with `TPM_GENERATED_VALUE` (0xff544347).
    #[error("quote magic is 0x{actual:08x}, expected TPM_GENERATED_VALUE 0xff544347")]
    NotTpmGenerated {
        /// The magic found.
        actual: u32,
    },
    /// The attestation structure is not a quote.
    #[error("attestation type is 0x{actual:04x}, expected TPM_ST_ATTEST_QUOTE 0x8018")]
    NotAQuote {
        /// The type found.
        actual: u16,
    },
    /// The signature does not verify under the attestation key.
    #[error("quote signature: {0}")]
    BadSignature(CryptoError),
    /// The quote selects a PCR for which no value was supplied.
    #[error("PCR {index} ({bank}) is selected by the quote but no value was supplied")]
    PcrValueMissing {
        /// The bank.
        bank: HashAlg,
        /// The PCR.
        index: PcrIndex,
    },
    /// The supplied PCR values do not hash to the quoted PCR digest.
    #[error("PCR digest: quote says {expected}, supplied PCR values hash to {actual}")]
    PcrDigestMismatch {
        /// `pcrDigest` from the signed quote.
        expected: String,
        /// Digest of the supplied values.
        actual: String,
    },
    /// An empty nonce proves nothing (quotes made without one match it).
    #[error("the expected nonce is empty: freshness needs a nonce")]
    EmptyNonce,
    /// The quote's `extraData` is not the caller's nonce.
    #[error("quote extraData {actual} is not the expected nonce {expected}")]
    NonceMismatch {
        /// The nonce the caller expected (hex).
        expected: String,
        /// The quote's extraData (hex).
        actual: String,
    },
}
