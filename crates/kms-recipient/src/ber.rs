//! BER as KMS (and `openssl cms -stream`) sends it, made DER: indefinite
//! lengths become definite, and a string sent in constructed pieces (an
//! OCTET STRING, or the `[0] IMPLICIT OCTET STRING` of CMS's encrypted
//! content) becomes one primitive string. RustCrypto's `der` reads DER only
//! and no crate of ours does this, so it is written here.
//!
//! Bounded: nesting deeper than [`MAX_DEPTH`] or lengths past the input are
//! refused, so hostile input costs at most its own size.

use crate::Error;

/// Deepest nesting accepted (CMS EnvelopedData needs about 10).
pub const MAX_DEPTH: usize = 32;

const CONSTRUCTED: u8 = 0x20;
const OCTET_STRING: u8 = 0x04;
/// `[0]` context-specific, constructed.
const CONTEXT_0_CONSTRUCTED: u8 = 0xa0;

fn bad(why: impl Into<String>) -> Error {
    Error::Ber(why.into())
}

/// One element read from BER.
struct Element {
    tag: u8,
    /// Primitive: its content; constructed: its children, already DER.
    content: Vec<u8>,
    /// The children's tags and contents (constructed only), to flatten a
    /// string sent in pieces.
    pieces: Option<Vec<(u8, Vec<u8>)>>,
}

/// Rewrites `ber` as DER (see the module docs).
pub fn to_der(ber: &[u8]) -> Result<Vec<u8>, Error> {
    let mut at = 0;
    let element = read(ber, &mut at, 0)?;
    if at != ber.len() {
        return Err(bad(format!("{} bytes after the outer element", ber.len() - at)));
    }
    let mut out = Vec::with_capacity(ber.len());
    write(&mut out, &flatten(element));
    Ok(out)
}

/// A constructed string of primitive pieces of one kind becomes primitive:
/// OCTET STRING (0x24 → 0x04), and `[0]` holding only OCTET STRINGs (CMS
/// encrypted content, 0xa0 → 0x80). Anything else keeps its tag.
fn flatten(e: Element) -> (u8, Vec<u8>) {
    if let Some(pieces) = &e.pieces {
        let all_octets = !pieces.is_empty() && pieces.iter().all(|(t, _)| *t == OCTET_STRING);
        if all_octets && (e.tag == OCTET_STRING | CONSTRUCTED || e.tag == CONTEXT_0_CONSTRUCTED) {
            let joined = pieces.iter().flat_map(|(_, c)| c.iter().copied()).collect();
            return (e.tag & !CONSTRUCTED, joined);
        }
    }
    (e.tag, e.content)
}

fn read(input: &[u8], at: &mut usize, depth: usize) -> Result<Element, Error> {
    if depth > MAX_DEPTH {
        return Err(bad(format!("nested deeper than {MAX_DEPTH}")));
    }
    let tag = *input.get(*at).ok_or_else(|| bad("ends before a tag"))?;
    if tag & 0x1f == 0x1f {
        return Err(bad(format!("multi-byte tag at offset {at} (not used by CMS)")));
    }
    *at += 1;
    let first = *input.get(*at).ok_or_else(|| bad("ends before a length"))?;
    *at += 1;
    let length = match first {
        0x80 => None,
        n if n < 0x80 => Some(n as usize),
        n => {
            let count = (n & 0x7f) as usize;
            if count > 4 {
                return Err(bad(format!("a {count}-byte length")));
            }
            let bytes = input
                .get(*at..*at + count)
                .ok_or_else(|| bad("ends inside a length"))?;
            *at += count;
            Some(bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize))
        }
    };
    if tag & CONSTRUCTED == 0 {
        let length =
            length.ok_or_else(|| bad(format!("primitive tag {tag:#04x} with an indefinite length")))?;
        let content = input
            .get(*at..*at + length)
            .ok_or_else(|| bad(format!("tag {tag:#04x} claims {length} bytes past the input")))?
            .to_vec();
        *at += length;
        return Ok(Element {
            tag,
            content,
            pieces: None,
        });
    }
    let mut children = Vec::new();
    match length {
        Some(length) => {
            let end = at
                .checked_add(length)
                .filter(|end| *end <= input.len())
                .ok_or_else(|| bad(format!("tag {tag:#04x} claims {length} bytes past the input")))?;
            while *at < end {
                children.push(read(&input[..end], at, depth + 1)?);
            }
        }
        None => loop {
            if input.get(*at..*at + 2) == Some(&[0, 0]) {
                *at += 2;
                break;
            }
            if *at >= input.len() {
                return Err(bad("an indefinite length never ends"));
            }
            children.push(read(input, at, depth + 1)?);
        },
    }
    let flattened: Vec<(u8, Vec<u8>)> = children.into_iter().map(flatten).collect();
    let mut content = Vec::new();
    for (t, c) in &flattened {
        write(&mut content, &(*t, c.clone()));
    }
    Ok(Element {
        tag,
        content,
        pieces: Some(flattened),
    })
}

fn write(out: &mut Vec<u8>, (tag, content): &(u8, Vec<u8>)) {
    out.push(*tag);
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indefinite_lengths_and_pieces_become_der() {
        // SEQUENCE (indefinite) { OCTET STRING in two pieces (indefinite),
        // INTEGER 5 }
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00, 0x00, 0x02, 0x01, 0x05,
            0x00, 0x00,
        ];
        assert_eq!(
            to_der(&ber).unwrap(),
            [0x30, 0x08, 0x04, 0x03, b'a', b'b', b'c', 0x02, 0x01, 0x05]
        );
        // [0] of OCTET STRING pieces (CMS encrypted content) → primitive [0].
        let ber = [0xa0, 0x80, 0x04, 0x01, 0x01, 0x04, 0x01, 0x02, 0x00, 0x00];
        assert_eq!(to_der(&ber).unwrap(), [0x80, 0x02, 0x01, 0x02]);
        // [0] around a SEQUENCE (an explicit tag) keeps its form.
        let ber = [0xa0, 0x80, 0x30, 0x00, 0x00, 0x00];
        assert_eq!(to_der(&ber).unwrap(), [0xa0, 0x02, 0x30, 0x00]);
        // DER stays as it is.
        let der = [0x30, 0x03, 0x02, 0x01, 0x07];
        assert_eq!(to_der(&der).unwrap(), der);
    }

    #[test]
    fn hostile_input_is_refused_with_why() {
        let err = |b: &[u8]| to_der(b).unwrap_err().to_string();
        assert!(err(&[0x30, 0x80, 0x02, 0x01, 0x05]).contains("never ends"));
        assert!(err(&[0x04, 0x05, 0x00]).contains("past the input"));
        assert!(err(&[0x04, 0x80, 0x00, 0x00]).contains("indefinite"));
        assert!(err(&[0x02, 0x01, 0x05, 0xff]).contains("after the outer element"));
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], MAX_DEPTH + 2)
            .flatten()
            .collect();
        assert!(err(&deep).contains("nested deeper"));
        assert!(err(&[0x04, 0x85, 1, 0, 0, 0, 0]).contains("5-byte length"));
    }
}
