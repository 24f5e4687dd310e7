//! `blindfold quote verify`.

use std::collections::BTreeMap;

use crate::exit::say;

use anyhow::anyhow;
use blindfold_eventlog::{compare_with_quote, require_match, PcrStatus};
use blindfold_tpm::{Freshness, QuoteAttest, QuoteVerifier};
use serde::Serialize;

use crate::args::QuoteVerifyArgs;
use crate::eventlog_cmd::{load, pretty};
use crate::exit::Failure;
use crate::inputs;

pub fn verify(args: &QuoteVerifyArgs) -> Result<(), Failure> {
    let ak = inputs::attestation_key(&args.ak)?;
    let message = inputs::read(&args.message)?;
    let (signature, sig_format) = inputs::signature(
        &args.signature,
        ak.ak.public_key(),
        args.signature_scheme.as_deref(),
    )?;
    let (pcrs, pcr_format) = inputs::pcr_values(&args.pcrs)?;
    let freshness = match (&args.nonce, args.no_freshness) {
        (Some(hex), false) => {
            Freshness::Nonce(inputs::hex_arg(hex).map_err(|e| Failure::Unusable(e.context("--nonce")))?)
        }
        (None, true) => Freshness::DangerNotChecked,
        // clap's argument group makes exactly one of the two present.
        _ => {
            return Err(Failure::Unusable(anyhow!(
                "give exactly one of --nonce and --no-freshness"
            )))
        }
    };
    let log = args.eventlog.as_deref().map(load).transpose()?;

    let mut verifier = QuoteVerifier::new(ak.ak.clone());
    if args.danger_allow_sha1 {
        verifier = verifier.danger_allow_sha1();
    }
    let inputs = QuoteInputs {
        ak: AkInput {
            format: ak.format,
            key: ak.ak.public_key().to_string(),
        },
        signature_format: sig_format,
        signature_scheme: signature.scheme.to_string(),
        pcrs_format: pcr_format,
    };

    let verified = match verifier.verify(&message, &signature, &pcrs, &freshness) {
        Ok(v) => v,
        Err(e) => {
            let failure = match e {
                blindfold_tpm::Error::AkUnusable(_) => Failure::Unusable(anyhow!(e)),
                _ => Failure::CheckFailed(anyhow!(e)),
            };
            let reason = match &failure {
                Failure::CheckFailed(e) | Failure::Unusable(e) => format!("{e:#}"),
            };
            // The message is not trusted here; show what it claims, marked so.
            let claimed = QuoteAttest::parse(&message).ok().map(|a| QuoteFields::of(&a));
            emit(
                args.json,
                &QuoteReport {
                    verdict: "failed",
                    reason: Some(reason),
                    inputs,
                    freshness: None,
                    quote: None,
                    quote_unverified: claimed,
                    pcrs: None,
                    eventlog: None,
                },
            );
            return Err(failure);
        }
    };

    let mut out = QuoteReport {
        verdict: "ok",
        reason: None,
        inputs,
        freshness: Some(if verified.freshness_checked() {
            "nonce"
        } else {
            "not-checked (--no-freshness)"
        }),
        quote: Some(QuoteFields::of(verified.attest())),
        quote_unverified: None,
        pcrs: Some(verified.pcrs().to_hex_map()),
        eventlog: None,
    };

    let mut failure = None;
    if let Some(log) = &log {
        let replay = blindfold_eventlog::replay(log, args.replay.options());
        let checks = compare_with_quote(&verified, &replay);
        out.eventlog = Some(EventLogReport {
            format: log.format.name(),
            options_applied: replay.options_applied.iter().map(|o| o.name()).collect(),
            suspicious_events: replay.suspicious.len(),
            pcrs: checks
                .iter()
                .map(|c| {
                    let (status, quoted, replayed) = match &c.status {
                        PcrStatus::Matches => ("matches", None, None),
                        PcrStatus::NotInLog => ("not-in-log", None, None),
                        PcrStatus::Mismatch { expected, actual } => {
                            ("mismatch", Some(expected.to_hex()), Some(actual.to_hex()))
                        }
                    };
                    PcrCheckRow {
                        bank: c.bank.name(),
                        pcr: c.index.0,
                        status,
                        quoted,
                        replayed,
                    }
                })
                .collect(),
        });
        if let Err(e) = require_match(&checks) {
            out.verdict = "failed";
            out.reason = Some(e.to_string());
            failure = Some(Failure::CheckFailed(anyhow!(e)));
        }
    }
    emit(args.json, &out);
    match failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// `quote verify`'s report.
#[derive(Serialize)]
struct QuoteReport {
    verdict: &'static str,
    reason: Option<String>,
    inputs: QuoteInputs,
    #[serde(skip_serializing_if = "Option::is_none")]
    freshness: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quote: Option<QuoteFields>,
    /// What a quote that failed claims (not trusted).
    #[serde(skip_serializing_if = "Option::is_none")]
    quote_unverified: Option<QuoteFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pcrs: Option<BTreeMap<&'static str, BTreeMap<u32, String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eventlog: Option<EventLogReport>,
}

#[derive(Serialize)]
struct QuoteInputs {
    ak: AkInput,
    signature_format: &'static str,
    signature_scheme: String,
    pcrs_format: &'static str,
}

#[derive(Serialize)]
struct AkInput {
    format: &'static str,
    key: String,
}

/// A TPMS_ATTEST quote's fields.
#[derive(Serialize)]
struct QuoteFields {
    magic: String,
    #[serde(rename = "type")]
    attest_type: &'static str,
    qualified_signer: String,
    extra_data: String,
    clock: u64,
    reset_count: u32,
    restart_count: u32,
    safe: bool,
    firmware_version: String,
    pcr_selection: String,
    pcr_digest: String,
}

impl QuoteFields {
    fn of(a: &QuoteAttest) -> QuoteFields {
        QuoteFields {
            magic: format!("0x{:08x}", blindfold_tpm::TPM_GENERATED_VALUE),
            attest_type: "TPM_ST_ATTEST_QUOTE",
            qualified_signer: hex::encode(&a.qualified_signer),
            extra_data: hex::encode(&a.extra_data),
            clock: a.clock_info.clock,
            reset_count: a.clock_info.reset_count,
            restart_count: a.clock_info.restart_count,
            safe: a.clock_info.safe,
            firmware_version: format!("{:016x}", a.firmware_version),
            pcr_selection: a.pcr_select.to_string(),
            pcr_digest: hex::encode(&a.pcr_digest),
        }
    }
}

#[derive(Serialize)]
struct EventLogReport {
    format: &'static str,
    options_applied: Vec<&'static str>,
    suspicious_events: usize,
    pcrs: Vec<PcrCheckRow>,
}

#[derive(Serialize)]
struct PcrCheckRow {
    bank: &'static str,
    pcr: u32,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    quoted: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replayed: Option<String>,
}

fn emit(as_json: bool, v: &QuoteReport) {
    if as_json {
        say!("{}", pretty(v));
        return;
    }
    say!("verdict: {}", v.verdict);
    if let Some(r) = &v.reason {
        say!("reason: {r}");
    }
    if let Some(f) = v.freshness {
        say!("freshness: {f}");
    }
    if let Some(q) = v.quote.as_ref().or(v.quote_unverified.as_ref()) {
        say!("pcr_selection: {}", q.pcr_selection);
        say!("pcr_digest: {}", q.pcr_digest);
        say!("extra_data: {}", q.extra_data);
        say!("clock: {}", q.clock);
        say!("firmware_version: {}", q.firmware_version);
    }
    for (bank, values) in v.pcrs.iter().flatten() {
        for (i, val) in values {
            say!("  {bank} {i:>2}: {val}");
        }
    }
    for r in v.eventlog.iter().flat_map(|e| &e.pcrs) {
        say!("  eventlog {} {:>2}: {}", r.bank, r.pcr, r.status);
    }
}
