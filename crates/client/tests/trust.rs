//! What a client trusts is settled from files before any connection: a
//! signed bundle under the pinned key, not expired, not rolled back below
//! what this client has seen, of a kind the acceptance rule could accept.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use blindfold_attest::bundle::{key_id, pae, BundlePayload, Envelope, BUNDLE_VERSION, PAYLOAD_TYPE};
use blindfold_attest::{AcceptPolicy, MeasurementsKind, MeasurementsV1, MANDATORY_PCRS};
use blindfold_client::{ClientError, ReferenceSource, Trust, TrustFiles};
use blindfold_crypto::{EccCurve, PublicKey};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

struct Publisher {
    pair: EcdsaKeyPair,
    key: PublicKey,
}

impl Publisher {
    fn new(dir: &Path) -> Publisher {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let p = pair.public_key().as_ref().to_vec();
        let key = PublicKey::ecc(EccCurve::NistP256, &p[1..33], &p[33..]).unwrap();
        let pem = pem_rfc7468::encode_string(
            "PUBLIC KEY",
            pem_rfc7468::LineEnding::LF,
            &key.to_spki_der().unwrap(),
        )
        .unwrap();
        std::fs::write(dir.join("publisher.pub"), pem).unwrap();
        Publisher { pair, key }
    }

    fn bundle(&self, path: &Path, version: u64, kind: MeasurementsKind, expires: Option<&str>) {
        let pcrs: Vec<u32> = match kind {
            MeasurementsKind::MeasuredBoot => MANDATORY_PCRS.to_vec(),
            MeasurementsKind::Development => vec![15],
        };
        let payload = BundlePayload {
            blindfold_bundle: BUNDLE_VERSION,
            version,
            expires: expires.map(str::to_string),
            inputs: BTreeMap::new(),
            measurements: MeasurementsV1 {
                blindfold_measurements: 1,
                kind,
                pcrs: BTreeMap::from([(
                    "sha256".into(),
                    pcrs.into_iter().map(|i| (i, vec!["11".repeat(32)])).collect(),
                )]),
                revoked: BTreeMap::new(),
                hardware_measurements: vec![],
                snp_minimum_tcb: None,
                snp_allow_migration_agent: false,
                runtime_events: Vec::new(),
            },
        };
        let body = serde_json::to_vec(&payload).unwrap();
        let sig = self
            .pair
            .sign(&SystemRandom::new(), &pae(PAYLOAD_TYPE, &body))
            .unwrap();
        let env = Envelope::new(&body, &key_id(&self.key).unwrap(), sig.as_ref());
        std::fs::write(path, serde_json::to_vec(&env).unwrap()).unwrap();
    }
}

fn files(dir: &Path, reference: &str, accept: AcceptPolicy) -> TrustFiles {
    TrustFiles {
        reference: dir.join(reference),
        publisher_key: Some(dir.join("publisher.pub")),
        accept,
        state_dir: Some(dir.join("state")),
        ..TrustFiles::default()
    }
}

fn refusal(result: Result<Trust, ClientError>) -> String {
    match result {
        Err(ClientError::Reference(m)) => m,
        other => panic!("expected a refused reference, got {other:?}"),
    }
}

#[test]
fn once_a_client_has_seen_a_version_it_refuses_older_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let publisher = Publisher::new(d);
    publisher.bundle(&d.join("v1.json"), 1, MeasurementsKind::MeasuredBoot, None);
    publisher.bundle(&d.join("v2.json"), 2, MeasurementsKind::MeasuredBoot, None);

    // v1 first is fine (nothing seen yet), then v2, then v1 is a rollback.
    let t = Trust::from_files(&files(d, "v1.json", AcceptPolicy::default())).unwrap();
    assert_eq!(t.reference_source, ReferenceSource::Signed { version: 1 });
    Trust::from_files(&files(d, "v2.json", AcceptPolicy::default())).unwrap();
    let m = refusal(Trust::from_files(&files(d, "v1.json", AcceptPolicy::default())));
    assert!(m.contains("version 1") && m.contains("seen version 2"), "{m}");
    // The same version again is fine.
    Trust::from_files(&files(d, "v2.json", AcceptPolicy::default())).unwrap();

    // Another publisher's versions are its own.
    let other = tempfile::tempdir().unwrap();
    let second = Publisher::new(other.path());
    second.bundle(
        &other.path().join("v1.json"),
        1,
        MeasurementsKind::MeasuredBoot,
        None,
    );
    let mut f = files(other.path(), "v1.json", AcceptPolicy::default());
    f.state_dir = Some(d.join("state"));
    Trust::from_files(&f).unwrap();
}

#[test]
fn an_expired_bundle_is_refused_before_any_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let publisher = Publisher::new(d);
    publisher.bundle(
        &d.join("old.json"),
        1,
        MeasurementsKind::MeasuredBoot,
        Some("2020-01-01T00:00:00Z"),
    );
    let m = refusal(Trust::from_files(&files(d, "old.json", AcceptPolicy::default())));
    assert!(m.contains("expired at 2020-01-01T00:00:00Z"), "{m}");
}

#[test]
fn a_development_bundle_needs_its_opt_in_at_load_time() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let publisher = Publisher::new(d);
    publisher.bundle(&d.join("dev.json"), 1, MeasurementsKind::Development, None);
    let m = refusal(Trust::from_files(&files(d, "dev.json", AcceptPolicy::default())));
    assert!(m.contains("development references are not allowed"), "{m}");
    Trust::from_files(&files(d, "dev.json", AcceptPolicy::development())).unwrap();
}

#[test]
fn a_foreign_reference_cannot_vouch_for_an_enclave() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(
        d.join("pcr_measurements.json"),
        format!(
            r#"{{"Measurements": {{"HashAlgorithm": "SHA384", "PCR4": "{}"}}}}"#,
            "11".repeat(48)
        ),
    )
    .unwrap();
    let f = TrustFiles {
        reference: d.join("pcr_measurements.json"),
        reference_unsigned: true,
        ..TrustFiles::default()
    };
    let m = refusal(Trust::from_files(&f));
    assert!(m.contains("nitrotpm file"), "{m}");
}
