//! Cloud evidence II: every AWS Nitro and Azure confidential-VM sample in
//! ../shared/testdata verifies (or is refused) as its expected.json and
//! SOURCES.md say, through `Evidence::read` and `Verifier::verify`; each
//! layout re-encoded into its sibling layout gives the same verdict; each
//! tampering fails with its specific error.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use blindfold_attest::{
    Error, Evidence, HardwareOptions, HardwareReport, Layout, Platform, TrustBasis, Verifier, VerifyOptions,
};
use blindfold_crypto::HashAlg;
use blindfold_testdata::shared;
use blindfold_tpm::{Freshness, PcrIndex};
use serde_json::{json, Value};

const SNP_V1: &str = "azure-vtpm/trustee-az-snp-vtpm-v1/evidence-v1.json";
const TDX_V0: &str = "azure-vtpm/trustee-az-tdx-vtpm-v0/evidence-v0.json";
const KINVOLK: &str = "azure-vtpm/azure-cvm-tooling-snp";
/// Inside the sample VCEK's validity (2025-01-28 .. 2032-01-28).
const SNP_AT: &str = "2025-06-01T00:00:00Z";
/// Inside the sample PCK chain's validity (2023-09-13 .. 2030-09-13).
const TDX_AT: &str = "2024-06-01T00:00:00Z";

fn expected(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(shared(rel)).unwrap()).unwrap()
}

fn options(nonce: Option<Vec<u8>>, at: SystemTime) -> VerifyOptions {
    VerifyOptions {
        platform: None,
        freshness: Some(nonce.map_or(Freshness::DangerNotChecked, Freshness::Nonce)),
        at,
        tpm_anchor: None,
        replay: Default::default(),
        hardware: HardwareOptions::default(),
    }
}

fn rfc3339(t: &str) -> SystemTime {
    humantime::parse_rfc3339(t).unwrap()
}

fn challenge() -> Option<Vec<u8>> {
    Some(b"challenge".to_vec())
}

// ---------------------------------------------------------------- AWS Nitro

struct NitroSample {
    path: &'static str,
    expected: &'static str,
    platform: Platform,
    layout: Layout,
}

fn nitro_samples() -> Vec<NitroSample> {
    vec![
        NitroSample {
            path: "aws-nitro/evervault-enclave-nondebug/valid-attestation-doc-bytes",
            expected: "aws-nitro/evervault-enclave-nondebug/expected.json",
            platform: Platform::AwsNitroEnclave,
            layout: Layout::NitroDocument,
        },
        NitroSample {
            path: "aws-nitro/evervault-enclave-debug/debug-mode-attestation-doc-bytes",
            expected: "aws-nitro/evervault-enclave-debug/expected.json",
            platform: Platform::AwsNitroEnclave,
            layout: Layout::NitroDocument,
        },
        NitroSample {
            path: "aws-nitro/vaportpm-nitrotpm/nitrotpm-attestation-doc.cbor",
            expected: "aws-nitro/vaportpm-nitrotpm/expected.json",
            platform: Platform::AwsNitroTpm,
            layout: Layout::NitroDocument,
        },
        NitroSample {
            path: "aws-nitro/vaportpm-nitrotpm/test-nitro-fixture.json",
            expected: "aws-nitro/vaportpm-nitrotpm/expected.json",
            platform: Platform::AwsNitroTpm,
            layout: Layout::VaportpmNitro,
        },
    ]
}

fn nitro_time(expected: &Value) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(expected["timestamp_ms"].as_u64().unwrap())
}

fn nitro_nonce(expected: &Value) -> Option<Vec<u8>> {
    expected["nonce_hex"].as_str().map(|h| hex::decode(h).unwrap())
}

