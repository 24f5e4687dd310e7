//! Evidence layouts, read into one normalised [`Evidence`]. Nothing here is
//! trusted: keys, certificates and PCR values are claims until
//! [`crate::verify`] checks them.

mod azure_cvm;
mod blindfold;
mod blindllama;
#[cfg(feature = "files")]
mod files;
mod foreign_json;
mod gcp;
pub(crate) mod hcl;
pub(crate) mod nitro;
mod tpm;

use blindfold_crypto::PublicKey;
use blindfold_tpm::{PcrValues, TpmPublic, TpmSignature};
use blindfold_x509::Certificate;

use crate::error::{Error, InputError};
use crate::platform::Platform;

/// The layout evidence was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// BlindLlama-v2 `attestation.json` (Azure Trusted Launch).
    BlindLlamaAzure,
    /// go-tpm-tools `Attestation` protobuf.
    GoTpmToolsProto,
    /// vaportpm GCP JSON fixture.
    VaportpmGcp,
    /// trustee generic TPM evidence JSON.
    TrusteeTpm,
    /// A directory of tpm2-tools outputs (quote message, signature, PCR file, AK).
    Tpm2ToolsFiles,
    /// Blindfold's own evidence, version 1 (`docs/evidence.md`).
    BlindfoldV1,
    /// A bare AWS Nitro attestation document (`COSE_Sign1`).
    NitroDocument,
    /// vaportpm's NitroTPM JSON: a TPM quote and the document naming its AK.
    VaportpmNitro,
    /// trustee's Azure SEV-SNP evidence, `version` 1 and later (hex, base64url).
    TrusteeAzSnp,
    /// trustee's Azure SEV-SNP evidence, legacy layout (byte arrays).
    TrusteeAzSnpLegacy,
    /// trustee's Azure TDX evidence, `version` 1 and later (hex, base64url).
    TrusteeAzTdx,
    /// trustee's Azure TDX evidence, legacy layout (byte arrays).
    TrusteeAzTdxLegacy,
    /// kinvolk azure-cvm-tooling files: a bincode vTPM quote and an HCL report.
    KinvolkAzSnp,
}

impl Layout {
    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Layout::BlindLlamaAzure => "blindllama-v2-azure",
            Layout::GoTpmToolsProto => "go-tpm-tools-attestation",
            Layout::VaportpmGcp => "vaportpm-gcp",
            Layout::TrusteeTpm => "trustee-tpm",
            Layout::Tpm2ToolsFiles => "tpm2-tools-files",
            Layout::BlindfoldV1 => "blindfold-v1",
            Layout::NitroDocument => "aws-nitro-document",
            Layout::VaportpmNitro => "vaportpm-nitrotpm",
            Layout::TrusteeAzSnp => "trustee-az-snp-vtpm-v1",
            Layout::TrusteeAzSnpLegacy => "trustee-az-snp-vtpm-legacy",
            Layout::TrusteeAzTdx => "trustee-az-tdx-vtpm-v1",
            Layout::TrusteeAzTdxLegacy => "trustee-az-tdx-vtpm-legacy",
            Layout::KinvolkAzSnp => "kinvolk-az-cvm-snp",
        }
    }
}

/// The AK as the evidence presents it (untrusted).
#[derive(Debug, Clone)]
pub enum AkClaim {
    /// A leaf certificate and the intermediates sent with it.
    Certificate {
        /// The AK certificate.
        leaf: Box<Certificate>,
        /// Intermediates presented by the evidence.
        intermediates: Vec<Certificate>,
        /// The AK public area, if the evidence also carries it.
        public: Option<PublicKey>,
    },
    /// A TPM public area.
    TpmPublic(Box<TpmPublic>),
    /// A bare public key.
    PublicKey(PublicKey),
}

impl AkClaim {
    /// The key the evidence says signed its quotes.
    pub fn claimed_key(&self) -> Result<PublicKey, Error> {
        Ok(match self {
            AkClaim::Certificate { public: Some(k), .. } => k.clone(),
            AkClaim::Certificate { leaf, .. } => leaf.public_key()?,
            AkClaim::TpmPublic(p) => p.key.clone(),
            AkClaim::PublicKey(k) => k.clone(),
        })
    }
}

/// One quote as carried by the evidence.
#[derive(Debug, Clone)]
pub struct QuoteClaim {
    /// `TPMS_ATTEST` bytes.
    pub message: Vec<u8>,
    /// The signature.
    pub signature: TpmSignature,
    /// The PCR values sent with it.
    pub pcrs: PcrValues,
}

/// BlindLlama-v2's PCR 15 inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlindLlamaBinding {
    /// `application_disk_roothash`.
    pub app_disk_root_hash: Vec<u8>,
    /// `webserver_rootca` (PEM text, hashed as is).
    pub webserver_ca_pem: String,
}

/// The hardware (or hypervisor) report that roots a piece of evidence, as
/// carried (untrusted).
#[derive(Debug, Clone)]
pub enum HardwareEvidence {
    /// An AWS Nitro attestation document (`COSE_Sign1`), as read (parsed,
    /// not verified).
    NitroDocument(Box<blindfold_nitro::AttestationDocument>),
    /// An Azure HCL report holding an SEV-SNP report, and the VCEK (DER)
    /// if the layout carries one.
    AzureSnp {
        /// The HCL report.
        hcl_report: Vec<u8>,
        /// The VCEK certificate (DER).
        vcek: Option<Vec<u8>>,
    },
    /// An Azure HCL report from a TDX VM and the TD quote that roots it.
    AzureTdx {
        /// The HCL report.
        hcl_report: Vec<u8>,
        /// The TD quote (DCAP).
        td_quote: Vec<u8>,
    },
}

