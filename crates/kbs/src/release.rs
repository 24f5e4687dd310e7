//! Deciding a key release: challenges, and the appraisal of an enclave's
//! release request against the owner's policy.
//!
//! The broker appraises with the same verifier and the same acceptance
//! rule the clients use, strictly (every claim affirming; the development
//! platform and reference only when the policy allows them): the evidence
//! must answer this connection's challenge for this model, key and HPKE
//! key over this TLS session (`release_qualifying_data`); every boot PCR
//! of the policy's reference must match; the runtime log must equal the
//! reference's events up to `ready` with no model event yet (keys are
//! released before the model is loaded and measured), and the reference's
//! own model event must name the model asked for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use blindfold_attest::{
    appraise, AcceptPolicy, AppraisalOptions, DevelopmentPlatform, DevelopmentReference, Evidence, Platform,
    TpmAnchor, TrustBasis, Verifier, VerifyOptions,
};
use blindfold_crypto::AeadKey;
use blindfold_protocol::release::{
    release_qualifying_data, seal_key, ChallengeV1, ReleaseRequestV1, ReleaseResponseV1, CHALLENGE_LEN,
};
use blindfold_protocol::runtime_log::describe_differences;
use blindfold_protocol::{RuntimeEvent, RUNTIME_PCR};
use blindfold_tpm::{Freshness, PcrIndex};

use crate::{Error, VerifiedPolicy};

/// How long a challenge stays valid.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(60);

/// Challenges issued and not yet used: each single use, for the connection
/// it was issued on, for [`CHALLENGE_TTL`].
#[derive(Debug, Default)]
pub struct Challenges {
    issued: Mutex<HashMap<[u8; CHALLENGE_LEN], (u64, Instant)>>,
}

impl Challenges {
    /// A new challenge for connection `connection`.
    pub fn issue(&self, connection: u64) -> Result<ChallengeV1, Error> {
        let mut challenge = [0u8; CHALLENGE_LEN];
        getrandom::getrandom(&mut challenge).map_err(|e| Error::Random(e.to_string()))?;
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        issued.retain(|_, (_, at)| at.elapsed() < CHALLENGE_TTL);
        issued.insert(challenge, (connection, Instant::now()));
        Ok(ChallengeV1 {
            blindfold_challenge: 1,
            challenge: hex::encode(challenge),
            expires_in: CHALLENGE_TTL.as_secs(),
        })
    }

    /// Uses up `challenge` for `connection`: known, unused, issued on this
    /// connection, not expired.
    pub fn take(&self, challenge: &str, connection: u64) -> Result<[u8; CHALLENGE_LEN], Error> {
        let bytes: [u8; CHALLENGE_LEN] = hex::decode(challenge)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::Challenge("not 32 hex bytes".into()))?;
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        let (on, at) = issued
            .remove(&bytes)
            .ok_or_else(|| Error::Challenge("unknown, or already used".into()))?;
        if on != connection {
            return Err(Error::Challenge("issued on another connection".into()));
        }
        if at.elapsed() >= CHALLENGE_TTL {
            return Err(Error::Challenge(format!(
                "expired ({} s after it was issued)",
                at.elapsed().as_secs()
            )));
        }
        Ok(bytes)
    }

    #[cfg(test)]
    fn age(&self, challenge: &[u8; CHALLENGE_LEN], by: Duration) {
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, at)) = issued.get_mut(challenge) {
            *at -= by;
        }
    }
}

/// The TLS session a request arrived on, as the broker sees it.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseSession<'a> {
    /// The broker's own TLS key (SPKI DER), which the enclave pins.
    pub broker_spki_der: &'a [u8],
    /// This session's exported keying material.
    pub exporter: &'a [u8],
}

/// A release granted.
#[derive(Debug)]
pub struct Released {
    /// The data key sealed to the request's HPKE key.
    pub response: ReleaseResponseV1,
    /// The platform the evidence verified as.
    pub platform: Platform,
    /// Its trust basis.
    pub trust_basis: TrustBasis,
}

