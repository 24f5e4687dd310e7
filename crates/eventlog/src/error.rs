//! The errors of this crate: parsing, then comparison with a quote.

use blindfold_crypto::HashAlg;
use blindfold_tpm::{PcrIndex, WireError};

/// Every way reading a log or checking it against a quote can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- parsing ----
    /// An event could not be read.
    #[error("event {event} (at byte {offset}): {cause}")]
    Malformed {
        /// Event number (0-based).
        event: usize,
        /// Byte offset of the event in the log.
        offset: usize,
        /// What was wrong.
        cause: WireError,
    },
    /// The `Spec ID Event03` header is not valid.
    #[error("Spec ID event: {0}")]
    SpecIdInvalid(String),
    /// An event carries a digest of an algorithm the header did not declare,
    /// so its size (and everything after it) is unknown.
    #[error("event {event}: digest algorithm 0x{alg_id:04x} is not declared in the Spec ID event")]
    UndeclaredDigestAlgorithm {
        /// Event number.
        event: usize,
        /// The algorithm.
        alg_id: u16,
    },
    /// An event carries more digests than the header declared algorithms.
    #[error("event {event}: {count} digests, but the Spec ID event declares {declared} algorithms")]
    TooManyDigests {
        /// Event number.
        event: usize,
        /// Digests in the event.
        count: usize,
        /// Algorithms declared.
        declared: usize,
    },

    /// A CC event log has bytes other than `0xFF` after its padding began.
    #[error("the event log's padding (0xFF) is followed by other data at byte {offset}")]
    DataAfterPadding {
        /// Byte offset of the first such byte.
        offset: usize,
    },
    /// A CC event log does not declare SHA-384, the only bank RTMRs use.
    #[error("a CC event log must declare SHA-384 (RTMRs are SHA-384); it declares {declared}")]
    CcLogWithoutSha384 {
        /// The banks it declares.
        declared: String,
    },
    /// A CC event log event extends an index that is no RTMR.
    #[error("event {event}: MR index {index} is not an RTMR (1 to 4 are RTMR 0 to 3; MRTD, index 0, is never extended by events)")]
    NotAnRtmr {
        /// Event number.
        event: usize,
        /// The index it names.
        index: u32,
    },
    /// A CC event log event has no SHA-384 digest.
    #[error("event {event}: no SHA-384 digest")]
    MissingSha384 {
        /// Event number.
        event: usize,
    },

    // ---- replay against a quote ----
    /// The log replays to a value other than the quoted one.
    #[error("PCR {index} ({bank}): quote has {expected}, event log replays to {actual}")]
    PcrMismatch {
        /// The PCR.
        index: PcrIndex,
        /// The bank.
        bank: HashAlg,
        /// Value in the verified quote.
        expected: String,
        /// Value the log replays to.
        actual: String,
    },
    /// The CC event log replays to an RTMR value other than the TD quote's.
    #[error("RTMR {rtmr}: TD quote has {expected}, event log replays to {actual}")]
    RtmrMismatch {
        /// The RTMR (0 to 3).
        rtmr: usize,
        /// Value in the verified TD quote.
        expected: String,
        /// Value the log replays to.
        actual: String,
    },
}
