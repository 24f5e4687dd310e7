//! Signed reference values: a DSSE envelope (in-toto / Sigstore format)
//! around a payload that carries `measurements.json`, a version number and
//! the digests of the build inputs, signed by the publisher's key (ECDSA
//! P-256 with SHA-256). Clients pin the publisher key.

use base64::Engine as _;
use blindfold_crypto::{default_provider, HashAlg, PublicKey, Signature, SignatureScheme};
use serde_json::{json, Value};

use crate::error::Error;
use crate::reference::ReferenceValues;

/// The DSSE payload type of a Blindfold reference bundle.
pub const PAYLOAD_TYPE: &str = "application/vnd.blindfold.measurements+json";

/// DSSE pre-authentication encoding: `DSSEv1 SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// The key id used in envelopes: SHA-256 of the key's SPKI DER, hex.
pub fn key_id(key: &PublicKey) -> Result<String, Error> {
    let spki = key
        .to_spki_der()
        .map_err(|e| Error::ReferenceFormat(format!("publisher key: {e}")))?;
    Ok(default_provider().hash(HashAlg::Sha256, &[&spki]).to_hex())
}

/// The payload a bundle signs.
pub fn payload(measurements: &Value, version: u64, inputs: &Value) -> Value {
    json!({
        "blindfold_bundle": 1,
        "version": version,
        "inputs": inputs,
        "measurements": measurements,
    })
}

/// Wraps a payload and its DER ECDSA signature over [`pae`] into an envelope.
pub fn envelope(payload: &[u8], key_id: &str, der_signature: &[u8]) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    json!({
        "payloadType": PAYLOAD_TYPE,
        "payload": b64.encode(payload),
        "signatures": [{"keyid": key_id, "sig": b64.encode(der_signature)}],
    })
}

/// A verified bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    /// The reference values it carries.
    pub reference: ReferenceValues,
    /// The publisher's version number.
    pub version: u64,
    /// The build inputs' digests, as published.
    pub inputs: Value,
}

/// True when `v` looks like a DSSE envelope.
pub fn is_envelope(v: &Value) -> bool {
    v.get("payloadType").is_some() && v.get("signatures").is_some()
}

/// Verifies an envelope under `publisher`: payload type, a signature by that
/// key over the PAE, the payload's measurements, and (rollback) a version of
/// at least `min_version`.
pub fn verify_bundle(bytes: &[u8], publisher: &PublicKey, min_version: u64) -> Result<VerifiedBundle, Error> {
    let bad = |why: String| Error::ReferenceFormat(format!("signed bundle: {why}"));
    let env: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if env["payloadType"] != PAYLOAD_TYPE {
        return Err(bad(format!(
            "payloadType is {}, expected {PAYLOAD_TYPE}",
            env["payloadType"]
        )));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = b64
        .decode(env["payload"].as_str().unwrap_or_default())
        .map_err(|e| bad(format!("payload: {e}")))?;
    let message = pae(PAYLOAD_TYPE, &body);
    let want_id = key_id(publisher)?;
    let signatures = env["signatures"].as_array().cloned().unwrap_or_default();
    let mut verified = false;
    for s in &signatures {
        if s["keyid"].as_str().is_some_and(|k| k != want_id) {
            continue;
        }
        let Ok(der) = b64.decode(s["sig"].as_str().unwrap_or_default()) else {
            continue;
        };
        let Ok(sig) = Signature::ecdsa_from_der(&der) else {
            continue;
        };
        if default_provider()
            .verify_signature(publisher, SignatureScheme::Ecdsa(HashAlg::Sha256), &message, &sig)
            .is_ok()
        {
            verified = true;
            break;
        }
    }
    if !verified {
        return Err(Error::BundleNotSignedByPublisher {
            key_id: want_id,
            signatures: signatures.len(),
        });
    }
    let payload: Value = serde_json::from_slice(&body).map_err(|e| bad(format!("payload: {e}")))?;
    if payload["blindfold_bundle"] != 1 {
        return Err(bad("payload is not a blindfold_bundle version 1".into()));
    }
    let reference = ReferenceValues::parse(payload["measurements"].to_string().as_bytes())?;
    let version = payload["version"]
        .as_u64()
        .ok_or_else(|| bad("no version".into()))?;
    if version < min_version {
        return Err(Error::BundleRolledBack {
            version,
            minimum: min_version,
        });
    }
    Ok(VerifiedBundle {
        reference,
        version,
        inputs: payload["inputs"].clone(),
    })
}
