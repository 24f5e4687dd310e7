//! Reference values of all three formats round-trip and appraise; mandatory
//! PCRs, development references, the BlindLlama legacy mode and Rego
//! policies behave as documented, on real samples.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::SystemTime;

use blindfold_attest::{
    appraise, AcceptPolicy, AppraisalOptions, ClaimStatus, DevelopmentReference, Error, Evidence, Platform,
    Policy, ReferenceFormat, ReferenceKind, ReferenceValues, Refusal, TrustBasis, VerifiedEvidence, Verifier,
    VerifyOptions,
};
use blindfold_attest::{AppraisalError, InputError};
use blindfold_testdata::shared;
use blindfold_tpm::Freshness;
use serde_json::{json, Value};

fn verified_gcp() -> VerifiedEvidence {
    let want: Value =
        serde_json::from_slice(&std::fs::read(shared("gcp-vtpm/vaportpm-gcp-amd/expected.json")).unwrap())
            .unwrap();
    let e = Evidence::read(&shared("gcp-vtpm/vaportpm-gcp-amd/test-gcp-amd-fixture.json")).unwrap();
    let opts = VerifyOptions {
        platform: None,
        freshness: Some(Freshness::Nonce(
            hex::decode(want["nonce_extraData_hex"].as_str().unwrap()).unwrap(),
        )),
        at: SystemTime::now(),
        tpm_anchor: None,
        ak_intermediates: Vec::new(),
        replay: Default::default(),
        hardware: Default::default(),
    };
    Verifier::new().verify(&e, &opts).unwrap()
}

fn verified_azure() -> VerifiedEvidence {
    let e = Evidence::read(&shared(
        "azure-vtpm/blindllama-trusted-launch/sample_azure_attestation.json",
    ))
    .unwrap();
    let opts = VerifyOptions {
        platform: None,
        freshness: Some(Freshness::DangerNotChecked),
        at: humantime::parse_rfc3339("2024-06-01T00:00:00Z").unwrap(),
        tpm_anchor: None,
        ak_intermediates: Vec::new(),
        replay: Default::default(),
        hardware: Default::default(),
    };
    Verifier::new().verify(&e, &opts).unwrap()
}

/// A Blindfold measured-boot reference listing every sha256 PCR of `v`.
fn blindfold_reference(v: &VerifiedEvidence) -> Value {
    let pcrs: serde_json::Map<String, Value> = v
        .pcrs()
        .bank(blindfold_crypto::HashAlg::Sha256)
        .unwrap()
        .iter()
        .map(|(i, d)| (i.0.to_string(), json!([d.to_hex()])))
        .collect();
    json!({"blindfold_measurements": 1, "kind": "measured-boot", "pcrs": {"sha256": pcrs}})
}

fn parse(v: &Value) -> Result<ReferenceValues, Error> {
    ReferenceValues::parse(v.to_string().as_bytes())
}

#[test]
fn a_complete_blindfold_reference_affirms() {
    let v = verified_gcp();
    let r = parse(&blindfold_reference(&v)).unwrap();
    let a = appraise(&v, Some(&r), &AppraisalOptions::default()).unwrap();
    assert_eq!(a.status, Some(ClaimStatus::Affirming), "{:?}", a.claims);
    assert_eq!(a.claim("pcr.sha256.4").unwrap().status, ClaimStatus::Affirming);
}

#[test]
fn a_changed_value_is_contraindicated_and_named() {
    let v = verified_gcp();
    let mut j = blindfold_reference(&v);
    j["pcrs"]["sha256"]["4"] = json!(["3d45".repeat(16)]);
    let a = appraise(&v, Some(&parse(&j).unwrap()), &AppraisalOptions::default()).unwrap();
    assert_eq!(a.status, Some(ClaimStatus::Contraindicated));
    let detail = &a.claim("pcr.sha256.4").unwrap().detail;
    assert!(
        detail.starts_with(&format!(
            "PCR 4 (sha256): expected {}, got a274e8ca",
            "3d45".repeat(16)
        )),
        "{detail}"
    );
}

