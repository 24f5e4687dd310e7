//! # blindfold-model-store
//!
//! Sealed models in object storage, through the `object_store` crate: a
//! model owner seals a file into a store, lists and inspects what is there,
//! deletes a model; the enclave reads a model back chunk by chunk.
//!
//! A store is a URL: `file://DIR` (a directory, made if missing) or
//! `s3://BUCKET/PREFIX` (any S3-compatible server; endpoint, region and
//! credentials from the usual variables: `AWS_ENDPOINT_URL`, `AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and `AWS_ALLOW_HTTP=true`
//! for a plain-HTTP endpoint such as a local test server). TLS to S3 is
//! rustls on `ring`.
//!
//! Layout under the store's prefix, per model `NAME`:
//!
//! - `models/NAME/KEY_ID.sealed`: every sealed chunk, in order, each
//!   `chunk_size + 16` bytes (the last one shorter), uploaded multipart;
//! - `models/NAME/manifest.json`: the [`SealedManifest`], written **last**,
//!   so an interrupted seal leaves nothing that looks like a model (a
//!   multipart upload that is not finished leaves no object at all).
//!
//! The key broker's state objects (`kbs/...`) can be written
//! conditionally (create if absent, replace if unchanged), and a store can
//! be checked for honouring that before brokers share it.
//!
//! What it is **not**: the format (`blindfold-sealed` seals and opens; this
//! crate only moves bytes) or key management (the key broker holds the
//! data keys; [`ModelStore::seal_file`] hands the new key to its caller).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod conditional;
mod store;

pub use conditional::{StateVersion, WriteCondition};
pub use store::{ModelStore, SealProgress};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store URL is not one this crate opens.
    #[error("store {url}: {why}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// A model name that cannot be a store path.
    #[error("model name {0:?}: use 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit")]
    Name(String),
    /// No model of that name in the store.
    #[error("no model {name} in {store}")]
    NoSuchModel {
        /// The model.
        name: String,
        /// The store.
        store: String,
    },
    /// A model of that name is already there.
    #[error("model {name} is already in {store}: delete it first, or rotate its key")]
    Exists {
        /// The model.
        name: String,
        /// The store.
        store: String,
    },
    /// Reading the file to seal failed.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The store refused or could not be reached (after its bounded retries).
    #[error("store {store}: {source}")]
    Store {
        /// The store.
        store: String,
        /// What object_store reported.
        source: object_store::Error,
    },
    /// A conditional write found the object changed (or present) since it
    /// was read: someone else wrote it first; read it again.
    #[error("{object} in {store} was written by someone else since it was read: read it again and retry")]
    Conflict {
        /// The store.
        store: String,
        /// The state object.
        object: String,
    },
    /// The store does not honour conditional writes (`If-None-Match`,
    /// `If-Match`), so replicas sharing it could overwrite each other.
    #[error("store {store} does not honour conditional writes, so brokers sharing it could overwrite each other's updates: {why}")]
    NoConditionalWrites {
        /// The store.
        store: String,
        /// Which check failed.
        why: String,
    },
    /// The sealed format refused.
    #[error(transparent)]
    Sealed(#[from] blindfold_sealed::Error),
}

/// Whether `name` can name a model (and a store path).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

pub use blindfold_sealed::SealedManifest;
