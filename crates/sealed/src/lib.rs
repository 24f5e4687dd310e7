//! # blindfold-sealed
//!
//! The sealed-model format: how a model owner's weights travel and rest
//! outside the enclave. A model is sealed under its own random data key as
//! a stream of chunks (AES-256-GCM, a few MiB each) and a manifest that
//! says what the chunks make up, authenticated under the same key:
//!
//! - each chunk's nonce is the model's random 7-byte prefix, the chunk's
//!   index (4 bytes, big-endian) and a flag byte, 1 on the last chunk and
//!   0 on the others (the STREAM construction), so a chunk that is
//!   altered, moved to another index, duplicated, or presented as the last
//!   one when it is not, does not authenticate; the manifest's chunk count
//!   catches a stream that stops early;
//! - each chunk's associated data is the format label, the model's name
//!   and its key id;
//! - the manifest (format, name, key id, nonce prefix, chunk size and
//!   count, plaintext size and SHA-256) is authenticated by an AES-GCM tag
//!   over its JSON under nonce flag 2, so a manifest swapped for another
//!   model's, or edited, is refused before any chunk is read.
//!
//! [`Sealer`] and [`Opener`] work one chunk at a time, so memory stays
//! flat whatever the model's size. The data key never leaves this crate's
//! callers in the clear except to be wrapped (by the key broker).
//!
//! What it is **not**: storage (the `model-store` crate moves chunks and
//! manifests), key management (the key broker wraps and releases data
//! keys), or a general file-encryption tool. It does no I/O.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod format;
mod stream;

pub use format::{Manifest, SealedManifest, FORMAT, KEY_ID_LEN, NONCE_PREFIX_LEN};
pub use stream::{Opener, Sealer, DEFAULT_CHUNK_SIZE};

/// Why a sealed model cannot be sealed or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The manifest is not a sealed-model manifest this reader knows.
    #[error("the manifest is unusable: {0}")]
    Manifest(String),
    /// The manifest's tag does not verify under the data key.
    #[error(
        "the manifest does not authenticate under this model's key (edited, or another model's manifest)"
    )]
    ManifestTag,
    /// The manifest authenticates but describes another model.
    #[error("the manifest is for {got}, expected {expected}")]
    OtherModel {
        /// What was asked for.
        expected: String,
        /// What the manifest names.
        got: String,
    },
    /// One chunk is wrong; the index says which.
    #[error("chunk {index}: {reason}")]
    Chunk {
        /// The chunk's index.
        index: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The stream stopped before the manifest's chunk count.
    #[error("the sealed model stops after {got} of its {expected} chunks (truncated)")]
    Truncated {
        /// Chunks opened.
        got: u64,
        /// Chunks the manifest names.
        expected: u64,
    },
    /// Every chunk authenticated but the plaintext is not the one sealed.
    #[error("the opened model's SHA-256 is {got}, the manifest says {expected}")]
    Digest {
        /// The manifest's.
        expected: String,
        /// The opened bytes'.
        got: String,
    },
    /// The input being sealed did not have the size announced.
    #[error("the input changed while it was sealed: {0}")]
    InputChanged(String),
    /// The operating system's random source failed.
    #[error("no randomness for a new data key: {0}")]
    Random(String),
    /// The cipher refused.
    #[error(transparent)]
    Crypto(#[from] blindfold_crypto::CryptoError),
}
