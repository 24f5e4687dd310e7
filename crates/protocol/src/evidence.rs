//! Blindfold's evidence document, version 1: the answer of
//! [`EVIDENCE_PATH`](crate::wellknown::EVIDENCE_PATH) (schema in
//! `docs/evidence.md`).
//!
//! Extension rule: the version is the `blindfold_evidence` number. A
//! reader refuses a document of another version with
//! [`Error::UnsupportedVersion`] (naming both versions) and refuses unknown
//! fields, because every field here is evidence a verifier must check: a
//! field it would skip is a claim it would not have checked. Additions
//! therefore come as version 2, which an enclave sends only to clients that
//! ask for it. The one optional field, `platform_report`, is no exception:
//! only the platforms whose AK a hardware report roots (Azure confidential
//! VMs, NitroTPM) send it, and their evidence cannot verify without it, so
//! a reader that refuses it refuses what it could not have checked.

use blindfold_tpm::PcrValues;
use serde::{Deserialize, Serialize};

use crate::encoding::{b64, pcr_map};
use crate::error::Error;
use crate::runtime_log::CelRecord;

const FORMAT: &str = "Blindfold evidence";

/// A quote as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteV1 {
    /// `TPMS_ATTEST` bytes (base64).
    #[serde(with = "b64")]
    pub message: Vec<u8>,
    /// `TPMT_SIGNATURE` bytes (base64).
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
}

/// The evidence document, version 1. Everything in it is a claim until
/// `blindfold-attest` verifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceV1 {
    /// Always 1.
    pub blindfold_evidence: u64,
    /// The platform the enclave says it runs on (`local`, `azure-vtpm`,
    /// ...). Unsigned: a verifier pins the platform it expects.
    pub platform: String,
    /// The quote over PCRs 0-15 in every active bank.
    pub quote: QuoteV1,
    /// The PCR values the quote's digest covers.
    #[serde(with = "pcr_map")]
    pub pcrs: PcrValues,
    /// The AK public area (`TPMT_PUBLIC`, base64).
    #[serde(with = "b64")]
    pub ak_public: Vec<u8>,
    /// The AK certificate, then intermediates (DER, base64).
    #[serde(with = "b64::list")]
    pub ak_cert_chain: Vec<Vec<u8>>,
    /// The TCG firmware event log (base64), `null` in process mode.
    #[serde(with = "b64::option")]
    pub firmware_log: Option<Vec<u8>>,
    /// The runtime event log (PCR 15).
    pub runtime_log: Vec<CelRecord>,
    /// The hardware (or hypervisor) report that roots the AK, on the
    /// platforms that have one; absent (not `null`) elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_report: Option<PlatformReportV1>,
}

/// The report that roots a platform's AK, as the enclave collected it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PlatformReportV1 {
    /// An Azure SEV-SNP confidential VM: the HCL report from the vTPM's NV
    /// index 0x01400001 and the VCEK that signed its SNP report.
    AzureSnp {
        /// The HCL report (base64).
        #[serde(with = "b64")]
        hcl_report: Vec<u8>,
        /// The VCEK certificate (DER, base64), fetched at run time.
        #[serde(with = "b64")]
        vcek: Vec<u8>,
    },
    /// An Azure TDX confidential VM: the HCL report and the TD quote made
    /// from the TD report inside it.
    AzureTdx {
        /// The HCL report (base64).
        #[serde(with = "b64")]
        hcl_report: Vec<u8>,
        /// The TD quote (base64), fetched at run time.
        #[serde(with = "b64")]
        td_quote: Vec<u8>,
    },
    /// A NitroTPM attestation document (`COSE_Sign1`, base64) whose nonce
    /// is the quote's qualifying data and whose public key is the AK.
    NitroDocument {
        /// The document.
        #[serde(with = "b64")]
        document: Vec<u8>,
    },
}

impl EvidenceV1 {
    /// The version this type reads and writes.
    pub const VERSION: u64 = 1;

    /// True when `json` looks like Blindfold evidence of any version (it
    /// has the version field), so a reader of many layouts can send it here.
    pub fn is_blindfold_evidence(json: &[u8]) -> bool {
        version_of(json).is_some()
    }

    /// Reads a document, refusing other versions and unknown fields.
    pub fn from_json(json: &[u8]) -> Result<EvidenceV1, Error> {
        match version_of(json) {
            Some(v) if v != Self::VERSION => {
                return Err(Error::UnsupportedVersion {
                    format: FORMAT,
                    found: v,
                    understood: Self::VERSION,
                })
            }
            _ => {}
        }
        serde_json::from_slice(json).map_err(|e| Error::Malformed {
            format: FORMAT,
            why: e.to_string(),
        })
    }

    /// Writes the document (compact JSON).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn version_of(json: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Version {
        blindfold_evidence: u64,
    }
    serde_json::from_slice::<Version>(json)
        .ok()
        .map(|v| v.blindfold_evidence)
}
