//! Opening KMS's `CiphertextForRecipient`: a CMS EnvelopedData (RFC 5652)
//! with one KeyTransRecipientInfo, RSAES-OAEP with SHA-256 (and MGF1
//! SHA-256) key transport to the RSA key made inside the enclave, and
//! AES-256-CBC content — the parameters KMS uses for a NitroTPM or Nitro
//! Enclaves recipient. Any other algorithm is refused by name.
//!
//! CBC carries no integrity: what comes out is a data key that is used
//! under AES-GCM next (a sealed model's chunks and manifest), so a wrong
//! key is caught there.

use cms::content_info::ContentInfo;
use cms::enveloped_data::{EnvelopedData, RecipientInfo};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use rsa::pkcs8::DecodePrivateKey;
use zeroize::Zeroizing;

use crate::Error;

/// id-envelopedData.
const ENVELOPED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");
/// id-RSAES-OAEP.
const RSAES_OAEP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.7");
/// id-sha256.
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// id-mgf1.
const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
/// aes256-CBC.
const AES256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");

fn malformed(why: impl Into<String>) -> Error {
    Error::Envelope(why.into())
}

/// The RSA key the enclave made for one KMS call (PKCS#8 DER), kept only
/// in memory.
pub struct RecipientKey(rsa::RsaPrivateKey);

impl RecipientKey {
    /// A fresh RSA-2048 key (KMS accepts 2048 to 4096 bits).
    pub fn generate() -> Result<RecipientKey, Error> {
        rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .map(RecipientKey)
            .map_err(|e| malformed(format!("making the RSA key: {e}")))
    }

    /// A key from PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<RecipientKey, Error> {
        rsa::RsaPrivateKey::from_pkcs8_der(der)
            .map(RecipientKey)
            .map_err(|e| malformed(format!("not an RSA PKCS#8 key: {e}")))
    }

    /// Its public key as SubjectPublicKeyInfo DER: what goes into the
    /// attestation document's `public_key`.
    pub fn public_key_der(&self) -> Result<Vec<u8>, Error> {
        use rsa::pkcs8::EncodePublicKey;
        self.0
            .to_public_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| malformed(e.to_string()))
    }
}

/// Opens `ciphertext_for_recipient` (BER or DER) with `key`: the
/// plaintext KMS released (a data key), wiped when dropped.
pub fn open_for_recipient(
    ciphertext_for_recipient: &[u8],
    key: &RecipientKey,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let der = crate::ber::to_der(ciphertext_for_recipient)?;
    let info = ContentInfo::from_der(&der).map_err(|e| malformed(format!("not a CMS ContentInfo: {e}")))?;
    if info.content_type != ENVELOPED_DATA {
        return Err(malformed(format!(
            "the content type is {}, expected EnvelopedData ({ENVELOPED_DATA})",
            info.content_type
        )));
    }
    let enveloped: EnvelopedData = info
        .content
        .decode_as()
        .map_err(|e| malformed(format!("not an EnvelopedData: {e}")))?;
    let mut ktri = enveloped.recip_infos.0.iter().filter_map(|r| match r {
        RecipientInfo::Ktri(k) => Some(k),
        _ => None,
    });
    let (Some(ktri), None) = (ktri.next(), ktri.next()) else {
        return Err(malformed("expected exactly one key-transport recipient"));
    };
    check_oaep_sha256(&ktri.key_enc_alg)?;
    let content_key = Zeroizing::new(
        key.0
            .decrypt(rsa::Oaep::new::<sha2::Sha256>(), ktri.enc_key.as_bytes())
            .map_err(|_| Error::KeyTransport)?,
    );
    let alg = &enveloped.encrypted_content.content_enc_alg;
    if alg.oid != AES256_CBC {
        return Err(Error::Algorithm(format!(
            "content encryption is {}, expected AES-256-CBC ({AES256_CBC})",
            alg.oid
        )));
    }
    let iv = alg
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<der::asn1::OctetString>().ok())
        .filter(|iv| iv.as_bytes().len() == 16)
        .ok_or_else(|| malformed("the AES-256-CBC IV is not a 16-byte OCTET STRING"))?;
    let content = enveloped
        .encrypted_content
        .encrypted_content
        .as_ref()
        .ok_or_else(|| malformed("no encrypted content (detached content is not what KMS sends)"))?;
    let key: &[u8; 32] = content_key.as_slice().try_into().map_err(|_| {
        Error::Algorithm(format!(
            "the content key is {} bytes, AES-256 takes 32",
            content_key.len()
        ))
    })?;
    use cbc::cipher::{BlockDecryptMut, KeyIvInit};
    let iv: &[u8; 16] = iv.as_bytes().try_into().map_err(|_| malformed("IV"))?;
    cbc::Decryptor::<aes::Aes256>::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<cbc::cipher::block_padding::Pkcs7>(content.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| Error::Padding)
}

/// The key transport must be RSAES-OAEP with SHA-256 and MGF1-SHA-256 (the
/// RFC 4055 defaults are SHA-1: an absent parameter is refused).
fn check_oaep_sha256(alg: &spki::AlgorithmIdentifierOwned) -> Result<(), Error> {
    if alg.oid != RSAES_OAEP {
        return Err(Error::Algorithm(format!(
            "key transport is {}, expected RSAES-OAEP ({RSAES_OAEP}) with SHA-256",
            alg.oid
        )));
    }
    let params = alg.parameters.as_ref().ok_or_else(|| {
        Error::Algorithm("RSAES-OAEP without parameters means SHA-1; expected SHA-256".into())
    })?;
    let der = params
        .to_der()
        .map_err(|e| malformed(format!("RSAES-OAEP parameters: {e}")))?;
    let p = rsa::pkcs1::RsaOaepParams::from_der(&der)
        .map_err(|e| malformed(format!("unreadable RSAES-OAEP parameters: {e}")))?;
    let mgf_hash = p.mask_gen.parameters.map(|h| h.oid);
    if p.hash.oid == SHA256 && p.mask_gen.oid == MGF1 && mgf_hash == Some(SHA256) {
        Ok(())
    } else {
        Err(Error::Algorithm(format!(
            "RSAES-OAEP with hash {} and mask {} ({}), expected SHA-256 and MGF1-SHA-256",
            p.hash.oid,
            p.mask_gen.oid,
            mgf_hash
                .map(|o| o.to_string())
                .unwrap_or_else(|| "no hash".into())
        )))
    }
}
