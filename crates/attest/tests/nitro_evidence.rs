//! Cloud evidence II, AWS: every Nitro sample in ../shared/testdata/aws-nitro
//! verifies (or is refused) as its expected.json says, through
//! `Evidence::read` and `Verifier::verify`; each tampering fails with its
//! specific error.
#![allow(clippy::unwrap_used, missing_docs)]
mod common;

use std::time::Duration;

use blindfold_attest::VerifyError;
use blindfold_attest::{Error, Evidence, HardwareReport, Platform, TrustBasis, Verifier};
use blindfold_crypto::HashAlg;
use blindfold_testdata::shared;
use blindfold_tpm::PcrIndex;
use common::*;
use serde_json::{json, Value};

#[test]
fn every_nitro_sample_verifies_as_expected() {
    for s in nitro_samples() {
        let expected = expected(s.expected);
        let evidence = Evidence::read(&shared(s.path)).unwrap();
        assert_eq!(evidence.platform, s.platform, "{}", s.path);
        assert_eq!(evidence.layout, s.layout, "{}", s.path);
        let debug = expected["debug_mode"].as_bool().unwrap_or(false);
        let mut opts = options(nitro_nonce(&expected), nitro_time(&expected));
        opts.hardware.debug = if debug {
            blindfold_attest::DebugPlatform::Allowed
        } else {
            blindfold_attest::DebugPlatform::Refused
        };
        let v = Verifier::new()
            .verify(&evidence, &opts)
            .unwrap_or_else(|e| panic!("{}: {e}", s.path));
        assert_eq!(v.platform(), s.platform);
        assert_eq!(v.trust_basis(), TrustBasis::Hypervisor);
        assert_eq!(v.debug(), debug, "{}", s.path);
        assert_eq!(v.fresh(), expected["nonce_hex"].is_string(), "{}", s.path);
        let field = if s.platform == Platform::AwsNitroTpm {
            "nitrotpm_pcrs_sha384"
        } else {
            "pcrs_sha384"
        };
        for (i, value) in expected[field].as_object().unwrap() {
            let got = v
                .pcrs()
                .get(HashAlg::Sha384, PcrIndex(i.parse().unwrap()))
                .unwrap();
            assert_eq!(got.to_hex(), value.as_str().unwrap(), "{} PCR {i}", s.path);
        }
        assert_eq!(
            v.chain().unwrap().last().unwrap().fingerprint,
            expected["root_cert_sha256_der"].as_str().unwrap()
        );
        let Some(HardwareReport::Nitro(doc)) = v.hardware() else {
            panic!("{}: no Nitro report", s.path)
        };
        assert_eq!(doc.document().module_id, expected["module_id"].as_str().unwrap());
        let summary = blindfold_attest::HardwareSummary::of(v.hardware().unwrap());
        let (blindfold_attest::HardwareSummary::NitroEnclave(n)
        | blindfold_attest::HardwareSummary::NitroTpm(n)) = &summary
        else {
            panic!("{summary:?}")
        };
        assert_eq!(n.debug, debug);
        assert_eq!(serde_json::to_value(&summary).unwrap()["debug"], json!(debug));
    }
}

#[test]
fn a_debug_enclave_is_refused_unless_allowed() {
    let s = &nitro_samples()[1];
    let expected = expected(s.expected);
    let evidence = Evidence::read(&shared(s.path)).unwrap();
    let e = Verifier::new()
        .verify(&evidence, &options(None, nitro_time(&expected)))
        .unwrap_err();
    assert_eq!(
        e,
        Error::Verify(VerifyError::Nitro(blindfold_nitro::Error::DebugEnclave))
    );
}

#[test]
fn a_stale_nitro_document_is_refused() {
    let s = &nitro_samples()[0];
    let expected = expected(s.expected);
    let evidence = Evidence::read(&shared(s.path)).unwrap();
    let late = nitro_time(&expected) + Duration::from_secs(11 * 60);
    let e = Verifier::new()
        .verify(&evidence, &options(nitro_nonce(&expected), late))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Verify(VerifyError::Nitro(blindfold_nitro::Error::Stale { .. }))
        ),
        "{e:?}"
    );
    let mut opts = options(nitro_nonce(&expected), late);
    opts.hardware.max_age = Duration::from_secs(20 * 60);
    Verifier::new().verify(&evidence, &opts).unwrap();
}

