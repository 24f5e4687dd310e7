//! Reports signed by a generated AMD-shaped PKI (test ARK → ASK "SEV-<line>"
//! → VCEK with hwID and TCB extensions, all ECDSA P-384), loaded with
//! `AmdRoots::from_chain_pem`: each policy check on its own. Never bundled.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::SystemTime;

use blindfold_snp::{AmdRoots, Error, ProductLine, SnpOptions, SnpVerifier};
use blindfold_testdata::snp::{
    self as generated, milan_pki, sign, Pki, CHIP_ID, GENOA_CPUID, MILAN_CPUID, TCB,
};
use rcgen::{KeyPair, PKCS_ECDSA_P384_SHA384};

fn pki(line: ProductLine, hw_id: &[u8], tcb: [u8; 4]) -> Pki {
    generated::pki(&line.to_string(), hw_id, tcb)
}

/// A report with these fields and report data 0xAB..., signed by `key`.
fn signed_report(key: &KeyPair, vmpl: u32, debug: bool, cpuid: (u8, u8, u8)) -> Vec<u8> {
    generated::signed_report(key, vmpl, debug, cpuid, &[0xAB; 64])
}

fn at() -> SystemTime {
    humantime::parse_rfc3339("2025-06-01T00:00:00Z").unwrap()
}

fn verify(pki: &Pki, line: ProductLine, report: &[u8], options: &SnpOptions) -> Result<(), Error> {
    let roots = AmdRoots::from_chain_pem(line, pki.chain_pem.as_bytes()).unwrap();
    SnpVerifier::new(&roots)
        .verify(report, &pki.vcek_der, at(), options)
        .map(|_| ())
}

#[test]
fn a_good_synthetic_report_verifies() {
    let pki = milan_pki();
    let report = signed_report(&pki.vcek_key, 0, false, MILAN_CPUID);
    let roots = AmdRoots::from_chain_pem(ProductLine::Milan, pki.chain_pem.as_bytes()).unwrap();
    for provider in blindfold_crypto::all_providers() {
        let verified = SnpVerifier::new(&roots)
            .with_provider(provider)
            .verify(&report, &pki.vcek_der, at(), &SnpOptions::default())
            .unwrap();
        assert_eq!(verified.product_line(), ProductLine::Milan);
        assert!(!verified.debug());
        assert_eq!(verified.report().report_data(), [0xAB; 64]);
        assert_eq!(verified.report().measurement(), [0xCD; 48]);
        assert_eq!(verified.chain().len(), 3);
    }
}

#[test]
fn a_debug_policy_is_refused_unless_allowed() {
    let pki = milan_pki();
    let report = signed_report(&pki.vcek_key, 0, true, MILAN_CPUID);
    let err = verify(&pki, ProductLine::Milan, &report, &SnpOptions::default()).unwrap_err();
    assert_eq!(err, Error::DebugNotAllowed);

    let roots = AmdRoots::from_chain_pem(ProductLine::Milan, pki.chain_pem.as_bytes()).unwrap();
    let options = SnpOptions {
        allow_debug: true,
        ..SnpOptions::default()
    };
    let verified = SnpVerifier::new(&roots)
        .verify(&report, &pki.vcek_der, at(), &options)
        .unwrap();
    assert!(verified.debug());
    assert!(verified.report().policy().debug_allowed());
}

#[test]
fn another_vmpl_is_a_vmpl_mismatch() {
    let pki = milan_pki();
    let report = signed_report(&pki.vcek_key, 1, false, MILAN_CPUID);
    let err = verify(&pki, ProductLine::Milan, &report, &SnpOptions::default()).unwrap_err();
    assert_eq!(
        err,
        Error::VmplMismatch {
            expected: 0,
            actual: 1
        }
    );
    let any_vmpl = SnpOptions {
        required_vmpl: None,
        ..SnpOptions::default()
    };
    verify(&pki, ProductLine::Milan, &report, &any_vmpl).unwrap();
}

