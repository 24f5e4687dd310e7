//! `blindfold attest verify`.

use std::time::SystemTime;

use anyhow::anyhow;
use blindfold_attest::{
    appraise, bundle, AcceptPolicy, Appraisal, AppraisalOptions, ClaimStatus, DevelopmentPlatform,
    DevelopmentReference, Evidence, HardwareOptions, Platform, Policy, ReferenceValues, Refusal, TpmAnchor,
    Verifier, VerifyOptions,
};
use blindfold_eventlog::PcrStatus;
use blindfold_tpm::Freshness;
use serde_json::{json, Value};

use crate::args::AttestVerifyArgs;
use crate::eventlog_cmd::pretty;
use crate::exit::{say, unusable, Failure};
use crate::inputs;

/// Resolved inputs, read before anything is verified.
struct Resolved {
    /// Every reference file was a bundle signed by the pinned publisher key.
    signed: bool,
    options: VerifyOptions,
    references: Option<ReferenceValues>,
    appraisal: AppraisalOptions,
}

fn resolve(args: &AttestVerifyArgs) -> Result<Resolved, Failure> {
    let platform = match args.platform.as_str() {
        "auto" => None,
        name => Some(Platform::from_name(name).ok_or_else(|| {
            Failure::Unusable(anyhow!(
                "unknown --platform {name} (auto, azure-vtpm, gcp-vtpm, aws-nitrotpm, aws-nitro-enclave, azure-snp, azure-tdx, tpm, local)"
            ))
        })?),
    };
    let freshness = match (&args.nonce, args.no_freshness) {
        (Some(h), _) => Some(Freshness::Nonce(
            inputs::hex_arg(h).map_err(|e| Failure::Unusable(e.context("--nonce")))?,
        )),
        (None, true) => Some(Freshness::DangerNotChecked),
        (None, false) => None,
    };
    let at = match &args.at {
        Some(t) => humantime::parse_rfc3339(t)
            .map_err(|e| unusable(e, format!("--at {t} (RFC 3339, e.g. 2024-06-01T00:00:00Z)")))?,
        None => SystemTime::now(),
    };
    let tpm_anchor = match (&args.ak, &args.platform_ca) {
        (Some(path), _) => Some(TpmAnchor::PinnedKey(
            inputs::attestation_key(path)?.ak.public_key().clone(),
        )),
        (None, Some(path)) => {
            let certs = blindfold_x509::parse_certificates(&inputs::read(path)?)
                .map_err(|e| unusable(e, format!("--platform-ca {}", path.display())))?;
            Some(TpmAnchor::DangerPlatformCa(certs))
        }
        (None, None) => None,
    };
    let publisher = match &args.publisher_key {
        Some(path) => Some(inputs::publisher_key(path)?),
        None => None,
    };
    let mut references: Option<ReferenceValues> = None;
    let mut all_signed = !args.references.is_empty();
    for path in &args.references {
        let bytes = inputs::read(path)?;
        let is_bundle = bundle::is_envelope(&bytes);
        all_signed &= is_bundle;
        let parsed = if is_bundle {
            let key = publisher.as_ref().ok_or_else(|| {
                Failure::Unusable(anyhow!(
                    "--reference {} is a signed bundle: give --publisher-key to check it",
                    path.display()
                ))
            })?;
            let check = bundle::BundleCheck {
                min_version: args.min_bundle_version,
                at,
            };
            bundle::verify_bundle(&bytes, key, &check).map(|b| b.reference)
        } else {
            ReferenceValues::parse(&bytes)
        };
        let r = parsed.map_err(|e| {
            let ctx = format!("--reference {}", path.display());
            if e.is_unusable_input() {
                unusable(e, ctx)
            } else {
                Failure::CheckFailed(anyhow!(e).context(ctx))
            }
        })?;
        match &mut references {
            Some(all) => all
                .merge(r)
                .map_err(|e| unusable(e, format!("--reference {}", path.display())))?,
            None => references = Some(r),
        }
    }
    let policy = match &args.policy {
        Some(path) => {
            let text = String::from_utf8(inputs::read(path)?).map_err(|e| unusable(e, path.display()))?;
            Some(Policy::new(&path.display().to_string(), &text).map_err(|e| unusable(e, "--policy"))?)
        }
        None => None,
    };
    Ok(Resolved {
        signed: all_signed,
        options: VerifyOptions {
            platform,
            freshness,
            at,
            tpm_anchor,
            replay: args.replay.options(),
            hardware: HardwareOptions {
                max_age: args.max_age,
                allow_debug: args.allow_debug,
            },
        },
        references,
        appraisal: AppraisalOptions {
            development_reference: if args.allow_dev_reference {
                DevelopmentReference::Allowed
            } else {
                DevelopmentReference::Refused
            },
            policy,
        },
    })
}

