//! The errors of this crate.

/// Every way talking to the TPM can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TPM (or the TSS) returned an error.
    #[error("TPM: {0}")]
    Tpm(#[from] tss_esapi::Error),
    /// A TPM structure we read back did not parse.
    #[error("TPM structure: {0}")]
    Wire(#[from] blindfold_tpm::WireError),
    /// A file or process problem.
    #[error("{0}")]
    Io(String),
}
