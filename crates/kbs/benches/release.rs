//! A key release as the broker decides it, excluding the TPM quote (made
//! once by a software TPM beforehand): challenge issue and take, evidence
//! verification (AK chain, quote, runtime-log replay), the comparison with
//! the policy's build, appraisal, acceptance, and HPKE sealing; plus the
//! enclave's HPKE open. Goal: under 20 ms.
//!
//!   cargo bench -p blindfold-kbs --bench release
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::SystemTime;

use blindfold_crypto::AeadKey;
use blindfold_kbs::{decide, Challenges, ReleaseSession};
use blindfold_protocol::release::ReleaseKeyPair;
use common::*;
use criterion::{criterion_group, criterion_main, Criterion};

fn release(c: &mut Criterion) {
    let mut enclave = Enclave::with(&built_events(b"config"));
    let ca = enclave.ca.clone();
    let pair = ReleaseKeyPair::generate();
    let request = enclave.request(&pair, "smollm2");
    let policy = policy(true);
    let data_key = AeadKey::from_bytes([0x42; 32]);
    let session = ReleaseSession {
        broker_spki_der: BROKER_SPKI,
        exporter: &EXPORTER,
    };
    let challenges = Challenges::default();
    c.bench_function("key release: challenge, verify, appraise, seal, open", |b| {
        b.iter(|| {
            // The challenge round trip (its value is fixed in the
            // pre-made quote, so the decision below uses that one).
            let issued = challenges.issue(1).unwrap();
            challenges.take(&issued.challenge, 1).unwrap();
            let released = decide(
                &request,
                &CHALLENGE,
                &policy,
                session,
                &data_key,
                Some(&ca),
                SystemTime::now(),
            )
            .unwrap();
            pair.open(&released.response, "smollm2").unwrap()
        })
    });
}

criterion_group!(benches, release);
criterion_main!(benches);
