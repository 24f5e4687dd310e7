//! BlindLlama-v2 `attestation.json` from an Azure Trusted Launch VM:
//! `cert_chain` (PEM: AK certificate first), `quote.{message, signature,
//! pcr}` (base64 TPMS_ATTEST, TPMT_SIGNATURE, tpm2-tools PCR file),
//! `application_disk_roothash`, `webserver_rootca`.

use blindfold_tpm::{parse_tpm2_tools_pcrs, TpmSignature};
use blindfold_x509::parse_certificates;

use super::foreign_json::{base64_text, hex_text, BlindLlamaAttestation};
use super::{wire, AkClaim, BlindLlamaBinding, Evidence, Layout, QuoteClaim};
use crate::error::{Error, InputError};
use crate::platform::Platform;

pub(super) fn read(json: BlindLlamaAttestation) -> Result<Evidence, Error> {
    let mut certs = Vec::new();
    for text in &json.cert_chain {
        certs.extend(
            parse_certificates(text.as_bytes())
                .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("cert_chain: {e}"))))?,
        );
    }
    if certs.is_empty() {
        return Err(Error::Input(InputError::EvidenceFormat(
            "cert_chain is empty".into(),
        )));
    }
    let leaf = certs.remove(0);
    let (_, pcrs) =
        parse_tpm2_tools_pcrs(&base64_text("quote.pcr", &json.quote.pcr)?).map_err(wire("quote.pcr"))?;
    let quote = QuoteClaim {
        message: base64_text("quote.message", &json.quote.message)?,
        signature: TpmSignature::parse(&base64_text("quote.signature", &json.quote.signature)?)
            .map_err(wire("quote.signature"))?,
        pcrs,
    };
    let app_disk_root_hash = hex_text("application_disk_roothash", &json.application_disk_roothash)?;
    Ok(Evidence {
        layout: Layout::BlindLlamaAzure,
        platform: Platform::AzureVtpm,
        ak: Some(AkClaim::Certificate {
            leaf: Box::new(leaf),
            intermediates: certs,
            public: None,
        }),
        quotes: vec![quote],
        event_log: None,
        runtime_log: None,
        hardware: None,
        blindllama: Some(BlindLlamaBinding {
            app_disk_root_hash,
            webserver_ca_pem: json.webserver_rootca,
        }),
    })
}
