//! `blindfold quote verify`.

use crate::exit::say;

use anyhow::anyhow;
use blindfold_eventlog::{compare_with_quote, require_match, PcrStatus};
use blindfold_tpm::{Freshness, QuoteAttest, QuoteVerifier, VerifiedQuote};
use serde_json::json;

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
    let inputs_json = json!({
        "ak": { "format": ak.format, "key": ak.ak.public_key().to_string() },
        "signature_format": sig_format,
        "signature_scheme": signature.scheme.to_string(),
        "pcrs_format": pcr_format,
    });

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
            let claimed = QuoteAttest::parse(&message).ok().map(|a| attest_json(&a));
            emit(
                args.json,
                &json!({
                    "verdict": "failed",
                    "reason": reason,
                    "inputs": inputs_json,
                    "quote_unverified": claimed,
                }),
            );
            return Err(failure);
        }
    };

    let mut out = json!({
        "verdict": "ok",
        "reason": null,
        "inputs": inputs_json,
        "freshness": if verified.freshness_checked() { "nonce" } else { "not-checked (--no-freshness)" },
        "quote": attest_json(verified.attest()),
        "pcrs": pcrs_json(&verified),
    });

    let mut failure = None;
    if let Some(log) = &log {
        let replay = blindfold_eventlog::replay(log, args.replay.options());
        let checks = compare_with_quote(&verified, &replay);
        out["eventlog"] = json!({
            "format": log.format.name(),
            "options_applied": replay.options_applied.iter().map(|o| o.name()).collect::<Vec<_>>(),
            "suspicious_events": replay.suspicious.len(),
            "pcrs": checks.iter().map(|c| {
                let mut v = json!({"bank": c.bank.name(), "pcr": c.index.0});
                match &c.status {
                    PcrStatus::Matches => v["status"] = json!("matches"),
                    PcrStatus::NotInLog => v["status"] = json!("not-in-log"),
                    PcrStatus::Mismatch { expected, actual } => {
                        v["status"] = json!("mismatch");
                        v["quoted"] = json!(expected.to_hex());
                        v["replayed"] = json!(actual.to_hex());
                    }
                }
                v
            }).collect::<Vec<_>>(),
        });
        if let Err(e) = require_match(&checks) {
            out["verdict"] = json!("failed");
            out["reason"] = json!(e.to_string());
            failure = Some(Failure::CheckFailed(anyhow!(e)));
        }
    }
    emit(args.json, &out);
    match failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

fn emit(as_json: bool, v: &serde_json::Value) {
    if as_json {
        say!("{}", pretty(v));
        return;
    }
    say!("verdict: {}", v["verdict"].as_str().unwrap_or("?"));
    if let Some(r) = v["reason"].as_str() {
        say!("reason: {r}");
    }
    if let Some(f) = v["freshness"].as_str() {
        say!("freshness: {f}");
    }
    let q = if v["quote"].is_object() {
        &v["quote"]
    } else {
        &v["quote_unverified"]
    };
    if q.is_object() {
        for k in [
            "pcr_selection",
            "pcr_digest",
            "extra_data",
            "clock",
            "firmware_version",
        ] {
            say!("{k}: {}", q[k]);
        }
    }
    if let Some(banks) = v["pcrs"].as_object() {
        for (bank, values) in banks {
            for (i, val) in values.as_object().into_iter().flatten() {
                say!("  {bank} {i:>2}: {}", val.as_str().unwrap_or(""));
            }
        }
    }
    if let Some(rows) = v["eventlog"]["pcrs"].as_array() {
        for r in rows {
            say!(
                "  eventlog {} {:>2}: {}",
                r["bank"].as_str().unwrap_or(""),
                r["pcr"],
                r["status"].as_str().unwrap_or("")
            );
        }
    }
}

fn attest_json(a: &QuoteAttest) -> serde_json::Value {
    json!({
        "magic": format!("0x{:08x}", blindfold_tpm::TPM_GENERATED_VALUE),
        "type": "TPM_ST_ATTEST_QUOTE",
        "qualified_signer": hex::encode(&a.qualified_signer),
        "extra_data": hex::encode(&a.extra_data),
        "clock": a.clock_info.clock,
        "reset_count": a.clock_info.reset_count,
        "restart_count": a.clock_info.restart_count,
        "safe": a.clock_info.safe,
        "firmware_version": format!("{:016x}", a.firmware_version),
        "pcr_selection": a.pcr_select.to_string(),
        "pcr_digest": hex::encode(&a.pcr_digest),
    })
}

fn pcrs_json(v: &VerifiedQuote) -> serde_json::Value {
    json!(v.pcrs().to_hex_map())
}
