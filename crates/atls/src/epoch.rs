//! Sessions on epoch evidence (`blindfold_protocol::epoch`), for clients
//! that opt in: one signature per new session instead of one TPM quote.
//!
//! The checks run in `blindfold_attest::epoch`'s order. Only the first
//! part — the epoch quote verified and appraised — is cached, keyed by the
//! SHA-256 of the whole epoch document and held beside the policy it was
//! appraised under (used only under that same policy); the session's own checks (its TLS
//! key is the quoted one, the signature covers its nonce and exporter, the
//! epoch is young enough by this client's clock) run for every session.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use blindfold_attest::epoch::{check_session, verify_epoch, EpochAge, SessionFacts};
use blindfold_attest::{Appraisal, VerifiedEvidence, Verifier};
use blindfold_protocol::epoch::{SessionEvidenceV1, DEFAULT_MAX_AGE_SECONDS};
use blindfold_protocol::wellknown::SESSION_EVIDENCE_PATH;
use sha2::{Digest as _, Sha256};

use crate::client::{
    appraise_and_accept, ask_with_nonce, check_blindfold_layout, check_ready, open_session, verify_options,
    ClientPolicy, Sender,
};
use crate::connection::SessionConnection;
use crate::error::Error;

/// Epochs whose appraisal a cache keeps (an enclave rotates every 20 s;
/// a proxy with a few upstreams needs a few).
const CACHED_EPOCHS: usize = 16;

/// How a session's evidence is made fresh.
#[derive(Debug, Clone, Default)]
pub enum FreshnessMode {
    /// A TPM quote over this session's nonce, TLS key and exporter: the
    /// default, and the only kind a key broker accepts.
    #[default]
    PerSessionQuote,
    /// Epoch evidence, by the client's choice: a quote per epoch and the
    /// evidence key's signature per session. The epoch's time is the
    /// enclave's clock, and a stolen evidence key signs sessions until its
    /// epoch is older than `max_age`.
    Epoch {
        /// The oldest epoch accepted, by this client's clock.
        max_age: Duration,
        /// Appraised epochs, shared by every session made with this policy.
        cache: EpochCache,
    },
}

impl FreshnessMode {
    /// Epoch evidence up to `max_age` old (the default maximum is
    /// [`DEFAULT_MAX_AGE_SECONDS`]).
    pub fn epoch(max_age: Option<Duration>) -> FreshnessMode {
        FreshnessMode::Epoch {
            max_age: max_age.unwrap_or(Duration::from_secs(DEFAULT_MAX_AGE_SECONDS)),
            cache: EpochCache::default(),
        }
    }
}

/// What an appraisal depends on besides the epoch document: a cached
/// appraisal is used only under the very same policy.
#[derive(Debug, Clone, PartialEq)]
struct PolicyParts {
    reference: blindfold_attest::ReferenceValues,
    accept: blindfold_attest::AcceptPolicy,
    platform: Option<blindfold_attest::Platform>,
    platform_ca: Option<Vec<Vec<u8>>>,
    ak_intermediates: Vec<Vec<u8>>,
}

impl PolicyParts {
    /// Whether `policy` (expecting `platform`) is this one, compared in
    /// place (the hit path allocates nothing).
    fn is(&self, policy: &ClientPolicy, platform: Option<blindfold_attest::Platform>) -> bool {
        let same = |ders: &[Vec<u8>], certs: &[blindfold_x509::Certificate]| {
            ders.len() == certs.len() && ders.iter().zip(certs).all(|(d, c)| d.as_slice() == c.der())
        };
        self.platform == platform
            && self.accept == policy.accept
            && self.reference == policy.reference
            && same(&self.ak_intermediates, &policy.ak_intermediates)
            && match (&self.platform_ca, &policy.platform_ca) {
                (None, None) => true,
                (Some(ders), Some(certs)) => same(ders, certs),
                _ => false,
            }
    }

