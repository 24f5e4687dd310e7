//! The owner's key-release policy: which build may get a model's key.
//!
//! A policy is a DSSE envelope signed by the model owner's key around a
//! [`KeyPolicy`]: the model and its key id, a version that only grows, an
//! expiry, and the publisher's signed reference bundle (from `measure
//! --sign`) with the publisher key it must verify under. A key is thus only
//! ever released to what was *built*, never to whatever happens to run.
//!
//! Each broker keeps its own high-water mark of the policy versions it has
//! seen ([`PolicyVersions`], a local file): the store can be rolled back to
//! an older policy, the broker's memory cannot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use blindfold_attest::bundle::{self, BundleCheck, Envelope, EnvelopeError, VerifiedBundle};
use blindfold_crypto::PublicKey;
use serde::{Deserialize, Serialize};

use blindfold_model_store::{StateVersion, WriteCondition};

use crate::Error;

/// The DSSE payload type of a key-release policy.
pub const POLICY_PAYLOAD_TYPE: &str = "application/vnd.blindfold.key-policy+json";
/// The policy format version this crate writes and reads.
pub const POLICY_VERSION: u32 = 1;

/// What the owner signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPolicy {
    /// Always [`POLICY_VERSION`].
    pub blindfold_key_policy: u32,
    /// The model whose key it releases.
    pub model: String,
    /// The data key it releases (the sealed manifest's key id).
    pub key_id: String,
    /// Grows with each new policy for the model; brokers refuse lower ones
    /// once they have seen a higher one.
    pub version: u64,
    /// After this time (RFC 3339) the policy releases nothing.
    pub expires: String,
    /// The build publisher's key (PEM SPKI) the reference must verify under.
    pub publisher_key: String,
    /// The publisher's signed reference bundle: what the enclave must measure.
    pub reference: Envelope,
    /// Release to the development platform (a local swtpm, process mode)
    /// too: for the demo and tests only; the audit log says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_development: bool,
}

/// A policy whose signatures, version and expiry held.
#[derive(Debug, Clone)]
pub struct VerifiedPolicy {
    /// The policy.
    pub policy: KeyPolicy,
    /// Its reference bundle, verified under the publisher key.
    pub reference: VerifiedBundle,
}

/// Checks a stored policy for `model`: signed by `owner`, for that model,
/// not expired at `at`, its version at least `min_version`, and its
/// reference bundle signed by the publisher key it names.
pub fn verify_policy(
    bytes: &[u8],
    owner: &PublicKey,
    model: &str,
    at: SystemTime,
    min_version: u64,
) -> Result<VerifiedPolicy, Error> {
    let bad = |why: String| Error::Policy {
        model: model.into(),
        why,
    };
    let policy = read_policy(bytes, owner, model)?;
    if policy.version < min_version {
        return Err(Error::PolicyRolledBack {
            model: model.into(),
            version: policy.version,
            seen: min_version,
        });
    }
    let expires = humantime::parse_rfc3339(&policy.expires)
        .map_err(|e| bad(format!("expires {:?}: {e}", policy.expires)))?;
    if at > expires {
        return Err(Error::PolicyExpired {
            model: model.into(),
            expired: policy.expires.clone(),
        });
    }
    let publisher =
        PublicKey::from_spki_pem(&policy.publisher_key).map_err(|e| bad(format!("publisher key: {e}")))?;
    let reference_bytes = serde_json::to_vec(&policy.reference).map_err(|e| bad(e.to_string()))?;
    let reference = bundle::verify_bundle(&reference_bytes, &publisher, &BundleCheck { min_version: 0, at })
        .map_err(|e| bad(format!("its reference bundle: {e}")))?;
    Ok(VerifiedPolicy { policy, reference })
}

