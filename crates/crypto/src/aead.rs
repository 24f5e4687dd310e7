//! AES-256-GCM, the one authenticated cipher Blindfold seals model weights
//! with: the key type (wiped on drop, never printed) and the error.

use zeroize::Zeroizing;

/// Bytes of an AES-256-GCM key.
pub const AEAD_KEY_LEN: usize = 32;
/// Bytes of an AES-GCM nonce.
pub const AEAD_NONCE_LEN: usize = 12;
/// Bytes of an AES-GCM tag, appended to each ciphertext.
pub const AEAD_TAG_LEN: usize = 16;

/// An AES-256-GCM key: wiped when dropped, shown as `AeadKey(..)`.
#[derive(Clone)]
pub struct AeadKey(Zeroizing<[u8; AEAD_KEY_LEN]>);

impl AeadKey {
    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; AEAD_KEY_LEN]) -> AeadKey {
        AeadKey(Zeroizing::new(bytes))
    }

    /// A fresh random key from the operating system.
    pub fn generate() -> Result<AeadKey, getrandom::Error> {
        let mut bytes = Zeroizing::new([0u8; AEAD_KEY_LEN]);
        getrandom::getrandom(bytes.as_mut())?;
        Ok(AeadKey(bytes))
    }

    /// The key's bytes, for a cipher or for wrapping under another key.
    pub fn expose(&self) -> &[u8; AEAD_KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AeadKey(..)")
    }
}
