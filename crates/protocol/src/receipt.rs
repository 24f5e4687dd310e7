//! Signed receipts (`docs/receipts.md`): which measured enclave produced
//! which answer, provable by the client or later, offline, by an auditor.
//!
//! At start, after its model is measured, the enclave makes a P-256
//! *receipt key* in memory and quotes it once: evidence whose qualifying
//! data is [`receipt_qualifying_data`] (the [`Purpose::Receipt`] label and
//! the key's SPKI), served at
//! [`RECEIPT_EVIDENCE_PATH`](crate::wellknown::RECEIPT_EVIDENCE_PATH).
//! Every answer to a `POST` then carries a [`ReceiptV1`] signed with that
//! key over the SHA-256 of that evidence document, a per-boot counter, the
//! measured model, and *salted* digests of the request and response bodies
//! ([`request_digest`], [`response_digest`]: a bare hash of a short prompt
//! could be guessed). The salt travels beside the receipt
//! ([`IssuedReceiptV1`]), so the client can publish the receipt without
//! opening its digests, and open them later by giving the salt.
//!
//! A complete answer carries it in the [`RECEIPT_HEADER`] header (base64 of
//! an [`IssuedReceiptV1`]); a streamed one as an SSE comment
//! ([`RECEIPT_COMMENT_PREFIX`]) just before `data: [DONE]`, which SSE
//! clients that do not know it skip. A streamed answer's response digest
//! covers every byte of the body before that comment.
//!
//! Extension rule: the receipt carries its version; a reader refuses other
//! versions and unknown fields.

use serde::{Deserialize, Serialize};

use sha2::{Digest as _, Sha256};

use crate::binding::{qualifying_data, Purpose};
use crate::encoding::b64;
use crate::error::Error;
use crate::runtime_log::RuntimeEvent;

/// The label that starts what a receipt signs.
pub const RECEIPT_LABEL: &str = "blindfold/receipt/v1";
/// The header of a complete answer that carries its receipt (base64 of an
/// [`IssuedReceiptV1`] as JSON).
pub const RECEIPT_HEADER: &str = "blindfold-receipt";
/// What starts the SSE comment line that carries a streamed answer's
/// receipt: the prefix, then an [`IssuedReceiptV1`] as one line of JSON.
pub const RECEIPT_COMMENT_PREFIX: &str = ": blindfold-receipt ";
/// Bytes of a receipt's salt.
pub const SALT_LEN: usize = 32;

const FORMAT: &str = "Blindfold receipt";

/// The model event a receipt names (as the enclave measured it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptModel {
    /// Its name.
    pub name: String,
    /// SHA-256 of its weights (hex).
    pub sha256: String,
}

impl ReceiptModel {
    /// The last model a runtime log measured, as a receipt names it.
    pub fn last_measured(events: &[RuntimeEvent]) -> Option<ReceiptModel> {
        events.iter().rev().find_map(|e| match e {
            RuntimeEvent::Model { name, sha256 } => Some(ReceiptModel {
                name: name.clone(),
                sha256: hex::encode(sha256),
            }),
            _ => None,
        })
    }
}

/// A signed receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptV1 {
    /// Always 1.
    pub blindfold_receipt: u64,
    /// SHA-256 (hex) of the receipt evidence document that quotes the key.
    pub evidence_sha256: String,
    /// The receipt key's SubjectPublicKeyInfo (DER, base64).
    #[serde(with = "b64")]
    pub receipt_key: Vec<u8>,
    /// This boot's count of receipts, from 1.
    pub counter: u64,
    /// The model the enclave measured, if it serves one.
    pub model: Option<ReceiptModel>,
    /// [`request_digest`] of the request body (hex).
    pub request_sha256: String,
    /// [`response_digest`] of the response body (hex).
    pub response_sha256: String,
    /// ECDSA P-256 SHA-256 (DER, base64) over [`ReceiptV1::signed_bytes`].
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
}

