//! Loading a sealed model (`docs/sealed-models.md`, "Loading in the
//! enclave"): the manifest from the owner's store, checked against the
//! digest the measured configuration names; the data key from the broker
//! by attestation; the chunks fetched and opened into memory only (the
//! process's memory is locked at start: no plaintext file, no swap), each
//! chunk authenticated before a byte of it is kept, and the whole checked
//! against the digest again before anything is loaded.

use anyhow::{anyhow, Context};
use blindfold_attester::Tpm;
use blindfold_crypto::{AeadKey, AEAD_KEY_LEN};
use blindfold_enclave_config::SealedModelConfig;
use blindfold_model_store::ModelStore;
use zeroize::Zeroizing;

use crate::measure::StartState;

/// The plaintext of `sealed`, in memory, wiped when dropped. Nothing is
/// returned unless every chunk authenticated and the digest is the one the
/// configuration names.
pub async fn open(
    tpm: &mut Tpm,
    state: &StartState,
    sealed: &SealedModelConfig,
) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let settings: Vec<(&str, &str)> = sealed
        .store_settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let store = ModelStore::open_with(&sealed.store, &settings).context("the model store")?;
    let stored = store
        .manifest(&sealed.name)
        .await
        .context("reading the sealed model's manifest")?;
    // Not yet authenticated (that needs the key), but a manifest for other
    // weights can be refused before any key is asked for.
    let named = hex::encode(&sealed.plaintext_sha256);
    if stored.manifest.plaintext_sha256 != named {
        return Err(anyhow!(
            "the store's manifest for {} names weights with SHA-256 {}, the configuration names {named}",
            sealed.name,
            stored.manifest.plaintext_sha256
        ));
    }
    let key = crate::key_release::release_key(tpm, state, sealed, &stored.manifest.key_id)
        .await
        .context("getting the model's key")?;
    let key: Zeroizing<[u8; AEAD_KEY_LEN]> = Zeroizing::new(
        key.as_slice()
            .try_into()
            .map_err(|_| anyhow!("the released key is {} bytes, not {AEAD_KEY_LEN}", key.len()))?,
    );
    let size = usize::try_from(stored.manifest.plaintext_size)
        .map_err(|_| anyhow!("the sealed model is larger than this machine's address space"))?;
    // Exactly the manifest's size, so the buffer never moves (a move
    // would leave a copy behind that nothing wipes).
    let mut plaintext = Zeroizing::new(Vec::with_capacity(size));
    let mut overflow = false;
    let digest = store
        .open_with_manifest(&sealed.name, &stored, AeadKey::from_bytes(*key), &mut |chunk| {
            if plaintext.len() + chunk.len() > plaintext.capacity() {
                overflow = true;
            } else {
                plaintext.extend_from_slice(chunk);
            }
        })
        .await
        .context("opening the sealed model (nothing loaded)")?;
    if overflow {
        return Err(anyhow!(
            "the sealed model holds more than its manifest's {size} bytes (nothing loaded)"
        ));
    }
    if digest.as_slice() != sealed.plaintext_sha256.as_slice() {
        return Err(anyhow!(
            "the opened weights have SHA-256 {}, the configuration names {named} (nothing loaded)",
            hex::encode(digest)
        ));
    }
    Ok(plaintext)
}
