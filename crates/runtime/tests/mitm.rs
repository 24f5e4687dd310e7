//! Attacks on the attested session, each refused with its specific error:
//! a relay with its own TLS key, a replayed evidence answer, a runtime
//! event edited in transit, a 100 MB answer, malformed JSON, and a server
//! that shows the enclave's certificate without its key.
#![allow(clippy::unwrap_used, missing_docs)]
mod common;

use common::attacker::{attacker, fetch_upstream, Mode};

use blindfold_atls::{connect, Error as AtlsError};
use blindfold_attest::Error as AttestError;
use blindfold_attest::VerifyError;
use blindfold_crypto::HashAlg;
use blindfold_dev_platform as platform;
use blindfold_protocol::{Error as ProtocolError, RuntimeEvent, RuntimeLog};
use hyper::body::Bytes;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_on_the_session_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let setup = common::local_setup(d, 100, blindfold_attester::AkAlgorithm::Rsa2048);
    let stolen_key = d.join("stolen-tls-key.der");
    let enclave = common::start_enclave(
        &d.join("enclave.json"),
        &[("BLINDFOLD_ENCLAVE_TEST_STEAL_TLS_KEY", &stolen_key)],
    );
    let policy = common::dev_policy(&setup, Default::default());
    connect(&enclave.addr, &policy).await.unwrap();

    // A relay with its own TLS key: the quote binds the relay's session with the enclave.
    let relay = attacker(Mode::Relay(enclave.addr.clone()), None).await;
    let err = connect(&relay, &policy).await.unwrap_err();
    assert!(
        matches!(
            err,
            AtlsError::Verification(AttestError::Verify(VerifyError::Quote {
                cause: blindfold_tpm::Error::NonceMismatch { .. },
                ..
            }))
        ),
        "relay: {err:?}"
    );

    // A replayed evidence answer (captured for another nonce and session).
    let nonce = [0xab; 32];
    let (old, enclave_cert, exporter) = fetch_upstream(
        &enclave.addr,
        &format!("/.well-known/blindfold/evidence?nonce={}", "ab".repeat(32)),
    )
    .await;
    let replay = attacker(Mode::Fixed(old.clone()), None).await;
    let err = connect(&replay, &policy).await.unwrap_err();
    assert!(
        matches!(
            err,
            AtlsError::Verification(AttestError::Verify(VerifyError::Quote {
                cause: blindfold_tpm::Error::NonceMismatch { .. },
                ..
            }))
        ),
        "replay: {err:?}"
    );

    // Edits in transit, checked with the right binding (the one that old
    // answer was made for): a runtime event, a PCR 15 value, an event after
    // the separator. Each is named.
    let spki = blindfold_x509::Certificate::from_der(enclave_cert.as_ref())
        .unwrap()
        .spki_der()
        .unwrap();
    let qualifying = blindfold_protocol::qualifying_data(
        blindfold_protocol::Purpose::ClientSession,
        &nonce,
        &spki,
        &exporter,
    );
    let check = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_slice(&old).unwrap();
        edit(&mut v);
        let evidence = blindfold_attest::Evidence::parse(v.to_string().as_bytes()).unwrap();
        let options = blindfold_attest::VerifyOptions {
            platform: None,
            freshness: Some(blindfold_tpm::Freshness::Nonce(qualifying.to_vec())),
            at: std::time::SystemTime::now(),
            tpm_anchor: policy
                .platform_ca
                .clone()
                .map(blindfold_attest::TpmAnchor::DangerPlatformCa),
            ak_intermediates: Vec::new(),
            replay: Default::default(),
            hardware: Default::default(),
        };
        blindfold_attest::Verifier::new().verify(&evidence, &options)
    };
    check(&|_| {}).unwrap();
    // (Record 0 is the enclave's own digest, 1 the app disk, 2 the
    // configuration.)
    let err = check(&|v| v["runtime_log"][2]["content"]["sha256"] = serde_json::json!("00".repeat(32)))
        .unwrap_err();
    assert!(
        matches!(
            err,
            AttestError::Verify(VerifyError::Protocol(ProtocolError::RuntimeEventDigest {
                record: 2,
                ..
            }))
        ),
        "edited event: {err:?}"
    );
    let err = check(&|v| v["pcrs"]["sha256"]["15"] = serde_json::json!("11".repeat(32))).unwrap_err();
    assert!(
        matches!(
            err,
            AttestError::Verify(VerifyError::Quote {
                cause: blindfold_tpm::Error::PcrDigestMismatch { .. },
                ..
            })
        ),
        "PCR 15: {err:?}"
    );
    let err = check(&|v| {
        let extra = RuntimeLog {
            events: vec![RuntimeEvent::AppDisk {
                root_hash: vec![9; 32],
            }],
            banks: vec![HashAlg::Sha256, HashAlg::Sha384],
        }
        .to_records();
        let mut record = serde_json::to_value(&extra[0]).unwrap();
        let log = v["runtime_log"].as_array_mut().unwrap();
        record["recnum"] = serde_json::json!(log.len());
        log.push(record);
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            AttestError::Verify(VerifyError::Protocol(ProtocolError::RuntimeEventAfterReady {
                record: 4
            }))
        ),
        "after ready: {err:?}"
    );

    // An empty runtime log, or one that leaves out a quoted bank, is refused.
    let err = check(&|v| v["runtime_log"] = serde_json::json!([])).unwrap_err();
    assert!(
        matches!(
            err,
            AttestError::Verify(VerifyError::Protocol(ProtocolError::EmptyRuntimeLog))
        ),
        "empty log: {err:?}"
    );
    let err = check(&|v| {
        for r in v["runtime_log"].as_array_mut().unwrap() {
            r["digests"]
                .as_array_mut()
                .unwrap()
                .retain(|d| d["hashAlg"] == "sha384");
        }
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            AttestError::Verify(VerifyError::RuntimeLogMissingBank {
                bank: HashAlg::Sha256
            })
        ),
        "missing bank: {err:?}"
    );

    // 100 MB of answer: refused after the first MiB, memory stays bounded.
    let huge = attacker(Mode::Fixed(Bytes::from(vec![b' '; 100 << 20])), None).await;
    let err = connect(&huge, &policy).await.unwrap_err();
    assert!(
        matches!(err, AtlsError::Evidence(ref why) if why.contains("at most")),
        "huge: {err:?}"
    );

    // Malformed JSON.
    let junk = attacker(
        Mode::Fixed(Bytes::from_static(b"{\"blindfold_evidence\": ")),
        None,
    )
    .await;
    let err = connect(&junk, &policy).await.unwrap_err();
    assert!(
        matches!(err, AtlsError::Verification(ref e) if e.is_unusable_input()),
        "junk: {err:?}"
    );

    // A relay holding the enclave's own certificate and key: the client's
    // handshake passes, but the exporter in the quote is the relay's session.
    let thief = attacker(
        Mode::Relay(enclave.addr.clone()),
        Some((
            enclave_cert.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(std::fs::read(&stolen_key).unwrap())),
        )),
    )
    .await;
    let err = connect(&thief, &policy).await.unwrap_err();
    assert!(
        matches!(
            err,
            AtlsError::Verification(AttestError::Verify(VerifyError::Quote {
                cause: blindfold_tpm::Error::NonceMismatch { .. },
                ..
            }))
        ),
        "thief: {err:?}"
    );

    // Another platform's CA (a swtpm with another AK): the chain fails.
    let other_platform = platform::init(&d.join("other"), blindfold_attester::AkAlgorithm::EccP256).unwrap();
    let mut foreign = policy.clone();
    foreign.platform_ca =
        Some(blindfold_x509::parse_certificates(&std::fs::read(&other_platform.ca_pem).unwrap()).unwrap());
    let err = connect(&enclave.addr, &foreign).await.unwrap_err();
    assert!(
        matches!(
            err,
            AtlsError::Verification(AttestError::Verify(VerifyError::Chain(_)))
        ),
        "other CA: {err:?}"
    );

    // The enclave's certificate, but CertificateVerify signed with another key: no handshake.
    let other = rcgen::KeyPair::generate().unwrap();
    let impostor = attacker(
        Mode::Relay(enclave.addr.clone()),
        Some((
            enclave_cert,
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(other.serialize_der())),
        )),
    )
    .await;
    let err = connect(&impostor, &policy).await.unwrap_err();
    assert!(
        matches!(err, AtlsError::Connect(ref why) if why.contains("TLS")),
        "impostor: {err:?}"
    );
    drop(setup);
}
