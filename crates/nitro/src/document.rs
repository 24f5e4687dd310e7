//! Reading a Nitro attestation document: the `COSE_Sign1` envelope, then
//! the CBOR payload map. Nothing here is trusted until
//! [`crate::NitroVerifier`] has checked it.

use std::collections::BTreeMap;

use ciborium::Value;
use coset::{iana, CborSerializable, CoseSign1, RegisteredLabelWithPrivate, TaggedCborSerializable};

use blindfold_x509::Certificate;

use crate::error::Error;

/// The CBOR tag of a tagged `COSE_Sign1` (RFC 9052).
const COSE_SIGN1_TAG: u8 = 0xd2;
/// The most PCRs a document may carry (NitroTPM: 24; enclaves: 16 in use of 32).
const MAX_PCRS: u64 = 32;
/// Bytes in each PCR value (SHA-384).
const PCR_LEN: usize = 48;
/// 9999-12-31T23:59:59.999Z in Unix milliseconds: the last time RFC 3339 can write.
const LAST_MILLISECOND_OF_9999: u64 = 253_402_300_799_999;
/// Certificates a `cabundle` may hold (real ones carry 4 or 5).
const MAX_CABUNDLE: usize = 8;

/// Which Nitro component signed the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// A Nitro Enclave (`pcrs`: the enclave image, kernel, application, parent role, …).
    Enclave,
    /// An EC2 instance's NitroTPM (`nitrotpm_pcrs`: the TPM's SHA-384 bank).
    NitroTpm,
}

impl DocumentKind {
    /// The payload field holding the PCRs of this kind.
    pub fn pcr_field(self) -> &'static str {
        match self {
            DocumentKind::Enclave => "pcrs",
            DocumentKind::NitroTpm => "nitrotpm_pcrs",
        }
    }
}

/// One PCR value (SHA-384).
pub type NitroPcr = [u8; PCR_LEN];

/// A parsed (not yet verified) attestation document.
#[derive(Debug, Clone)]
pub struct AttestationDocument {
    /// Enclave or NitroTPM.
    pub kind: DocumentKind,
    /// `module_id`: the instance and enclave (or TPM) that issued it.
    pub module_id: String,
    /// `timestamp`: milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// `pcrs` or `nitrotpm_pcrs`, by index.
    pub pcrs: BTreeMap<u32, NitroPcr>,
    /// `certificate`: the signing certificate.
    pub certificate: Certificate,
    /// `cabundle`: root first, then intermediates down to the signer's issuer.
    pub cabundle: Vec<Certificate>,
    /// `public_key`, chosen by the requester (proves nothing by itself).
    pub public_key: Option<Vec<u8>>,
    /// `user_data`, chosen by the requester (proves nothing by itself).
    pub user_data: Option<Vec<u8>>,
    /// `nonce`, chosen by the requester: Blindfold's qualifying data.
    pub nonce: Option<Vec<u8>>,
    /// The `Sig_structure` the signature covers.
    pub(crate) signed: Vec<u8>,
    /// The ES384 signature, `r || s`.
    pub(crate) signature: Vec<u8>,
}

impl AttestationDocument {
    /// Reads a `COSE_Sign1` document, tagged (18) or not, with definite or
    /// indefinite lengths; refuses other algorithms than ES384, trailing
    /// bytes, missing or ill-typed fields and unknown digests.
    pub fn parse(bytes: &[u8]) -> Result<AttestationDocument, Error> {
        let cose = |e: coset::CoseError| Error::Cose(e.to_string());
        let sign1 = if bytes.first() == Some(&COSE_SIGN1_TAG) {
            CoseSign1::from_tagged_slice(bytes).map_err(cose)?
        } else {
            CoseSign1::from_slice(bytes).map_err(cose)?
        };
        match &sign1.protected.header.alg {
            Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384)) => {}
            Some(other) => return Err(Error::Algorithm(format!("{other:?}"))),
            None => return Err(Error::Algorithm("absent".into())),
        }
        let payload = sign1
            .payload
            .as_deref()
            .ok_or_else(|| Error::Cose("detached payload: a document carries its payload".into()))?;
        let mut doc = read_payload(payload)?;
        doc.signed = sign1.tbs_data(&[]);
        doc.signature = sign1.signature;
        Ok(doc)
    }
}

fn bad(what: impl Into<String>) -> Error {
    Error::Payload(what.into())
}

