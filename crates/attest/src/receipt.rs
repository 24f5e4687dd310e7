//! Checking a signed receipt (`blindfold_protocol::receipt`) against the
//! evidence it cites: the only way to get a [`VerifiedReceipt`].
//!
//! In order: the evidence document is the one the receipt cites (its
//! SHA-256); the receipt key signed the receipt; the evidence verifies with
//! the receipt key's binding as its qualifying data (so a quote made for
//! any other key, or any other purpose, fails as a nonce mismatch); its
//! runtime log measured the model the receipt names. Appraising that
//! evidence against reference values is the caller's next step, as for any
//! [`VerifiedEvidence`]. [`open_receipt`] then checks, given the salt, that
//! the request and response bodies are the ones the receipt signs.

use blindfold_crypto::{default_provider, HashAlg, PublicKey, Signature, SignatureScheme};
use blindfold_protocol::receipt::{
    receipt_qualifying_data, request_digest, response_digest, ReceiptModel, ReceiptV1,
};
use blindfold_tpm::Freshness;

use crate::error::{Error, ReceiptError};
use crate::evidence::Evidence;
use crate::verify::{VerifiedEvidence, Verifier, VerifyOptions};

/// A receipt whose signature, cited evidence and model event were checked.
#[derive(Debug, Clone)]
pub struct VerifiedReceipt {
    /// The receipt.
    pub receipt: ReceiptV1,
    /// The evidence that vouches for its key, verified (not yet appraised).
    pub evidence: VerifiedEvidence,
}

/// Checks `receipt` against `evidence_json` (the document it cites) with
/// `options` (everything but freshness, which is the receipt key's binding).
pub fn verify_receipt(
    verifier: &Verifier,
    receipt: &ReceiptV1,
    evidence_json: &[u8],
    options: &VerifyOptions,
) -> Result<VerifiedReceipt, Error> {
    let given = default_provider()
        .hash(HashAlg::Sha256, &[evidence_json])
        .to_hex();
    if !given.eq_ignore_ascii_case(&receipt.evidence_sha256) {
        return Err(Error::Receipt(ReceiptError::NotTheCitedEvidence {
            cited: receipt.evidence_sha256.clone(),
            given,
        }));
    }
    let key = PublicKey::from_spki_der(&receipt.receipt_key)
        .map_err(|e| Error::Receipt(ReceiptError::Key(e.to_string())))?;
    let signature = Signature::ecdsa_from_der(&receipt.signature)
        .map_err(|e| Error::Receipt(ReceiptError::Signature(e.to_string())))?;
    default_provider()
        .verify_signature(
            &key,
            SignatureScheme::Ecdsa(HashAlg::Sha256),
            &receipt.signed_bytes(),
            &signature,
        )
        .map_err(|e| Error::Receipt(ReceiptError::Signature(e.to_string())))?;
    let evidence = Evidence::parse(evidence_json)?;
    let mut options = options.clone();
    options.freshness = Some(Freshness::Nonce(
        receipt_qualifying_data(&receipt.receipt_key).to_vec(),
    ));
    let verified = verifier.verify(&evidence, &options).map_err(|e| {
        if e.is_nonce_mismatch() {
            // Its quote binds another key (or another purpose's data).
            Error::Receipt(ReceiptError::KeyNotVouchedFor)
        } else {
            e
        }
    })?;
    let measured = verified
        .runtime_log()
        .and_then(|log| ReceiptModel::last_measured(&log.events));
    if measured != receipt.model {
        let show = |m: &Option<ReceiptModel>| match m {
            Some(m) => format!("{} (sha256 {})", m.name, m.sha256),
            None => "no model".into(),
        };
        return Err(Error::Receipt(ReceiptError::Model {
            receipt: show(&receipt.model),
            measured: show(&measured),
        }));
    }
    Ok(VerifiedReceipt {
        receipt: receipt.clone(),
        evidence: verified,
    })
}

/// Checks, with the receipt's `salt`, that `request` and `response` (each
/// when given) are the bodies it signs (for a streamed answer, the body
/// before the receipt's comment line).
pub fn open_receipt(
    receipt: &ReceiptV1,
    salt: &[u8],
    request: Option<&[u8]>,
    response: Option<&[u8]>,
) -> Result<(), Error> {
    if let Some(request) = request {
        if !hex::encode(request_digest(salt, request)).eq_ignore_ascii_case(&receipt.request_sha256) {
            return Err(Error::Receipt(ReceiptError::Opening { which: "request" }));
        }
    }
    if let Some(response) = response {
        if !hex::encode(response_digest(salt, response)).eq_ignore_ascii_case(&receipt.response_sha256) {
            return Err(Error::Receipt(ReceiptError::Opening { which: "response" }));
        }
    }
    Ok(())
}
