//! Azure confidential-VM evidence (SEV-SNP and TDX): a vTPM quote signed by
//! the HCL report's `HCLAkPub`, the HCL report, and what roots it (the
//! VCEK for SNP, the TD quote for TDX). Layouts: trustee's JSON, legacy
//! (byte arrays, no `version`) and versioned (`version` 1 and later: hex
//! quote, base64url reports), and kinvolk's azure-cvm-tooling files
//! (a bincode quote and an HCL report, no VCEK).

use super::foreign_json::{TrusteeAzure, TrusteeBytes};
use base64::Engine as _;
use blindfold_crypto::{Digest, HashAlg};
use blindfold_tpm::{PcrIndex, PcrValues, TpmSignature};

use super::hcl::{HclReport, HclReportType};
use super::{wire, AkClaim, Evidence, HardwareEvidence, Layout, QuoteClaim};
use crate::error::{Error, InputError};
use crate::platform::Platform;

fn bad(what: impl std::fmt::Display) -> Error {
    Error::Input(InputError::EvidenceFormat(what.to_string()))
}

/// Bytes written the legacy way (a JSON array of numbers) or the versioned
/// way (`hex` or base64url text).
#[derive(Clone, Copy)]
enum Encoding {
    Legacy,
    Versioned,
}

fn bytes(value: &TrusteeBytes, name: &str, encoding: Encoding, hex_text: bool) -> Result<Vec<u8>, Error> {
    match (encoding, value) {
        (Encoding::Legacy, TrusteeBytes::Numbers(items)) => Ok(items.clone()),
        (Encoding::Versioned, TrusteeBytes::Text(s)) if hex_text => {
            hex::decode(s.trim()).map_err(|e| bad(format!("{name}: not hex: {e}")))
        }
        (Encoding::Versioned, TrusteeBytes::Text(s)) => {
            let s = s.trim().trim_end_matches('=');
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
                .map_err(|e| bad(format!("{name}: not base64url: {e}")))
        }
        (Encoding::Legacy, _) => Err(bad(format!("{name}: expected a byte array (legacy layout)"))),
        (Encoding::Versioned, _) => Err(bad(format!("{name}: expected a string (version 1 layout)"))),
    }
}

/// trustee's `az-snp-vtpm` / `az-tdx-vtpm` evidence, either layout.
pub(super) fn read_trustee(json: TrusteeAzure) -> Result<Evidence, Error> {
    let encoding = match json.version {
        None => Encoding::Legacy,
        Some(n) if n >= 1 => Encoding::Versioned,
        Some(n) => return Err(bad(format!("version {n}: trustee versions start at 1"))),
    };
    let quote = &json.tpm_quote;
    let message = bytes(&quote.message, "tpm_quote.message", encoding, true)?;
    let signature = bytes(&quote.signature, "tpm_quote.signature", encoding, true)?;
    let mut pcrs = Vec::new();
    for (i, p) in quote.pcrs.iter().enumerate() {
        pcrs.push(bytes(p, &format!("tpm_quote.pcrs[{i}]"), encoding, true)?);
    }
    let hcl_report = bytes(&json.hcl_report, "hcl_report", encoding, false)?;
    let hcl = HclReport::parse(&hcl_report)?;
    let (layout, hardware) = match hcl.report_type {
        HclReportType::Snp => {
            let vcek = match (encoding, &json.vcek) {
                (_, None) => None,
                (Encoding::Legacy, Some(TrusteeBytes::Text(pem))) => {
                    let certs = blindfold_x509::parse_certificates(pem.as_bytes())
                        .map_err(|e| bad(format!("vcek: {e}")))?;
                    certs.first().map(|c| c.der().to_vec())
                }
                (_, Some(v)) => Some(bytes(v, "vcek", encoding, false)?),
            };
            let layout = match encoding {
                Encoding::Legacy => Layout::TrusteeAzSnpLegacy,
                Encoding::Versioned => Layout::TrusteeAzSnp,
            };
            (layout, HardwareEvidence::AzureSnp { hcl_report, vcek })
        }
        HclReportType::Tdx => {
            let td_quote = json.td_quote.as_ref().ok_or_else(|| bad("td_quote is missing"))?;
            let td_quote = bytes(td_quote, "td_quote", encoding, false)?;
            let layout = match encoding {
                Encoding::Legacy => Layout::TrusteeAzTdxLegacy,
                Encoding::Versioned => Layout::TrusteeAzTdx,
            };
            (layout, HardwareEvidence::AzureTdx { hcl_report, td_quote })
        }
    };
    build(layout, hcl, message, &signature, &pcrs, hardware)
}