fn read_payload(mut payload: &[u8]) -> Result<AttestationDocument, Error> {
    let value: Value = ciborium::de::from_reader(&mut payload).map_err(|e| bad(format!("not CBOR: {e}")))?;
    if !payload.is_empty() {
        return Err(bad(format!("{} bytes after the payload map", payload.len())));
    }
    let Value::Map(entries) = value else {
        return Err(bad("not a map"));
    };
    let mut fields: BTreeMap<String, Value> = BTreeMap::new();
    for (k, v) in entries {
        let Value::Text(name) = k else {
            return Err(bad("a key is not a text string"));
        };
        if fields.insert(name.clone(), v).is_some() {
            return Err(bad(format!("field {name} appears twice")));
        }
    }
    let mut take = |name: &str| fields.remove(name);

    let module_id = match take("module_id") {
        Some(Value::Text(t)) if !t.is_empty() => t,
        _ => return Err(bad("module_id is missing or not a non-empty text string")),
    };
    match take("digest") {
        Some(Value::Text(t)) if t == "SHA384" => {}
        Some(Value::Text(t)) => return Err(bad(format!("digest is {t}, only SHA384 is defined"))),
        _ => return Err(bad("digest is missing or not text")),
    }
    let timestamp_ms = match take("timestamp") {
        Some(Value::Integer(i)) => u64::try_from(i)
            .ok()
            .filter(|t| *t <= LAST_MILLISECOND_OF_9999)
            .ok_or_else(|| bad("timestamp is negative or after the year 9999"))?,
        _ => return Err(bad("timestamp is missing or not an unsigned integer")),
    };
    let (kind, pcr_map) = match (take("pcrs"), take("nitrotpm_pcrs")) {
        (Some(p), None) => (DocumentKind::Enclave, p),
        (None, Some(p)) => (DocumentKind::NitroTpm, p),
        (Some(_), Some(_)) => return Err(bad("both pcrs and nitrotpm_pcrs")),
        (None, None) => return Err(bad("no pcrs and no nitrotpm_pcrs")),
    };
    let pcrs = read_pcrs(kind, pcr_map)?;
    if let Some(missing) = (0..3).find(|i| !pcrs.contains_key(i)) {
        // PCR 0-2 (enclave image, kernel, application; or the TPM's boot
        // PCRs) tell a debug enclave from a production one.
        return Err(bad(format!("{} has no PCR {missing}", kind.pcr_field())));
    }
    let certificate = match take("certificate") {
        Some(Value::Bytes(der)) => {
            Certificate::from_der(&der).map_err(|e| bad(format!("certificate: {e}")))?
        }
        _ => return Err(bad("certificate is missing or not a byte string")),
    };
    let cabundle = match take("cabundle") {
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_CABUNDLE => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Bytes(der) => {
                    Certificate::from_der(&der).map_err(|e| bad(format!("cabundle[{i}]: {e}")))
                }
                _ => Err(bad(format!("cabundle[{i}] is not a byte string"))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(bad(format!(
                "cabundle is missing, empty, or longer than {MAX_CABUNDLE}"
            )))
        }
    };
    let mut optional_bytes = |name: &str| match take(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bytes(b)) => Ok(Some(b)),
        Some(_) => Err(bad(format!("{name} is neither a byte string nor null"))),
    };
    let public_key = optional_bytes("public_key")?;
    let user_data = optional_bytes("user_data")?;
    let nonce = optional_bytes("nonce")?;
    if let Some(extra) = fields.keys().next() {
        return Err(bad(format!("unknown field {extra}")));
    }
    Ok(AttestationDocument {
        kind,
        module_id,
        timestamp_ms,
        pcrs,
        certificate,
        cabundle,
        public_key,
        user_data,
        nonce,
        signed: Vec::new(),
        signature: Vec::new(),
    })
}

fn read_pcrs(kind: DocumentKind, value: Value) -> Result<BTreeMap<u32, NitroPcr>, Error> {
    let field = kind.pcr_field();
    let Value::Map(entries) = value else {
        return Err(bad(format!("{field} is not a map")));
    };
    let mut pcrs = BTreeMap::new();
    for (k, v) in entries {
        let index = match k {
            Value::Integer(i) => u64::try_from(i).ok().filter(|i| *i < MAX_PCRS),
            _ => None,
        }
        .ok_or_else(|| bad(format!("{field}: an index is not an integer below {MAX_PCRS}")))?;
        let Value::Bytes(bytes) = v else {
            return Err(bad(format!("{field}[{index}] is not a byte string")));
        };
        let pcr: NitroPcr = bytes.as_slice().try_into().map_err(|_| {
            bad(format!(
                "{field}[{index}] is {} bytes, a SHA-384 PCR is {PCR_LEN}",
                bytes.len()
            ))
        })?;
        if pcrs.insert(index as u32, pcr).is_some() {
            return Err(bad(format!("{field}[{index}] appears twice")));
        }
    }
    if pcrs.is_empty() {
        return Err(bad(format!("{field} is empty")));
    }
    Ok(pcrs)
}
