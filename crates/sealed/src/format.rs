//! The manifest and the nonce and associated-data construction.

use blindfold_crypto::{AeadKey, CryptoProvider, AEAD_NONCE_LEN, AEAD_TAG_LEN};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The format label, in the manifest and in every chunk's associated data.
pub const FORMAT: &str = "blindfold-sealed-model/v1";
/// Bytes of the per-model random nonce prefix.
pub const NONCE_PREFIX_LEN: usize = 7;
/// Bytes of a key id.
pub const KEY_ID_LEN: usize = 16;

const MANIFEST_LABEL: &[u8] = b"blindfold/sealed-model/manifest/v1";
const CHUNK_LABEL: &[u8] = b"blindfold/sealed-model/chunk/v1";

/// The nonce flag of a chunk that is not the last.
const FLAG_CHUNK: u8 = 0;
/// The nonce flag of the last chunk.
const FLAG_LAST: u8 = 1;
/// The nonce flag of the manifest's tag.
const FLAG_MANIFEST: u8 = 2;

/// What a sealed model's chunks make up. Every field is authenticated
/// (see [`SealedManifest`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The model's name, as the owner published it.
    pub name: String,
    /// Which data key seals it (hex, [`KEY_ID_LEN`] bytes): a new key after
    /// each rotation.
    pub key_id: String,
    /// The nonce prefix (hex, [`NONCE_PREFIX_LEN`] bytes).
    pub nonce_prefix: String,
    /// Plaintext bytes per chunk (the last chunk may hold fewer).
    pub chunk_size: u64,
    /// Chunks (at least one: an empty model is one empty last chunk).
    pub chunk_count: u64,
    /// Plaintext bytes in all.
    pub plaintext_size: u64,
    /// SHA-256 of the whole plaintext (hex): what the enclave measures.
    pub plaintext_sha256: String,
}

/// A manifest with its tag, as stored (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedManifest {
    /// The manifest.
    pub manifest: Manifest,
    /// AES-256-GCM tag over the manifest's JSON (hex).
    pub tag: String,
}

impl SealedManifest {
    /// Reads a stored manifest (unknown fields refused).
    pub fn parse(bytes: &[u8]) -> Result<SealedManifest, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::Manifest(e.to_string()))
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings and integers always serialises.
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

impl Manifest {
    /// The nonce prefix's bytes.
    pub(crate) fn prefix(&self) -> Result<[u8; NONCE_PREFIX_LEN], Error> {
        hex::decode(&self.nonce_prefix)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::Manifest(format!("nonce_prefix is not {NONCE_PREFIX_LEN} hex bytes")))
    }

    /// The bytes the tag covers: a label, then the manifest's JSON.
    fn authenticated_bytes(&self) -> Vec<u8> {
        let mut out = MANIFEST_LABEL.to_vec();
        out.extend(serde_json::to_vec(self).unwrap_or_default());
        out
    }

    /// Seals the manifest: its tag under `key`.
    pub(crate) fn seal(self, provider: &dyn CryptoProvider, key: &AeadKey) -> Result<SealedManifest, Error> {
        let nonce = nonce(&self.prefix()?, 0, FLAG_MANIFEST);
        let mut tag = Vec::new();
        provider.aes256gcm_seal(key, &nonce, &self.authenticated_bytes(), &mut tag)?;
        Ok(SealedManifest {
            manifest: self,
            tag: hex::encode(tag),
        })
    }

    /// Checks the manifest's tag under `key`, then its fields.
    pub(crate) fn open(
        sealed: &SealedManifest,
        provider: &dyn CryptoProvider,
        key: &AeadKey,
    ) -> Result<Manifest, Error> {
        let m = &sealed.manifest;
        let mut tag = hex::decode(&sealed.tag)
            .ok()
            .filter(|t| t.len() == AEAD_TAG_LEN)
            .ok_or_else(|| Error::Manifest(format!("tag is not {AEAD_TAG_LEN} hex bytes")))?;
        let nonce = nonce(&m.prefix()?, 0, FLAG_MANIFEST);
        provider
            .aes256gcm_open(key, &nonce, &m.authenticated_bytes(), &mut tag)
            .map_err(|_| Error::ManifestTag)?;
        if m.format != FORMAT {
            return Err(Error::Manifest(format!(
                "format {:?}, this reader knows {FORMAT:?}",
                m.format
            )));
        }
        if m.chunk_size == 0 || m.chunk_count == 0 || m.chunk_count > u64::from(u32::MAX) {
            return Err(Error::Manifest(format!(
                "{} chunks of {} bytes",
                m.chunk_count, m.chunk_size
            )));
        }
        if m.plaintext_size.div_ceil(m.chunk_size).max(1) != m.chunk_count {
            return Err(Error::Manifest(format!(
                "{} bytes in chunks of {} are not {} chunks",
                m.plaintext_size, m.chunk_size, m.chunk_count
            )));
        }
        Ok(m.clone())
    }

    /// Chunk `index`'s nonce.
    pub(crate) fn chunk_nonce(&self, index: u64) -> Result<[u8; AEAD_NONCE_LEN], Error> {
        let flag = if index + 1 == self.chunk_count {
            FLAG_LAST
        } else {
            FLAG_CHUNK
        };
        let index = u32::try_from(index).map_err(|_| Error::Chunk {
            index,
            reason: "beyond the format's 2^32 chunks".into(),
        })?;
        Ok(nonce(&self.prefix()?, index, flag))
    }

    /// Every chunk's associated data: label, name, key id.
    pub(crate) fn chunk_aad(&self) -> Vec<u8> {
        let mut out = CHUNK_LABEL.to_vec();
        for part in [self.name.as_bytes(), self.key_id.as_bytes()] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    /// Plaintext bytes in chunk `index`.
    pub(crate) fn chunk_len(&self, index: u64) -> u64 {
        if index + 1 == self.chunk_count {
            self.plaintext_size - self.chunk_size * (self.chunk_count - 1)
        } else {
            self.chunk_size
        }
    }
}

fn nonce(prefix: &[u8; NONCE_PREFIX_LEN], index: u32, flag: u8) -> [u8; AEAD_NONCE_LEN] {
    let mut n = [0u8; AEAD_NONCE_LEN];
    n[..NONCE_PREFIX_LEN].copy_from_slice(prefix);
    n[NONCE_PREFIX_LEN..NONCE_PREFIX_LEN + 4].copy_from_slice(&index.to_be_bytes());
    n[AEAD_NONCE_LEN - 1] = flag;
    n
}
