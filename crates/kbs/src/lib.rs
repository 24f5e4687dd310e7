//! # blindfold-kbs
//!
//! The key broker, run by the model owner: it keeps each sealed model's
//! data key wrapped under the owner's key-encryption key (KEK) in the
//! owner's store, so several brokers can serve the same models and the
//! store never holds a data key in the clear.
//!
//! A wrapped key is AES-256-GCM under the KEK with a fresh random nonce;
//! its associated data is a label, the model's name and the key id, so a
//! wrapped key copied into another model's (or another key id's) slot
//! does not unwrap. State layout in the store: `kbs/keys/MODEL/KEY_ID`
//! ([`WrappedKey`] as JSON).
//!
//! The owner's key-release policies ([`KeyPolicy`]) are signed by the
//! owner and wrap the publisher's signed reference bundle; a broker checks
//! them ([`verify_policy`]) against its own high-water mark of versions
//! ([`PolicyVersions`]). Stored at `kbs/policies/MODEL`.
//!
//! A release ([`decide`]) appraises an enclave's request, answering a
//! single-use challenge ([`Challenges`]), against the policy and seals the
//! data key to the enclave's HPKE key (`blindfold_protocol::release`).
//!
//! [`serve`] runs it as an HTTPS service (TLS 1.3, the broker's key pinned
//! by enclaves) and appends every decision to an audit log
//! ([`AuditRecord`]: time, model, platform, verdict, reason; never a key).
//!
//! The owner's own operations (seal, rotate, sign a policy, read the audit
//! log) are in [`seal_model`] and its neighbours: the CLI and the web
//! console call the same functions.
//!
//! For owners on AWS, [`kms_key_policy`] writes a KMS key policy that only
//! an instance booted from the measured image can decrypt under (KMS checks
//! the NitroTPM attestation itself).
//!
//! What it is **not** (yet): the enclave's side of the exchange, which
//! lives with the enclave.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod keys;
mod kms;
mod model_owner;
mod owner;
mod policy;
mod release;
mod serve;

pub use keys::{unwrap_key, wrap_key, Kek, KeyStore, WrappedKey, WRAPPED_KEY_FORMAT};
pub use kms::{kms_key_policy, KmsPolicyInput};
pub use model_owner::{
    parse_audit_log, rotate_model_key, seal_model, set_policy, DsseSigner, OwnerStores, PolicyTerms,
    AUDIT_LOG,
};
pub use owner::{
    check_owner_token, generate_owner_token, owner_token_sha256, OwnerAuth, OWNER_AUDIT_PATH,
    OWNER_POLICY_PREFIX,
};
pub use policy::{
    load_policy, load_policy_versioned, read_policy, store_policy, verify_policy, KeyPolicy, PolicyVersions,
    VerifiedPolicy, POLICY_PAYLOAD_TYPE, POLICY_VERSION,
};
pub use release::{decide, Challenges, ReleaseSession, Released, CHALLENGE_TTL};
pub use serve::{serve, tls_spki, AuditRecord, BrokerConfig, CHALLENGE_PATH, RELEASE_PATH};

/// Why a key could not be kept or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key-encryption key file is not 32 bytes of hex.
    #[error("the key-encryption key is not 64 hex digits (32 bytes)")]
    KekFormat,
    /// A wrapped key's JSON is not one this broker reads.
    #[error("the wrapped key for {model} is unusable: {why}")]
    WrappedFormat {
        /// The model.
        model: String,
        /// What is wrong.
        why: String,
    },
    /// A wrapped key names another model or key id than its slot.
    #[error("the wrapped key in the slot of {model} key {key_id} names {other}")]
    OtherSlot {
        /// The slot's model.
        model: String,
        /// The slot's key id.
        key_id: String,
        /// What the wrapped key names.
        other: String,
    },
    /// The wrapped key does not authenticate under this KEK for its slot.
    #[error("the wrapped key for {model} key {key_id} does not unwrap: another key-encryption key, or moved from another model's slot")]
    Unwrap {
        /// The model.
        model: String,
        /// The key id.
        key_id: String,
    },
    /// No wrapped key for that model and key id.
    #[error("no key for {model} key {key_id} in the broker's store")]
    NoKey {
        /// The model.
        model: String,
        /// The key id.
        key_id: String,
    },
    /// A KMS key policy cannot be made from these inputs.
    #[error("KMS key policy: {0}")]
    KmsPolicy(String),
    /// The broker's TLS set-up failed.
    #[error("broker TLS: {0}")]
    Tls(String),
    /// A challenge that cannot be used.
    #[error("challenge refused: {0}")]
    Challenge(String),
    /// A release refused: what differed.
    #[error("key release for {model} refused: {why}")]
    Refused {
        /// The model asked for.
        model: String,
        /// What differed.
        why: String,
    },
    /// A key-release policy that cannot be used.
    #[error("the key-release policy for {model} is refused: {why}")]
    Policy {
        /// The model.
        model: String,
        /// Why.
        why: String,
    },
    /// A policy older than one this broker has seen.
    #[error("the key-release policy for {model} is version {version}, older than version {seen} this broker has seen (rollback)")]
    PolicyRolledBack {
        /// The model.
        model: String,
        /// The policy's version.
        version: u64,
        /// The highest seen.
        seen: u64,
    },
    /// An expired policy.
    #[error("the key-release policy for {model} expired at {expired}")]
    PolicyExpired {
        /// The model.
        model: String,
        /// When.
        expired: String,
    },
    /// No policy for the model in the store.
    #[error("no key-release policy for {model} in the broker's store")]
    NoPolicy {
        /// The model.
        model: String,
    },
    /// Another broker or owner changed the model's policy between this
    /// one's read and write; nothing was written.
    #[error("{model}'s policy was changed by someone else since it was read (another broker or owner): nothing was written; read it again and retry")]
    PolicyConflict {
        /// The model.
        model: String,
    },
    /// The broker's local state file cannot be used.
    #[error("broker state {path}: {why}")]
    State {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// The operating system's random source failed.
    #[error("no randomness: {0}")]
    Random(String),
    /// A signing key (the owner's, the publisher's) cannot be used.
    #[error("signing key: {0}")]
    SigningKey(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] blindfold_model_store::Error),
    /// The cipher refused.
    #[error(transparent)]
    Crypto(#[from] blindfold_crypto::CryptoError),
}
