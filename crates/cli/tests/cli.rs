//! The command-line contract: JSON shapes, exit codes (0 ok, 1 check
//! failed, 2 unusable input) and one-line errors.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use common::*;

fn keylime(f: &str) -> std::path::PathBuf {
    shared_testdata().join("tpm2-quotes/keylime-swtpm-quote").join(f)
}

#[test]
fn eventlog_replay_json_has_the_documented_shape() {
    let log = shared_testdata().join("tcg-eventlogs/t2t-event/event.bin");
    let out = run(blindfold().args(["eventlog", "replay", "--json"]).arg(&log));
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"], "crypto-agile");
    assert_eq!(v["events"], 2);
    assert!(v["suspicious_events"].as_array().unwrap().is_empty());
    for bank in ["sha1", "sha256", "sha384", "sha512"] {
        let hex = v["banks"][bank]["0"].as_str().unwrap();
        assert!(
            hex.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{bank}: {hex}"
        );
    }
    assert_eq!(
        v["banks"]["sha1"]["0"],
        "543c314066a9cd7a6b6aa53f56b38e814a76efe7"
    );
}

#[test]
fn suspicious_events_are_listed_but_replay_still_succeeds() {
    let log = shared_testdata().join("tcg-eventlogs/gtt-debian-10/debian-10.bin");
    let out = run(blindfold().args(["eventlog", "replay", "--json"]).arg(&log));
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"], "sha1-legacy");
    let s = v["suspicious_events"].as_array().unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["type"], "EV_EFI_VARIABLE_AUTHORITY");
}

#[test]
fn the_exit_boot_services_option_is_named_in_the_output() {
    let log =
        shared_testdata().join("tcg-eventlogs/ga-ebs_event_missing_eventlog/ebs_event_missing_eventlog");
    let out = run(blindfold()
        .args([
            "eventlog",
            "replay",
            "--json",
            "--assume-unlogged-exit-boot-services",
        ])
        .arg(&log));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["options_applied"][0], "assume-unlogged-exit-boot-services");
    assert_eq!(
        v["banks"]["sha1"]["5"],
        "31245808d6d35849bc394f6343f2b3ff908ed5e3"
    );
}

#[test]
fn eventlog_show_lists_every_event() {
    let log = shared_testdata().join("tcg-eventlogs/t2t-event-uefiservices/event-uefiservices.bin");
    let out = run(blindfold().args(["eventlog", "show", "--json"]).arg(&log));
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["type"], "EV_EFI_BOOT_SERVICES_DRIVER");
    assert!(events[1]["data"].as_str().unwrap().starts_with("image at"));
    let table = run(blindfold().args(["eventlog", "show"]).arg(&log));
    assert!(text(&table.stdout).contains("EV_EFI_BOOT_SERVICES_DRIVER"));
}

#[test]
fn a_garbage_log_is_unusable_input() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("log");
    std::fs::write(&p, [0u8; 7]).unwrap();
    let out = run(blindfold().args(["eventlog", "replay"]).arg(&p));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("blindfold: event log") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn quote_verify_ok_and_failed_exit_codes() {
    let args = |nonce: &str| {
        let mut c = blindfold();
        c.args(["quote", "verify", "--json", "--ak"])
            .arg(keylime("ak.pub"))
            .arg("--message")
            .arg(keylime("quote.out"))
            .arg("--signature")
            .arg(keylime("quotesig.out"))
            .arg("--pcrs")
            .arg(keylime("quotepcr.out"))
            .args(["--nonce", nonce]);
        c
    };
    let ok = run(&mut args("db1db298db6d60e6385b7231743e9c3056a18003"));
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["verdict"], "ok");
    assert_eq!(v["quote"]["pcr_selection"], "sha256:15,16,22");
    assert_eq!(v["pcrs"]["sha256"]["22"], "f".repeat(64));

    let bad = run(&mut args("db1db298db6d60e6385b7231743e9c3056a18004"));
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(v["verdict"], "failed");
    assert!(v["reason"].as_str().unwrap().contains("extraData"));
    assert_eq!(text(&bad.stderr).lines().count(), 1);

    let unusable = run(&mut args("not-hex"));
    assert_eq!(unusable.status.code(), Some(2));
}

#[test]
fn quote_verify_requires_a_freshness_choice_and_an_ak() {
    let out = run(blindfold()
        .args(["quote", "verify", "--ak"])
        .arg(keylime("ak.pub"))
        .arg("--message")
        .arg(keylime("quote.out"))
        .arg("--signature")
        .arg(keylime("quotesig.out"))
        .arg("--pcrs")
        .arg(keylime("quotepcr.out")));
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit 2");
    let out = run(blindfold()
        .args(["quote", "verify", "--no-freshness", "--message"])
        .arg(keylime("quote.out"))
        .arg("--signature")
        .arg(keylime("quotesig.out"))
        .arg("--pcrs")
        .arg(keylime("quotepcr.out")));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn no_freshness_is_reported_in_the_output() {
    let out = run(blindfold()
        .args(["quote", "verify", "--json", "--no-freshness", "--ak"])
        .arg(keylime("akpub.pem"))
        .arg("--message")
        .arg(keylime("quote.out"))
        .arg("--signature")
        .arg(keylime("quotesig.out"))
        .arg("--pcrs")
        .arg(keylime("quotepcr.out")));
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["freshness"].as_str().unwrap().starts_with("not-checked"));
}

#[test]
fn azure_raw_signature_and_json_pcrs() {
    let d = shared_testdata().join("azure-vtpm/azure-cvm-tooling-snp");
    // The 24 PCRs sit after the signature and message in quote.bin.
    let bin = std::fs::read(d.join("quote.bin")).unwrap();
    let pcrs = &bin[bin.len() - 24 * 32..];
    let map: serde_json::Map<String, serde_json::Value> = (0..24)
        .map(|i| (i.to_string(), hex::encode(&pcrs[i * 32..i * 32 + 32]).into()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let pcr_file = dir.path().join("pcrs.json");
    std::fs::write(&pcr_file, serde_json::json!({ "sha256": map }).to_string()).unwrap();
    let out = run(blindfold()
        .args(["quote", "verify", "--json", "--ak"])
        .arg(d.join("akpub.pem"))
        .arg("--message")
        .arg(d.join("quote.msg.TPMS_ATTEST.bin"))
        .arg("--signature")
        .arg(d.join("quote.sig.rsassa-sha256.raw"))
        .arg("--pcrs")
        .arg(&pcr_file)
        .args(["--nonce", &hex::encode("challenge")]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["inputs"]["signature_format"], "raw");
    assert_eq!(
        v["quote"]["pcr_digest"],
        "04fabd988106412e438c1b93ad3b4b046c760f8f99ec557d87adf2ab02b7a4a0"
    );
}