/// Decides `request` (answering `challenge`, already taken) under `policy`:
/// the data key sealed to the enclave, or the refusal naming what differed.
/// `platform_ca` anchors the development platform's AKs (only used when
/// the policy allows development).
pub fn decide(
    request: &ReleaseRequestV1,
    challenge: &[u8],
    policy: &VerifiedPolicy,
    session: ReleaseSession<'_>,
    data_key: &AeadKey,
    platform_ca: Option<&[blindfold_x509::Certificate]>,
    at: SystemTime,
) -> Result<Released, Error> {
    let refuse = |why: String| Error::Refused {
        model: request.model.clone(),
        why,
    };
    let p = &policy.policy;
    if request.model != p.model || request.key_id != p.key_id {
        return Err(refuse(format!(
            "it asks for {} key {}, the policy releases {} key {}",
            request.model, request.key_id, p.model, p.key_id
        )));
    }
    let hpke_public_key =
        hex::decode(&request.hpke_public_key).map_err(|_| refuse("hpke_public_key is not hex".into()))?;
    let qualifying = release_qualifying_data(
        challenge,
        &request.model,
        &request.key_id,
        &hpke_public_key,
        session.broker_spki_der,
        session.exporter,
    );
    let evidence_bytes = serde_json::to_vec(&request.evidence).map_err(|e| refuse(e.to_string()))?;
    let evidence = Evidence::parse(&evidence_bytes).map_err(|e| refuse(format!("evidence: {e}")))?;
    let development = p.allow_development;
    let options = VerifyOptions {
        platform: None,
        freshness: Some(Freshness::Nonce(qualifying.to_vec())),
        at,
        tpm_anchor: match platform_ca {
            Some(ca) if development => Some(TpmAnchor::DangerPlatformCa(ca.to_vec())),
            _ => None,
        },
        ak_intermediates: Vec::new(),
        replay: Default::default(),
        hardware: Default::default(),
    };
    let verified = Verifier::new()
        .verify(&evidence, &options)
        .map_err(|e| refuse(format!("evidence: {e}")))?;

    // The runtime: the policy's build up to `ready`, and no model yet.
    let log = verified
        .runtime_log()
        .ok_or_else(|| refuse("the evidence has no runtime event log".into()))?;
    if !log.is_ready() {
        return Err(refuse("the runtime has not logged its ready separator".into()));
    }
    if log.events.iter().any(|e| matches!(e, RuntimeEvent::Model { .. })) {
        return Err(refuse(
            "a model is already measured: keys are released before the model is loaded".into(),
        ));
    }
    let reference = &policy.reference.reference;
    let ready = reference
        .runtime_events
        .iter()
        .position(|e| *e == RuntimeEvent::Ready)
        .ok_or_else(|| refuse("the policy's reference lists no runtime events up to ready".into()))?;
    let (before_model, after_ready) = reference.runtime_events.split_at(ready + 1);
    if let Some(why) = describe_differences(before_model, &log.events) {
        return Err(refuse(format!(
            "runtime events differ from the policy's build: {why}"
        )));
    }
    let serves = after_ready.iter().find_map(|e| match e {
        RuntimeEvent::Model { name, .. } => Some(name.as_str()),
        _ => None,
    });
    if serves != Some(request.model.as_str()) {
        return Err(refuse(format!(
            "the policy's build serves {}, not {}",
            serves.unwrap_or("no model"),
            request.model
        )));
    }

    // Every other PCR of the reference. PCR 15 holds the model event in the
    // reference but not yet here; its events were compared above (and the
    // verifier replayed them to the quoted PCR 15), so the quoted value
    // stands in for it.
    let mut boot = reference.clone();
    for ((bank, index), want) in boot.pcrs.iter_mut() {
        if index.0 == RUNTIME_PCR {
            if let Some(got) = verified.pcrs().get(*bank, PcrIndex(RUNTIME_PCR)) {
                want.allowed = vec![*got];
            }
        }
    }
    let appraisal = appraise(
        &verified,
        Some(&boot),
        &AppraisalOptions {
            development_reference: if development {
                DevelopmentReference::Allowed
            } else {
                DevelopmentReference::Refused
            },
            policy: None,
        },
    )
    .map_err(|e| refuse(e.to_string()))?;
    let accept = AcceptPolicy {
        platforms: Vec::new(),
        min_trust_basis: if development {
            TrustBasis::Development
        } else {
            TrustBasis::Hypervisor
        },
        development_platform: if development {
            DevelopmentPlatform::Allowed
        } else {
            DevelopmentPlatform::Refused
        },
        development_reference: if development {
            DevelopmentReference::Allowed
        } else {
            DevelopmentReference::Refused
        },
    };
    appraisal.accept(&accept).map_err(|e| refuse(e.to_string()))?;
    let response = seal_key(&hpke_public_key, &request.model, p.version, data_key.expose())
        .map_err(|e| refuse(e.to_string()))?;
    Ok(Released {
        response,
        platform: verified.platform(),
        trust_basis: verified.trust_basis(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_single_use_for_its_connection_and_expires() {
        let c = Challenges::default();
        let first = c.issue(1).unwrap();
        assert!(c.take(&first.challenge, 1).is_ok());
        assert!(c
            .take(&first.challenge, 1)
            .unwrap_err()
            .to_string()
            .contains("already used"));
        let second = c.issue(1).unwrap();
        assert!(c
            .take(&second.challenge, 2)
            .unwrap_err()
            .to_string()
            .contains("another connection"));
        let third = c.issue(1).unwrap();
        let bytes: [u8; 32] = hex::decode(&third.challenge).unwrap().try_into().unwrap();
        c.age(&bytes, CHALLENGE_TTL);
        assert!(c
            .take(&third.challenge, 1)
            .unwrap_err()
            .to_string()
            .contains("expired"));
        assert!(c.take("zz", 1).unwrap_err().to_string().contains("hex"));
    }
}
