//! Sessions on epoch evidence (the client's opt-in), end to end against a
//! running enclave: a session costs a signature and the epoch's appraisal
//! is cached, but every session's own checks still run; a stale epoch, a
//! relay with its own TLS key (a foreign SPKI), a relay holding the stolen
//! TLS key but not the evidence key (a foreign exporter), a replayed
//! answer and an edited epoch are each refused with their own error; a
//! per-session client is refused the epoch's quote; a cached appraisal is
//! not used under another policy; session evidence is answered once per
//! connection.
#![allow(clippy::unwrap_used, missing_docs)]
mod common;

use std::time::Duration;

use blindfold_atls::{connect, ClientPolicy, Error as AtlsError, FreshnessMode};
use blindfold_attest::{EpochError, Error as AttestError};
use blindfold_protocol::epoch::SessionEvidenceV1;
use common::attacker::{attacker, fetch_upstream, Mode};
use hyper::body::Bytes;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

fn epoch_error(err: &AtlsError) -> Option<&EpochError> {
    match err {
        AtlsError::Verification(AttestError::Epoch(e)) => Some(e),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epoch_sessions_are_checked_per_session_and_attacks_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let setup = common::local_setup(d, 100, blindfold_attester::AkAlgorithm::EccP256);
    let stolen_key = d.join("stolen-tls-key.der");
    let enclave = common::start_enclave(
        &d.join("enclave.json"),
        &[("BLINDFOLD_ENCLAVE_TEST_STEAL_TLS_KEY", &stolen_key)],
    );
    let per_session = common::dev_policy(&setup, FreshnessMode::PerSessionQuote);
    let policy = ClientPolicy {
        freshness: FreshnessMode::epoch(None),
        ..per_session.clone()
    };
    let FreshnessMode::Epoch { cache, .. } = &policy.freshness else {
        unreachable!()
    };

    // Two sessions on the first epoch: the second reuses its appraisal.
    let first = connect(&enclave.addr, &policy).await.unwrap();
    let age = first.epoch.expect("an epoch session");
    assert_eq!(age.epoch, 1);
    assert!(age.age <= Duration::from_secs(20), "{age:?}");
    assert!(first.appraisal.status.is_some());
    let second = connect(&enclave.addr, &policy).await.unwrap();
    if second.epoch.unwrap().epoch == age.epoch {
        assert_eq!(cache.hits(), 1, "the second session used the cached appraisal");
    }
    // The same epoch under another policy is appraised again, not taken
    // from the cache: here a reference the enclave does not meet.
    let other_reference = common::reference(vec![blindfold_protocol::RuntimeEvent::Ready]);
    let refused = connect(
        &enclave.addr,
        &ClientPolicy {
            reference: other_reference,
            ..policy.clone()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(refused, AtlsError::Refused(_)),
        "another reference: {refused:?}"
    );

    // Session evidence is answered once per connection.
    let twice = twice_on_one_connection(&enclave.addr).await;
    assert_eq!(twice, (200, 429));
    // The default client still gets a quote for its own session.
    assert!(connect(&enclave.addr, &per_session)
        .await
        .unwrap()
        .epoch
        .is_none());

    // A relay with its own TLS key passes the client's nonce on and
    // returns the enclave's answer: it vouches for the enclave's TLS key.
    let relay = attacker(Mode::Relay(enclave.addr.clone()), None).await;
    let err = connect(&relay, &policy).await.unwrap_err();
    assert!(
        matches!(epoch_error(&err), Some(EpochError::ForeignTlsKey { .. })),
        "relay: {err:?}"
    );

    // A relay holding the stolen TLS key but not the evidence key: the
    // handshake passes, but the signature covers the relay's own session
    // with the enclave (another exporter).
    let (captured, enclave_cert, _) = fetch_upstream(
        &enclave.addr,
        &format!("/.well-known/blindfold/session?nonce={}", "ab".repeat(32)),
    )
    .await;
    let stolen = || {
        Some((
            enclave_cert.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(std::fs::read(&stolen_key).unwrap())),
        ))
    };
    let thief = attacker(Mode::Relay(enclave.addr.clone()), stolen()).await;
    let err = connect(&thief, &policy).await.unwrap_err();
    assert!(
        matches!(epoch_error(&err), Some(EpochError::SessionSignature)),
        "thief: {err:?}"
    );
    // The same thief replaying an answer made for another nonce.
    let replay = attacker(Mode::Fixed(captured.clone()), stolen()).await;
    let err = connect(&replay, &policy).await.unwrap_err();
    assert!(
        matches!(epoch_error(&err), Some(EpochError::SessionSignature)),
        "replay: {err:?}"
    );
    // An epoch whose time was moved forward (to live longer): its quote
    // no longer binds it.
    let mut edited = SessionEvidenceV1::from_json(&captured).unwrap();
    edited.epoch.time += 3600;
    let forged = attacker(Mode::Fixed(Bytes::from(edited.to_json())), stolen()).await;
    let err = connect(&forged, &policy).await.unwrap_err();
    assert!(
        matches!(epoch_error(&err), Some(EpochError::QuoteBindsOtherData)),
        "edited epoch: {err:?}"
    );
    // The epoch's quote shown to a client that wants a quote for its own
    // session: another nonce.
    let quote_only = attacker(
        Mode::Fixed(Bytes::from(edited.epoch.evidence.to_json())),
        stolen(),
    )
    .await;
    let err = connect(&quote_only, &per_session).await.unwrap_err();
    assert!(
        matches!(&err, AtlsError::Verification(e) if e.is_nonce_mismatch()),
        "epoch quote as session evidence: {err:?}"
    );

    // A stale epoch: older than this client's maximum (1 s) by its clock.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let strict = ClientPolicy {
        freshness: FreshnessMode::epoch(Some(Duration::from_secs(1))),
        ..per_session.clone()
    };
    let err = connect(&enclave.addr, &strict).await.unwrap_err();
    assert!(
        matches!(epoch_error(&err), Some(EpochError::Stale { age, max_age: 1 }) if *age >= 2),
        "stale: {err:?}"
    );
    // The cached appraisal never stands in for the session's own checks:
    // the stale epoch is refused though its appraisal is cached (unless an
    // epoch turned over in between).
    let strict_cache = match &strict.freshness {
        FreshnessMode::Epoch { cache, .. } => cache.clone(),
        FreshnessMode::PerSessionQuote => unreachable!(),
    };
    let err = connect(&enclave.addr, &strict).await.unwrap_err();
    assert!(
        matches!(epoch_error(&err), Some(EpochError::Stale { .. })),
        "{err:?}"
    );
    assert!(strict_cache.hits() <= 1);
}

/// The statuses of two session-evidence requests on one TLS connection.
async fn twice_on_one_connection(addr: &str) -> (u16, u16) {
    use http_body_util::{BodyExt, Empty};
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(std::sync::Arc::new(common::attacker::AcceptAnything))
    .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("x").unwrap(),
            tokio::net::TcpStream::connect(addr).await.unwrap(),
        )
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut statuses = Vec::new();
    for _ in 0..2 {
        sender.ready().await.unwrap();
        let req = hyper::Request::get(format!(
            "/.well-known/blindfold/session?nonce={}",
            "cd".repeat(32)
        ))
        .header("host", "x")
        .body(Empty::<Bytes>::new())
        .unwrap();
        let response = sender.send_request(req).await.unwrap();
        statuses.push(response.status().as_u16());
        response.into_body().collect().await.unwrap();
    }
    (statuses[0], statuses[1])
}
