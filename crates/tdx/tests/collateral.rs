//! Intel's collateral as files (a real quote and the TCB Info and QE
//! Identity Intel published for it, `vectors/dcap-qvl/SOURCES.md`): the
//! TCB status is judged when they verify, and each way they can fail is
//! refused with its own error.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::time::SystemTime;

use blindfold_tdx::{Error, IntelRoots, TcbStatus, TdxCollateral, TdxOptions, TdxVerifier};

fn vector(name: &str) -> Vec<u8> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    std::fs::read(PathBuf::from(dir).join("tests/vectors/dcap-qvl").join(name)).unwrap()
}

fn collateral() -> TdxCollateral {
    TdxCollateral {
        tcb_info: vector("tcb_info.json"),
        qe_identity: vector("qe_identity.json"),
        issuer_chain: vector("tcb_signing_chain.pem"),
    }
}

fn at(text: &str) -> SystemTime {
    humantime::parse_rfc3339(text).unwrap()
}

fn verify(collateral: Option<TdxCollateral>, when: &str) -> Result<blindfold_tdx::VerifiedTdQuote, Error> {
    TdxVerifier::new(IntelRoots::bundled()).verify(
        &vector("quote.bin"),
        at(when),
        &TdxOptions {
            allow_debug: false,
            collateral,
        },
    )
}

#[test]
fn current_collateral_judges_the_platform_and_qe_up_to_date() {
    let v = verify(Some(collateral()), "2025-07-01T00:00:00Z").unwrap();
    assert!(v.tcb_status_checked());
    let verdict = v.tcb().unwrap();
    assert_eq!(verdict.platform, TcbStatus::UpToDate);
    assert_eq!(verdict.qe, TcbStatus::UpToDate);
    assert_eq!(verdict.status(), TcbStatus::UpToDate);
    assert!(verdict.advisory_ids.is_empty(), "{verdict:?}");
    assert_eq!(verdict.evaluation_data_number, 17);
    assert_eq!(verdict.next_update, "2025-07-19T10:16:03Z");
    assert_eq!(v.fmspc().map(hex::encode).as_deref(), Some("b0c06f000000"));
}

#[test]
fn without_collateral_the_tcb_is_not_judged() {
    let v = verify(None, "2025-07-01T00:00:00Z").unwrap();
    assert!(!v.tcb_status_checked());
    assert!(v.tcb().is_none());
}

#[test]
fn stale_collateral_is_refused_with_its_next_update() {
    let err = verify(Some(collateral()), "2025-07-20T00:00:00Z").unwrap_err();
    assert!(
        matches!(err, Error::CollateralExpired { what: "TCB Info", ref next_update } if next_update == "2025-07-19T10:16:03Z"),
        "{err}"
    );
    let err = verify(Some(collateral()), "2025-06-19T10:20:00Z").unwrap_err();
    assert!(
        matches!(
            err,
            Error::CollateralNotYetValid {
                what: "QE Identity",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_edited_tcb_info_or_qe_identity_fails_its_signature() {
    let mut c = collateral();
    let text = String::from_utf8(c.tcb_info.clone()).unwrap();
    // Claim a newer evaluation: the signed text changes.
    c.tcb_info = text
        .replacen(
            "\"tcbEvaluationDataNumber\":17",
            "\"tcbEvaluationDataNumber\":18",
            1,
        )
        .into_bytes();
    assert_ne!(c.tcb_info, collateral().tcb_info);
    let err = verify(Some(c), "2025-07-01T00:00:00Z").unwrap_err();
    assert!(
        matches!(err, Error::CollateralSignature { what: "TCB Info", .. }),
        "{err}"
    );

    let mut c = collateral();
    let text = String::from_utf8(c.qe_identity.clone()).unwrap();
    c.qe_identity = text.replacen("\"isvsvn\":4", "\"isvsvn\":0", 1).into_bytes();
    let err = verify(Some(c), "2025-07-01T00:00:00Z").unwrap_err();
    assert!(
        matches!(
            err,
            Error::CollateralSignature {
                what: "QE Identity",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_issuer_chain_not_to_intels_root_is_refused() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["Intel SGX TCB Signing".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut c = collateral();
    c.issuer_chain = cert.pem().into_bytes();
    let err = verify(Some(c), "2025-07-01T00:00:00Z").unwrap_err();
    assert!(
        matches!(err, Error::CollateralChain { what: "TCB Info", .. }),
        "{err}"
    );
}

#[test]
fn collateral_for_another_platform_is_refused() {
    // The Azure TD quote's PCK certificate names another FMSPC.
    let path = blindfold_testdata::shared("azure-vtpm/trustee-az-tdx-vtpm-v0/evidence-v0.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let quote: Vec<u8> = json["td_quote"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| u8::try_from(b.as_u64().unwrap()).unwrap())
        .collect();
    let err = TdxVerifier::new(IntelRoots::bundled())
        .verify(
            &quote,
            at("2025-07-01T00:00:00Z"),
            &TdxOptions {
                allow_debug: false,
                collateral: Some(collateral()),
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::CollateralFmspc { ref collateral, .. } if collateral == "b0c06f000000"),
        "{err}"
    );
}
