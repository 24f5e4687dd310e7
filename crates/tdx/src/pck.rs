//! What the PCK leaf certificate says about the platform: the FMSPC from
//! Intel's SGX extension (OID 1.2.840.113741.1.13.1, a SEQUENCE of
//! SEQUENCE { OID, value }), read with `der` (the extension is
//! informational here, never trusted for a decision this crate makes).

use blindfold_x509::Certificate;
use const_oid::ObjectIdentifier;
use der::asn1::{Any, OctetStringRef};
use der::{Decode, Reader, SliceReader};

/// Intel's SGX extensions.
const SGX_EXTENSIONS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1");
/// The FMSPC entry inside them.
const FMSPC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.4");

/// The FMSPC (family-model-stepping-platform-custom SKU) of the PCK
/// certificate's SGX extension, when present and well formed.
pub(crate) fn fmspc(leaf: &Certificate) -> Option<[u8; 6]> {
    let (value, _critical) = leaf.extension(SGX_EXTENSIONS)?;
    let fmspc = find(value, FMSPC).ok()??;
    OctetStringRef::try_from(&fmspc).ok()?.as_bytes().try_into().ok()
}

/// The value of entry `wanted` in a SEQUENCE of SEQUENCE { OID, value }.
fn find(der: &[u8], wanted: ObjectIdentifier) -> der::Result<Option<Any>> {
    let mut reader = SliceReader::new(der)?;
    let found = reader.sequence(|entries| {
        let mut found = None;
        while !entries.is_finished() {
            let (oid, value) =
                entries.sequence(|entry| Ok((ObjectIdentifier::decode(entry)?, Any::decode(entry)?)))?;
            if oid == wanted && found.is_none() {
                found = Some(value);
            }
        }
        Ok(found)
    })?;
    reader.finish(found)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn entries_are_found_and_malformed_input_refused() {
        // SEQUENCE { SEQUENCE { 1.2.840.1, OCTET STRING 01 02 }, SEQUENCE { 1.2.840.2, INTEGER 5 } }
        let der = [
            0x30, 0x17, 0x30, 0x0a, 0x06, 0x04, 0x2a, 0x86, 0x48, 0x01, 0x04, 0x02, 0x01, 0x02, 0x30, 0x09,
            0x06, 0x04, 0x2a, 0x86, 0x48, 0x02, 0x02, 0x01, 0x05,
        ];
        let a = ObjectIdentifier::new_unwrap("1.2.840.1");
        let value = find(&der, a).unwrap().unwrap();
        assert_eq!(OctetStringRef::try_from(&value).unwrap().as_bytes(), [1, 2]);
        assert!(find(&der, ObjectIdentifier::new_unwrap("1.2.840.9"))
            .unwrap()
            .is_none());
        // Truncated, or with a byte after the outer SEQUENCE.
        assert!(find(&der[..der.len() - 1], a).is_err());
        let mut trailing = der.to_vec();
        trailing.push(0);
        assert!(find(&trailing, a).is_err());
    }
}
