//! The model owner's operations on their own stores: seal a model and wrap
//! its data key, rotate that key, sign and store a key-release policy
//! around a publisher's build, and read the broker's audit log. The
//! `blindfold model` commands and the web console both call these, so the
//! two never differ.

use std::time::{Duration, SystemTime};

use blindfold_attest::bundle::{self, BundleCheck, Envelope};
use blindfold_crypto::PublicKey;
use blindfold_model_store::{ModelStore, SealProgress};
use blindfold_sealed::SealedManifest;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING};

use crate::{
    load_policy_versioned, read_policy, store_policy, AuditRecord, Error, Kek, KeyPolicy, KeyStore,
    POLICY_PAYLOAD_TYPE, POLICY_VERSION,
};

/// Where an owner keeps sealed models and their wrapped keys (often the
/// same store).
#[derive(Debug, Clone)]
pub struct OwnerStores {
    /// Sealed models.
    pub models: ModelStore,
    /// Wrapped data keys and policies.
    pub keys: ModelStore,
}

/// An ECDSA P-256 signing key (`blindfold keygen`'s PKCS#8 PEM): the
/// owner's for policies, the publisher's for reference bundles.
pub struct DsseSigner {
    pair: EcdsaKeyPair,
}

impl DsseSigner {
    /// Reads a `PRIVATE KEY` PEM.
    pub fn from_pem(text: &str) -> Result<DsseSigner, Error> {
        let bad = |why: &str| Error::SigningKey(why.into());
        let (label, der) =
            pem_rfc7468::decode_vec(text.trim().as_bytes()).map_err(|e| bad(&format!("not PEM: {e}")))?;
        if label != "PRIVATE KEY" {
            return Err(bad("not a PRIVATE KEY PEM"));
        }
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der, &SystemRandom::new())
            .map_err(|_| bad("not an ECDSA P-256 key from blindfold keygen"))?;
        Ok(DsseSigner { pair })
    }

    /// The public half.
    pub fn public_key(&self) -> Result<PublicKey, Error> {
        let point = self.pair.public_key().as_ref();
        PublicKey::ecc(
            blindfold_crypto::EccCurve::NistP256,
            &point[1..33],
            &point[33..65],
        )
        .map_err(Error::Crypto)
    }

    /// `body` signed into a DSSE envelope of `payload_type`.
    pub fn sign(&self, payload_type: &str, body: &[u8]) -> Result<Envelope, Error> {
        let sig = self
            .pair
            .sign(&SystemRandom::new(), &bundle::pae(payload_type, body))
            .map_err(|_| Error::SigningKey("signing failed".into()))?;
        let id = bundle::key_id(&self.public_key()?).map_err(|e| Error::SigningKey(e.to_string()))?;
        Ok(Envelope::typed(payload_type, body, &id, sig.as_ref()))
    }
}

/// Seals the file at `path` as model `name` into the owner's store and
/// wraps its data key under `kek` in the key store. The data key never
/// leaves this function in the clear.
pub async fn seal_model(
    stores: &OwnerStores,
    kek: Kek,
    path: &std::path::Path,
    name: &str,
    chunk_size: u64,
    progress: SealProgress<'_>,
) -> Result<SealedManifest, Error> {
    let (manifest, data_key) = stores.models.seal_file(path, name, chunk_size, progress).await?;
    let m = &manifest.manifest;
    KeyStore::new(stores.keys.clone(), kek)
        .put(&m.name, &m.key_id, &data_key)
        .await?;
    Ok(manifest)
}

/// Re-seals model `name` under a new data key, stores the new wrapped key
/// and deletes the old one. Returns the new manifest and the old key id.
/// The stored policy still names the old key: the owner sets a new one.
pub async fn rotate_model_key(
    stores: &OwnerStores,
    kek: Kek,
    name: &str,
    progress: SealProgress<'_>,
) -> Result<(SealedManifest, String), Error> {
    let keys = KeyStore::new(stores.keys.clone(), kek);
    let old = stores.models.manifest(name).await?;
    let old_key = keys.get(name, &old.manifest.key_id).await?;
    let (manifest, new_key, old_id) = stores.models.reseal(name, old_key, progress).await?;
    keys.put(name, &manifest.manifest.key_id, &new_key).await?;
    drop(new_key);
    keys.delete(name, &old_id).await?;
    Ok((manifest, old_id))
}

/// What a new policy says beyond the build it names.
#[derive(Debug, Clone)]
pub struct PolicyTerms {
    /// How long it is valid from now.
    pub expires_in: Duration,
    /// Whether the development platform may receive the key.
    pub allow_development: bool,
}

/// Signs and stores a key-release policy for model `name`: its key goes to
/// the build in `reference` (a bundle that must verify now under
/// `publisher_pem`), one version above the stored policy.
pub async fn set_policy(
    stores: &OwnerStores,
    name: &str,
    reference: &[u8],
    publisher_pem: &str,
    owner: &DsseSigner,
    terms: &PolicyTerms,
) -> Result<KeyPolicy, Error> {
    let manifest = stores.models.manifest(name).await?;
    let publisher = PublicKey::from_spki_pem(publisher_pem)
        .map_err(|e| Error::SigningKey(format!("the publisher key: {e}")))?;
    let now = SystemTime::now();
    bundle::verify_bundle(
        reference,
        &publisher,
        &BundleCheck {
            min_version: 0,
            at: now,
        },
    )
    .map_err(|e| Error::Policy {
        model: name.into(),
        why: format!("the reference does not verify under the publisher key: {e}"),
    })?;
    let envelope = Envelope::parse(reference).ok_or_else(|| Error::Policy {
        model: name.into(),
        why: "the reference is not a signed bundle".into(),
    })?;
    let owner_public = owner.public_key()?;
    let stored = load_policy_versioned(&stores.keys, name).await?;
    let previous = stored
        .as_ref()
        .and_then(|(bytes, _)| read_policy(bytes, &owner_public, name).ok())
        .map_or(0, |p| p.version);
    let policy = KeyPolicy {
        blindfold_key_policy: POLICY_VERSION,
        model: name.into(),
        key_id: manifest.manifest.key_id.clone(),
        version: previous + 1,
        expires: humantime::format_rfc3339_seconds(now + terms.expires_in).to_string(),
        publisher_key: publisher_pem.trim().to_string(),
        reference: envelope,
        allow_development: terms.allow_development,
    };
    let body = serde_json::to_vec(&policy).map_err(|e| Error::SigningKey(e.to_string()))?;
    let signed = owner.sign(POLICY_PAYLOAD_TYPE, &body)?;
    let bytes = serde_json::to_vec_pretty(&signed).map_err(|e| Error::SigningKey(e.to_string()))?;
    store_policy(&stores.keys, name, bytes, stored.as_ref().map(|(_, v)| v)).await?;
    Ok(policy)
}

/// The audit log's records (`AUDIT_LOG` in the broker's state directory),
/// oldest first; a line that is not a record is an error naming it.
pub fn parse_audit_log(text: &str) -> Result<Vec<AuditRecord>, Error> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line).map_err(|e| Error::State {
                path: format!("audit log line {}", n + 1),
                why: e.to_string(),
            })
        })
        .collect()
}

/// The audit log's file name in the broker's state directory.
pub const AUDIT_LOG: &str = "audit.jsonl";
