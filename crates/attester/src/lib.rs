//! # blindfold-attester
//!
//! The attester side: everything that talks to a TPM. [`Tpm`] wraps
//! `tss-esapi` (AK at the Azure handle, NV certificates, PCR extends,
//! quotes, PCR reads), whichever TPM the TCTI names: a cloud's vTPM, or
//! the development platform's swtpm (set up by `blindfold-dev-platform`).
//!
//! What it is **not**: a verifier, or a platform set-up tool. Nothing here decides whether evidence is
//! good; `blindfold-attest` does, and never links this crate.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod tpm;

pub use error::Error;
pub use tpm::{AkAlgorithm, Quote, Tpm, AK_CERT_NV_INDEX, AK_PERSISTENT_HANDLE};
