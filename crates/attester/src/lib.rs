//! # blindfold-attester
//!
//! The attester side: everything that talks to a TPM. [`Tpm`] wraps
//! `tss-esapi` (AK at the Azure handle, NV certificates, PCR extends,
//! quotes, PCR reads); [`platform`] sets up and runs the local swtpm
//! platform that plays "the cloud" in development and tests (EK
//! certificate, a local platform CA, an AK at `0x81000003` with its
//! certificate in NV `0x01C101D0`, the Azure layout).
//!
//! What it is **not**: a verifier. Nothing here decides whether evidence is
//! good; `blindfold-attest` does, and never links this crate.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod platform;
mod tpm;

pub use error::Error;
pub use tpm::{AkAlgorithm, Quote, Tpm, AK_CERT_NV_INDEX, AK_PERSISTENT_HANDLE};
