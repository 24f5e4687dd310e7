//! Cloud evidence II, Azure confidential VMs: the SEV-SNP and TDX samples in
//! ../shared/testdata/azure-vtpm verify as their expected.json says, in both
//! trustee layouts (each re-encoded into the other); kinvolk's is refused
//! for want of a VCEK; each tampering fails with its specific error; the
//! launch measurement is appraised; chain caches give the same verdicts.
#![allow(clippy::unwrap_used, missing_docs)]
mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use blindfold_attest::{Error, Evidence, HardwareReport, Layout, Platform, TrustBasis, Verifier};
use blindfold_attest::{InputError, VerifyError};
use blindfold_crypto::HashAlg;
use blindfold_testdata::shared;
use blindfold_tpm::PcrIndex;
use common::*;
use serde_json::{json, Value};

#[test]
fn the_azure_snp_sample_verifies_in_both_layouts() {
    let exp = expected("azure-vtpm/trustee-az-snp-vtpm-v1/expected.json");
    let v1 = sample_json(SNP_V1);
    for (json, layout) in [
        (v1.clone(), Layout::TrusteeAzSnp),
        (reencode(&v1), Layout::TrusteeAzSnpLegacy),
    ] {
        let evidence = parse(&json);
        assert_eq!(evidence.layout, layout);
        assert_eq!(evidence.platform, Platform::AzureSnp);
        let v = Verifier::new()
            .verify(&evidence, &options(challenge(), rfc3339(SNP_AT)))
            .unwrap_or_else(|e| panic!("{layout:?}: {e}"));
        assert_eq!(v.trust_basis(), TrustBasis::Cvm);
        assert!(v.fresh());
        assert!(!v.debug());
        assert_eq!(
            v.pcrs().get(HashAlg::Sha256, PcrIndex(0)).unwrap().to_hex(),
            exp["expected_pcr00"].as_str().unwrap()
        );
        let Some(HardwareReport::Snp(report)) = v.hardware() else {
            panic!("no SNP report")
        };
        assert_eq!(report.product_line(), blindfold_snp::ProductLine::Milan);
        assert_eq!(report.report().vmpl(), 0);
        assert!(v.chain().unwrap()[0].subject.contains("SEV-VCEK"));
    }
    // Back again: the re-encoding loses nothing.
    assert_eq!(
        reencode(&reencode(&v1))["hcl_report"].as_str().unwrap(),
        v1["hcl_report"].as_str().unwrap().trim_end_matches('=')
    );
}

#[test]
fn the_azure_tdx_sample_verifies_in_both_layouts() {
    let v0 = sample_json(TDX_V0);
    for (json, layout) in [
        (v0.clone(), Layout::TrusteeAzTdxLegacy),
        (reencode(&v0), Layout::TrusteeAzTdx),
    ] {
        let evidence = parse(&json);
        assert_eq!(evidence.layout, layout);
        assert_eq!(evidence.platform, Platform::AzureTdx);
        let v = Verifier::new()
            .verify(&evidence, &options(challenge(), rfc3339(TDX_AT)))
            .unwrap_or_else(|e| panic!("{layout:?}: {e}"));
        assert_eq!(v.trust_basis(), TrustBasis::Cvm);
        assert!(v.fresh());
        let Some(hw @ HardwareReport::Tdx(quote)) = v.hardware() else {
            panic!("no TD quote")
        };
        assert!(!quote.tcb_status_checked());
        let blindfold_attest::HardwareSummary::Tdx(report) = blindfold_attest::HardwareSummary::of(hw) else {
            panic!("not a TDX summary")
        };
        assert!(report.tcb_status.starts_with("not checked"), "{report:?}");
        assert!(v
            .chain()
            .unwrap()
            .last()
            .unwrap()
            .subject
            .contains("Intel SGX Root CA"));
    }
}

#[test]
fn kinvolk_evidence_without_a_vcek_is_not_verified_and_says_why() {
    let evidence = Evidence::read(&shared(KINVOLK)).unwrap();
    assert_eq!(evidence.layout, Layout::KinvolkAzSnp);
    assert_eq!(evidence.platform, Platform::AzureSnp);
    let e = Verifier::new()
        .verify(&evidence, &options(challenge(), SystemTime::now()))
        .unwrap_err();
    assert_eq!(e, Error::Verify(VerifyError::NoVcek));
    assert!(e.to_string().contains("not verified"), "{e}");
}

