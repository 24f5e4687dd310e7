//! Checking a session against epoch evidence (`blindfold_protocol::epoch`),
//! in the order a client must: [`verify_epoch`] checks the chain, the
//! quote's signature, the PCRs with the runtime log replayed to *that*
//! quote and the qualifying data recomputed from the epoch's own fields
//! (the only part a client may cache, keyed by the whole epoch document);
//! [`check_session`] then checks, for every session and never from a
//! cache, that the session's TLS leaf is the one the quote names, that the
//! evidence key signed this session's nonce and exporter, and that the
//! epoch is no older than the client's maximum by the client's clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blindfold_crypto::{default_provider, EccCurve, HashAlg, PublicKey, Signature, SignatureScheme};
use blindfold_protocol::epoch::{session_signed_bytes, EpochEvidenceV1, SessionEvidenceV1};
use blindfold_tpm::Freshness;

use crate::error::{EpochError, Error};
use crate::evidence::Evidence;
use crate::verify::{VerifiedEvidence, Verifier, VerifyOptions};

/// How far ahead of the client's clock an epoch's time may be (seconds):
/// more would let an operator who sets the enclave's clock ahead stretch
/// an epoch past the client's maximum age.
pub const MAX_CLOCK_AHEAD_SECONDS: u64 = 5;

/// The client's own session, as it saw it.
#[derive(Debug, Clone, Copy)]
pub struct SessionFacts<'a> {
    /// The nonce it sent.
    pub nonce: &'a [u8],
    /// The TLS leaf's SubjectPublicKeyInfo (DER) its handshake verified.
    pub leaf_spki_der: &'a [u8],
    /// The session's exported keying material.
    pub exporter: &'a [u8],
}

/// The epoch a session was checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochAge {
    /// The epoch's number.
    pub epoch: u64,
    /// The enclave's clock when it quoted (Unix seconds).
    pub time: u64,
    /// Its age by the client's clock when checked (0 if slightly ahead).
    pub age: Duration,
}

/// Verifies an epoch's evidence with `options` (everything but freshness,
/// which is the epoch's own binding): what a client may cache.
pub fn verify_epoch(
    verifier: &Verifier,
    epoch: &EpochEvidenceV1,
    options: &VerifyOptions,
) -> Result<VerifiedEvidence, Error> {
    let evidence = Evidence::parse(&epoch.evidence.to_json())?;
    let mut options = options.clone();
    options.freshness = Some(Freshness::Nonce(epoch.qualifying_data().to_vec()));
    verifier.verify(&evidence, &options).map_err(|e| {
        if e.is_nonce_mismatch() {
            Error::Epoch(EpochError::QuoteBindsOtherData)
        } else {
            e
        }
    })
}

/// Checks one session against its (already verified) epoch evidence at
/// `now`, accepting epochs up to `max_age` old.
pub fn check_session(
    session: &SessionEvidenceV1,
    facts: &SessionFacts<'_>,
    now: SystemTime,
    max_age: Duration,
) -> Result<EpochAge, Error> {
    let epoch = &session.epoch;
    let provider = default_provider();
    let leaf = provider.hash(HashAlg::Sha256, &[facts.leaf_spki_der]).to_hex();
    if !leaf.eq_ignore_ascii_case(&epoch.tls_spki_sha256) {
        return Err(Error::Epoch(EpochError::ForeignTlsKey {
            quoted: epoch.tls_spki_sha256.clone(),
            session: leaf,
        }));
    }
    let key = PublicKey::from_spki_der(&epoch.evidence_key)
        .map_err(|e| Error::Epoch(EpochError::Key(e.to_string())))?;
    if !matches!(
        key,
        PublicKey::Ecc {
            curve: EccCurve::NistP256,
            ..
        }
    ) {
        return Err(Error::Epoch(EpochError::Key(format!("it is {key}"))));
    }
    let signature = Signature::ecdsa_from_der(&session.signature)
        .map_err(|_| Error::Epoch(EpochError::SessionSignature))?;
    let signed = session_signed_bytes(
        facts.nonce,
        facts.leaf_spki_der,
        facts.exporter,
        &epoch.quote_sha256(),
    );
    provider
        .verify_signature(&key, SignatureScheme::Ecdsa(HashAlg::Sha256), &signed, &signature)
        .map_err(|_| Error::Epoch(EpochError::SessionSignature))?;
    let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    if epoch.time > now.saturating_add(MAX_CLOCK_AHEAD_SECONDS) {
        return Err(Error::Epoch(EpochError::Ahead {
            seconds: epoch.time - now,
        }));
    }
    let age = now.saturating_sub(epoch.time);
    if age > max_age.as_secs() {
        return Err(Error::Epoch(EpochError::Stale {
            age,
            max_age: max_age.as_secs(),
        }));
    }
    Ok(EpochAge {
        epoch: epoch.epoch,
        time: epoch.time,
        age: Duration::from_secs(age),
    })
}
