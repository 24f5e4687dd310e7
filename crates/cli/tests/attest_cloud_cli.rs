//! `blindfold attest verify` on the AWS Nitro and Azure confidential-VM
//! samples: verdicts, report fields (platform, trust basis, debug,
//! hardware) and exit codes, with `--platform`, `--at`, `--max-age` and
//! `--allow-debug`.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use common::*;
use serde_json::Value;

fn attest(args: &[&str]) -> (i32, Value, String) {
    let out = run(blindfold().args(["attest", "verify", "--json"]).args(args));
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), v, text(&out.stderr))
}

fn path(rel: &str) -> String {
    shared_testdata().join(rel).display().to_string()
}

const ENCLAVE: &str = "aws-nitro/evervault-enclave-nondebug/valid-attestation-doc-bytes";
const ENCLAVE_AT: &str = "2022-10-13T08:58:02.136Z";
const DEBUG: &str = "aws-nitro/evervault-enclave-debug/debug-mode-attestation-doc-bytes";
const DEBUG_AT: &str = "2022-10-12T13:50:06.081Z";
const NITROTPM: &str = "aws-nitro/vaportpm-nitrotpm/test-nitro-fixture.json";
const NITROTPM_AT: &str = "2026-02-03T10:12:02.437Z";
const NITROTPM_NONCE: &str = "230af3f7c0ec43ccf99a4cab47ac61469a36ea74b1e79740fdf8ccfc8f56161a";
const SNP: &str = "azure-vtpm/trustee-az-snp-vtpm-v1/evidence-v1.json";
const TDX: &str = "azure-vtpm/trustee-az-tdx-vtpm-v0/evidence-v0.json";
/// "challenge"
const CHALLENGE: &str = "6368616c6c656e6765";

fn enclave_nonce() -> String {
    let expected: Value = serde_json::from_slice(
        &std::fs::read(shared_testdata().join("aws-nitro/evervault-enclave-nondebug/expected.json")).unwrap(),
    )
    .unwrap();
    expected["nonce_hex"].as_str().unwrap().to_string()
}

#[test]
fn a_nitro_enclave_document_verifies_at_its_time() {
    let nonce = enclave_nonce();
    let (code, v, err) = attest(&[&path(ENCLAVE), "--nonce", &nonce, "--at", ENCLAVE_AT]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["verified"], true);
    assert_eq!(v["platform"], "aws-nitro-enclave");
    assert_eq!(v["layout"], "aws-nitro-document");
    assert_eq!(v["trust_basis"], "hypervisor");
    assert_eq!(v["fresh"], true);
    assert_eq!(v["debug"], false);
    assert_eq!(v["hardware"]["kind"], "aws-nitro-enclave");
    assert_eq!(
        v["hardware"]["module_id"],
        "i-020b6af9246d90e92-enc0183d09086c24190"
    );
    assert_eq!(
        v["pcrs"]["sha384"]["0"],
        "f4d48b81a460c9916d1e685119074bf24660afd3e34fae9fca0a0d28d9d5599936332687e6f66fc890ac8cf150142d8b"
    );
    // Now, years later, the same document is stale (and its certificates expired).
    let (code, v, _) = attest(&[&path(ENCLAVE), "--nonce", &nonce]);
    assert_eq!(code, 1);
    assert_eq!(v["verified"], false);
    // Eleven minutes after: stale; with --max-age 1h: accepted.
    let late = "2022-10-13T09:09:02Z";
    let (code, v, _) = attest(&[&path(ENCLAVE), "--nonce", &nonce, "--at", late]);
    assert_eq!(code, 1);
    assert!(v["errors"][0].as_str().unwrap().contains("stale"), "{v}");
    let (code, _, err) = attest(&[&path(ENCLAVE), "--nonce", &nonce, "--at", late, "--max-age", "1h"]);
    assert_eq!(code, 0, "{err}");
    // A wrong nonce.
    let (code, v, _) = attest(&[&path(ENCLAVE), "--nonce", "00", "--at", ENCLAVE_AT]);
    assert_eq!(code, 1);
    assert!(v["errors"][0].as_str().unwrap().contains("nonce differs"), "{v}");
}

#[test]
fn a_debug_enclave_needs_allow_debug_and_is_reported() {
    let (code, v, err) = attest(&[&path(DEBUG), "--no-freshness", "--at", DEBUG_AT]);
    assert_eq!(code, 1);
    assert!(err.contains("debug-mode enclave"), "{err}");
    assert_eq!(v["verified"], false);
    let (code, v, err) = attest(&[&path(DEBUG), "--no-freshness", "--at", DEBUG_AT, "--allow-debug"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["debug"], true);
    assert_eq!(v["hardware"]["debug"], true);
    assert_eq!(v["hardware"]["user_data"], hex::encode("hello, world!"));
}

#[test]
fn the_nitrotpm_composite_verifies_as_aws_nitrotpm() {
    let (code, v, err) = attest(&[
        &path(NITROTPM),
        "--platform",
        "aws-nitrotpm",
        "--nonce",
        NITROTPM_NONCE,
        "--at",
        NITROTPM_AT,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["platform"], "aws-nitrotpm");
    assert_eq!(v["layout"], "vaportpm-nitrotpm");
    assert_eq!(v["trust_basis"], "hypervisor");
    assert_eq!(v["hardware"]["kind"], "aws-nitrotpm");
    assert_eq!(v["chain"].as_array().unwrap().len(), 5, "{v}");
}

#[test]
fn azure_confidential_vms_verify_with_cvm_trust() {
    let (code, v, err) = attest(&[&path(SNP), "--nonce", CHALLENGE, "--at", "2025-06-01T00:00:00Z"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["platform"], "azure-snp");
    assert_eq!(v["trust_basis"], "cvm");
    assert_eq!(v["hardware"]["kind"], "sev-snp");
    assert_eq!(v["hardware"]["product_line"], "Milan");
    assert_eq!(v["hardware"]["vmpl"], 0);
    let (code, v, err) = attest(&[&path(TDX), "--nonce", CHALLENGE, "--at", "2024-06-01T00:00:00Z"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["platform"], "azure-tdx");
    assert_eq!(v["trust_basis"], "cvm");
    assert!(
        v["hardware"]["tcb_status"]
            .as_str()
            .unwrap()
            .starts_with("not checked"),
        "{v}"
    );
    // The wrong platform asked for.
    let (code, v, _) = attest(&[&path(SNP), "--platform", "azure-tdx", "--nonce", CHALLENGE]);
    assert_eq!(code, 1);
    assert!(v["errors"][0].as_str().unwrap().contains("azure-tdx"), "{v}");
}

#[test]
fn kinvolk_evidence_is_not_verified_for_want_of_a_vcek() {
    let (code, v, err) = attest(&[&path("azure-vtpm/azure-cvm-tooling-snp"), "--nonce", CHALLENGE]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["verified"], false);
    assert_eq!(v["platform"], "azure-snp");
    assert_eq!(v["layout"], "kinvolk-az-cvm-snp");
    assert!(v["errors"][0].as_str().unwrap().contains("no VCEK"), "{v}");
}
