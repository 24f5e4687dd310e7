//! PCR 0's starting value, tested against a TPM: swtpm runs an H-CRTM
//! sequence (`_TPM_Hash_Start`/`Data`/`End` through its control channel)
//! or starts at locality 3, the events after it are extended, the TPM is
//! quoted, and `quote verify --eventlog` must replay each hand-made log to
//! the quoted PCR 0 — or name PCR 0 where the log misstates the start.
//! `tpm2_eventlog` 5.4 knows neither rule, so it is no oracle here.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use blindfold_testdata::eventlog::{
    AgileLog, Bank, EV_EFI_ACTION, EV_EFI_HCRTM_EVENT, EV_SEPARATOR, EV_S_CRTM_VERSION,
};
use common::*;

const SELECTION: &str = "sha1:0,1+sha256:0,1";
const HCRTM_DATA: &[u8] = b"the H-CRTM measured this firmware volume";

/// The events firmware logs after PCR 0's start (all extended by the test).
fn firmware_events(log: &mut AgileLog) {
    log.event(0, EV_S_CRTM_VERSION, "1.0.0\0".as_bytes())
        .event(1, EV_EFI_ACTION, b"platform configuration")
        .event(0, EV_SEPARATOR, &[0; 4])
        .event(1, EV_SEPARATOR, &[0; 4]);
}

/// Starts swtpm as `startup` says, extends the log's events (the H-CRTM
/// event aside: the TPM measured that itself), and quotes.
fn quote(dir: &std::path::Path, startup: &str, log: &AgileLog) -> std::path::PathBuf {
    let list = dir.join("extend.txt");
    let lines = log.extend_lines(|e| e.event_type == EV_EFI_HCRTM_EVENT);
    std::fs::write(&list, lines.join("\n")).unwrap();
    let data = dir.join("hcrtm.bin");
    std::fs::write(&data, HCRTM_DATA).unwrap();
    let out = dir.join(format!("quote-{startup}"));
    let run_out = run(
        std::process::Command::new(repo_root().join("scripts/swtpm-quote.sh"))
            .env("EXTEND_LIST", &list)
            .env("TPM_STARTUP", startup)
            .env("HCRTM_DATA", &data)
            .arg(&out)
            .args(["rsa", "rsassa", SELECTION]),
    );
    assert!(run_out.status.success(), "{}", text(&run_out.stderr));
    out
}

fn verify(quote: &std::path::Path, log: &[u8]) -> (i32, serde_json::Value, String) {
    let path = quote.join("log.bin");
    std::fs::write(&path, log).unwrap();
    let nonce = std::fs::read_to_string(quote.join("nonce.hex")).unwrap();
    let out = run(blindfold()
        .args(["quote", "verify", "--json", "--ak"])
        .arg(quote.join("ak.pub"))
        .arg("--message")
        .arg(quote.join("msg"))
        .arg("--signature")
        .arg(quote.join("sig"))
        .arg("--pcrs")
        .arg(quote.join("pcrs"))
        .args(["--nonce", nonce.trim(), "--eventlog"])
        .arg(&path));
    let v = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out.status.code().unwrap(), v, text(&out.stderr))
}

