//! The errors of this crate.

/// Every way formatting or verifying a verity tree can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad verity parameters or superblock.
    #[error("verity: {0}")]
    Verity(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
    /// The OS random source failed.
    #[error("random source: {0}")]
    Random(String),
    /// A data block does not hash to its leaf.
    #[error("data block {block} is corrupted (its hash differs from the tree)")]
    CorruptedDataBlock {
        /// First corrupted block (0-based).
        block: u64,
    },
    /// A hash block does not hash to its parent.
    #[error("hash block {block} of level {level} is corrupted")]
    CorruptedHashBlock {
        /// Tree level (0 = leaves).
        level: usize,
        /// Block within the level.
        block: u64,
    },
    /// The tree's root is not the expected root hash.
    #[error("root hash: expected {expected}, the data hashes to {actual}")]
    RootHashMismatch {
        /// Expected root.
        expected: String,
        /// Computed root.
        actual: String,
    },
}

impl Error {
    /// True when the input could not be used (bad parameters, I/O), false
    /// when the data was checked and does not match.
    pub fn is_unusable_input(&self) -> bool {
        matches!(self, Error::Verity(_) | Error::Io(_) | Error::Random(_))
    }
}
