//! `TPMS_ATTEST` for quotes (TPM 2.0 Part 2, 10.12).

use crate::error::{Error, WireError};
use crate::pcr::PcrSelection;
use crate::reader::Reader;

/// `TPM_GENERATED_VALUE`: the TPM puts this first in everything it signs.
pub const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
/// `TPM_ST_ATTEST_QUOTE`.
pub const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;

/// Largest `TPM2B_NAME` (algorithm + SHA-512 digest).
const MAX_NAME: usize = 2 + 64;
/// Largest `TPM2B_DATA` (`sizeof(TPMT_HA)`).
const MAX_DATA: usize = 2 + 64;
/// Largest `TPM2B_DIGEST`.
const MAX_DIGEST: usize = 64;

/// `TPMS_CLOCK_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockInfo {
    /// Milliseconds the TPM has been powered (advances, survives resets).
    pub clock: u64,
    /// TPM resets since the last clear.
    pub reset_count: u32,
    /// TPM restarts/resumes since the last reset.
    pub restart_count: u32,
    /// Whether `clock` has not been rolled back.
    pub safe: bool,
}

/// A parsed `TPMS_ATTEST` whose type is `TPM_ST_ATTEST_QUOTE`.
///
/// Parsing checks the magic and the type, so a `QuoteAttest` always claims
/// to be a TPM-generated quote; whether it really is depends on the
/// signature, checked by [`crate::QuoteVerifier`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteAttest {
    /// `qualifiedSigner`: the qualified name of the signing key.
    pub qualified_signer: Vec<u8>,
    /// `extraData`: the caller's qualifying data (the nonce).
    pub extra_data: Vec<u8>,
    /// `clockInfo`.
    pub clock_info: ClockInfo,
    /// `firmwareVersion` (vendor-specific).
    pub firmware_version: u64,
    /// The PCRs the quote covers.
    pub pcr_select: PcrSelection,
    /// `pcrDigest`: hash of the selected PCR values.
    pub pcr_digest: Vec<u8>,
}

impl QuoteAttest {
    /// Parses a `TPMS_ATTEST` quote. The whole input must be consumed.
    pub fn parse(bytes: &[u8]) -> Result<QuoteAttest, Error> {
        let mut r = Reader::new(bytes, "TPMS_ATTEST");
        let magic = r.u32_be()?;
        if magic != TPM_GENERATED_VALUE {
            return Err(Error::NotTpmGenerated { actual: magic });
        }
        let attest_type = r.u16_be()?;
        if attest_type != TPM_ST_ATTEST_QUOTE {
            return Err(Error::NotAQuote { actual: attest_type });
        }
        let qualified_signer = r.tpm2b("TPM2B_NAME", MAX_NAME)?.to_vec();
        let extra_data = r.tpm2b("TPM2B_DATA", MAX_DATA)?.to_vec();
        let clock = r.u64_be()?;
        let reset_count = r.u32_be()?;
        let restart_count = r.u32_be()?;
        let safe = match r.u8()? {
            0 => false,
            1 => true,
            v => {
                return Err(WireError::InvalidValue {
                    structure: "TPMS_CLOCK_INFO",
                    field: "safe (TPMI_YES_NO)",
                    value: v.to_string(),
                }
                .into())
            }
        };
        let firmware_version = r.u64_be()?;
        let pcr_select = PcrSelection::read(&mut r)?;
        let pcr_digest = r.tpm2b("TPM2B_DIGEST", MAX_DIGEST)?.to_vec();
        r.finish()?;
        Ok(QuoteAttest {
            qualified_signer,
            extra_data,
            clock_info: ClockInfo {
                clock,
                reset_count,
                restart_count,
                safe,
            },
            firmware_version,
            pcr_select,
            pcr_digest,
        })
    }
}