#[test]
fn the_nitrotpm_composite_binds_quote_and_document_by_nonce_and_key() {
    let s = &nitro_samples()[3];
    let expected = expected(s.expected);
    let at = nitro_time(&expected);
    let evidence = Evidence::read(&shared(s.path)).unwrap();
    // A wrong nonce: the document refuses it first.
    let mut nonce = nitro_nonce(&expected).unwrap();
    nonce[3] ^= 1;
    let e = Verifier::new()
        .verify(&evidence, &options(Some(nonce), at))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Verify(VerifyError::Nitro(blindfold_nitro::Error::NonceMismatch { .. }))
        ),
        "{e:?}"
    );
    // A flipped bit in a quoted PCR: the quote's digest no longer matches.
    let mut json: Value = serde_json::from_slice(&std::fs::read(shared(s.path)).unwrap()).unwrap();
    let pcr = json["pcrs"]["sha384"]["4"].as_str().unwrap().to_string();
    json["pcrs"]["sha384"]["4"] = json!(format!(
        "{}{}",
        if &pcr[..1] == "0" { "1" } else { "0" },
        &pcr[1..]
    ));
    let tampered = Evidence::parse(&serde_json::to_vec(&json).unwrap()).unwrap();
    let e = Verifier::new()
        .verify(&tampered, &options(nitro_nonce(&expected), at))
        .unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::Quote { .. })), "{e:?}");
    // Another AK than the document's public_key: refused before any quote is checked.
    let mut json: Value = serde_json::from_slice(&std::fs::read(shared(s.path)).unwrap()).unwrap();
    let gcp: Value = expected_gcp_ak();
    json["ak_pubkeys"] = gcp;
    let other_ak = Evidence::parse(&serde_json::to_vec(&json).unwrap()).unwrap();
    let e = Verifier::new()
        .verify(&other_ak, &options(nitro_nonce(&expected), at))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Verify(VerifyError::AkMismatch {
                anchor: "hardware report",
                ..
            })
        ),
        "{e:?}"
    );
}

fn expected_gcp_ak() -> Value {
    let fixture: Value = expected("gcp-vtpm/vaportpm-gcp-amd/test-gcp-amd-fixture.json");
    fixture["ak_pubkeys"].clone()
}

#[test]
fn a_flipped_bit_in_a_nitro_document_is_refused() {
    let s = &nitro_samples()[0];
    let expected = expected(s.expected);
    let mut bytes = std::fs::read(shared(s.path)).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 0x40; // inside the signature
    let evidence = Evidence::parse(&bytes).unwrap();
    let e = Verifier::new()
        .verify(&evidence, &options(nitro_nonce(&expected), nitro_time(&expected)))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Verify(VerifyError::Nitro(blindfold_nitro::Error::BadSignature { .. }))
        ),
        "{e:?}"
    );
}

/// Nitro documents usually travel as base64 (blocky/nitrite's sample is a
/// `.b64` file); hex and base64 of any binary layout read like the bytes.
#[test]
fn binary_evidence_reads_from_base64_and_hex() {
    use base64::Engine as _;
    let b64 = Evidence::read(&shared("aws-nitro/blocky-enclave-nondebug/nitro_attestation.b64")).unwrap();
    assert_eq!(b64.platform, blindfold_attest::Platform::AwsNitroEnclave);
    let s = &nitro_samples()[0];
    let raw = std::fs::read(shared(s.path)).unwrap();
    let direct = Evidence::parse(&raw).unwrap();
    let wrapped = |text: String| text.as_bytes().chunks(76).collect::<Vec<_>>().join(&b"\n"[..]);
    for text in [
        wrapped(hex::encode(&raw)),
        wrapped(base64::engine::general_purpose::STANDARD.encode(&raw)),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(&raw)
            .into_bytes(),
    ] {
        let e = Evidence::parse(&text).unwrap();
        assert_eq!((e.platform, e.layout), (direct.platform, direct.layout));
    }
    // Text that is neither stays refused, saying what was tried.
    let err = Evidence::parse(b"this is not evidence at all, in any encoding").unwrap_err();
    assert!(err.to_string().contains("hex or base64"), "{err}");
}