#[test]
fn every_nitro_sample_verifies_as_expected() {
    for s in nitro_samples() {
        let expected = expected(s.expected);
        let evidence = Evidence::read(&shared(s.path)).unwrap();
        assert_eq!(evidence.platform, s.platform, "{}", s.path);
        assert_eq!(evidence.layout, s.layout, "{}", s.path);
        let debug = expected["debug_mode"].as_bool().unwrap_or(false);
        let mut opts = options(nitro_nonce(&expected), nitro_time(&expected));
        opts.hardware.allow_debug = debug;
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
        assert_eq!(
            blindfold_attest::hardware_json(v.hardware().unwrap())["debug"],
            json!(debug)
        );
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
    assert_eq!(e, Error::Nitro(blindfold_nitro::Error::DebugEnclave));
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
        matches!(e, Error::Nitro(blindfold_nitro::Error::Stale { .. })),
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
        matches!(e, Error::Nitro(blindfold_nitro::Error::NonceMismatch { .. })),
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
    assert!(matches!(e, Error::Quote { .. }), "{e:?}");
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
            Error::AkMismatch {
                anchor: "hardware report",
                ..
            }
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
        matches!(e, Error::Nitro(blindfold_nitro::Error::BadSignature { .. })),
        "{e:?}"
    );
}

// ------------------------------------------------------- Azure SEV-SNP / TDX

/// Rewrites trustee evidence into the other layout: versioned (hex quote,
/// base64url reports) ⇄ legacy (byte arrays, no version).
fn reencode(json: &Value) -> Value {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes_of = |v: &Value| -> Vec<u8> {
        match v {
            Value::Array(a) => a.iter().map(|n| n.as_u64().unwrap() as u8).collect(),
            Value::String(s) => b64.decode(s.trim_end_matches('=')).unwrap(),
            _ => panic!("{v}"),
        }
    };
    let hex_of = |v: &Value| -> Vec<u8> {
        match v {
            Value::Array(a) => a.iter().map(|n| n.as_u64().unwrap() as u8).collect(),
            Value::String(s) => hex::decode(s).unwrap(),
            _ => panic!("{v}"),
        }
    };
    let quote = &json["tpm_quote"];
    let versioned = json.get("version").is_some();
    let mut out = serde_json::Map::new();
    if versioned {
        out.insert(
            "tpm_quote".into(),
            json!({
                "signature": hex_of(&quote["signature"]),
                "message": hex_of(&quote["message"]),
                "pcrs": quote["pcrs"].as_array().unwrap().iter().map(hex_of).collect::<Vec<_>>(),
            }),
        );
        out.insert("hcl_report".into(), json!(bytes_of(&json["hcl_report"])));
        if let Some(vcek) = json.get("vcek") {
            let der = base64::engine::general_purpose::STANDARD
                .decode(vcek.as_str().unwrap())
                .or_else(|_| b64.decode(vcek.as_str().unwrap().trim_end_matches('=')))
                .unwrap();
            let body = base64::engine::general_purpose::STANDARD.encode(der);
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            let pem = format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                lines.join("\n")
            );
            out.insert("vcek".into(), json!(pem));
        }
        if let Some(td) = json.get("td_quote") {
            out.insert("td_quote".into(), json!(bytes_of(td)));
        }
    } else {
        out.insert("version".into(), json!(1));
        out.insert(
            "tpm_quote".into(),
            json!({
                "signature": hex::encode(hex_of(&quote["signature"])),
                "message": hex::encode(hex_of(&quote["message"])),
                "pcrs": quote["pcrs"].as_array().unwrap().iter().map(|p| hex::encode(hex_of(p))).collect::<Vec<_>>(),
            }),
        );
        out.insert(
            "hcl_report".into(),
            json!(b64.encode(bytes_of(&json["hcl_report"]))),
        );
        if let Some(td) = json.get("td_quote") {
            out.insert("td_quote".into(), json!(b64.encode(bytes_of(td))));
        }
    }
    Value::Object(out)
}

fn sample_json(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(shared(rel)).unwrap()).unwrap()
}

