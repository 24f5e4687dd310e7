//! Blindfold's own evidence (`GET /.well-known/blindfold/evidence`),
//! version 1; the schema is in `docs/evidence.md`.

use base64::Engine as _;
use blindfold_tpm::{TpmPublic, TpmSignature};
use blindfold_x509::Certificate;

use super::{b64, wire, AkClaim, Evidence, Layout, QuoteClaim};
use crate::error::Error;
use crate::platform::Platform;

pub(super) fn read(json: &serde_json::Value) -> Result<Evidence, Error> {
    if json["blindfold_evidence"] != 1 {
        return Err(Error::EvidenceFormat(format!(
            "blindfold_evidence version {}, expected 1",
            json["blindfold_evidence"]
        )));
    }
    let platform_name = json["platform"].as_str().unwrap_or_default();
    let platform = Platform::from_name(platform_name)
        .ok_or_else(|| Error::EvidenceFormat(format!("unknown platform {platform_name}")))?;
    let pcrs = super::pcrs_json(&json["pcrs"])?;
    let public = TpmPublic::parse_tpmt(&b64(json, "/ak_public")?).map_err(wire("ak_public"))?;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut chain = Vec::new();
    for c in json["ak_cert_chain"].as_array().into_iter().flatten() {
        let der = engine
            .decode(c.as_str().unwrap_or_default())
            .map_err(|e| Error::EvidenceFormat(format!("ak_cert_chain: {e}")))?;
        chain.push(
            Certificate::from_der(&der).map_err(|e| Error::EvidenceFormat(format!("ak_cert_chain: {e}")))?,
        );
    }
    let ak = if chain.is_empty() {
        AkClaim::TpmPublic(Box::new(public))
    } else {
        let leaf = chain.remove(0);
        AkClaim::Certificate {
            leaf: Box::new(leaf),
            intermediates: chain,
            public: Some(public.key),
        }
    };
    let firmware_log = match json.get("firmware_log") {
        Some(serde_json::Value::String(_)) => Some(b64(json, "/firmware_log")?),
        _ => None,
    };
    Ok(Evidence {
        layout: Layout::BlindfoldV1,
        platform,
        ak: Some(ak),
        quotes: vec![QuoteClaim {
            message: b64(json, "/quote/message")?,
            signature: TpmSignature::parse(&b64(json, "/quote/signature")?)
                .map_err(wire("quote.signature"))?,
            pcrs,
        }],
        event_log: firmware_log,
        blindllama: None,
        runtime_log: json.get("runtime_log").cloned(),
        hardware: None,
    })
}
