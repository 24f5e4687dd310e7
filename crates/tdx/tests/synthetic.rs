//! Debug TDs have no real sample: quotes built here with a generated key
//! chain ("Test SGX Root" → "Test PCK", ECDSA P-256; never bundled), the QE
//! report signed by the PCK key and the quote by a generated attestation
//! key, exercise the debug check and show the others are not vacuous.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::SystemTime;

use blindfold_tdx::{Error, IntelRoots, TdQuote, TdxOptions, TdxVerifier, TD_QE_MRSIGNER};
use blindfold_testdata::tdx::{generated_key, td_quote, QuoteSpec, TestPki as Pki};
use ring::signature::EcdsaKeyPair;

fn pki() -> Pki {
    Pki::generate()
}

/// A v4 TDX quote with TD_ATTRIBUTES = `td_attributes`, signed through `pki`.
fn quote(pki: &Pki, td_attributes: u64) -> Vec<u8> {
    quote_with(pki, td_attributes, &pki.pck)
}

/// The same, with the QE report signed by `qe_signer`.
fn quote_with(pki: &Pki, td_attributes: u64, qe_signer: &EcdsaKeyPair) -> Vec<u8> {
    quote_from_qe(pki, td_attributes, qe_signer, TD_QE_MRSIGNER)
}

/// The same, from a quoting enclave whose MRSIGNER is `qe_mr_signer`.
fn quote_from_qe(pki: &Pki, td_attributes: u64, qe_signer: &EcdsaKeyPair, qe_mr_signer: [u8; 32]) -> Vec<u8> {
    td_quote(
        pki,
        &QuoteSpec {
            td_attributes,
            qe_signer,
            qe_mr_signer,
            ..QuoteSpec::new(pki)
        },
    )
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
        .verify(
            &q,
            SystemTime::now(),
            &TdxOptions {
                allow_debug: true,
                ..TdxOptions::default()
            },
        )
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
