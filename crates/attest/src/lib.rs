//! # blindfold-attest
//!
//! Turns evidence from a platform into a verdict: reads the evidence
//! layouts Blindfold and its predecessors produce ([`Evidence`]), verifies
//! them against the platform's trust anchor ([`Verifier::verify`] → the
//! only way to get a [`VerifiedEvidence`]), and appraises verified evidence
//! against reference values ([`ReferenceValues`], [`appraise`]; signed
//! bundles in [`bundle`]) and an optional Rego [`Policy`]. Every result
//! states its [`TrustBasis`]; [`Appraisal::accept`] is the one rule for
//! acting on a result ([`AcceptPolicy`]): the client, the proxy and the key
//! broker all use it. Signed receipts are checked against the evidence
//! they cite by [`verify_receipt`] and opened by [`open_receipt`]. A
//! session on epoch evidence is checked by [`epoch`].
//!
//! What it is **not**: it does not talk to TPMs or clouds (no network, no
//! TSS), and it does not parse TPM structures, event logs or certificates
//! itself (`blindfold-tpm`, `blindfold-eventlog`, `blindfold-x509` do).
//! The hardware reports behind AWS Nitro and Azure confidential VMs are
//! verified by `blindfold-nitro`, `blindfold-snp` and `blindfold-tdx`; this
//! crate reads the layouts that carry them and ties them to the quotes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accept;
mod appraise;
pub mod bundle;
pub mod epoch;
mod error;
mod evidence;
mod hardware;
mod platform;
mod policy;
mod receipt;
mod reference;
#[cfg(feature = "test-roots")]
mod test_roots;
mod verify;

pub use accept::{AcceptPolicy, ClaimName, DevelopmentPlatform, DevelopmentReference, Refusal};
pub use appraise::{appraise, Appraisal, AppraisalOptions, AppraisalReport, Claim, ClaimReport, ClaimStatus};
pub use error::{AppraisalError, BundleError, EpochError, Error, InputError, ReceiptError, VerifyError};
pub use evidence::{AkClaim, BlindLlamaBinding, Evidence, HardwareEvidence, Layout, QuoteClaim};
pub use hardware::{
    DebugPlatform, HardwareOptions, HardwareReport, HardwareSummary, NitroSummary, SnpSummary, TdxSummary,
};
pub use platform::{Platform, TrustBasis};
pub use policy::{Policy, PolicyInput, NEVER_WAIVED};
pub use receipt::{open_receipt, verify_receipt, VerifiedReceipt};
pub use reference::{
    BlindLlamaReference, MeasurementsKind, MeasurementsV1, NitroMeasurements, NitroPcrMeasurements, PcrLists,
    PcrReference, ReferenceDocument, ReferenceFormat, ReferenceKind, ReferenceValues, SnpTcbFloor,
    MANDATORY_PCRS, MEASUREMENTS_VERSION,
};
#[cfg(feature = "test-roots")]
pub use test_roots::TestRoots;
pub use verify::{TpmAnchor, VerifiedEvidence, Verifier, VerifyOptions};
