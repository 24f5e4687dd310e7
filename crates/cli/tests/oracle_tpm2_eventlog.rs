//! `blindfold eventlog replay` against `tpm2_eventlog` on every shared log:
//! every (bank, PCR) both report must agree, except the named cases where
//! tpm2_eventlog 5.4 is known to be wrong.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;

type Banks = BTreeMap<String, BTreeMap<u32, String>>;

/// Where tpm2_eventlog 5.4 differs from the spec, per log.
enum Known {
    /// It ignores StartupLocality, so its PCR 0 differs (ours matches expected-pcrs.json).
    IgnoresStartupLocality,
    /// It extends the SP 800-155 `EV_NO_ACTION` events into PCR 0, which
    /// the spec forbids (ours matches expected-pcrs.json).
    ExtendsNoActionEvents,
    /// It crashes on this log.
    Crashes,
}

fn known_exception(name: &str) -> Option<Known> {
    match name {
        "gtt-gdc-host" => Some(Known::IgnoresStartupLocality),
        "gtt-eventlogwithsp800155" => Some(Known::ExtendsNoActionEvents),
        "ga-option_rom_eventlog" => Some(Known::Crashes),
        _ => None,
    }
}

fn logs() -> Vec<(String, PathBuf)> {
    event_log_samples().into_iter().map(|s| (s.name, s.log)).collect()
}

/// The `pcrs:` block at the end of tpm2_eventlog's YAML.
fn parse_tpm2_eventlog_pcrs(yaml: &str) -> Banks {
    let mut banks = Banks::new();
    let mut in_pcrs = false;
    let mut bank = String::new();
    for line in yaml.lines() {
        if line.starts_with("pcrs:") {
            in_pcrs = true;
            continue;
        }
        if !in_pcrs {
            continue;
        }
        let t = line.trim();
        if let Some(b) = t.strip_suffix(':') {
            bank = b.to_string();
        } else if let Some((idx, val)) = t.split_once(':') {
            let val = val.trim().trim_start_matches("0x").to_ascii_lowercase();
            banks
                .entry(bank.clone())
                .or_default()
                .insert(idx.trim().parse().unwrap(), val);
        }
    }
    banks
}

fn ours(log: &PathBuf) -> (Banks, Option<String>) {
    let out = run(blindfold().args(["eventlog", "replay", "--json"]).arg(log));
    assert!(
        out.status.success(),
        "blindfold eventlog replay {}: {}",
        log.display(),
        text(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let banks: Banks = serde_json::from_value(v["banks"].clone()).unwrap();
    (banks, v["startup_locality"].as_u64().map(|l| l.to_string()))
}

#[test]
fn replay_agrees_with_tpm2_eventlog() {
    require_tool("tpm2_eventlog");
    let mut compared = 0;
    let mut exceptions_seen = Vec::new();
    for (name, log) in logs() {
        let (our_banks, locality) = ours(&log);
        let out = run(std::process::Command::new("tpm2_eventlog").arg(&log));
        match known_exception(&name) {
            Some(Known::Crashes) => {
                assert!(
                    !out.status.success(),
                    "{name}: tpm2_eventlog no longer fails here; remove the named exception"
                );
                exceptions_seen.push(name);
                continue;
            }
            _ => assert!(
                out.status.success(),
                "{name}: tpm2_eventlog failed: {}",
                text(&out.stderr)
            ),
        }
        let their_banks = parse_tpm2_eventlog_pcrs(&text(&out.stdout));
        assert_eq!(
            our_banks.keys().collect::<Vec<_>>(),
            their_banks.keys().collect::<Vec<_>>(),
            "{name}: banks"
        );
        for (bank, pcrs) in &their_banks {
            assert_eq!(
                our_banks[bank].keys().collect::<Vec<_>>(),
                pcrs.keys().collect::<Vec<_>>(),
                "{name}: PCRs in {bank}"
            );
            for (index, theirs) in pcrs {
                let mine = &our_banks[bank][index];
                let pcr0_exception = match known_exception(&name) {
                    Some(Known::IgnoresStartupLocality) => {
                        assert!(locality.is_some(), "{name}: expected a StartupLocality event");
                        true
                    }
                    Some(Known::ExtendsNoActionEvents) => true,
                    _ => false,
                };
                if *index == 0 && pcr0_exception {
                    assert_ne!(
                        mine, theirs,
                        "{name}: tpm2_eventlog now agrees on PCR 0; remove the exception"
                    );
                    exceptions_seen.push(format!("{name} {bank} PCR 0"));
                    continue;
                }
                assert_eq!(mine, theirs, "{name}: {bank} PCR {index}");
                compared += 1;
            }
        }
    }
    assert!(compared > 150, "only {compared} values compared");
    assert!(
        exceptions_seen.len() >= 3,
        "named exceptions not exercised: {exceptions_seen:?}"
    );
}
