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

use crate::ReferenceSource;

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
}

/// One certificate of the AK chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// Subject (RFC 4514).
    pub subject: String,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
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
    /// this report is about.
    #[serde(default)]
    pub nonce: Option<String>,
}

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

/// The report for `session` to `addr`.
pub fn verification_report(addr: &str, session: &AttestedSession, reference: ReferenceSource) -> Report {
    let v = &session.verified;
    Report::Verified(Box::new(VerificationReport {
        verified: true,
        enclave: addr.to_string(),
        platform: v.platform().name().to_string(),
        trust_basis: v.trust_basis().name().to_string(),
        chain: v.chain().map(|c| {
            c.iter()
                .map(|s| ChainLink {
                    subject: s.subject.clone(),
                    sha256: s.fingerprint.clone(),
                })
                .collect()
        }),
        binding: SessionBinding {
            tls_leaf_spki_sha256: session.leaf_spki_sha256.clone(),
            session_exporter: String::from_utf8_lossy(blindfold_protocol::binding::EXPORTER_LABEL)
                .into_owned(),
            fresh: v.fresh(),
            nonce: v.nonce().map(hex::encode),
        },
        reference: reference.name().to_string(),
        reference_version: match reference {
            ReferenceSource::Signed { version } => Some(version),
            ReferenceSource::Unsigned => None,
        },
        appraisal: session.appraisal.report(),
        runtime_events: v.runtime_log().map(|l| l.events.clone()).unwrap_or_default(),
    }))
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
        writeln!(
            f,
            "verified:    yes (quote bound to this TLS session: leaf key {}, exporter, fresh nonce)",
            &spki[..spki.len().min(16)]
        )?;
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
