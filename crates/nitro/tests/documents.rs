//! Every AWS Nitro sample in ../shared/testdata/aws-nitro verifies as its
//! expected.json says, at its own time; each check refuses its bad case.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use blindfold_nitro::{
    AttestationDocument, DocumentKind, Error, NitroOptions, NitroRoots, NitroVerifier, ROOT_G1_SHA256,
};
use serde_json::Value;

struct Sample {
    bytes: Vec<u8>,
    expected: Value,
}

impl Sample {
    fn at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.expected["timestamp_ms"].as_u64().unwrap())
    }
    fn nonce(&self) -> Option<Vec<u8>> {
        self.expected["nonce_hex"]
            .as_str()
            .map(|h| hex::decode(h).unwrap())
    }
    fn options(&self) -> NitroOptions {
        NitroOptions {
            nonce: self.nonce(),
            ..NitroOptions::default()
        }
    }
}

fn sample(dir: &str, file: &str) -> Sample {
    let base = blindfold_testdata::shared(&format!("aws-nitro/{dir}"));
    let raw = std::fs::read(base.join(file)).unwrap();
    let bytes = if file.ends_with(".b64") {
        base64::engine::general_purpose::STANDARD
            .decode(String::from_utf8(raw).unwrap().trim())
            .unwrap()
    } else {
        raw
    };
    let expected = serde_json::from_slice(&std::fs::read(base.join("expected.json")).unwrap()).unwrap();
    Sample { bytes, expected }
}

fn samples() -> Vec<(&'static str, Sample)> {
    vec![
        (
            "blocky",
            sample("blocky-enclave-nondebug", "nitro_attestation.b64"),
        ),
        (
            "evervault",
            sample("evervault-enclave-nondebug", "valid-attestation-doc-bytes"),
        ),
        (
            "evervault-debug",
            sample("evervault-enclave-debug", "debug-mode-attestation-doc-bytes"),
        ),
        (
            "vaportpm",
            sample("vaportpm-nitrotpm", "nitrotpm-attestation-doc.cbor"),
        ),
    ]
}

fn verifier() -> NitroVerifier {
    NitroVerifier::new(NitroRoots::bundled().unwrap())
}

fn hex_opt(v: &Value) -> Option<Vec<u8>> {
    v.as_str().map(|h| hex::decode(h).unwrap())
}

#[test]
fn every_sample_verifies_as_expected_at_its_time() {
    for (name, s) in samples() {
        let debug = s.expected["debug_mode"].as_bool().unwrap_or(false);
        for provider in blindfold_crypto::all_providers() {
            let options = NitroOptions {
                allow_debug: debug,
                ..s.options()
            };
            let v = verifier()
                .with_provider(provider)
                .verify(&s.bytes, s.at(), &options)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let doc = v.document();
            assert_eq!(doc.module_id, s.expected["module_id"].as_str().unwrap(), "{name}");
            assert_eq!(v.debug(), debug, "{name}");
            assert_eq!(doc.nonce, s.nonce(), "{name}");
            assert_eq!(doc.user_data, hex_opt(&s.expected["user_data_hex"]), "{name}");
            assert_eq!(doc.public_key, hex_opt(&s.expected["public_key_hex"]), "{name}");
            let chain = v.chain();
            assert_eq!(chain.last().unwrap().fingerprint, ROOT_G1_SHA256, "{name}");
            assert_eq!(
                chain[0].subject.replace(' ', ""),
                s.expected["leaf_subject"].as_str().unwrap().replace(' ', ""),
                "{name}"
            );
            let (field, kind) = if s.expected.get("nitrotpm_pcrs_sha384").is_some() {
                ("nitrotpm_pcrs_sha384", DocumentKind::NitroTpm)
            } else {
                ("pcrs_sha384", DocumentKind::Enclave)
            };
            assert_eq!(v.kind(), kind, "{name}");
            let expected_pcrs = s.expected[field].as_object().unwrap();
            assert_eq!(doc.pcrs.len(), expected_pcrs.len(), "{name}");
            for (i, hex) in expected_pcrs {
                let i: u32 = i.parse().unwrap();
                assert_eq!(hex::encode(doc.pcrs[&i]), hex.as_str().unwrap(), "{name} PCR {i}");
            }
        }
    }
}

#[test]
fn the_bundled_root_is_the_pinned_root_g1() {
    let base = blindfold_testdata::shared("aws-nitro/root-g1");
    let expected: Value =
        serde_json::from_slice(&std::fs::read(base.join("expected.json")).unwrap()).unwrap();
    assert_eq!(expected["root_cert_der_sha256"].as_str().unwrap(), ROOT_G1_SHA256);
    let shared_root =
        blindfold_x509::parse_certificates(&std::fs::read(base.join("root.pem")).unwrap()).unwrap();
    assert_eq!(shared_root[0].fingerprint_hex(), ROOT_G1_SHA256);
}

