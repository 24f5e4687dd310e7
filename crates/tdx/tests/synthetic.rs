//! Debug TDs have no real sample: quotes built here with a generated key
//! chain ("Test SGX Root" → "Test PCK", ECDSA P-256; never bundled), the QE
//! report signed by the PCK key and the quote by a generated attestation
//! key, exercise the debug check and show the others are not vacuous.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::SystemTime;

use blindfold_tdx::{Error, IntelRoots, TdQuote, TdxOptions, TdxVerifier, QE_REPORT_LEN, TD_REPORT_BODY_LEN};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};

struct Pki {
    root_pem: String,
    chain_pem: String,
    pck: EcdsaKeyPair,
}

fn pki() -> Pki {
    let alg = &rcgen::PKCS_ECDSA_P256_SHA256;
    let root_key = KeyPair::generate_for(alg).unwrap();
    let mut root = CertificateParams::new(vec![]).unwrap();
    root.distinguished_name.push(DnType::CommonName, "Test SGX Root");
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root_cert = root.self_signed(&root_key).unwrap();
    let leaf_key = KeyPair::generate_for(alg).unwrap();
    let mut leaf = CertificateParams::new(vec![]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "Test PCK");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let leaf_cert = leaf.signed_by(&leaf_key, &root_cert, &root_key).unwrap();
    let pck = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &leaf_key.serialize_der(),
        &SystemRandom::new(),
    )
    .unwrap();
    Pki {
        root_pem: root_cert.pem(),
        chain_pem: format!("{}{}", leaf_cert.pem(), root_cert.pem()),
        pck,
    }
}

fn sign(key: &EcdsaKeyPair, message: &[u8]) -> Vec<u8> {
    let sig = key.sign(&SystemRandom::new(), message).unwrap();
    assert_eq!(sig.as_ref().len(), 64);
    sig.as_ref().to_vec()
}

/// A v4 TDX quote with TD_ATTRIBUTES = `td_attributes`, signed through `pki`.
fn quote(pki: &Pki, td_attributes: u64) -> Vec<u8> {
    quote_with(pki, td_attributes, &pki.pck)
}

fn generated_key() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap()
}

/// The same, with the QE report signed by `qe_signer`.
fn quote_with(pki: &Pki, td_attributes: u64, qe_signer: &EcdsaKeyPair) -> Vec<u8> {
    quote_from_qe(pki, td_attributes, qe_signer, blindfold_tdx::TD_QE_MRSIGNER)
}

/// The same, from a quoting enclave whose MRSIGNER is `qe_mr_signer`.
fn quote_from_qe(pki: &Pki, td_attributes: u64, qe_signer: &EcdsaKeyPair, qe_mr_signer: [u8; 32]) -> Vec<u8> {
    let ak = generated_key();
    let ak_public = &ak.public_key().as_ref()[1..]; // drop the 0x04 of the uncompressed point
    assert_eq!(ak_public.len(), 64);

    let mut header = Vec::new();
    header.extend(4u16.to_le_bytes());
    header.extend(2u16.to_le_bytes());
    header.extend(0x81u32.to_le_bytes());
    header.extend([0u8; 4]);
    header.extend(hex::decode("939a7233f79c4ca9940a0db3957f0607").unwrap());
    header.extend([0u8; 20]);
    let mut body = vec![0u8; TD_REPORT_BODY_LEN];
    body[120..128].copy_from_slice(&td_attributes.to_le_bytes());
    body[136..184].fill(0x11); // MRTD
    body[520..584].fill(0x42); // report_data

    let auth_data: Vec<u8> = (0..32u8).collect();
    let mut qe_report = vec![0u8; QE_REPORT_LEN];
    // Intel's TD QE identity: ATTRIBUTES (INIT | MODE64BIT | PROVISIONKEY, XFRM), MRSIGNER, ISVPRODID 2.
    qe_report[48..64].copy_from_slice(&hex::decode("1500000000000000e700000000000000").unwrap());
    qe_report[128..160].copy_from_slice(&qe_mr_signer);
    qe_report[256..258].copy_from_slice(&2u16.to_le_bytes());
    let binding = ring::digest::digest(&ring::digest::SHA256, &[ak_public, &auth_data].concat());
    qe_report[320..352].copy_from_slice(binding.as_ref());

    let mut cert = Vec::new();
    cert.extend(&qe_report);
    cert.extend(sign(qe_signer, &qe_report));
    cert.extend(u16::try_from(auth_data.len()).unwrap().to_le_bytes());
    cert.extend(&auth_data);
    cert.extend(5u16.to_le_bytes());
    cert.extend(u32::try_from(pki.chain_pem.len()).unwrap().to_le_bytes());
    cert.extend(pki.chain_pem.as_bytes());

    let signed = [header, body].concat();
    let mut sig = Vec::new();
    sig.extend(sign(&ak, &signed));
    sig.extend(ak_public);
    sig.extend(6u16.to_le_bytes());
    sig.extend(u32::try_from(cert.len()).unwrap().to_le_bytes());
    sig.extend(cert);

    let mut out = signed;
    out.extend(u32::try_from(sig.len()).unwrap().to_le_bytes());
    out.extend(sig);
    out
}

