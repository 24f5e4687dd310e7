//! `blindfold attest verify`: the report's JSON fields and the exit codes,
//! on vTPM evidence and on the AWS Nitro and Azure confidential-VM samples
//! (platform, trust basis, debug, hardware; `--at`, `--max-age`,
//! `--allow-debug`).

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use common::*;
use serde_json::Value;

const AZURE: &str = "azure-vtpm/blindllama-trusted-launch";

fn attest(args: &[&str]) -> (i32, Value, String) {
    let out = run(blindfold().args(["attest", "verify", "--json"]).args(args));
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), v, text(&out.stderr))
}

fn path(rel: &str) -> String {
    shared_testdata().join(rel).display().to_string()
}

#[test]
fn azure_sample_with_its_reference_is_a_warning_at_its_time() {
    let (code, v, err) = attest(&[
        &path(&format!("{AZURE}/sample_azure_attestation.json")),
        "--no-freshness",
        "--at",
        "2024-06-01T00:00:00Z",
        "--reference",
        &path(&format!("{AZURE}/measurements_azure.json")),
        "--reference-unsigned",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["verified"], true);
    assert_eq!(v["platform"], "azure-vtpm");
    assert_eq!(v["trust_basis"], "hypervisor");
    assert_eq!(v["nonce"], Value::Null);
    assert_eq!(v["fresh"], Value::Null);
    assert_eq!(v["debug"], false);
    assert_eq!(v["reference"], "unsigned");
    assert_eq!(v["checked_at"], "2024-06-01T00:00:00Z");
    assert_eq!(v["appraisal"]["status"], "warning");
    assert_eq!(v["appraisal"]["claims"]["tls-binding"]["status"], "warning");
    assert_eq!(
        v["pcrs"]["sha256"]["0"],
        "d0d725f21ba5d701952888bcbc598e6dcef9aff4d1e03bb3606eb75368bab351"
    );
    assert!(v["errors"].as_array().unwrap().is_empty());
}

#[test]
fn expired_now_and_missing_nonce_exit_1_with_the_reason() {
    let (code, v, err) = attest(&[
        &path(&format!("{AZURE}/sample_azure_attestation.json")),
        "--no-freshness",
    ]);
    assert_eq!(code, 1);
    assert_eq!(v["verified"], false);
    assert!(v["errors"][0].as_str().unwrap().contains("expired"), "{v}");
    assert!(err.contains("expired at 2024-11-03T00:00:00Z"), "{err}");

    let (code, v, _) = attest(&[
        &path(&format!("{AZURE}/sample_azure_attestation.json")),
        "--at",
        "2024-06-01T00:00:00Z",
    ]);
    assert_eq!(code, 1);
    assert!(v["errors"][0].as_str().unwrap().contains("no nonce"), "{v}");
}

#[test]
fn contraindicated_appraisal_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        format!("{{\"measurements\": {{\"0\": \"{}\"}}}}", "00".repeat(32)),
    )
    .unwrap();
    let (code, v, err) = attest(&[
        &path(&format!("{AZURE}/sample_azure_attestation.json")),
        "--no-freshness",
        "--at",
        "2024-06-01T00:00:00Z",
        "--reference",
        bad.to_str().unwrap(),
        "--reference-unsigned",
    ]);
    assert_eq!(code, 1);
    assert_eq!(v["verified"], true);
    assert_eq!(v["appraisal"]["status"], "contraindicated");
    assert!(err.contains("PCR 0 (sha256): expected 0000"), "{err}");
}

