//! Property tests: the hardware-report parsers and the layouts that carry
//! them return an error, never a panic, on random bytes and on real
//! samples with bytes changed (lengths and offsets included).

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
use std::time::{Duration, UNIX_EPOCH};

use blindfold_attest::{Evidence, Verifier, VerifyOptions};
use blindfold_testdata::shared;
use blindfold_tpm::Freshness;
use proptest::prelude::*;

fn nitro_doc() -> Vec<u8> {
    std::fs::read(shared(
        "aws-nitro/vaportpm-nitrotpm/nitrotpm-attestation-doc.cbor",
    ))
    .unwrap()
}

fn tdx_quote() -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(shared("azure-vtpm/trustee-az-tdx-vtpm-v0/evidence-v0.json")).unwrap(),
    )
    .unwrap();
    v["td_quote"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect()
}

fn hcl_report() -> Vec<u8> {
    std::fs::read(shared("azure-vtpm/azure-cvm-tooling-snp/hcl-report-snp.bin")).unwrap()
}

fn all_parsers(bytes: &[u8]) {
    let _ = blindfold_nitro::AttestationDocument::parse(bytes);
    let _ = blindfold_snp::SnpReport::parse(bytes);
    let _ = blindfold_tdx::TdQuote::parse(bytes);
    let _ = Evidence::parse(bytes);
}

/// The whole pipeline on a changed Nitro document: parse, then verify.
fn verify_nitro(bytes: &[u8]) {
    if let Ok(e) = Evidence::parse(bytes) {
        let options = VerifyOptions {
            platform: None,
            freshness: Some(Freshness::DangerNotChecked),
            at: UNIX_EPOCH + Duration::from_millis(1_770_113_522_437),
            tpm_anchor: None,
            ak_intermediates: Vec::new(),
            replay: Default::default(),
            hardware: Default::default(),
        };
        let _ = Verifier::new().verify(&e, &options);
    }
}

fn mutate(mut base: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
    for (at, value) in edits {
        let n = base.len();
        base[at % n] = *value;
    }
    base
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        all_parsers(&bytes);
    }

    #[test]
    fn changed_nitro_documents(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in any::<usize>()) {
        let doc = mutate(nitro_doc(), &edits);
        all_parsers(&doc);
        verify_nitro(&doc);
        all_parsers(&doc[..cut % doc.len()]);
    }

    #[test]
    fn changed_td_quotes(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in any::<usize>()) {
        let quote = mutate(tdx_quote(), &edits);
        let _ = blindfold_tdx::TdQuote::parse(&quote);
        let _ = blindfold_tdx::TdQuote::parse(&quote[..cut % quote.len()]);
    }

    #[test]
    fn changed_hcl_reports(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in any::<usize>()) {
        let report = mutate(hcl_report(), &edits);
        let _ = blindfold_snp::SnpReport::parse(&report[32..32 + 1184]);
        // Through trustee's legacy layout, so the HCL parser sees it.
        let json = serde_json::json!({
            "tpm_quote": {"signature": [1, 2], "message": [3], "pcrs": []},
            "hcl_report": report[..cut % report.len()].to_vec(),
            "vcek": "",
        });
        let _ = Evidence::parse(&serde_json::to_vec(&json).unwrap());
        let json = serde_json::json!({
            "tpm_quote": {"signature": [1, 2], "message": [3], "pcrs": []},
            "hcl_report": report,
        });
        let _ = Evidence::parse(&serde_json::to_vec(&json).unwrap());
    }
}