/// Flips one bit of the HCL report of `json` at `offset` (in the decoded bytes).
#[test]
fn snp_tampering_fails_with_its_specific_error() {
    let v1 = sample_json(SNP_V1);
    let at = rfc3339(SNP_AT);
    let verify =
        |json: &Value, nonce: Option<Vec<u8>>| Verifier::new().verify(&parse(json), &options(nonce, at));
    // A bit in the SNP report (its measurement, at 32 + 0x90).
    let e = verify(&flip_hcl(&v1, 32 + 0x90), challenge()).unwrap_err();
    assert_eq!(
        e,
        Error::Verify(VerifyError::Snp(blindfold_snp::Error::BadReportSignature))
    );
    // A bit in the runtime data that HCLAkPub lives in (a JSON string's letter).
    let legacy = reencode(&v1);
    let hcl: Vec<u8> = legacy["hcl_report"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    let at_config = hcl.windows(16).position(|w| w == b"vm-configuration").unwrap();
    let e = verify(&flip_hcl(&v1, at_config + 1), challenge()).unwrap_err();
    assert!(
        matches!(e, Error::Verify(VerifyError::HclBinding { .. })),
        "{e:?}"
    );
    // A wrong nonce.
    let e = verify(&v1, Some(b"challengf".to_vec())).unwrap_err();
    assert!(
        matches!(e, Error::Verify(VerifyError::Quote { .. })) && e.to_string().contains("nonce"),
        "{e}"
    );
    // A flipped PCR.
    let mut pcr_flipped = v1.clone();
    let p = pcr_flipped["tpm_quote"]["pcrs"][3].as_str().unwrap().to_string();
    pcr_flipped["tpm_quote"]["pcrs"][3] =
        json!(format!("{}{}", if &p[..1] == "0" { "1" } else { "0" }, &p[1..]));
    let e = verify(&pcr_flipped, challenge()).unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::Quote { .. })), "{e:?}");
    // A VCEK that is not the evidence's own (the sample's separate vcek.pem).
    let other = std::fs::read(shared("azure-vtpm/trustee-az-snp-vtpm-v1/vcek.pem")).unwrap();
    let mut other_vcek = reencode(&v1);
    other_vcek["vcek"] = json!(String::from_utf8(other).unwrap());
    let e = verify(&other_vcek, challenge()).unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::Snp(_))), "{e:?}");
    // The VCEK missing altogether.
    let mut no_vcek = v1.clone();
    no_vcek.as_object_mut().unwrap().remove("vcek");
    assert_eq!(
        verify(&no_vcek, challenge()).unwrap_err(),
        Error::Verify(VerifyError::NoVcek)
    );
}

#[test]
fn tdx_tampering_fails_with_its_specific_error() {
    let v0 = sample_json(TDX_V0);
    let at = rfc3339(TDX_AT);
    let verify =
        |json: &Value, nonce: Option<Vec<u8>>| Verifier::new().verify(&parse(json), &options(nonce, at));
    // A bit in the TD quote's body (its MRTD).
    let mut quote_flipped = v0.clone();
    let b = quote_flipped["td_quote"][48 + 200].as_u64().unwrap();
    quote_flipped["td_quote"][48 + 200] = json!(b ^ 1);
    let e = verify(&quote_flipped, challenge()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Verify(VerifyError::Tdx(blindfold_tdx::Error::BadQuoteSignature { .. }))
        ),
        "{e:?}"
    );
    // A bit in the runtime data: the TD quote's report data no longer binds it.
    let hcl: Vec<u8> = v0["hcl_report"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    let at_config = hcl.windows(16).position(|w| w == b"vm-configuration").unwrap();
    let e = verify(&flip_hcl(&v0, at_config + 1), challenge()).unwrap_err();
    assert!(
        matches!(e, Error::Verify(VerifyError::HclBinding { .. })),
        "{e:?}"
    );
    // A wrong nonce.
    let e = verify(&v0, Some(b"other".to_vec())).unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::Quote { .. })), "{e:?}");
    // Long after the PCK certificate expired.
    let e = Verifier::new()
        .verify(
            &parse(&v0),
            &options(challenge(), rfc3339("2031-01-01T00:00:00Z")),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Verify(VerifyError::Tdx(blindfold_tdx::Error::PckChain(_)))
        ),
        "{e:?}"
    );
}

#[test]
fn asking_for_another_platform_is_refused() {
    let mut opts = options(challenge(), rfc3339(SNP_AT));
    opts.platform = Some(Platform::AzureTdx);
    let e = Verifier::new()
        .verify(&parse(&sample_json(SNP_V1)), &opts)
        .unwrap_err();
    assert!(
        matches!(e, Error::Verify(VerifyError::PlatformMismatch { .. })),
        "{e:?}"
    ); // Evidence whose layout names another platform than its report proves.
    let mut relabelled = parse(&sample_json(SNP_V1));
    relabelled.platform = Platform::AzureTdx;
    let e = Verifier::new()
        .verify(&relabelled, &options(challenge(), rfc3339(SNP_AT)))
        .unwrap_err();
    assert_eq!(
        e,
        Error::Verify(VerifyError::PlatformMismatch {
            expected: Platform::AzureTdx,
            actual: Platform::AzureSnp
        })
    );
    // A hardware platform without its report.
    let mut stripped = parse(&sample_json(SNP_V1));
    stripped.hardware = None;
    let e = Verifier::new()
        .verify(&stripped, &options(challenge(), rfc3339(SNP_AT)))
        .unwrap_err();
    assert!(matches!(e, Error::Input(InputError::EvidenceFormat(_))), "{e:?}");
}

