//! The whole KMS key release as the enclave runs it on AWS, over two
//! seams: a [`Transport`] that sends a request and returns the answer's
//! body (IMDS over plain HTTP on the link-local address, KMS over HTTPS),
//! and a [`RecipientAttester`], the attester for AWS, which makes a
//! NitroTPM attestation document whose `public_key` is the enclave's RSA
//! key. The sequence: an IMDSv2 session token, the instance role's
//! credentials, a fresh RSA key, the attestation document over it, KMS
//! `Decrypt` with that `Recipient`, and the `CiphertextForRecipient`
//! opened with the key, which never leaves memory.
//!
//! Untested against live KMS and IMDS: `tests/release.rs` checks the
//! sequence and every request's bytes against a recording transport.

use std::time::SystemTime;

use zeroize::Zeroizing;

use crate::{
    imds_credentials_request, imds_token_request, kms_decrypt_request, open_for_recipient,
    parse_imds_credentials, parse_kms_decrypt_answer, Error, HttpRequest, RecipientKey,
};

/// Sends one request and returns the body of a 2xx answer (anything else
/// is an error naming the status).
pub trait Transport {
    /// Sends `request`.
    fn send(&mut self, request: &HttpRequest) -> Result<Vec<u8>, Error>;
}

/// The attester for AWS: a NitroTPM attestation document whose
/// `public_key` field is `public_key_spki_der`.
pub trait RecipientAttester {
    /// The document (COSE_Sign1, as the NitroTPM returns it).
    fn attestation_document(&mut self, public_key_spki_der: &[u8]) -> Result<Vec<u8>, Error>;
}

/// What the enclave asks KMS for.
#[derive(Debug, Clone)]
pub struct KmsRelease<'a> {
    /// The KMS key's region.
    pub region: &'a str,
    /// The instance role whose credentials sign the call.
    pub role: &'a str,
    /// The KMS key (id, ARN or alias), if the blob alone should not say.
    pub key_id: Option<&'a str>,
    /// The data key encrypted under the owner's KMS key.
    pub ciphertext_blob: &'a [u8],
}

/// Runs the release with a fresh RSA-2048 recipient key.
pub fn release_data_key(
    transport: &mut dyn Transport,
    attester: &mut dyn RecipientAttester,
    release: &KmsRelease<'_>,
    at: SystemTime,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    release_data_key_with(RecipientKey::generate()?, transport, attester, release, at)
}

/// Runs the release with `key` as the recipient key.
pub fn release_data_key_with(
    key: RecipientKey,
    transport: &mut dyn Transport,
    attester: &mut dyn RecipientAttester,
    release: &KmsRelease<'_>,
    at: SystemTime,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let token = Zeroizing::new(
        String::from_utf8(transport.send(&imds_token_request())?)
            .map_err(|_| Error::Request("the IMDSv2 token is not text".into()))?,
    );
    let credentials =
        parse_imds_credentials(&transport.send(&imds_credentials_request(token.trim(), release.role)?)?)?;
    let document = attester.attestation_document(&key.public_key_der()?)?;
    let request = kms_decrypt_request(
        release.region,
        release.key_id,
        release.ciphertext_blob,
        &document,
        &credentials,
        at,
    )?;
    let answer = transport.send(&request)?;
    open_for_recipient(&parse_kms_decrypt_answer(&answer)?, &key)
}
