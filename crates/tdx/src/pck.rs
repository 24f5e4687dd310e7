//! What the PCK leaf certificate says about the platform: the FMSPC and
//! the TCB (16 SGX component SVNs, the PCE SVN) from Intel's SGX extension
//! (OID 1.2.840.113741.1.13.1, a SEQUENCE of SEQUENCE { OID, value }), read
//! with `der`. The certificate is verified to Intel's root before these
//! are used to look up and judge TCB collateral.

use blindfold_x509::Certificate;
use const_oid::ObjectIdentifier;
use der::asn1::{Any, OctetStringRef};
use der::{Decode, Reader, SliceReader};

/// Intel's SGX extensions.
const SGX_EXTENSIONS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1");
/// The FMSPC entry inside them.
const FMSPC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.4");

/// The TCB entry: SEQUENCE of { .2.1 ..= .2.16 component SVNs, .2.17 PCE SVN, .2.18 CPUSVN }.
const TCB: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.2");

/// The platform's identity and TCB as its PCK certificate states them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PckTcb {
    /// FMSPC.
    pub fmspc: [u8; 6],
    /// The 16 SGX TCB component SVNs.
    pub cpu_svn: [u8; 16],
    /// The PCE SVN.
    pub pce_svn: u16,
}

/// [`PckTcb`] of a PCK leaf, when its SGX extension carries all of it.
pub(crate) fn tcb(leaf: &Certificate) -> Option<PckTcb> {
    let (value, _critical) = leaf.extension(SGX_EXTENSIONS)?;
    let fmspc = fmspc(leaf)?;
    let tcb = find(value, TCB).ok()??;
    let tcb_der = der::Encode::to_der(&tcb).ok()?;
    let mut cpu_svn = [0u8; 16];
    for (i, svn) in cpu_svn.iter_mut().enumerate() {
        let oid = TCB.push_arc(i as u32 + 1).ok()?;
        *svn = find(&tcb_der, oid).ok()??.decode_as::<u8>().ok()?;
    }
    let pce_svn = find(&tcb_der, TCB.push_arc(17).ok()?)
        .ok()??
        .decode_as::<u16>()
        .ok()?;
    Some(PckTcb {
        fmspc,
        cpu_svn,
        pce_svn,
    })
}

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
