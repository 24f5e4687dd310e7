//! `blindfold eventlog replay|show` on a TDX CC event log: detected by its
//! content, replayed into RTMRs, and compared with a TD quote (generated,
//! verified to its own test root) the way `quote verify --eventlog`
//! compares PCRs with a TPM quote.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use blindfold_testdata::eventlog::{AgileLog, Bank, EV_EFI_ACTION, EV_SEPARATOR};
use blindfold_testdata::tdx::{td_quote, QuoteSpec, TestPki};
use common::*;

fn log() -> AgileLog {
    let mut log = AgileLog::ccel();
    log.event(1, EV_SEPARATOR, &[0; 4])
        .event(2, EV_EFI_ACTION, b"Exit Boot Services Invocation")
        .event(3, 13, b"kernel command line");
    log
}

fn rtmrs(log: &AgileLog) -> [[u8; 48]; 4] {
    let mut out = [[0u8; 48]; 4];
    for e in log.events() {
        let i = (e.index - 1) as usize;
        let next = Bank::Sha384.extend(&out[i], &e.digests[0]);
        out[i].copy_from_slice(&next);
    }
    out
}

struct Files {
    _dir: tempfile::TempDir,
    log: std::path::PathBuf,
    quote: std::path::PathBuf,
    root: std::path::PathBuf,
}

fn files(log_bytes: &[u8], quoted: [[u8; 48]; 4]) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate();
    let (log, quote, root) = (
        dir.path().join("CCEL"),
        dir.path().join("quote.bin"),
        dir.path().join("root.pem"),
    );
    std::fs::write(&log, log_bytes).unwrap();
    std::fs::write(
        &quote,
        td_quote(
            &pki,
            &QuoteSpec {
                rtmrs: quoted,
                ..QuoteSpec::new(&pki)
            },
        ),
    )
    .unwrap();
    std::fs::write(&root, &pki.root_pem).unwrap();
    Files {
        _dir: dir,
        log,
        quote,
        root,
    }
}

#[test]
fn a_padded_ccel_is_detected_and_replayed_into_rtmrs() {
    let l = log();
    let f = files(&l.to_padded_bytes(16 * 1024), rtmrs(&l));
    let out = run(blindfold().args(["eventlog", "replay", "--json"]).arg(&f.log));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"], "cc-event-log");
    assert_eq!(v["measured_events"], 3);
    assert_eq!(v["padding_bytes"], 16 * 1024 - l.to_bytes().len());
    let want = rtmrs(&l);
    for i in 0..3 {
        assert_eq!(v["rtmrs"][i.to_string()], hex::encode(want[i]));
    }
    assert_eq!(v["rtmrs"]["3"], serde_json::Value::Null);
    let show = run(blindfold().args(["eventlog", "show"]).arg(&f.log));
    assert!(show.status.success(), "{}", text(&show.stderr));
    assert!(text(&show.stdout).contains("Exit Boot Services Invocation"));
}

#[test]
fn a_td_quote_is_compared_with_the_replay() {
    let l = log();
    let f = files(&l.to_bytes(), rtmrs(&l));
    let out = run(blindfold()
        .args(["eventlog", "replay", "--ccel", "--json", "--td-quote"])
        .arg(&f.quote)
        .arg("--intel-root")
        .arg(&f.root)
        .arg(&f.log));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["td_quote"]["verdict"], "matches");
    assert_eq!(
        v["td_quote"]["verified_to"],
        "the given root certificate (not Intel's)"
    );
    let statuses: Vec<_> = v["td_quote"]["rtmrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, ["matches", "matches", "matches", "not-in-log"]);

    // Under Intel's root, the generated quote is refused before any comparison.
    let out = run(blindfold()
        .args(["eventlog", "replay", "--td-quote"])
        .arg(&f.quote)
        .arg(&f.log));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("TD quote"), "{}", text(&out.stderr));
}

#[test]
fn a_log_of_another_boot_names_the_rtmr_that_differs() {
    let l = log();
    let mut other = AgileLog::ccel();
    other
        .event(1, EV_SEPARATOR, &[0; 4])
        .event(2, EV_EFI_ACTION, b"Exit Boot Services Invocation")
        .event(3, 13, b"kernel command line init=/bin/sh");
    let f = files(&other.to_padded_bytes(4096), rtmrs(&l));
    let out = run(blindfold()
        .args(["eventlog", "replay", "--json", "--td-quote"])
        .arg(&f.quote)
        .arg("--intel-root")
        .arg(&f.root)
        .arg(&f.log));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("RTMR 2: TD quote has") && err.contains("event log replays to"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["td_quote"]["verdict"], "failed");
    assert_eq!(v["td_quote"]["rtmrs"][2]["status"], "mismatch");
}

#[test]
fn a_td_quote_needs_a_cc_event_log() {
    let l = log();
    let f = files(&l.to_bytes(), rtmrs(&l));
    let mut tpm = AgileLog::new(&[Bank::Sha256]);
    tpm.event(0, EV_SEPARATOR, &[0; 4]);
    std::fs::write(&f.log, tpm.to_bytes()).unwrap();
    let out = run(blindfold()
        .args(["eventlog", "replay", "--td-quote"])
        .arg(&f.quote)
        .arg(&f.log));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("this is a TPM event log"),
        "{}",
        text(&out.stderr)
    );
}
