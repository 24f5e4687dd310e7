//! Authenticode's own ASN.1 types (Microsoft's "Windows Authenticode
//! Portable Executable Signature Format"), the content a PE signature's
//! PKCS#7 SignedData carries: the image's digest in an
//! `SpcIndirectDataContent`.

use der::asn1::{BitString, BmpString, ObjectIdentifier, OctetString};
use der::{Choice, Sequence};
use spki::AlgorithmIdentifierOwned;

/// `SPC_INDIRECT_DATA_OBJID`: the SignedData's content type.
pub const SPC_INDIRECT_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.4");
/// `SPC_PE_IMAGE_DATAOBJ`: the indirect data is a PE image.
pub const SPC_PE_IMAGE_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.15");
/// `SPC_SP_OPUS_INFO_OBJID`: the signed attribute naming the program
/// (empty here, as most signers leave it).
pub const SPC_SP_OPUS_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.12");

/// What an Authenticode signature signs: the kind of data and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct SpcIndirectDataContent {
    /// `SPC_PE_IMAGE_DATAOBJ` and its (vestigial) value.
    pub data: SpcAttributeTypeAndOptionalValue,
    /// The image's Authenticode digest.
    pub message_digest: DigestInfo,
}

/// The data's type and value.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct SpcAttributeTypeAndOptionalValue {
    /// [`SPC_PE_IMAGE_DATA`].
    pub value_type: ObjectIdentifier,
    /// The PE image's (obsolete) flags and link.
    pub value: SpcPeImageData,
}

/// `SpcPeImageData`: no flags, and the link every signer writes,
/// `<<<Obsolete>>>`.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct SpcPeImageData {
    /// `SpcPeImageFlags`, an empty bit string.
    pub flags: BitString,
    /// `[0] EXPLICIT SpcLink`.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub file: SpcLink,
}

/// `SpcLink`, of which only the file form is used.
#[derive(Debug, Clone, PartialEq, Eq, Choice)]
pub enum SpcLink {
    /// `file [2] EXPLICIT SpcString`.
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    File(SpcString),
}

/// `SpcString`, of which only the Unicode form is used.
#[derive(Debug, Clone, PartialEq, Eq, Choice)]
pub enum SpcString {
    /// `unicode [0] IMPLICIT BMPString`.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Unicode(BmpString),
}

/// PKCS#1's `DigestInfo`: an algorithm and a digest.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct DigestInfo {
    /// The digest algorithm (SHA-256, parameters NULL).
    pub digest_algorithm: AlgorithmIdentifierOwned,
    /// The digest.
    pub digest: OctetString,
}

impl SpcIndirectDataContent {
    /// The content for a PE image whose SHA-256 Authenticode digest is
    /// `digest`.
    pub fn pe_image_sha256(digest: &[u8]) -> der::Result<SpcIndirectDataContent> {
        Ok(SpcIndirectDataContent {
            data: SpcAttributeTypeAndOptionalValue {
                value_type: SPC_PE_IMAGE_DATA,
                value: SpcPeImageData {
                    flags: BitString::from_bytes(&[])?,
                    file: SpcLink::File(SpcString::Unicode(BmpString::from_utf8("<<<Obsolete>>>")?)),
                },
            },
            message_digest: DigestInfo {
                digest_algorithm: sha256_algorithm(),
                digest: OctetString::new(digest)?,
            },
        })
    }
}

/// SHA-256 with NULL parameters, as Authenticode writes it.
pub fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: const_oid::db::rfc5912::ID_SHA_256,
        parameters: Some(der::asn1::Null.into()),
    }
}
