//! # blindfold-attester
//!
//! The attester side: everything that talks to a TPM. [`Tpm`] wraps
//! `tss-esapi` (PCR extends, quotes, PCR reads, NV), whichever TPM the TCTI
//! names: a cloud's vTPM, or the development platform's swtpm (set up by
//! `blindfold-dev-platform`). Each platform keeps its AK, the AK's
//! certificate and the report that roots it somewhere else
//! ([`PlatformLayout`]): Azure's persistent AK and NV certificate, the HCL
//! report of Azure's confidential VMs, GCE's AK re-created from its NV
//! template, a fresh AK on NitroTPM named by an attestation document that
//! the NSM vendor command returns ([`nitro_tpm`], sent through [`raw`]:
//! the TSS cannot send a vendor command).
//!
//! What it is **not**: a verifier, or a platform set-up tool. Nothing here decides whether evidence is
//! good; `blindfold-attest` does, and never links this crate.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod evidence;
pub mod layout;
pub mod nitro_tpm;
mod platform_keys;
pub mod raw;
mod tpm;

pub use error::Error;
pub use layout::{
    AkSource, AzureHardware, PlatformLayout, ReportSource, AK_CERT_NV_INDEX, AK_PERSISTENT_HANDLE,
};
pub use platform_keys::{gce_ak_template, session_secret, LoadedAk, EK_PERSISTENT_HANDLE};
pub use tpm::{AkAlgorithm, Quote, Tpm};
