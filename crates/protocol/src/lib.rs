//! # blindfold-protocol
//!
//! The Blindfold attested-TLS protocol in one place, as typed formats that
//! the enclave writes and every client reads with the *same* Rust types:
//!
//! - [`binding`]: the purpose labels ([`Purpose`]) and the qualifying-data
//!   formula that binds a quote to one TLS session;
//! - [`runtime_log`]: the runtime events measured into PCR 15, the recipe
//!   that lists them ([`runtime_events`]), and their CEL-JSON records;
//! - [`evidence`]: the evidence document, version 1 ([`EvidenceV1`]);
//! - [`release`]: the key-release messages between an enclave and the key
//!   broker, their binding, and the HPKE sealing of the released key;
//! - [`epoch`]: epoch evidence, one quote per short epoch and one
//!   signature per session, for clients that opt in;
//! - [`receipt`]: the signed receipt each answer carries, the salted
//!   digests it signs and the binding of its per-boot key;
//! - [`api_keys`]: API keys as the enclave's configuration lists them;
//! - [`api_error`]: the OpenAI-shaped error body every server here answers;
//! - [`wellknown`]: the paths, names and labels both sides must agree on;
//! - [`untrusted_text`]: an unverified peer's text made safe to show.
//!
//! Every format carries a version, and states what an older reader does
//! with a newer document (each type's doc says; `docs/evidence.md` lists
//! them).
//!
//! What it is **not**: it verifies nothing (a parsed [`EvidenceV1`] is a
//! claim until `blindfold-attest` checks it), talks to no TPM and does no
//! I/O. It depends on `blindfold-crypto` (hashes), `blindfold-tpm` (PCR
//! values), RustCrypto's HMAC and `hpke` only, so the enclave can link it
//! without the verifier.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api_error;
pub mod api_keys;
pub mod binding;
mod encoding;
pub mod environment;
pub mod epoch;
mod error;
pub mod evidence;
pub mod receipt;
pub mod release;
pub mod runtime_log;
mod untrusted;
pub mod wellknown;

pub use api_error::ApiErrorBody;
pub use binding::{qualifying_data, Purpose};
pub use environment::EnvironmentV1;
pub use error::Error;
pub use evidence::{EvidenceV1, PlatformReportV1, QuoteV1};
pub use runtime_log::{runtime_events, CelDigest, CelRecord, RuntimeEvent, RuntimeLog, RUNTIME_PCR};
pub use untrusted::untrusted_text;