fn build(
    layout: Layout,
    hcl: HclReport,
    message: Vec<u8>,
    signature: &[u8],
    pcr_list: &[Vec<u8>],
    hardware: HardwareEvidence,
) -> Result<Evidence, Error> {
    let mut pcrs = PcrValues::new();
    for (i, p) in pcr_list.iter().enumerate() {
        let d = Digest::new(HashAlg::Sha256, p).ok_or_else(|| {
            bad(format!(
                "tpm_quote.pcrs[{i}] is {} bytes, not a SHA-256 PCR",
                p.len()
            ))
        })?;
        pcrs.insert(PcrIndex(i as u32), d);
    }
    let signature = TpmSignature::raw(&hcl.ak, signature, None).map_err(wire("tpm_quote.signature"))?;
    let platform = match hcl.report_type {
        HclReportType::Snp => Platform::AzureSnp,
        HclReportType::Tdx => Platform::AzureTdx,
    };
    Ok(Evidence {
        layout,
        platform,
        ak: Some(AkClaim::PublicKey(hcl.ak)),
        quotes: vec![QuoteClaim {
            message,
            signature,
            pcrs,
        }],
        event_log: None,
        blindllama: None,
        runtime_log: None,
        hardware: Some(hardware),
    })
}

/// True for an HCL report (kinvolk's layout keeps it in a file of its own).
pub(super) fn is_hcl_report(bytes: &[u8]) -> bool {
    bytes.starts_with(b"HCLA")
}

/// kinvolk's azure-cvm-tooling: an HCL report file and a bincode quote
/// (`{signature, message, pcrs}`, u64 little-endian lengths) in one
/// directory. Other files (AMD certificates of the tool's tests, a PEM AK
/// read from the vTPM) are not evidence and are ignored: nothing in this
/// layout carries the VCEK.
pub(super) fn read_kinvolk_dir(files: &[Vec<u8>]) -> Result<Evidence, Error> {
    let hcl_report = files
        .iter()
        .find(|bytes| is_hcl_report(bytes))
        .ok_or_else(|| bad("the directory has no HCL report"))?
        .clone();
    let hcl = HclReport::parse(&hcl_report)?;
    let quote = files
        .iter()
        .find_map(|bytes| read_bincode_quote(bytes))
        .ok_or_else(|| bad("the directory has an HCL report but no bincode vTPM quote"))?;
    let (signature, message, pcrs) = quote;
    let hardware = match hcl.report_type {
        HclReportType::Snp => HardwareEvidence::AzureSnp {
            hcl_report,
            vcek: None,
        },
        HclReportType::Tdx => return Err(bad("kinvolk layout with a TDX HCL report carries no TD quote")),
    };
    build(Layout::KinvolkAzSnp, hcl, message, &signature, &pcrs, hardware)
}

type BincodeQuote = (Vec<u8>, Vec<u8>, Vec<Vec<u8>>);

/// `{signature: Vec<u8>, message: Vec<u8>, pcrs: Vec<[u8; 32]>}` in bincode
/// 1 (u64 little-endian lengths), nothing after it.
fn read_bincode_quote(bytes: &[u8]) -> Option<BincodeQuote> {
    let mut cursor = Cursor { bytes, at: 0 };
    let signature = cursor.vec()?;
    let message = cursor.vec()?;
    let count = cursor.len()?;
    let mut pcrs = Vec::new();
    for _ in 0..count {
        pcrs.push(cursor.take(32)?.to_vec());
    }
    // A TPMS_ATTEST starts with TPM_GENERATED_VALUE.
    let generated = blindfold_tpm::TPM_GENERATED_VALUE.to_be_bytes();
    (cursor.at == bytes.len() && message.starts_with(&generated) && !signature.is_empty())
        .then_some((signature, message, pcrs))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }
    fn len(&mut self) -> Option<usize> {
        let v = u64::from_le_bytes(self.take(8)?.try_into().ok()?);
        usize::try_from(v).ok().filter(|v| *v <= self.bytes.len())
    }
    fn vec(&mut self) -> Option<Vec<u8>> {
        let n = self.len()?;
        Some(self.take(n)?.to_vec())
    }
}
