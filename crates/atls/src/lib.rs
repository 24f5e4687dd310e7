//! # blindfold-atls
//!
//! Attested TLS, client side: a TLS 1.3 connection to a Blindfold enclave
//! that is handed out only after the enclave's evidence — asked for over
//! that same session with a fresh random nonce — has been verified and
//! appraised, with the quote's qualifying data recomputed from this nonce,
//! this session's leaf key and this session's exported keying material. No
//! request byte is sent on a session that has not passed.
//!
//! Trust comes from attestation, not from web PKI: the certificate
//! verifier accepts the enclave's self-issued leaf, but still checks the
//! TLS 1.3 `CertificateVerify` signature with it, so a server that shows
//! the enclave's certificate without its key fails the handshake.
//!
//! A client may instead accept *epoch evidence* ([`FreshnessMode::Epoch`]):
//! the enclave quotes once per short epoch and signs each session's nonce
//! and exporter with an evidence key that quote binds, so a new session
//! costs one signature, not one TPM quote; the quote's appraisal is cached
//! per epoch, the session's own checks never are.
//!
//! What it is **not**: a general HTTP client (it speaks HTTP/1.1 over the
//! one attested session), and not the verifier itself (`blindfold-attest`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod connection;
mod epoch;
mod error;

pub use blindfold_attest::epoch::EpochAge;
pub use client::{
    connect, connect_driven, reference_evidence, verified_evidence, AttestedSession, ClientPolicy,
    ReferenceAnchor,
};
pub use connection::SessionConnection;
pub use epoch::{EpochCache, FreshnessMode};
pub use error::Error;
