//! The runtime event log (CEL-JSON): replay, and each tampering named.
#![allow(clippy::unwrap_used, missing_docs)]

use blindfold_attest::runtime_log::{RuntimeEvent, RuntimeLog};
use blindfold_attest::Error;
use blindfold_crypto::{default_provider, Digest, HashAlg};
use blindfold_tpm::PcrIndex;

fn log() -> RuntimeLog {
    RuntimeLog {
        events: vec![
            RuntimeEvent::AppDisk {
                root_hash: vec![1; 32],
            },
            RuntimeEvent::Config { sha256: vec![2; 32] },
            RuntimeEvent::Model {
                name: "smollm2".into(),
                sha256: vec![3; 32],
            },
            RuntimeEvent::Ready,
        ],
        banks: vec![HashAlg::Sha256, HashAlg::Sha384],
    }
}

#[test]
fn round_trip_and_replay() {
    let cel = log().to_cel();
    let parsed = RuntimeLog::parse(&cel).unwrap();
    assert_eq!(parsed, log());
    let p = default_provider();
    let mut pcr = Digest::zero(HashAlg::Sha256);
    for e in &parsed.events {
        pcr = p.hash(
            HashAlg::Sha256,
            &[
                pcr.as_bytes(),
                p.hash(HashAlg::Sha256, &[&e.measured_bytes()]).as_bytes(),
            ],
        );
    }
    assert_eq!(parsed.replay().get(HashAlg::Sha256, PcrIndex(15)), Some(&pcr));
    assert!(parsed.replay().get(HashAlg::Sha384, PcrIndex(15)).is_some());
}

#[test]
fn an_edited_event_is_named() {
    let mut cel = log().to_cel();
    cel[1]["content"]["sha256"] = serde_json::json!("09".repeat(32));
    let err = RuntimeLog::parse(&cel).unwrap_err();
    assert!(
        matches!(err, Error::RuntimeEventDigest { record: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn only_model_loads_may_follow_ready() {
    let mut l = log();
    l.events.push(RuntimeEvent::Model {
        name: "second".into(),
        sha256: vec![4; 32],
    });
    RuntimeLog::parse(&l.to_cel()).unwrap();
    l.events.push(RuntimeEvent::Config { sha256: vec![5; 32] });
    let err = RuntimeLog::parse(&l.to_cel()).unwrap_err();
    assert_eq!(err, Error::RuntimeEventAfterReady { record: 5 });
}

#[test]
fn records_must_be_in_order_and_in_pcr15() {
    let mut cel = log().to_cel();
    cel[2]["recnum"] = serde_json::json!(7);
    assert!(matches!(
        RuntimeLog::parse(&cel).unwrap_err(),
        Error::RuntimeLog(_)
    ));
    let mut cel = log().to_cel();
    cel[0]["pcr"] = serde_json::json!(14);
    assert!(matches!(
        RuntimeLog::parse(&cel).unwrap_err(),
        Error::RuntimeLog(_)
    ));
}

#[test]
fn a_record_without_digests_is_refused() {
    let mut cel = log().to_cel();
    for r in cel.as_array_mut().unwrap() {
        r.as_object_mut().unwrap().remove("digests");
    }
    assert!(matches!(
        RuntimeLog::parse(&cel).unwrap_err(),
        Error::RuntimeLog(_)
    ));
}
