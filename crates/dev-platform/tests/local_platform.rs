//! The local platform against a real swtpm: the AK sits at 0x81000003,
//! its certificate in NV 0x01C101D0 chains to the platform CA and names the
//! AK's key, and a quote by that AK verifies.
#![allow(clippy::unwrap_used, missing_docs)]

use blindfold_attester::{AkAlgorithm, Tpm, AK_CERT_NV_INDEX};
use blindfold_crypto::{default_provider, HashAlg};
use blindfold_dev_platform::{init, start};
use blindfold_tpm::{AttestationKey, Freshness, QuoteVerifier, TpmPublic, TpmSignature};
use blindfold_x509::{parse_certificates, Certificate, ChainVerifier, TrustStore};

fn check(alg: AkAlgorithm) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("platform");
    let info = init(&dir, alg).unwrap();
    assert!(init(&dir, alg).is_err(), "init refuses an existing platform");

    let swtpm = start(&dir).unwrap();
    let mut tpm = Tpm::open(swtpm.tcti()).unwrap();
    assert_eq!(
        tpm.active_banks().unwrap(),
        vec![HashAlg::Sha256, HashAlg::Sha384]
    );
    let public = TpmPublic::parse_tpmt(&tpm.ak_public().unwrap()).unwrap();
    assert_eq!(tpm.ak_public().unwrap(), info.ak_public);

    let cert = Certificate::from_der(&tpm.read_nv(AK_CERT_NV_INDEX).unwrap()).unwrap();
    let ca = parse_certificates(&std::fs::read(&info.ca_pem).unwrap()).unwrap();
    let chain = ChainVerifier::new(TrustStore::new(ca))
        .verify(&cert, &[], std::time::SystemTime::now())
        .unwrap();
    assert_eq!(chain.leaf_key(), &public.key);

    let p = default_provider();
    tpm.extend(
        15,
        &[
            p.hash(HashAlg::Sha256, &[b"app"]),
            p.hash(HashAlg::Sha384, &[b"app"]),
        ],
    )
    .unwrap();
    let nonce = p.hash(HashAlg::Sha256, &[b"nonce"]).as_bytes().to_vec();
    let banks = [HashAlg::Sha256, HashAlg::Sha384];
    let pcrs: Vec<u32> = (0..16).collect();
    let quote = tpm.quote(&nonce, &banks, &pcrs).unwrap();
    let values = tpm.read_pcrs(&banks, &pcrs).unwrap();
    assert_eq!(values.len(), 32);
    let verified = QuoteVerifier::new(AttestationKey::from_tpm_public(&public).unwrap())
        .verify(
            &quote.message,
            &TpmSignature::parse(&quote.signature).unwrap(),
            &values,
            &Freshness::Nonce(nonce),
        )
        .unwrap();
    assert_eq!(verified.pcrs().len(), 32);
}

#[test]
fn rsa_ak_platform() {
    check(AkAlgorithm::Rsa2048);
}

#[test]
fn ecc_ak_platform() {
    check(AkAlgorithm::EccP256);
}
