//! An optional Rego policy (`regorus`) over the normalised claims.
//!
//! The policy is a Rego module in `package blindfold` that may define
//! `status` ("affirming", "warning" or "contraindicated") and `reasons`
//! (strings). Its input is documented in `docs/attestation-report.md`:
//! platform, trust basis, freshness, PCR values and the appraisal so far.
//! A policy can make a result stricter (any status to contraindicated) or
//! accept a warning as affirming; it can never turn a contraindicated
//! claim into an acceptable one, and never lift the warnings in
//! [`NEVER_WAIVED`] (a waived nonce, BlindLlama-v2's legacy binding, a
//! development reference, a debug-mode platform, an unappraised CVM
//! launch measurement, an unchecked or outdated TCB): those are facts about the evidence, not
//! matters of policy.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::accept::ClaimName;
use crate::appraise::{Appraisal, AppraisalReport, Claim, ClaimStatus};
use crate::error::{Error, InputError};
use crate::hardware::HardwareSummary;
use crate::verify::VerifiedEvidence;

/// Claims whose warning no policy can turn into affirming.
pub const NEVER_WAIVED: [ClaimName; 6] = [
    ClaimName::Freshness,
    ClaimName::TlsBinding,
    ClaimName::DevelopmentReference,
    ClaimName::Debug,
    ClaimName::HardwareMeasurement,
    ClaimName::Tcb,
];

/// A loaded Rego policy.
#[derive(Debug, Clone)]
pub struct Policy {
    name: String,
    source: String,
}

impl Policy {
    /// A policy from Rego source; it is compiled on first use and errors
    /// name the file.
    pub fn new(name: &str, source: &str) -> Result<Policy, Error> {
        let p = Policy {
            name: name.to_string(),
            source: source.to_string(),
        };
        p.engine()?;
        Ok(p)
    }

    fn engine(&self) -> Result<regorus::Engine, Error> {
        let mut engine = regorus::Engine::new();
        engine
            .add_policy(self.name.clone(), self.source.clone())
            .map_err(|e| Error::Input(InputError::Policy(format!("{}: {e}", self.name))))?;
        Ok(engine)
    }

    /// The input document the policy sees.
    pub fn input(evidence: &VerifiedEvidence, appraisal: &Appraisal) -> PolicyInput {
        PolicyInput {
            platform: evidence.platform().name(),
            trust_basis: evidence.trust_basis().name(),
            layout: evidence.layout().name(),
            fresh: evidence.fresh(),
            nonce: evidence.nonce().map(hex::encode),
            pcrs: evidence.pcrs().to_hex_map(),
            debug: evidence.debug(),
            hardware: evidence.hardware().map(HardwareSummary::of),
            appraisal: appraisal.report(),
        }
    }

    /// Evaluates the policy and folds its verdict into `appraisal`.
    pub fn apply(&self, evidence: &VerifiedEvidence, appraisal: &mut Appraisal) -> Result<(), Error> {
        let mut engine = self.engine()?;
        let input = serde_json::to_string(&Self::input(evidence, appraisal))
            .map_err(|e| Error::Input(InputError::Policy(format!("input: {e}"))))?;
        engine
            .set_input_json(&input)
            .map_err(|e| Error::Input(InputError::Policy(format!("{}: input: {e}", self.name))))?;
        // A rule the policy does not define evaluates to no result.
        let eval = |engine: &mut regorus::Engine, rule: &str| -> Result<Option<Value>, Error> {
            let err = |e: &dyn std::fmt::Display| {
                Error::Input(InputError::Policy(format!("{}: {rule}: {e}", self.name)))
            };
            let results = engine
                .eval_query(format!("data.blindfold.{rule}"), false)
                .map_err(|e| err(&e))?;
            let Some(v) = results
                .result
                .first()
                .and_then(|r| r.expressions.first())
                .map(|e| &e.value)
            else {
                return Ok(None);
            };
            if *v == regorus::Value::Undefined {
                return Ok(None);
            }
            let json = v.to_json_str().map_err(|e| err(&e))?;
            serde_json::from_str(&json).map(Some).map_err(|e| err(&e))
        };
        let Some(status) = eval(&mut engine, "status")? else {
            return Ok(());
        };
        let wanted = status.as_str().and_then(ClaimStatus::from_name).ok_or_else(|| {
            Error::Input(InputError::Policy(format!(
                "{}: status must be affirming, warning or contraindicated, not {status}",
                self.name
            )))
        })?;
        let reasons: Vec<String> = eval(&mut engine, "reasons")?
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
        let current = appraisal.status.unwrap_or(ClaimStatus::Warning);
        let floor = appraisal
            .claims
            .iter()
            .filter(|(name, _)| NEVER_WAIVED.contains(name))
            .map(|(_, c)| c.status)
            .max()
            .unwrap_or(ClaimStatus::Affirming);
        let result = match (current, wanted) {
            (ClaimStatus::Contraindicated, _) => ClaimStatus::Contraindicated,
            (_, w) => w.max(floor),
        };
        let detail = if reasons.is_empty() {
            format!("policy {} says {wanted}", self.name)
        } else {
            format!("policy {} says {wanted}: {}", self.name, reasons.join("; "))
        };
        appraisal.claims.insert(
            ClaimName::Policy,
            Claim {
                status: wanted,
                detail,
            },
        );
        appraisal.status = Some(result);
        Ok(())
    }
}

/// The input document a policy sees (`input` in Rego;
/// `docs/attestation-report.md`).
#[derive(Debug, Clone, Serialize)]
pub struct PolicyInput {
    /// The verified platform's name.
    pub platform: &'static str,
    /// How far its isolation holds.
    pub trust_basis: &'static str,
    /// The evidence's layout.
    pub layout: &'static str,
    /// Whether a nonce was checked.
    pub fresh: bool,
    /// That nonce (hex).
    pub nonce: Option<String>,
    /// Quoted PCRs by bank and index (hex).
    pub pcrs: BTreeMap<&'static str, BTreeMap<u32, String>>,
    /// Debug mode.
    pub debug: bool,
    /// The hardware report, if any.
    pub hardware: Option<HardwareSummary>,
    /// The appraisal before the policy.
    pub appraisal: AppraisalReport,
}
