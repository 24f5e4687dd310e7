//! Real SEV-SNP reports from Azure confidential VMs (the SNP report sits at
//! offset 32 of Azure's HCL report) under AMD's bundled Milan chain, and
//! each refusal with its specific error.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime};

use base64::Engine;
use blindfold_snp::{AmdRoots, Error, ProductLine, SnpOptions, SnpReport, SnpVerifier, REPORT_LEN};
use blindfold_testdata::shared;
use blindfold_x509::{parse_certificates, Certificate};

/// Offset of the SNP report inside Azure's HCL report.
const HCL_HEADER: usize = 32;

/// The v1 sample: (report, VCEK DER).
fn v1_sample() -> (Vec<u8>, Vec<u8>) {
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(shared("azure-vtpm/trustee-az-snp-vtpm-v1/evidence-v1.json")).unwrap(),
    )
    .unwrap();
    let b64 = |field: &str| {
        let text = json[field].as_str().unwrap().trim_end_matches('=');
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .unwrap()
    };
    let hcl = b64("hcl_report");
    let report = hcl[HCL_HEADER..HCL_HEADER + REPORT_LEN].to_vec();
    (report, b64("vcek"))
}

/// A time inside the VCEK's validity (it was issued 2025-01-28 for seven years).
fn inside(vcek_der: &[u8]) -> SystemTime {
    let (not_before, not_after) = Certificate::from_der(vcek_der).unwrap().validity();
    let at = not_before + Duration::from_secs(30 * 24 * 3600);
    assert!(at < not_after);
    at
}

fn verify(report: &[u8], vcek: &[u8], at: SystemTime, options: &SnpOptions) -> Result<(), Error> {
    SnpVerifier::new(AmdRoots::bundled())
        .verify(report, vcek, at, options)
        .map(|_| ())
}

#[test]
fn azure_v1_report_verifies_with_every_provider() {
    let (report, vcek) = v1_sample();
    for provider in blindfold_crypto::all_providers() {
        let verified = SnpVerifier::new(AmdRoots::bundled())
            .with_provider(provider)
            .verify(&report, &vcek, inside(&vcek), &SnpOptions::default())
            .unwrap_or_else(|e| panic!("{provider:?}: {e}"));
        assert_eq!(verified.product_line(), ProductLine::Milan);
        assert!(!verified.debug());
        assert!(!verified.chip_id_masked());
        let r = verified.report();
        assert_eq!(r.version(), 3);
        assert_eq!(r.vmpl(), 0);
        assert_eq!(r.signature_algo(), 1);
        assert!(!r.policy().debug_allowed());
        assert_eq!(r.policy().raw(), 0x3001f);
        let cpuid = r.cpuid().unwrap();
        assert_eq!((cpuid.family, cpuid.model, cpuid.stepping), (0x19, 0x01, 0x01));
        let tcb = r.reported_tcb();
        assert_eq!(
            (tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode),
            (4, 0, 0x18, 0xdb)
        );
        assert_eq!(tcb.fmc, None);
        assert_eq!(r.current_tcb(), tcb);
        assert_eq!(r.launch_tcb(), tcb);
        assert_eq!(r.committed_tcb(), tcb);
        assert_eq!(&r.chip_id()[..4], &[0x66, 0xa5, 0xa7, 0xb4]);
        let subjects: Vec<_> = verified.chain().iter().map(|c| c.subject.as_str()).collect();
        assert_eq!(subjects.len(), 3);
        assert!(subjects[0].contains("CN=SEV-VCEK"), "{subjects:?}");
        assert!(subjects[1].contains("CN=SEV-Milan"), "{subjects:?}");
        assert!(subjects[2].contains("CN=ARK-Milan"), "{subjects:?}");
        assert_eq!(verified.chain()[2].fingerprint, blindfold_snp::ARK_MILAN_SHA256);
    }
}

#[test]
fn flipped_bit_in_the_report_body_is_a_bad_signature() {
    let (mut report, vcek) = v1_sample();
    report[0x50] ^= 0x01; // REPORT_DATA
    let err = verify(&report, &vcek, inside(&vcek), &SnpOptions::default()).unwrap_err();
    assert_eq!(err, Error::BadReportSignature);
}

#[test]
fn flipped_bit_in_the_signature_is_a_bad_signature() {
    let (mut report, vcek) = v1_sample();
    report[0x2A0] ^= 0x01; // lowest byte of r
    let err = verify(&report, &vcek, inside(&vcek), &SnpOptions::default()).unwrap_err();
    assert_eq!(err, Error::BadReportSignature);
}

