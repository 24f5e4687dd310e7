//! What can be wrong with a protocol document.

use blindfold_crypto::HashAlg;

/// Every way a protocol document can be unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The document is not the format it claims to be (a field missing, of
    /// the wrong type, or unknown).
    #[error("{format}: {why}")]
    Malformed {
        /// Which format.
        format: &'static str,
        /// The decoder's words, naming the field.
        why: String,
    },
    /// A version this reader does not know.
    #[error("{format} version {found}; this reader understands version {understood} (a newer writer: upgrade the reader)")]
    UnsupportedVersion {
        /// Which format.
        format: &'static str,
        /// The document's version.
        found: u64,
        /// The version this reader reads.
        understood: u64,
    },
    /// A runtime-log record breaks a rule of the log.
    #[error("runtime event log: record {record}: {why}")]
    RuntimeRecord {
        /// Record number.
        record: usize,
        /// The rule it breaks.
        why: String,
    },
    /// The log has no records.
    #[error("runtime event log: no records")]
    EmptyRuntimeLog,
    /// A runtime event's digest is not the hash of what it says it measured.
    #[error(
        "runtime event {record} ({bank}): logged digest {logged} is not the hash of its content ({computed})"
    )]
    RuntimeEventDigest {
        /// Record number.
        record: usize,
        /// Bank.
        bank: HashAlg,
        /// Digest in the log.
        logged: String,
        /// Hash of the content.
        computed: String,
    },
    /// Something other than a model load after the ready separator.
    #[error("runtime event {record} comes after the ready separator and is not a model load")]
    RuntimeEventAfterReady {
        /// Record number.
        record: usize,
    },
}
