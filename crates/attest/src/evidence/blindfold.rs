//! Blindfold's own evidence (`GET /.well-known/blindfold/evidence`),
//! version 1: the document type is `blindfold_protocol::EvidenceV1`, the
//! same one the enclave writes; the schema is in `docs/evidence.md`.

use blindfold_protocol::{EvidenceV1, PlatformReportV1};
use blindfold_tpm::{TpmPublic, TpmSignature};
use blindfold_x509::Certificate;

use super::{wire, AkClaim, Evidence, HardwareEvidence, Layout, QuoteClaim};
use crate::error::{Error, InputError};
use crate::platform::Platform;

pub(super) fn read(bytes: &[u8]) -> Result<Evidence, Error> {
    let doc = EvidenceV1::from_json(bytes)?;
    let platform = Platform::from_name(&doc.platform).ok_or_else(|| {
        Error::Input(InputError::EvidenceFormat(format!(
            "unknown platform {:?}",
            doc.platform
        )))
    })?;
    let public = TpmPublic::parse_tpmt(&doc.ak_public).map_err(wire("ak_public"))?;
    let mut chain = Vec::new();
    for (n, der) in doc.ak_cert_chain.iter().enumerate() {
        chain.push(
            Certificate::from_der(der)
                .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("ak_cert_chain[{n}]: {e}"))))?,
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
    let hardware = match doc.platform_report {
        None => None,
        Some(PlatformReportV1::AzureSnp { hcl_report, vcek }) => Some(HardwareEvidence::AzureSnp {
            hcl_report,
            vcek: Some(vcek),
        }),
        Some(PlatformReportV1::AzureTdx { hcl_report, td_quote }) => {
            Some(HardwareEvidence::AzureTdx { hcl_report, td_quote })
        }
        Some(PlatformReportV1::NitroDocument { document }) => {
            Some(HardwareEvidence::NitroDocument(Box::new(
                blindfold_nitro::AttestationDocument::parse(&document).map_err(|e| {
                    Error::Input(InputError::EvidenceFormat(format!(
                        "platform_report.document: {e}"
                    )))
                })?,
            )))
        }
    };
    Ok(Evidence {
        layout: Layout::BlindfoldV1,
        platform,
        ak: Some(ak),
        quotes: vec![QuoteClaim {
            message: doc.quote.message,
            signature: TpmSignature::parse(&doc.quote.signature).map_err(wire("quote.signature"))?,
            pcrs: doc.pcrs,
        }],
        event_log: doc.firmware_log,
        blindllama: None,
        runtime_log: Some(doc.runtime_log),
        hardware,
    })
}
