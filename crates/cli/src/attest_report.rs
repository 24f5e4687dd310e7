//! What `blindfold attest verify` prints: one typed report, JSON through
//! `Serialize` (`docs/attestation-report.md`), text through `Display`.

use std::collections::BTreeMap;
use std::fmt;

use blindfold_attest::{AppraisalReport, HardwareSummary};
use serde::Serialize;

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct AttestVerifyReport {
    /// Whether the evidence verified (signatures, chains, binding).
    pub verified: bool,
    /// The platform, verified when `verified`, else as the evidence claims.
    pub platform: String,
    /// The evidence's layout.
    pub layout: String,
    /// How far the platform's isolation holds.
    pub trust_basis: String,
    /// The nonce that was checked (hex).
    pub nonce: Option<String>,
    /// `true` when the nonce was checked and matched, `false` when it was
    /// checked and the evidence was made for another; `null` when
    /// freshness was not checked.
    pub fresh: Option<bool>,
    /// Quoted PCRs by bank and index (hex).
    pub pcrs: BTreeMap<&'static str, BTreeMap<u32, String>>,
    /// Whether the platform runs in debug mode.
    pub debug: bool,
    /// The hardware report, when the evidence has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<HardwareSummary>,
    /// The verified certificate path, leaf first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<Vec<ChainLink>>,
    /// The firmware event log against the quote, per PCR and bank.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_log: Option<Vec<EventLogCheck>>,
    /// The appraisal against the reference.
    pub appraisal: AppraisalReport,
    /// `none`, `signed` or `unsigned`.
    pub reference: &'static str,
    /// The reference's format, when there is one.
    pub reference_format: Option<&'static str>,
    /// When the checks ran (RFC 3339).
    pub checked_at: String,
    /// What failed.
    pub errors: Vec<String>,
}

/// One certificate of the verified path.
#[derive(Debug, Clone, Serialize)]
pub struct ChainLink {
    /// Subject (RFC 4514).
    pub subject: String,
    /// SHA-256 of the DER (hex).
    pub sha256: String,
    /// notBefore (RFC 3339).
    pub not_before: String,
    /// notAfter (RFC 3339).
    pub not_after: String,
}

/// Whether the event log replays to one quoted PCR.
#[derive(Debug, Clone, Serialize)]
pub struct EventLogCheck {
    /// The bank.
    pub bank: &'static str,
    /// The PCR.
    pub pcr: u32,
    /// `matches`, `mismatch` or `not-in-log`.
    pub status: &'static str,
}

impl fmt::Display for AttestVerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "verified:    {}", self.verified)?;
        writeln!(f, "platform:    {} ({})", self.platform, self.layout)?;
        writeln!(f, "trust basis: {}", self.trust_basis)?;
        let fresh = match self.fresh {
            Some(true) => "yes (nonce checked)",
            Some(false) => "no: the evidence was made for another nonce",
            None => "not checked",
        };
        writeln!(f, "fresh:       {fresh}")?;
        writeln!(f, "checked at:  {}", self.checked_at)?;
        if let Some(hw) = &self.hardware {
            writeln!(f, "hardware:    {hw}")?;
        }
        if self.debug {
            writeln!(
                f,
                "debug:       yes (allowed by --allow-debug): the platform's memory is open to its host"
            )?;
        }
        writeln!(
            f,
            "appraisal:   {} (reference: {})",
            self.appraisal.status, self.reference
        )?;
        for (name, c) in &self.appraisal.claims {
            writeln!(f, "  {name:<28} {:<16} {}", c.status, c.detail)?;
        }
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        Ok(())
    }
}
