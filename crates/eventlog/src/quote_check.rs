//! Comparing a replayed log with a verified quote.

use blindfold_crypto::{Digest, HashAlg};
use blindfold_tpm::{PcrIndex, VerifiedQuote};

use crate::error::Error;
use crate::replay::Replay;

/// How one quoted PCR compares with the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PcrStatus {
    /// The log replays to the quoted value.
    Matches,
    /// The log replays to another value.
    Mismatch {
        /// Quoted value.
        expected: Digest,
        /// Replayed value.
        actual: Digest,
    },
    /// The log never extends this PCR in this bank, so it says nothing
    /// about it (e.g. PCR 15, extended by the runtime, not the firmware).
    NotInLog,
}

/// One row of the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrCheck {
    /// Bank.
    pub bank: HashAlg,
    /// PCR.
    pub index: PcrIndex,
    /// Outcome.
    pub status: PcrStatus,
}

/// For each PCR the verified quote covers, whether the replayed log
/// reaches its value, in quote selection order.
pub fn compare_with_quote(quote: &VerifiedQuote, replay: &Replay) -> Vec<PcrCheck> {
    quote
        .attest()
        .pcr_select
        .iter()
        .filter_map(|(bank, index)| {
            let expected = *quote.pcrs().get(bank, index)?;
            let status = match replay.pcrs.get(bank, index) {
                None => PcrStatus::NotInLog,
                Some(actual) if *actual == expected => PcrStatus::Matches,
                Some(actual) => PcrStatus::Mismatch {
                    expected,
                    actual: *actual,
                },
            };
            Some(PcrCheck { bank, index, status })
        })
        .collect()
}

/// The first mismatch among `checks` as an error naming the PCR, bank and
/// both values; `Ok` when every PCR the log extends matches.
pub fn require_match(checks: &[PcrCheck]) -> Result<(), Error> {
    for c in checks {
        if let PcrStatus::Mismatch { expected, actual } = &c.status {
            return Err(Error::PcrMismatch {
                index: c.index,
                bank: c.bank,
                expected: expected.to_hex(),
                actual: actual.to_hex(),
            });
        }
    }
    Ok(())
}
