//! Signing a PE image: its Authenticode digest in an
//! `SpcIndirectDataContent`, signed as PKCS#7 SignedData (CMS version 1,
//! SHA-256, RSA PKCS#1 v1.5), in a `WIN_CERTIFICATE` appended as the
//! image's certificate table.

use blindfold_crypto::HashAlg;
use blindfold_measure::pe::{authenticode, PeImage};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, DigestAlgorithmIdentifiers, EncapsulatedContentInfo, SignedData, SignerIdentifier,
    SignerInfos,
};
use der::asn1::SetOfVec;
use der::{Any, Decode, DecodePem, Encode};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use x509_cert::builder::Builder;
use x509_cert::Certificate;

use crate::error::Error;
use crate::spc::{sha256_algorithm, SpcIndirectDataContent, SPC_INDIRECT_DATA, SPC_SP_OPUS_INFO};

/// `WIN_CERT_REVISION_2_0`.
const WIN_CERT_REVISION_2: u16 = 0x0200;
/// `WIN_CERT_TYPE_PKCS_SIGNED_DATA`.
const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;
/// The certificate table and each entry in it are 8-byte aligned.
const CERT_ALIGN: usize = 8;
/// The smallest RSA modulus accepted (bits).
const MIN_RSA_BITS: usize = 2048;

/// The key and certificate a signature is made with: an RSA key (UEFI
/// firmware verifies RSA) and the X.509 certificate of its public key,
/// which goes into the signature and into the firmware's `db` (only the
/// certificate travels in the signature, no chain).
pub struct SigningIdentity {
    key: RsaPrivateKey,
    certificate: Certificate,
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningIdentity")
            .field("subject", &self.certificate.tbs_certificate.subject.to_string())
            .finish_non_exhaustive()
    }
}

impl SigningIdentity {
    /// Reads a PEM private key (PKCS#8 or PKCS#1 RSA) and a PEM
    /// certificate, and checks that they belong together.
    pub fn from_pem(key_pem: &str, certificate_pem: &str) -> Result<SigningIdentity, Error> {
        let certificate = Certificate::from_pem(certificate_pem.as_bytes())
            .map_err(|e| Error::Identity(format!("the certificate is not a PEM X.509 certificate ({e})")))?;
        let key = RsaPrivateKey::from_pkcs8_pem(key_pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(key_pem))
            .map_err(|_| {
                Error::Identity(
                    "the key is not an RSA private key in PEM (PKCS#8 or PKCS#1); UEFI firmware verifies RSA signatures"
                        .into(),
                )
            })?;
        Self::new(key, certificate)
    }

    /// A key and its certificate, checked to belong together.
    pub fn new(key: RsaPrivateKey, certificate: Certificate) -> Result<SigningIdentity, Error> {
        let spki = certificate.tbs_certificate.subject_public_key_info.to_der()?;
        let certified = RsaPublicKey::from_public_key_der(&spki)
            .map_err(|_| Error::Identity("the certificate's public key is not an RSA key".into()))?;
        if certified != key.to_public_key() {
            return Err(Error::Identity(
                "the key does not belong to the certificate (their public keys differ)".into(),
            ));
        }
        let bits = key.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(Error::Identity(format!(
                "the RSA key has {bits} bits, fewer than {MIN_RSA_BITS}"
            )));
        }
        Ok(SigningIdentity { key, certificate })
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> Result<Vec<u8>, Error> {
        Ok(self.certificate.to_der()?)
    }
}

