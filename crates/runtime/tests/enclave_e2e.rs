//! End to end on the local platform: swtpm, `blindfold-enclave`, and the
//! attested TLS client. The session is handed out only when the evidence
//! verifies, is bound to it, and appraises; each refusal names why.
#![allow(clippy::unwrap_used, missing_docs)]
mod common;

use std::process::Command;

use blindfold_atls::{connect, ClientPolicy, Error as AtlsError};
use blindfold_attest::{
    AcceptPolicy, ClaimStatus, DevelopmentPlatform, Error as AttestError, Platform, ReferenceValues, Refusal,
    TrustBasis,
};
use blindfold_attest::{AppraisalError, VerifyError};
use blindfold_protocol::RuntimeEvent;
use common::{local_setup, reference, start_enclave};
use http_body_util::Full;
use hyper::body::Bytes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attested_session_on_the_local_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let setup = local_setup(d, 4, blindfold_attester::AkAlgorithm::Rsa2048);
    let good = reference(setup.events());
    let ca = setup.ca();
    let enclave = start_enclave(&d.join("enclave.json"), &[]);
    // `true`: process mode's two opt-ins; `false`: the development
    // platform alone, without the development reference.
    let policy = |reference: ReferenceValues, ca: Option<Vec<_>>, allow_dev_reference: bool| ClientPolicy {
        reference,
        platform_ca: ca,
        ak_intermediates: Vec::new(),
        accept: if allow_dev_reference {
            AcceptPolicy::development()
        } else {
            AcceptPolicy {
                development_platform: DevelopmentPlatform::Allowed,
                ..AcceptPolicy::default()
            }
        },
        freshness: Default::default(),
    };

    // The good case: verified, bound, appraised (development reference allowed).
    let mut session = connect(&enclave.addr, &policy(good.clone(), Some(ca.clone()), true))
        .await
        .unwrap();
    assert_eq!(session.verified.platform(), Platform::Local);
    assert_eq!(session.verified.runtime_log().unwrap().events, setup.events());

    // The endpoint takes exactly a 32-byte nonce.
    let req = hyper::Request::get("/.well-known/blindfold/evidence?nonce=00ff")
        .header("host", "x")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(session.sender.send_request(req).await.unwrap().status(), 400);

    // (Stay under the rate limit of 4 evidence requests per second.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // The development platform needs its own opt-in.
    let mut strict = policy(good.clone(), Some(ca.clone()), true);
    strict.accept.development_platform = DevelopmentPlatform::Refused;
    let err = connect(&enclave.addr, &strict).await.unwrap_err();
    assert!(
        matches!(err, AtlsError::Refused(Refusal::DevelopmentPlatform)),
        "{err:?}"
    );
    // A client that expects a confidential VM refuses the local platform
    // (the evidence's own platform field does not pick the anchor).
    let mut cvm = policy(good.clone(), Some(ca.clone()), true);
    cvm.accept.platforms = vec![Platform::AzureSnp];
    let err = connect(&enclave.addr, &cvm).await.unwrap_err();
    assert!(
        matches!(
            err,
            AtlsError::Verification(AttestError::Verify(VerifyError::PlatformMismatch { .. }))
        ),
        "{err:?}"
    );
    let mut floor = policy(good.clone(), Some(ca.clone()), true);
    floor.accept.min_trust_basis = TrustBasis::Hypervisor;
    let err = connect(&enclave.addr, &floor).await.unwrap_err();
    assert!(
        matches!(
            err,
            AtlsError::Refused(Refusal::TrustBasis {
                got: TrustBasis::Development,
                minimum: TrustBasis::Hypervisor
            })
        ),
        "{err:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // A development reference needs its opt-in.
    let err = connect(&enclave.addr, &policy(good.clone(), Some(ca.clone()), false))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AtlsError::Verification(AttestError::Appraisal(
                AppraisalError::DevelopmentReferenceRefused
            ))
        ),
        "{err:?}"
    );

    // The local CA is trusted only when given.
    let err = connect(&enclave.addr, &policy(good.clone(), None, true))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AtlsError::Verification(AttestError::Verify(VerifyError::NoTrustAnchor { .. }))
        ),
        "{err:?}"
    );

    // (Stay under the rate limit of 4 evidence requests per second.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // Another configuration (or app disk) is another PCR 15.
    let other = reference(vec![
        common::enclave_binary_event(),
        RuntimeEvent::AppDisk {
            root_hash: setup.disk.root_hash.clone(),
        },
        RuntimeEvent::Config { sha256: vec![0; 32] },
        RuntimeEvent::Ready,
    ]);
    let err = connect(&enclave.addr, &policy(other, Some(ca.clone()), true))
        .await
        .unwrap_err();
    match err {
        AtlsError::Refused(Refusal::Status { status, reasons }) => {
            assert_eq!(status, ClaimStatus::Contraindicated);
            assert!(
                reasons.join("; ").contains("PCR 15 (sha256): expected"),
                "{reasons:?}"
            );
        }
        other => panic!("{other:?}"),
    }

    // A flood of evidence requests is answered with 429 and a Retry-After
    // the client reads (it waits, it does not fail verification).
    let mut limited = false;
    for _ in 0..12 {
        if let Err(AtlsError::Busy { retry_after }) =
            connect(&enclave.addr, &policy(good.clone(), Some(ca.clone()), true)).await
        {
            assert_eq!(retry_after, std::time::Duration::from_secs(1));
            limited = true;
        }
    }
    assert!(limited, "no 429 after a flood");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // swtpm gone: the evidence endpoint answers an error, nothing unverified is served.
    drop(setup.swtpm);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let err = connect(&enclave.addr, &policy(good, Some(ca), true))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AtlsError::Evidence(ref why) if why.contains("503")),
        "{err:?}"
    );
}