#[test]
fn a_vcek_for_another_chip_is_a_chip_id_mismatch() {
    let pki = pki(ProductLine::Milan, &[0x17; 64], [TCB[0], TCB[1], TCB[6], TCB[7]]);
    let report = signed_report(&pki.vcek_key, 0, false, MILAN_CPUID);
    let err = verify(&pki, ProductLine::Milan, &report, &SnpOptions::default()).unwrap_err();
    assert!(matches!(err, Error::ChipIdMismatch { .. }), "{err:?}");
}

#[test]
fn a_masked_chip_id_is_reported_not_refused() {
    let pki = milan_pki();
    let mut r = signed_report(&pki.vcek_key, 0, false, MILAN_CPUID);
    r[0x1A0..0x1E0].fill(0);
    sign(&mut r, &pki.vcek_key);
    let roots = AmdRoots::from_chain_pem(ProductLine::Milan, pki.chain_pem.as_bytes()).unwrap();
    let verified = SnpVerifier::new(&roots)
        .verify(&r, &pki.vcek_der, at(), &SnpOptions::default())
        .unwrap();
    assert!(verified.chip_id_masked());
}

#[test]
fn a_vcek_for_another_tcb_is_a_tcb_mismatch() {
    let pki = pki(ProductLine::Milan, &CHIP_ID, [TCB[0], TCB[1], TCB[6] + 1, TCB[7]]);
    let report = signed_report(&pki.vcek_key, 0, false, MILAN_CPUID);
    let err = verify(&pki, ProductLine::Milan, &report, &SnpOptions::default()).unwrap_err();
    assert_eq!(
        err,
        Error::TcbMismatch {
            component: "snp",
            vcek: 9,
            report: 8
        }
    );
    // Microcode 200 takes a leading zero byte in DER.
    let pki = pki_with_ucode(200);
    let report = signed_report(&pki.vcek_key, 0, false, MILAN_CPUID);
    let err = verify(&pki, ProductLine::Milan, &report, &SnpOptions::default()).unwrap_err();
    assert_eq!(
        err,
        Error::TcbMismatch {
            component: "microcode",
            vcek: 200,
            report: 115
        }
    );
}

fn pki_with_ucode(ucode: u8) -> Pki {
    pki(ProductLine::Milan, &CHIP_ID, [TCB[0], TCB[1], TCB[6], ucode])
}

#[test]
fn a_genoa_vcek_under_milan_roots_is_a_chain_error() {
    let genoa = pki(ProductLine::Genoa, &CHIP_ID, [TCB[0], TCB[1], TCB[6], TCB[7]]);
    let milan = milan_pki();
    let report = signed_report(&genoa.vcek_key, 0, false, GENOA_CPUID);
    let roots = AmdRoots::from_chain_pem(ProductLine::Milan, milan.chain_pem.as_bytes()).unwrap();
    let err = SnpVerifier::new(&roots)
        .verify(&report, &genoa.vcek_der, at(), &SnpOptions::default())
        .unwrap_err();
    assert!(
        matches!(err, Error::Chain(blindfold_x509::Error::UnknownIssuer { .. })),
        "{err:?}"
    );
    // Under its own roots it verifies.
    verify(&genoa, ProductLine::Genoa, &report, &SnpOptions::default()).unwrap();
}

#[test]
fn a_vcek_from_another_milan_pki_is_a_chain_error() {
    let ours = milan_pki();
    let theirs = milan_pki();
    let report = signed_report(&theirs.vcek_key, 0, false, MILAN_CPUID);
    let roots = AmdRoots::from_chain_pem(ProductLine::Milan, ours.chain_pem.as_bytes()).unwrap();
    let err = SnpVerifier::new(&roots)
        .verify(&report, &theirs.vcek_der, at(), &SnpOptions::default())
        .unwrap_err();
    assert!(
        matches!(err, Error::Chain(blindfold_x509::Error::BadSignature { .. })),
        "{err:?}"
    );
}

#[test]
fn a_report_signed_by_another_key_is_a_bad_signature() {
    let pki = milan_pki();
    let other = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
    let report = signed_report(&other, 0, false, MILAN_CPUID);
    let err = verify(&pki, ProductLine::Milan, &report, &SnpOptions::default()).unwrap_err();
    assert_eq!(err, Error::BadReportSignature);
}
