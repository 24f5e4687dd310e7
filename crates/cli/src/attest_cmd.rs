//! `blindfold attest verify`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use anyhow::anyhow;
use blindfold_attest::{
    appraise, bundle, AcceptPolicy, Appraisal, AppraisalOptions, AppraisalReport, ClaimStatus, DebugPlatform,
    DevelopmentPlatform, DevelopmentReference, Evidence, HardwareOptions, HardwareSummary, Platform, Policy,
    ReferenceValues, Refusal, TpmAnchor, Verifier, VerifyOptions,
};
use blindfold_eventlog::PcrStatus;
use blindfold_tpm::Freshness;

use crate::attest_report::{AttestVerifyReport, ChainLink, EventLogCheck};

use crate::args::AttestVerifyArgs;
use crate::eventlog_cmd::pretty;
use crate::exit::{say, unusable, Failure};
use crate::inputs;

/// Resolved inputs, read before anything is verified.
pub(crate) struct Resolved {
    /// Every reference file was a bundle signed by the pinned publisher key.
    signed: bool,
    pub(crate) options: VerifyOptions,
    references: Option<ReferenceValues>,
    appraisal: AppraisalOptions,
}

pub(crate) fn resolve(args: &AttestVerifyArgs) -> Result<Resolved, Failure> {
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
    let publisher = match &args.signer.publisher_key {
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
                min_version: args.signer.min_bundle_version,
                at,
            };
            bundle::verify_bundle(&bytes, key, &check).map(|b| b.reference)
        } else if args.signer.reference_unsigned {
            ReferenceValues::parse(&bytes)
        } else {
            return Err(Failure::Unusable(anyhow!(
                "--reference {} is not a signed bundle: accept it unsigned knowingly with --reference-unsigned, or give a bundle signed by the publisher with --publisher-key",
                path.display()
            )));
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
            ak_intermediates: match &args.ak_intermediates {
                Some(path) => blindfold_x509::parse_certificates(&inputs::read(path)?)
                    .map_err(|e| unusable(e, format!("--ak-intermediates {}", path.display())))?,
                None => Vec::new(),
            },
            replay: args.replay.options(),
            hardware: HardwareOptions {
                max_age: args.max_age,
                debug: if args.allow_debug {
                    DebugPlatform::Allowed
                } else {
                    DebugPlatform::Refused
                },
                tdx_collateral: match &args.tdx_collateral {
                    Some(dir) => Some(blindfold_tdx::TdxCollateral {
                        tcb_info: inputs::read(&dir.join("tcb_info.json"))?,
                        qe_identity: inputs::read(&dir.join("qe_identity.json"))?,
                        issuer_chain: inputs::read(&dir.join("tcb_signing_chain.pem"))?,
                    }),
                    None => None,
                },
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
    let (report, outcome) = evaluate(args, &resolved, &evidence, |options| {
        Verifier::new().verify(&evidence, options)
    });
    emit(args.json, &report);
    outcome
}

/// Verifies `evidence` with `verify` (given the resolved options), then
/// appraises it: the report, and whether it holds (with `--require`).
pub(crate) fn evaluate(
    args: &AttestVerifyArgs,
    resolved: &Resolved,
    evidence: &Evidence,
    verify: impl FnOnce(&VerifyOptions) -> Result<blindfold_attest::VerifiedEvidence, blindfold_attest::Error>,
) -> (AttestVerifyReport, Result<(), Failure>) {
    let mut report = AttestVerifyReport {
        verified: false,
        platform: evidence.platform.name().to_string(),
        layout: evidence.layout.name().to_string(),
        trust_basis: evidence.platform.trust_basis().name().to_string(),
        nonce: None,
        fresh: None,
        pcrs: BTreeMap::new(),
        debug: false,
        hardware: None,
        chain: None,
        event_log: None,
        appraisal: AppraisalReport {
            status: "none".into(),
            claims: BTreeMap::new(),
        },
        reference: match (&resolved.references, resolved.signed) {
            (None, _) => "none",
            (Some(_), true) => "signed",
            (Some(_), false) => "unsigned",
        },
        reference_format: resolved.references.as_ref().map(|r| r.format.name()),
        checked_at: humantime::format_rfc3339_seconds(resolved.options.at).to_string(),
        errors: Vec::new(),
    };
    let given_nonce = match &resolved.options.freshness {
        Some(blindfold_tpm::Freshness::Nonce(n)) => Some(hex::encode(n)),
        _ => None,
    };
    let fail = |report: &mut AttestVerifyReport, e: blindfold_attest::Error| {
        if e.is_nonce_mismatch() {
            // Checked, and not fresh: made for another nonce.
            report.nonce = given_nonce.clone();
            report.fresh = Some(false);
        }
        report.errors = vec![e.to_string()];
        if e.is_unusable_input() {
            Failure::Unusable(anyhow!(e))
        } else {
            Failure::CheckFailed(anyhow!(e))
        }
    };

    let verified = match verify(&resolved.options) {
        Ok(v) => v,
        Err(e) => {
            let failure = fail(&mut report, e);
            return (report, Err(failure));
        }
    };
    report.verified = true;
    report.platform = verified.platform().name().to_string();
    report.trust_basis = verified.trust_basis().name().to_string();
    report.nonce = verified.nonce().map(hex::encode);
    report.fresh = verified.fresh().then_some(true);
    report.pcrs = verified.pcrs().to_hex_map();
    report.debug = verified.debug();
    report.hardware = verified.hardware().map(HardwareSummary::of);
    report.chain = verified.chain().map(|chain| {
        chain
            .iter()
            .map(|c| ChainLink {
                subject: c.subject.clone(),
                sha256: c.fingerprint.clone(),
                not_before: c.not_before.clone(),
                not_after: c.not_after.clone(),
            })
            .collect()
    });
    report.event_log = verified.event_log().map(|checks| {
        checks
            .iter()
            .map(|c| EventLogCheck {
                bank: c.bank.name(),
                pcr: c.index.0,
                status: match c.status {
                    PcrStatus::Matches => "matches",
                    PcrStatus::NotInLog => "not-in-log",
                    PcrStatus::Mismatch { .. } => "mismatch",
                },
            })
            .collect()
    });

    let appraisal = match appraise(&verified, resolved.references.as_ref(), &resolved.appraisal) {
        Ok(a) => a,
        Err(e) => {
            let failure = fail(&mut report, e);
            return (report, Err(failure));
        }
    };
    report.appraisal = appraisal.report();
    let failures = appraisal.failures();
    report.errors = failures.clone();
    if let Some(required) = args.require.as_deref() {
        if let Err(failure) = require(required, &appraisal, &resolved.appraisal) {
            return (report, Err(failure));
        }
    }
    if appraisal.status == Some(ClaimStatus::Contraindicated) {
        let first = failures
            .first()
            .cloned()
            .unwrap_or_else(|| "appraisal is contraindicated".into());
        return (
            report,
            Err(Failure::CheckFailed(anyhow!(
                "appraisal contraindicated: {first}"
            ))),
        );
    }
    (report, Ok(()))
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

pub(crate) fn emit(as_json: bool, report: &AttestVerifyReport) {
    if as_json {
        say!("{}", pretty(report));
    } else {
        say!("{}", report.to_string().trim_end());
    }
}
