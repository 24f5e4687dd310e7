//! AMD SEV-SNP certificates: RSASSA-PSS (SHA-384, MGF1-SHA-384, salt 48)
//! links from a real Milan VCEK through the ASK to the ARK.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::SystemTime;

use base64::Engine;
use blindfold_testdata::shared;
use blindfold_x509::{parse_certificates, Certificate, ChainVerifier, Error, TrustStore};

fn certs(rel: &str) -> Vec<Certificate> {
    parse_certificates(&std::fs::read(shared(rel)).unwrap()).unwrap()
}

fn at(rfc3339: &str) -> SystemTime {
    humantime::parse_rfc3339(rfc3339).unwrap()
}

/// The Milan store: ARK as root, ASK (and the VLEK signer) as intermediates.
fn milan() -> ChainVerifier {
    let mut chain = certs("amd-sev-snp/milan_ask_ark_asvk.pem");
    assert_eq!(chain.len(), 3);
    let ark = chain.remove(1);
    assert!(ark.subject().contains("CN=ARK-Milan"), "{}", ark.subject());
    ChainVerifier::new(TrustStore::new(vec![ark]).with_intermediates(chain))
}

fn vcek() -> Certificate {
    certs("azure-vtpm/trustee-az-snp-vtpm-v1/vcek.pem").remove(0)
}

#[test]
fn milan_vcek_verifies_under_ask_and_ark() {
    let vcek = vcek();
    assert!(vcek.subject().contains("CN=SEV-VCEK"), "{}", vcek.subject());
    let verified = milan().verify(&vcek, &[], at("2025-06-01T00:00:00Z")).unwrap();
    let subjects: Vec<_> = verified.path().iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(subjects.len(), 3);
    assert!(subjects[1].contains("CN=SEV-Milan"), "{subjects:?}");
    assert!(subjects[2].contains("CN=ARK-Milan"), "{subjects:?}");
}

#[test]
fn vcek_with_serial_zero_from_the_azure_evidence_parses_and_verifies() {
    // The VCEK inside evidence-v1.json has serial number 0, which some
    // parsers refuse; AMD issues it so, and the chain must still verify.
    let sample: serde_json::Value = serde_json::from_slice(
        &std::fs::read(shared("azure-vtpm/trustee-az-snp-vtpm-v1/evidence-v1.json")).unwrap(),
    )
    .unwrap();
    let b64 = sample["vcek"].as_str().unwrap();
    let der = base64::engine::general_purpose::URL_SAFE.decode(b64).unwrap();
    let vcek = Certificate::from_der(&der).unwrap();
    milan().verify(&vcek, &[], at("2026-01-01T00:00:00Z")).unwrap();
}

#[test]
fn flipped_bit_in_the_pss_signature_is_refused() {
    let vcek = vcek();
    let mut der = vcek.der().to_vec();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let tampered = Certificate::from_der(&der).unwrap();
    let err = milan()
        .verify(&tampered, &[], at("2025-06-01T00:00:00Z"))
        .unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err:?}");
}

#[test]
fn pss_with_other_salt_length_is_unsupported() {
    // Rewrite the salt length (48 = 0x30) in both AlgorithmIdentifiers.
    let vcek = vcek();
    let mut der = vcek.der().to_vec();
    let pattern = [0xA2, 0x03, 0x02, 0x01, 0x30];
    let mut hits = 0;
    for i in 0..der.len() - pattern.len() {
        if der[i..i + pattern.len()] == pattern {
            der[i + 4] = 0x20;
            hits += 1;
        }
    }
    assert_eq!(hits, 2);
    let tampered = Certificate::from_der(&der).unwrap();
    let err = milan()
        .verify(&tampered, &[], at("2025-06-01T00:00:00Z"))
        .unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedSignatureAlgorithm { .. }),
        "{err:?}"
    );
}
