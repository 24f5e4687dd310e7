//! Every shared event log replays to the values its `expected-pcrs.json`
//! lists, for every (bank, PCR) the log extends.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
use std::path::PathBuf;

use blindfold_crypto::HashAlg;
use blindfold_eventlog::{replay, AppliedOption, EventLog, LogFormat, ReplayOptions};
use blindfold_tpm::PcrIndex;
use serde_json::Value;

/// (folder name, log path, expected JSON) for every sample.
fn samples() -> Vec<(String, PathBuf, Value)> {
    let out: Vec<_> = blindfold_testdata::event_log_samples()
        .into_iter()
        .map(|s| {
            let expected = serde_json::from_slice(&std::fs::read(&s.expected).unwrap()).unwrap();
            (s.name, s.log, expected)
        })
        .collect();
    assert!(
        out.len() >= 18,
        "expected the 18 shared logs, found {}",
        out.len()
    );
    out
}

#[test]
fn every_log_replays_to_its_expected_pcrs() {
    for (name, path, expected) in samples() {
        let log = EventLog::parse(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let wants_legacy = expected["format"].as_str().unwrap().starts_with("legacy");
        assert_eq!(
            log.format == LogFormat::Sha1Legacy,
            wants_legacy,
            "{name}: format"
        );
        let ebs = name == "ga-ebs_event_missing_eventlog";
        let options = ReplayOptions {
            assume_unlogged_exit_boot_services: ebs,
        };
        let result = replay(&log, options);
        let mut compared = 0;
        for (bank_name, pcrs) in expected["banks"].as_object().unwrap() {
            let bank = HashAlg::from_name(bank_name).unwrap();
            for (index, want) in pcrs.as_object().unwrap() {
                let index = PcrIndex(index.parse().unwrap());
                match result.pcrs.get(bank, index) {
                    Some(got) => {
                        assert_eq!(got.to_hex(), want.as_str().unwrap(), "{name}: {bank} PCR {index}");
                        compared += 1;
                    }
                    None => assert!(
                        expected["note"].is_string(),
                        "{name}: {bank} PCR {index} is expected but the log never extends it, and no note says why"
                    ),
                }
            }
        }
        assert!(compared > 0, "{name}: nothing compared");
        if name == "gtt-gdc-host" {
            assert_eq!(
                result.startup_locality,
                Some(3),
                "{name} needs its StartupLocality"
            );
        }
    }
}

#[test]
fn unlogged_exit_boot_services_is_off_by_default_and_reported_when_used() {
    let (_, path, expected) = samples()
        .into_iter()
        .find(|s| s.0 == "ga-ebs_event_missing_eventlog")
        .unwrap();
    let log = EventLog::parse(&std::fs::read(path).unwrap()).unwrap();

    let plain = replay(&log, ReplayOptions::default());
    assert!(plain.options_applied.is_empty());
    assert_eq!(
        plain.pcrs.get(HashAlg::Sha1, PcrIndex(5)).unwrap().to_hex(),
        expected["plain_replay_pcr5_sha1"].as_str().unwrap()
    );
    assert_ne!(
        plain.pcrs.get(HashAlg::Sha1, PcrIndex(5)).unwrap().to_hex(),
        expected["banks"]["sha1"]["5"].as_str().unwrap()
    );

    let with = replay(
        &log,
        ReplayOptions {
            assume_unlogged_exit_boot_services: true,
        },
    );
    assert_eq!(
        with.options_applied,
        vec![AppliedOption::UnloggedExitBootServices]
    );
    assert_eq!(
        with.pcrs.get(HashAlg::Sha1, PcrIndex(5)).unwrap().to_hex(),
        expected["banks"]["sha1"]["5"].as_str().unwrap()
    );
}

#[test]
fn exit_boot_services_option_does_nothing_when_the_log_has_the_events() {
    // rhel8's firmware logs its ExitBootServices events: the option must not add more.
    let (_, path, _) = samples().into_iter().find(|s| s.0 == "gtt-rhel8-uefi").unwrap();
    let log = EventLog::parse(&std::fs::read(path).unwrap()).unwrap();
    let plain = replay(&log, ReplayOptions::default());
    let with = replay(
        &log,
        ReplayOptions {
            assume_unlogged_exit_boot_services: true,
        },
    );
    assert!(with.options_applied.is_empty());
    assert_eq!(plain.pcrs, with.pcrs);
}

#[test]
fn startup_locality_changes_pcr0_and_only_pcr0() {
    let (_, path, _) = samples().into_iter().find(|s| s.0 == "gtt-gdc-host").unwrap();
    let bytes = std::fs::read(path).unwrap();
    let log = EventLog::parse(&bytes).unwrap();
    let mut without = log.clone();
    // Drop the StartupLocality event: PCR 0 must change, nothing else.
    without
        .events
        .retain(|e| !e.data.starts_with(b"StartupLocality\0"));
    let a = replay(&log, ReplayOptions::default());
    let b = replay(&without, ReplayOptions::default());
    assert_eq!(b.startup_locality, None);
    assert_ne!(
        a.pcrs.get(HashAlg::Sha256, PcrIndex(0)),
        b.pcrs.get(HashAlg::Sha256, PcrIndex(0))
    );
    for i in 1..24 {
        assert_eq!(
            a.pcrs.get(HashAlg::Sha256, PcrIndex(i)),
            b.pcrs.get(HashAlg::Sha256, PcrIndex(i))
        );
    }
}

#[test]
fn logs_with_clean_digests_have_no_suspicious_events() {
    for (name, path, _) in samples() {
        let log = EventLog::parse(&std::fs::read(&path).unwrap()).unwrap();
        let r = replay(&log, ReplayOptions::default());
        // Known, real findings: shim 15 hashes all but the last byte of its
        // vendor-certificate event (sb_cert, cos-85, debian-10, postcode),
        // and event-uefivar declares sha384/sha512 banks it never fills.
        let known = [
            "ga-sb_cert_eventlog",
            "gtt-cos-85-amd-sev",
            "gtt-debian-10",
            "t2t-event-postcode",
            "t2t-event-uefivar",
        ];
        assert_eq!(
            !r.suspicious.is_empty(),
            known.contains(&name.as_str()),
            "{name}: {:?}",
            r.suspicious
        );
    }
}
