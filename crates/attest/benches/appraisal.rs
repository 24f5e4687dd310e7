//! One full verification and appraisal per platform: evidence parsing,
//! AK chain, quote signature, PCR digest, event-log replay where present,
//! appraisal against a reference. "cold": a new verifier (no caches) and a
//! fresh parse each time; "warm": chain results cached by certificate hash.
//! Run with `cargo bench -p blindfold-attest`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::SystemTime;

use blindfold_attest::{
    appraise, AppraisalOptions, Evidence, ReferenceValues, TpmAnchor, Verifier, VerifyOptions,
};
use blindfold_testdata::shared;
use blindfold_tpm::Freshness;
use criterion::{criterion_group, criterion_main, Criterion};

struct Case {
    name: &'static str,
    evidence: Vec<u8>,
    options: VerifyOptions,
    reference: Option<ReferenceValues>,
}

fn cases() -> Vec<Case> {
    let read = |rel: &str| std::fs::read(shared(rel)).unwrap();
    let opts = |fresh: Freshness, at: Option<&str>| VerifyOptions {
        platform: None,
        freshness: Some(fresh),
        at: at.map_or_else(SystemTime::now, |t| humantime::parse_rfc3339(t).unwrap()),
        tpm_anchor: None,
        ak_intermediates: Vec::new(),
        replay: Default::default(),
        hardware: Default::default(),
    };
    let nonce = |h: &str| Freshness::Nonce(hex::decode(h).unwrap());
    let trustee: serde_json::Value =
        serde_json::from_slice(&read("tpm2-quotes/trustee-tpm-evidence/tpm_evidence.json")).unwrap();
    let trustee_key = {
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode(trustee["ak_public"].as_str().unwrap())
            .unwrap();
        blindfold_crypto::PublicKey::from_spki_der(&der).unwrap()
    };
    let mut tpm_opts = opts(
        nonce("a04182b506878d4f29b91ee606a71a0d3361ccf1b22db20c98adcaa537bea393ef0e41a18b3569ab678f1497fbc5c12000000000000000000000000000000000"),
        None,
    );
    tpm_opts.tpm_anchor = Some(TpmAnchor::PinnedKey(trustee_key));
    vec![
        Case {
            name: "azure_vtpm_rsa2048",
            evidence: read("azure-vtpm/blindllama-trusted-launch/sample_azure_attestation.json"),
            options: opts(Freshness::DangerNotChecked, Some("2024-06-01T00:00:00Z")),
            reference: Some(
                ReferenceValues::parse(&read(
                    "azure-vtpm/blindllama-trusted-launch/measurements_azure.json",
                ))
                .unwrap(),
            ),
        },
        Case {
            name: "gcp_vtpm_p256",
            evidence: read("gcp-vtpm/vaportpm-gcp-amd/test-gcp-amd-fixture.json"),
            options: opts(
                nonce("8a543108a653b4a1162232744cc9b945017a449dea4fbb0ca62f42d3ef145562"),
                None,
            ),
            reference: None,
        },
        Case {
            name: "gcp_vtpm_rsa2048_with_event_log",
            evidence: read("gcp-vtpm/gce-cos85-attestation-nonce9009/gce-cos-85-nonce9009.pb"),
            options: opts(nonce("9009"), None),
            reference: None,
        },
        Case {
            name: "tpm_pinned_rsa2048",
            evidence: read("tpm2-quotes/trustee-tpm-evidence/tpm_evidence.json"),
            options: tpm_opts,
            reference: None,
        },
        Case {
            name: "aws_nitro_enclave_document",
            evidence: read("aws-nitro/evervault-enclave-nondebug/valid-attestation-doc-bytes"),
            options: opts(nonce(NITRO_ENCLAVE_NONCE), Some("2022-10-13T08:58:02.136Z")),
            reference: None,
        },
        Case {
            name: "aws_nitrotpm_document_and_quote",
            evidence: read("aws-nitro/vaportpm-nitrotpm/test-nitro-fixture.json"),
            options: opts(
                nonce("230af3f7c0ec43ccf99a4cab47ac61469a36ea74b1e79740fdf8ccfc8f56161a"),
                Some("2026-02-03T10:12:02.437Z"),
            ),
            reference: None,
        },
        Case {
            name: "azure_snp_vcek_and_quote",
            evidence: read("azure-vtpm/trustee-az-snp-vtpm-v1/evidence-v1.json"),
            options: opts(
                Freshness::Nonce(b"challenge".to_vec()),
                Some("2025-06-01T00:00:00Z"),
            ),
            reference: None,
        },
        Case {
            name: "azure_tdx_td_quote_and_quote",
            evidence: read("azure-vtpm/trustee-az-tdx-vtpm-v0/evidence-v0.json"),
            options: opts(
                Freshness::Nonce(b"challenge".to_vec()),
                Some("2024-06-01T00:00:00Z"),
            ),
            reference: None,
        },
    ]
}

/// The evervault non-debug document's nonce (expected.json).
const NITRO_ENCLAVE_NONCE: &str = "cb3dc2eb76c0c1344adf10cc4868591e5bb7fa4b4a8069e144762f71ea1d0017e23f89ba9db04eb26b20fca1a954447d5fb466067b06a6a22eed8100c73b398a4f85a099f8ffcf84c654485590158c7d966e8b09af224654f97f63ec07096c78925f961eff653fd4f3aff684f07f7505722be06316cf8c48d643a33aba4af214991708ab2ee1ee85d42d0ad218915a369d62a483e60538ed8d0fb3d7f34712d895b24bd971a425cbfa9efd2c5e9d511656064260f8faf9cf69c5306137e748d9bcddb4d0d3e01fba1acb9ca35ff11694ab32bd135effe00124ee939b0c21db78cf8e50e37ce0eed59e5e6322197addaed909dcc2bfe5195ed32567a64eb59db3";

fn run(verifier: &Verifier, case: &Case) {
    let e = Evidence::parse(&case.evidence).unwrap();
    let v = verifier.verify(&e, &case.options).unwrap();
    appraise(&v, case.reference.as_ref(), &AppraisalOptions::default()).unwrap();
}

fn bench(c: &mut Criterion) {
    for case in cases() {
        c.bench_function(&format!("attest_cold_{}", case.name), |b| {
            b.iter(|| run(&Verifier::new(), &case))
        });
        let warm = Verifier::new().with_chain_cache();
        c.bench_function(&format!("attest_warm_{}", case.name), |b| {
            b.iter(|| run(&warm, &case))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