pub fn verify(args: &AttestVerifyArgs) -> Result<(), Failure> {
    let resolved = resolve(args)?;
    let evidence = Evidence::read(&args.evidence).map_err(|e| unusable(e, args.evidence.display()))?;
    let mut report = json!({
        "verified": false,
        "platform": evidence.platform.name(),
        "layout": evidence.layout.name(),
        "trust_basis": evidence.platform.trust_basis().name(),
        "nonce": null,
        "fresh": null,
        "pcrs": {},
        "appraisal": {"status": "none", "claims": {}},
        "debug": false,
        "reference": match (&resolved.references, resolved.signed) {
            (None, _) => "none",
            (Some(_), true) => "signed",
            (Some(_), false) => "unsigned",
        },
        "reference_format": resolved.references.as_ref().map(|r| r.format.name()),
        "checked_at": humantime::format_rfc3339_seconds(resolved.options.at).to_string(),
        "errors": [],
    });
    let fail = |report: &mut Value, e: blindfold_attest::Error| {
        report["errors"] = json!([e.to_string()]);
        emit(args.json, report);
        if e.is_unusable_input() {
            Failure::Unusable(anyhow!(e))
        } else {
            Failure::CheckFailed(anyhow!(e))
        }
    };

    let verified = match Verifier::new().verify(&evidence, &resolved.options) {
        Ok(v) => v,
        Err(e) => return Err(fail(&mut report, e)),
    };
    report["verified"] = json!(true);
    report["platform"] = json!(verified.platform().name());
    report["trust_basis"] = json!(verified.trust_basis().name());
    report["nonce"] = json!(verified.nonce().map(hex::encode));
    report["fresh"] = if verified.fresh() {
        json!(true)
    } else {
        json!(null)
    };
    report["pcrs"] = json!(verified.pcrs().to_hex_map());
    report["debug"] = json!(verified.debug());
    if let Some(hw) = verified.hardware() {
        report["hardware"] = blindfold_attest::hardware_json(hw);
    }
    if let Some(chain) = verified.chain() {
        report["chain"] = json!(chain
            .iter()
            .map(|c| json!({"subject": c.subject, "sha256": c.fingerprint, "not_before": c.not_before, "not_after": c.not_after}))
            .collect::<Vec<_>>());
    }
    if let Some(checks) = verified.event_log() {
        report["event_log"] = json!(checks
            .iter()
            .map(
                |c| json!({"bank": c.bank.name(), "pcr": c.index.0, "status": match c.status {
                    PcrStatus::Matches => "matches",
                    PcrStatus::NotInLog => "not-in-log",
                    PcrStatus::Mismatch { .. } => "mismatch",
                }})
            )
            .collect::<Vec<_>>());
    }

    let appraisal = match appraise(&verified, resolved.references.as_ref(), &resolved.appraisal) {
        Ok(a) => a,
        Err(e) => return Err(fail(&mut report, e)),
    };
    report["appraisal"] = appraisal.to_json();
    let failures = appraisal.failures();
    report["errors"] = json!(failures);
    emit(args.json, &report);
    if let Some(required) = args.require.as_deref() {
        require(required, &appraisal, &resolved.appraisal)?;
    }
    if appraisal.status == Some(ClaimStatus::Contraindicated) {
        let first = failures
            .first()
            .cloned()
            .unwrap_or_else(|| "appraisal is contraindicated".into());
        return Err(Failure::CheckFailed(anyhow!(
            "appraisal contraindicated: {first}"
        )));
    }
    Ok(())
}

/// `--require`: "affirming" applies the acceptance rule the client uses
/// (any platform that verified, the development one included since this
/// command reports it); "warning" refuses only what is not appraised or
/// contraindicated.
fn require(required: &str, appraisal: &Appraisal, options: &AppraisalOptions) -> Result<(), Failure> {
    let refusal = match required {
        "affirming" => appraisal
            .accept(&AcceptPolicy {
                development_platform: DevelopmentPlatform::Allowed,
                development_reference: options.development_reference,
                ..AcceptPolicy::default()
            })
            .err(),
        _ => match appraisal.status {
            None => Some(Refusal::NotAppraised),
            Some(_) => None,
        },
    };
    match refusal {
        Some(r) => Err(Failure::CheckFailed(anyhow!("{required} required: {r}"))),
        None => Ok(()),
    }
}

fn emit(as_json: bool, report: &Value) {
    if as_json {
        say!("{}", pretty(report));
        return;
    }
    let s = |k: &str| {
        report[k]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| report[k].to_string())
    };
    say!("verified:    {}", report["verified"]);
    say!("platform:    {} ({})", s("platform"), s("layout"));
    say!("trust basis: {}", s("trust_basis"));
    say!(
        "fresh:       {}",
        if report["fresh"] == json!(true) {
            "yes (nonce checked)".into()
        } else {
            "not checked".to_string()
        }
    );
    say!("checked at:  {}", s("checked_at"));
    if let Some(hw) = report.get("hardware") {
        let kind = hw["kind"].as_str().unwrap_or("");
        let detail = match kind {
            "sev-snp" => format!(
                "{}, VMPL {}, measurement {}",
                hw["product_line"].as_str().unwrap_or(""),
                hw["vmpl"],
                hw["measurement"].as_str().unwrap_or("")
            ),
            "tdx" => format!("MRTD {}", hw["mr_td"].as_str().unwrap_or("")),
            _ => format!(
                "{}, issued {}",
                hw["module_id"].as_str().unwrap_or(""),
                hw["issued_at"].as_str().unwrap_or("")
            ),
        };
        say!("hardware:    {kind}: {detail}");
    }
    if report["debug"] == json!(true) {
        say!("debug:       yes (allowed by --allow-debug): the platform's memory is open to its host");
    }
    say!(
        "appraisal:   {} (reference: {})",
        report["appraisal"]["status"].as_str().unwrap_or("none"),
        s("reference")
    );
    for (name, c) in report["appraisal"]["claims"].as_object().into_iter().flatten() {
        say!(
            "  {:<28} {:<16} {}",
            name,
            c["status"].as_str().unwrap_or(""),
            c["detail"].as_str().unwrap_or("")
        );
    }
    for e in report["errors"].as_array().into_iter().flatten() {
        say!("error: {}", e.as_str().unwrap_or(""));
    }
}
