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
        replay: Default::default(),
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
    ]
}

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