fn verifier(pki: &Pki) -> TdxVerifier {
    TdxVerifier::new(&IntelRoots::from_pem(pki.root_pem.as_bytes()).unwrap())
}

#[test]
fn a_generated_non_debug_quote_verifies_under_its_own_root() {
    let pki = pki();
    let q = quote(&pki, 0);
    for provider in blindfold_crypto::all_providers() {
        let v = verifier(&pki)
            .with_provider(provider)
            .verify(&q, SystemTime::now(), &TdxOptions::default())
            .unwrap_or_else(|e| panic!("{provider:?}: {e}"));
        assert!(!v.debug());
        assert!(!v.tcb_status_checked());
        assert_eq!(v.fmspc(), None);
        assert_eq!(v.quote().body.mr_td, [0x11; 48]);
        assert_eq!(v.quote().body.report_data, [0x42; 64]);
        assert_eq!(v.quote().padding_len(), 0);
        assert_eq!(v.pck_chain().len(), 2);
        assert_eq!(v.pck_chain()[1].subject, "CN=Test SGX Root");
    }
}

#[test]
fn a_debug_td_is_refused_unless_allowed() {
    let pki = pki();
    let q = quote(&pki, 1);
    assert!(TdQuote::parse(&q).unwrap().body.td_attributes.debug());
    let e = verifier(&pki)
        .verify(&q, SystemTime::now(), &TdxOptions::default())
        .unwrap_err();
    assert_eq!(e, Error::DebugNotAllowed);

    let v = verifier(&pki)
        .verify(&q, SystemTime::now(), &TdxOptions { allow_debug: true })
        .unwrap();
    assert!(v.debug());
    assert_eq!(v.quote().body.td_attributes.0, 1);
}

#[test]
fn other_td_attribute_bits_are_not_debug() {
    let pki = pki();
    let q = quote(&pki, 1 << 28); // SEPT_VE_DISABLE
    let v = verifier(&pki)
        .verify(&q, SystemTime::now(), &TdxOptions::default())
        .unwrap();
    assert!(!v.debug());
}

#[test]
fn a_generated_quote_is_refused_under_intels_root() {
    let pki = pki();
    let e = TdxVerifier::new(IntelRoots::bundled())
        .verify(&quote(&pki, 0), SystemTime::now(), &TdxOptions::default())
        .unwrap_err();
    assert!(
        matches!(e, Error::PckChain(blindfold_x509::Error::UnknownIssuer { .. })),
        "{e:?}"
    );
}

#[test]
fn a_qe_report_not_signed_by_the_pck_key_is_refused() {
    let pki = pki();
    let q = quote_with(&pki, 0, &generated_key());
    let e = verifier(&pki)
        .verify(&q, SystemTime::now(), &TdxOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::BadQeReportSignature { .. }), "{e:?}");
}

#[test]
fn a_pck_signed_report_of_another_enclave_is_refused() {
    // The PCK signs reports of any enclave allowed the provisioning key: one
    // of the platform owner's own gets its attestation key certified so.
    let pki = pki();
    let quote = quote_from_qe(&pki, 0, &pki.pck, [0x55; 32]);
    let e = verifier(&pki)
        .verify(&quote, SystemTime::now(), &TdxOptions::default())
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::QeIdentity {
                field: "MRSIGNER",
                ..
            }
        ),
        "{e:?}"
    );
}
