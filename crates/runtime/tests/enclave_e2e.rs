//! End to end on the local platform: swtpm, `blindfold-enclave`, and the
//! attested TLS client. The session is handed out only when the evidence
//! verifies, is bound to it, and appraises; each refusal names why.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use blindfold_atls::{connect, ClientPolicy, Error as AtlsError};
use blindfold_attest::runtime_log::{RuntimeEvent, RuntimeLog};
use blindfold_attest::{
    Error as AttestError, PcrReference, Platform, ReferenceFormat, ReferenceKind, ReferenceValues,
};
use blindfold_attester::platform;
use blindfold_crypto::{default_provider, HashAlg};
use http_body_util::Empty;
use hyper::body::Bytes;

struct Enclave {
    child: Child,
    addr: String,
}

impl Drop for Enclave {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_enclave(config: &std::path::Path) -> Enclave {
    let mut child = Command::new(env!("CARGO_BIN_EXE_blindfold-enclave"))
        .arg("--config")
        .arg(config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("enclave exited before listening").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Enclave { child, addr }
}

fn reference(events: Vec<RuntimeEvent>) -> ReferenceValues {
    let log = RuntimeLog {
        events,
        banks: vec![HashAlg::Sha256, HashAlg::Sha384],
    };
    let mut pcrs = BTreeMap::new();
    for (bank, values) in log.replay().banks() {
        for (i, d) in values {
            pcrs.insert(
                (bank, *i),
                PcrReference {
                    allowed: vec![*d],
                    revoked: vec![],
                },
            );
        }
    }
    ReferenceValues {
        format: ReferenceFormat::Blindfold,
        kind: ReferenceKind::Development,
        pcrs,
        app_disk_root_hash: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attested_session_on_the_local_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let info = platform::init(&d.join("platform"), blindfold_attester::AkAlgorithm::Rsa2048).unwrap();
    let swtpm = platform::start(&d.join("platform")).unwrap();

    std::fs::create_dir(d.join("app")).unwrap();
    std::fs::write(d.join("app/runtime.json"), "{\"model\": \"none\"}").unwrap();
    let disk = blindfold_measure::app_disk::build_app_disk(
        &d.join("app"),
        &d.join("app.img"),
        0,
        blindfold_measure::app_disk::DEFAULT_FS_UUID,
    )
    .unwrap();
    let config = serde_json::json!({
        "tcti": swtpm.tcti(),
        "listen": "127.0.0.1:0",
        "platform": "local",
        "app_disk": d.join("app.img"),
        "app_disk_root_hash": hex::encode(&disk.root_hash),
        "app_disk_hash_offset": disk.data_size,
        "evidence_per_second": 4,
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    std::fs::write(d.join("enclave.json"), &config_bytes).unwrap();
    let config_sha = default_provider()
        .hash(HashAlg::Sha256, &[&config_bytes])
        .as_bytes()
        .to_vec();
    let good = reference(vec![
        RuntimeEvent::AppDisk {
            root_hash: disk.root_hash.clone(),
        },
        RuntimeEvent::Config {
            sha256: config_sha.clone(),
        },
        RuntimeEvent::Ready,
    ]);
    let ca = blindfold_x509::parse_certificates(&std::fs::read(&info.ca_pem).unwrap()).unwrap();
    let enclave = start_enclave(&d.join("enclave.json"));
    let policy = |reference: ReferenceValues, ca: Option<Vec<_>>, allow_dev: bool| ClientPolicy {
        reference,
        platform_ca: ca,
        allow_dev,
    };

    // The good case: verified, bound, appraised (development reference allowed).
    let mut session = connect(&enclave.addr, &policy(good.clone(), Some(ca.clone()), true))
        .await
        .unwrap();
    assert_eq!(session.verified.platform(), Platform::Local);
    assert_eq!(session.verified.runtime_log().unwrap().events.len(), 3);

    // The endpoint takes exactly a 32-byte nonce.
    let req = hyper::Request::get("/.well-known/blindfold/evidence?nonce=00ff")
        .header("host", "x")
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(session.sender.send_request(req).await.unwrap().status(), 400);

    // A development reference needs allow_dev.
    let err = connect(&enclave.addr, &policy(good.clone(), Some(ca.clone()), false))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AtlsError::Verification(AttestError::DevelopmentReferenceRefused)
        ),
        "{err:?}"
    );

    // The local CA is trusted only when given.
    let err = connect(&enclave.addr, &policy(good.clone(), None, true))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AtlsError::Verification(AttestError::NoTrustAnchor { .. })),
        "{err:?}"
    );

    // (Stay under the rate limit of 4 evidence requests per second.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // Another configuration (or app disk) is another PCR 15.
    let other = reference(vec![
        RuntimeEvent::AppDisk {
            root_hash: disk.root_hash.clone(),
        },
        RuntimeEvent::Config { sha256: vec![0; 32] },
        RuntimeEvent::Ready,
    ]);
    let err = connect(&enclave.addr, &policy(other, Some(ca.clone()), true))
        .await
        .unwrap_err();
    match err {
        AtlsError::Appraisal { status, reasons } => {
            assert_eq!(status, "contraindicated");
            assert!(reasons.contains("PCR 15 (sha256): expected"), "{reasons}");
        }
        other => panic!("{other:?}"),
    }

    // A flood of evidence requests is answered with 429.
    let mut limited = false;
    for _ in 0..12 {
        if let Err(AtlsError::Evidence(why)) =
            connect(&enclave.addr, &policy(good.clone(), Some(ca.clone()), true)).await
        {
            limited |= why.contains("429");
        }
    }
    assert!(limited, "no 429 after a flood");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // swtpm gone: the evidence endpoint answers an error, nothing unverified is served.
    drop(swtpm);
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
    platform::init(&d.join("platform"), blindfold_attester::AkAlgorithm::EccP256).unwrap();
    let swtpm = platform::start(&d.join("platform")).unwrap();
    std::fs::create_dir(d.join("app")).unwrap();
    std::fs::write(d.join("app/runtime.json"), "x".repeat(10_000)).unwrap();
    let disk = blindfold_measure::app_disk::build_app_disk(
        &d.join("app"),
        &d.join("app.img"),
        0,
        blindfold_measure::app_disk::DEFAULT_FS_UUID,
    )
    .unwrap();
    let mut image = std::fs::read(d.join("app.img")).unwrap();
    image[5000] ^= 1;
    std::fs::write(d.join("app.img"), image).unwrap();
    let config = serde_json::json!({
        "tcti": swtpm.tcti(), "listen": "127.0.0.1:0", "platform": "local",
        "app_disk": d.join("app.img"), "app_disk_root_hash": hex::encode(&disk.root_hash),
        "app_disk_hash_offset": disk.data_size,
    });
    std::fs::write(d.join("enclave.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_blindfold-enclave"))
        .arg("--config")
        .arg(d.join("enclave.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("app disk does not match its root hash") && err.contains("data block 1"),
        "{err}"
    );
}
