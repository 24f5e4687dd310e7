//! Chain errors, each naming the certificate (by subject) and what differed.

/// Why a certificate or chain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a certificate.
    #[error("not an X.509 certificate: {0}")]
    Parse(String),
    /// No trusted root or known intermediate issued this certificate.
    #[error("no trusted issuer for \"{subject}\" (issuer \"{issuer}\" is not a trusted root or known intermediate)")]
    UnknownIssuer {
        /// The certificate.
        subject: String,
        /// Its issuer name.
        issuer: String,
    },
    /// The issuer's key did not sign this certificate.
    #[error("signature on \"{subject}\" does not verify under \"{issuer}\"")]
    BadSignature {
        /// The certificate.
        subject: String,
        /// The issuer tried.
        issuer: String,
    },
    /// A signature algorithm we do not support.
    #[error("\"{subject}\": unsupported signature algorithm {oid}")]
    UnsupportedSignatureAlgorithm {
        /// The certificate.
        subject: String,
        /// The algorithm OID.
        oid: String,
    },
    /// The certificate had expired at the verification time.
    #[error("\"{subject}\" expired at {not_after} (checked at {at})")]
    Expired {
        /// The certificate.
        subject: String,
        /// Its notAfter.
        not_after: String,
        /// The verification time.
        at: String,
    },
    /// The certificate was not yet valid at the verification time.
    #[error("\"{subject}\" is not valid before {not_before} (checked at {at})")]
    NotYetValid {
        /// The certificate.
        subject: String,
        /// Its notBefore.
        not_before: String,
        /// The verification time.
        at: String,
    },
    /// An issuing certificate is not a CA (basic constraints or key usage).
    #[error("\"{subject}\" issues certificates but is not a CA: {why}")]
    NotACa {
        /// The issuing certificate.
        subject: String,
        /// What is missing.
        why: String,
    },
    /// The chain is longer than an issuer's pathLenConstraint allows.
    #[error("\"{subject}\" allows {allowed} intermediate(s) below it, the chain has {actual}")]
    PathLenExceeded {
        /// The constraining CA.
        subject: String,
        /// Its pathLenConstraint.
        allowed: u8,
        /// Intermediates below it.
        actual: usize,
    },
    /// A critical extension this verifier does not process.
    #[error("\"{subject}\": unhandled critical extension {oid}")]
    UnhandledCriticalExtension {
        /// The certificate.
        subject: String,
        /// The extension OID.
        oid: String,
    },
    /// The leaf's key usage does not allow signing.
    #[error("\"{subject}\": key usage does not include digitalSignature")]
    LeafCannotSign {
        /// The leaf.
        subject: String,
    },
    /// The evidence presents more intermediates than any real chain needs.
    #[error("{count} intermediate certificates presented, at most {max} are accepted")]
    TooManyIntermediates {
        /// Presented.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// Path building spent its signature-check budget without finding a path.
    #[error("no certificate path found within the signature-check budget")]
    PathSearchExhausted,
    /// The leaf's key cannot be used.
    #[error("\"{subject}\": public key: {why}")]
    LeafKey {
        /// The leaf.
        subject: String,
        /// What is wrong.
        why: String,
    },
}
