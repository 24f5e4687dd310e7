//! One parsed certificate with the bytes it came from.

use std::time::SystemTime;

use blindfold_crypto::{default_provider, HashAlg, PublicKey};
use der::{Decode, Encode};

use crate::error::Error;

/// A DER certificate, parsed once.
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    /// The signed `tbsCertificate` bytes exactly as received (not re-encoded).
    tbs_der: Vec<u8>,
    parsed: x509_cert::Certificate,
    subject: String,
    issuer: String,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    fingerprint: [u8; 32],
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Certificate {
    /// Parses one DER certificate (trailing bytes are an error).
    pub fn from_der(der: &[u8]) -> Result<Certificate, Error> {
        let parsed = x509_cert::Certificate::from_der(der).map_err(|e| Error::Parse(e.to_string()))?;
        let tbs = &parsed.tbs_certificate;
        let encode = |n: &x509_cert::name::Name| n.to_der().map_err(|e| Error::Parse(e.to_string()));
        let fingerprint = default_provider().hash(HashAlg::Sha256, &[der]);
        let tbs_der = raw_tbs(der).map_err(|e| Error::Parse(e.to_string()))?;
        Ok(Certificate {
            subject: tbs.subject.to_string(),
            issuer: tbs.issuer.to_string(),
            subject_der: encode(&tbs.subject)?,
            issuer_der: encode(&tbs.issuer)?,
            fingerprint: fingerprint.as_bytes().try_into().unwrap_or([0; 32]),
            der: der.to_vec(),
            tbs_der,
            parsed,
        })
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The signed `tbsCertificate` bytes as received.
    pub fn tbs_der(&self) -> &[u8] {
        &self.tbs_der
    }

    /// The x509-cert structure.
    pub fn parsed(&self) -> &x509_cert::Certificate {
        &self.parsed
    }

    /// Subject as text (RFC 4514). An empty subject prints as `""`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Issuer as text.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The subject's one common name (CN) as text; `None` when there is
    /// none, more than one, or it is not a UTF8String, PrintableString or
    /// IA5String.
    pub fn subject_common_name(&self) -> Option<String> {
        common_name(&self.parsed.tbs_certificate.subject)
    }

    /// The issuer's one common name (CN), as for [`Certificate::subject_common_name`].
    pub fn issuer_common_name(&self) -> Option<String> {
        common_name(&self.parsed.tbs_certificate.issuer)
    }

    /// The value (the contents of `extnValue`) and criticality of the
    /// extension `oid`; `None` when absent.
    pub fn extension(&self, oid: const_oid::ObjectIdentifier) -> Option<(&[u8], bool)> {
        self.parsed
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == oid)
            .map(|e| (e.extn_value.as_bytes(), e.critical))
    }

    pub(crate) fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    pub(crate) fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// SHA-256 of the DER.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// SHA-256 of the DER, lower-case hex.
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }

    /// The subject public key.
    pub fn public_key(&self) -> Result<PublicKey, Error> {
        let spki = self
            .parsed
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| Error::Parse(e.to_string()))?;
        PublicKey::from_spki_der(&spki).map_err(|e| Error::LeafKey {
            subject: self.subject.clone(),
            why: e.to_string(),
        })
    }

    /// The SubjectPublicKeyInfo exactly as encoded in the certificate.
    pub fn spki_der(&self) -> Result<Vec<u8>, Error> {
        self.parsed
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| Error::Parse(e.to_string()))
    }

    /// notBefore and notAfter.
    pub fn validity(&self) -> (SystemTime, SystemTime) {
        let v = &self.parsed.tbs_certificate.validity;
        (v.not_before.to_system_time(), v.not_after.to_system_time())
    }
}

fn common_name(name: &x509_cert::name::Name) -> Option<String> {
    use der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
    use der::{Tag, Tagged};
    let mut found = None;
    for atv in name.0.iter().flat_map(|rdn| rdn.0.iter()) {
        if atv.oid != const_oid::db::rfc4519::CN {
            continue;
        }
        let v = &atv.value;
        let text = match v.tag() {
            Tag::Utf8String => Utf8StringRef::try_from(v).ok()?.as_str().to_string(),
            Tag::PrintableString => PrintableStringRef::try_from(v).ok()?.as_str().to_string(),
            Tag::Ia5String => Ia5StringRef::try_from(v).ok()?.as_str().to_string(),
            _ => return None,
        };
        if found.replace(text).is_some() {
            return None;
        }
    }
    found
}

/// The first element of the outer SEQUENCE, as raw TLV bytes.
fn raw_tbs(der: &[u8]) -> der::Result<Vec<u8>> {
    use der::{Reader, SliceReader};
    let mut reader = SliceReader::new(der)?;
    reader.sequence(|seq| {
        let tbs = seq.tlv_bytes()?.to_vec();
        // Skip the signature algorithm and value; `from_der` checked them.
        let rest = seq.remaining_len();
        seq.read_slice(rest)?;
        Ok(tbs)
    })
}

/// Reads certificates from PEM text (any number of `CERTIFICATE` blocks) or
/// from one DER certificate.
pub fn parse_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, Error> {
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.contains("-----BEGIN"));
    let Some(text) = text else {
        return Ok(vec![Certificate::from_der(bytes)?]);
    };
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let block = &rest[start..];
        let end_marker = "-----END CERTIFICATE-----";
        let end = block
            .find(end_marker)
            .ok_or_else(|| Error::Parse("PEM block without END line".into()))?
            + end_marker.len();
        let (_, der) =
            pem_rfc7468::decode_vec(&block.as_bytes()[..end]).map_err(|e| Error::Parse(e.to_string()))?;
        out.push(Certificate::from_der(&der)?);
        rest = &block[end..];
    }
    if out.is_empty() {
        return Err(Error::Parse("no CERTIFICATE block in PEM text".into()));
    }
    Ok(out)
}
