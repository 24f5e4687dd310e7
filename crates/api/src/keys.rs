//! API keys, checked inside the enclave (TLS ends here, so the operator
//! cannot authenticate or meter at an ingress).
//!
//! Keys are random and stored as salted HMACs
//! ([`blindfold_protocol::api_keys`] says why). A presented key is checked
//! with one HMAC per configured key, each compared in constant time, and
//! no early exit. Each key may have a request rate and a token budget per
//! minute; each key's usage is counted in requests and tokens, never
//! content.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use blindfold_protocol::api_keys::{keyed_hash, SALT_LEN};
pub use blindfold_protocol::api_keys::{new_api_key, ApiKeyConfig};
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// What one key has used since the server started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeyUsage {
    /// The key's name.
    pub key: String,
    /// Requests accepted.
    pub requests: u64,
    /// Requests refused by a limit.
    pub rejected: u64,
    /// Prompt tokens processed.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
}

struct KeyState {
    config: ApiKeyConfig,
    salt: Vec<u8>,
    hash: [u8; 32],
    usage: KeyUsage,
    window_start: Instant,
    window_requests: u64,
    window_tokens: u64,
}

/// The accepted keys and their counters.
pub struct KeyRing {
    keys: Mutex<Vec<KeyState>>,
}

/// A request's key, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyId(usize);

const WINDOW: Duration = Duration::from_secs(60);