#[test]
fn allowed_sets_and_revocation() {
    let v = verified_gcp();
    let mut j = blindfold_reference(&v);
    let current = j["pcrs"]["sha256"]["4"][0].clone();
    j["pcrs"]["sha256"]["4"] = json!(["11".repeat(32), current.clone()]);
    let a = appraise(&v, Some(&parse(&j).unwrap()), &AppraisalOptions::default()).unwrap();
    assert_eq!(
        a.status,
        Some(ClaimStatus::Affirming),
        "a new build beside the old"
    );
    j["revoked"] = json!({"sha256": {"4": [current]}});
    let a = appraise(&v, Some(&parse(&j).unwrap()), &AppraisalOptions::default()).unwrap();
    assert_eq!(
        a.claim("pcr.sha256.4").unwrap().status,
        ClaimStatus::Contraindicated
    );
    assert!(a.claim("pcr.sha256.4").unwrap().detail.contains("revoked"));
}

#[test]
fn a_measured_boot_reference_missing_a_mandatory_pcr_is_rejected() {
    let v = verified_gcp();
    let mut j = blindfold_reference(&v);
    j["pcrs"]["sha256"].as_object_mut().unwrap().remove("9");
    let err = parse(&j).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Appraisal(AppraisalError::MissingMandatoryPcr {
                index: blindfold_tpm::PcrIndex(9),
                ..
            })
        ),
        "{err:?}"
    );
}

/// The hole an adversarial review found: a development reference appraises
/// PCR 15 alone, and any cloud VM's owner can extend PCR 15 with the
/// published runtime events. A stock GCP quote whose PCR 15 matches is
/// refused outright, opt-in or not; no appraisal comes back to accept.
#[test]
fn a_development_reference_is_refused_for_cloud_evidence_even_when_allowed() {
    let v = verified_gcp();
    let p15 = v
        .pcrs()
        .get(blindfold_crypto::HashAlg::Sha256, blindfold_tpm::PcrIndex(15))
        .unwrap()
        .to_hex();
    let j = json!({"blindfold_measurements": 1, "kind": "development", "pcrs": {"sha256": {"15": [p15]}}});
    let r = parse(&j).unwrap();
    assert_eq!(r.kind, ReferenceKind::Development);
    for development_reference in [DevelopmentReference::Refused, DevelopmentReference::Allowed] {
        let err = appraise(
            &v,
            Some(&r),
            &AppraisalOptions {
                development_reference,
                policy: None,
            },
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::Appraisal(AppraisalError::DevelopmentReferenceOnPlatform {
                platform: Platform::GcpVtpm
            })
        );
    }
}

#[test]
fn the_acceptance_rule_checks_platform_trust_basis_and_every_claim() {
    let v = verified_gcp();
    let r = parse(&blindfold_reference(&v)).unwrap();
    let a = appraise(&v, Some(&r), &AppraisalOptions::default()).unwrap();
    assert_eq!(
        (a.platform, a.trust_basis),
        (Platform::GcpVtpm, TrustBasis::Hypervisor)
    );
    a.accept(&AcceptPolicy::default()).unwrap();
    a.accept(&AcceptPolicy {
        platforms: vec![Platform::GcpVtpm, Platform::AzureVtpm],
        min_trust_basis: TrustBasis::Hypervisor,
        ..AcceptPolicy::default()
    })
    .unwrap();

    let only_snp = AcceptPolicy {
        platforms: vec![Platform::AzureSnp],
        ..AcceptPolicy::default()
    };
    assert_eq!(
        a.accept(&only_snp).unwrap_err(),
        Refusal::Platform {
            platform: Platform::GcpVtpm,
            accepted: vec![Platform::AzureSnp]
        }
    );
    let cvm = AcceptPolicy {
        min_trust_basis: TrustBasis::Cvm,
        ..AcceptPolicy::default()
    };
    assert_eq!(
        a.accept(&cvm).unwrap_err(),
        Refusal::TrustBasis {
            got: TrustBasis::Hypervisor,
            minimum: TrustBasis::Cvm
        }
    );

    // A warning is never acted on, whatever the opt-ins.
    let unappraised = appraise(&v, None, &AppraisalOptions::default()).unwrap();
    assert_eq!(
        unappraised.accept(&AcceptPolicy::development()).unwrap_err(),
        Refusal::NotAppraised
    );
    let partial = json!({"Measurements": {"HashAlgorithm": "SHA256",
        "PCR0": v.pcrs().get(blindfold_crypto::HashAlg::Sha256, blindfold_tpm::PcrIndex(0)).unwrap().to_hex()}});
    let a = appraise(&v, Some(&parse(&partial).unwrap()), &AppraisalOptions::default()).unwrap();
    match a.accept(&AcceptPolicy::development()).unwrap_err() {
        Refusal::Status { status, reasons } => {
            assert_eq!(status, ClaimStatus::Warning);
            assert!(reasons[0].starts_with("pcrs-not-appraised: "), "{reasons:?}");
        }
        other => panic!("{other:?}"),
    }
}

