//! BlindLlama-v2 `attestation.json` from an Azure Trusted Launch VM:
//! `cert_chain` (PEM: AK certificate first), `quote.{message, signature,
//! pcr}` (base64 TPMS_ATTEST, TPMT_SIGNATURE, tpm2-tools PCR file),
//! `application_disk_roothash`, `webserver_rootca`.

use blindfold_tpm::{parse_tpm2_tools_pcrs, TpmSignature};
use blindfold_x509::parse_certificates;

use super::{b64, field, wire, AkClaim, BlindLlamaBinding, Evidence, Layout, QuoteClaim};
use crate::error::{Error, InputError};
use crate::platform::Platform;

pub(super) fn read(json: &serde_json::Value) -> Result<Evidence, Error> {
    let pems = json["cert_chain"]
        .as_array()
        .ok_or_else(|| Error::Input(InputError::EvidenceFormat("cert_chain is not a list".into())))?;
    let mut certs = Vec::new();
    for pem in pems {
        let text = pem.as_str().ok_or_else(|| {
            Error::Input(InputError::EvidenceFormat(
                "cert_chain entry is not a string".into(),
            ))
        })?;
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
    let (_, pcrs) = parse_tpm2_tools_pcrs(&b64(json, "/quote/pcr")?).map_err(wire("quote.pcr"))?;
    let quote = QuoteClaim {
        message: b64(json, "/quote/message")?,
        signature: TpmSignature::parse(&b64(json, "/quote/signature")?).map_err(wire("quote.signature"))?,
        pcrs,
    };
    let app_disk_root_hash = hex::decode(field(json, "/application_disk_roothash")?).map_err(|e| {
        Error::Input(InputError::EvidenceFormat(format!(
            "application_disk_roothash: {e}"
        )))
    })?;
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
            webserver_ca_pem: field(json, "/webserver_rootca")?.to_string(),
        }),
    })
}
