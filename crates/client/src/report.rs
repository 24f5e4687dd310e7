//! The verification report of an attested session: what `blindfold verify
//! --json` prints, what the proxy serves at `GET /blindfold/verification`,
//! and what [`crate::Client::report`] returns. Typed until printed: JSON
//! from `Serialize`, text from `Display`. Schema in
//! `docs/verification-report.md`.
//!
//! Extension rule: readers ignore fields they do not know; a field whose
//! meaning changes gets a new name.

use std::fmt;

use blindfold_atls::AttestedSession;
use blindfold_attest::AppraisalReport;
use blindfold_protocol::RuntimeEvent;
use serde::{Deserialize, Serialize};

use crate::{ReferenceSource, Trust};

/// A report: the session verified, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Report {
    /// The evidence verified, was bound to the session and was accepted.
    Verified(Box<VerificationReport>),
    /// Verification failed: nothing was sent.
    Failed(FailureReport),
}

/// What was checked for one attested session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationReport {
    /// Always `true`.
    pub verified: bool,
    /// The `host:port` verified.
    pub enclave: String,
    /// Where the evidence comes from.
    pub platform: String,
    /// What trusting it means: `hypervisor`, `cvm` or `development`.
    pub trust_basis: String,
    /// The AK certificate chain, leaf first.
    pub chain: Option<Vec<ChainLink>>,
    /// What ties the quote to this session.
    pub binding: SessionBinding,
    /// `signed` or `unsigned`.
    pub reference: String,
    /// The signed bundle's version.
    pub reference_version: Option<u64>,
    /// The appraisal.
    pub appraisal: AppraisalReport,
    /// The enclave's PCR 15 log as replayed.
    pub runtime_events: Vec<RuntimeEvent>,
    /// Each quoted PCR beside the reference's values for it.
    #[serde(default)]
    pub pcrs: Vec<PcrRow>,
    /// For each PCR the firmware event log covers, whether its replay
    /// reaches the quoted value (empty when the evidence has no log).
    #[serde(default)]
    pub firmware_log: Vec<FirmwareLogRow>,
}

/// One quoted PCR and what the reference allows for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcrRow {
    /// The PCR index.
    pub pcr: u32,
    /// The bank (`sha256`, `sha384`, ...).
    pub bank: String,
    /// The quoted value, hex.
    pub actual: String,
    /// The values the reference allows, hex (empty: the reference does not
    /// name this PCR).
    pub expected: Vec<String>,
    /// `matches`, `differs` or `not in reference`.
    pub status: String,
}

/// One PCR's firmware-log replay against the quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareLogRow {
    /// The PCR index.
    pub pcr: u32,
    /// The bank.
    pub bank: String,
    /// The replay's outcome (`matches`, or what differed).
    pub status: String,
}

/// One certificate of the AK chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// Subject (RFC 4514).
    pub subject: String,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// Issuer (RFC 4514): the next link's subject; the root's own.
    #[serde(default)]
    pub issuer: String,
    /// notBefore, RFC 3339.
    #[serde(default)]
    pub not_before: String,
    /// notAfter, RFC 3339.
    #[serde(default)]
    pub not_after: String,
}

/// What binds the quote to the TLS session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionBinding {
    /// SHA-256 of the TLS leaf's SPKI, hex.
    pub tls_leaf_spki_sha256: String,
    /// The exporter label.
    pub session_exporter: String,
    /// Whether the quote carried this client's fresh nonce.
    pub fresh: bool,
    /// That nonce (hex): new for every session, so it names the session
    /// this report is about. Absent on epoch evidence (the quote carries
    /// the epoch's binding; the nonce is in the session signature).
    #[serde(default)]
    pub nonce: Option<String>,
    /// On epoch evidence (the client's opt-in), the epoch and what that
    /// gives up; absent for a quote made for this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<EpochBinding>,
}

/// A session checked against epoch evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochBinding {
    /// The epoch's number.
    pub epoch: u64,
    /// When the enclave quoted it, by its own clock (Unix seconds).
    pub enclave_time: u64,
    /// Its age when this session was checked, by this client's clock.
    pub age_seconds: u64,
    /// The oldest epoch this client accepts (seconds).
    pub max_age_seconds: u64,
    /// What epoch evidence gives up.
    pub caveats: Vec<String>,
}

/// What epoch evidence gives up, as every report says it.
pub const EPOCH_CAVEATS: [&str; 2] = [
    "the epoch's time comes from the enclave's clock, which the operator controls on hypervisor platforms",
    "a stolen evidence key signs sessions until its epoch (each has its own key) is older than the maximum age",
];

/// Why verification failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureReport {
    /// Always `false`.
    pub verified: bool,
    /// The `host:port` tried.
    pub enclave: String,
    /// Why.
    pub reason: String,
}

impl Report {
    /// Whether the session verified.
    pub fn verified(&self) -> bool {
        matches!(self, Report::Verified(_))
    }
}