#[test]
fn gcp_protobuf_and_fixture_verify_fresh() {
    let (code, v, err) = attest(&[
        &path("gcp-vtpm/gce-cos85-attestation-nonce9009/gce-cos-85-nonce9009.pb"),
        "--nonce",
        "9009",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["fresh"], true);
    assert_eq!(v["nonce"], "9009");
    assert_eq!(v["appraisal"]["status"], "none");
    assert_eq!(v["appraisal"]["claims"]["measurements"]["status"], "warning");
    assert!(v["event_log"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["status"] == "matches"));

    let (code, v, err) = attest(&[
        &path("gcp-vtpm/vaportpm-gcp-amd/test-gcp-amd-fixture.json"),
        "--platform",
        "gcp-vtpm",
        "--nonce",
        "8a543108a653b4a1162232744cc9b945017a449dea4fbb0ca62f42d3ef145562",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["layout"], "vaportpm-gcp");
}

/// A nonce that differs is checked and failed, and the report says so
/// (`fresh: false`, the nonce that was expected), not "not checked".
#[test]
fn a_wrong_nonce_is_reported_as_not_fresh() {
    let evidence = path("gcp-vtpm/gce-cos85-attestation-nonce9009/gce-cos-85-nonce9009.pb");
    let (code, v, err) = attest(&[&evidence, "--nonce", "9010"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["verified"], false);
    assert_eq!(v["fresh"], false);
    assert_eq!(v["nonce"], "9010");
    assert!(err.contains("another nonce"), "{err}");
    let out = run(blindfold().args(["attest", "verify", &evidence, "--nonce", "9010"]));
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(
        report.contains("fresh:       no: the evidence was made for another nonce"),
        "{report}"
    );
}

#[test]
fn plain_tpm_needs_an_anchor_and_reports_development() {
    let keylime = path("tpm2-quotes/keylime-swtpm-quote");
    let nonce = "db1db298db6d60e6385b7231743e9c3056a18003";
    let (code, v, _) = attest(&[&keylime, "--nonce", nonce]);
    assert_eq!(code, 1);
    assert!(v["errors"][0].as_str().unwrap().contains("no trust anchor"));
    let (code, v, err) = attest(&[
        &keylime,
        "--nonce",
        nonce,
        "--ak",
        &format!("{keylime}/akpub.pem"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["trust_basis"], "development");
}

#[test]
fn unusable_inputs_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"nothing\": true}").unwrap();
    let (code, _, err) = attest(&[junk.to_str().unwrap(), "--no-freshness"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = attest(&[
        &path(&format!("{AZURE}/sample_azure_attestation.json")),
        "--no-freshness",
        "--at",
        "yesterday",
    ]);
    assert_eq!(code, 2);
    let (code, _, _) = attest(&[
        &path(&format!("{AZURE}/sample_azure_attestation.json")),
        "--platform",
        "mars",
        "--no-freshness",
    ]);
    assert_eq!(code, 2);
}

#[test]
fn signed_references_need_the_pinned_publisher_key() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let sample = shared_testdata().join("local-ovmf-boot/stub252");
    for prefix in ["publisher", "intruder"] {
        assert!(run(blindfold().args(["keygen", "-o"]).arg(d.join(prefix)))
            .status
            .success());
    }
    app_disk_manifest(d, 8192);
    let m = run(blindfold()
        .args(["measure", "--uki"])
        .arg(sample.join("uki.efi"))
        .arg("--firmware-log")
        .arg(sample.join("eventlog.bin"))
        .arg("--app-disk")
        .arg(d.join("app.json"))
        .arg("--sign")
        .arg(d.join("publisher.key"))
        .arg("-o")
        .arg(d.join("signed.json")));
    assert!(m.status.success(), "{}", text(&m.stderr));
    let evidence = path("gcp-vtpm/vaportpm-gcp-amd/test-gcp-amd-fixture.json");
    let nonce = "8a543108a653b4a1162232744cc9b945017a449dea4fbb0ca62f42d3ef145562";
    let signed = d.join("signed.json").display().to_string();

    // With the publisher's key: signed, and appraised (this GCP VM did not boot that UKI).
    let publisher = d.join("publisher.pub").display().to_string();
    let (code, v, _) = attest(&[
        &evidence,
        "--nonce",
        nonce,
        "--reference",
        &signed,
        "--publisher-key",
        &publisher,
    ]);
    assert_eq!(v["reference"], "signed");
    assert_eq!(v["appraisal"]["status"], "contraindicated");
    assert_eq!(code, 1);

    // Without a key: unusable; under another key: refused.
    let (code, _, err) = attest(&[&evidence, "--nonce", nonce, "--reference", &signed]);
    assert_eq!(code, 2, "{err}");
    // An unsigned file needs the same explicit opt-in as for verify, chat
    // and proxy.
    let plain = path(&format!("{AZURE}/measurements_azure.json"));
    let (code, _, err) = attest(&[&evidence, "--nonce", nonce, "--reference", &plain]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a signed bundle"), "{err}");
    let intruder = d.join("intruder.pub").display().to_string();
    let (code, _, err) = attest(&[
        &evidence,
        "--nonce",
        nonce,
        "--reference",
        &signed,
        "--publisher-key",
        &intruder,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("publisher key"), "{err}");
}

#[test]
fn verify_refuses_bad_references_before_asking_for_evidence() {
    // Port 9 on loopback: nothing listens; a refusal must come before any connection.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for prefix in ["publisher", "intruder"] {
        assert!(run(blindfold().args(["keygen", "-o"]).arg(d.join(prefix)))
            .status
            .success());
    }
    app_disk_manifest(d, 4096);
    for (out, sign) in [("signed.json", true), ("plain.json", false)] {
        let mut cmd = blindfold();
        cmd.args(["measure", "--app-disk"])
            .arg(d.join("app.json"))
            .arg("-o")
            .arg(d.join(out));
        if sign {
            cmd.arg("--sign").arg(d.join("publisher.key"));
        }
        assert!(run(&mut cmd).status.success());
    }
    let verify = |reference: &str, extra: &[&str]| {
        let out = run(blindfold()
            .args(["verify", "127.0.0.1:9", "--reference"])
            .arg(d.join(reference))
            .args(extra));
        (out.status.code().unwrap(), text(&out.stderr))
    };
    let intruder = d.join("intruder.pub").display().to_string();
    let (code, err) = verify("signed.json", &["--publisher-key", &intruder]);
    assert_eq!(code, 1);
    assert!(err.contains("refused before any evidence was requested"), "{err}");
    let publisher = d.join("publisher.pub").display().to_string();
    let (code, err) = verify("plain.json", &["--publisher-key", &publisher]);
    assert_eq!(code, 1);
    assert!(
        err.contains("is not signed") && err.contains("refused before any evidence"),
        "{err}"
    );
    let (code, _) = verify("plain.json", &[]);
    assert_eq!(code, 2, "neither --publisher-key nor --reference-unsigned");
    // A signed bundle read as a plain file: the error says what it is.
    let (code, err) = verify("signed.json", &["--reference-unsigned"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("this is a signed reference bundle") && !err.contains("no known layout"),
        "{err}"
    );
    // A development bundle without the development opt-ins: refused at load.
    let (code, err) = verify("signed.json", &["--publisher-key", &publisher]);
    assert_eq!(code, 1);
    assert!(
        err.contains("development references are not allowed") && err.contains("refused before any evidence"),
        "{err}"
    );
    // With the right key and the opt-ins the reference passes, and only
    // then is a connection tried (and fails here).
    let (code, err) = verify(
        "signed.json",
        &[
            "--publisher-key",
            &publisher,
            "--allow-dev",
            "--allow-dev-reference",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("connection"), "{err}");
}

// ------------------------------------------- AWS Nitro, Azure SEV-SNP / TDX

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
    assert!(
        err.contains("--allow-debug accepts a debug-mode platform knowingly"),
        "the refusal names its fix: {err}"
    );
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
    // Intel's collateral for another platform (a real set, for FMSPC
    // B0C06F000000, crates/tdx/tests/vectors/dcap-qvl) is refused; a
    // directory without the files is unusable input.
    let collateral = common::repo_root().join("crates/tdx/tests/vectors/dcap-qvl");
    let (code, v, err) = attest(&[
        &path(TDX),
        "--nonce",
        CHALLENGE,
        "--at",
        "2025-07-01T00:00:00Z",
        "--tdx-collateral",
        &collateral.display().to_string(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        v["errors"][0]
            .as_str()
            .unwrap()
            .contains("TCB Info is for FMSPC b0c06f000000"),
        "{v}"
    );
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = attest(&[
        &path(TDX),
        "--nonce",
        CHALLENGE,
        "--tdx-collateral",
        &empty.path().display().to_string(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("tcb_info.json"), "{err}");
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

/// Failures say what to do, once: a wrong nonce names --nonce, an archived
/// document's expired chain names --at, a non-hex nonce says why; each
/// cause is printed once.
#[test]
fn errors_point_at_the_fix_and_say_each_cause_once() {
    let gcp = path("gcp-vtpm/gce-cos85-attestation-nonce9009/gce-cos-85-nonce9009.pb");
    let out = run(blindfold().args(["attest", "verify", &gcp, "--nonce", "9008"]));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("blindfold: quote 0: quote extraData 9009 is not the expected nonce 9008\n"),
        "{err}"
    );
    assert!(
        err.contains("the quote was made for another nonce: check --nonce"),
        "{err}"
    );
    assert_eq!(err.matches("is not the expected nonce").count(), 1, "{err}");

    let nitro = path("aws-nitro/evervault-enclave-nondebug/valid-attestation-doc-bytes");
    let out = run(blindfold().args(["attest", "verify", &nitro, "--no-freshness"]));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("expired at 2022-10-13T11:58:02Z"), "{err}");
    assert!(
        err.contains("verify it at the time it was made with --at TIME"),
        "{err}"
    );

    let out = run(blindfold().args(["attest", "verify", &gcp, "--nonce", "challenges"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`h` at position 1 is not a hex digit"),
        "{}",
        text(&out.stderr)
    );
}
