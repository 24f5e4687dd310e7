//! The errors of this crate.

/// Why a session was not attested.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// TCP or TLS failed (including a bad `CertificateVerify`).
    #[error("connection: {0}")]
    Connect(String),
    /// The enclave is answering as many evidence requests as it allows
    /// (HTTP 429): try again after `retry_after`. Nothing failed to verify.
    #[error("evidence request: the enclave is busy (HTTP 429); retry after {} ms", retry_after.as_millis())]
    Busy {
        /// How long the enclave asked to wait (`Retry-After`, else 1 s).
        retry_after: std::time::Duration,
    },
    /// The evidence request failed or its answer was unusable.
    #[error("evidence request: {0}")]
    Evidence(String),
    /// The evidence did not verify.
    #[error("evidence: {0}")]
    Verification(#[from] blindfold_attest::Error),
    /// The appraisal does not meet the acceptance rule.
    #[error("refused: {0}")]
    Refused(blindfold_attest::Refusal),
    /// The reference is in a foreign format (it names the format): the
    /// client appraises Blindfold references only.
    #[error("a {0} reference cannot vouch for a Blindfold enclave: it lists some PCRs and only warns about the others; give Blindfold reference values")]
    ForeignReference(&'static str),
}
