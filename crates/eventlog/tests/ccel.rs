//! TDX CC event logs built byte for byte (padded with 0xFF as TDVF leaves
//! its log area, and cut at the last event): read, replayed into RTMRs
//! (checked against SHA-384 computed here), refused where they break the
//! format, and compared with generated TD quotes.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test

use std::time::SystemTime;

use blindfold_crypto::HashAlg;
use blindfold_eventlog::{
    compare_with_td_quote, replay_cc, require_rtmr_match, CcEventLog, Error, EventLog, PcrStatus,
};
use blindfold_tdx::{IntelRoots, TdxOptions, TdxVerifier};
use blindfold_testdata::eventlog::{AgileLog, Bank, EV_EFI_ACTION, EV_SEPARATOR};
use blindfold_testdata::tdx::{td_quote, QuoteSpec, TestPki};

/// A TDVF-like log: RTMR 0 (MR index 1), RTMR 1 (2) and RTMR 2 (3).
fn tdvf_log() -> AgileLog {
    let mut log = AgileLog::ccel();
    log.event(1, 0x8000_000A, b"TD HOB")
        .event(1, 0x8000_0001, b"SecureBoot variable")
        .event(1, EV_SEPARATOR, &[0; 4])
        .event(2, EV_EFI_ACTION, b"Calling EFI Application from Boot Option")
        .event(2, EV_SEPARATOR, &[0; 4])
        .event(3, 13, b"grub_cmd linux /vmlinuz");
    log
}

/// RTMRs computed here from the builder's own events.
fn expected_rtmrs(log: &AgileLog) -> [Option<Vec<u8>>; 4] {
    let mut out: [Option<Vec<u8>>; 4] = Default::default();
    for e in log.events() {
        let slot = &mut out[(e.index - 1) as usize];
        let cur = slot.take().unwrap_or_else(|| vec![0; 48]);
        *slot = Some(Bank::Sha384.extend(&cur, &e.digests[0]));
    }
    out
}

#[test]
fn padded_and_unpadded_logs_replay_to_the_same_rtmrs() {
    let log = tdvf_log();
    let plain = log.to_bytes();
    let padded = log.to_padded_bytes(64 * 1024);
    let expected = expected_rtmrs(&log);
    for (bytes, padding) in [(&plain, 0), (&padded, padded.len() - plain.len())] {
        assert!(CcEventLog::detect(bytes).is_some());
        let cc = CcEventLog::parse(bytes).unwrap();
        assert_eq!(cc.padding, padding);
        assert_eq!(cc.log.events.len(), 7);
        let r = replay_cc(&cc).unwrap();
        assert_eq!(r.measured_events, 6);
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(&r.rtmrs[i].map(|d| d.as_bytes().to_vec()), want, "RTMR {i}");
        }
        assert_eq!(r.rtmrs[3], None);
        assert_eq!(r.rtmrs[0].unwrap().alg(), HashAlg::Sha384);
    }
    // The TPM reader does not read through the padding: that is why CC
    // logs have their own.
    assert!(EventLog::parse(&padded).is_err());
}

#[test]
fn a_tpm_log_is_not_taken_for_a_cc_log() {
    let mut tpm = AgileLog::new(&[Bank::Sha256]);
    tpm.event(0, EV_SEPARATOR, &[0; 4]);
    assert!(CcEventLog::detect(&tpm.to_bytes()).is_none());
    let mut tpm384 = AgileLog::new(&[Bank::Sha384]);
    tpm384.event(0, EV_SEPARATOR, &[0; 4]);
    assert!(
        CcEventLog::detect(&tpm384.to_bytes()).is_none(),
        "SHA-384 alone, but the header is in PCR 0"
    );
}

#[test]
fn bytes_after_the_padding_are_refused() {
    let log = tdvf_log();
    let mut bytes = log.to_padded_bytes(4096);
    let at = bytes.len() - 100;
    bytes[at] = 0x00;
    assert_eq!(
        CcEventLog::parse(&bytes).unwrap_err(),
        Error::DataAfterPadding { offset: at }
    );
    assert!(CcEventLog::detect(&bytes).is_none());
}

#[test]
fn only_rtmr_indices_may_be_extended() {
    for index in [0u32, 5, 0x7FFF_FFFF] {
        let mut log = tdvf_log();
        log.event(index, EV_EFI_ACTION, b"somewhere else");
        let cc = CcEventLog::parse(&log.to_bytes()).unwrap();
        assert_eq!(
            replay_cc(&cc).unwrap_err(),
            Error::NotAnRtmr { event: 7, index },
            "index {index}"
        );
    }
}

#[test]
fn a_cc_log_without_sha384_is_refused() {
    let mut log = AgileLog::new(&[Bank::Sha256]);
    log.event(1, EV_SEPARATOR, &[0; 4]);
    let e = CcEventLog::parse(&log.to_bytes()).unwrap_err();
    assert!(matches!(e, Error::CcLogWithoutSha384 { .. }), "{e:?}");
}

fn rtmr_array(log: &AgileLog) -> [[u8; 48]; 4] {
    let mut out = [[0u8; 48]; 4];
    for (i, v) in expected_rtmrs(log).iter().enumerate() {
        if let Some(v) = v {
            out[i].copy_from_slice(v);
        }
    }
    out
}

#[test]
fn a_td_quote_is_compared_rtmr_by_rtmr() {
    let pki = TestPki::generate();
    let log = tdvf_log();
    let replayed = replay_cc(&CcEventLog::parse(&log.to_padded_bytes(8192)).unwrap()).unwrap();
    let verifier = TdxVerifier::new(&IntelRoots::from_pem(pki.root_pem.as_bytes()).unwrap());
    let verify = |rtmrs| {
        let quote = td_quote(
            &pki,
            &QuoteSpec {
                rtmrs,
                ..QuoteSpec::new(&pki)
            },
        );
        verifier
            .verify(&quote, SystemTime::now(), &TdxOptions::default())
            .unwrap()
    };

    // RTMR 3, extended by the OS at run time, is not in the firmware's log.
    let mut rtmrs = rtmr_array(&log);
    rtmrs[3] = [0x33; 48];
    let checks = compare_with_td_quote(&verify(rtmrs), &replayed);
    let statuses: Vec<_> = checks.iter().map(|c| (c.rtmr, c.status.clone())).collect();
    assert_eq!(
        statuses,
        vec![
            (0, PcrStatus::Matches),
            (1, PcrStatus::Matches),
            (2, PcrStatus::Matches),
            (3, PcrStatus::NotInLog)
        ]
    );
    require_rtmr_match(&checks).unwrap();

    // A quote of another boot: RTMR 1 differs and is named.
    let mut other = rtmr_array(&log);
    other[1][0] ^= 1;
    let checks = compare_with_td_quote(&verify(other), &replayed);
    match require_rtmr_match(&checks).unwrap_err() {
        Error::RtmrMismatch {
            rtmr,
            expected,
            actual,
        } => {
            assert_eq!(rtmr, 1);
            assert_eq!(expected, hex::encode(other[1]));
            assert_eq!(actual, replayed.rtmrs[1].unwrap().to_hex());
        }
        e => panic!("{e:?}"),
    }
}
