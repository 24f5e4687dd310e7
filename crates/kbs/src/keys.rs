//! The KEK, wrapped data keys, and where the broker keeps them.

use blindfold_crypto::{default_provider, AeadKey, AEAD_KEY_LEN, AEAD_NONCE_LEN};
use blindfold_model_store::ModelStore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Error;

/// The wrapped-key format label.
pub const WRAPPED_KEY_FORMAT: &str = "blindfold-kbs-wrapped-key/v1";
const WRAP_LABEL: &[u8] = b"blindfold/kbs/wrapped-key/v1";

/// The owner's key-encryption key: wraps every data key the broker keeps.
#[derive(Debug, Clone)]
pub struct Kek(AeadKey);

impl Kek {
    /// Reads a KEK file: 64 hex digits (surrounding white space ignored).
    pub fn parse(text: &[u8]) -> Result<Kek, Error> {
        let text = std::str::from_utf8(text).map_err(|_| Error::KekFormat)?.trim();
        let bytes = Zeroizing::new(hex::decode(text).map_err(|_| Error::KekFormat)?);
        let key: [u8; AEAD_KEY_LEN] = bytes.as_slice().try_into().map_err(|_| Error::KekFormat)?;
        Ok(Kek(AeadKey::from_bytes(key)))
    }

    /// A new random KEK and its file contents (hex and a newline).
    pub fn generate() -> Result<(Kek, Zeroizing<String>), Error> {
        let key = AeadKey::generate().map_err(|e| Error::Random(e.to_string()))?;
        let text = Zeroizing::new(format!("{}\n", hex::encode(key.expose())));
        Ok((Kek(key), text))
    }
}

/// A data key wrapped under the KEK, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedKey {
    /// Always [`WRAPPED_KEY_FORMAT`].
    pub format: String,
    /// The model whose data key this is.
    pub model: String,
    /// The key id (the sealed manifest's).
    pub key_id: String,
    /// The wrapping nonce (hex).
    pub nonce: String,
    /// The data key under the KEK, with its tag (hex).
    pub wrapped: String,
}

fn aad(model: &str, key_id: &str) -> Vec<u8> {
    let mut out = WRAP_LABEL.to_vec();
    for part in [model.as_bytes(), key_id.as_bytes()] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Wraps `key`, model `model`'s data key `key_id`, under `kek`.
pub fn wrap_key(kek: &Kek, model: &str, key_id: &str, key: &AeadKey) -> Result<WrappedKey, Error> {
    let mut nonce = [0u8; AEAD_NONCE_LEN];
    getrandom::getrandom(&mut nonce).map_err(|e| Error::Random(e.to_string()))?;
    let mut buf = key.expose().to_vec();
    default_provider().aes256gcm_seal(&kek.0, &nonce, &aad(model, key_id), &mut buf)?;
    Ok(WrappedKey {
        format: WRAPPED_KEY_FORMAT.into(),
        model: model.into(),
        key_id: key_id.into(),
        nonce: hex::encode(nonce),
        wrapped: hex::encode(buf),
    })
}

/// Unwraps the key in the slot of model `model`, key `key_id`: the
/// associated data is the slot's, so a key moved from another slot fails.
pub fn unwrap_key(kek: &Kek, wrapped: &WrappedKey, model: &str, key_id: &str) -> Result<AeadKey, Error> {
    let bad = |why: &str| Error::WrappedFormat {
        model: model.into(),
        why: why.into(),
    };
    if wrapped.format != WRAPPED_KEY_FORMAT {
        return Err(bad(&format!("format {:?}", wrapped.format)));
    }
    if wrapped.model != model || wrapped.key_id != key_id {
        return Err(Error::OtherSlot {
            model: model.into(),
            key_id: key_id.into(),
            other: format!("{} key {}", wrapped.model, wrapped.key_id),
        });
    }
    let nonce: [u8; AEAD_NONCE_LEN] = hex::decode(&wrapped.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| bad("nonce is not 12 hex bytes"))?;
    let mut buf = Zeroizing::new(hex::decode(&wrapped.wrapped).map_err(|_| bad("wrapped is not hex"))?);
    default_provider()
        .aes256gcm_open(&kek.0, &nonce, &aad(model, key_id), &mut buf)
        .map_err(|_| Error::Unwrap {
            model: model.into(),
            key_id: key_id.into(),
        })?;
    let key: [u8; AEAD_KEY_LEN] = buf.as_slice().try_into().map_err(|_| bad("not a 32-byte key"))?;
    Ok(AeadKey::from_bytes(key))
}

/// Where the broker keeps wrapped keys: `kbs/keys/MODEL/KEY_ID` in a store.
#[derive(Debug, Clone)]
pub struct KeyStore {
    store: ModelStore,
    kek: Kek,
}

impl KeyStore {
    /// The broker's keys in `store`, wrapped under `kek`.
    pub fn new(store: ModelStore, kek: Kek) -> KeyStore {
        KeyStore { store, kek }
    }

    /// Keeps `key` as model `model`'s data key `key_id`.
    pub async fn put(&self, model: &str, key_id: &str, key: &AeadKey) -> Result<(), Error> {
        let wrapped = wrap_key(&self.kek, model, key_id, key)?;
        let mut bytes = serde_json::to_vec_pretty(&wrapped).map_err(|e| Error::WrappedFormat {
            model: model.into(),
            why: e.to_string(),
        })?;
        bytes.push(b'\n');
        self.store.put_state(&["keys", model, key_id], bytes).await?;
        Ok(())
    }

    /// Forgets model `model`'s data key `key_id` (after a rotation).
    pub async fn delete(&self, model: &str, key_id: &str) -> Result<(), Error> {
        self.store.delete_state(&["keys", model, key_id]).await?;
        Ok(())
    }

    /// Model `model`'s data key `key_id`.
    pub async fn get(&self, model: &str, key_id: &str) -> Result<AeadKey, Error> {
        let bytes = self
            .store
            .get_state(&["keys", model, key_id])
            .await?
            .ok_or_else(|| Error::NoKey {
                model: model.into(),
                key_id: key_id.into(),
            })?;
        let wrapped: WrappedKey = serde_json::from_slice(&bytes).map_err(|e| Error::WrappedFormat {
            model: model.into(),
            why: e.to_string(),
        })?;
        unwrap_key(&self.kek, &wrapped, model, key_id)
    }
}
