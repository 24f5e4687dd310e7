//! Signed reference values: a DSSE envelope (in-toto / Sigstore format)
//! around a [`BundlePayload`] that carries `measurements.json`, a version
//! number, an optional expiry and the digests of the build inputs, signed
//! by the publisher's key (ECDSA P-256 with SHA-256). Clients pin the
//! publisher key.
//!
//! Extension rule: the payload is versioned (`blindfold_bundle`), and a
//! reader refuses another version or a field it does not know: a field it
//! skipped (an expiry, say) could be a restriction it would fail to apply.

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::Engine as _;
use blindfold_crypto::{default_provider, HashAlg, PublicKey, Signature, SignatureScheme};
use serde::{Deserialize, Serialize};

use crate::error::{BundleError, Error, InputError};
use crate::reference::{MeasurementsV1, ReferenceValues};

/// The DSSE payload type of a Blindfold reference bundle.
pub const PAYLOAD_TYPE: &str = "application/vnd.blindfold.measurements+json";

/// The payload version this crate writes and reads.
pub const BUNDLE_VERSION: u32 = 1;

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
        .map_err(|e| Error::Input(InputError::ReferenceFormat(format!("publisher key: {e}"))))?;
    Ok(default_provider().hash(HashAlg::Sha256, &[&spki]).to_hex())
}

/// What a bundle signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundlePayload {
    /// Always [`BUNDLE_VERSION`].
    pub blindfold_bundle: u32,
    /// The publisher's version number: clients refuse lower ones once they
    /// have seen a higher one (rollback).
    pub version: u64,
    /// After this time (RFC 3339) the bundle is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Digests of the build inputs (`sha256:<hex>`), `null` where absent.
    #[serde(default)]
    pub inputs: BTreeMap<String, Option<String>>,
    /// The reference values.
    pub measurements: MeasurementsV1,
}

/// A DSSE envelope (only the fields DSSE defines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`PAYLOAD_TYPE`] for a Blindfold bundle.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The signed payload, base64.
    pub payload: String,
    /// Signatures over [`pae`] of the payload.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// [`key_id`] of the signing key.
    #[serde(default)]
    pub keyid: String,
    /// The DER ECDSA signature, base64.
    pub sig: String,
}

impl Envelope {
    /// Wraps a reference bundle's payload and its DER ECDSA signature over [`pae`].
    pub fn new(payload: &[u8], key_id: &str, der_signature: &[u8]) -> Envelope {
        Envelope::typed(PAYLOAD_TYPE, payload, key_id, der_signature)
    }

    /// Wraps a payload of `payload_type` and its DER ECDSA signature over [`pae`].
    pub fn typed(payload_type: &str, payload: &[u8], key_id: &str, der_signature: &[u8]) -> Envelope {
        let b64 = base64::engine::general_purpose::STANDARD;
        Envelope {
            payload_type: payload_type.into(),
            payload: b64.encode(payload),
            signatures: vec![EnvelopeSignature {
                keyid: key_id.into(),
                sig: b64.encode(der_signature),
            }],
        }
    }

    /// Reads an envelope, `None` when `bytes` are not one (a plain
    /// reference file, say).
    pub fn parse(bytes: &[u8]) -> Option<Envelope> {
        serde_json::from_slice(bytes).ok()
    }
}

/// True when `bytes` hold a DSSE envelope.
pub fn is_envelope(bytes: &[u8]) -> bool {
    Envelope::parse(bytes).is_some()
}

/// Why an envelope did not verify ([`verify_envelope`]).
#[derive(Debug)]
pub enum EnvelopeError {
    /// Not a DSSE envelope of the expected payload type.
    Format(String),
    /// No signature verifies under the key.
    NotSigned {
        /// The key's [`key_id`].
        key_id: String,
        /// Signatures in the envelope.
        signatures: usize,
    },
    /// The key cannot be encoded for its id.
    Key(Error),
}

