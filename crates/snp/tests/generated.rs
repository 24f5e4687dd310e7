//! Reports signed by a generated AMD-shaped PKI (test ARK → ASK "SEV-<line>"
//! → VCEK with hwID and TCB extensions, all ECDSA P-384), loaded with
//! `AmdRoots::from_chain_pem`: each policy check on its own. Never bundled.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::SystemTime;

use blindfold_snp::{AmdRoots, Error, ProductLine, SnpOptions, SnpVerifier, REPORT_LEN, SIGNED_LEN};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P384_SHA384,
};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};

const CHIP_ID: [u8; 64] = [0x42; 64];
/// REPORTED_TCB in the Milan/Genoa layout: boot loader 3, TEE 0, SNP 8, microcode 115.
const TCB: [u8; 8] = [3, 0, 0, 0, 0, 0, 8, 115];
const MILAN_CPUID: (u8, u8, u8) = (0x19, 0x01, 0x01);
const GENOA_CPUID: (u8, u8, u8) = (0x19, 0x11, 0x01);

struct Pki {
    /// ASK and ARK, PEM.
    chain_pem: String,
    vcek_der: Vec<u8>,
    vcek_key: KeyPair,
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Advanced Micro Devices");
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = name(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = date_time_ymd(2024, 1, 1);
    p.not_after = date_time_ymd(2030, 1, 1);
    p
}

/// A DER INTEGER 0..=255, as AMD encodes each SPL extension.
fn der_u8(v: u8) -> Vec<u8> {
    if v < 0x80 {
        vec![0x02, 0x01, v]
    } else {
        vec![0x02, 0x02, 0x00, v]
    }
}

/// ARK-<line> → SEV-<line> → SEV-VCEK with hwID `hw_id` and TCB `tcb`
/// (boot loader, TEE, SNP, microcode).
fn pki(line: ProductLine, hw_id: &[u8], tcb: [u8; 4]) -> Pki {
    let ark_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
    let ark = ca_params(&format!("ARK-{line}")).self_signed(&ark_key).unwrap();
    let ask_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
    let ask = ca_params(&format!("SEV-{line}"))
        .signed_by(&ask_key, &ark, &ark_key)
        .unwrap();

    let vcek_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name = name("SEV-VCEK");
    p.not_before = date_time_ymd(2024, 1, 1);
    p.not_after = date_time_ymd(2030, 1, 1);
    let amd = |arc: &[u64]| [&[1, 3, 6, 1, 4, 1, 3704, 1][..], arc].concat();
    // AMD puts the 64 raw bytes of the chip id in hwID's extnValue.
    p.custom_extensions = vec![
        CustomExtension::from_oid_content(&amd(&[4]), hw_id.to_vec()),
        CustomExtension::from_oid_content(&amd(&[3, 1]), der_u8(tcb[0])),
        CustomExtension::from_oid_content(&amd(&[3, 2]), der_u8(tcb[1])),
        CustomExtension::from_oid_content(&amd(&[3, 3]), der_u8(tcb[2])),
        CustomExtension::from_oid_content(&amd(&[3, 8]), der_u8(tcb[3])),
    ];
    let vcek = p.signed_by(&vcek_key, &ask, &ask_key).unwrap();
    Pki {
        chain_pem: format!("{}{}", ask.pem(), ark.pem()),
        vcek_der: vcek.der().to_vec(),
        vcek_key,
    }
}

fn milan_pki() -> Pki {
    pki(ProductLine::Milan, &CHIP_ID, [TCB[0], TCB[1], TCB[6], TCB[7]])
}

/// A version 3 report with these fields, signed by `key`.
fn signed_report(key: &KeyPair, vmpl: u32, debug: bool, cpuid: (u8, u8, u8)) -> Vec<u8> {
    let mut r = vec![0u8; REPORT_LEN];
    r[0x00..0x04].copy_from_slice(&3u32.to_le_bytes());
    let policy: u64 = 0x3_0000 | if debug { 1 << 19 } else { 0 };
    r[0x08..0x10].copy_from_slice(&policy.to_le_bytes());
    r[0x30..0x34].copy_from_slice(&vmpl.to_le_bytes());
    r[0x34..0x38].copy_from_slice(&1u32.to_le_bytes());
    for offset in [0x38, 0x180, 0x1E0, 0x1F0] {
        r[offset..offset + 8].copy_from_slice(&TCB);
    }
    r[0x50..0x90].copy_from_slice(&[0xAB; 64]);
    r[0x90..0xC0].copy_from_slice(&[0xCD; 48]);
    (r[0x188], r[0x189], r[0x18A]) = cpuid;
    r[0x1A0..0x1E0].copy_from_slice(&CHIP_ID);
    sign(&mut r, key);
    r
}

/// Signs bytes 0..0x2A0 and stores r and s as 72-byte little-endian fields.
fn sign(r: &mut [u8], key: &KeyPair) {
    let rng = SystemRandom::new();
    let signer =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &key.serialize_der(), &rng).unwrap();
    let sig = signer.sign(&rng, &r[..SIGNED_LEN]).unwrap();
    let (sig_r, sig_s) = sig.as_ref().split_at(48);
    let mut le = |offset: usize, be: &[u8]| {
        r[offset..offset + 72].fill(0);
        for (i, b) in be.iter().rev().enumerate() {
            r[offset + i] = *b;
        }
    };
    le(0x2A0, sig_r);
    le(0x2E8, sig_s);
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
