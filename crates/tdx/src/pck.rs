//! What the PCK leaf certificate says about the platform: the FMSPC from
//! Intel's SGX extension (OID 1.2.840.113741.1.13.1), read with a minimal
//! DER walker (the extension is informational here, never trusted for a
//! decision this crate makes).

use blindfold_x509::Certificate;

/// Content bytes of OID 1.2.840.113741.1.13.1 (SGX extensions).
const SGX_EXTENSIONS_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01];
/// Content bytes of OID 1.2.840.113741.1.13.1.4 (FMSPC).
const FMSPC_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x04];

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;

/// The FMSPC (family-model-stepping-platform-custom SKU) of the PCK
/// certificate's SGX extension, when present and well formed.
pub(crate) fn fmspc(leaf: &Certificate) -> Option<[u8; 6]> {
    let ext = leaf
        .parsed()
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id.as_bytes() == SGX_EXTENSIONS_OID)?;
    let (tag, mut items, _) = tlv(ext.extn_value.as_bytes())?;
    if tag != SEQUENCE {
        return None;
    }
    while !items.is_empty() {
        let (tag, item, rest) = tlv(items)?;
        items = rest;
        if tag != SEQUENCE {
            return None;
        }
        let (tag, oid, value) = tlv(item)?;
        if tag != OID || oid != FMSPC_OID {
            continue;
        }
        let (tag, fmspc, rest) = tlv(value)?;
        if tag != OCTET_STRING || !rest.is_empty() {
            return None;
        }
        return fmspc.try_into().ok();
    }
    None
}

/// One DER TLV with a single-byte tag: (tag, contents, rest).
fn tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, after) = rest.split_at(n);
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

#[cfg(test)]
mod tests {
    use super::tlv;

    #[test]
    fn tlv_reads_short_and_long_lengths_and_refuses_overruns() {
        assert_eq!(
            tlv(&[0x04, 0x02, 1, 2, 9]),
            Some((0x04, &[1u8, 2][..], &[9u8][..]))
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        assert_eq!(tlv(&long).map(|(_, c, _)| c.len()), Some(0x80));
        assert_eq!(tlv(&[0x04, 0x03, 1, 2]), None);
        assert_eq!(tlv(&[0x04, 0x85, 1, 1, 1, 1, 1]), None);
    }
}
