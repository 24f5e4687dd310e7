//! # blindfold-measure
//!
//! Computes, at build time and from the artefacts themselves, the values a
//! verifier later expects: dm-verity hash trees byte-compatible with
//! `veritysetup` ([`verity`]); PE/Authenticode digests as UEFI firmware
//! measures them ([`pe`]); UKI sections and the stub version ([`uki`]); and
//! the PCR values a UKI boot produces ([`predict`]); reproducible erofs app
//! disks with their verity tree ([`app_disk`], which runs `mkfs.erofs`;
//! the trees themselves are `blindfold-verity`'s, re-exported as [`verity`]).
//!
//! What it is **not**: it does not verify evidence (`blindfold-attest`
//! does) and it does not boot anything.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app_disk;
mod error;
pub mod pe;
pub mod predict;
pub mod uki;
mod uki_build;

pub use blindfold_verity as verity;
pub use error::Error;
pub use uki_build::build_uki;
