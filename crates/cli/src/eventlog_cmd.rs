//! `blindfold eventlog replay|show`.

use crate::exit::say;
use std::collections::BTreeMap;

use blindfold_eventlog::{
    CcEventLog, EventData, EventDigest, EventLog, Pcr0Start, Replay, ReplayOptions, SuspicionReason,
    SuspiciousEvent,
};
use serde::Serialize;

use crate::args::{ReplayArgs, ReplayOptionArgs, ShowArgs};
use crate::exit::{unusable, Failure};
use crate::inputs::read;

impl ReplayOptionArgs {
    pub fn options(&self) -> ReplayOptions {
        ReplayOptions {
            assume_unlogged_exit_boot_services: self.assume_unlogged_exit_boot_services,
        }
    }
}

/// Reads a TPM event log, or a CC event log where its content says so.
pub fn load(path: &std::path::Path) -> Result<EventLog, Failure> {
    let bytes = read(path)?;
    if let Some(cc) = CcEventLog::detect(&bytes) {
        return cc
            .map(|cc| cc.log)
            .map_err(|e| unusable(e, format!("CC event log {}", path.display())));
    }
    EventLog::parse(&bytes).map_err(|e| unusable(e, format!("event log {}", path.display())))
}

pub fn replay(args: &ReplayArgs) -> Result<(), Failure> {
    let bytes = read(&args.log)?;
    let cc = match CcEventLog::detect(&bytes) {
        None if args.ccel => Some(CcEventLog::parse(&bytes)),
        detected => detected,
    };
    if let Some(cc) = cc {
        let log = cc.map_err(|e| unusable(e, format!("CC event log {}", args.log.display())))?;
        return crate::ccel_cmd::replay(args, &log);
    }
    if args.td_quote.is_some() {
        return Err(unusable(
            anyhow::anyhow!(
                "a TD quote's RTMRs are compared with a CC event log, and this is a TPM event log"
            ),
            format!("event log {}", args.log.display()),
        ));
    }
    let log =
        EventLog::parse(&bytes).map_err(|e| unusable(e, format!("event log {}", args.log.display())))?;
    let result = blindfold_eventlog::replay(&log, args.replay.options());
    if args.json {
        say!("{}", pretty(&replay_report(&log, &result)));
        return Ok(());
    }
    say!(
        "format: {}   events: {}   measured: {}",
        log.format.name(),
        log.events.len(),
        result.measured_events
    );
    match result.pcr0_start {
        Pcr0Start::Zero => {}
        Pcr0Start::StartupLocality(l) => say!("startup locality: {l} (PCR 0 starts at 0…0{l})"),
        Pcr0Start::Hcrtm => say!("H-CRTM: PCR 0 starts at 0…04, then the H-CRTM digest"),
    }
    for o in &result.options_applied {
        say!("option applied: {}", o.name());
    }
    for (bank, values) in result.pcrs.banks() {
        say!("{bank}:");
        for (index, value) in values {
            say!("  {:>2}: {value}", index.0);
        }
    }
    for s in &result.suspicious {
        say!("suspicious: {}", suspicion_text(s));
    }
    Ok(())
}

/// `eventlog replay --json` (`docs/event-logs.md`).
#[derive(Serialize)]
pub struct ReplayReport {
    format: &'static str,
    banks: BTreeMap<&'static str, BTreeMap<u32, String>>,
    events: usize,
    measured_events: usize,
    startup_locality: Option<u8>,
    pcr0_start: &'static str,
    options_applied: Vec<&'static str>,
    suspicious_events: Vec<SuspicionReport>,
}

/// One suspicious event of a [`ReplayReport`].
#[derive(Serialize)]
struct SuspicionReport {
    event: usize,
    pcr: u32,
    #[serde(rename = "type")]
    event_type: String,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    bank: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logged_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_digest: Option<String>,
}

pub fn replay_report(log: &EventLog, r: &Replay) -> ReplayReport {
    ReplayReport {
        format: log.format.name(),
        banks: r.pcrs.to_hex_map(),
        events: log.events.len(),
        measured_events: r.measured_events,
        startup_locality: r.startup_locality,
        pcr0_start: r.pcr0_start.name(),
        options_applied: r.options_applied.iter().map(|o| o.name()).collect(),
        suspicious_events: r.suspicious.iter().map(suspicion_report).collect(),
    }
}