/// `image` with an Authenticode signature by `identity` as its certificate
/// table. The image must not be signed already; the bytes before the table
/// are `image` padded with zeros to 8 bytes (the padding is hashed, as
/// `sbsign` and `pesign` do), and the checksum is set.
pub fn sign_pe(image: &[u8], identity: &SigningIdentity) -> Result<Vec<u8>, Error> {
    let pe = PeImage::parse(image)?;
    let Some(cert_dir) = pe.cert_dir_offset else {
        return Err(Error::Image(
            "the image has no certificate-table directory entry".into(),
        ));
    };
    if pe.cert_table_size != 0 || image[cert_dir..cert_dir + 8] != [0; 8] {
        return Err(Error::Image("the image is signed already".into()));
    }
    let mut signed = image.to_vec();
    signed.resize(image.len().next_multiple_of(CERT_ALIGN), 0);
    let digest = authenticode(&signed, HashAlg::Sha256)?;
    let pkcs7 = signed_data(digest.as_bytes(), identity)?;

    let entry_len = 8 + pkcs7.len();
    let table_len = entry_len.next_multiple_of(CERT_ALIGN);
    let table_at = signed.len();
    let (Ok(table_at32), Ok(table_len32), Ok(entry_len32)) = (
        u32::try_from(table_at),
        u32::try_from(table_len),
        u32::try_from(entry_len),
    ) else {
        return Err(Error::Image("the image is larger than 4 GiB".into()));
    };
    signed.extend_from_slice(&entry_len32.to_le_bytes());
    signed.extend_from_slice(&WIN_CERT_REVISION_2.to_le_bytes());
    signed.extend_from_slice(&WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
    signed.extend_from_slice(&pkcs7);
    signed.resize(table_at + table_len, 0);
    signed[cert_dir..cert_dir + 4].copy_from_slice(&table_at32.to_le_bytes());
    signed[cert_dir + 4..cert_dir + 8].copy_from_slice(&table_len32.to_le_bytes());
    let sum = pe_checksum(&signed, pe.checksum_offset);
    signed[pe.checksum_offset..pe.checksum_offset + 4].copy_from_slice(&sum.to_le_bytes());
    Ok(signed)
}

/// The PKCS#7 SignedData (DER `ContentInfo`) over an image digest.
fn signed_data(digest: &[u8], identity: &SigningIdentity) -> Result<Vec<u8>, Error> {
    let content = SpcIndirectDataContent::pe_image_sha256(digest)?.to_der()?;
    let encapsulated = EncapsulatedContentInfo {
        econtent_type: SPC_INDIRECT_DATA,
        econtent: Some(Any::from_der(&content)?),
    };
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: identity.certificate.tbs_certificate.issuer.clone(),
        serial_number: identity.certificate.tbs_certificate.serial_number.clone(),
    });
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(identity.key.clone());
    // The builder adds the content-type and message-digest attributes; the
    // digest covers the content's value octets (not its tag and length),
    // which is what Authenticode verifiers hash.
    let mut builder =
        cms::builder::SignerInfoBuilder::new(&signer, sid, sha256_algorithm(), &encapsulated, None)?;
    builder.add_signed_attribute(x509_cert::attr::Attribute {
        oid: SPC_SP_OPUS_INFO,
        values: SetOfVec::try_from(vec![Any::from_der(&[0x30, 0x00])?])?,
    })?;
    let signer_info = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(|e| Error::Encoding(e.to_string()))?;
    let signed = SignedData {
        // Authenticode's SignedData is version 1 whatever its content type.
        version: CmsVersion::V1,
        digest_algorithms: DigestAlgorithmIdentifiers::try_from(vec![sha256_algorithm()])?,
        encap_content_info: encapsulated,
        certificates: Some(CertificateSet::try_from(vec![CertificateChoices::Certificate(
            identity.certificate.clone(),
        )])?),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info])?,
    };
    let info = ContentInfo {
        content_type: const_oid::db::rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&signed)?,
    };
    Ok(info.to_der()?)
}

/// The PE checksum: 16-bit one's-complement-style sum of the file with the
/// checksum field as zero, plus the file's length.
fn pe_checksum(bytes: &[u8], checksum_at: usize) -> u32 {
    let mut sum: u64 = 0;
    for (i, pair) in bytes.chunks(2).enumerate() {
        let at = i * 2;
        if at >= checksum_at && at < checksum_at + 4 {
            continue;
        }
        let word = u64::from(pair[0]) | pair.get(1).map_or(0, |b| u64::from(*b) << 8);
        sum += word;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    (sum as u32).wrapping_add(bytes.len() as u32)
}

/// The PKCS#7 signatures (DER `ContentInfo`) in a PE image's certificate
/// table, in order; empty for an unsigned image.
pub fn signatures(image: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let pe = PeImage::parse(image)?;
    let Some(cert_dir) = pe.cert_dir_offset else {
        return Ok(Vec::new());
    };
    let at = u32::from_le_bytes(image[cert_dir..cert_dir + 4].try_into().unwrap_or_default()) as usize;
    let size = pe.cert_table_size as usize;
    if size == 0 {
        return Ok(Vec::new());
    }
    let table = image
        .get(at..at.saturating_add(size))
        .ok_or_else(|| Error::Image("the certificate table runs past the end of the file".into()))?;
    let mut out = Vec::new();
    let mut rest = table;
    while rest.len() >= 8 {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = u16::from_le_bytes([rest[6], rest[7]]);
        if len < 8 || len > rest.len() {
            return Err(Error::Image(format!(
                "a certificate-table entry is {len} bytes long in a table with {} left",
                rest.len()
            )));
        }
        if kind == WIN_CERT_TYPE_PKCS_SIGNED_DATA {
            out.push(rest[8..len].to_vec());
        }
        rest = &rest[len.next_multiple_of(CERT_ALIGN).min(rest.len())..];
    }
    Ok(out)
}