/// Checks that `bytes` hold a DSSE envelope of `payload_type` with an ECDSA
/// P-256 / SHA-256 signature by `key` over the PAE; returns the payload
/// and the key's id. The one signature check behind reference bundles and
/// the key broker's owner policies.
pub fn verify_envelope(
    bytes: &[u8],
    payload_type: &str,
    key: &PublicKey,
) -> Result<(Vec<u8>, String), EnvelopeError> {
    let env: Envelope = serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Format(e.to_string()))?;
    if env.payload_type != payload_type {
        return Err(EnvelopeError::Format(format!(
            "payloadType is {:?}, expected {payload_type}",
            env.payload_type
        )));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = b64
        .decode(&env.payload)
        .map_err(|e| EnvelopeError::Format(format!("payload: {e}")))?;
    let message = pae(payload_type, &body);
    let want_id = key_id(key).map_err(EnvelopeError::Key)?;
    let verified = env
        .signatures
        .iter()
        .filter(|s| s.keyid.is_empty() || s.keyid == want_id)
        .filter_map(|s| b64.decode(&s.sig).ok())
        .filter_map(|der| Signature::ecdsa_from_der(&der).ok())
        .any(|sig| {
            default_provider()
                .verify_signature(key, SignatureScheme::Ecdsa(HashAlg::Sha256), &message, &sig)
                .is_ok()
        });
    if !verified {
        return Err(EnvelopeError::NotSigned {
            key_id: want_id,
            signatures: env.signatures.len(),
        });
    }
    Ok((body, want_id))
}

/// A verified bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    /// The reference values it carries.
    pub reference: ReferenceValues,
    /// The publisher's version number.
    pub version: u64,
    /// When it expires, if it says.
    pub expires: Option<SystemTime>,
    /// The build inputs' digests, as published.
    pub inputs: BTreeMap<String, Option<String>>,
    /// [`key_id`] of the publisher key it verified under.
    pub key_id: String,
}

/// What a bundle must meet besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct BundleCheck {
    /// Refuse versions below this (rollback).
    pub min_version: u64,
    /// The time its expiry is checked at.
    pub at: SystemTime,
}

/// Verifies an envelope under `publisher`: payload type, a signature by that
/// key over the PAE, the payload's measurements, its expiry and (rollback)
/// a version of at least `check.min_version`.
pub fn verify_bundle(
    bytes: &[u8],
    publisher: &PublicKey,
    check: &BundleCheck,
) -> Result<VerifiedBundle, Error> {
    let bad = |why: String| Error::Input(InputError::ReferenceFormat(format!("signed bundle: {why}")));
    let (body, want_id) = verify_envelope(bytes, PAYLOAD_TYPE, publisher).map_err(|e| match e {
        EnvelopeError::Format(why) => bad(why),
        EnvelopeError::NotSigned { key_id, signatures } => {
            Error::Bundle(BundleError::NotSignedByPublisher { key_id, signatures })
        }
        EnvelopeError::Key(e) => e,
    })?;
    /// The payload's format version alone, read before the rest.
    #[derive(Deserialize)]
    struct VersionOnly {
        blindfold_bundle: Option<u64>,
    }
    let version_of = serde_json::from_slice::<VersionOnly>(&body)
        .ok()
        .and_then(|v| v.blindfold_bundle);
    if version_of != Some(u64::from(BUNDLE_VERSION)) {
        return Err(bad(format!(
            "payload is not a blindfold_bundle version {BUNDLE_VERSION}"
        )));
    }
    let payload: BundlePayload = serde_json::from_slice(&body).map_err(|e| bad(format!("payload: {e}")))?;
    let reference = ReferenceValues::from_measurements(&payload.measurements)?;
    if payload.version < check.min_version {
        return Err(Error::Bundle(BundleError::RolledBack {
            version: payload.version,
            minimum: check.min_version,
        }));
    }
    let expires = payload
        .expires
        .as_deref()
        .map(|t| humantime::parse_rfc3339(t).map_err(|e| bad(format!("expires {t:?}: {e}"))))
        .transpose()?;
    if let Some(when) = expires {
        if check.at > when {
            return Err(Error::Bundle(BundleError::Expired {
                expired: humantime::format_rfc3339_seconds(when).to_string(),
            }));
        }
    }
    Ok(VerifiedBundle {
        reference,
        version: payload.version,
        expires,
        inputs: payload.inputs,
        key_id: want_id,
    })
}
