//! Signed reference bundles: DSSE envelopes verify only under the pinned
//! publisher key, only with the exact payload, only before their expiry
//! and only at or above the caller's minimum version.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use blindfold_attest::bundle::{
    key_id, pae, verify_bundle, BundleCheck, BundlePayload, Envelope, BUNDLE_VERSION, PAYLOAD_TYPE,
};
use blindfold_attest::{BundleError, InputError};
use blindfold_attest::{Error, MeasurementsKind, MeasurementsV1, ReferenceKind};
use blindfold_crypto::{EccCurve, PublicKey};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::json;

fn keypair() -> (EcdsaKeyPair, PublicKey) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let p = pair.public_key().as_ref().to_vec();
    let key = PublicKey::ecc(EccCurve::NistP256, &p[1..33], &p[33..]).unwrap();
    (pair, key)
}

fn measurements(pcr15: &str) -> MeasurementsV1 {
    MeasurementsV1 {
        blindfold_measurements: 1,
        kind: MeasurementsKind::Development,
        pcrs: BTreeMap::from([("sha256".into(), BTreeMap::from([(15, vec![pcr15.repeat(32)])]))]),
        revoked: BTreeMap::new(),
        hardware_measurements: vec![],
        snp_minimum_tcb: None,
        snp_allow_migration_agent: false,
        runtime_events: Vec::new(),
    }
}

fn payload(version: u64, expires: Option<&str>) -> BundlePayload {
    BundlePayload {
        blindfold_bundle: BUNDLE_VERSION,
        version,
        expires: expires.map(str::to_string),
        inputs: BTreeMap::from([("uki".into(), Some("sha256:00".into()))]),
        measurements: measurements("11"),
    }
}

fn signed(pair: &EcdsaKeyPair, key: &PublicKey, body: &[u8]) -> Vec<u8> {
    let sig = pair.sign(&SystemRandom::new(), &pae(PAYLOAD_TYPE, body)).unwrap();
    serde_json::to_vec(&Envelope::new(body, &key_id(key).unwrap(), sig.as_ref())).unwrap()
}

fn now(min_version: u64) -> BundleCheck {
    BundleCheck {
        min_version,
        at: SystemTime::now(),
    }
}

#[test]
fn a_bundle_verifies_under_its_publisher_key() {
    let (pair, key) = keypair();
    let body = serde_json::to_vec(&payload(7, None)).unwrap();
    let b = verify_bundle(&signed(&pair, &key, &body), &key, &now(7)).unwrap();
    assert_eq!(b.version, 7);
    assert_eq!(b.expires, None);
    assert_eq!(b.key_id, key_id(&key).unwrap());
    assert_eq!(b.reference.kind, ReferenceKind::Development);
    assert_eq!(b.inputs["uki"].as_deref(), Some("sha256:00"));
    // The payload round-trips through its own type.
    let back: BundlePayload = serde_json::from_slice(&body).unwrap();
    assert_eq!(back, payload(7, None));
}

#[test]
fn another_key_or_a_changed_payload_is_refused() {
    let (pair, key) = keypair();
    let (_, other) = keypair();
    let body = serde_json::to_vec(&payload(1, None)).unwrap();
    let env = signed(&pair, &key, &body);
    assert!(matches!(
        verify_bundle(&env, &other, &now(0)).unwrap_err(),
        Error::Bundle(BundleError::NotSignedByPublisher { .. })
    ));

    let mut v: Envelope = serde_json::from_slice(&env).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut changed = payload(1, None);
    changed.measurements = measurements("22");
    v.payload = b64.encode(serde_json::to_vec(&changed).unwrap());
    let err = verify_bundle(&serde_json::to_vec(&v).unwrap(), &key, &now(0)).unwrap_err();
    assert!(
        matches!(err, Error::Bundle(BundleError::NotSignedByPublisher { .. })),
        "{err:?}"
    );

    let mut v: Envelope = serde_json::from_slice(&env).unwrap();
    v.payload_type = "application/json".into();
    assert!(matches!(
        verify_bundle(&serde_json::to_vec(&v).unwrap(), &key, &now(0)).unwrap_err(),
        Error::Input(InputError::ReferenceFormat(_))
    ));
}

#[test]
fn pae_is_the_dsse_encoding() {
    assert_eq!(pae("t", b"body"), b"DSSEv1 1 t 4 body".to_vec());
}

#[test]
fn an_older_bundle_is_a_rollback() {
    let (pair, key) = keypair();
    let body = serde_json::to_vec(&payload(3, None)).unwrap();
    let err = verify_bundle(&signed(&pair, &key, &body), &key, &now(4)).unwrap_err();
    assert_eq!(
        err,
        Error::Bundle(BundleError::RolledBack {
            version: 3,
            minimum: 4
        })
    );
}

#[test]
fn an_expired_bundle_is_refused() {
    let (pair, key) = keypair();
    let body = serde_json::to_vec(&payload(1, Some("2026-01-01T00:00:00Z"))).unwrap();
    let env = signed(&pair, &key, &body);
    let before = humantime::parse_rfc3339("2025-12-31T00:00:00Z").unwrap();
    let b = verify_bundle(
        &env,
        &key,
        &BundleCheck {
            min_version: 0,
            at: before,
        },
    )
    .unwrap();
    assert_eq!(
        b.expires,
        Some(humantime::parse_rfc3339("2026-01-01T00:00:00Z").unwrap())
    );
    let after = before + Duration::from_secs(2 * 86_400);
    assert_eq!(
        verify_bundle(
            &env,
            &key,
            &BundleCheck {
                min_version: 0,
                at: after
            }
        )
        .unwrap_err(),
        Error::Bundle(BundleError::Expired {
            expired: "2026-01-01T00:00:00Z".into()
        })
    );
}

/// A newer payload (another version, or a field this reader does not know,
/// which could be a restriction) is refused, not half-read.
#[test]
fn a_payload_this_reader_does_not_fully_understand_is_refused() {
    let (pair, key) = keypair();
    let mut v = serde_json::to_value(payload(1, None)).unwrap();
    v["not_before"] = json!("2030-01-01T00:00:00Z");
    let err = verify_bundle(
        &signed(&pair, &key, &serde_json::to_vec(&v).unwrap()),
        &key,
        &now(0),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Input(InputError::ReferenceFormat(m)) if m.contains("not_before")),
        "{err:?}"
    );
    let mut v = serde_json::to_value(payload(1, None)).unwrap();
    v["blindfold_bundle"] = json!(2);
    let err = verify_bundle(
        &signed(&pair, &key, &serde_json::to_vec(&v).unwrap()),
        &key,
        &now(0),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Input(InputError::ReferenceFormat(m)) if m.contains("version 1")),
        "{err:?}"
    );
}
