//! Property tests: truncated, extended and random logs give an error or a
//! log, never a panic, and decoding any event for display never panics.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
use blindfold_eventlog::{replay, EventData, EventLog, ReplayOptions};
use proptest::prelude::*;

fn sample() -> Vec<u8> {
    std::fs::read(blindfold_testdata::shared(
        "tcg-eventlogs/gtt-rhel8-uefi/rhel8-uefi.bin",
    ))
    .unwrap()
}

fn exercise(bytes: &[u8]) {
    if let Ok(log) = EventLog::parse(bytes) {
        for e in &log.events {
            let _ = EventData::decode(e).to_string();
        }
        let _ = replay(&log, ReplayOptions::default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn truncated_real_log(cut in 0usize..30_000) {
        let log = sample();
        let cut = cut.min(log.len());
        let r = EventLog::parse(&log[..cut]);
        if cut < log.len() {
            // A cut inside an event is an error; a cut exactly at an event boundary is a shorter log.
            if let Ok(l) = &r { prop_assert!(l.events.len() < EventLog::parse(&log).unwrap().events.len()); }
        }
        exercise(&log[..cut]);
    }

    #[test]
    fn mutated_real_log(pos in 0usize..30_000, byte in any::<u8>(), extra in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut log = sample();
        let pos = pos % log.len();
        log[pos] = byte;
        log.extend_from_slice(&extra);
        exercise(&log);
    }
}