#[test]
fn nonzero_high_bytes_of_r_are_a_bad_signature() {
    let (mut report, vcek) = v1_sample();
    report[0x2A0 + 60] = 0x01; // r is 48 bytes in a 72-byte field
    let err = verify(&report, &vcek, inside(&vcek), &SnpOptions::default()).unwrap_err();
    assert_eq!(err, Error::BadReportSignature);
}

#[test]
fn a_milan_vcek_when_genoa_is_expected_is_a_product_line_mismatch() {
    let (report, vcek) = v1_sample();
    let options = SnpOptions {
        product_line: Some(ProductLine::Genoa),
        ..SnpOptions::default()
    };
    let err = verify(&report, &vcek, inside(&vcek), &options).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ProductLineMismatch {
                expected: ProductLine::Genoa,
                actual: ProductLine::Milan,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_report_whose_cpuid_is_genoa_is_a_product_line_mismatch() {
    // Changing the CPUID breaks the signature, but the product line is
    // checked first.
    let (mut report, vcek) = v1_sample();
    report[0x189] = 0x11;
    let err = verify(&report, &vcek, inside(&vcek), &SnpOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ProductLineMismatch {
                expected: ProductLine::Genoa,
                actual: ProductLine::Milan,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn verification_outside_the_vcek_validity_is_a_chain_error() {
    let (report, vcek) = v1_sample();
    let (not_before, not_after) = Certificate::from_der(&vcek).unwrap().validity();
    let day = Duration::from_secs(24 * 3600);
    let err = verify(&report, &vcek, not_after + day, &SnpOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::Chain(blindfold_x509::Error::Expired { .. })),
        "{err:?}"
    );
    let err = verify(&report, &vcek, not_before - day, &SnpOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::Chain(blindfold_x509::Error::NotYetValid { .. })),
        "{err:?}"
    );
}

#[test]
fn wrong_length_is_a_parse_error() {
    let (report, vcek) = v1_sample();
    for len in [0, REPORT_LEN - 1, REPORT_LEN + 1] {
        let mut bytes = report.clone();
        bytes.resize(len, 0);
        let err = verify(&bytes, &vcek, inside(&vcek), &SnpOptions::default()).unwrap_err();
        assert_eq!(
            err,
            Error::ReportLength {
                expected: REPORT_LEN,
                actual: len
            }
        );
    }
}

#[test]
fn unsupported_version_and_algorithm_are_refused() {
    let (mut report, vcek) = v1_sample();
    report[0] = 1;
    let err = SnpReport::parse(&report).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedVersion { actual: 1, .. }),
        "{err:?}"
    );
    report[0] = 3;
    report[0x34] = 2;
    let err = verify(&report, &vcek, inside(&vcek), &SnpOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedSignatureAlgorithm {
                expected: 1,
                actual: 2
            }
        ),
        "{err:?}"
    );
}

#[test]
fn the_vcek_shipped_beside_the_sample_is_another_chip_and_does_not_sign_it() {
    // vcek.pem in the sample folder is a real Milan VCEK, but not this
    // report's signer.
    let (report, _) = v1_sample();
    let other =
        parse_certificates(&std::fs::read(shared("azure-vtpm/trustee-az-snp-vtpm-v1/vcek.pem")).unwrap())
            .unwrap()
            .remove(0);
    let err = verify(&report, other.der(), inside(other.der()), &SnpOptions::default()).unwrap_err();
    assert_eq!(err, Error::BadReportSignature);
}

#[test]
fn azure_cvm_tooling_report_is_not_signed_by_its_bundled_vcek() {
    let hcl = std::fs::read(shared("azure-vtpm/azure-cvm-tooling-snp/hcl-report-snp.bin")).unwrap();
    let report = &hcl[HCL_HEADER..HCL_HEADER + REPORT_LEN];
    let parsed = SnpReport::parse(report).unwrap();
    assert_eq!(parsed.version(), 2);
    assert_eq!(parsed.cpuid(), None);
    let certs =
        parse_certificates(&std::fs::read(shared("azure-vtpm/azure-cvm-tooling-snp/certs.pem")).unwrap())
            .unwrap();
    let vcek = certs[0].der();
    let err = verify(report, vcek, inside(vcek), &SnpOptions::default()).unwrap_err();
    assert_eq!(err, Error::BadReportSignature);
}

#[test]
fn a_vlek_signer_is_not_a_vcek() {
    // The ASVK's own certificate, given as the "VCEK", names no VCEK.
    let (report, _) = v1_sample();
    let asvk = AmdRoots::bundled().asvk(ProductLine::Milan).unwrap();
    let err = verify(&report, asvk.der(), inside(asvk.der()), &SnpOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotAVcek { .. }), "{err:?}");
}
