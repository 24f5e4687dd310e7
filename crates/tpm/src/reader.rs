//! A bounded byte reader: every read is length-checked, sub-structures get
//! their own reader, and [`Reader::finish`] rejects trailing bytes.

use crate::error::WireError;

/// Reads one structure from a byte slice. All reads are checked; nothing
/// panics and nothing allocates more than the input holds.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    structure: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes` for the structure named `structure` (used in errors).
    pub fn new(bytes: &'a [u8], structure: &'static str) -> Self {
        Reader {
            bytes,
            pos: 0,
            structure,
        }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Offset of the next byte from the start of this reader.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.remaining() {
            return Err(WireError::Truncated {
                structure: self.structure,
                offset: self.pos,
                needed: n,
                remaining: self.remaining(),
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A reader over the next `n` bytes, for a nested structure.
    pub fn sub(&mut self, n: usize, structure: &'static str) -> Result<Reader<'a>, WireError> {
        let bytes = self.take(n)?;
        Ok(Reader::new(bytes, structure))
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }
    /// Big-endian `u16` (TPM byte order).
    pub fn u16_be(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    /// Big-endian `u32`.
    pub fn u32_be(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    /// Big-endian `u64`.
    pub fn u64_be(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    /// Little-endian `u16` (event-log byte order).
    pub fn u16_le(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    /// Little-endian `u32`.
    pub fn u32_le(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// Little-endian `u64`.
    pub fn u64_le(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A `TPM2B_*`: big-endian `u16` size, then that many bytes, at most `max`.
    pub fn tpm2b(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], WireError> {
        let size = usize::from(self.u16_be()?);
        if size > max {
            return Err(WireError::TooLarge {
                structure: what,
                size,
                max,
            });
        }
        self.take(size)
    }

    /// Ends the structure: an error if bytes are left over.
    pub fn finish(self) -> Result<(), WireError> {
        if self.remaining() != 0 {
            return Err(WireError::TrailingBytes {
                structure: self.structure,
                count: self.remaining(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_and_trailing_bytes_are_errors() {
        let mut r = Reader::new(&[0, 2, 0xAA], "TPM2B_TEST");
        assert_eq!(
            r.tpm2b("TPM2B_TEST", 64),
            Err(WireError::Truncated {
                structure: "TPM2B_TEST",
                offset: 2,
                needed: 2,
                remaining: 1
            })
        );
        let mut r = Reader::new(&[0, 1, 0xAA, 0xBB], "TPM2B_TEST");
        assert_eq!(r.tpm2b("TPM2B_TEST", 64), Ok(&[0xAA][..]));
        assert_eq!(
            r.finish(),
            Err(WireError::TrailingBytes {
                structure: "TPM2B_TEST",
                count: 1
            })
        );
    }

    #[test]
    fn oversized_tpm2b_is_rejected_before_reading() {
        let mut r = Reader::new(&[0xFF, 0xFF], "x");
        assert!(matches!(
            r.tpm2b("TPM2B_DIGEST", 64),
            Err(WireError::TooLarge { size: 0xFFFF, .. })
        ));
    }
}
