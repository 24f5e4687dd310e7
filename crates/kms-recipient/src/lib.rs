//! The enclave's half of the AWS KMS path for sealed models
//! (`docs/sealed-models.md`, "The AWS KMS path"): the owner's data key,
//! encrypted under the owner's KMS key, is released by KMS only to an
//! instance whose NitroTPM attestation matches the key policy, sealed to an
//! RSA key made inside the enclave.
//!
//! What it is for: opening KMS's `CiphertextForRecipient` (CMS
//! EnvelopedData, RSAES-OAEP-SHA-256 key transport, AES-256-CBC content,
//! BER as KMS sends it: [`open_for_recipient`]), and building the KMS
//! `Decrypt` request with a `Recipient` and the IMDSv2 requests for the
//! instance role's credentials, as bytes ([`kms_decrypt_request`]); and the
//! whole release in order ([`release_data_key`]) behind two seams the
//! AWS deployment fills: a [`Transport`] and the attester for AWS
//! ([`RecipientAttester`]).
//!
//! What it is not: a network client (no I/O: the caller sends the bytes),
//! an attester (the NitroTPM attestation document comes from the attester
//! for AWS), or a verifier. Tested against envelopes made by `openssl cms
//! -encrypt -stream` and SigV4 against AWS's published example and a real
//! S3-compatible server; untested against live KMS, which nothing here can
//! reach.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ber;
mod envelope;
mod release;
mod request;

pub use ber::{to_der as ber_to_der, MAX_DEPTH};
pub use envelope::{open_for_recipient, RecipientKey};
pub use release::{release_data_key, release_data_key_with, KmsRelease, RecipientAttester, Transport};
pub use request::{
    imds_credentials_request, imds_token_request, kms_decrypt_request, parse_imds_credentials,
    parse_kms_decrypt_answer, sign_v4, signing_key, Credentials, HttpRequest, IMDS_HOST, IMDS_TOKEN_TTL_S,
};

/// Why a KMS answer could not be opened or a request built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The BER could not be read (what is wrong, where).
    #[error("KMS envelope BER: {0}")]
    Ber(String),
    /// Not the CMS structure KMS sends.
    #[error("KMS envelope: {0}")]
    Envelope(String),
    /// An algorithm other than the ones KMS uses for a recipient.
    #[error("KMS envelope: {0}")]
    Algorithm(String),
    /// The wrapped content key does not open with this RSA key.
    #[error(
        "KMS envelope: the content key does not open with this enclave's RSA key (sealed to another key)"
    )]
    KeyTransport,
    /// The content does not decrypt to well-padded plaintext.
    #[error("KMS envelope: the content does not decrypt (bad padding: altered, or another content key)")]
    Padding,
    /// A request could not be built or an answer read.
    #[error("KMS request: {0}")]
    Request(String),
}
