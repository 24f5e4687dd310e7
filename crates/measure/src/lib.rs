//! # blindfold-measure
//!
//! Computes, at build time and from the artefacts themselves, the values a
//! verifier later expects: dm-verity hash trees byte-compatible with
//! `veritysetup` ([`verity`]).
//!
//! What it is **not**: it does not verify evidence (`blindfold-attest`
//! does) and it does not boot anything.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod verity;

pub use error::Error;
