//! The PCR file tpm2-tools writes with `tpm2_quote --pcr` / `-o`
//! (`pcr_fwrite_serialized`): host-endian C structs, not TPM wire format.
//!
//! Layout (x86-64, little-endian): a `TPML_PCR_SELECTION` struct (a `u32`
//! count, then 16 `TPMS_PCR_SELECTION` of 8 bytes: `u16` hash, `u8`
//! sizeofSelect, 4 select bytes, 1 pad byte), then a `u32` count of
//! `TPML_DIGEST` structs that follow, each a `u32` count and 8
//! `TPM2B_DIGEST` of 66 bytes (`u16` size, 64-byte buffer). Digests come in
//! selection order, 8 per `TPML_DIGEST`.

use blindfold_crypto::{Digest, HashAlg};

use crate::error::WireError;
use crate::pcr::{
    pcrs_from_bitmap, PcrBankSelection, PcrSelection, PcrValues, MAX_BANKS, MAX_PCR_SELECT_BYTES,
};
use crate::reader::Reader;

const S: &str = "tpm2-tools PCR file";
const DIGESTS_PER_LIST: usize = 8;
const TPM2B_DIGEST_STRUCT: usize = 2 + 64;

/// Parses a tpm2-tools serialized PCR file into its selection and values.
pub fn parse_tpm2_tools_pcrs(bytes: &[u8]) -> Result<(PcrSelection, PcrValues), WireError> {
    let mut r = Reader::new(bytes, S);
    let count = r.u32_le()? as usize;
    if count > MAX_BANKS {
        return Err(WireError::TooLarge {
            structure: "tpm2-tools PCR file selection count",
            size: count,
            max: MAX_BANKS,
        });
    }
    let mut banks = Vec::with_capacity(count);
    for n in 0..MAX_BANKS {
        let alg = r.u16_le()?;
        let size = usize::from(r.u8()?);
        let select = r.array::<4>()?;
        let _pad = r.u8()?;
        if n >= count {
            continue;
        }
        let bank = HashAlg::from_tpm_alg_id(alg).ok_or(WireError::UnsupportedAlgorithm {
            structure: S,
            field: "PCR bank hash",
            alg,
        })?;
        if size > MAX_PCR_SELECT_BYTES {
            return Err(WireError::TooLarge {
                structure: "tpm2-tools PCR file sizeofSelect",
                size,
                max: MAX_PCR_SELECT_BYTES,
            });
        }
        banks.push(PcrBankSelection {
            bank,
            pcrs: pcrs_from_bitmap(&select[..size]),
        });
    }
    let selection = PcrSelection { banks };

    let lists = r.u32_le()? as usize;
    let needed_lists = selection.len().div_ceil(DIGESTS_PER_LIST);
    if lists != needed_lists {
        return Err(WireError::InvalidValue {
            structure: S,
            field: "digest list count",
            value: format!(
                "{lists}, the selection of {} PCRs needs {needed_lists}",
                selection.len()
            ),
        });
    }
    let mut wanted = selection.iter();
    let mut values = PcrValues::new();
    for _ in 0..lists {
        let mut list = r.sub(4 + DIGESTS_PER_LIST * TPM2B_DIGEST_STRUCT, "TPML_DIGEST")?;
        let n = list.u32_le()? as usize;
        if n > DIGESTS_PER_LIST {
            return Err(WireError::TooLarge {
                structure: "TPML_DIGEST count",
                size: n,
                max: DIGESTS_PER_LIST,
            });
        }
        for slot in 0..DIGESTS_PER_LIST {
            let size = usize::from(list.u16_le()?);
            let buf = list.take(64)?;
            if slot >= n {
                continue;
            }
            let Some((bank, index)) = wanted.next() else {
                return Err(WireError::InvalidValue {
                    structure: S,
                    field: "digest count",
                    value: "more digests than selected PCRs".into(),
                });
            };
            let digest = buf
                .get(..size)
                .and_then(|b| Digest::new(bank, b))
                .ok_or_else(|| WireError::InvalidValue {
                    structure: S,
                    field: "digest size",
                    value: format!("{size} for PCR {index} in bank {bank}"),
                })?;
            values.insert(index, digest);
        }
        list.finish()?;
    }
    if let Some((bank, index)) = wanted.next() {
        return Err(WireError::InvalidValue {
            structure: S,
            field: "digest count",
            value: format!("no value for selected PCR {index} in bank {bank}"),
        });
    }
    drop(wanted);
    r.finish()?;
    Ok((selection, values))
}
