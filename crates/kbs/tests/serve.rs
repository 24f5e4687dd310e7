//! The broker over HTTPS: a challenge and a release on one pinned TLS 1.3
//! connection give the policy's build its key; a replayed challenge or one
//! from another connection is refused; every decision is audited, and no
//! key reaches the audit log.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use blindfold_attest::bundle::{self, BundlePayload};
use blindfold_crypto::AeadKey;
use blindfold_kbs::{
    generate_owner_token, serve, store_policy, tls_spki, AuditRecord, BrokerConfig, Kek, KeyPolicy, KeyStore,
    CHALLENGE_PATH, OWNER_AUDIT_PATH, OWNER_POLICY_PREFIX, POLICY_PAYLOAD_TYPE, RELEASE_PATH,
};
use blindfold_model_store::ModelStore;
use blindfold_protocol::binding::{EXPORTER_LABEL, EXPORTER_LEN};
use blindfold_protocol::release::{ChallengeV1, ReleaseKeyPair, ReleaseRequestV1, ReleaseResponseV1};
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// Accepts the broker's certificate only if it carries the pinned SPKI.
#[derive(Debug)]
struct Pinned(Vec<u8>);

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        cert: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let spki = blindfold_x509::Certificate::from_der(cert)
            .and_then(|c| c.spki_der())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        if spki == self.0 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("not the pinned broker key".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not offered".into()))
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A pinned TLS 1.3 connection to the broker: a request sender and the
/// session's exporter.
async fn connect(addr: &str, spki: &[u8]) -> (Sender, [u8; EXPORTER_LEN]) {
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned(spki.to_vec())))
            .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("blindfold-kbs").unwrap(), tcp)
        .await
        .unwrap();
    let mut exporter = [0u8; EXPORTER_LEN];
    tls.get_ref()
        .1
        .export_keying_material(&mut exporter, EXPORTER_LABEL, None)
        .unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    (sender, exporter)
}

async fn post(sender: &mut Sender, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let req = hyper::Request::post(path)
        .header("host", "blindfold-kbs")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    // The previous answer's connection may still be finishing: wait until
    // it can take the next request.
    sender.ready().await.unwrap();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes().to_vec(),
    )
}

