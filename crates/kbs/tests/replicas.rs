//! Brokers replicated on one S3-compatible store, with no coordination but
//! the store's conditional writes: on SeaweedFS (which honours
//! `If-None-Match` and `If-Match`) eight writers racing to create a policy,
//! then eight racing to replace it from the same read, leave exactly one
//! winner each time and tell every other one, with nothing overwritten; a
//! store without conditional writes (rclone) fails the broker's self-test
//! and a broker refuses to serve on it.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use blindfold_kbs::{load_policy_versioned, serve, store_policy, BrokerConfig, Error, Kek};
use blindfold_model_store::ModelStore;
use blindfold_testdata::s3::S3Server;
use blindfold_testdata::seaweedfs::SeaweedServer;
use common::*;
use tokio::sync::Barrier;

const WRITERS: usize = 8;

fn s3_store(settings: &[(&'static str, String)]) -> ModelStore {
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ModelStore::open_with(
        &format!("s3://{}/owner", blindfold_testdata::s3::BUCKET),
        &settings,
    )
    .unwrap()
}

/// Runs `WRITERS` writers at once (released together), each storing its
/// own bytes as `replaces` says; their outcomes in order.
async fn race(
    store: &ModelStore,
    round: &str,
    replaces: Option<blindfold_model_store::StateVersion>,
) -> Vec<Result<(), Error>> {
    let barrier = Arc::new(Barrier::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (store, barrier, replaces) = (store.clone(), barrier.clone(), replaces.clone());
            let bytes = format!("{round} by writer {i}").into_bytes();
            tokio::spawn(async move {
                barrier.wait().await;
                store_policy(&store, "smollm2", bytes, replaces.as_ref()).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for w in writers {
        outcomes.push(w.await.unwrap());
    }
    outcomes
}

/// Exactly one writer won; every other one was told of the conflict; the
/// store holds the winner's bytes. Returns what is stored, with its version.
async fn one_winner(
    store: &ModelStore,
    round: &str,
    outcomes: &[Result<(), Error>],
) -> blindfold_model_store::StateVersion {
    let winners: Vec<usize> = (0..WRITERS).filter(|i| outcomes[*i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "{round}: {outcomes:?}");
    for (i, o) in outcomes.iter().enumerate() {
        if let Err(e) = o {
            assert!(
                matches!(e, Error::PolicyConflict { model } if model == "smollm2"),
                "{round}, writer {i}: {e}"
            );
            assert!(e.to_string().contains("changed by someone else"), "{e}");
        }
    }
    let (bytes, version) = load_policy_versioned(store, "smollm2").await.unwrap().unwrap();
    assert_eq!(bytes, format!("{round} by writer {}", winners[0]).into_bytes());
    version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_on_seaweedfs_leave_one_winner_and_tell_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let server = SeaweedServer::start(tmp.path());
    let store = s3_store(&server.settings());
    store.check_conditional_writes().await.unwrap();

    let created = race(&store, "first policy", None).await;
    let first = one_winner(&store, "first policy", &created).await;
    let replaced = race(&store, "second policy", Some(first.clone())).await;
    let second = one_winner(&store, "second policy", &replaced).await;
    assert_ne!(first, second);
    // A writer still holding the first read changes nothing.
    let late = store_policy(&store, "smollm2", b"late".to_vec(), Some(&first)).await;
    assert!(matches!(late, Err(Error::PolicyConflict { .. })), "{late:?}");
    let (bytes, _) = load_policy_versioned(&store, "smollm2").await.unwrap().unwrap();
    assert!(bytes.starts_with(b"second policy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_refuses_a_store_without_conditional_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let server = S3Server::start(&tmp.path().join("s3"));
    let settings =
        blindfold_testdata::s3::settings_from_env(server.env(blindfold_testdata::s3::SECRET_ACCESS_KEY));
    let store = s3_store(&settings);
    let refused = store.check_conditional_writes().await.unwrap_err();
    assert!(
        matches!(refused, blindfold_model_store::Error::NoConditionalWrites { ref why, .. } if why.contains("If-None-Match ignored")),
        "{refused}"
    );
    // The broker checks before it serves anything.
    let (kek, _) = Kek::generate().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let outcome = serve(
        listener,
        BrokerConfig {
            owner_token_sha256: None,
            store,
            kek,
            owner_key: SigningKey::new().public(),
            tls_key_pkcs8: zeroize::Zeroizing::new(rcgen::KeyPair::generate().unwrap().serialize_der()),
            platform_ca: None,
            policy_versions: tmp.path().join("policy-versions.json"),
            audit_log: tmp.path().join("audit.jsonl"),
        },
    )
    .await;
    let e = outcome.unwrap_err();
    assert!(
        e.to_string().contains("does not honour conditional writes"),
        "{e}"
    );
}
