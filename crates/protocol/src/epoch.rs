//! Epoch evidence (`docs/epoch-evidence.md`): attestation off the request
//! path, as an option clients may refuse.
//!
//! With per-session evidence every new session costs a TPM quote, and a
//! TPM quotes one at a time. Instead, the enclave makes a per-boot P-256
//! *evidence key* and quotes once per short epoch, with qualifying data
//! [`epoch_qualifying_data`]: the [`Purpose::Epoch`] label, the SHA-256 of
//! the evidence key's SPKI, the SHA-256 of the TLS leaf's SPKI, the epoch
//! number and the enclave's clock ([`EpochEvidenceV1`]). Each new session
//! then costs one signature: the evidence key signs
//! [`session_signed_bytes`] (a label, the client's nonce, the SHA-256 of
//! the TLS SPKI, the session's exported keying material and the SHA-256 of
//! the epoch quote's `TPMS_ATTEST`), served with the epoch evidence as a
//! [`SessionEvidenceV1`] at
//! [`SESSION_EVIDENCE_PATH`](crate::wellknown::SESSION_EVIDENCE_PATH).
//!
//! What it gives up, which the client's report states: the epoch's time is
//! the enclave's own clock (the operator sets it on `hypervisor`
//! platforms), so freshness is only as good as that clock and the client's
//! maximum age; and a stolen evidence key signs sessions until its epoch
//! is older than that maximum. A key broker never accepts it (its own
//! purpose label makes such a quote a nonce mismatch to any other check).
//!
//! Extension rule: both documents carry their version; a reader refuses
//! other versions and unknown fields.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::binding::{length_prefixed_sha256, Purpose};
use crate::encoding::b64;
use crate::error::Error;
use crate::evidence::EvidenceV1;

/// The label that starts what a session signature signs.
pub const SESSION_LABEL: &str = "blindfold/epoch/v1/session";
/// Seconds between two epoch quotes.
pub const EPOCH_SECONDS: u64 = 20;
/// The default maximum age (seconds) a client accepts for an epoch.
pub const DEFAULT_MAX_AGE_SECONDS: u64 = 60;

const EPOCH_FORMAT: &str = "Blindfold epoch evidence";
const SESSION_FORMAT: &str = "Blindfold session evidence";

/// One epoch's evidence: the quote and what its qualifying data binds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochEvidenceV1 {
    /// Always 1.
    pub blindfold_epoch: u64,
    /// The epoch's number (1 for the boot's first).
    pub epoch: u64,
    /// The enclave's clock when it quoted (Unix seconds): the operator's
    /// clock on `hypervisor` platforms.
    pub time: u64,
    /// The per-boot evidence key's SubjectPublicKeyInfo (DER, base64).
    #[serde(with = "b64")]
    pub evidence_key: Vec<u8>,
    /// SHA-256 (hex) of the TLS leaf's SubjectPublicKeyInfo it vouches for.
    pub tls_spki_sha256: String,
    /// The evidence, quoted over [`EpochEvidenceV1::qualifying_data`].
    pub evidence: EvidenceV1,
}

impl EpochEvidenceV1 {
    /// The version this type reads and writes.
    pub const VERSION: u64 = 1;

    /// The qualifying data its quote must carry (from its own fields).
    pub fn qualifying_data(&self) -> [u8; 32] {
        epoch_qualifying_data(&self.evidence_key, &self.tls_spki_sha256, self.epoch, self.time)
    }

    /// SHA-256 of its quote's `TPMS_ATTEST`: what session signatures cite.
    pub fn quote_sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.evidence.quote.message).into()
    }
}

/// What a client receives for one new session: the current epoch's
/// evidence and the evidence key's signature over this session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEvidenceV1 {
    /// Always 1.
    pub blindfold_session: u64,
    /// The epoch's evidence.
    pub epoch: EpochEvidenceV1,
    /// ECDSA P-256 / SHA-256 signature (DER, base64) by the evidence key
    /// over [`session_signed_bytes`].
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
}

impl SessionEvidenceV1 {
    /// The version this type reads and writes.
    pub const VERSION: u64 = 1;

    /// Reads a document, refusing other versions (of it or of the epoch
    /// evidence inside) and unknown fields.
    pub fn from_json(json: &[u8]) -> Result<SessionEvidenceV1, Error> {
        let doc: SessionEvidenceV1 = serde_json::from_slice(json).map_err(|e| Error::Malformed {
            format: SESSION_FORMAT,
            why: e.to_string(),
        })?;
        for (format, found, understood) in [
            (SESSION_FORMAT, doc.blindfold_session, Self::VERSION),
            (EPOCH_FORMAT, doc.epoch.blindfold_epoch, EpochEvidenceV1::VERSION),
            (
                "Blindfold evidence",
                doc.epoch.evidence.blindfold_evidence,
                EvidenceV1::VERSION,
            ),
        ] {
            if found != understood {
                return Err(Error::UnsupportedVersion {
                    format,
                    found,
                    understood,
                });
            }
        }
        Ok(doc)
    }

