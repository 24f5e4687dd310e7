//! Signed reference bundles: DSSE envelopes verify only under the pinned
//! publisher key and only with the exact payload.
#![allow(clippy::unwrap_used, missing_docs)]

use base64::Engine as _;
use blindfold_attest::bundle::{envelope, key_id, pae, payload, verify_bundle, PAYLOAD_TYPE};
use blindfold_attest::{Error, ReferenceKind};
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

fn measurements() -> serde_json::Value {
    json!({"blindfold_measurements": 1, "kind": "development", "pcrs": {"sha256": {"15": ["11".repeat(32)]}}})
}

fn signed(pair: &EcdsaKeyPair, key: &PublicKey, body: &[u8]) -> Vec<u8> {
    let sig = pair.sign(&SystemRandom::new(), &pae(PAYLOAD_TYPE, body)).unwrap();
    serde_json::to_vec(&envelope(body, &key_id(key).unwrap(), sig.as_ref())).unwrap()
}

#[test]
fn a_bundle_verifies_under_its_publisher_key() {
    let (pair, key) = keypair();
    let body = serde_json::to_vec(&payload(&measurements(), 7, &json!({"uki": "sha256:00"}))).unwrap();
    let b = verify_bundle(&signed(&pair, &key, &body), &key, 7).unwrap();
    assert_eq!(b.version, 7);
    assert_eq!(b.reference.kind, ReferenceKind::Development);
    assert_eq!(b.inputs["uki"], "sha256:00");
}

#[test]
fn another_key_or_a_changed_payload_is_refused() {
    let (pair, key) = keypair();
    let (_, other) = keypair();
    let body = serde_json::to_vec(&payload(&measurements(), 1, &json!({}))).unwrap();
    let env = signed(&pair, &key, &body);
    assert!(matches!(
        verify_bundle(&env, &other, 0).unwrap_err(),
        Error::BundleNotSignedByPublisher { .. }
    ));

    let mut v: serde_json::Value = serde_json::from_slice(&env).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut changed = measurements();
    changed["pcrs"]["sha256"]["15"][0] = json!("22".repeat(32));
    v["payload"] = json!(b64.encode(serde_json::to_vec(&payload(&changed, 1, &json!({}))).unwrap()));
    let err = verify_bundle(&serde_json::to_vec(&v).unwrap(), &key, 0).unwrap_err();
    assert!(matches!(err, Error::BundleNotSignedByPublisher { .. }), "{err:?}");

    let mut v: serde_json::Value = serde_json::from_slice(&env).unwrap();
    v["payloadType"] = json!("application/json");
    assert!(matches!(
        verify_bundle(&serde_json::to_vec(&v).unwrap(), &key, 0).unwrap_err(),
        Error::ReferenceFormat(_)
    ));
}

#[test]
fn pae_is_the_dsse_encoding() {
    assert_eq!(pae("t", b"body"), b"DSSEv1 1 t 4 body".to_vec());
}

#[test]
fn an_older_bundle_is_a_rollback() {
    let (pair, key) = keypair();
    let body = serde_json::to_vec(&payload(&measurements(), 3, &json!({}))).unwrap();
    let err = verify_bundle(&signed(&pair, &key, &body), &key, 4).unwrap_err();
    assert_eq!(
        err,
        Error::BundleRolledBack {
            version: 3,
            minimum: 4
        }
    );
}
