//! `blindfold eventlog replay` for confidential-computing event logs (TDX
//! CCEL): RTMR values, and their comparison with a verified TD quote.

use std::time::SystemTime;

use anyhow::anyhow;
use blindfold_eventlog::{
    compare_with_td_quote, replay_cc, require_rtmr_match, CcEventLog, CcReplay, PcrStatus, RtmrCheck,
};
use blindfold_tdx::{IntelRoots, TdxOptions, TdxVerifier, VerifiedTdQuote};
use serde_json::json;

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
        say!("{}", pretty(&replay_json(log, &replayed, checked.as_ref())));
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

fn replay_json(log: &CcEventLog, r: &CcReplay, checked: Option<&CheckedQuote>) -> serde_json::Value {
    let rtmrs: serde_json::Map<String, serde_json::Value> = r
        .rtmrs
        .iter()
        .enumerate()
        .map(|(i, v)| (i.to_string(), v.map(|d| json!(d.to_hex())).unwrap_or(json!(null))))
        .collect();
    let mut out = json!({
        "format": "cc-event-log",
        "events": log.log.events.len(),
        "measured_events": r.measured_events,
        "padding_bytes": log.padding,
        "rtmrs": rtmrs,
    });
    if let Some(c) = checked {
        let body = &c.quote.quote().body;
        let rows: Vec<_> = c
            .checks
            .iter()
            .map(|check| {
                json!({
                    "rtmr": check.rtmr,
                    "status": status_name(&check.status),
                    "quoted": hex::encode(body.rtmr[check.rtmr]),
                    "replayed": r.rtmrs[check.rtmr].map(|d| d.to_hex()),
                })
            })
            .collect();
        out["td_quote"] = json!({
            "verified_to": c.root,
            "debug": c.quote.debug(),
            "tcb_status_checked": c.quote.tcb_status_checked(),
            "mr_td": hex::encode(body.mr_td),
            "rtmrs": rows,
            "verdict": if require_rtmr_match(&c.checks).is_ok() { "matches" } else { "failed" },
        });
    }
    out
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
