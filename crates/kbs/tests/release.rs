//! Key release against a real (software) TPM: an enclave whose runtime is
//! the policy's build gets the data key sealed to its HPKE key; evidence
//! bound to anything else (another HPKE key, model, session or purpose), a
//! runtime that differs, a model already loaded, or a development platform
//! the policy does not allow is refused with what differed.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::SystemTime;

use blindfold_attest::bundle::{Envelope, VerifiedBundle};
use blindfold_attest::{PcrReference, ReferenceFormat, ReferenceKind, ReferenceValues};
use blindfold_attester::{AkAlgorithm, Tpm, AK_CERT_NV_INDEX};
use blindfold_crypto::{AeadKey, HashAlg};
use blindfold_dev_platform::{init, start, RunningSwtpm};
use blindfold_kbs::{decide, Error, KeyPolicy, ReleaseSession, VerifiedPolicy};
use blindfold_protocol::binding::{qualifying_data, Purpose};
use blindfold_protocol::release::{release_nonce, release_qualifying_data, ReleaseKeyPair, ReleaseRequestV1};
use blindfold_protocol::{runtime_events, EvidenceV1, QuoteV1, RuntimeEvent, RuntimeLog};
use blindfold_tpm::PcrIndex;
use blindfold_x509::{parse_certificates, Certificate};

const BANKS: [HashAlg; 2] = [HashAlg::Sha256, HashAlg::Sha384];
const BROKER_SPKI: &[u8] = b"the broker's SPKI";
const EXPORTER: [u8; 32] = [5; 32];
const CHALLENGE: [u8; 32] = [6; 32];

/// A local platform whose PCR 15 holds `events`.
struct Enclave {
    _tmp: tempfile::TempDir,
    _swtpm: RunningSwtpm,
    tpm: Tpm,
    events: Vec<RuntimeEvent>,
    ca: Vec<Certificate>,
}

impl Enclave {
    fn with(events: &[RuntimeEvent]) -> Enclave {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("platform");
        let info = init(&dir, AkAlgorithm::EccP256).unwrap();
        let swtpm = start(&dir).unwrap();
        let mut tpm = Tpm::open(swtpm.tcti()).unwrap();
        for e in events {
            tpm.extend(15, &BANKS.map(|b| e.digest(b))).unwrap();
        }
        Enclave {
            ca: parse_certificates(&std::fs::read(&info.ca_pem).unwrap()).unwrap(),
            _tmp: tmp,
            _swtpm: swtpm,
            tpm,
            events: events.to_vec(),
        }
    }

    fn evidence(&mut self, qualifying: &[u8]) -> EvidenceV1 {
        let pcrs: Vec<u32> = (0..16).collect();
        let quote = self.tpm.quote(qualifying, &BANKS, &pcrs).unwrap();
        EvidenceV1 {
            blindfold_evidence: EvidenceV1::VERSION,
            platform: "local".into(),
            quote: QuoteV1 {
                message: quote.message,
                signature: quote.signature,
            },
            pcrs: self.tpm.read_pcrs(&BANKS, &pcrs).unwrap(),
            ak_public: self.tpm.ak_public().unwrap(),
            ak_cert_chain: vec![self.tpm.read_nv(AK_CERT_NV_INDEX).unwrap()],
            firmware_log: None,
            runtime_log: RuntimeLog {
                events: self.events.clone(),
                banks: BANKS.to_vec(),
            }
            .to_records(),
        }
    }

    /// A request for `model`, its evidence bound as the protocol says.
    fn request(&mut self, pair: &ReleaseKeyPair, model: &str) -> ReleaseRequestV1 {
        let qualifying = release_qualifying_data(
            &CHALLENGE,
            model,
            KEY_ID,
            &pair.public_key(),
            BROKER_SPKI,
            &EXPORTER,
        );
        ReleaseRequestV1 {
            blindfold_release: 1,
            challenge: hex::encode(CHALLENGE),
            model: model.into(),
            key_id: KEY_ID.into(),
            hpke_public_key: hex::encode(pair.public_key()),
            evidence: self.evidence(&qualifying),
        }
    }
}

const KEY_ID: &str = "00112233445566778899aabbccddeeff";

fn built_events(config: &[u8]) -> Vec<RuntimeEvent> {
    runtime_events(&[0xab; 32], config)
}

/// The owner's policy for `smollm2`: the build whose runtime is
/// `built_events(b"config")` followed by the model's event.
fn policy(allow_development: bool) -> VerifiedPolicy {
    let mut events = built_events(b"config");
    events.push(RuntimeEvent::model("smollm2", &[0x77; 32]));
    let replayed = RuntimeLog {
        events: events.clone(),
        banks: BANKS.to_vec(),
    }
    .replay();
    let reference = ReferenceValues {
        format: ReferenceFormat::Blindfold,
        kind: ReferenceKind::Development,
        pcrs: BANKS
            .iter()
            .map(|b| {
                let value = *replayed.get(*b, PcrIndex(15)).unwrap();
                (
                    (*b, PcrIndex(15)),
                    PcrReference {
                        allowed: vec![value],
                        revoked: vec![],
                    },
                )
            })
            .collect(),
        app_disk_root_hash: None,
        hardware_measurements: vec![],
        snp_minimum_tcb: None,
        snp_allow_migration_agent: false,
        runtime_events: events,
    };
    VerifiedPolicy {
        policy: KeyPolicy {
            blindfold_key_policy: 1,
            model: "smollm2".into(),
            key_id: KEY_ID.into(),
            version: 4,
            expires: "2099-01-01T00:00:00Z".into(),
            publisher_key: String::new(),
            reference: Envelope::typed("x", b"", "", b""),
            allow_development,
        },
        reference: VerifiedBundle {
            reference,
            version: 1,
            expires: None,
            inputs: Default::default(),
            key_id: String::new(),
        },
    }
}

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
    let why = refusal(decide(
        &other_key,
        &CHALLENGE,
        &policy(true),
        session(),
        &data_key,
        Some(&ca),
        now,
    ));
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
    let why = refusal(decide(
        &other_model,
        &CHALLENGE,
        &policy(true),
        session(),
        &data_key,
        Some(&ca),
        now,
    ));
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
    let why = refusal(decide(
        &confused,
        &CHALLENGE,
        &policy(true),
        session(),
        &data_key,
        Some(&ca),
        now,
    ));
    assert!(why.contains("not the expected nonce"), "{why}");
}

#[test]
fn another_runtime_or_a_loaded_model_is_refused_naming_the_difference() {
    let data_key = AeadKey::from_bytes([0x42; 32]);
    let now = SystemTime::now();
    let pair = ReleaseKeyPair::generate();

    let mut other_config = Enclave::with(&built_events(b"another config"));
    let ca = other_config.ca.clone();
    let request = other_config.request(&pair, "smollm2");
    let why = refusal(decide(
        &request,
        &CHALLENGE,
        &policy(true),
        session(),
        &data_key,
        Some(&ca),
        now,
    ));
    assert!(
        why.contains("runtime events differ from the policy's build: config sha256 differs"),
        "{why}"
    );

    let mut loaded_events = built_events(b"config");
    loaded_events.push(RuntimeEvent::model("smollm2", &[0x77; 32]));
    let mut loaded = Enclave::with(&loaded_events);
    let ca = loaded.ca.clone();
    let request = loaded.request(&pair, "smollm2");
    let why = refusal(decide(
        &request,
        &CHALLENGE,
        &policy(true),
        session(),
        &data_key,
        Some(&ca),
        now,
    ));
    assert!(why.contains("a model is already measured"), "{why}");
}
