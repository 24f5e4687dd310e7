//! Key release against a real (software) TPM: an enclave whose runtime is
//! the policy's build gets the data key sealed to its HPKE key; evidence
//! bound to anything else (another HPKE key, model, session or purpose), a
//! runtime that differs, a model already loaded, or a development platform
//! the policy does not allow is refused with what differed.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::SystemTime;

use blindfold_crypto::AeadKey;
use blindfold_kbs::{decide, Error, ReleaseSession};
use blindfold_protocol::binding::{qualifying_data, Purpose};
use blindfold_protocol::release::{release_nonce, ReleaseKeyPair};
use blindfold_protocol::RuntimeEvent;
use common::*;

fn session() -> ReleaseSession<'static> {
    ReleaseSession {
        broker_spki_der: BROKER_SPKI,
        exporter: &EXPORTER,
    }
}

fn refusal(r: Result<blindfold_kbs::Released, Error>) -> String {
    match r {
        Err(Error::Refused { why, .. }) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The refusal of `request` under the policy that allows development (the
/// AKs anchored in `ca`), on the test session.
fn refused(
    request: &blindfold_protocol::release::ReleaseRequestV1,
    ca: &[blindfold_x509::Certificate],
    now: SystemTime,
) -> String {
    let data_key = AeadKey::from_bytes([0x42; 32]);
    refusal(decide(
        request,
        &CHALLENGE,
        &policy(true),
        session(),
        &data_key,
        Some(ca),
        now,
    ))
}

#[test]
fn the_policys_build_gets_the_key_and_nothing_else_does() {
    let data_key = AeadKey::from_bytes([0x42; 32]);
    let now = SystemTime::now();
    let mut enclave = Enclave::with(&built_events(b"config"));
    let ca = enclave.ca.clone();
    let pair = ReleaseKeyPair::generate();
    let good = enclave.request(&pair, "smollm2");
    let released = decide(
        &good,
        &CHALLENGE,
        &policy(true),
        session(),
        &data_key,
        Some(&ca),
        now,
    )
    .unwrap();
    assert_eq!(released.response.policy_version, 4);
    assert_eq!(
        pair.open(&released.response, "smollm2").unwrap().as_slice(),
        &[0x42; 32]
    );

    // The development platform needs the policy's opt-in.
    let why = refusal(decide(
        &good,
        &CHALLENGE,
        &policy(false),
        session(),
        &data_key,
        Some(&ca),
        now,
    ));
    assert!(why.contains("no trust anchor"), "{why}");

    // Evidence bound to another HPKE key than the request names.
    let mut other_key = good.clone();
    other_key.hpke_public_key = hex::encode(ReleaseKeyPair::generate().public_key());
    let why = refused(&other_key, &ca, now);
    assert!(why.contains("not the expected nonce"), "{why}");

    // Another session (exporter), or another challenge.
    let other_session = ReleaseSession {
        broker_spki_der: BROKER_SPKI,
        exporter: &[9; 32],
    };
    let why = refusal(decide(
        &good,
        &CHALLENGE,
        &policy(true),
        other_session,
        &data_key,
        Some(&ca),
        now,
    ));
    assert!(why.contains("not the expected nonce"), "{why}");
    let why = refusal(decide(
        &good,
        &[7; 32],
        &policy(true),
        session(),
        &data_key,
        Some(&ca),
        now,
    ));
    assert!(why.contains("not the expected nonce"), "{why}");

    // Another model than the policy's.
    let other_model = enclave.request(&pair, "other-model");
    let why = refused(&other_model, &ca, now);
    assert!(why.contains("the policy releases smollm2"), "{why}");

    // Client-session evidence (same nonce, the client purpose) offered here.
    let nonce = release_nonce(&CHALLENGE, "smollm2", KEY_ID, &pair.public_key());
    let mut confused = good.clone();
    confused.evidence = enclave.evidence(&qualifying_data(
        Purpose::ClientSession,
        &nonce,
        BROKER_SPKI,
        &EXPORTER,
    ));
    let why = refused(&confused, &ca, now);
    assert!(why.contains("not the expected nonce"), "{why}");

    // Epoch evidence (a client's opt-in, never a broker's): its quote
    // binds an epoch, whatever key, TLS key and time it names.
    let mut epoch = good.clone();
    let broker_spki_sha256 = hex::encode(
        blindfold_crypto::default_provider()
            .hash(blindfold_crypto::HashAlg::Sha256, &[BROKER_SPKI])
            .as_bytes(),
    );
    let time = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    epoch.evidence = enclave.evidence(&blindfold_protocol::epoch::epoch_qualifying_data(
        &pair.public_key(),
        &broker_spki_sha256,
        1,
        time,
    ));
    let why = refused(&epoch, &ca, now);
    assert!(why.contains("not the expected nonce"), "{why}");
}

#[test]
fn another_runtime_or_a_loaded_model_is_refused_naming_the_difference() {
    let now = SystemTime::now();
    let pair = ReleaseKeyPair::generate();

    let mut other_config = Enclave::with(&built_events(b"another config"));
    let ca = other_config.ca.clone();
    let request = other_config.request(&pair, "smollm2");
    let why = refused(&request, &ca, now);
    assert!(
        why.contains("runtime events differ from the policy's build: config sha256 differs"),
        "{why}"
    );

    let mut loaded_events = built_events(b"config");
    loaded_events.push(RuntimeEvent::model("smollm2", &[0x77; 32]));
    let mut loaded = Enclave::with(&loaded_events);
    let ca = loaded.ca.clone();
    let request = loaded.request(&pair, "smollm2");
    let why = refused(&request, &ca, now);
    assert!(why.contains("a model is already measured"), "{why}");
}
