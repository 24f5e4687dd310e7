//! # blindfold-snp
//!
//! AMD SEV-SNP attestation reports: parsing ([`SnpReport`]), the VCEK's
//! signature over the report, and the VCEK → ASK → ARK certificate chain
//! under AMD's roots for the report's product line ([`AmdRoots`],
//! Milan, Genoa, Turin). [`SnpVerifier::verify`] takes the report bytes and
//! the VCEK's DER and returns a [`VerifiedSnpReport`] only when every check
//! passed; its doc comment lists them in order. Signatures are checked
//! through [`blindfold_crypto::CryptoProvider`], certificates through
//! [`blindfold_x509`].
//!
//! What it is **not**: it does not fetch anything (no AMD KDS requests:
//! the caller supplies the VCEK, enclaves have no egress); it does not
//! parse wrappers around the report (Azure's HCL report, which carries an
//! SNP report at offset 32, is unwrapped by `blindfold-attest`); it does
//! not verify VLEK-signed reports; and it does not appraise the
//! measurement, `REPORT_DATA` or TCB against expected values (that is
//! policy, done on the verified result).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod product;
mod report;
mod vcek;
mod verify;

pub use error::Error;
pub use product::{AmdRoots, ProductLine, ARK_GENOA_SHA256, ARK_MILAN_SHA256, ARK_TURIN_SHA256};
pub use report::{
    Cpuid, FirmwareVersion, GuestPolicy, SigningKey, SnpReport, TcbVersion, MAX_VERSION, MIN_VERSION,
    REPORT_LEN, SIGNED_LEN, SIG_ALGO_ECDSA_P384_SHA384,
};
pub use vcek::VCEK_COMMON_NAME;
pub use verify::{SnpOptions, SnpVerifier, VerifiedSnpReport};