/// Evidence in one shape, whatever layout it came in.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The layout it was read from.
    pub layout: Layout,
    /// The platform the layout belongs to.
    pub platform: Platform,
    /// The AK as presented.
    pub ak: Option<AkClaim>,
    /// One or more quotes (go-tpm-tools sends one per bank).
    pub quotes: Vec<QuoteClaim>,
    /// A TCG firmware event log, if sent.
    pub event_log: Option<Vec<u8>>,
    /// BlindLlama-v2's legacy binding fields.
    pub blindllama: Option<BlindLlamaBinding>,
    /// Blindfold's runtime event log (CEL records), replayed to PCR 15.
    pub runtime_log: Option<Vec<blindfold_protocol::CelRecord>>,
    /// The hardware report that roots the AK (Nitro, SEV-SNP, TDX), if any.
    pub hardware: Option<HardwareEvidence>,
}

impl Evidence {
    /// Reads evidence laid out as the files of one directory (kinvolk's
    /// azure-cvm-tooling, tpm2-tools output), given their contents in name
    /// order; the layout is detected from the content, never from names.
    /// The caller reads the directory (`Evidence::read` with the `files`
    /// feature): this crate does no I/O of its own.
    pub fn parse_directory(files: &[Vec<u8>]) -> Result<Evidence, Error> {
        if files.iter().any(|bytes| azure_cvm::is_hcl_report(bytes)) {
            return azure_cvm::read_kinvolk_dir(files);
        }
        tpm::read_tpm2_tools_dir(files)
    }

    /// Detects the layout of `bytes` and reads it.
    pub fn parse(bytes: &[u8]) -> Result<Evidence, Error> {
        if blindfold_protocol::EvidenceV1::is_blindfold_evidence(bytes) {
            return blindfold::read(bytes);
        }
        // Well-formed JSON (checked without building a document) is one
        // of the foreign JSON layouts or nothing.
        if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
            use foreign_json::{read, JsonLayout};
            let sniff: foreign_json::Sniff = serde_json::from_slice(bytes).map_err(|_| no_json_layout())?;
            return match sniff.layout() {
                Some(JsonLayout::BlindLlama) => {
                    blindllama::read(read("BlindLlama-v2 attestation.json", bytes)?)
                }
                Some(JsonLayout::TrusteeAzure) => {
                    azure_cvm::read_trustee(read("trustee Azure evidence", bytes)?)
                }
                Some(JsonLayout::VaportpmNitro) => {
                    nitro::read_vaportpm(read("vaportpm NitroTPM evidence", bytes)?)
                }
                Some(JsonLayout::VaportpmGcp) => gcp::read_vaportpm(read("vaportpm GCP evidence", bytes)?),
                Some(JsonLayout::TrusteeTpm) => tpm::read_trustee(read("trustee TPM evidence", bytes)?),
                None => Err(no_json_layout()),
            };
        }
        // Binary documents often travel as text (a Nitro document as base64).
        let decoded = text_encoded(bytes);
        let binary = decoded.as_deref().unwrap_or(bytes);
        if let Some(e) = nitro::read_document(binary)? {
            return Ok(e);
        }
        if let Some(e) = gcp::read_proto(binary)? {
            return Ok(e);
        }
        Err(Error::Input(InputError::EvidenceFormat(
            "not JSON evidence, not an AWS Nitro attestation document and not a go-tpm-tools Attestation protobuf (read as bytes, hex or base64)".into(),
        )))
    }
}

fn no_json_layout() -> Error {
    Error::Input(InputError::EvidenceFormat(
        "JSON of no known layout (Blindfold, BlindLlama-v2 attestation.json, vaportpm GCP or NitroTPM, trustee TPM, trustee Azure SNP/TDX)".into(),
    ))
}

/// The bytes of a binary document written as hex or base64 (standard or
/// URL-safe, padded or not; whitespace and line breaks ignored), or `None`
/// when `bytes` are not such text.
fn text_encoded(bytes: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if text.len() < 16
        || !text
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=-_".contains(b))
    {
        return None;
    }
    if text.len() % 2 == 0 && text.iter().all(u8::is_ascii_hexdigit) {
        return hex::decode(&text).ok();
    }
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines.iter().find_map(|e| e.decode(&text).ok())
}

pub(crate) fn wire(what: &str) -> impl Fn(blindfold_tpm::WireError) -> Error + '_ {
    move |e| Error::Input(InputError::EvidenceFormat(format!("{what}: {e}")))
}

/// PCR values written as `{"<bank>": {"<index>": "<hex>"}}`.
pub(crate) fn pcrs_by_bank(
    banks: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
) -> Result<blindfold_tpm::PcrValues, Error> {
    use blindfold_crypto::{Digest, HashAlg};
    let bad = |what: String| Error::Input(InputError::EvidenceFormat(what));
    let mut pcrs = blindfold_tpm::PcrValues::new();
    for (bank_name, values) in banks {
        let bank =
            HashAlg::from_name(bank_name).ok_or_else(|| bad(format!("unknown PCR bank {bank_name}")))?;
        for (index, v) in values {
            let index: u32 = index.parse().map_err(|_| bad(format!("PCR index {index}")))?;
            let bytes = hex::decode(v.trim()).map_err(|e| bad(format!("PCR {index}: {e}")))?;
            let d = Digest::new(bank, &bytes)
                .ok_or_else(|| bad(format!("PCR {index} is not a {bank} digest")))?;
            pcrs.insert(blindfold_tpm::PcrIndex(index), d);
        }
    }
    Ok(pcrs)
}
