//! The acceptance rule: whether an appraisal is good enough to send a
//! prompt to the enclave, or (next) to release a key to it. One rule, used
//! by the client, the proxy and the key broker, so that the decision does
//! not depend on who asks.
//!
//! An appraisal is accepted when its platform is one the caller expects,
//! its trust basis is at least the caller's minimum, a development platform
//! is explicitly allowed where it is one, and every claim is affirming —
//! except a development reference's warning, which only its own opt-in
//! waives. Nothing else is ever waived here: a `warning` is not good enough
//! to act on.

use std::fmt;

use blindfold_crypto::HashAlg;
use blindfold_tpm::PcrIndex;

use crate::appraise::{Appraisal, ClaimStatus};
use crate::platform::{Platform, TrustBasis};

/// The name of one appraised claim (the names are documented in
/// `docs/attestation-report.md`; [`fmt::Display`] prints them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ClaimName {
    /// The evidence answers this verifier's nonce.
    Freshness,
    /// The platform runs in debug mode.
    Debug,
    /// The hardware's TCB level (SEV-SNP, TDX).
    Tcb,
    /// BlindLlama-v2's legacy binding of the TLS key.
    TlsBinding,
    /// The firmware event log replays to the quote.
    EventLog,
    /// The reference is a development one (no measured boot).
    DevelopmentReference,
    /// One PCR against the reference.
    Pcr {
        /// The bank.
        bank: HashAlg,
        /// The PCR.
        index: PcrIndex,
    },
    /// BlindLlama-v2's app-disk root hash.
    AppDiskRootHash,
    /// A confidential VM's launch measurement against the reference.
    HardwareMeasurement,
    /// An SEV-SNP guest policy that allows a migration agent.
    MigrationAgent,
    /// Quoted PCRs a foreign reference does not list.
    PcrsNotAppraised,
    /// No reference values were given.
    Measurements,
    /// The verdict of a Rego policy.
    Policy,
}

impl ClaimName {
    /// The claim for one PCR.
    pub fn pcr(bank: HashAlg, index: u32) -> ClaimName {
        ClaimName::Pcr {
            bank,
            index: PcrIndex(index),
        }
    }
}

impl fmt::Display for ClaimName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ClaimName::Freshness => "freshness",
            ClaimName::Debug => "debug",
            ClaimName::Tcb => "tcb",
            ClaimName::TlsBinding => "tls-binding",
            ClaimName::EventLog => "event-log",
            ClaimName::DevelopmentReference => "development-reference",
            ClaimName::Pcr { bank, index } => return write!(f, "pcr.{bank}.{}", index.0),
            ClaimName::AppDiskRootHash => "app-disk-root-hash",
            ClaimName::HardwareMeasurement => "hardware-measurement",
            ClaimName::MigrationAgent => "migration-agent",
            ClaimName::PcrsNotAppraised => "pcrs-not-appraised",
            ClaimName::Measurements => "measurements",
            ClaimName::Policy => "policy",
        };
        f.write_str(name)
    }
}

/// Whether the development platform (evidence anchored in a pinned key or
/// the local platform CA, which whoever holds the swtpm state can forge)
/// is acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevelopmentPlatform {
    /// Refused: the default.
    #[default]
    Refused,
    /// Accepted, and reported as trust basis `development`.
    Allowed,
}

/// Whether a development reference (process mode: no measured boot, only
/// the runtime PCR appraised) is acceptable. It is only ever accepted on
/// the development platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevelopmentReference {
    /// Refused: the default.
    #[default]
    Refused,
    /// Accepted, with its warning in the report.
    Allowed,
}

/// What a caller requires before acting on an appraisal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptPolicy {
    /// The platforms expected; empty accepts any platform that verified.
    pub platforms: Vec<Platform>,
    /// The weakest trust basis accepted.
    pub min_trust_basis: TrustBasis,
    /// Whether the development platform is acceptable.
    pub development_platform: DevelopmentPlatform,
    /// Whether a development reference is acceptable.
    pub development_reference: DevelopmentReference,
}

impl Default for AcceptPolicy {
    /// Any verified cloud platform, nothing development, affirming only.
    fn default() -> AcceptPolicy {
        AcceptPolicy {
            platforms: Vec::new(),
            min_trust_basis: TrustBasis::Development,
            development_platform: DevelopmentPlatform::Refused,
            development_reference: DevelopmentReference::Refused,
        }
    }
}

impl AcceptPolicy {
    /// Process mode on the local platform: the development platform and a
    /// development reference both accepted (each still reported).
    pub fn development() -> AcceptPolicy {
        AcceptPolicy {
            development_platform: DevelopmentPlatform::Allowed,
            development_reference: DevelopmentReference::Allowed,
            ..AcceptPolicy::default()
        }
    }
}

/// Why an appraisal was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The evidence comes from a platform the caller does not expect.
    #[error("the evidence is from {platform}, but only {} is accepted", names(accepted))]
    Platform {
        /// The evidence's platform.
        platform: Platform,
        /// The accepted ones.
        accepted: Vec<Platform>,
    },
    /// The trust basis is weaker than the caller's minimum.
    #[error("the trust basis is {got}, weaker than the required {minimum}")]
    TrustBasis {
        /// The evidence's trust basis.
        got: TrustBasis,
        /// The minimum.
        minimum: TrustBasis,
    },
    /// The development platform without its opt-in.
    #[error("the trust basis is development (a pinned key or local platform CA, which can forge evidence), and the development platform is not allowed")]
    DevelopmentPlatform,
    /// Nothing was appraised against reference values.
    #[error("nothing was appraised against reference values")]
    NotAppraised,
    /// A claim is not affirming.
    #[error("appraisal is {status}: {}", reasons.join("; "))]
    Status {
        /// The appraisal's status.
        status: ClaimStatus,
        /// Each claim that stood in the way, `name: detail`.
        reasons: Vec<String>,
    },
}

fn names(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(" or ")
}

impl Appraisal {
    /// Applies the acceptance rule (see the module doc).
    pub fn accept(&self, policy: &AcceptPolicy) -> Result<(), Refusal> {
        if !policy.platforms.is_empty() && !policy.platforms.contains(&self.platform) {
            return Err(Refusal::Platform {
                platform: self.platform,
                accepted: policy.platforms.clone(),
            });
        }
        if self.trust_basis < policy.min_trust_basis {
            return Err(Refusal::TrustBasis {
                got: self.trust_basis,
                minimum: policy.min_trust_basis,
            });
        }
        if self.trust_basis == TrustBasis::Development
            && policy.development_platform != DevelopmentPlatform::Allowed
        {
            return Err(Refusal::DevelopmentPlatform);
        }
        let Some(status) = self.status else {
            return Err(Refusal::NotAppraised);
        };
        let waived = |name: &ClaimName| {
            *name == ClaimName::DevelopmentReference
                && policy.development_reference == DevelopmentReference::Allowed
                && self.trust_basis == TrustBasis::Development
        };
        let reasons: Vec<String> = self
            .claims
            .iter()
            .filter(|(name, c)| c.status != ClaimStatus::Affirming && !waived(name))
            .map(|(name, c)| format!("{name}: {}", c.detail))
            .collect();
        if reasons.is_empty() && status != ClaimStatus::Contraindicated {
            return Ok(());
        }
        let reasons = if reasons.is_empty() {
            vec![format!("the appraisal as a whole is {status}")]
        } else {
            reasons
        };
        Err(Refusal::Status {
            status: status.max(ClaimStatus::Warning),
            reasons,
        })
    }
}