/// A receipt as the enclave hands it out: with the salt that opens its
/// digests (keep it private to keep them closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedReceiptV1 {
    /// The receipt.
    pub receipt: ReceiptV1,
    /// The salt of both digests (hex, [`SALT_LEN`] bytes).
    pub salt: String,
}

impl ReceiptV1 {
    /// The version this type reads and writes.
    pub const VERSION: u64 = 1;

    /// What the signature covers: every field but the signature, each
    /// length-prefixed after the label, so no two receipts sign the same
    /// bytes.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let counter = self.counter.to_be_bytes();
        let version = self.blindfold_receipt.to_be_bytes();
        let (has_model, name, sha) = match &self.model {
            Some(m) => (&[1u8][..], m.name.as_bytes(), m.sha256.as_bytes()),
            None => (&[0u8][..], &b""[..], &b""[..]),
        };
        let fields: [&[u8]; 10] = [
            RECEIPT_LABEL.as_bytes(),
            &version,
            self.evidence_sha256.as_bytes(),
            &self.receipt_key,
            &counter,
            has_model,
            name,
            sha,
            self.request_sha256.as_bytes(),
            self.response_sha256.as_bytes(),
        ];
        let mut out = Vec::new();
        for f in fields {
            out.extend_from_slice(&(f.len() as u32).to_be_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    /// Reads a receipt, refusing other versions and unknown fields.
    pub fn from_json(json: &[u8]) -> Result<ReceiptV1, Error> {
        let receipt: ReceiptV1 = serde_json::from_slice(json).map_err(|e| Error::Malformed {
            format: FORMAT,
            why: e.to_string(),
        })?;
        receipt.check_version()?;
        Ok(receipt)
    }

    fn check_version(&self) -> Result<(), Error> {
        if self.blindfold_receipt != Self::VERSION {
            return Err(Error::UnsupportedVersion {
                format: FORMAT,
                found: self.blindfold_receipt,
                understood: Self::VERSION,
            });
        }
        Ok(())
    }
}

impl IssuedReceiptV1 {
    /// Reads an issued receipt (receipt and salt), refusing other versions
    /// and unknown fields.
    pub fn from_json(json: &[u8]) -> Result<IssuedReceiptV1, Error> {
        let issued: IssuedReceiptV1 = serde_json::from_slice(json).map_err(|e| Error::Malformed {
            format: FORMAT,
            why: e.to_string(),
        })?;
        issued.receipt.check_version()?;
        Ok(issued)
    }

    /// Writes it as one line of JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The receipt in a streamed answer's body, if the body has one: the
    /// comment line's JSON, and the body bytes before it (what its response
    /// digest covers).
    pub fn find_in_stream(body: &[u8]) -> Option<(&[u8], Result<IssuedReceiptV1, Error>)> {
        let prefix = format!("\n{RECEIPT_COMMENT_PREFIX}");
        let at = body
            .windows(prefix.len())
            .rposition(|w| w == prefix.as_bytes())
            .map(|p| p + 1)
            .or_else(|| body.starts_with(RECEIPT_COMMENT_PREFIX.as_bytes()).then_some(0))?;
        let line = &body[at + RECEIPT_COMMENT_PREFIX.len()..];
        let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
        Some((&body[..at], IssuedReceiptV1::from_json(&line[..end])))
    }
}

/// The salted digest of a request body a receipt signs.
pub fn request_digest(salt: &[u8], body: &[u8]) -> [u8; 32] {
    let mut h = BodyHasher::new("request", salt);
    h.update(body);
    h.finish()
}

/// The salted digest of a response body a receipt signs.
pub fn response_digest(salt: &[u8], body: &[u8]) -> [u8; 32] {
    let mut h = BodyHasher::response(salt);
    h.update(body);
    h.finish()
}

/// A salted body digest computed as the body goes by: SHA-256 over the
/// length-prefixed label (`blindfold/receipt/v1/request` or `.../response`)
/// and salt, then the body (last, so its length need not be known first).
#[derive(Debug, Clone)]
pub struct BodyHasher(Sha256);

impl BodyHasher {
    fn new(which: &str, salt: &[u8]) -> BodyHasher {
        let label = format!("{RECEIPT_LABEL}/{which}");
        let mut h = Sha256::new();
        for field in [label.as_bytes(), salt] {
            h.update((field.len() as u32).to_be_bytes());
            h.update(field);
        }
        BodyHasher(h)
    }

    /// The hasher of a response body salted with `salt`.
    pub fn response(salt: &[u8]) -> BodyHasher {
        BodyHasher::new("response", salt)
    }

    /// Adds the next bytes of the body.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest.
    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// The qualifying data of the quote that vouches for a receipt key: the
/// [`Purpose::Receipt`] binding of the key's SPKI (no nonce, no session:
/// the key is made once per boot and the evidence is for anyone, later).
pub fn receipt_qualifying_data(receipt_key_spki_der: &[u8]) -> [u8; 32] {
    qualifying_data(Purpose::Receipt, &[], receipt_key_spki_der, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> ReceiptV1 {
        ReceiptV1 {
            blindfold_receipt: 1,
            evidence_sha256: "ab".repeat(32),
            receipt_key: vec![1, 2, 3],
            counter: 7,
            model: Some(ReceiptModel {
                name: "m".into(),
                sha256: "cd".repeat(32),
            }),
            request_sha256: hex::encode(request_digest(&[9; 32], b"hi")),
            response_sha256: hex::encode(response_digest(&[9; 32], b"hi")),
            signature: vec![],
        }
    }

    #[test]
    fn every_field_is_signed() {
        let base = receipt().signed_bytes();
        let mut changed = receipt();
        changed.counter = 8;
        assert_ne!(changed.signed_bytes(), base);
        let mut changed = receipt();
        changed.model = None;
        assert_ne!(changed.signed_bytes(), base);
        let mut changed = receipt();
        changed.receipt_key = vec![1, 2];
        assert_ne!(changed.signed_bytes(), base);
        // The signature itself is not.
        let mut changed = receipt();
        changed.signature = vec![5];
        assert_eq!(changed.signed_bytes(), base);
    }

    #[test]
    fn request_and_response_digests_differ_and_need_the_salt() {
        assert_ne!(request_digest(&[1; 32], b"x"), response_digest(&[1; 32], b"x"));
        assert_ne!(request_digest(&[1; 32], b"x"), request_digest(&[2; 32], b"x"));
        // Fed in pieces, the same digest.
        let mut h = BodyHasher::response(&[1; 32]);
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(h.finish(), response_digest(&[1; 32], b"abc"));
    }

    #[test]
    fn a_streamed_receipt_is_found_after_the_events_it_covers() {
        let issued = IssuedReceiptV1 {
            receipt: receipt(),
            salt: "00".repeat(32),
        };
        let events = b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\n".to_vec();
        let mut body = events.clone();
        body.extend_from_slice(RECEIPT_COMMENT_PREFIX.as_bytes());
        body.extend_from_slice(&issued.to_json());
        body.extend_from_slice(b"\n\ndata: [DONE]\n\n");
        let (covered, found) = IssuedReceiptV1::find_in_stream(&body).unwrap();
        assert_eq!(covered, &events[..]);
        assert_eq!(found.unwrap(), issued);
        assert!(IssuedReceiptV1::find_in_stream(&events).is_none());
    }

    #[test]
    fn other_versions_and_unknown_fields_are_refused() {
        let mut r = receipt();
        r.blindfold_receipt = 2;
        let json = serde_json::to_vec(&r).unwrap();
        assert!(matches!(
            ReceiptV1::from_json(&json),
            Err(Error::UnsupportedVersion { found: 2, .. })
        ));
        let mut v: serde_json::Value = serde_json::to_value(receipt()).unwrap();
        v["extra"] = 1.into();
        assert!(matches!(
            ReceiptV1::from_json(v.to_string().as_bytes()),
            Err(Error::Malformed { .. })
        ));
    }
}