    fn of(policy: &ClientPolicy, platform: Option<blindfold_attest::Platform>) -> PolicyParts {
        let der = |certs: &[blindfold_x509::Certificate]| certs.iter().map(|c| c.der().to_vec()).collect();
        PolicyParts {
            reference: policy.reference.clone(),
            accept: policy.accept.clone(),
            platform,
            platform_ca: policy.platform_ca.as_deref().map(der),
            ak_intermediates: der(&policy.ak_intermediates),
        }
    }
}

/// One appraised epoch: the SHA-256 of its document, the policy it was
/// appraised under, what verified, and its appraisal.
type Appraised = ([u8; 32], PolicyParts, VerifiedEvidence, Appraisal);

/// Verified and appraised epochs, by the SHA-256 of their document.
#[derive(Clone, Default)]
pub struct EpochCache {
    entries: Arc<Mutex<VecDeque<Appraised>>>,
    hits: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for EpochCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochCache").field("hits", &self.hits()).finish()
    }
}

impl EpochCache {
    /// How many sessions used a cached appraisal.
    pub fn hits(&self) -> u64 {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn get(
        &self,
        key: &[u8; 32],
        policy: &ClientPolicy,
        platform: Option<blindfold_attest::Platform>,
    ) -> Option<(VerifiedEvidence, Appraisal)> {
        let entries = self.entries.lock().ok()?;
        let found = entries
            .iter()
            .find(|(k, p, _, _)| k == key && p.is(policy, platform))
            .map(|(_, _, v, a)| (v.clone(), a.clone()));
        if found.is_some() {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        found
    }

    fn put(&self, key: [u8; 32], parts: PolicyParts, verified: VerifiedEvidence, appraisal: Appraisal) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.iter().any(|(k, p, _, _)| *k == key && *p == parts) {
                return;
            }
            if entries.len() == CACHED_EPOCHS {
                entries.pop_front();
            }
            entries.push_back((key, parts, verified, appraisal));
        }
    }
}

/// A session on epoch evidence: the sender, its connection, what verified,
/// its appraisal, the leaf's SPKI and the epoch's age.
pub(crate) type EpochSession = (
    Sender,
    SessionConnection,
    VerifiedEvidence,
    Appraisal,
    Vec<u8>,
    EpochAge,
);

/// A session to `addr` on epoch evidence: verified, appraised (or found
/// appraised in `cache`) and checked for this session.
pub(crate) async fn epoch_session(
    addr: &str,
    platform: Option<blindfold_attest::Platform>,
    policy: &ClientPolicy,
    max_age: Duration,
    cache: &EpochCache,
) -> Result<EpochSession, Error> {
    let (mut sender, mut connection, spki, exporter) = open_session(addr).await?;
    let (nonce, body) = connection
        .drive(ask_with_nonce(&mut sender, SESSION_EVIDENCE_PATH))
        .await?;
    let session = SessionEvidenceV1::from_json(&body).map_err(blindfold_attest::Error::from)?;
    // The whole epoch document and the policy: whatever differs is
    // another appraisal.
    let document = serde_json::to_vec(&session.epoch)
        .map_err(|e| Error::Evidence(format!("the epoch document: {e}")))?;
    let key: [u8; 32] = Sha256::digest(document).into();
    let (verified, appraisal) = match cache.get(&key, policy, platform) {
        Some(hit) => hit,
        None => {
            let evidence = blindfold_attest::Evidence::parse(&session.epoch.evidence.to_json())?;
            check_blindfold_layout(&evidence)?;
            let options = verify_options(
                platform,
                policy.platform_ca.clone(),
                policy.ak_intermediates.clone(),
                None,
            );
            let verified = verify_epoch(&Verifier::new(), &session.epoch, &options)?;
            check_ready(&verified)?;
            let appraisal = appraise_and_accept(&verified, policy)?;
            cache.put(
                key,
                PolicyParts::of(policy, platform),
                verified.clone(),
                appraisal.clone(),
            );
            (verified, appraisal)
        }
    };
    let facts = SessionFacts {
        nonce: &nonce,
        leaf_spki_der: &spki,
        exporter: &exporter,
    };
    let age = check_session(&session, &facts, SystemTime::now(), max_age)?;
    Ok((sender, connection, verified, appraisal, spki, age))
}
