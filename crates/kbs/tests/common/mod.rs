//! A local platform whose runtime log is what a test says, making key
//! release requests; and the owner policy for the build the tests use.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use blindfold_attest::bundle::{self, Envelope, VerifiedBundle};
use blindfold_attest::{PcrReference, ReferenceFormat, ReferenceKind, ReferenceValues};
use blindfold_attester::{AkAlgorithm, Tpm, AK_CERT_NV_INDEX};
use blindfold_crypto::{EccCurve, HashAlg, PublicKey};
use blindfold_dev_platform::{init, start, RunningSwtpm};
use blindfold_kbs::{KeyPolicy, VerifiedPolicy};
use blindfold_protocol::release::{release_qualifying_data, ReleaseKeyPair, ReleaseRequestV1};
use blindfold_protocol::{runtime_events, EvidenceV1, QuoteV1, RuntimeEvent, RuntimeLog};
use blindfold_tpm::PcrIndex;
use blindfold_x509::{parse_certificates, Certificate};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

pub const BANKS: [HashAlg; 2] = [HashAlg::Sha256, HashAlg::Sha384];
pub const BROKER_SPKI: &[u8] = b"the broker's SPKI";
pub const EXPORTER: [u8; 32] = [5; 32];
pub const CHALLENGE: [u8; 32] = [6; 32];

/// A local platform whose PCR 15 holds `events`.
pub struct Enclave {
    _tmp: tempfile::TempDir,
    _swtpm: RunningSwtpm,
    pub tpm: Tpm,
    pub events: Vec<RuntimeEvent>,
    pub ca: Vec<Certificate>,
}

impl Enclave {
    pub fn with(events: &[RuntimeEvent]) -> Enclave {
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

    pub fn evidence(&mut self, qualifying: &[u8]) -> EvidenceV1 {
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
            platform_report: None,
        }
    }

    /// A request for `model`, its evidence bound as the protocol says
    /// (to the fixed test challenge, broker key and session).
    pub fn request(&mut self, pair: &ReleaseKeyPair, model: &str) -> ReleaseRequestV1 {
        self.request_for(pair, model, &CHALLENGE, BROKER_SPKI, &EXPORTER)
    }

    /// A request answering `challenge` for a broker with `broker_spki` over
    /// the session whose exporter is `exporter`.
    pub fn request_for(
        &mut self,
        pair: &ReleaseKeyPair,
        model: &str,
        challenge: &[u8],
        broker_spki: &[u8],
        exporter: &[u8],
    ) -> ReleaseRequestV1 {
        let qualifying = release_qualifying_data(
            challenge,
            model,
            KEY_ID,
            &pair.public_key(),
            broker_spki,
            exporter,
        );
        ReleaseRequestV1 {
            blindfold_release: 1,
            challenge: hex::encode(challenge),
            model: model.into(),
            key_id: KEY_ID.into(),
            hpke_public_key: hex::encode(pair.public_key()),
            evidence: self.evidence(&qualifying),
        }
    }
}

pub const KEY_ID: &str = "00112233445566778899aabbccddeeff";

pub fn built_events(config: &[u8]) -> Vec<RuntimeEvent> {
    runtime_events(None, &[0xab; 32], config)
}

/// The owner's policy for `smollm2`: the build whose runtime is
/// `built_events(b"config")` followed by the model's event.
pub fn policy(allow_development: bool) -> VerifiedPolicy {
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

/// An ECDSA P-256 signing key, as `blindfold keygen` makes (owner and
/// publisher keys in tests).
pub struct SigningKey(EcdsaKeyPair);

impl SigningKey {
    pub fn new() -> SigningKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        SigningKey(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap())
    }
    pub fn public(&self) -> PublicKey {
        let p = self.0.public_key().as_ref();
        PublicKey::ecc(EccCurve::NistP256, &p[1..33], &p[33..65]).unwrap()
    }
    pub fn pem(&self) -> String {
        let der = self.public().to_spki_der().unwrap();
        pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &der).unwrap()
    }
    pub fn sign(&self, payload_type: &str, body: &[u8]) -> Envelope {
        let sig = self
            .0
            .sign(&SystemRandom::new(), &bundle::pae(payload_type, body))
            .unwrap();
        Envelope::typed(
            payload_type,
            body,
            &bundle::key_id(&self.public()).unwrap(),
            sig.as_ref(),
        )
    }
}
