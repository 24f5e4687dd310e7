//! PCR indices, `TPML_PCR_SELECTION`, sets of PCR values and the PCR digest.

use std::collections::BTreeMap;
use std::fmt;

use blindfold_crypto::{CryptoProvider, Digest, HashAlg};

use crate::error::{Error, WireError};
use crate::reader::Reader;

/// A PCR number. Event logs carry a 32-bit index; quotes select 0..=31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PcrIndex(pub u32);

impl fmt::Display for PcrIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The largest `sizeofSelect` we accept (32 PCRs); real TPMs use 3.
pub const MAX_PCR_SELECT_BYTES: usize = 4;
/// The largest number of banks in one `TPML_PCR_SELECTION` (`HASH_COUNT`).
pub const MAX_BANKS: usize = 16;

/// One `TPMS_PCR_SELECTION`: a bank and the PCRs chosen in it (ascending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrBankSelection {
    /// The bank's hash algorithm.
    pub bank: HashAlg,
    /// Selected PCRs in ascending order.
    pub pcrs: Vec<PcrIndex>,
}

/// A `TPML_PCR_SELECTION`, in wire order (the order the PCR digest uses).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PcrSelection {
    /// The banks, in the order they appear.
    pub banks: Vec<PcrBankSelection>,
}

impl PcrSelection {
    /// Parses a `TPML_PCR_SELECTION` from `r` (big-endian, TPM wire format).
    pub fn read(r: &mut Reader<'_>) -> Result<PcrSelection, WireError> {
        const S: &str = "TPML_PCR_SELECTION";
        let count = r.u32_be()? as usize;
        if count > MAX_BANKS {
            return Err(WireError::TooLarge {
                structure: S,
                size: count,
                max: MAX_BANKS,
            });
        }
        let mut banks = Vec::with_capacity(count);
        for _ in 0..count {
            let alg = r.u16_be()?;
            let bank = HashAlg::from_tpm_alg_id(alg).ok_or(WireError::UnsupportedAlgorithm {
                structure: S,
                field: "PCR bank hash",
                alg,
            })?;
            let size = usize::from(r.u8()?);
            if size > MAX_PCR_SELECT_BYTES {
                return Err(WireError::TooLarge {
                    structure: "TPMS_PCR_SELECTION.sizeofSelect",
                    size,
                    max: MAX_PCR_SELECT_BYTES,
                });
            }
            let bitmap = r.take(size)?;
            banks.push(PcrBankSelection {
                bank,
                pcrs: pcrs_from_bitmap(bitmap),
            });
        }
        Ok(PcrSelection { banks })
    }

    /// Every (bank, PCR) pair, in digest order.
    pub fn iter(&self) -> impl Iterator<Item = (HashAlg, PcrIndex)> + '_ {
        self.banks
            .iter()
            .flat_map(|b| b.pcrs.iter().map(move |i| (b.bank, *i)))
    }

    /// Number of selected PCRs over all banks.
    pub fn len(&self) -> usize {
        self.banks.iter().map(|b| b.pcrs.len()).sum()
    }

    /// True when nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for PcrSelection {
    /// tpm2-tools style: `sha256:0,1,2+sha1:7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, b) in self.banks.iter().enumerate() {
            if n > 0 {
                f.write_str("+")?;
            }
            let list: Vec<String> = b.pcrs.iter().map(|i| i.0.to_string()).collect();
            write!(f, "{}:{}", b.bank, list.join(","))?;
        }
        Ok(())
    }
}

/// The PCRs set in a `pcrSelect` bitmap (bit `i % 8` of byte `i / 8`).
pub fn pcrs_from_bitmap(bitmap: &[u8]) -> Vec<PcrIndex> {
    let mut out = Vec::new();
    for (byte_no, byte) in bitmap.iter().enumerate() {
        for bit in 0..8 {
            if byte & (1 << bit) != 0 {
                out.push(PcrIndex((byte_no * 8 + bit) as u32));
            }
        }
    }
    out
}

/// PCR values per bank, e.g. what a quote's caller supplies or what an event
/// log replays to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PcrValues {
    banks: BTreeMap<HashAlg, BTreeMap<PcrIndex, Digest>>,
}

impl PcrValues {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets one value; the digest's algorithm names the bank.
    pub fn insert(&mut self, index: PcrIndex, value: Digest) {
        self.banks.entry(value.alg()).or_default().insert(index, value);
    }

    /// One value.
    pub fn get(&self, bank: HashAlg, index: PcrIndex) -> Option<&Digest> {
        self.banks.get(&bank)?.get(&index)
    }

    /// The values of one bank.
    pub fn bank(&self, bank: HashAlg) -> Option<&BTreeMap<PcrIndex, Digest>> {
        self.banks.get(&bank)
    }

    /// All banks with their values, ordered by algorithm then index.
    pub fn banks(&self) -> impl Iterator<Item = (HashAlg, &BTreeMap<PcrIndex, Digest>)> {
        self.banks.iter().map(|(a, m)| (*a, m))
    }

    /// Bank name → PCR index → lower-case hex, the shape every report and
    /// evidence document uses (`{"sha256": {"0": "<hex>"}}` once serialised).
    pub fn to_hex_map(&self) -> BTreeMap<&'static str, BTreeMap<u32, String>> {
        self.banks
            .iter()
            .map(|(bank, values)| {
                (
                    bank.name(),
                    values.iter().map(|(i, d)| (i.0, d.to_hex())).collect(),
                )
            })
            .collect()
    }

    /// Number of values over all banks.
    pub fn len(&self) -> usize {
        self.banks.values().map(BTreeMap::len).sum()
    }

    /// True when no value is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values `selection` picks, in digest order; an error names the
    /// first selected PCR without a value.
    pub fn select(&self, selection: &PcrSelection) -> Result<PcrValues, Error> {
        let mut out = PcrValues::new();
        for (bank, index) in selection.iter() {
            let v = self
                .get(bank, index)
                .ok_or(Error::PcrValueMissing { bank, index })?;
            out.insert(index, *v);
        }
        Ok(out)
    }

    /// `H(value_1 || ... || value_n)` over the selection's PCRs in wire
    /// order, as TPM2_Quote computes `pcrDigest`.
    pub fn digest(
        &self,
        selection: &PcrSelection,
        alg: HashAlg,
        provider: &dyn CryptoProvider,
    ) -> Result<Digest, Error> {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(selection.len());
        for (bank, index) in selection.iter() {
            let v = self
                .get(bank, index)
                .ok_or(Error::PcrValueMissing { bank, index })?;
            parts.push(v.as_bytes());
        }
        Ok(provider.hash(alg, &parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_order_is_bit_then_byte() {
        let pcrs = pcrs_from_bitmap(&[0x00, 0x80, 0x41]);
        assert_eq!(pcrs, vec![PcrIndex(15), PcrIndex(16), PcrIndex(22)]);
    }

    #[test]
    fn selection_rejects_unknown_bank_and_oversized_bitmap() {
        let bytes = [0, 0, 0, 1, 0x00, 0x99, 3, 1, 0, 0];
        let err = PcrSelection::read(&mut Reader::new(&bytes, "t")).unwrap_err();
        assert!(matches!(err, WireError::UnsupportedAlgorithm { alg: 0x99, .. }));
        let bytes = [0, 0, 0, 1, 0x00, 0x0B, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let err = PcrSelection::read(&mut Reader::new(&bytes, "t")).unwrap_err();
        assert!(matches!(err, WireError::TooLarge { size: 9, .. }));
    }
}
