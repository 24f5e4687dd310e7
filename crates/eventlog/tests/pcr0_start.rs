//! PCR 0's starting value on hand-made logs (the same rules are checked
//! against swtpm in `crates/cli/tests/oracle_hcrtm.rs`).

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test

use blindfold_eventlog::{replay, EventLog, Pcr0Start, ReplayOptions, SuspicionReason};
use blindfold_testdata::eventlog::{AgileLog, Bank, EV_SEPARATOR};
use blindfold_tpm::PcrIndex;

fn pcr0(log: &AgileLog) -> (Vec<u8>, blindfold_eventlog::Replay) {
    let r = replay(
        &EventLog::parse(&log.to_bytes()).unwrap(),
        ReplayOptions::default(),
    );
    let v = r
        .pcrs
        .get(blindfold_crypto::HashAlg::Sha256, PcrIndex(0))
        .unwrap()
        .as_bytes()
        .to_vec();
    (v, r)
}

fn start(last: u8) -> Vec<u8> {
    let mut v = vec![0u8; 32];
    v[31] = last;
    v
}

#[test]
fn an_h_crtm_event_starts_pcr0_at_0_04_and_extends_its_digest() {
    let mut log = AgileLog::new(&[Bank::Sha256]);
    log.hcrtm(b"volume").event(0, EV_SEPARATOR, &[0; 4]);
    let (v, r) = pcr0(&log);
    let want = Bank::Sha256.extend(
        &Bank::Sha256.extend(&start(4), &Bank::Sha256.hash(b"volume")),
        &Bank::Sha256.hash(&[0; 4]),
    );
    assert_eq!(v, want);
    assert_eq!((r.pcr0_start, r.startup_locality), (Pcr0Start::Hcrtm, None));
    assert!(r.suspicious.is_empty());
}

#[test]
fn a_startup_locality_alone_sets_the_last_octet() {
    for locality in [0u8, 3, 4] {
        let mut log = AgileLog::new(&[Bank::Sha256]);
        log.startup_locality(locality).event(0, EV_SEPARATOR, &[0; 4]);
        let (v, r) = pcr0(&log);
        assert_eq!(
            v,
            Bank::Sha256.extend(&start(locality), &Bank::Sha256.hash(&[0; 4]))
        );
        assert_eq!(r.pcr0_start, Pcr0Start::StartupLocality(locality));
    }
}

#[test]
fn only_the_first_startup_locality_counts() {
    let mut log = AgileLog::new(&[Bank::Sha256]);
    log.startup_locality(3)
        .startup_locality(0)
        .event(0, EV_SEPARATOR, &[0; 4]);
    let (_, r) = pcr0(&log);
    assert_eq!(r.pcr0_start, Pcr0Start::StartupLocality(3));
    assert_eq!(r.suspicious.len(), 1);
    assert_eq!(r.suspicious[0].number, 2);
    assert_eq!(r.suspicious[0].reason, SuspicionReason::RepeatedStartupLocality);
}

#[test]
fn other_pcrs_never_start_from_the_h_crtm() {
    let mut log = AgileLog::new(&[Bank::Sha256]);
    log.hcrtm(b"volume").event(1, EV_SEPARATOR, &[0; 4]);
    let r = replay(
        &EventLog::parse(&log.to_bytes()).unwrap(),
        ReplayOptions::default(),
    );
    let pcr1 = r
        .pcrs
        .get(blindfold_crypto::HashAlg::Sha256, PcrIndex(1))
        .unwrap();
    assert_eq!(
        pcr1.as_bytes(),
        Bank::Sha256.extend(&[0; 32], &Bank::Sha256.hash(&[0; 4]))
    );
}
