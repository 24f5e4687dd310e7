//! # blindfold-tpm
//!
//! Pure-Rust TPM 2.0 structures and quote verification for the verifier
//! side: `TPMS_ATTEST` (quotes), `TPMT_PUBLIC`/`TPM2B_PUBLIC` (RSA and ECC),
//! `TPMT_SIGNATURE` (RSASSA, RSAPSS, ECDSA), `TPML_PCR_SELECTION`, PCR value
//! sets and the PCR digest, and the tpm2-tools PCR file. Bytes in, typed
//! results out: [`QuoteVerifier::verify`] is the only way to obtain a
//! [`VerifiedQuote`].
//!
//! What it is **not**: it does not talk to a TPM (no TSS library; the
//! attester side lives elsewhere), does not parse event logs (see
//! `blindfold-eventlog`), and does not decide which PCR values are good
//! (that is appraisal, in `blindfold-attest`). It does not trust a key found
//! inside evidence: the caller supplies the [`AttestationKey`].
//!
//! Parsing is strict: every length is checked against the input before use,
//! trailing bytes are errors, and no input makes it panic (property tests in
//! `tests/parsers_never_panic.rs`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alg;
mod attest;
mod error;
pub mod pcr;
mod pcr_file;
mod public;
mod quote;
mod reader;
mod signature;

pub use attest::{ClockInfo, QuoteAttest, TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE};
pub use error::{Error, WireError};
pub use pcr::{PcrBankSelection, PcrIndex, PcrSelection, PcrValues};
pub use pcr_file::parse_tpm2_tools_pcrs;
pub use public::{attributes, TpmPublic};
pub use quote::{AttestationKey, Freshness, QuoteVerifier, VerifiedQuote};
pub use reader::Reader;
pub use signature::TpmSignature;