#[test]
fn a_flipped_bit_in_the_signature_is_refused() {
    for (name, s) in samples() {
        let mut bytes = s.bytes.clone();
        let last = bytes.len() - 1; // the signature is the last item
        bytes[last] ^= 0x01;
        let e = verifier().verify(
            &bytes,
            s.at(),
            &NitroOptions {
                allow_debug: true,
                ..s.options()
            },
        );
        assert!(matches!(e, Err(Error::BadSignature { .. })), "{name}: {e:?}");
    }
}

#[test]
fn a_flipped_bit_in_the_payload_is_refused() {
    for (name, s) in samples() {
        let doc = AttestationDocument::parse(&s.bytes).unwrap();
        // Flip a bit inside PCR 4's value: the CBOR stays well formed.
        let pcr = doc.pcrs[&4];
        let at = s.bytes.windows(48).position(|w| w == pcr).unwrap();
        let mut bytes = s.bytes.clone();
        bytes[at + 7] ^= 0x10;
        let e = verifier().verify(
            &bytes,
            s.at(),
            &NitroOptions {
                allow_debug: true,
                ..s.options()
            },
        );
        assert!(matches!(e, Err(Error::BadSignature { .. })), "{name}: {e:?}");
    }
}

#[test]
fn a_wrong_nonce_is_refused() {
    let s = sample("vaportpm-nitrotpm", "nitrotpm-attestation-doc.cbor");
    let mut nonce = s.nonce().unwrap();
    nonce[0] ^= 1;
    let e = verifier().verify(
        &s.bytes,
        s.at(),
        &NitroOptions {
            nonce: Some(nonce),
            ..s.options()
        },
    );
    assert!(matches!(e, Err(Error::NonceMismatch { .. })), "{e:?}");
    // A document without a nonce does not satisfy a caller that has one.
    let s = sample("evervault-enclave-debug", "debug-mode-attestation-doc-bytes");
    let options = NitroOptions {
        nonce: Some(vec![1; 32]),
        allow_debug: true,
        ..NitroOptions::default()
    };
    let e = verifier().verify(&s.bytes, s.at(), &options).unwrap_err();
    assert_eq!(
        e,
        Error::NonceMismatch {
            expected: "01".repeat(32),
            actual: "none".into()
        }
    );
}

#[test]
fn a_debug_enclave_is_refused_unless_allowed() {
    let s = sample("evervault-enclave-debug", "debug-mode-attestation-doc-bytes");
    let e = verifier().verify(&s.bytes, s.at(), &s.options()).unwrap_err();
    assert_eq!(e, Error::DebugEnclave);
    let v = verifier()
        .verify(
            &s.bytes,
            s.at(),
            &NitroOptions {
                allow_debug: true,
                ..s.options()
            },
        )
        .unwrap();
    assert!(v.debug());
}

#[test]
fn a_stale_document_is_refused_and_an_archived_one_replays_at_its_time() {
    let s = sample("evervault-enclave-nondebug", "valid-attestation-doc-bytes");
    let late = s.at() + Duration::from_secs(11 * 60);
    let e = verifier().verify(&s.bytes, late, &s.options()).unwrap_err();
    assert!(matches!(e, Error::Stale { .. }), "{e:?}");
    assert!(e.to_string().contains("10m"), "{e}");
    // A longer maximum age accepts it while the certificates are valid.
    let options = NitroOptions {
        max_age: Duration::from_secs(3600),
        ..s.options()
    };
    verifier().verify(&s.bytes, late, &options).unwrap();
    // Long after, the certificates have expired: the chain says so first.
    let e = verifier()
        .verify(&s.bytes, s.at() + Duration::from_secs(5 * 3600), &options)
        .unwrap_err();
    assert!(
        matches!(e, Error::Chain(blindfold_x509::Error::Expired { .. })),
        "{e:?}"
    );
    // A document from the future is refused too.
    let e = verifier()
        .verify(&s.bytes, s.at() - Duration::from_secs(3600), &s.options())
        .unwrap_err();
    assert!(
        matches!(e, Error::Chain(_) | Error::FromTheFuture { .. }),
        "{e:?}"
    );
}

