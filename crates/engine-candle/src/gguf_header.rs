//! Checks candle's GGUF reader leaves out, all found by the `gguf` fuzz
//! target: `general.alignment` must be a power of two (candle 0.11 divides
//! by it, so 0 makes `Content::read` panic, "attempt to divide by zero";
//! upstream huggingface/candle#3876 is not released), and a tensor's
//! element count must be above zero and within what the file could hold
//! (candle multiplies dimensions and sizes unchecked: a debug build
//! panics, a release build wraps to a small count that passes its size
//! check; an empty tensor it reads through a misaligned pointer). This
//! walks the header, with candle's own limits, only for those; everything
//! else is candle's to read.

use blindfold_engine::EngineError;

/// candle's limits (`gguf_file.rs`), so this walk accepts what it accepts.
const MAX_VALUE_DEPTH: usize = 64;
const MAX_COUNT: u64 = 1 << 30;

const ALIGNMENT_KEY: &[u8] = b"general.alignment";

/// candle's limit on a tensor's dimensions.
const MAX_TENSOR_DIMS: u32 = 4;

/// Refuses a GGUF file whose `general.alignment` is not a power of two or
/// one of whose tensors has no elements, or more than the file could
/// hold. Bytes that are not a readable GGUF header are left to candle,
/// which refuses them with its own error.
pub(crate) fn check_header(bytes: &[u8]) -> Result<(), EngineError> {
    // candle also takes the magic byte-swapped, then reads the rest
    // little-endian as usual: no writer makes such a file.
    if bytes.starts_with(b"FUGG") {
        return Err(EngineError::Model(
            "not a GGUF file: its magic is byte-swapped".into(),
        ));
    }
    let mut walk = Walk {
        bytes,
        at: 0,
        wide: true,
    };
    let Some((alignment, tensors)) = walk.metadata() else {
        return Ok(());
    };
    if let Some(a) = alignment {
        if !u64::try_from(a).is_ok_and(u64::is_power_of_two) {
            return Err(EngineError::Model(format!(
                "not a GGUF file: general.alignment is {a}, not a power of two"
            )));
        }
    }
    for _ in 0..tensors {
        match walk.tensor_elements() {
            // candle reads an empty tensor's bytes through a dangling,
            // misaligned pointer (undefined behaviour; a debug build
            // stops on it): no model has one.
            Some(Some(0)) => {
                return Err(EngineError::Model(
                    "not a GGUF file: a tensor has no elements".into(),
                ))
            }
            // Every type candle reads takes over 2 bits an element, so a
            // tensor cannot have more than 8 elements per byte of the file
            // (candle would multiply the count by its type's size unchecked).
            Some(Some(n)) if n / 8 <= bytes.len() => {}
            Some(_) => {
                return Err(EngineError::Model(
                    "not a GGUF file: a tensor has more elements than the file could hold".into(),
                ))
            }
            None => break,
        }
    }
    Ok(())
}

struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
    /// GGUF v2 and v3 write lengths as u64; v1 as u32.
    wide: bool,
}

impl Walk<'_> {
    /// Walks the header's metadata: the last `general.alignment` integer
    /// it declares (candle keeps the last of duplicate keys), or `None`
    /// inside when there is none, and the number of tensors; `None` when
    /// the header cannot be walked.
    fn metadata(&mut self) -> Option<(Option<i128>, u64)> {
        if self.take(4)? != b"GGUF" {
            return None;
        }
        let version = self.u32()?;
        self.wide = version != 1;
        let tensors = self.length()?;
        let kvs = self.length()?;
        if kvs > MAX_COUNT || tensors > MAX_COUNT {
            return None;
        }
        let mut found = None;
        for _ in 0..kvs {
            let is_alignment = trim_nuls(self.string()?) == ALIGNMENT_KEY;
            let kind = self.u32()?;
            match self.value(kind, 0)? {
                Some(v) if is_alignment => found = Some(v),
                // candle reads a non-integer alignment as absent.
                None if is_alignment => found = None,
                _ => {}
            }
        }
        Some((found, tensors))
    }

    /// Walks one tensor's entry: its element count, `None` inside when it
    /// overflows; `None` outside when the entry cannot be walked.
    fn tensor_elements(&mut self) -> Option<Option<usize>> {
        self.string()?;
        let dims = self.u32()?;
        if dims > MAX_TENSOR_DIMS {
            return None;
        }
        let mut count: Option<usize> = Some(1);
        for _ in 0..dims {
            let d = usize::try_from(self.length()?).ok();
            count = count.zip(d).and_then(|(c, d)| c.checked_mul(d));
        }
        self.take(4 + 8)?; // type, offset
        Some(count)
    }

    /// Skips one value; an integer of the types candle reads an alignment
    /// from comes back.
    fn value(&mut self, kind: u32, depth: usize) -> Option<Option<i128>> {
        if depth > MAX_VALUE_DEPTH {
            return None;
        }
        let int = |b: &[u8], signed: bool| -> i128 {
            let mut v = [0u8; 16];
            v[..b.len()].copy_from_slice(b);
            if signed && b.last().is_some_and(|x| x & 0x80 != 0) {
                v[b.len()..].fill(0xff);
            }
            i128::from_le_bytes(v)
        };
        Some(match kind {
            0 => Some(int(self.take(1)?, false)), // u8
            1 => Some(int(self.take(1)?, true)),  // i8
            2 => Some(int(self.take(2)?, false)), // u16
            3 => Some(int(self.take(2)?, true)),  // i16
            4 => Some(int(self.take(4)?, false)), // u32
            5 => Some(int(self.take(4)?, true)),  // i32
            6 => self.take(4).map(|_| None)?,     // f32
            7 => self.take(1).map(|_| None)?,     // bool
            8 => self.string().map(|_| None)?,    // string
            9 => {
                let item = self.u32()?;
                let count = self.length()?;
                if count > MAX_COUNT {
                    return None;
                }
                for _ in 0..count {
                    self.value(item, depth + 1)?;
                }
                None
            }
            10..=12 => self.take(8).map(|_| None)?, // u64, i64, f64
            _ => return None,
        })
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(n)?;
        let b = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(b)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn length(&mut self) -> Option<u64> {
        if self.wide {
            Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
        } else {
            self.u32().map(u64::from)
        }
    }

    fn string(&mut self) -> Option<&[u8]> {
        let len = usize::try_from(self.length()?).ok()?;
        self.take(len)
    }
}

