//! Real cloud chains: Azure Trusted Launch and GCP, at the stated times,
//! and each refusal with its specific error.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime};

use blindfold_testdata::shared;
use blindfold_x509::{parse_certificates, Certificate, ChainVerifier, Error, TrustStore};

fn certs(rel: &str) -> Vec<Certificate> {
    parse_certificates(&std::fs::read(shared(rel)).unwrap()).unwrap()
}

fn at(rfc3339: &str) -> SystemTime {
    humantime::parse_rfc3339(rfc3339).unwrap()
}

fn azure() -> (ChainVerifier, Vec<Certificate>) {
    let root = certs("azure-vtpm/blindllama-trusted-launch/azure_vtpm_root_ca_2023.crt");
    let inter = certs("azure-vtpm/blindllama-trusted-launch/global_virtual_tpm_ca_01.crt");
    let sample: serde_json::Value = serde_json::from_slice(
        &std::fs::read(shared(
            "azure-vtpm/blindllama-trusted-launch/sample_azure_attestation.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let chain: Vec<Certificate> = sample["cert_chain"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| parse_certificates(p.as_str().unwrap().as_bytes()).unwrap())
        .collect();
    (
        ChainVerifier::new(TrustStore::new(root).with_intermediates(inter)),
        chain,
    )
}

#[test]
fn azure_trusted_launch_chain_verifies_in_its_validity_window() {
    let (v, chain) = azure();
    let verified = v.verify(&chain[0], &[], at("2024-06-01T00:00:00Z")).unwrap();
    assert_eq!(verified.path().len(), 3);
    assert_eq!(
        verified.path()[0].fingerprint,
        "3f1165ffe35bc713ac35a86c8668d1cd1e1a9a19a8c1dcbf416b14a72db26e64"
    );
    assert_eq!(
        verified.path()[2].fingerprint,
        "e6c596b17f8ffefba5c300f714cfb1260c6028704ecf7becc4ab5018efb00e95"
    );
}

#[test]
fn azure_chain_is_expired_now() {
    let (v, chain) = azure();
    let err = v.verify(&chain[0], &[], SystemTime::now()).unwrap_err();
    assert!(matches!(err, Error::Expired { .. }), "{err:?}");
}

#[test]
fn clock_skew_is_small_and_bounded() {
    let (v, chain) = azure();
    let (_, not_after) = chain[0].validity();
    v.verify(&chain[0], &[], not_after + Duration::from_secs(60))
        .unwrap();
    let err = v
        .verify(&chain[0], &[], not_after + Duration::from_secs(3600))
        .unwrap_err();
    assert!(matches!(err, Error::Expired { .. }));
}

#[test]
fn a_chain_to_another_root_is_refused() {
    let (_, chain) = azure();
    let google = certs("gcp-vtpm/google-ca-certs/gcp_ek_ak_ca_root.crt");
    let v = ChainVerifier::new(TrustStore::new(google));
    let err = v
        .verify(&chain[0], &chain[1..], at("2024-06-01T00:00:00Z"))
        .unwrap_err();
    assert!(matches!(err, Error::UnknownIssuer { .. }), "{err:?}");
}

#[test]
fn an_intermediate_presented_as_root_does_not_count_unless_trusted() {
    // Presenting the root inside the evidence does not make it trusted.
    let (_, chain) = azure();
    let v = ChainVerifier::new(TrustStore::new(vec![]));
    let err = v
        .verify(&chain[0], &chain[1..], at("2024-06-01T00:00:00Z"))
        .unwrap_err();
    assert!(matches!(err, Error::UnknownIssuer { .. }), "{err:?}");
}

#[test]
fn a_tampered_leaf_signature_is_refused() {
    let (v, chain) = azure();
    let mut der = chain[0].der().to_vec();
    let n = der.len();
    der[n - 5] ^= 0x01;
    let leaf = Certificate::from_der(&der).unwrap();
    let err = v.verify(&leaf, &[], at("2024-06-01T00:00:00Z")).unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err:?}");
}

#[test]
fn gcp_ak_certificates_chain_to_the_ek_ak_root() {
    let root = certs("gcp-vtpm/google-ca-certs/gcp_ek_ak_ca_root.crt");
    let inter = certs("gcp-vtpm/google-ca-certs/gcp_ek_ak_ca_intermediate_v3.crt");
    let v = ChainVerifier::new(TrustStore::new(root).with_intermediates(inter));
    for f in ["pca_tpm_rsa_sign_cert.pem", "pca_tpm_ecc_sign_cert.pem"] {
        let leaf = certs(&format!("gcp-vtpm/gce-ek-ak-certs-pca/{f}"));
        let (nb, _) = leaf[0].validity();
        v.verify(&leaf[0], &[], nb + Duration::from_secs(86400))
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

#[test]
fn an_ek_certificate_cannot_sign_as_a_leaf() {
    // The GCP EK (encryption) certificate's key usage lacks digitalSignature.
    let root = certs("gcp-vtpm/google-ca-certs/gcp_ek_ak_ca_root.crt");
    let inter = certs("gcp-vtpm/google-ca-certs/gcp_ek_ak_ca_intermediate_v3.crt");
    let v = ChainVerifier::new(TrustStore::new(root).with_intermediates(inter));
    let ek = certs("gcp-vtpm/gce-ek-ak-certs-pca/pca_tpm_rsa_enc_cert.pem");
    let (nb, _) = ek[0].validity();
    let err = v
        .verify(&ek[0], &[], nb + Duration::from_secs(86400))
        .unwrap_err();
    assert!(matches!(err, Error::LeafCannotSign { .. }), "{err:?}");
}

#[test]
fn too_many_presented_intermediates_are_refused_before_any_search() {
    let (v, chain) = azure();
    let many: Vec<Certificate> = std::iter::repeat(chain[1].clone())
        .take(blindfold_x509::MAX_PRESENTED + 1)
        .collect();
    let err = v
        .verify(&chain[0], &many, at("2024-06-01T00:00:00Z"))
        .unwrap_err();
    assert!(matches!(err, Error::TooManyIntermediates { .. }), "{err:?}");
}

#[test]
fn the_chain_cache_is_bounded_and_rechecks_validity() {
    use blindfold_x509::ChainCache;
    let (v, chain) = azure();
    let when = at("2024-06-01T00:00:00Z");
    let cache = ChainCache::with_capacity(2);
    // Each different presented list is a different entry: evidence could
    // vary it endlessly, so the cache must not grow with it.
    for presented in [&chain[1..2], &chain[1..], &[][..], &chain[2..]] {
        let verified = cache.verify(&v, &chain[0], presented, when).unwrap();
        assert_eq!(verified.path().len(), 3);
        assert!(cache.len() <= 2, "{}", cache.len());
    }
    assert!(!cache.is_empty());
    // A cached chain is still refused outside its validity.
    let e = cache
        .verify(&v, &chain[0], &chain[2..], at("2026-01-01T00:00:00Z"))
        .unwrap_err();
    assert!(matches!(e, Error::Expired { .. }), "{e:?}");
}
