//! Owner policies: signed by the owner, for one model, not expired, not
//! rolled back below what this broker has seen, and wrapping a reference
//! bundle that verifies under the publisher key it names.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime};

mod common;

use blindfold_attest::bundle::{self, BundlePayload, Envelope};
use blindfold_kbs::{verify_policy, Error, KeyPolicy, PolicyVersions, POLICY_PAYLOAD_TYPE, POLICY_VERSION};
use common::SigningKey;

fn reference(publisher: &SigningKey) -> Envelope {
    let payload: BundlePayload = serde_json::from_value(serde_json::json!({
        "blindfold_bundle": 1,
        "version": 1,
        "measurements": {
            "blindfold_measurements": 1,
            "kind": "development",
            "pcrs": {"sha256": {"15": ["11".repeat(32)]}, "sha384": {"15": ["22".repeat(48)]}}
        }
    }))
    .unwrap();
    publisher.sign(bundle::PAYLOAD_TYPE, &serde_json::to_vec(&payload).unwrap())
}

fn policy(owner: &SigningKey, publisher: &SigningKey, edit: impl FnOnce(&mut KeyPolicy)) -> Vec<u8> {
    let mut p = KeyPolicy {
        blindfold_key_policy: POLICY_VERSION,
        model: "smollm2".into(),
        key_id: "00".repeat(16),
        version: 2,
        expires: humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3600)).to_string(),
        publisher_key: publisher.pem(),
        reference: reference(publisher),
        allow_development: false,
    };
    edit(&mut p);
    serde_json::to_vec(&owner.sign(POLICY_PAYLOAD_TYPE, &serde_json::to_vec(&p).unwrap())).unwrap()
}

#[test]
fn a_policy_verifies_only_as_signed_current_and_for_its_model() {
    let (owner, publisher, intruder) = (SigningKey::new(), SigningKey::new(), SigningKey::new());
    let now = SystemTime::now();
    let good = policy(&owner, &publisher, |_| {});
    let v = verify_policy(&good, &owner.public(), "smollm2", now, 0).unwrap();
    assert_eq!(v.policy.version, 2);
    assert_eq!(v.reference.version, 1);

    let err = |r: Result<_, Error>| {
        r.map(|_: blindfold_kbs::VerifiedPolicy| ())
            .unwrap_err()
            .to_string()
    };
    // Another signer.
    let forged = policy(&intruder, &publisher, |_| {});
    assert!(err(verify_policy(&forged, &owner.public(), "smollm2", now, 0))
        .contains("not signed by the owner key"));
    // Another model's policy in this model's slot.
    assert!(err(verify_policy(&good, &owner.public(), "other", now, 0)).contains("it names model smollm2"));
    // Rolled back below what this broker has seen.
    assert!(matches!(
        verify_policy(&good, &owner.public(), "smollm2", now, 3),
        Err(Error::PolicyRolledBack {
            version: 2,
            seen: 3,
            ..
        })
    ));
    // Expired.
    assert!(matches!(
        verify_policy(
            &good,
            &owner.public(),
            "smollm2",
            now + Duration::from_secs(7200),
            0
        ),
        Err(Error::PolicyExpired { .. })
    ));
    // A reference bundle not signed by the publisher key the policy names.
    let swapped = policy(&owner, &publisher, |p| p.reference = reference(&intruder));
    assert!(err(verify_policy(&swapped, &owner.public(), "smollm2", now, 0)).contains("its reference bundle"));
    // A bundle (another payload type) offered as a policy.
    let bundle_bytes = serde_json::to_vec(&reference(&owner)).unwrap();
    assert!(err(verify_policy(&bundle_bytes, &owner.public(), "smollm2", now, 0)).contains("payloadType"));
}

#[test]
fn the_broker_remembers_the_highest_version_it_has_seen() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("policy-versions.json");
    let mut seen = PolicyVersions::load(&path).unwrap();
    assert_eq!(seen.highest("smollm2"), 0);
    seen.record("smollm2", 3).unwrap();
    seen.record("smollm2", 2).unwrap();
    let again = PolicyVersions::load(&path).unwrap();
    assert_eq!(again.highest("smollm2"), 3);
    assert_eq!(again.highest("other"), 0);
}