/// candle drops trailing NULs from strings.
fn trim_nuls(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., 0] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kvs: &[(&[u8], u32, &[u8])]) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b.extend((kvs.len() as u64).to_le_bytes());
        for (key, kind, value) in kvs {
            b.extend((key.len() as u64).to_le_bytes());
            b.extend(*key);
            b.extend(kind.to_le_bytes());
            b.extend(*value);
        }
        b
    }

    #[test]
    fn a_zero_alignment_is_refused_where_candle_would_divide_by_it() {
        for (kind, value) in [
            (4u32, &0u32.to_le_bytes()[..]),
            (0, &[0u8][..]),
            (5, &0i32.to_le_bytes()[..]),
        ] {
            let bytes = header(&[(b"general.alignment", kind, value)]);
            let err = check_header(&bytes).unwrap_err();
            assert!(err.to_string().contains("general.alignment is 0"), "{err}");
        }
        // A NUL-padded key is the same key to candle.
        let bytes = header(&[(b"general.alignment\0\0", 4, &0u32.to_le_bytes())]);
        assert!(check_header(&bytes).is_err());
        // Not a power of two.
        let bytes = header(&[(b"general.alignment", 4, &24u32.to_le_bytes())]);
        assert!(check_header(&bytes).unwrap_err().to_string().contains("24"));
    }

    #[test]
    fn a_tensor_whose_dimensions_overflow_is_refused() {
        let tensor = |dims: &[u64]| {
            let mut b = b"GGUF".to_vec();
            b.extend(3u32.to_le_bytes());
            b.extend(1u64.to_le_bytes());
            b.extend(0u64.to_le_bytes());
            b.extend(1u64.to_le_bytes());
            b.push(b't');
            b.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                b.extend(d.to_le_bytes());
            }
            b.extend(0u32.to_le_bytes());
            b.extend(0u64.to_le_bytes());
            b
        };
        let err = check_header(&tensor(&[1 << 40, 1 << 40])).unwrap_err();
        assert!(err.to_string().contains("more elements than the file"), "{err}");
        // No overflow, but more than the file could hold.
        assert!(check_header(&tensor(&[1 << 20, 1 << 20])).is_err());
        assert!(check_header(&tensor(&[0, 10])).is_err(), "an empty tensor");
        // The same behind the byte-swapped magic candle also takes.
        let mut swapped = tensor(&[0, 10]);
        swapped[..4].copy_from_slice(b"FUGG");
        assert!(check_header(&swapped)
            .unwrap_err()
            .to_string()
            .contains("byte-swapped"));
        assert!(check_header(&tensor(&[8, 10])).is_ok());
    }

    #[test]
    fn the_last_alignment_counts_and_valid_headers_pass() {
        let bytes = header(&[
            (b"general.alignment", 4, &0u32.to_le_bytes()),
            (b"general.alignment", 4, &64u32.to_le_bytes()),
        ]);
        assert!(check_header(&bytes).is_ok());
        let bytes = header(&[
            (b"general.alignment", 4, &64u32.to_le_bytes()),
            (b"general.alignment", 4, &0u32.to_le_bytes()),
        ]);
        assert!(check_header(&bytes).is_err());
        // An array of strings before the key is walked over.
        let mut array = 8u32.to_le_bytes().to_vec();
        array.extend(2u64.to_le_bytes());
        for s in [&b"a b"[..], b"c"] {
            array.extend((s.len() as u64).to_le_bytes());
            array.extend(s);
        }
        let bytes = header(&[
            (b"tokenizer.ggml.merges", 9, &array),
            (b"general.alignment", 4, &0u32.to_le_bytes()),
        ]);
        assert!(check_header(&bytes).is_err());
        assert!(check_header(&header(&[])).is_ok());
        assert!(check_header(b"not gguf").is_ok(), "left to candle");
    }
}
