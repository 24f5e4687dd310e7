//! Appraisal: verified evidence against reference values (and an optional
//! Rego policy), per claim, in the spirit of EAR / AR4SI.

use std::collections::BTreeMap;
use std::fmt;

use blindfold_crypto::{ct_eq, Digest};
use serde::{Deserialize, Serialize};

use crate::accept::{ClaimName, DevelopmentReference};
use crate::error::{AppraisalError, Error};
use crate::platform::{Platform, TrustBasis};
use crate::policy::Policy;
use crate::reference::{ReferenceKind, ReferenceValues};
use crate::verify::VerifiedEvidence;

/// The verdict on one claim (ordered: worse is greater).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClaimStatus {
    /// The claim holds.
    Affirming,
    /// It holds only partly, or rests on a waiver; a decision to send
    /// prompts or release keys must not rely on it.
    Warning,
    /// It does not hold.
    Contraindicated,
}

impl ClaimStatus {
    /// Name used in reports and Rego input.
    pub fn name(self) -> &'static str {
        match self {
            ClaimStatus::Affirming => "affirming",
            ClaimStatus::Warning => "warning",
            ClaimStatus::Contraindicated => "contraindicated",
        }
    }

    /// Parses a name printed by [`ClaimStatus::name`].
    pub fn from_name(s: &str) -> Option<ClaimStatus> {
        [
            ClaimStatus::Affirming,
            ClaimStatus::Warning,
            ClaimStatus::Contraindicated,
        ]
        .into_iter()
        .find(|c| c.name() == s)
    }
}

impl fmt::Display for ClaimStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One appraised claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Verdict.
    pub status: ClaimStatus,
    /// What was compared, naming what differed.
    pub detail: String,
}

/// The appraisal of verified evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appraisal {
    /// The worst claim, or `None` when nothing was appraised against references.
    pub status: Option<ClaimStatus>,
    /// Every claim by name.
    pub claims: BTreeMap<ClaimName, Claim>,
    /// The platform the evidence verified as.
    pub platform: Platform,
    /// Who, besides Blindfold's code, the result trusts.
    pub trust_basis: TrustBasis,
}

