//! API keys as the enclave's configuration lists them: written by
//! `blindfold api-key` (and operators' tools), read by the enclave's API.
//!
//! Keys are random, 256 bits ([`new_api_key`]). The configuration holds
//! only a random salt and HMAC-SHA-256(salt, key) per key: the
//! configuration is measured into PCR 15, so clients can see which keys a
//! deployment accepts without learning any, and a published configuration
//! gives no precomputed table a head start. (A slow password hash would
//! let anyone spend the enclave's CPU with wrong keys; 256 random bits need
//! none.)
//!
//! Extension rule: the enclave's configuration refuses unknown fields, so
//! a new field (a scope, say) is a new configuration version.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// One accepted key, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// A name for usage reports (`team-a`).
    pub name: String,
    /// 16 random bytes, hex, this key's own.
    pub salt: String,
    /// Hex HMAC-SHA-256 of the key, keyed with the salt.
    pub hmac_sha256: String,
    /// Most requests per minute (none = unlimited).
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    /// Most prompt + completion tokens per minute (none = unlimited).
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
}

/// Bytes of a key's salt.
pub const SALT_LEN: usize = 16;
/// Random bytes in a key made by [`new_api_key`] (256 bits).
pub const KEY_BYTES: usize = 32;
/// What keys made by [`new_api_key`] start with.
pub const KEY_PREFIX: &str = "bf-";

/// HMAC-SHA-256 of `key` under `salt`: what the configuration stores.
pub fn keyed_hash(salt: &[u8], key: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: new_from_slice cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(salt).unwrap_or_else(|_| unreachable!());
    mac.update(key);
    mac.finalize().into_bytes().into()
}

/// A new random API key (`bf-` and 64 hex digits: 256 bits) and the
/// configuration entry that accepts it, with its own random salt.
pub fn new_api_key(name: &str) -> Result<(String, ApiKeyConfig), String> {
    let mut secret = [0u8; KEY_BYTES];
    let mut salt = [0u8; SALT_LEN];
    getrandom::getrandom(&mut secret)
        .and_then(|_| getrandom::getrandom(&mut salt))
        .map_err(|e| format!("no randomness: {e}"))?;
    let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
    let config = ApiKeyConfig {
        name: name.to_string(),
        salt: hex::encode(salt),
        hmac_sha256: hex::encode(keyed_hash(&salt, key.as_bytes())),
        requests_per_minute: None,
        tokens_per_minute: None,
    };
    Ok((key, config))
}