    /// Writes the document (compact JSON).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The qualifying data of an epoch quote: H(label ‖ H(evidence-key SPKI) ‖
/// H(TLS SPKI) ‖ epoch ‖ time), each field length-prefixed.
pub fn epoch_qualifying_data(
    evidence_key_spki_der: &[u8],
    tls_spki_sha256_hex: &str,
    epoch: u64,
    time: u64,
) -> [u8; 32] {
    let key_hash = Sha256::digest(evidence_key_spki_der);
    length_prefixed_sha256(&[
        Purpose::Epoch.label().as_bytes(),
        &key_hash,
        tls_spki_sha256_hex.to_ascii_lowercase().as_bytes(),
        &epoch.to_be_bytes(),
        &time.to_be_bytes(),
    ])
}

/// What the evidence key signs for one session: H(label ‖ nonce ‖ H(TLS
/// SPKI) ‖ exporter ‖ H(epoch quote)), each field length-prefixed.
pub fn session_signed_bytes(
    nonce: &[u8],
    tls_spki_der: &[u8],
    exporter: &[u8],
    epoch_quote_sha256: &[u8; 32],
) -> [u8; 32] {
    let spki_hash = Sha256::digest(tls_spki_der);
    length_prefixed_sha256(&[
        SESSION_LABEL.as_bytes(),
        nonce,
        &spki_hash,
        exporter,
        epoch_quote_sha256,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::qualifying_data;

    #[test]
    fn every_epoch_field_is_bound() {
        let base = epoch_qualifying_data(b"key", "ab", 1, 100);
        assert_ne!(base, epoch_qualifying_data(b"kez", "ab", 1, 100));
        assert_ne!(base, epoch_qualifying_data(b"key", "ac", 1, 100));
        assert_ne!(base, epoch_qualifying_data(b"key", "ab", 2, 100));
        assert_ne!(base, epoch_qualifying_data(b"key", "ab", 1, 101));
        // Hex case does not make another binding.
        assert_eq!(epoch_qualifying_data(b"key", "AB", 1, 100), base);
        // Never any other purpose's qualifying data.
        for purpose in [Purpose::ClientSession, Purpose::KeyRelease, Purpose::Receipt] {
            assert_ne!(base, qualifying_data(purpose, &[], b"key", &[]));
        }
    }

    #[test]
    fn every_session_field_is_signed() {
        let q = [5u8; 32];
        let base = session_signed_bytes(&[1; 32], b"spki", &[2; 32], &q);
        assert_ne!(base, session_signed_bytes(&[9; 32], b"spki", &[2; 32], &q));
        assert_ne!(base, session_signed_bytes(&[1; 32], b"spkj", &[2; 32], &q));
        assert_ne!(base, session_signed_bytes(&[1; 32], b"spki", &[9; 32], &q));
        assert_ne!(base, session_signed_bytes(&[1; 32], b"spki", &[2; 32], &[6; 32]));
    }

    #[test]
    fn other_versions_and_unknown_fields_are_refused() {
        let evidence = serde_json::json!({
            "blindfold_evidence": 1, "platform": "local",
            "quote": {"message": "", "signature": ""}, "pcrs": {}, "ak_public": "",
            "ak_cert_chain": [], "firmware_log": null, "runtime_log": []
        });
        let doc = |session: u64, epoch: u64, extra: bool| {
            let mut v = serde_json::json!({
                "blindfold_session": session,
                "epoch": {"blindfold_epoch": epoch, "epoch": 1, "time": 5, "evidence_key": "AA==",
                          "tls_spki_sha256": "00", "evidence": evidence},
                "signature": "AA=="
            });
            if extra {
                v["unchecked"] = serde_json::json!(1);
            }
            v.to_string()
        };
        let parsed = SessionEvidenceV1::from_json(doc(1, 1, false).as_bytes()).unwrap();
        assert_eq!(SessionEvidenceV1::from_json(&parsed.to_json()).unwrap(), parsed);
        assert!(matches!(
            SessionEvidenceV1::from_json(doc(2, 1, false).as_bytes()),
            Err(Error::UnsupportedVersion { found: 2, .. })
        ));
        assert!(matches!(
            SessionEvidenceV1::from_json(doc(1, 3, false).as_bytes()),
            Err(Error::UnsupportedVersion { found: 3, .. })
        ));
        assert!(matches!(
            SessionEvidenceV1::from_json(doc(1, 1, true).as_bytes()),
            Err(Error::Malformed { .. })
        ));
    }
}