fn suspicion_report(s: &SuspiciousEvent) -> SuspicionReport {
    let mut v = SuspicionReport {
        event: s.number,
        pcr: s.pcr.0,
        event_type: s.event_type.to_string(),
        reason: String::new(),
        bank: None,
        logged_digest: None,
        data_digest: None,
    };
    match &s.reason {
        SuspicionReason::DigestDoesNotMatchData {
            bank,
            logged,
            computed,
        } => {
            v.reason = "digest does not match event data".into();
            v.bank = Some(bank.name());
            v.logged_digest = Some(logged.to_hex());
            v.data_digest = Some(computed.to_hex());
        }
        SuspicionReason::MissingBankDigest { bank } => {
            v.reason = "no digest for a bank the log declares".into();
            v.bank = Some(bank.name());
        }
        other => v.reason = pcr0_rule_text(other),
    }
    v
}

/// What a broken PCR 0 start rule means (see `blindfold_eventlog::replay`).
fn pcr0_rule_text(reason: &SuspicionReason) -> String {
    match reason {
        SuspicionReason::StartupLocalityAfterMeasurement => {
            "StartupLocality event after a PCR 0 measurement (not used)".into()
        }
        SuspicionReason::RepeatedStartupLocality => "a second StartupLocality event (not used)".into(),
        SuspicionReason::HcrtmAfterMeasurement => {
            "H-CRTM event after a PCR 0 measurement (a TPM cannot; replayed as a plain extend)".into()
        }
        SuspicionReason::StartupLocalityContradictsHcrtm { locality } => format!(
            "StartupLocality {locality} contradicts the H-CRTM event that starts PCR 0 (the H-CRTM wins: 0…04)"
        ),
        _ => "suspicious".into(),
    }
}

fn suspicion_text(s: &SuspiciousEvent) -> String {
    match &s.reason {
        SuspicionReason::DigestDoesNotMatchData {
            bank,
            logged,
            computed,
        } => format!(
            "event {} (PCR {}, {}): {bank} digest {logged} is not the hash of its data ({computed})",
            s.number, s.pcr, s.event_type
        ),
        SuspicionReason::MissingBankDigest { bank } => {
            format!(
                "event {} (PCR {}, {}): no {bank} digest",
                s.number, s.pcr, s.event_type
            )
        }
        other => format!(
            "event {} (PCR {}, {}): {}",
            s.number,
            s.pcr,
            s.event_type,
            pcr0_rule_text(other)
        ),
    }
}

/// `eventlog show --json`.
#[derive(Serialize)]
struct ShownLog {
    format: &'static str,
    events: Vec<ShownEvent>,
}

/// One event of a [`ShownLog`].
#[derive(Serialize)]
struct ShownEvent {
    event: usize,
    pcr: u32,
    #[serde(rename = "type")]
    event_type: String,
    type_value: u32,
    digests: BTreeMap<String, String>,
    data_len: usize,
    data: String,
}

pub fn show(args: &ShowArgs) -> Result<(), Failure> {
    let log = load(&args.log)?;
    if args.json {
        let events: Vec<_> = log
            .events
            .iter()
            .map(|e| {
                let digests: BTreeMap<String, String> = e
                    .digests
                    .iter()
                    .map(|d| match d {
                        EventDigest::Known(d) => (d.alg().name().to_string(), d.to_hex()),
                        EventDigest::Unknown { alg_id, bytes } => {
                            (format!("0x{alg_id:04x}"), hex::encode(bytes))
                        }
                    })
                    .collect();
                ShownEvent {
                    event: e.number,
                    pcr: e.pcr.0,
                    event_type: e.event_type.to_string(),
                    type_value: e.event_type.0,
                    digests,
                    data_len: e.data.len(),
                    data: EventData::decode(e).to_string(),
                }
            })
            .collect();
        say!(
            "{}",
            pretty(&ShownLog {
                format: log.format.name(),
                events
            })
        );
        return Ok(());
    }
    say!("{:>4} {:>3}  {:<34} {:<20} data", "#", "PCR", "type", "digest");
    for e in &log.events {
        let digest = e
            .digests
            .iter()
            .map(|d| match d {
                EventDigest::Known(d) => format!("{}:{}", d.alg(), &d.to_hex()[..8]),
                EventDigest::Unknown { alg_id, .. } => format!("0x{alg_id:04x}:?"),
            })
            .collect::<Vec<_>>();
        say!(
            "{:>4} {:>3}  {:<34} {:<20} {}",
            e.number,
            e.pcr.0,
            e.event_type.to_string(),
            digest.first().cloned().unwrap_or_default(),
            EventData::decode(e)
        );
        for d in digest.iter().skip(1) {
            say!("{:>4} {:>3}  {:<34} {:<20}", "", "", "", d);
        }
    }
    Ok(())
}

pub fn pretty<T: serde::Serialize + ?Sized>(v: &T) -> String {
    // Only a map with non-string keys fails, and no report has one.
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
