//! The JSON evidence layouts of other projects as serde types: read into
//! these and nothing else (no look-ups in an untyped document). They are
//! other projects' formats, so fields this reader does not use are
//! ignored, never refused.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::error::{Error, InputError};

/// The keys that tell the layouts apart.
#[derive(Deserialize)]
pub(super) struct Sniff {
    cert_chain: Option<IgnoredAny>,
    quote: Option<IgnoredAny>,
    hcl_report: Option<IgnoredAny>,
    report: Option<IgnoredAny>,
    tpm_quote: Option<IgnoredAny>,
    ak_pubkeys: Option<IgnoredAny>,
    attestation: Option<SniffAttestation>,
}

#[derive(Deserialize)]
struct SniffAttestation {
    nitro: Option<IgnoredAny>,
    gcp: Option<IgnoredAny>,
}

/// Which foreign JSON layout a document is.
pub(super) enum JsonLayout {
    BlindLlama,
    TrusteeAzure,
    VaportpmNitro,
    VaportpmGcp,
    TrusteeTpm,
}

impl Sniff {
    /// The layout these keys make, if any.
    pub(super) fn layout(&self) -> Option<JsonLayout> {
        let attestation = self.attestation.as_ref();
        if self.cert_chain.is_some() && self.quote.is_some() {
            Some(JsonLayout::BlindLlama)
        } else if (self.hcl_report.is_some() || self.report.is_some())
            && (self.tpm_quote.is_some() || self.quote.is_some())
        {
            Some(JsonLayout::TrusteeAzure)
        } else if attestation.is_some_and(|a| a.nitro.is_some()) {
            Some(JsonLayout::VaportpmNitro)
        } else if attestation.is_some_and(|a| a.gcp.is_some()) || self.ak_pubkeys.is_some() {
            Some(JsonLayout::VaportpmGcp)
        } else if self.tpm_quote.is_some() {
            Some(JsonLayout::TrusteeTpm)
        } else {
            None
        }
    }
}

/// Reads `bytes` as the layout `T`, naming the layout in the error.
pub(super) fn read<'a, T: Deserialize<'a>>(layout: &str, bytes: &'a [u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("{layout}: {e}"))))
}

/// BlindLlama-v2's `attestation.json`.
#[derive(Deserialize)]
pub(super) struct BlindLlamaAttestation {
    /// PEM certificates, the AK certificate first.
    pub cert_chain: Vec<String>,
    /// The quote as tpm2-tools files, base64.
    pub quote: BlindLlamaQuote,
    /// The app disk's dm-verity root hash (hex).
    pub application_disk_roothash: String,
    /// The web server's CA (PEM).
    pub webserver_rootca: String,
}

/// BlindLlama-v2's quote: base64 TPMS_ATTEST, TPMT_SIGNATURE and
/// tpm2-tools PCR file.
#[derive(Deserialize)]
pub(super) struct BlindLlamaQuote {
    pub message: String,
    pub signature: String,
    pub pcr: String,
}

/// trustee's `az-snp-vtpm` / `az-tdx-vtpm` evidence: the legacy layout
/// (no `version`, bytes as number arrays) or version 1 (hex or base64url
/// text).
#[derive(Deserialize)]
pub(super) struct TrusteeAzure {
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(alias = "quote")]
    pub tpm_quote: TrusteeAzureQuote,
    #[serde(alias = "report")]
    pub hcl_report: TrusteeBytes,
    #[serde(default)]
    pub vcek: Option<TrusteeBytes>,
    #[serde(default)]
    pub td_quote: Option<TrusteeBytes>,
}

/// The vTPM quote inside [`TrusteeAzure`].
#[derive(Deserialize)]
pub(super) struct TrusteeAzureQuote {
    pub message: TrusteeBytes,
    pub signature: TrusteeBytes,
    pub pcrs: Vec<TrusteeBytes>,
}

/// Bytes the way trustee writes them: a number array (legacy) or text.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum TrusteeBytes {
    Numbers(Vec<u8>),
    Text(String),
}

/// trustee's plain TPM evidence.
#[derive(Deserialize)]
pub(super) struct TrusteeTpm {
    /// The AK's SPKI (DER), base64.
    pub ak_public: String,
    pub tpm_quote: TrusteeTpmQuote,
}

/// Its quote: base64 TPMS_ATTEST and TPMT_SIGNATURE, hex SHA-256 PCRs 0.. in order.
#[derive(Deserialize)]
pub(super) struct TrusteeTpmQuote {
    pub message: String,
    pub signature: String,
    pub pcrs: Vec<String>,
}

/// vaportpm's fixtures (GCP and NitroTPM).
#[derive(Deserialize)]
pub(super) struct Vaportpm {
    pub ak_pubkeys: VaportpmAkKeys,
    pub attestation: VaportpmAttestation,
    /// `{"<bank>": {"<index>": "<hex>"}}`.
    pub pcrs: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Deserialize)]
pub(super) struct VaportpmAkKeys {
    pub ecc_p256: VaportpmPoint,
}

/// A P-256 point, hex coordinates.
#[derive(Deserialize)]
pub(super) struct VaportpmPoint {
    pub x: String,
    pub y: String,
}

#[derive(Deserialize)]
pub(super) struct VaportpmAttestation {
    pub tpm: VaportpmTpm,
    #[serde(default)]
    pub gcp: Option<VaportpmGcp>,
    #[serde(default)]
    pub nitro: Option<VaportpmNitro>,
}

#[derive(Deserialize)]
pub(super) struct VaportpmTpm {
    pub ecc_p256: VaportpmQuote,
}

/// Hex TPMS_ATTEST and DER ECDSA signature.
#[derive(Deserialize)]
pub(super) struct VaportpmQuote {
    pub attest_data: String,
    pub signature: String,
}

#[derive(Deserialize)]
pub(super) struct VaportpmGcp {
    /// PEM, the AK certificate first.
    pub ak_cert_chain: String,
}

#[derive(Deserialize)]
pub(super) struct VaportpmNitro {
    /// Hex COSE_Sign1.
    pub document: String,
}

/// Hex text's bytes, naming the field when it is not hex.
pub(super) fn hex_text(name: &str, text: &str) -> Result<Vec<u8>, Error> {
    hex::decode(text.trim())
        .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("{name}: not hex: {e}"))))
}

/// Standard base64 text's bytes, naming the field when it is not base64.
pub(super) fn base64_text(name: &str, text: &str) -> Result<Vec<u8>, Error> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("{name}: not base64: {e}"))))
}
