//! Azure's HCL report: what the paravisor (HCL) of an Azure confidential VM
//! hands out, a 32-byte header, the hardware report (an SEV-SNP report or a
//! TDX TDREPORT, 1184 bytes reserved), then the runtime data whose hash the
//! hardware report carries as its report data: a JSON document holding the
//! vTPM's attestation key (`HCLAkPub`). Read here, trusted only once the
//! hardware report verifies and its report data is the runtime data's hash.

use base64::Engine as _;
use blindfold_crypto::{HashAlg, PublicKey};

use crate::error::{Error, InputError};

/// "HCLA", little-endian.
const HCL_SIGNATURE: u32 = 0x414c_4348;
const HEADER_LEN: usize = 32;
/// Bytes reserved for the hardware report (an SNP report fills them).
pub(crate) const HW_REPORT_LEN: usize = 1184;
/// The IGVM request-data header before the runtime data.
const REQUEST_DATA_HEADER_LEN: usize = 20;
/// The runtime data JSON is at most this long (real ones are ~1 KiB).
const MAX_RUNTIME_DATA: usize = 64 * 1024;

/// The hardware report inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HclReportType {
    /// An SEV-SNP attestation report.
    Snp,
    /// A TDX TDREPORT (its quote travels separately).
    Tdx,
}

/// A parsed (untrusted) HCL report.
#[derive(Debug, Clone)]
pub(crate) struct HclReport {
    pub(crate) report_type: HclReportType,
    /// The 1184 hardware-report bytes.
    pub(crate) hardware_report: Vec<u8>,
    /// The runtime data, as hashed into the hardware report.
    pub(crate) runtime_data: Vec<u8>,
    /// The hash the hardware report's report data holds of it.
    pub(crate) runtime_data_hash: HashAlg,
    /// `HCLAkPub`: the vTPM's attestation key, as the runtime data names it.
    pub(crate) ak: PublicKey,
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::Input(InputError::EvidenceFormat(format!("HCL report: {what}")))
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, Error> {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| bad(format!("truncated at byte {at}")))
}

impl HclReport {
    /// Reads the header, the hardware report, the request-data header and
    /// the runtime data JSON; anything after the runtime data must be zero
    /// padding.
    pub(crate) fn parse(bytes: &[u8]) -> Result<HclReport, Error> {
        if u32_at(bytes, 0)? != HCL_SIGNATURE {
            return Err(bad("does not start with \"HCLA\""));
        }
        let hardware_report = bytes
            .get(HEADER_LEN..HEADER_LEN + HW_REPORT_LEN)
            .ok_or_else(|| {
                bad(format!(
                    "{} bytes, shorter than header and hardware report",
                    bytes.len()
                ))
            })?
            .to_vec();
        let data = HEADER_LEN + HW_REPORT_LEN;
        let report_type = match u32_at(bytes, data + 8)? {
            2 => HclReportType::Snp,
            4 => HclReportType::Tdx,
            other => {
                return Err(bad(format!(
                    "report type {other} (2 = SEV-SNP and 4 = TDX are known)"
                )))
            }
        };
        let runtime_data_hash = match u32_at(bytes, data + 12)? {
            1 => HashAlg::Sha256,
            2 => HashAlg::Sha384,
            3 => HashAlg::Sha512,
            other => return Err(bad(format!("runtime data hash type {other}"))),
        };
        let len = u32_at(bytes, data + 16)? as usize;
        if len > MAX_RUNTIME_DATA {
            return Err(bad(format!("runtime data of {len} bytes")));
        }
        let start = data + REQUEST_DATA_HEADER_LEN;
        let runtime_data = bytes
            .get(start..start + len)
            .ok_or_else(|| bad(format!("runtime data of {len} bytes runs past the end")))?
            .to_vec();
        if bytes[start + len..].iter().any(|b| *b != 0) {
            return Err(bad("non-zero bytes after the runtime data"));
        }
        let ak = hcl_ak(&runtime_data)?;
        Ok(HclReport {
            report_type,
            hardware_report,
            runtime_data,
            runtime_data_hash,
            ak,
        })
    }
}

/// The HCL runtime data (JSON): the keys the paravisor vouches for.
#[derive(serde::Deserialize)]
struct RuntimeData {
    keys: Vec<Jwk>,
}

/// One JSON Web Key of the runtime data.
#[derive(serde::Deserialize)]
struct Jwk {
    #[serde(default)]
    kid: Option<String>,
    kty: String,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

/// The `HCLAkPub` JWK (RSA) of the runtime data.
fn hcl_ak(runtime_data: &[u8]) -> Result<PublicKey, Error> {
    let data: RuntimeData =
        serde_json::from_slice(runtime_data).map_err(|e| bad(format!("runtime data: {e}")))?;
    let mut found = data.keys.iter().filter(|k| k.kid.as_deref() == Some("HCLAkPub"));
    let (Some(jwk), None) = (found.next(), found.next()) else {
        return Err(bad("runtime data must name exactly one HCLAkPub"));
    };
    if jwk.kty != "RSA" {
        return Err(bad(format!("HCLAkPub has kty {}, expected RSA", jwk.kty)));
    }
    let part = |name: &str, value: &Option<String>| {
        let text = value
            .as_deref()
            .ok_or_else(|| bad(format!("HCLAkPub has no {name}")))?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|e| bad(format!("HCLAkPub {name}: {e}")))
    };
    let n = part("n", &jwk.n)?;
    let e = part("e", &jwk.e)?;
    if e.is_empty() || e.len() > 4 {
        return Err(bad("HCLAkPub exponent does not fit 32 bits"));
    }
    let exponent = e.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
    Ok(PublicKey::rsa(&n, exponent))
}
