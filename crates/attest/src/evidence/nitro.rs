//! AWS Nitro evidence: a bare attestation document (Nitro Enclaves or
//! NitroTPM, `COSE_Sign1` bytes), and vaportpm's NitroTPM composite where a
//! TPM quote over the SHA-384 PCRs is signed by the AK the document names
//! in its `public_key`.

use blindfold_crypto::{EccCurve, PublicKey};
use blindfold_nitro::{AttestationDocument, DocumentKind};

use super::foreign_json::{hex_text, Vaportpm};
use super::{AkClaim, Evidence, HardwareEvidence, Layout};
use crate::error::{Error, InputError};
use crate::platform::Platform;

fn platform(kind: DocumentKind) -> Platform {
    match kind {
        DocumentKind::Enclave => Platform::AwsNitroEnclave,
        DocumentKind::NitroTpm => Platform::AwsNitroTpm,
    }
}

/// A bare document, if `bytes` is one (`Ok(None)` when it is not COSE at all).
pub(super) fn read_document(bytes: &[u8]) -> Result<Option<Evidence>, Error> {
    // A COSE_Sign1 is a 4-array, definite (0x84) or not (0x9f), maybe tagged (0xd2).
    if !matches!(bytes.first(), Some(0x84 | 0x9f | 0xd2)) {
        return Ok(None);
    }
    let doc = match AttestationDocument::parse(bytes) {
        Ok(doc) => doc,
        Err(blindfold_nitro::Error::Cose(_)) => return Ok(None),
        Err(e) => {
            return Err(Error::Input(InputError::EvidenceFormat(format!(
                "Nitro attestation document: {e}"
            ))))
        }
    };
    Ok(Some(Evidence {
        layout: Layout::NitroDocument,
        platform: platform(doc.kind),
        ak: None,
        quotes: Vec::new(),
        event_log: None,
        blindllama: None,
        runtime_log: None,
        hardware: Some(HardwareEvidence::NitroDocument(Box::new(doc))),
    }))
}

/// vaportpm's NitroTPM fixture: `pcrs.sha384`, the AK and quote
/// (`gcp::vaportpm_quote`), `attestation.nitro.document` (hex `COSE_Sign1`).
pub(super) fn read_vaportpm(json: Vaportpm) -> Result<Evidence, Error> {
    let document = json
        .attestation
        .nitro
        .as_ref()
        .ok_or_else(|| Error::Input(InputError::EvidenceFormat("attestation.nitro is missing".into())))?;
    let document = hex_text("attestation.nitro.document", &document.document)?;
    let doc = AttestationDocument::parse(&document).map_err(|e| {
        Error::Input(InputError::EvidenceFormat(format!(
            "attestation.nitro.document: {e}"
        )))
    })?;
    let (key, quote) = super::gcp::vaportpm_quote(&json)?;
    Ok(Evidence {
        layout: Layout::VaportpmNitro,
        platform: platform(doc.kind),
        ak: Some(AkClaim::PublicKey(key)),
        quotes: vec![quote],
        event_log: None,
        blindllama: None,
        runtime_log: None,
        hardware: Some(HardwareEvidence::NitroDocument(Box::new(doc))),
    })
}

/// The AK a NitroTPM document vouches for: its `public_key`, an uncompressed
/// SEC1 point (P-256 or P-384) or a DER SubjectPublicKeyInfo.
pub(crate) fn document_ak(public_key: &[u8]) -> Result<PublicKey, Error> {
    let point = |curve: EccCurve, n: usize| {
        PublicKey::ecc(curve, &public_key[1..1 + n], &public_key[1 + n..])
            .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("document public_key: {e}"))))
    };
    match (public_key.first(), public_key.len()) {
        (Some(0x04), 65) => point(EccCurve::NistP256, 32),
        (Some(0x04), 97) => point(EccCurve::NistP384, 48),
        _ => PublicKey::from_spki_der(public_key).map_err(|e| {
            Error::Input(InputError::EvidenceFormat(format!(
                "document public_key is neither an uncompressed EC point nor a SubjectPublicKeyInfo: {e}"
            )))
        }),
    }
}
