//! # blindfold-tdx
//!
//! Intel TDX quotes (DCAP quote format version 4, ECDSA P-256 attestation
//! key, TD 1.0 report): parsing ([`TdQuote::parse`]) and verification
//! ([`TdxVerifier::verify`]) of the quote signature by the attestation key,
//! of the QE report that binds that key, and of the PCK certificate chain
//! that vouches for the QE report, up to Intel's SGX Root CA
//! ([`IntelRoots::bundled`], pinned by fingerprint). Pure: bytes in, typed
//! results out; cryptography goes through [`blindfold_crypto::CryptoProvider`]
//! and certificates through `blindfold_x509`. The result,
//! [`VerifiedTdQuote`], can only be made by the verifier.
//!
//! What it is **not**:
//! - not a collateral client: it fetches nothing from Intel's PCS. Given
//!   Intel's TCB Info and QE Identity as files ([`TdxCollateral`]), it
//!   checks them (chain to the root, signature, `nextUpdate`) and returns
//!   the platform's and the QE's TCB status ([`TcbVerdict`]); without
//!   them the **TCB status is not checked** and [`VerifiedTdQuote`] says
//!   so ([`VerifiedTdQuote::tcb_status_checked`]). PCK revocation lists
//!   are not read. The QE's identity (Intel's TD QE: MRSIGNER, ISVPRODID,
//!   ATTRIBUTES, vendor id) is checked against the values Intel publishes
//!   either way;
//! - not a parser of Azure's HCL report or vTPM evidence that carries a TD
//!   quote (`blindfold-attest` does that and hands the quote here);
//! - not an appraiser: MRTD, RTMRs and report_data are returned for the
//!   caller's policy to compare;
//! - not for SGX quotes (TEE type 0) or quote format version 5.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod collateral;
mod error;
mod pck;
mod quote;
mod roots;
mod verify;

pub use collateral::{TcbStatus, TcbVerdict, TdxCollateral};
pub use error::Error;
pub use quote::{
    QeReport, QuoteHeader, QuoteSignatureData, TdAttributes, TdQuote, TdReportBody, HEADER_LEN,
    QE_REPORT_LEN, TD_REPORT_BODY_LEN,
};
pub use roots::{IntelRoots, INTEL_SGX_ROOT_CA_SHA256};
pub use verify::{
    TdxOptions, TdxVerifier, VerifiedTdQuote, INTEL_QE_VENDOR_ID, TD_QE_ISV_PROD_ID, TD_QE_MRSIGNER,
};