fn parse(json: &Value) -> Evidence {
    Evidence::parse(&serde_json::to_vec(json).unwrap()).unwrap()
}

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
        let report = blindfold_attest::hardware_json(hw);
        assert!(
            report["tcb_status"].as_str().unwrap().starts_with("not checked"),
            "{report}"
        );
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
    assert_eq!(e, Error::NoVcek);
    assert!(e.to_string().contains("not verified"), "{e}");
}

/// Flips one bit of the HCL report of `json` at `offset` (in the decoded bytes).
fn flip_hcl(json: &Value, offset: usize) -> Value {
    let legacy = if json.get("version").is_some() {
        reencode(json)
    } else {
        json.clone()
    };
    let mut out = legacy.clone();
    let mut bytes: Vec<u64> = legacy["hcl_report"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    bytes[offset] ^= 0x01;
    out["hcl_report"] = json!(bytes);
    out
}

#[test]
fn snp_tampering_fails_with_its_specific_error() {
    let v1 = sample_json(SNP_V1);
    let at = rfc3339(SNP_AT);
    let verify =
        |json: &Value, nonce: Option<Vec<u8>>| Verifier::new().verify(&parse(json), &options(nonce, at));
    // A bit in the SNP report (its measurement, at 32 + 0x90).
    let e = verify(&flip_hcl(&v1, 32 + 0x90), challenge()).unwrap_err();
    assert_eq!(e, Error::Snp(blindfold_snp::Error::BadReportSignature));
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
    assert!(matches!(e, Error::HclBinding { .. }), "{e:?}");
    // A wrong nonce.
    let e = verify(&v1, Some(b"challengf".to_vec())).unwrap_err();
    assert!(
        matches!(e, Error::Quote { .. }) && e.to_string().contains("nonce"),
        "{e}"
    );
    // A flipped PCR.
    let mut pcr_flipped = v1.clone();
    let p = pcr_flipped["tpm_quote"]["pcrs"][3].as_str().unwrap().to_string();
    pcr_flipped["tpm_quote"]["pcrs"][3] =
        json!(format!("{}{}", if &p[..1] == "0" { "1" } else { "0" }, &p[1..]));
    let e = verify(&pcr_flipped, challenge()).unwrap_err();
    assert!(matches!(e, Error::Quote { .. }), "{e:?}");
    // A VCEK that is not the evidence's own (the sample's separate vcek.pem).
    let other = std::fs::read(shared("azure-vtpm/trustee-az-snp-vtpm-v1/vcek.pem")).unwrap();
    let mut other_vcek = reencode(&v1);
    other_vcek["vcek"] = json!(String::from_utf8(other).unwrap());
    let e = verify(&other_vcek, challenge()).unwrap_err();
    assert!(matches!(e, Error::Snp(_)), "{e:?}");
    // The VCEK missing altogether.
    let mut no_vcek = v1.clone();
    no_vcek.as_object_mut().unwrap().remove("vcek");
    assert_eq!(verify(&no_vcek, challenge()).unwrap_err(), Error::NoVcek);
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
        matches!(e, Error::Tdx(blindfold_tdx::Error::BadQuoteSignature { .. })),
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
    assert!(matches!(e, Error::HclBinding { .. }), "{e:?}");
    // A wrong nonce.
    let e = verify(&v0, Some(b"other".to_vec())).unwrap_err();
    assert!(matches!(e, Error::Quote { .. }), "{e:?}");
    // Long after the PCK certificate expired.
    let e = Verifier::new()
        .verify(
            &parse(&v0),
            &options(challenge(), rfc3339("2031-01-01T00:00:00Z")),
        )
        .unwrap_err();
    assert!(
        matches!(e, Error::Tdx(blindfold_tdx::Error::PckChain(_))),
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
    assert!(matches!(e, Error::PlatformMismatch { .. }), "{e:?}"); // Evidence whose layout names another platform than its report proves.
    let mut relabelled = parse(&sample_json(SNP_V1));
    relabelled.platform = Platform::AzureTdx;
    let e = Verifier::new()
        .verify(&relabelled, &options(challenge(), rfc3339(SNP_AT)))
        .unwrap_err();
    assert_eq!(
        e,
        Error::PlatformMismatch {
            expected: "azure-tdx".into(),
            actual: "azure-snp".into()
        }
    );
    // A hardware platform without its report.
    let mut stripped = parse(&sample_json(SNP_V1));
    stripped.hardware = None;
    let e = Verifier::new()
        .verify(&stripped, &options(challenge(), rfc3339(SNP_AT)))
        .unwrap_err();
    assert!(matches!(e, Error::EvidenceFormat(_)), "{e:?}");
}

#[test]
fn the_chain_cache_gives_the_same_verdicts() {
    let verifier = Verifier::new().with_chain_cache();
    for s in nitro_samples() {
        let expected = expected(s.expected);
        let evidence = Evidence::read(Path::new(&shared(s.path))).unwrap();
        let mut opts = options(nitro_nonce(&expected), nitro_time(&expected));
        opts.hardware.allow_debug = true;
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
        assert!(matches!(e, Error::Snp(_) | Error::Tdx(_)), "{e:?}");
    }
    let e = verifier
        .verify(
            &parse(&flip_hcl(&sample_json(SNP_V1), 32 + 0x90)),
            &options(challenge(), rfc3339(SNP_AT)),
        )
        .unwrap_err();
    assert_eq!(e, Error::Snp(blindfold_snp::Error::BadReportSignature));
}

#[test]
fn debug_and_unchecked_tcb_are_warnings_no_policy_lifts_debug() {
    use blindfold_attest::{appraise, AppraisalOptions, ClaimStatus, Policy};
    let s = &nitro_samples()[1];
    let expected = expected(s.expected);
    let evidence = Evidence::read(&shared(s.path)).unwrap();
    let mut opts = options(None, nitro_time(&expected));
    opts.hardware.allow_debug = true;
    let v = Verifier::new().verify(&evidence, &opts).unwrap();
    let lenient = Policy::new("lenient.rego", "package blindfold\nstatus := \"affirming\"\n").unwrap();
    let a = appraise(
        &v,
        None,
        &AppraisalOptions {
            allow_dev: false,
            policy: Some(lenient),
        },
    )
    .unwrap();
    assert_eq!(a.claims["debug"].status, ClaimStatus::Warning);

    let tdx = parse(&sample_json(TDX_V0));
    let v = Verifier::new()
        .verify(&tdx, &options(challenge(), rfc3339(TDX_AT)))
        .unwrap();
    let a = appraise(&v, None, &AppraisalOptions::default()).unwrap();
    assert_eq!(a.claims["tcb"].status, ClaimStatus::Warning);
    assert!(!a.claims.contains_key("debug"));
}

#[test]
fn the_cvm_launch_measurement_is_appraised_or_never_affirming() {
    use blindfold_attest::{
        appraise, AppraisalOptions, ClaimStatus, Policy, ReferenceValues, MANDATORY_PCRS,
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
                allow_dev: false,
                policy: Some(lenient),
            },
        )
        .unwrap();
        assert_eq!(a.claims["hardware-measurement"].status, ClaimStatus::Warning);
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
            a.claims["hardware-measurement"].status,
            ClaimStatus::Affirming,
            "{a:?}"
        );
        // Not listed: contraindicated, naming both.
        let mut other = measurement.clone();
        other[0] ^= 1;
        let a = appraise(&v, Some(&reference(&[other])), &AppraisalOptions::default()).unwrap();
        let claim = &a.claims["hardware-measurement"];
        assert_eq!(claim.status, ClaimStatus::Contraindicated);
        assert!(
            claim.detail.contains(&hex::encode(&measurement)),
            "{}",
            claim.detail
        );
        // A reference without hardware measurements: never affirming.
        let a = appraise(&v, Some(&reference(&[])), &AppraisalOptions::default()).unwrap();
        assert_eq!(a.claims["hardware-measurement"].status, ClaimStatus::Warning);
        assert_ne!(a.status, Some(ClaimStatus::Affirming));
    }
}