impl Appraisal {
    /// Status name, `none` when not appraised.
    pub fn status_name(&self) -> &'static str {
        self.status.map_or("none", ClaimStatus::name)
    }

    /// The claim printed as `name` (see [`ClaimName`]'s `Display`).
    pub fn claim(&self, name: &str) -> Option<&Claim> {
        self.claims
            .iter()
            .find(|(n, _)| n.to_string() == name)
            .map(|(_, c)| c)
    }

    /// The failures, each naming what differed.
    pub fn failures(&self) -> Vec<String> {
        self.claims
            .iter()
            .filter(|(_, c)| c.status == ClaimStatus::Contraindicated)
            .map(|(n, c)| format!("{n}: {}", c.detail))
            .collect()
    }

    /// The appraisal as reports and Rego input show it.
    pub fn report(&self) -> AppraisalReport {
        AppraisalReport {
            status: self.status_name().to_string(),
            claims: self
                .claims
                .iter()
                .map(|(n, c)| {
                    (
                        n.to_string(),
                        ClaimReport {
                            status: c.status.name().to_string(),
                            detail: c.detail.clone(),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// An appraisal as reports print it and Rego policies see it
/// (`docs/attestation-report.md`).
///
/// Extension rule: new claims are new keys of `claims`; readers show the
/// claims they do not know as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppraisalReport {
    /// `affirming`, `warning`, `contraindicated`, or `none` (nothing appraised).
    pub status: String,
    /// Every claim by its printed name ([`ClaimName`]'s `Display`).
    pub claims: BTreeMap<String, ClaimReport>,
}

/// One claim in an [`AppraisalReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimReport {
    /// `affirming`, `warning` or `contraindicated`.
    pub status: String,
    /// What was compared, naming what differed.
    pub detail: String,
}

impl fmt::Display for AppraisalReport {
    /// `appraisal:   STATUS`, then one line per claim.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "appraisal:   {}", self.status)?;
        for (name, c) in &self.claims {
            writeln!(f, "  {name:<24} {:<16} {}", c.status, c.detail)?;
        }
        Ok(())
    }
}

/// What the caller allows.
#[derive(Debug, Clone, Default)]
pub struct AppraisalOptions {
    /// Whether development (process-mode) references are acceptable (only
    /// ever on the development platform).
    pub development_reference: DevelopmentReference,
    /// A Rego policy over the normalised claims.
    pub policy: Option<Policy>,
}

fn short(d: &Digest) -> String {
    let h = d.to_hex();
    format!("{}…", &h[..8.min(h.len())])
}

/// The launch measurement of a confidential VM's hardware report: on Azure
/// it measures the paravisor (HCL) that holds the vTPM and its AK.
fn hardware_measurement(evidence: &VerifiedEvidence) -> Option<(&'static str, Vec<u8>)> {
    match evidence.hardware()? {
        crate::HardwareReport::Snp(r) => Some(("SEV-SNP MEASUREMENT", r.report().measurement().to_vec())),
        crate::HardwareReport::Tdx(q) => Some(("TD MRTD", q.quote().body.mr_td.to_vec())),
        crate::HardwareReport::Nitro(_) => None,
    }
}

/// The first component of `got` below `floor`, named, or `None`.
fn tcb_below(got: &blindfold_snp::TcbVersion, floor: &crate::reference::SnpTcbFloor) -> Option<String> {
    let mut parts = vec![
        ("bootloader", got.bootloader, floor.bootloader),
        ("tee", got.tee, floor.tee),
        ("snp", got.snp, floor.snp),
        ("microcode", got.microcode, floor.microcode),
    ];
    if let (Some(have), Some(want)) = (got.fmc, floor.fmc) {
        parts.push(("fmc", have, want));
    }
    parts
        .into_iter()
        .find(|(_, have, want)| have < want)
        .map(|(name, have, want)| format!("{name} {have} is below the reference's minimum {want}"))
}

fn unappraised_hardware(what: &str) -> String {
    format!(
        "{what} not appraised (no hardware_measurements in the reference): HCLAkPub is the vTPM's key only if Azure's paravisor made the report, and any SEV-SNP/TDX machine's own guest can make one; never affirming"
    )
}

/// Appraises `evidence` against `reference` (if any) and the policy.
pub fn appraise(
    evidence: &VerifiedEvidence,
    reference: Option<&ReferenceValues>,
    options: &AppraisalOptions,
) -> Result<Appraisal, Error> {
    let mut claims = BTreeMap::new();
    let mut add = |name: ClaimName, status: ClaimStatus, detail: String| {
        claims.insert(name, Claim { status, detail });
    };

    if evidence.fresh() {
        add(
            ClaimName::Freshness,
            ClaimStatus::Affirming,
            if evidence
                .hardware()
                .is_some_and(|h| matches!(h, crate::HardwareReport::Nitro(_)))
            {
                "the attestation document's nonce (and any quote's extraData) equals the nonce".into()
            } else {
                "quote extraData equals the nonce".into()
            },
        );
    } else {
        add(
            ClaimName::Freshness,
            ClaimStatus::Warning,
            "not checked (waived): the evidence may be a replay".into(),
        );
    }
    if evidence.debug() {
        add(
            ClaimName::Debug,
            ClaimStatus::Warning,
            "the platform runs in debug mode (allowed): its memory is open to the host or parent instance"
                .into(),
        );
    }
    if let Some(crate::HardwareReport::Tdx(quote)) = evidence.hardware() {
        let (status, detail) = tdx_tcb_claim(quote.tcb());
        add(ClaimName::Tcb, status, detail);
    }
    if evidence.blindllama_app_disk_root_hash().is_some() {
        add(
            ClaimName::TlsBinding,
            ClaimStatus::Warning,
            "BlindLlama-v2 legacy binding: PCR 15 binds a whole web-server CA, not this TLS key, and the quote has no nonce; never affirming".into(),
        );
    }
    if let Some(checks) = evidence.event_log() {
        // Count only PCRs the log actually reaches; a log that covers none
        // of the quoted PCRs proves nothing about the boot.
        let matched = checks
            .iter()
            .filter(|c| c.status == blindfold_eventlog::PcrStatus::Matches)
            .count();
        if matched == 0 {
            add(
                ClaimName::EventLog,
                ClaimStatus::Warning,
                "the firmware event log covers none of the quoted PCRs".into(),
            );
        } else {
            add(
                ClaimName::EventLog,
                ClaimStatus::Affirming,
                format!("firmware event log replays to {matched} quoted PCR values"),
            );
        }
    }

    let mut appraised = false;
    if let Some(r) = reference {
        appraised = true;
        match r.kind {
            // A development reference appraises PCR 15 alone: any VM whose
            // owner extends the published runtime events would match it, so
            // it means something only where the platform is ours.
            ReferenceKind::Development if evidence.trust_basis() != TrustBasis::Development => {
                return Err(Error::Appraisal(AppraisalError::DevelopmentReferenceOnPlatform {
                    platform: evidence.platform(),
                }))
            }
            ReferenceKind::Development if options.development_reference != DevelopmentReference::Allowed => {
                return Err(Error::Appraisal(AppraisalError::DevelopmentReferenceRefused))
            }
            ReferenceKind::Development => add(
                ClaimName::DevelopmentReference,
                ClaimStatus::Warning,
                "development reference: no measured boot, only the runtime PCR is appraised".into(),
            ),
            _ => r.check_mandatory()?,
        }
        for ((bank, index), want) in &r.pcrs {
            let name = ClaimName::Pcr {
                bank: *bank,
                index: *index,
            };
            let (status, detail) = match evidence.pcrs().get(*bank, *index) {
                None => (
                    ClaimStatus::Contraindicated,
                    format!("PCR {index} ({bank}): not in the evidence"),
                ),
                Some(got) if want.revoked.iter().any(|d| ct_eq(d.as_bytes(), got.as_bytes())) => (
                    ClaimStatus::Contraindicated,
                    format!("PCR {index} ({bank}): {got} is revoked"),
                ),
                Some(got) if want.allowed.iter().any(|d| ct_eq(d.as_bytes(), got.as_bytes())) => (
                    ClaimStatus::Affirming,
                    format!("PCR {index} ({bank}): {}", short(got)),
                ),
                Some(got) => {
                    let expected = match want.allowed.as_slice() {
                        [one] => one.to_hex(),
                        many => format!("one of {}", many.iter().map(short).collect::<Vec<_>>().join(", ")),
                    };
                    let mut detail = format!("PCR {index} ({bank}): expected {expected}, got {got}");
                    // PCR 15 in words: which runtime event differs.
                    if index.0 == blindfold_protocol::RUNTIME_PCR && !r.runtime_events.is_empty() {
                        if let Some(log) = evidence.runtime_log() {
                            if let Some(why) = blindfold_protocol::runtime_log::describe_differences(
                                &r.runtime_events,
                                &log.events,
                            ) {
                                detail.push_str(&format!(" (runtime events: {why})"));
                            }
                        }
                    }
                    (ClaimStatus::Contraindicated, detail)
                }
            };
            add(name, status, detail);
        }
        if let Some(want) = &r.app_disk_root_hash {
            let (status, detail) = match evidence.blindllama_app_disk_root_hash() {
                Some(got) if ct_eq(got, want) => (
                    ClaimStatus::Affirming,
                    format!("app-disk root hash {}", hex::encode(got)),
                ),
                Some(got) => (
                    ClaimStatus::Contraindicated,
                    format!(
                        "app-disk root hash: expected {}, got {}",
                        hex::encode(want),
                        hex::encode(got)
                    ),
                ),
                None => (
                    ClaimStatus::Contraindicated,
                    "app-disk root hash: the evidence binds none".into(),
                ),
            };
            add(ClaimName::AppDiskRootHash, status, detail);
        }
        if let Some((what, got)) = hardware_measurement(evidence) {
            let (status, detail) = if r.hardware_measurements.is_empty() {
                (ClaimStatus::Warning, unappraised_hardware(what))
            } else if r.hardware_measurements.iter().any(|m| ct_eq(m, &got)) {
                (ClaimStatus::Affirming, format!("{what} {}", hex::encode(&got)))
            } else {
                (
                    ClaimStatus::Contraindicated,
                    format!(
                        "{what}: expected one of {}, got {}",
                        r.hardware_measurements
                            .iter()
                            .map(hex::encode)
                            .collect::<Vec<_>>()
                            .join(", "),
                        hex::encode(&got)
                    ),
                )
            };
            add(ClaimName::HardwareMeasurement, status, detail);
        } else if !r.hardware_measurements.is_empty() {
            add(
                ClaimName::HardwareMeasurement,
                ClaimStatus::Contraindicated,
                "the reference lists launch measurements, but the evidence carries no SEV-SNP or TDX report"
                    .into(),
            );
        }
        if let Some(crate::HardwareReport::Snp(snp)) = evidence.hardware() {
            let report = snp.report();
            let got = report.reported_tcb();
            let (status, detail) = match &r.snp_minimum_tcb {
                None => (
                    ClaimStatus::Warning,
                    format!("SEV-SNP reported TCB {got} not appraised (no snp_minimum_tcb in the reference): firmware with known flaws would pass; never affirming"),
                ),
                Some(floor) => match tcb_below(&got, floor) {
                    Some(low) => (
                        ClaimStatus::Contraindicated,
                        format!("SEV-SNP reported TCB {got}: {low}"),
                    ),
                    None => (
                        ClaimStatus::Affirming,
                        format!("SEV-SNP reported TCB {got}, at or above the reference's minimum"),
                    ),
                },
            };
            add(ClaimName::Tcb, status, detail);
            if report.policy().migrate_ma_allowed() {
                let (status, detail) = if r.snp_allow_migration_agent {
                    (
                        ClaimStatus::Affirming,
                        "the guest policy allows a migration agent (MIGRATE_MA), as the reference allows"
                            .into(),
                    )
                } else {
                    (
                        ClaimStatus::Contraindicated,
                        "the guest policy allows a migration agent (MIGRATE_MA), which can export the guest's memory; the reference does not allow it".into(),
                    )
                };
                add(ClaimName::MigrationAgent, status, detail);
            }
        }
        if r.kind == ReferenceKind::Foreign {
            let unlisted: Vec<String> = evidence
                .pcrs()
                .banks()
                .flat_map(|(bank, values)| values.keys().map(move |i| (bank, *i)))
                .filter(|k| !r.pcrs.contains_key(k))
                .map(|(bank, i)| format!("{bank}:{i}"))
                .collect();
            if !unlisted.is_empty() {
                add(
                    ClaimName::PcrsNotAppraised,
                    ClaimStatus::Warning,
                    format!(
                        "{} reference does not list {}",
                        r.format.name(),
                        unlisted.join(",")
                    ),
                );
            }
        }
    } else {
        add(
            ClaimName::Measurements,
            ClaimStatus::Warning,
            "not appraised: no reference values given".into(),
        );
        if let Some((what, _)) = hardware_measurement(evidence) {
            add(
                ClaimName::HardwareMeasurement,
                ClaimStatus::Warning,
                unappraised_hardware(what),
            );
        }
    }

    let mut appraisal = Appraisal {
        status: None,
        claims,
        platform: evidence.platform(),
        trust_basis: evidence.trust_basis(),
    };
    let worst = appraisal.claims.values().map(|c| c.status).max();
    appraisal.status = if appraised { worst } else { None };
    if let Some(policy) = &options.policy {
        policy.apply(evidence, &mut appraisal)?;
    }
    Ok(appraisal)
}

/// The `tcb` claim of a TD quote: affirming only when Intel's collateral
/// was given and says the platform and its QE are up to date; a warning
/// for what needs configuration or software hardening, or when nothing was
/// judged; contraindicated for an out-of-date or revoked TCB.
pub(crate) fn tdx_tcb_claim(verdict: Option<&blindfold_tdx::TcbVerdict>) -> (ClaimStatus, String) {
    use blindfold_tdx::TcbStatus;
    let Some(v) = verdict else {
        return (
            ClaimStatus::Warning,
            "TDX TCB status not checked: no TCB Info and QE Identity collateral was given".into(),
        );
    };
    let status = match v.status() {
        TcbStatus::UpToDate => ClaimStatus::Affirming,
        TcbStatus::SWHardeningNeeded
        | TcbStatus::ConfigurationNeeded
        | TcbStatus::ConfigurationAndSWHardeningNeeded => ClaimStatus::Warning,
        TcbStatus::OutOfDate | TcbStatus::OutOfDateConfigurationNeeded | TcbStatus::Revoked => {
            ClaimStatus::Contraindicated
        }
    };
    let advisories = if v.advisory_ids.is_empty() {
        String::new()
    } else {
        format!(", advisories {}", v.advisory_ids.join(" "))
    };
    (
        status,
        format!(
            "TDX platform {}, QE {} (TCB Info evaluation {}, tcbDate {}{advisories}; collateral valid until {})",
            v.platform, v.qe, v.evaluation_data_number, v.tcb_date, v.next_update
        ),
    )
}

#[cfg(test)]
mod tests {
    use blindfold_tdx::{TcbStatus, TcbVerdict};

    use super::*;

    fn verdict(platform: TcbStatus, qe: TcbStatus) -> TcbVerdict {
        TcbVerdict {
            platform,
            qe,
            tcb_date: "2024-03-13T00:00:00Z".into(),
            advisory_ids: vec!["INTEL-SA-00837".into()],
            next_update: "2025-07-19T10:16:03Z".into(),
            evaluation_data_number: 17,
        }
    }

    #[test]
    fn the_tdx_tcb_claim_follows_the_worse_of_platform_and_qe() {
        assert_eq!(tdx_tcb_claim(None).0, ClaimStatus::Warning);
        let (status, detail) = tdx_tcb_claim(Some(&verdict(TcbStatus::UpToDate, TcbStatus::UpToDate)));
        assert_eq!(status, ClaimStatus::Affirming);
        assert!(
            detail.contains("INTEL-SA-00837") && detail.contains("2025-07-19"),
            "{detail}"
        );
        let warn = verdict(TcbStatus::SWHardeningNeeded, TcbStatus::UpToDate);
        assert_eq!(tdx_tcb_claim(Some(&warn)).0, ClaimStatus::Warning);
        let old_qe = verdict(TcbStatus::UpToDate, TcbStatus::OutOfDate);
        assert_eq!(tdx_tcb_claim(Some(&old_qe)).0, ClaimStatus::Contraindicated);
        let revoked = verdict(TcbStatus::Revoked, TcbStatus::UpToDate);
        assert_eq!(tdx_tcb_claim(Some(&revoked)).0, ClaimStatus::Contraindicated);
    }
}
