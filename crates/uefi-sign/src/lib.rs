//! # blindfold-uefi-sign
//!
//! Signs PE images for UEFI Secure Boot, in Rust: the UKI `blindfold image
//! build --sign` writes. An image's Authenticode digest (SHA-256, computed
//! by `blindfold-measure` exactly as the firmware computes it) goes into
//! Authenticode's `SpcIndirectDataContent` ([`spc`]), signed as PKCS#7
//! SignedData with an RSA key (PKCS#1 v1.5) whose certificate travels in
//! the signature; the result is a `WIN_CERTIFICATE` in the image's
//! certificate table ([`sign_pe`]). `sbverify` and `pesign` are the
//! oracles in its tests; OVMF with enrolled keys boots what it signs.
//!
//! What it is **not**: not a verifier (the firmware verifies; `blindfold`
//! predicts what the firmware then measures), not a key store (the key
//! comes from the caller's file and never leaves this process), and not a
//! firmware-variable editor (how the certificate reaches each platform's
//! `db` is in `docs/deploy.md`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod sign;
pub mod spc;

pub use error::Error;
pub use sign::{sign_pe, signatures, SigningIdentity};
