//! # blindfold-nitro
//!
//! Verifies AWS Nitro attestation documents, the evidence of both Nitro
//! Enclaves (`pcrs`) and NitroTPM-equipped EC2 instances (`nitrotpm_pcrs`):
//! the `COSE_Sign1` envelope (ES384, tagged or untagged, definite or
//! indefinite CBOR lengths), the `cabundle` chain from the signing
//! certificate to the AWS Nitro Enclaves Root-G1 (bundled and pinned by the
//! SHA-256 of its DER, [`ROOT_G1_SHA256`]), every certificate's validity and
//! the document's age at the verification time, the `nonce` against the
//! caller's, and (for enclaves) the debug mode that zeroes PCR 0–2.
//!
//! What it is **not**: it does not ask the Nitro hypervisor for documents
//! (no NSM device, no network), it does not appraise PCR values against
//! references (`blindfold-attest` does), and it gives `public_key` and
//! `user_data` no meaning: whoever requests a document chooses them, so
//! only the `nonce` binds a document to a session. It does not verify the
//! TPM quote of the NitroTPM composite layout (`blindfold-tpm` does, under
//! the key this crate hands back).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod document;
mod error;
mod roots;
mod verify;

pub use document::{AttestationDocument, DocumentKind, NitroPcr};
pub use error::Error;
pub use roots::{NitroRoots, ROOT_G1_SHA256};
pub use verify::{NitroOptions, NitroVerifier, VerifiedDocument, DEFAULT_MAX_AGE};
