//! Sealing and opening one chunk at a time.

use blindfold_crypto::{default_provider, AeadKey, CryptoProvider, AEAD_TAG_LEN};
use sha2::{Digest as _, Sha256};

use crate::format::{Manifest, SealedManifest, FORMAT, KEY_ID_LEN, NONCE_PREFIX_LEN};
use crate::Error;

/// 4 MiB: large enough that the cipher, not the per-chunk overhead,
/// sets the speed; small enough that memory stays flat.
pub const DEFAULT_CHUNK_SIZE: u64 = 4 << 20;

fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).map_err(|e| Error::Random(e.to_string()))?;
    Ok(out)
}

/// Seals a model of a known size, chunk by chunk, under a fresh data key.
pub struct Sealer {
    provider: &'static dyn CryptoProvider,
    key: AeadKey,
    manifest: Manifest,
    aad: Vec<u8>,
    next: u64,
    hasher: Sha256,
}

impl Sealer {
    /// Starts sealing `plaintext_size` bytes named `name` in chunks of
    /// `chunk_size`, under a new random data key, key id and nonce prefix.
    pub fn new(name: &str, plaintext_size: u64, chunk_size: u64) -> Result<Sealer, Error> {
        Sealer::with_key(name, plaintext_size, chunk_size, AeadKey::from_bytes(random()?))
    }

    /// As [`Sealer::new`], under a data key the caller made (a new random
    /// key id and nonce prefix all the same: a key never seals twice under
    /// one prefix).
    pub fn with_key(name: &str, plaintext_size: u64, chunk_size: u64, key: AeadKey) -> Result<Sealer, Error> {
        if chunk_size == 0 {
            return Err(Error::Manifest("a chunk size of 0".into()));
        }
        let chunk_count = plaintext_size.div_ceil(chunk_size).max(1);
        if chunk_count > u64::from(u32::MAX) {
            return Err(Error::Manifest(format!(
                "{plaintext_size} bytes in chunks of {chunk_size} exceed the format's 2^32 chunks"
            )));
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            name: name.into(),
            key_id: hex::encode(random::<KEY_ID_LEN>()?),
            nonce_prefix: hex::encode(random::<NONCE_PREFIX_LEN>()?),
            chunk_size,
            chunk_count,
            plaintext_size,
            plaintext_sha256: String::new(),
        };
        Ok(Sealer {
            provider: default_provider(),
            key,
            aad: manifest.chunk_aad(),
            manifest,
            next: 0,
            hasher: Sha256::new(),
        })
    }

    /// The manifest so far (name, key id, chunk count; the digest is set by
    /// [`Sealer::finish`]).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Plaintext bytes the next chunk must hold (0 when all are sealed).
    pub fn next_chunk_len(&self) -> u64 {
        if self.next >= self.manifest.chunk_count {
            0
        } else {
            self.manifest.chunk_len(self.next)
        }
    }

    /// Seals the next chunk in place (`buf` holds exactly
    /// [`Sealer::next_chunk_len`] bytes of plaintext; afterwards its
    /// ciphertext and tag) and returns its index.
    pub fn seal_next(&mut self, buf: &mut Vec<u8>) -> Result<u64, Error> {
        let index = self.next;
        if index >= self.manifest.chunk_count {
            return Err(Error::InputChanged(format!(
                "more than the {} bytes announced",
                self.manifest.plaintext_size
            )));
        }
        let want = self.manifest.chunk_len(index);
        if buf.len() as u64 != want {
            return Err(Error::InputChanged(format!(
                "chunk {index} has {} bytes, expected {want}",
                buf.len()
            )));
        }
        self.hasher.update(&buf[..]);
        let nonce = self.manifest.chunk_nonce(index)?;
        self.provider.aes256gcm_seal(&self.key, &nonce, &self.aad, buf)?;
        self.next += 1;
        Ok(index)
    }

    /// The authenticated manifest and the data key, once every chunk is sealed.
    pub fn finish(self) -> Result<(SealedManifest, AeadKey), Error> {
        if self.next != self.manifest.chunk_count {
            return Err(Error::InputChanged(format!(
                "{} of {} chunks sealed",
                self.next, self.manifest.chunk_count
            )));
        }
        let mut manifest = self.manifest;
        manifest.plaintext_sha256 = hex::encode(self.hasher.finalize());
        let sealed = manifest.seal(self.provider, &self.key)?;
        Ok((sealed, self.key))
    }
}

/// Opens a sealed model chunk by chunk, in order, under its data key.
pub struct Opener {
    provider: &'static dyn CryptoProvider,
    key: AeadKey,
    manifest: Manifest,
    aad: Vec<u8>,
    next: u64,
    hasher: Sha256,
}

impl Opener {
    /// Checks the manifest's tag under `key` and that it names `name`.
    pub fn new(sealed: &SealedManifest, key: AeadKey, name: &str) -> Result<Opener, Error> {
        let provider = default_provider();
        let manifest = Manifest::open(sealed, provider, &key)?;
        if manifest.name != name {
            return Err(Error::OtherModel {
                expected: name.into(),
                got: manifest.name,
            });
        }
        Ok(Opener {
            provider,
            key,
            aad: manifest.chunk_aad(),
            manifest,
            next: 0,
            hasher: Sha256::new(),
        })
    }

    /// The authenticated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Opens chunk `index` (which must be the next one) in place: `buf`
    /// holds its ciphertext and tag, afterwards its plaintext. On any
    /// failure `buf` holds no plaintext.
    pub fn open_next(&mut self, index: u64, buf: &mut Vec<u8>) -> Result<(), Error> {
        let chunk_error = |reason: String| Error::Chunk { index, reason };
        if index != self.next {
            buf.clear();
            return Err(chunk_error(format!("arrived where chunk {} belongs", self.next)));
        }
        if index >= self.manifest.chunk_count {
            buf.clear();
            return Err(chunk_error(format!(
                "beyond the manifest's {} chunks",
                self.manifest.chunk_count
            )));
        }
        let want = self.manifest.chunk_len(index) + AEAD_TAG_LEN as u64;
        if buf.len() as u64 != want {
            let got = buf.len();
            buf.clear();
            return Err(chunk_error(format!("{got} bytes, expected {want}")));
        }
        let nonce = self.manifest.chunk_nonce(index)?;
        self.provider
            .aes256gcm_open(&self.key, &nonce, &self.aad, buf)
            .map_err(|_| {
                chunk_error(
                    "does not authenticate (altered, moved, duplicated, or from another model or key)".into(),
                )
            })?;
        self.hasher.update(&buf[..]);
        self.next += 1;
        Ok(())
    }

    /// Checks that every chunk arrived and the plaintext's SHA-256 is the
    /// manifest's; returns that digest.
    pub fn finish(self) -> Result<[u8; 32], Error> {
        if self.next != self.manifest.chunk_count {
            return Err(Error::Truncated {
                got: self.next,
                expected: self.manifest.chunk_count,
            });
        }
        let digest: [u8; 32] = self.hasher.finalize().into();
        if hex::encode(digest) != self.manifest.plaintext_sha256 {
            return Err(Error::Digest {
                expected: self.manifest.plaintext_sha256,
                got: hex::encode(digest),
            });
        }
        Ok(digest)
    }
}
