//! Google Compute Engine vTPM evidence: the go-tpm-tools `Attestation`
//! protobuf (`proto/attest.proto`, `proto/tpm.proto`) and the vaportpm JSON
//! fixture layout.

use std::collections::HashMap;

use blindfold_crypto::{Digest, EccCurve, HashAlg, PublicKey, Signature, SignatureScheme};
use blindfold_tpm::{PcrIndex, PcrValues, TpmPublic, TpmSignature};
use blindfold_x509::{parse_certificates, Certificate};
use prost::Message;

use super::foreign_json::{hex_text, Vaportpm};
use super::{wire, AkClaim, Evidence, Layout, QuoteClaim};
use crate::error::{Error, InputError};
use crate::platform::Platform;

/// `attest.Attestation` (fields Blindfold reads; others are skipped).
#[derive(Clone, PartialEq, Message)]
struct AttestationProto {
    /// AK public area (`TPMT_PUBLIC`).
    #[prost(bytes = "vec", tag = "1")]
    ak_pub: Vec<u8>,
    /// One quote per PCR bank.
    #[prost(message, repeated, tag = "2")]
    quotes: Vec<QuoteProto>,
    /// TCG event log.
    #[prost(bytes = "vec", tag = "3")]
    event_log: Vec<u8>,
    /// AK certificate (DER).
    #[prost(bytes = "vec", tag = "6")]
    ak_cert: Vec<u8>,
    /// Intermediates (DER).
    #[prost(bytes = "vec", repeated, tag = "7")]
    intermediate_certs: Vec<Vec<u8>>,
}

/// `tpm.Quote`.
#[derive(Clone, PartialEq, Message)]
struct QuoteProto {
    #[prost(bytes = "vec", tag = "1")]
    quote: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    raw_sig: Vec<u8>,
    #[prost(message, optional, tag = "3")]
    pcrs: Option<PcrsProto>,
}

/// `tpm.PCRs`.
#[derive(Clone, PartialEq, Message)]
struct PcrsProto {
    #[prost(int32, tag = "1")]
    hash: i32,
    #[prost(map = "uint32, bytes", tag = "2")]
    pcrs: HashMap<u32, Vec<u8>>,
}

/// Reads a go-tpm-tools `Attestation`; `Ok(None)` when the bytes are not one
/// (no AK public area or no quote).
pub(super) fn read_proto(bytes: &[u8]) -> Result<Option<Evidence>, Error> {
    let Ok(a) = AttestationProto::decode(bytes) else {
        return Ok(None);
    };
    if a.ak_pub.is_empty() || a.quotes.is_empty() {
        return Ok(None);
    }
    let public = TpmPublic::parse_tpmt(&a.ak_pub).map_err(wire("ak_pub"))?;
    let mut quotes = Vec::new();
    for (n, q) in a.quotes.iter().enumerate() {
        let pcrs_proto = q
            .pcrs
            .as_ref()
            .ok_or_else(|| Error::Input(InputError::EvidenceFormat(format!("quote {n} has no PCRs"))))?;
        let bank = u16::try_from(pcrs_proto.hash)
            .ok()
            .and_then(HashAlg::from_tpm_alg_id)
            .ok_or_else(|| {
                Error::Input(InputError::EvidenceFormat(format!(
                    "quote {n}: unknown PCR hash {}",
                    pcrs_proto.hash
                )))
            })?;
        let mut pcrs = PcrValues::new();
        for (index, value) in &pcrs_proto.pcrs {
            let d = Digest::new(bank, value).ok_or_else(|| {
                Error::Input(InputError::EvidenceFormat(format!(
                    "quote {n}: PCR {index} is not a {bank} digest"
                )))
            })?;
            pcrs.insert(PcrIndex(*index), d);
        }
        quotes.push(QuoteClaim {
            message: q.quote.clone(),
            signature: TpmSignature::parse(&q.raw_sig).map_err(wire("raw_sig"))?,
            pcrs,
        });
    }
    let ak = if a.ak_cert.is_empty() {
        AkClaim::TpmPublic(Box::new(public))
    } else {
        let leaf = Certificate::from_der(&a.ak_cert)
            .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("ak_cert: {e}"))))?;
        let intermediates = a
            .intermediate_certs
            .iter()
            .map(|der| {
                Certificate::from_der(der)
                    .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("intermediate: {e}"))))
            })
            .collect::<Result<_, _>>()?;
        AkClaim::Certificate {
            leaf: Box::new(leaf),
            intermediates,
            public: Some(public.key),
        }
    };
    let platform = if matches!(ak, AkClaim::Certificate { .. }) {
        Platform::GcpVtpm
    } else {
        Platform::Tpm
    };
    Ok(Some(Evidence {
        layout: Layout::GoTpmToolsProto,
        platform,
        ak: Some(ak),
        quotes,
        event_log: (!a.event_log.is_empty()).then_some(a.event_log),
        blindllama: None,
        runtime_log: None,
        hardware: None,
    }))
}

/// vaportpm's GCP fixture: `pcrs.sha256`, the AK and quote
/// ([`vaportpm_quote`]), `attestation.gcp.ak_cert_chain` (PEM, AK
/// certificate first).
pub(super) fn read_vaportpm(json: Vaportpm) -> Result<Evidence, Error> {
    let (key, quote) = vaportpm_quote(&json)?;
    let chain = json
        .attestation
        .gcp
        .as_ref()
        .ok_or_else(|| Error::Input(InputError::EvidenceFormat("attestation.gcp is missing".into())))?;
    let mut certs = parse_certificates(chain.ak_cert_chain.as_bytes())
        .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("ak_cert_chain: {e}"))))?;
    if certs.is_empty() {
        return Err(Error::Input(InputError::EvidenceFormat(
            "ak_cert_chain is empty".into(),
        )));
    }
    let leaf = certs.remove(0);
    Ok(Evidence {
        layout: Layout::VaportpmGcp,
        platform: Platform::GcpVtpm,
        ak: Some(AkClaim::Certificate {
            leaf: Box::new(leaf),
            intermediates: certs,
            public: Some(key),
        }),
        quotes: vec![quote],
        event_log: None,
        blindllama: None,
        runtime_log: None,
        hardware: None,
    })
}

/// The part vaportpm's fixtures share (GCP and NitroTPM): the P-256 AK
/// (`ak_pubkeys.ecc_p256.{x,y}`), its quote (`attestation.tpm.ecc_p256.
/// {attest_data, signature (DER ECDSA)}`) and the PCRs sent with it.
pub(super) fn vaportpm_quote(json: &Vaportpm) -> Result<(PublicKey, QuoteClaim), Error> {
    let x = hex_text("ak_pubkeys.ecc_p256.x", &json.ak_pubkeys.ecc_p256.x)?;
    let y = hex_text("ak_pubkeys.ecc_p256.y", &json.ak_pubkeys.ecc_p256.y)?;
    let key = PublicKey::ecc(EccCurve::NistP256, &x, &y)
        .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("ak_pubkeys: {e}"))))?;
    let tpm = &json.attestation.tpm.ecc_p256;
    let der_sig = hex_text("attestation.tpm.ecc_p256.signature", &tpm.signature)?;
    let signature = Signature::ecdsa_from_der(&der_sig)
        .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("signature: {e}"))))?;
    let quote = QuoteClaim {
        message: hex_text("attestation.tpm.ecc_p256.attest_data", &tpm.attest_data)?,
        signature: TpmSignature {
            scheme: SignatureScheme::Ecdsa(HashAlg::Sha256),
            signature,
        },
        pcrs: super::pcrs_by_bank(&json.pcrs)?,
    };
    Ok((key, quote))
}