impl KeyRing {
    /// Keys from configuration; a hash that is not 32 hex bytes is an error.
    pub fn new(keys: &[ApiKeyConfig]) -> Result<Self, String> {
        let mut states = Vec::new();
        let mut names = HashMap::new();
        for k in keys {
            let hash: [u8; 32] = hex::decode(&k.hmac_sha256)
                .ok()
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| format!("api key `{}`: hmac_sha256 must be 64 hex digits", k.name))?;
            let salt = hex::decode(&k.salt)
                .ok()
                .filter(|s| s.len() >= SALT_LEN)
                .ok_or_else(|| {
                    format!(
                        "api key `{}`: salt must be at least {SALT_LEN} bytes of hex",
                        k.name
                    )
                })?;
            if names.insert(k.name.clone(), ()).is_some() {
                return Err(format!("api key name `{}` is used twice", k.name));
            }
            states.push(KeyState {
                config: k.clone(),
                salt,
                hash,
                usage: KeyUsage {
                    key: k.name.clone(),
                    ..KeyUsage::default()
                },
                window_start: Instant::now(),
                window_requests: 0,
                window_tokens: 0,
            });
        }
        Ok(KeyRing {
            keys: Mutex::new(states),
        })
    }

    /// Whether any key is configured (if none, the API is open).
    pub fn enabled(&self) -> bool {
        !self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<KeyState>> {
        // A panic while holding the lock leaves plain counters: still usable.
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Finds the key of an `Authorization: Bearer` header value.
    fn find(keys: &[KeyState], authorization: Option<&[u8]>) -> Result<usize, ApiError> {
        let presented = authorization
            .and_then(|h| h.strip_prefix(b"Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("an API key is required: send `Authorization: Bearer <key>`")
            })?;
        // Every key is tried (no early exit), each compared in constant time.
        let mut found = None;
        for (i, k) in keys.iter().enumerate() {
            if bool::from(keyed_hash(&k.salt, presented).ct_eq(&k.hash)) {
                found = Some(i);
            }
        }
        found.ok_or_else(|| ApiError::unauthorized("the API key is not valid"))
    }

    /// Checks the key without charging it (model list, usage).
    pub fn identify(&self, authorization: Option<&[u8]>) -> Result<KeyId, ApiError> {
        Self::find(&self.lock(), authorization).map(KeyId)
    }

    /// Checks the key and charges one request to it, or says which limit
    /// refuses it.
    pub fn admit(&self, authorization: Option<&[u8]>) -> Result<KeyId, ApiError> {
        let mut keys = self.lock();
        let i = Self::find(&keys, authorization)?;
        let k = &mut keys[i];
        if k.window_start.elapsed() >= WINDOW {
            k.window_start = Instant::now();
            k.window_requests = 0;
            k.window_tokens = 0;
        }
        if let Some(limit) = k.config.requests_per_minute {
            if k.window_requests >= limit {
                k.usage.rejected += 1;
                return Err(ApiError::rate_limited(
                    "rate_limit_exceeded",
                    format!(
                        "key `{}` is over its limit of {limit} requests per minute",
                        k.config.name
                    ),
                ));
            }
        }
        if let Some(limit) = k.config.tokens_per_minute {
            if k.window_tokens >= limit {
                k.usage.rejected += 1;
                return Err(ApiError::rate_limited(
                    "tokens_limit_exceeded",
                    format!(
                        "key `{}` is over its limit of {limit} tokens per minute",
                        k.config.name
                    ),
                ));
            }
        }
        k.window_requests += 1;
        k.usage.requests += 1;
        Ok(KeyId(i))
    }

    /// Adds a finished request's tokens to its key.
    pub fn charge(&self, key: KeyId, prompt_tokens: u64, completion_tokens: u64) {
        let mut keys = self.lock();
        if let Some(k) = keys.get_mut(key.0) {
            k.usage.prompt_tokens += prompt_tokens;
            k.usage.completion_tokens += completion_tokens;
            k.window_tokens += prompt_tokens + completion_tokens;
        }
    }

    /// One key's counters.
    pub fn usage(&self, key: KeyId) -> Option<KeyUsage> {
        self.lock().get(key.0).map(|k| k.usage.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blindfold_protocol::api_keys::{KEY_BYTES, KEY_PREFIX};
    use sha2::Sha256;

    fn ring(rpm: Option<u64>, tpm: Option<u64>) -> KeyRing {
        let salt = [7u8; SALT_LEN];
        KeyRing::new(&[ApiKeyConfig {
            name: "a".into(),
            salt: hex::encode(salt),
            hmac_sha256: hex::encode(keyed_hash(&salt, b"sk-good")),
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
        }])
        .unwrap()
    }

    #[test]
    fn new_keys_are_random_salted_and_accepted() {
        let (key, config) = new_api_key("team-a").unwrap();
        let (other, other_config) = new_api_key("team-a").unwrap();
        assert_ne!(key, other);
        assert_ne!(config.salt, other_config.salt);
        assert_eq!(key.len(), KEY_PREFIX.len() + 2 * KEY_BYTES);
        // The configuration holds neither the key nor its plain hash.
        let text = serde_json::to_string(&config).unwrap();
        assert!(!text.contains(&key[KEY_PREFIX.len()..]), "{text}");
        use sha2::Digest;
        assert!(
            !text.contains(&hex::encode(Sha256::digest(key.as_bytes()))),
            "{text}"
        );
        let r = KeyRing::new(&[
            config,
            ApiKeyConfig {
                name: "b".into(),
                ..other_config
            },
        ])
        .unwrap();
        assert!(r.admit(Some(format!("Bearer {key}").as_bytes())).is_ok());
        assert!(r.admit(Some(format!("Bearer {other}").as_bytes())).is_ok());
        assert!(r.admit(Some(format!("Bearer {key}x").as_bytes())).is_err());
    }

    #[test]
    fn missing_and_wrong_keys_are_401() {
        let r = ring(None, None);
        assert_eq!(r.admit(None).unwrap_err().status, 401);
        assert_eq!(
            r.admit(Some(b"Bearer sk-bad")).unwrap_err().code,
            "invalid_api_key"
        );
        assert_eq!(r.admit(Some(b"sk-good")).unwrap_err().status, 401);
        assert!(r.admit(Some(b"Bearer sk-good")).is_ok());
    }

    #[test]
    fn limits_are_429_and_counted() {
        let r = ring(Some(2), None);
        let k = r.admit(Some(b"Bearer sk-good")).unwrap();
        r.admit(Some(b"Bearer sk-good")).unwrap();
        let e = r.admit(Some(b"Bearer sk-good")).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (429, "rate_limit_exceeded"));
        assert_eq!(r.usage(k).unwrap().rejected, 1);
        let r = ring(None, Some(10));
        let k = r.admit(Some(b"Bearer sk-good")).unwrap();
        r.charge(k, 6, 5);
        let e = r.admit(Some(b"Bearer sk-good")).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (429, "tokens_limit_exceeded"));
    }

    #[test]
    fn a_malformed_hash_is_refused_at_start() {
        let e = KeyRing::new(&[ApiKeyConfig {
            name: "x".into(),
            salt: hex::encode([1u8; SALT_LEN]),
            hmac_sha256: "abcd".into(),
            requests_per_minute: None,
            tokens_per_minute: None,
        }])
        .err()
        .unwrap();
        assert!(e.contains("64 hex digits"), "{e}");
    }
}