/// The report for `session` to `addr`, verified under `trust`.
pub fn verification_report(addr: &str, session: &AttestedSession, trust: &Trust) -> Report {
    let reference = trust.reference_source;
    let v = &session.verified;
    Report::Verified(Box::new(VerificationReport {
        verified: true,
        enclave: addr.to_string(),
        platform: v.platform().name().to_string(),
        trust_basis: v.trust_basis().name().to_string(),
        chain: v.chain().map(|c| {
            c.iter()
                .enumerate()
                .map(|(i, s)| ChainLink {
                    subject: s.subject.clone(),
                    sha256: s.fingerprint.clone(),
                    issuer: c
                        .get(i + 1)
                        .map_or_else(|| s.subject.clone(), |up| up.subject.clone()),
                    not_before: s.not_before.clone(),
                    not_after: s.not_after.clone(),
                })
                .collect()
        }),
        binding: SessionBinding {
            tls_leaf_spki_sha256: session.leaf_spki_sha256.clone(),
            session_exporter: String::from_utf8_lossy(blindfold_protocol::binding::EXPORTER_LABEL)
                .into_owned(),
            // On epoch evidence the quote carries the epoch's binding, not
            // this client's nonce (its freshness is `epoch`).
            fresh: v.fresh() && session.epoch.is_none(),
            nonce: match session.epoch {
                Some(_) => None,
                None => v.nonce().map(hex::encode),
            },
            epoch: session.epoch.map(|e| EpochBinding {
                epoch: e.epoch,
                enclave_time: e.time,
                age_seconds: e.age.as_secs(),
                max_age_seconds: match &trust.policy.freshness {
                    blindfold_atls::FreshnessMode::Epoch { max_age, .. } => max_age.as_secs(),
                    blindfold_atls::FreshnessMode::PerSessionQuote => 0,
                },
                caveats: EPOCH_CAVEATS.iter().map(|c| c.to_string()).collect(),
            }),
        },
        reference: reference.name().to_string(),
        reference_version: match reference {
            ReferenceSource::Signed { version } => Some(version),
            ReferenceSource::Unsigned => None,
        },
        appraisal: session.appraisal.report(),
        runtime_events: v.runtime_log().map(|l| l.events.clone()).unwrap_or_default(),
        pcrs: pcr_rows(v.pcrs(), &trust.policy.reference),
        firmware_log: v
            .event_log()
            .unwrap_or_default()
            .iter()
            .map(|c| FirmwareLogRow {
                pcr: c.index.0,
                bank: c.bank.name().to_string(),
                status: match &c.status {
                    blindfold_eventlog::PcrStatus::Matches => "matches".to_string(),
                    blindfold_eventlog::PcrStatus::NotInLog => "not in the log".to_string(),
                    blindfold_eventlog::PcrStatus::Mismatch { expected, actual } => {
                        format!("replays to {}, quoted {}", actual.to_hex(), expected.to_hex())
                    }
                },
            })
            .collect(),
    }))
}

/// Every quoted PCR beside what the reference allows for it.
pub fn pcr_rows(
    quoted: &blindfold_tpm::PcrValues,
    reference: &blindfold_attest::ReferenceValues,
) -> Vec<PcrRow> {
    let mut rows = Vec::new();
    for (bank, values) in quoted.banks() {
        for (index, actual) in values {
            let expected: Vec<String> = reference
                .pcrs
                .get(&(bank, *index))
                .map(|r| r.allowed.iter().map(|d| d.to_hex()).collect())
                .unwrap_or_default();
            let actual = actual.to_hex();
            let status = if expected.is_empty() {
                "not in reference"
            } else if expected.contains(&actual) {
                "matches"
            } else {
                "differs"
            };
            rows.push(PcrRow {
                pcr: index.0,
                bank: bank.name().to_string(),
                actual,
                expected,
                status: status.to_string(),
            });
        }
    }
    rows
}

/// The report when verification failed: nothing was sent.
pub fn failure_report(addr: &str, reason: &str) -> Report {
    Report::Failed(FailureReport {
        verified: false,
        enclave: addr.to_string(),
        reason: reason.to_string(),
    })
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Verified(r) => r.fmt(f),
            Report::Failed(r) => {
                writeln!(f, "enclave:     {}", r.enclave)?;
                writeln!(f, "verified:    no: {}", r.reason)
            }
        }
    }
}

impl fmt::Display for VerificationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spki = &self.binding.tls_leaf_spki_sha256;
        writeln!(f, "enclave:     {}", self.enclave)?;
        match &self.binding.epoch {
            None => writeln!(
                f,
                "verified:    yes (quote bound to this TLS session: leaf key {}, exporter, fresh nonce)",
                &spki[..spki.len().min(16)]
            )?,
            Some(e) => {
                writeln!(
                    f,
                    "verified:    yes (epoch {} quote bound to leaf key {}; this session's nonce and exporter signed by its evidence key)",
                    e.epoch,
                    &spki[..spki.len().min(16)]
                )?;
                writeln!(
                    f,
                    "freshness:   epoch evidence, {} s old by this clock (at most {} s accepted)",
                    e.age_seconds, e.max_age_seconds
                )?;
                for caveat in &e.caveats {
                    writeln!(f, "             {caveat}")?;
                }
            }
        }
        writeln!(
            f,
            "platform:    {} (trust basis: {})",
            self.platform, self.trust_basis
        )?;
        if self.trust_basis == "development" {
            writeln!(
                f,
                "             development: whoever holds the platform CA can forge this evidence"
            )?;
        }
        match self.reference_version {
            Some(v) => writeln!(f, "reference:   {} (version {v})", self.reference)?,
            None => writeln!(f, "reference:   {}", self.reference)?,
        }
        write!(f, "{}", self.appraisal)?;
        for e in &self.runtime_events {
            let json = serde_json::to_string(e).unwrap_or_default();
            writeln!(f, "  runtime event: {json}")?;
        }
        Ok(())
    }
}
