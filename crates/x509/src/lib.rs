//! # blindfold-x509
//!
//! Verifies X.509 certificate chains for attestation-key certificates:
//! path building from a leaf through supplied or known intermediates to a
//! trusted root, each link's signature (through the
//! [`blindfold_crypto::CryptoProvider`] trait), validity at a chosen time
//! with a small clock-skew allowance, basic constraints, key usage, and
//! refusal of critical extensions it does not understand. The result,
//! [`VerifiedChain`], carries the leaf's public key: the key a quote must
//! be signed by.
//!
//! What it is **not**: a general TLS/web PKI validator (no name checks, no
//! revocation fetching, no AIA fetching: enclaves have no egress), and it
//! does not decide which roots to trust (callers pass a [`TrustStore`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
mod cert;
mod chain;
mod error;

pub use cache::{ChainCache, DEFAULT_CHAIN_CACHE_ENTRIES};
pub use cert::{parse_certificates, Certificate};
pub use chain::{CertSummary, ChainVerifier, TrustStore, VerifiedChain, DEFAULT_CLOCK_SKEW, MAX_PRESENTED};
pub use error::Error;