#[test]
fn a_tampered_app_disk_stops_the_enclave_before_it_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let _setup = local_setup(d, 20, blindfold_attester::AkAlgorithm::EccP256);
    let mut image = std::fs::read(d.join("app.img")).unwrap();
    image[100] ^= 1;
    std::fs::write(d.join("app.img"), image).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_blindfold-enclave"))
        .arg("--config")
        .arg(d.join("enclave.json"))
        .arg("--launch")
        .arg(d.join("launch.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("app disk does not match its root hash"), "{err}");
    assert!(err.contains("serving nothing"), "{err}");
}

#[test]
fn the_runtime_measures_once_per_boot() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let _setup = local_setup(d, 20, blindfold_attester::AkAlgorithm::EccP256);
    drop(start_enclave(&d.join("enclave.json"), &[]));
    // Same TPM, PCR 15 already extended: a second start refuses to serve.
    let out = Command::new(env!("CARGO_BIN_EXE_blindfold-enclave"))
        .arg("--config")
        .arg(d.join("enclave.json"))
        .arg("--launch")
        .arg(d.join("launch.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already extended"));
}

/// With an engine configured, the enclave loads the model, measures its
/// name and weights digest after `ready`, and serves the API on the same
/// attested TLS session as the evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_enclave_measures_its_model_and_serves_the_api() {
    use http_body_util::BodyExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut setup = local_setup(d, 4, blindfold_attester::AkAlgorithm::Rsa2048);
    let model = blindfold_testdata::packaged_model();
    let mut config = blindfold_enclave_config::EnclaveConfig::parse(&setup.config).unwrap();
    config.engine = Some(blindfold_engine::EngineConfig::Embedded(
        blindfold_engine::EmbeddedConfig {
            gguf: Some(model.clone()),
            model_id: "smollm2".into(),
            max_batch: None,
            queue_capacity: None,
            default_max_tokens: None,
        },
    ));
    setup.config = config.to_bytes().unwrap();
    std::fs::write(d.join("enclave.json"), &setup.config).unwrap();
    let weights = blindfold_crypto::default_provider()
        .hash(
            blindfold_crypto::HashAlg::Sha256,
            &[&std::fs::read(&model).unwrap()],
        )
        .as_bytes()
        .to_vec();
    let mut events = setup.events();
    events.push(RuntimeEvent::Model {
        name: "smollm2".into(),
        sha256: weights,
    });
    let enclave = start_enclave(&d.join("enclave.json"), &[]);
    let policy = |reference| ClientPolicy {
        reference,
        platform_ca: Some(setup.ca()),
        ak_intermediates: Vec::new(),
        accept: AcceptPolicy::development(),
        freshness: Default::default(),
    };

    // Without the model in the reference, the client refuses the enclave.
    let err = connect(&enclave.addr, &policy(reference(setup.events())))
        .await
        .unwrap_err();
    match &err {
        AtlsError::Refused(Refusal::Status { reasons, .. }) => {
            assert!(reasons.join("; ").contains("PCR 15"), "{err:?}")
        }
        other => panic!("{other:?}"),
    }
    let mut session = connect(&enclave.addr, &policy(reference(events.clone())))
        .await
        .unwrap();
    assert_eq!(session.verified.runtime_log().unwrap().events, events);
    let req = hyper::Request::get("/v1/models")
        .header("host", "x")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = session.sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["data"][0]["id"], "smollm2", "{body}");
}

/// An attested session idle for longer than the header-read timeout (10 s)
/// stays open for the next request: a proxy keeps its sessions between
/// bursts instead of attesting again. (Slow headers are still cut at 10 s
/// from their first byte: `idle.rs` unit tests.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_outlives_the_header_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let setup = local_setup(d, 4, blindfold_attester::AkAlgorithm::Rsa2048);
    let enclave = start_enclave(&d.join("enclave.json"), &[]);
    let policy = ClientPolicy {
        reference: reference(setup.events()),
        platform_ca: Some(setup.ca()),
        ak_intermediates: Vec::new(),
        accept: AcceptPolicy::development(),
        freshness: Default::default(),
    };
    let mut session = connect(&enclave.addr, &policy).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    assert!(!session.sender.is_closed(), "the enclave closed an idle session");
    let req = hyper::Request::get("/health")
        .header("host", "x")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let status = session.sender.send_request(req).await.unwrap().status();
    assert_eq!(
        status, 404,
        "no model served here: the route is unknown, but answered"
    );
}