/// A policy's signed content: signed by `owner`, in this format, for
/// `model`. Its version, expiry and reference are not judged here
/// ([`verify_policy`] does).
pub fn read_policy(bytes: &[u8], owner: &PublicKey, model: &str) -> Result<KeyPolicy, Error> {
    let bad = |why: String| Error::Policy {
        model: model.into(),
        why,
    };
    let (body, _) = bundle::verify_envelope(bytes, POLICY_PAYLOAD_TYPE, owner).map_err(|e| match e {
        EnvelopeError::NotSigned { key_id, .. } => bad(format!("not signed by the owner key {key_id}")),
        EnvelopeError::Format(why) => bad(why),
        EnvelopeError::Key(e) => bad(e.to_string()),
    })?;
    let policy: KeyPolicy = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
    if policy.blindfold_key_policy != POLICY_VERSION {
        return Err(bad(format!("format version {}", policy.blindfold_key_policy)));
    }
    if policy.model != model {
        return Err(bad(format!("it names model {}", policy.model)));
    }
    Ok(policy)
}

/// The policy versions a broker has seen, per model: a local file the
/// store cannot roll back.
#[derive(Debug)]
pub struct PolicyVersions {
    path: PathBuf,
    seen: BTreeMap<String, u64>,
}

impl PolicyVersions {
    /// Loads the file at `path` (empty when it does not exist yet).
    pub fn load(path: &Path) -> Result<PolicyVersions, Error> {
        let seen = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::State {
                path: path.display().to_string(),
                why: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(Error::State {
                    path: path.display().to_string(),
                    why: e.to_string(),
                })
            }
        };
        Ok(PolicyVersions {
            path: path.to_path_buf(),
            seen,
        })
    }

    /// The highest version seen for `model` (0 when none).
    pub fn highest(&self, model: &str) -> u64 {
        self.seen.get(model).copied().unwrap_or(0)
    }

    /// Records `version` for `model` if it is higher, and saves the file
    /// (written whole, then renamed into place).
    pub fn record(&mut self, model: &str, version: u64) -> Result<(), Error> {
        if version <= self.highest(model) {
            return Ok(());
        }
        self.seen.insert(model.into(), version);
        let state = |why: String| Error::State {
            path: self.path.display().to_string(),
            why,
        };
        let bytes = serde_json::to_vec_pretty(&self.seen).map_err(|e| state(e.to_string()))?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(|e| state(e.to_string()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| state(e.to_string()))
    }
}

/// Writes model `model`'s signed policy (the envelope's bytes) to the
/// broker's store: as the first one (`replaces` is `None`) or in place of
/// the one read with that version. If another broker or owner wrote it in
/// between, nothing is written ([`Error::PolicyConflict`]): two concurrent
/// updates cannot silently overwrite each other.
pub async fn store_policy(
    store: &blindfold_model_store::ModelStore,
    model: &str,
    envelope: Vec<u8>,
    replaces: Option<&StateVersion>,
) -> Result<(), Error> {
    let condition = match replaces {
        None => WriteCondition::Absent,
        Some(v) => WriteCondition::Unchanged(v),
    };
    match store
        .put_state_if(&["policies", model], envelope, condition)
        .await
    {
        Ok(_) => Ok(()),
        Err(blindfold_model_store::Error::Conflict { .. }) => {
            Err(Error::PolicyConflict { model: model.into() })
        }
        Err(e) => Err(e.into()),
    }
}

/// Model `model`'s signed policy as stored (not yet verified) with the
/// version a replacement must name; `None` when there is none.
pub async fn load_policy_versioned(
    store: &blindfold_model_store::ModelStore,
    model: &str,
) -> Result<Option<(Vec<u8>, StateVersion)>, Error> {
    Ok(store.get_state_versioned(&["policies", model]).await?)
}

/// Model `model`'s signed policy as stored (not yet verified).
pub async fn load_policy(store: &blindfold_model_store::ModelStore, model: &str) -> Result<Vec<u8>, Error> {
    store
        .get_state(&["policies", model])
        .await?
        .ok_or_else(|| Error::NoPolicy { model: model.into() })
}
