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
    /// The platform name has no NV layout here.
    #[error("no attester for platform {0:?} (known: local, tpm, azure-vtpm, azure-snp, azure-tdx, gcp-vtpm, aws-nitrotpm)")]
    UnknownPlatform(String),
    /// An NV index the platform's layout names is not defined.
    #[error("NV index {index:#010x} ({what}) is not defined on this TPM")]
    MissingNvIndex {
        /// The index.
        index: u32,
        /// What it should hold.
        what: &'static str,
    },
    /// A command sent as raw bytes (outside the TSS) failed at the TPM.
    #[error("TPM command {command:#010x} answered response code {code:#010x}")]
    RawCommand {
        /// The command code.
        command: u32,
        /// The TPM's response code.
        code: u32,
    },
    /// A raw response was cut short, too long or inconsistent.
    #[error("malformed TPM response to {command:#010x}: {why}")]
    RawResponse {
        /// The command code.
        command: u32,
        /// What was wrong.
        why: String,
    },
    /// The TPM's response HMAC did not verify: not the TPM the session was
    /// salted to, or an altered response.
    #[error("the TPM's response to {command:#010x} does not authenticate under the session")]
    ResponseHmac {
        /// The command code.
        command: u32,
    },
    /// Session cryptography (salt encryption) failed.
    #[error("session: {0}")]
    Crypto(#[from] blindfold_crypto::CryptoError),
    /// The Nitro Secure Module answered with an error or an unexpected response.
    #[error("Nitro Secure Module: {0}")]
    Nsm(String),
}