#[test]
fn the_chain_cache_gives_the_same_verdicts() {
    let v = verifier().with_chain_cache(std::sync::Arc::new(blindfold_x509::ChainCache::new()));
    for (name, s) in samples() {
        let options = NitroOptions {
            allow_debug: true,
            ..s.options()
        };
        for _ in 0..2 {
            v.verify(&s.bytes, s.at(), &options)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let e = v.verify(&s.bytes, s.at() + Duration::from_secs(5 * 3600), &options);
        assert!(matches!(e, Err(Error::Chain(_))), "{name}: {e:?}");
    }
}

/// Re-encodes the outer COSE array with an indefinite length, and tagged.
#[test]
fn tagged_and_indefinite_envelopes_read_the_same() {
    for (name, s) in samples() {
        let options = NitroOptions {
            allow_debug: true,
            ..s.options()
        };
        assert_eq!(s.bytes[0], 0x84, "{name}: a definite 4-array");
        let mut indefinite = vec![0x9f];
        indefinite.extend_from_slice(&s.bytes[1..]);
        indefinite.push(0xff);
        let mut tagged = vec![0xd2];
        tagged.extend_from_slice(&s.bytes);
        let mut both = vec![0xd2];
        both.extend_from_slice(&indefinite);
        for bytes in [indefinite, tagged, both] {
            verifier()
                .verify(&bytes, s.at(), &options)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn malformed_documents_are_refused_with_what_is_wrong() {
    let s = sample("blocky-enclave-nondebug", "nitro_attestation.b64");
    let e = AttestationDocument::parse(&s.bytes[..s.bytes.len() - 10]).unwrap_err();
    assert!(matches!(e, Error::Cose(_)), "{e:?}");
    let mut trailing = s.bytes.clone();
    trailing.push(0);
    assert!(matches!(
        AttestationDocument::parse(&trailing),
        Err(Error::Cose(_))
    ));
    assert!(matches!(AttestationDocument::parse(b"{}"), Err(Error::Cose(_))));
    // A document whose protected header names ES256 is refused before anything else.
    let now = SystemTime::now();
    let (es256, _) = generated::document_with(coset::iana::Algorithm::ES256, 0, [7; 48], b"n", 0);
    let e = verifier()
        .verify(&es256, now, &NitroOptions::default())
        .unwrap_err();
    assert_eq!(e, Error::Algorithm("Assigned(ES256)".into()));
}

mod generated {
    //! A document signed by a chain the test makes
    //! (`blindfold_testdata::nitro`): it verifies under its own (test) root
    //! and is refused under Root-G1.
    use blindfold_testdata::nitro::{document as signed, DocumentSpec};
    use coset::iana;

    pub(super) fn document(
        pcr0: [u8; 48],
        nonce: &[u8],
        at_ms: u64,
    ) -> (Vec<u8>, blindfold_x509::Certificate) {
        document_with(iana::Algorithm::ES384, 0, pcr0, nonce, at_ms)
    }

    /// PCRs `first_pcr..16`, the first of them `pcr0`'s value if it is PCR 0.
    pub(super) fn document_with(
        algorithm: iana::Algorithm,
        first_pcr: u8,
        pcr0: [u8; 48],
        nonce: &[u8],
        at_ms: u64,
    ) -> (Vec<u8>, blindfold_x509::Certificate) {
        let (document, root) = signed(&DocumentSpec {
            algorithm,
            nitrotpm: false,
            pcrs: (first_pcr..16u8)
                .map(|i| (i, if i == 0 { pcr0.to_vec() } else { vec![0; 48] }))
                .collect(),
            nonce: Some(nonce.to_vec()),
            public_key: None,
            timestamp_ms: at_ms,
        });
        (document, blindfold_x509::Certificate::from_der(&root).unwrap())
    }
}

#[test]
fn a_chain_to_another_root_is_refused() {
    let now = SystemTime::now();
    let ms = now.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let (bytes, test_root) = generated::document([7; 48], b"n0nce", ms);
    let options = NitroOptions {
        nonce: Some(b"n0nce".to_vec()),
        ..NitroOptions::default()
    };
    // Under its own (test) root it verifies: the checks above are not vacuous.
    let v = NitroVerifier::new(&NitroRoots::from_certificates(vec![test_root]))
        .verify(&bytes, now, &options)
        .unwrap();
    assert_eq!(v.document().pcrs[&0], [7; 48]);
    // Under Root-G1 it does not, though it carries its root in the cabundle.
    let e = verifier().verify(&bytes, now, &options).unwrap_err();
    assert!(
        matches!(e, Error::Chain(blindfold_x509::Error::UnknownIssuer { .. })),
        "{e:?}"
    );
}

#[test]
fn an_empty_nonce_is_refused_not_matched_to_a_missing_one() {
    // The debug sample carries no nonce: an empty expected nonce must not
    // make it "fresh".
    let s = sample("evervault-enclave-debug", "debug-mode-attestation-doc-bytes");
    let options = NitroOptions {
        nonce: Some(Vec::new()),
        allow_debug: true,
        ..NitroOptions::default()
    };
    let e = verifier().verify(&s.bytes, s.at(), &options).unwrap_err();
    assert_eq!(e, Error::EmptyNonce);
}

#[test]
fn a_timestamp_after_the_year_9999_is_refused() {
    let now = SystemTime::now();
    let (doc, _) = generated::document([7; 48], b"n", u64::MAX / 2);
    let e = verifier()
        .verify(&doc, now, &NitroOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::Payload(ref m) if m.contains("9999")), "{e:?}");
}

#[test]
fn an_enclave_document_without_pcr_0_is_refused() {
    // Without PCR 0-2 a debug enclave could not be told from a production one.
    let (doc, _) = generated::document_with(coset::iana::Algorithm::ES384, 1, [0; 48], b"n", 0);
    let e = AttestationDocument::parse(&doc).unwrap_err();
    assert_eq!(e, Error::Payload("pcrs has no PCR 0".into()));
}