fn replay_json(quote: &std::path::Path) -> serde_json::Value {
    let out = run(blindfold()
        .args(["eventlog", "replay", "--json"])
        .arg(quote.join("log.bin")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_all_match(v: &serde_json::Value) {
    let rows = v["eventlog"]["pcrs"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{v}");
    for r in rows {
        assert_eq!(r["status"], "matches", "{r}");
    }
}

#[test]
fn an_h_crtm_starts_pcr0_at_locality_4_then_extends_its_digest() {
    require_tool("swtpm");
    let dir = tempfile::tempdir().unwrap();
    let mut log = AgileLog::new(&[Bank::Sha1, Bank::Sha256]);
    log.hcrtm(HCRTM_DATA);
    firmware_events(&mut log);
    let q = quote(dir.path(), "hcrtm", &log);
    let (code, v, err) = verify(&q, &log.to_bytes());
    assert_eq!(code, 0, "{err}");
    assert_all_match(&v);
    let r = replay_json(&q);
    assert_eq!(r["pcr0_start"], "h-crtm");
    assert_eq!(r["suspicious_events"], serde_json::json!([]));
    // Our own arithmetic agrees with the TPM: PCR 0 = H(0…04 || H(data)), then the events.
    let mut pcr0 = vec![0u8; 32];
    pcr0[31] = 4;
    for e in log.events().iter().filter(|e| e.index == 0) {
        pcr0 = Bank::Sha256.extend(&pcr0, &e.digests[1]);
    }
    assert_eq!(r["banks"]["sha256"]["0"], hex::encode(&pcr0));
    // eventlog show names the event and shows its data as text.
    let show = run(blindfold().args(["eventlog", "show"]).arg(q.join("log.bin")));
    let shown = text(&show.stdout);
    assert!(
        shown.contains("EV_EFI_HCRTM_EVENT") && shown.contains("HCRTM"),
        "{shown}"
    );

    // The same TPM, a log that hides the H-CRTM as an ordinary PCR 0
    // event: PCR 0 would start at zero, and the mismatch names PCR 0.
    let mut hidden = AgileLog::new(&[Bank::Sha1, Bank::Sha256]);
    let digests = hidden.banks().iter().map(|b| b.hash(HCRTM_DATA)).collect();
    hidden.event_with_digests(0, EV_S_CRTM_VERSION, digests, b"HCRTM");
    firmware_events(&mut hidden);
    let (code, _, err) = verify(&q, &hidden.to_bytes());
    assert_eq!(code, 1);
    assert!(err.contains("PCR 0 (sha1): quote has"), "{err}");
}

#[test]
fn with_both_events_the_h_crtm_wins_over_the_startup_locality() {
    require_tool("swtpm");
    let dir = tempfile::tempdir().unwrap();
    // The TPM: an H-CRTM, then TPM2_Startup sent from locality 3.
    let mut log = AgileLog::new(&[Bank::Sha1, Bank::Sha256]);
    log.startup_locality(4).hcrtm(HCRTM_DATA);
    firmware_events(&mut log);
    let q = quote(dir.path(), "hcrtm-locality3", &log);
    // StartupLocality 4 with an H-CRTM (how firmware logs it): consistent.
    let (code, v, err) = verify(&q, &log.to_bytes());
    assert_eq!(code, 0, "{err}");
    assert_all_match(&v);
    let r = replay_json(&q);
    assert_eq!(
        (r["pcr0_start"].as_str(), r["startup_locality"].as_u64()),
        (Some("h-crtm"), Some(4))
    );
    assert_eq!(r["suspicious_events"], serde_json::json!([]));

    // StartupLocality 3 (the locality Startup really came from) with the
    // H-CRTM: the TPM kept the H-CRTM's PCR 0, and so does the replay;
    // the contradiction is reported.
    let mut three = AgileLog::new(&[Bank::Sha1, Bank::Sha256]);
    three.startup_locality(3).hcrtm(HCRTM_DATA);
    firmware_events(&mut three);
    let (code, v, err) = verify(&q, &three.to_bytes());
    assert_eq!(code, 0, "{err}");
    assert_all_match(&v);
    let r = replay_json(&q);
    assert_eq!(r["pcr0_start"], "h-crtm");
    let s = r["suspicious_events"].as_array().unwrap();
    assert_eq!(s.len(), 1, "{r}");
    assert!(
        s[0]["reason"]
            .as_str()
            .unwrap()
            .contains("StartupLocality 3 contradicts"),
        "{r}"
    );
}

#[test]
fn a_startup_locality_counts_only_before_pcr0_is_measured() {
    require_tool("swtpm");
    let dir = tempfile::tempdir().unwrap();
    let mut log = AgileLog::new(&[Bank::Sha1, Bank::Sha256]);
    log.startup_locality(3);
    firmware_events(&mut log);
    let q = quote(dir.path(), "locality3", &log);
    let (code, v, err) = verify(&q, &log.to_bytes());
    assert_eq!(code, 0, "{err}");
    assert_all_match(&v);
    assert_eq!(replay_json(&q)["pcr0_start"], "startup-locality");

    // The same event after the first PCR 0 measurement is not used (PFP
    // §10.4.5.3 places it before any): PCR 0 no longer matches.
    let mut late = AgileLog::new(&[Bank::Sha1, Bank::Sha256]);
    late.event(0, EV_S_CRTM_VERSION, "1.0.0\0".as_bytes())
        .startup_locality(3);
    late.event(1, EV_EFI_ACTION, b"platform configuration")
        .event(0, EV_SEPARATOR, &[0; 4])
        .event(1, EV_SEPARATOR, &[0; 4]);
    let (code, _, err) = verify(&q, &late.to_bytes());
    assert_eq!(code, 1);
    assert!(err.contains("PCR 0 (sha1): quote has"), "{err}");
    let r = replay_json(&q);
    assert_eq!(r["pcr0_start"], "zero");
    assert!(
        r["suspicious_events"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("after a PCR 0 measurement"),
        "{r}"
    );
}

#[test]
fn an_h_crtm_event_after_pcr0_measurements_does_not_reset_pcr0() {
    require_tool("swtpm");
    let dir = tempfile::tempdir().unwrap();
    // The TPM really ran an H-CRTM; the log puts invented PCR 0 events
    // before its H-CRTM event. Resetting PCR 0 at that event would make
    // the invented events vanish from the replay and still match.
    let mut honest = AgileLog::new(&[Bank::Sha1, Bank::Sha256]);
    honest.hcrtm(HCRTM_DATA);
    firmware_events(&mut honest);
    let q = quote(dir.path(), "hcrtm", &honest);
    let mut forged = AgileLog::new(&[Bank::Sha1, Bank::Sha256]);
    forged
        .event(0, EV_S_CRTM_VERSION, b"an event that never happened")
        .hcrtm(HCRTM_DATA);
    firmware_events(&mut forged);
    let (code, _, err) = verify(&q, &forged.to_bytes());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("PCR 0 (sha1): quote has"), "{err}");
    let r = replay_json(&q);
    assert!(
        r["suspicious_events"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("H-CRTM event after a PCR 0 measurement"),
        "{r}"
    );
}
