//! Plain TPM evidence: trustee's generic TPM JSON, and a directory of
//! tpm2-tools outputs recognised by content.

use blindfold_crypto::{Digest, HashAlg, PublicKey};
use blindfold_tpm::{
    parse_tpm2_tools_pcrs, PcrIndex, PcrValues, TpmPublic, TpmSignature, TPM_GENERATED_VALUE,
};

use super::foreign_json::{base64_text, hex_text, TrusteeTpm};
use super::{wire, AkClaim, Evidence, Layout, QuoteClaim};
use crate::error::{Error, InputError};
use crate::platform::Platform;

/// trustee: `ak_public` (base64 DER SPKI), `tpm_quote.{message, signature}`
/// (base64), `tpm_quote.pcrs` (hex SHA-256 PCRs 0..n).
pub(super) fn read_trustee(json: TrusteeTpm) -> Result<Evidence, Error> {
    let key = PublicKey::from_spki_der(&base64_text("ak_public", &json.ak_public)?)
        .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("ak_public: {e}"))))?;
    let mut pcrs = PcrValues::new();
    for (i, v) in json.tpm_quote.pcrs.iter().enumerate() {
        let bytes = hex_text(&format!("tpm_quote.pcrs[{i}]"), v)?;
        let d = Digest::new(HashAlg::Sha256, &bytes).ok_or_else(|| {
            Error::Input(InputError::EvidenceFormat(format!(
                "tpm_quote.pcrs[{i}] is not a SHA-256 digest"
            )))
        })?;
        pcrs.insert(PcrIndex(i as u32), d);
    }
    Ok(Evidence {
        layout: Layout::TrusteeTpm,
        platform: Platform::Tpm,
        ak: Some(AkClaim::PublicKey(key)),
        quotes: vec![QuoteClaim {
            message: base64_text("tpm_quote.message", &json.tpm_quote.message)?,
            signature: TpmSignature::parse(&base64_text("tpm_quote.signature", &json.tpm_quote.signature)?)
                .map_err(wire("signature"))?,
            pcrs,
        }],
        event_log: None,
        blindllama: None,
        runtime_log: None,
        hardware: None,
    })
}

/// A directory holding a TPMS_ATTEST, a TPMT_SIGNATURE, a tpm2-tools PCR
/// file and optionally the AK (TPM2B_PUBLIC or PEM); each is recognised by
/// its content, other files are ignored.
pub(super) fn read_tpm2_tools_dir(files: &[Vec<u8>]) -> Result<Evidence, Error> {
    let (mut message, mut signature, mut pcrs, mut ak) = (None, None, None, None);
    for bytes in files {
        if bytes.starts_with(&TPM_GENERATED_VALUE.to_be_bytes()) {
            message = Some(bytes.clone());
        } else if let Ok(s) = TpmSignature::parse(bytes) {
            signature = Some(s);
        } else if let Ok((_, p)) = parse_tpm2_tools_pcrs(bytes) {
            pcrs = Some(p);
        } else if let Ok(p) = TpmPublic::parse_tpm2b(bytes) {
            ak = Some(AkClaim::TpmPublic(Box::new(p)));
        } else if let Some(k) = std::str::from_utf8(bytes)
            .ok()
            .and_then(|t| PublicKey::from_spki_pem(t).ok())
        {
            ak.get_or_insert(AkClaim::PublicKey(k));
        }
    }
    let missing =
        |what: &str| Error::Input(InputError::EvidenceFormat(format!("the directory has no {what}")));
    Ok(Evidence {
        layout: Layout::Tpm2ToolsFiles,
        platform: Platform::Tpm,
        ak,
        quotes: vec![QuoteClaim {
            message: message.ok_or_else(|| missing("TPMS_ATTEST quote message"))?,
            signature: signature.ok_or_else(|| missing("TPMT_SIGNATURE"))?,
            pcrs: pcrs.ok_or_else(|| missing("tpm2-tools PCR file"))?,
        }],
        event_log: None,
        blindllama: None,
        runtime_log: None,
        hardware: None,
    })
}
