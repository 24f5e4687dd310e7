//! `blindfold eventlog replay` for confidential-computing event logs (TDX
//! CCEL): RTMR values, and their comparison with a verified TD quote.

use std::collections::BTreeMap;
use std::time::SystemTime;

use anyhow::anyhow;
use blindfold_eventlog::{
    compare_with_td_quote, replay_cc, require_rtmr_match, CcEventLog, CcReplay, PcrStatus, RtmrCheck,
};
use blindfold_tdx::{IntelRoots, TdxOptions, TdxVerifier, VerifiedTdQuote};
use serde::Serialize;

use crate::args::ReplayArgs;
use crate::eventlog_cmd::pretty;
use crate::exit::{say, unusable, Failure};
use crate::inputs::read;

/// The TD quote, verified, and what it was verified against.
struct CheckedQuote {
    quote: VerifiedTdQuote,
    root: &'static str,
    checks: Vec<RtmrCheck>,
}

pub fn replay(args: &ReplayArgs, log: &CcEventLog) -> Result<(), Failure> {
    let replayed = replay_cc(log).map_err(|e| unusable(e, format!("CC event log {}", args.log.display())))?;
    let checked = match &args.td_quote {
        Some(path) => Some(verify_quote(args, path, &replayed)?),
        None => None,
    };
    let outcome = checked.as_ref().map(|c| require_rtmr_match(&c.checks));
    if args.json {
        say!("{}", pretty(&replay_report(log, &replayed, checked.as_ref())));
    } else {
        print_text(log, &replayed, checked.as_ref());
    }
    match outcome {
        Some(Err(e)) => Err(Failure::CheckFailed(anyhow!(e))),
        _ => Ok(()),
    }
}

fn verify_quote(
    args: &ReplayArgs,
    path: &std::path::Path,
    replayed: &CcReplay,
) -> Result<CheckedQuote, Failure> {
    let (roots, root) = match &args.intel_root {
        Some(pem) => (
            IntelRoots::from_pem(&read(pem)?)
                .map_err(|e| unusable(e, format!("root certificate {}", pem.display())))?,
            "the given root certificate (not Intel's)",
        ),
        None => (IntelRoots::bundled().clone(), "Intel SGX Root CA (bundled)"),
    };
    let at = match &args.at {
        Some(t) => humantime::parse_rfc3339(t)
            .map_err(|e| unusable(e, format!("--at {t} (RFC 3339, e.g. 2024-06-01T00:00:00Z)")))?,
        None => SystemTime::now(),
    };
    let options = TdxOptions {
        allow_debug: args.allow_debug,
        collateral: None,
    };
    let quote = TdxVerifier::new(&roots)
        .verify(&read(path)?, at, &options)
        .map_err(|e| Failure::CheckFailed(anyhow!(e).context(format!("TD quote {}", path.display()))))?;
    let checks = compare_with_td_quote(&quote, replayed);
    Ok(CheckedQuote { quote, root, checks })
}

fn status_name(status: &PcrStatus) -> &'static str {
    match status {
        PcrStatus::Matches => "matches",
        PcrStatus::Mismatch { .. } => "mismatch",
        PcrStatus::NotInLog => "not-in-log",
    }
}

/// `ccel replay --json` (`docs/event-logs.md`).
#[derive(Serialize)]
struct CcReplayReport {
    format: &'static str,
    events: usize,
    measured_events: usize,
    padding_bytes: usize,
    /// RTMR index (as text) → replayed value, `null` when no event extends it.
    rtmrs: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    td_quote: Option<TdQuoteReport>,
}

#[derive(Serialize)]
struct TdQuoteReport {
    verified_to: &'static str,
    debug: bool,
    tcb_status_checked: bool,
    mr_td: String,
    rtmrs: Vec<RtmrRow>,
    verdict: &'static str,
}

#[derive(Serialize)]
struct RtmrRow {
    rtmr: usize,
    status: &'static str,
    quoted: String,
    replayed: Option<String>,
}

fn replay_report(log: &CcEventLog, r: &CcReplay, checked: Option<&CheckedQuote>) -> CcReplayReport {
    CcReplayReport {
        format: "cc-event-log",
        events: log.log.events.len(),
        measured_events: r.measured_events,
        padding_bytes: log.padding,
        rtmrs: r
            .rtmrs
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v.map(|d| d.to_hex())))
            .collect(),
        td_quote: checked.map(|c| {
            let body = &c.quote.quote().body;
            TdQuoteReport {
                verified_to: c.root,
                debug: c.quote.debug(),
                tcb_status_checked: c.quote.tcb_status_checked(),
                mr_td: hex::encode(body.mr_td),
                rtmrs: c
                    .checks
                    .iter()
                    .map(|check| RtmrRow {
                        rtmr: check.rtmr,
                        status: status_name(&check.status),
                        quoted: hex::encode(body.rtmr[check.rtmr]),
                        replayed: r.rtmrs[check.rtmr].map(|d| d.to_hex()),
                    })
                    .collect(),
                verdict: if require_rtmr_match(&c.checks).is_ok() {
                    "matches"
                } else {
                    "failed"
                },
            }
        }),
    }
}

fn print_text(log: &CcEventLog, r: &CcReplay, checked: Option<&CheckedQuote>) {
    say!(
        "format: CC event log (MR indices 1-4 = RTMR 0-3)   events: {}   measured: {}   padding: {} bytes",
        log.log.events.len(),
        r.measured_events,
        log.padding
    );
    for (i, v) in r.rtmrs.iter().enumerate() {
        match v {
            Some(d) => say!("  RTMR {i}: {d}"),
            None => say!("  RTMR {i}: (no event)"),
        }
    }
    if let Some(c) = checked {
        say!(
            "TD quote: verified to {}{}; TCB status not checked",
            c.root,
            if c.quote.debug() { "; DEBUG TD" } else { "" }
        );
        for check in &c.checks {
            say!("  RTMR {}: {}", check.rtmr, status_name(&check.status));
        }
    }
}
