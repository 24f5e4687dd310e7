//! Why a Nitro attestation document was refused, naming what differed.

/// Every way a Nitro attestation document can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a COSE_Sign1 structure.
    #[error("not a COSE_Sign1 attestation document: {0}")]
    Cose(String),
    /// The protected header names another algorithm than ES384.
    #[error("COSE algorithm is {0}, Nitro documents are signed with ES384")]
    Algorithm(String),
    /// The payload is not the attestation document map, or a field is malformed.
    #[error("attestation document payload: {0}")]
    Payload(String),
    /// The bundled root does not hash to the pinned value (a build problem).
    #[error("bundled AWS Nitro root: {0}")]
    BundledRoot(String),
    /// The signing certificate does not chain to the trusted root.
    #[error("certificate chain: {0}")]
    Chain(blindfold_x509::Error),
    /// The COSE signature does not verify under the signing certificate.
    #[error("COSE_Sign1 signature does not verify under the document's certificate \"{subject}\"")]
    BadSignature {
        /// The signing certificate's subject.
        subject: String,
    },
    /// The document is older than the maximum age at the verification time.
    #[error("document is stale: issued {issued}, checked at {at}, older than the maximum age {max_age}")]
    Stale {
        /// The document's timestamp.
        issued: String,
        /// The verification time.
        at: String,
        /// The maximum age allowed.
        max_age: String,
    },
    /// The document claims to be issued after the verification time.
    #[error("document is issued {issued}, after the verification time {at}")]
    FromTheFuture {
        /// The document's timestamp.
        issued: String,
        /// The verification time.
        at: String,
    },
    /// The document carries another nonce than the caller's.
    #[error("nonce differs: expected {expected}, document has {actual}")]
    NonceMismatch {
        /// The caller's nonce (hex).
        expected: String,
        /// The document's nonce (hex, or `none`).
        actual: String,
    },
    /// The caller's nonce is empty: it would match a document without one.
    #[error("the expected nonce is empty: an empty nonce proves no freshness")]
    EmptyNonce,
    /// A debug-mode enclave: its PCR 0–2 are zero and its memory is open to the parent.
    #[error("debug-mode enclave (PCR 0, 1 and 2 are all zero): its memory can be read by the parent instance; refused unless debug is allowed")]
    DebugEnclave,
}