#[test]
fn the_chain_cache_gives_the_same_verdicts() {
    let verifier = Verifier::new().with_chain_cache();
    for s in nitro_samples() {
        let expected = expected(s.expected);
        let evidence = Evidence::read(Path::new(&shared(s.path))).unwrap();
        let mut opts = options(nitro_nonce(&expected), nitro_time(&expected));
        opts.hardware.debug = blindfold_attest::DebugPlatform::Allowed;
        for _ in 0..2 {
            verifier.verify(&evidence, &opts).unwrap();
        }
        let late = options(
            nitro_nonce(&expected),
            nitro_time(&expected) + Duration::from_secs(6 * 3600),
        );
        assert!(verifier.verify(&evidence, &late).is_err());
    }
    // The SNP and TDX chains are cached too: a cached chain still fails
    // outside its validity, and a tampered report still fails its signature.
    for (json, at, expired) in [
        (sample_json(SNP_V1), SNP_AT, "2033-01-01T00:00:00Z"),
        (sample_json(TDX_V0), TDX_AT, "2031-01-01T00:00:00Z"),
    ] {
        let evidence = parse(&json);
        for _ in 0..2 {
            verifier
                .verify(&evidence, &options(challenge(), rfc3339(at)))
                .unwrap();
        }
        let e = verifier
            .verify(&evidence, &options(challenge(), rfc3339(expired)))
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Verify(VerifyError::Snp(_)) | Error::Verify(VerifyError::Tdx(_))
            ),
            "{e:?}"
        );
    }
    let e = verifier
        .verify(
            &parse(&flip_hcl(&sample_json(SNP_V1), 32 + 0x90)),
            &options(challenge(), rfc3339(SNP_AT)),
        )
        .unwrap_err();
    assert_eq!(
        e,
        Error::Verify(VerifyError::Snp(blindfold_snp::Error::BadReportSignature))
    );
}

#[test]
fn debug_and_unchecked_tcb_are_warnings_no_policy_lifts_debug() {
    use blindfold_attest::{appraise, AppraisalOptions, ClaimStatus, DevelopmentReference, Policy};
    let s = &nitro_samples()[1];
    let expected = expected(s.expected);
    let evidence = Evidence::read(&shared(s.path)).unwrap();
    let mut opts = options(None, nitro_time(&expected));
    opts.hardware.debug = blindfold_attest::DebugPlatform::Allowed;
    let v = Verifier::new().verify(&evidence, &opts).unwrap();
    let lenient = Policy::new("lenient.rego", "package blindfold\nstatus := \"affirming\"\n").unwrap();
    let a = appraise(
        &v,
        None,
        &AppraisalOptions {
            development_reference: DevelopmentReference::Refused,
            policy: Some(lenient),
        },
    )
    .unwrap();
    assert_eq!(a.claim("debug").unwrap().status, ClaimStatus::Warning);

    let tdx = parse(&sample_json(TDX_V0));
    let v = Verifier::new()
        .verify(&tdx, &options(challenge(), rfc3339(TDX_AT)))
        .unwrap();
    let a = appraise(&v, None, &AppraisalOptions::default()).unwrap();
    assert_eq!(a.claim("tcb").unwrap().status, ClaimStatus::Warning);
    assert!(a.claim("debug").is_none());
}