/// An owner call with `token` (if any) as its bearer token.
async fn owner_call(
    sender: &mut Sender,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "blindfold-kbs");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    // The previous answer's end may still be on its way: wait until the
    // connection takes the next request.
    sender.ready().await.unwrap();
    let response = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn challenge(sender: &mut Sender) -> Vec<u8> {
    let (status, body) = post(sender, CHALLENGE_PATH, Vec::new()).await;
    assert_eq!(status, 200);
    let c: ChallengeV1 = serde_json::from_slice(&body).unwrap();
    hex::decode(c.challenge).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_over_https_releases_to_the_build_and_audits_each_decision() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ModelStore::open(&format!("file://{}", tmp.path().join("store").display())).unwrap();
    let (owner, publisher) = (SigningKey::new(), SigningKey::new());
    // The owner's policy around the publisher's signed build.
    let built = policy(true);
    let payload = BundlePayload {
        blindfold_bundle: bundle::BUNDLE_VERSION,
        version: 1,
        expires: None,
        inputs: Default::default(),
        measurements: built.reference.reference.to_measurements().unwrap(),
    };
    let reference = publisher.sign(bundle::PAYLOAD_TYPE, &serde_json::to_vec(&payload).unwrap());
    let key_policy = KeyPolicy {
        reference,
        publisher_key: publisher.pem(),
        ..built.policy.clone()
    };
    let envelope = owner.sign(POLICY_PAYLOAD_TYPE, &serde_json::to_vec(&key_policy).unwrap());
    store_policy(&store, "smollm2", serde_json::to_vec(&envelope).unwrap(), None)
        .await
        .unwrap();
    let (kek, _) = Kek::generate().unwrap();
    let data_key = AeadKey::from_bytes([0x5c; 32]);
    KeyStore::new(store.clone(), kek.clone())
        .put("smollm2", KEY_ID, &data_key)
        .await
        .unwrap();

    let mut enclave = Enclave::with(&built_events(b"config"));
    let tls_key = rcgen::KeyPair::generate().unwrap().serialize_der();
    let spki = tls_spki(&tls_key).unwrap();
    let audit_log = tmp.path().join("audit.jsonl");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (owner_token, owner_token_sha256) = generate_owner_token().unwrap();
    tokio::spawn(serve(
        listener,
        BrokerConfig {
            owner_token_sha256: Some(owner_token_sha256),
            store: store.clone(),
            kek,
            owner_key: owner.public(),
            tls_key_pkcs8: zeroize::Zeroizing::new(tls_key),
            platform_ca: Some(enclave.ca.clone()),
            policy_versions: tmp.path().join("policy-versions.json"),
            audit_log: audit_log.clone(),
        },
    ));

    let (mut conn, exporter) = connect(&addr, &spki).await;
    let pair = ReleaseKeyPair::generate();
    let c = challenge(&mut conn).await;
    let request = enclave.request_for(&pair, "smollm2", &c, &spki, &exporter);
    let body = serde_json::to_vec(&request).unwrap();
    let (status, answer) = post(&mut conn, RELEASE_PATH, body.clone()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let response: ReleaseResponseV1 = serde_json::from_slice(&answer).unwrap();
    assert_eq!(pair.open(&response, "smollm2").unwrap().as_slice(), &[0x5c; 32]);

    // The same request again: its challenge is used up.
    let (status, answer) = post(&mut conn, RELEASE_PATH, body).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&answer).contains("already used"));

    // A challenge from another connection, answered on this one.
    let (mut other, _) = connect(&addr, &spki).await;
    let foreign = challenge(&mut other).await;
    let request: ReleaseRequestV1 = enclave.request_for(&pair, "smollm2", &foreign, &spki, &exporter);
    let (status, answer) = post(&mut conn, RELEASE_PATH, serde_json::to_vec(&request).unwrap()).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&answer).contains("issued on another connection"));

    let log = std::fs::read_to_string(&audit_log).unwrap();
    let records: Vec<AuditRecord> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let verdicts: Vec<&str> = records.iter().map(|r| r.verdict.as_str()).collect();
    assert_eq!(verdicts, ["released", "refused", "refused"]);
    assert_eq!(records[0].platform.as_deref(), Some("local"));
    assert!(
        records[0].reason.contains("policy version 4"),
        "{}",
        records[0].reason
    );
    assert!(!log.contains(&"5c".repeat(32)), "no key in the audit log");

    // The owner's calls: only with the owner's token.
    let (status, body) = owner_call(&mut conn, "GET", OWNER_AUDIT_PATH, None, Vec::new()).await;
    assert_eq!(
        (status, body.contains("needs the owner's bearer token")),
        (401, true),
        "{body}"
    );
    let (wrong, _) = generate_owner_token().unwrap();
    let (status, body) = owner_call(&mut conn, "GET", OWNER_AUDIT_PATH, Some(&wrong), Vec::new()).await;
    assert_eq!(
        (status, body.contains("the owner token does not match")),
        (401, true),
        "{body}"
    );
    let (status, body) = owner_call(&mut conn, "GET", OWNER_AUDIT_PATH, Some(&owner_token), Vec::new()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, log, "the owner reads the audit log as written");

    // A policy uploaded through the broker: an older version, or one
    // signed by another key, is refused; the next version is stored.
    let path = format!("{OWNER_POLICY_PREFIX}smollm2");
    let upload = |policy: &KeyPolicy, signer: &SigningKey| {
        serde_json::to_vec(&signer.sign(POLICY_PAYLOAD_TYPE, &serde_json::to_vec(policy).unwrap())).unwrap()
    };
    let (status, body) = owner_call(
        &mut conn,
        "POST",
        &path,
        Some(&owner_token),
        upload(&key_policy, &owner),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("version"), "{body}");
    let next = KeyPolicy {
        version: key_policy.version + 1,
        ..key_policy.clone()
    };
    let (status, body) = owner_call(&mut conn, "POST", &path, Some(&wrong), upload(&next, &owner)).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = owner_call(
        &mut conn,
        "POST",
        &path,
        Some(&owner_token),
        upload(&next, &publisher),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = owner_call(
        &mut conn,
        "POST",
        &path,
        Some(&owner_token),
        upload(&next, &owner),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let stored = blindfold_kbs::load_policy(&store, "smollm2").await.unwrap();
    let stored = blindfold_kbs::verify_policy(
        &stored,
        &owner.public(),
        "smollm2",
        std::time::SystemTime::now(),
        0,
    )
    .unwrap();
    assert_eq!(stored.policy.version, key_policy.version + 1);
    let log = std::fs::read_to_string(&audit_log).unwrap();
    let verdicts: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap().verdict)
        .collect();
    assert_eq!(verdicts[3..], ["policy-refused", "policy-refused", "policy-set"]);
    assert!(!log.contains(owner_token.as_str()), "no token in the audit log");
}