/// A reference that names launch measurements is never satisfied by
/// evidence that has no hardware report to compare them with.
#[test]
fn hardware_measurements_need_a_hardware_report() {
    let v = verified_gcp();
    let mut j = blindfold_reference(&v);
    j["hardware_measurements"] = json!(["ab".repeat(48)]);
    let a = appraise(&v, Some(&parse(&j).unwrap()), &AppraisalOptions::default()).unwrap();
    assert_eq!(a.status, Some(ClaimStatus::Contraindicated));
    let claim = a.claim("hardware-measurement").unwrap();
    assert_eq!(claim.status, ClaimStatus::Contraindicated);
    assert!(
        claim.detail.contains("no SEV-SNP or TDX report"),
        "{}",
        claim.detail
    );
}

#[test]
fn all_three_formats_round_trip() {
    let v = verified_gcp();
    let blindfold = parse(&blindfold_reference(&v)).unwrap();
    let blindllama = ReferenceValues::parse(
        &std::fs::read(shared(
            "azure-vtpm/blindllama-trusted-launch/measurements_azure.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let nitro = parse(&json!({"Measurements": {"HashAlgorithm": "SHA384", "PCR4": "ab".repeat(48), "PCR7": "cd".repeat(48), "PCR12": "ef".repeat(48)}})).unwrap();
    assert_eq!(nitro.format, ReferenceFormat::NitroTpm);
    assert_eq!(nitro.pcrs.len(), 3);
    for r in [blindfold, blindllama, nitro] {
        let again = parse(&serde_json::to_value(r.to_document().unwrap()).unwrap()).unwrap();
        assert_eq!(again, r, "{:?}", r.format);
    }
}

#[test]
fn foreign_references_say_what_they_do_not_appraise() {
    let v = verified_azure();
    let mut r = ReferenceValues::parse(
        &std::fs::read(shared(
            "azure-vtpm/blindllama-trusted-launch/measurements_azure.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let a = appraise(&v, Some(&r), &AppraisalOptions::default()).unwrap();
    assert_eq!(a.status, Some(ClaimStatus::Warning));
    assert!(a
        .claim("pcrs-not-appraised")
        .unwrap()
        .detail
        .contains("sha256:15"));
    // BlindLlama's upstream negative test: PCR 0 expected as zeros.
    let zeros = json!({"measurements": {"0": "00".repeat(32)}});
    r.merge(parse(&zeros).unwrap()).unwrap();
    let mut only_zero = parse(&zeros).unwrap();
    only_zero.format = ReferenceFormat::BlindLlama;
    let a = appraise(&v, Some(&only_zero), &AppraisalOptions::default()).unwrap();
    assert_eq!(a.status, Some(ClaimStatus::Contraindicated));
}

#[test]
fn blindllama_app_disk_root_hash_is_appraised() {
    let v = verified_azure();
    let root = hex::encode(v.blindllama_app_disk_root_hash().unwrap());
    let ok = parse(&json!({"application_disk_roothash": root})).unwrap();
    let a = appraise(&v, Some(&ok), &AppraisalOptions::default()).unwrap();
    assert_eq!(
        a.claim("app-disk-root-hash").unwrap().status,
        ClaimStatus::Affirming
    );
    let bad = parse(&json!({"application_disk_roothash": "00".repeat(32)})).unwrap();
    let a = appraise(&v, Some(&bad), &AppraisalOptions::default()).unwrap();
    assert_eq!(
        a.claim("app-disk-root-hash").unwrap().status,
        ClaimStatus::Contraindicated
    );
}

#[test]
fn the_blindllama_legacy_mode_is_never_affirming() {
    let v = verified_azure();
    let r = ReferenceValues::parse(
        &std::fs::read(shared(
            "azure-vtpm/blindllama-trusted-launch/measurements_azure.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let lenient = Policy::new("lenient.rego", "package blindfold\nstatus := \"affirming\"\n").unwrap();
    let a = appraise(
        &v,
        Some(&r),
        &AppraisalOptions {
            development_reference: DevelopmentReference::Refused,
            policy: Some(lenient),
        },
    )
    .unwrap();
    assert_eq!(a.status, Some(ClaimStatus::Warning), "{:?}", a.claims);
    assert_eq!(a.claim("tls-binding").unwrap().status, ClaimStatus::Warning);
}

#[test]
fn a_rego_policy_can_contraindicate_an_affirming_result() {
    let v = verified_gcp();
    let r = parse(&blindfold_reference(&v)).unwrap();
    let strict = Policy::new(
        "strict.rego",
        r#"package blindfold
# PCR 14 holds the shim's MOK state: this deployment refuses any value but zero.
default status := "affirming"
status := "contraindicated" if { input.pcrs.sha256["14"] != "0000000000000000000000000000000000000000000000000000000000000000" }
reasons contains "PCR 14 must be zero" if { status == "contraindicated" }
"#,
    )
    .unwrap();
    let a = appraise(
        &v,
        Some(&r),
        &AppraisalOptions {
            development_reference: DevelopmentReference::Refused,
            policy: Some(strict),
        },
    )
    .unwrap();
    assert_eq!(a.status, Some(ClaimStatus::Contraindicated), "{:?}", a.claims);
    assert!(a.claim("policy").unwrap().detail.contains("PCR 14 must be zero"));
}

#[test]
fn a_rego_policy_can_accept_a_foreign_reference_warning() {
    let v = verified_gcp();
    // A BlindLlama-format reference listing only PCR 0: a warning for the rest.
    let p0 = v
        .pcrs()
        .get(blindfold_crypto::HashAlg::Sha256, blindfold_tpm::PcrIndex(0))
        .unwrap()
        .to_hex();
    let r = parse(&json!({"measurements": {"0": p0}})).unwrap();
    let a = appraise(&v, Some(&r), &AppraisalOptions::default()).unwrap();
    assert_eq!(a.status, Some(ClaimStatus::Warning));
    let allow = Policy::new(
        "allow.rego",
        r#"package blindfold
status := "affirming" if {
    input.fresh
    input.appraisal.claims["pcr.sha256.0"].status == "affirming"
}
"#,
    )
    .unwrap();
    let a = appraise(
        &v,
        Some(&r),
        &AppraisalOptions {
            development_reference: DevelopmentReference::Refused,
            policy: Some(allow),
        },
    )
    .unwrap();
    assert_eq!(a.status, Some(ClaimStatus::Affirming), "{:?}", a.claims);
}

#[test]
fn a_broken_policy_is_unusable_input() {
    let err = Policy::new("broken.rego", "package blindfold\nstatus := \n").unwrap_err();
    assert!(err.is_unusable_input(), "{err:?}");
}

#[test]
fn references_of_different_kinds_do_not_merge() {
    let v = verified_gcp();
    let mut measured = parse(&blindfold_reference(&v)).unwrap();
    let dev = parse(&json!({"blindfold_measurements": 1, "kind": "development", "pcrs": {"sha256": {"15": ["00".repeat(32)]}}})).unwrap();
    assert!(matches!(
        measured.merge(dev),
        Err(Error::Input(InputError::ReferenceFormat(_)))
    ));
}