#[test]
fn the_cvm_launch_measurement_is_appraised_or_never_affirming() {
    use blindfold_attest::{
        appraise, AppraisalOptions, ClaimStatus, DevelopmentReference, Policy, ReferenceValues, SnpTcbFloor,
        MANDATORY_PCRS,
    };
    for (json, at) in [(sample_json(SNP_V1), SNP_AT), (sample_json(TDX_V0), TDX_AT)] {
        let v = Verifier::new()
            .verify(&parse(&json), &options(challenge(), rfc3339(at)))
            .unwrap();
        let measurement = match v.hardware().unwrap() {
            HardwareReport::Snp(r) => r.report().measurement().to_vec(),
            HardwareReport::Tdx(q) => q.quote().body.mr_td.to_vec(),
            HardwareReport::Nitro(_) => unreachable!(),
        };
        // Without a reference: a warning no policy lifts.
        let lenient = Policy::new("lenient.rego", "package blindfold\nstatus := \"affirming\"\n").unwrap();
        let a = appraise(
            &v,
            None,
            &AppraisalOptions {
                development_reference: DevelopmentReference::Refused,
                policy: Some(lenient),
            },
        )
        .unwrap();
        assert_eq!(
            a.claim("hardware-measurement").unwrap().status,
            ClaimStatus::Warning
        );
        // A reference with the PCRs this evidence quotes.
        let reference = |hardware: &[Vec<u8>]| {
            let pcrs: serde_json::Map<String, Value> = MANDATORY_PCRS
                .iter()
                .map(|i| {
                    let d = v.pcrs().get(HashAlg::Sha256, PcrIndex(*i)).unwrap();
                    (i.to_string(), json!([d.to_hex()]))
                })
                .collect();
            let file = json!({
                "blindfold_measurements": 1,
                "kind": "measured-boot",
                "pcrs": {"sha256": pcrs},
                "hardware_measurements": hardware.iter().map(hex::encode).collect::<Vec<_>>(),
            });
            ReferenceValues::parse(&serde_json::to_vec(&file).unwrap()).unwrap()
        };
        // Listed: affirming.
        let a = appraise(
            &v,
            Some(&reference(std::slice::from_ref(&measurement))),
            &AppraisalOptions::default(),
        )
        .unwrap();
        assert_eq!(
            a.claim("hardware-measurement").unwrap().status,
            ClaimStatus::Affirming,
            "{a:?}"
        );
        // TDX's unchecked TCB is a warning a lenient policy cannot lift,
        // even with everything else affirming.
        if matches!(v.hardware().unwrap(), HardwareReport::Tdx(_)) {
            let lenient =
                Policy::new("lenient.rego", "package blindfold\nstatus := \"affirming\"\n").unwrap();
            let a = appraise(
                &v,
                Some(&reference(std::slice::from_ref(&measurement))),
                &AppraisalOptions {
                    development_reference: DevelopmentReference::Refused,
                    policy: Some(lenient),
                },
            )
            .unwrap();
            assert_eq!(a.claim("tcb").unwrap().status, ClaimStatus::Warning);
            assert_eq!(a.status, Some(ClaimStatus::Warning), "{a:?}");
        }
        // Not listed: contraindicated, naming both.
        let mut other = measurement.clone();
        other[0] ^= 1;
        let a = appraise(&v, Some(&reference(&[other])), &AppraisalOptions::default()).unwrap();
        let claim = &a.claim("hardware-measurement").unwrap();
        assert_eq!(claim.status, ClaimStatus::Contraindicated);
        assert!(
            claim.detail.contains(&hex::encode(&measurement)),
            "{}",
            claim.detail
        );
        // SEV-SNP: the reported TCB against the reference's floor.
        if let HardwareReport::Snp(snp) = v.hardware().unwrap() {
            let got = snp.report().reported_tcb();
            let with_floor = |floor: SnpTcbFloor| {
                let mut r = reference(std::slice::from_ref(&measurement));
                r.snp_minimum_tcb = Some(floor);
                appraise(&v, Some(&r), &AppraisalOptions::default()).unwrap()
            };
            let at = SnpTcbFloor {
                bootloader: got.bootloader,
                tee: got.tee,
                snp: got.snp,
                microcode: got.microcode,
                fmc: got.fmc,
            };
            let a = with_floor(at);
            assert_eq!(a.claim("tcb").unwrap().status, ClaimStatus::Affirming, "{a:?}");
            let a = with_floor(SnpTcbFloor {
                snp: got.snp.saturating_add(1),
                ..at
            });
            let claim = a.claim("tcb").unwrap();
            assert_eq!(claim.status, ClaimStatus::Contraindicated);
            assert!(claim.detail.contains("snp"), "{}", claim.detail);
            // Without a floor: a warning, so never accepted.
            let a = appraise(
                &v,
                Some(&reference(std::slice::from_ref(&measurement))),
                &AppraisalOptions::default(),
            )
            .unwrap();
            assert_eq!(a.claim("tcb").unwrap().status, ClaimStatus::Warning);
            assert_eq!(a.status, Some(ClaimStatus::Warning));
        }
        // A reference without hardware measurements: never affirming.
        let a = appraise(&v, Some(&reference(&[])), &AppraisalOptions::default()).unwrap();
        assert_eq!(
            a.claim("hardware-measurement").unwrap().status,
            ClaimStatus::Warning
        );
        assert_ne!(a.status, Some(ClaimStatus::Affirming));
    }
}
