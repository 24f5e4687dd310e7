//! The errors of this crate, one enum per stage (as `blindfold-tpm` has
//! `WireError` then `Error`): unusable input, verification, signed
//! bundles, appraisal; [`Error`] is one of them. Payloads are typed
//! (platforms, banks, PCR indices); messages say what differed and never
//! name a command-line flag.

use blindfold_crypto::HashAlg;
use blindfold_tpm::PcrIndex;

use crate::accept::Refusal;
use crate::platform::Platform;

/// Every way attestation can fail, by stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input could not be used (exit 2 in the CLI).
    #[error(transparent)]
    Input(InputError),
    /// Evidence did not verify.
    #[error(transparent)]
    Verify(VerifyError),
    /// A signed reference bundle was refused.
    #[error(transparent)]
    Bundle(BundleError),
    /// The appraisal against the reference failed or was not accepted.
    #[error(transparent)]
    Appraisal(AppraisalError),
    /// A signed receipt does not hold against the evidence it cites.
    #[error(transparent)]
    Receipt(ReceiptError),
    /// A session does not hold against the epoch evidence it came with.
    #[error(transparent)]
    Epoch(EpochError),
}

/// Input that could not be used: no check ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The evidence matches no known layout, or a field is malformed.
    #[error("evidence: {0}")]
    EvidenceFormat(String),
    /// A reference-value file could not be read.
    #[error("reference values: {0}")]
    ReferenceFormat(String),
    /// The Rego policy could not be loaded or evaluated.
    #[error("policy: {0}")]
    Policy(String),
    /// A bundled root failed to parse (a build problem).
    #[error("bundled root certificate: {0}")]
    BundledRoot(String),
    /// The options do not fit the platform.
    #[error("{0}")]
    Usage(String),
}

/// Evidence that did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The evidence is for another platform than the one asked for.
    #[error("evidence is {actual} evidence, but {expected} evidence was expected")]
    PlatformMismatch {
        /// Asked for.
        expected: Platform,
        /// Detected.
        actual: Platform,
    },
    /// No trust anchor: a plain TPM needs a pinned AK or a platform CA.
    #[error("no trust anchor for a {platform} AK: pin the AK or name the CA that certifies it; a key inside the evidence is never trusted by itself")]
    NoTrustAnchor {
        /// The platform.
        platform: Platform,
    },
    /// The evidence carries no AK certificate where the platform needs one.
    #[error("{platform} evidence carries no AK certificate")]
    NoAkCertificate {
        /// The platform.
        platform: Platform,
    },
    /// The AK certificate chain failed.
    #[error("AK certificate chain: {0}")]
    Chain(blindfold_x509::Error),
    /// The certified (or pinned) key is not the key in the evidence.
    #[error("the {anchor} key ({anchor_key}) is not the AK the evidence names ({evidence_key})")]
    AkMismatch {
        /// `certificate` or `pinned`.
        anchor: &'static str,
        /// The trusted key.
        anchor_key: String,
        /// The evidence's key.
        evidence_key: String,
    },
    /// A quote failed verification.
    #[error("quote {index}: {cause}")]
    Quote {
        /// Which quote (0-based).
        index: usize,
        /// Why.
        cause: blindfold_tpm::Error,
    },
    /// The AWS Nitro attestation document failed verification.
    #[error("AWS Nitro attestation document: {0}")]
    Nitro(blindfold_nitro::Error),
    /// The SEV-SNP report failed verification.
    #[error("SEV-SNP report: {0}")]
    Snp(blindfold_snp::Error),
    /// The TD quote failed verification.
    #[error("TD quote: {0}")]
    Tdx(blindfold_tdx::Error),
    /// SEV-SNP evidence without the VCEK that signed its report.
    #[error("no VCEK in this evidence: the SEV-SNP report cannot be checked, so nothing roots HCLAkPub and the vTPM quote proves nothing; the evidence is not verified (send the VCEK with the evidence, as trustee's layout does)")]
    NoVcek,
    /// The hardware report's report data is not the hash of the HCL runtime data.
    #[error("{report_data} does not bind the HCL runtime data (and its HCLAkPub): expected {expected}, got {actual}")]
    HclBinding {
        /// Which report data.
        report_data: &'static str,
        /// The hash of the runtime data.
        expected: String,
        /// What the report carries.
        actual: String,
    },
    /// A quoted PCR differs from the value the hardware report carries.
    #[error("PCR {index} ({bank}): the attestation document has {document}, the TPM quote {quote}")]
    HardwarePcrMismatch {
        /// The PCR.
        index: u32,
        /// The bank.
        bank: HashAlg,
        /// The document's value.
        document: String,
        /// The quote's value.
        quote: String,
    },
    /// The quote selects a PCR the hardware report does not vouch for.
    #[error("PCR {index} ({bank}) is quoted, but the attestation document does not carry it: the quote's AK is chosen by whoever requested the document, so only the document's PCRs are trusted")]
    PcrNotInHardwareReport {
        /// The PCR.
        index: u32,
        /// The bank.
        bank: HashAlg,
    },
    /// No nonce and no explicit waiver.
    #[error("no nonce given: freshness cannot be checked (give the nonce, or waive the check knowingly)")]
    FreshnessNotDecided,
    /// The firmware event log does not replay to the quote.
    #[error("event log: {0}")]
    EventLog(blindfold_eventlog::Error),
    /// The BlindLlama-v2 PCR 15 binding does not replay to the quote.
    #[error("BlindLlama-v2 PCR 15 binding: quote has {expected}, app-disk root hash and web-server CA replay to {actual}")]
    LegacyBindingMismatch {
        /// Quoted PCR 15.
        expected: String,
        /// Replayed from the evidence's fields.
        actual: String,
    },

    /// A Blindfold protocol document (evidence, runtime log) is unusable
    /// or breaks a rule of its format.
    #[error("{0}")]
    Protocol(blindfold_protocol::Error),
    /// PCR 15 is quoted in a bank the runtime log has no digests for.
    #[error("runtime event log: no {bank} digests, but PCR 15 is quoted in {bank}")]
    RuntimeLogMissingBank {
        /// The bank.
        bank: blindfold_crypto::HashAlg,
    },
    /// The runtime log does not replay to the quoted PCR 15.
    #[error("PCR 15 ({bank}): quote has {quoted}, runtime event log replays to {replayed}")]
    RuntimeLogMismatch {
        /// Bank.
        bank: blindfold_crypto::HashAlg,
        /// Quoted value.
        quoted: String,
        /// Replayed value.
        replayed: String,
    },
}

/// A signed reference bundle that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// A signed reference bundle carries no valid signature by the pinned publisher key.
    #[error("signed reference values: none of the {signatures} signature(s) verifies under the publisher key {key_id}")]
    NotSignedByPublisher {
        /// SHA-256 of the pinned key's SPKI.
        key_id: String,
        /// Signatures in the envelope.
        signatures: usize,
    },

    /// A signed bundle older than the version the caller requires.
    #[error("signed reference values are version {version}, older than the required {minimum} (rollback)")]
    RolledBack {
        /// The bundle's version.
        version: u64,
        /// The caller's minimum.
        minimum: u64,
    },

    /// A signed bundle past its expiry.
    #[error("signed reference values expired at {expired}")]
    Expired {
        /// The expiry (RFC 3339).
        expired: String,
    },
}

/// An appraisal that failed or was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppraisalError {
    /// A Blindfold measured-boot reference leaves out a mandatory PCR.
    #[error("reference values omit mandatory PCR {index} ({bank}); a measured-boot reference must list PCRs 0-4, 7, 9, 11, 12, 13 and 15")]
    MissingMandatoryPcr {
        /// The bank.
        bank: HashAlg,
        /// The PCR.
        index: PcrIndex,
    },
    /// A development reference where development references are not allowed.
    #[error("development reference values (no measured boot) are not allowed")]
    DevelopmentReferenceRefused,
    /// A development reference for evidence from a real platform: it
    /// appraises PCR 15 alone, which any VM's owner can extend to match.
    #[error("development reference values appraise only the runtime PCR, which any {platform} VM's owner can extend to match: they are accepted only on the development platform")]
    DevelopmentReferenceOnPlatform {
        /// The evidence's platform.
        platform: Platform,
    },
    /// The appraisal does not meet the caller's acceptance rule.
    #[error("not accepted: {0}")]
    NotAccepted(Refusal),
}

/// A signed receipt that does not hold (`crate::receipt`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The evidence given is not the document the receipt cites.
    #[error("receipt: it cites evidence with SHA-256 {cited}, the evidence given has {given}")]
    NotTheCitedEvidence {
        /// The receipt's `evidence_sha256`.
        cited: String,
        /// The given document's.
        given: String,
    },
    /// The receipt key is not a usable public key.
    #[error("receipt: its key is not a P-256 public key: {0}")]
    Key(String),
    /// The receipt key's signature does not verify over the receipt.
    #[error("receipt: its signature does not verify under its receipt key: {0}")]
    Signature(String),
    /// The evidence verifies, but its quote does not bind the receipt's
    /// key (another key's receipt evidence, or evidence made for another
    /// purpose).
    #[error(
        "receipt: its evidence does not vouch for its receipt key (the quote binds another key or purpose)"
    )]
    KeyNotVouchedFor,
    /// The receipt names another model than its evidence measured.
    #[error("receipt: it names {receipt}, its evidence measured {measured}")]
    Model {
        /// The receipt's model.
        receipt: String,
        /// The evidence's model event.
        measured: String,
    },
    /// A body is not the one the receipt's salted digest covers.
    #[error("receipt: the {which} is not the one the receipt signs (its salted digest differs)")]
    Opening {
        /// `request` or `response`.
        which: &'static str,
    },
}

/// Why a session was refused on epoch evidence (`crate::epoch`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EpochError {
    /// The quote verifies but binds other data than the epoch document's
    /// fields (they were edited, or the quote was made for another purpose).
    #[error("epoch evidence: its quote does not bind its evidence key, TLS key, epoch number and time (the quote was made for other data)")]
    QuoteBindsOtherData,
    /// The quote vouches for another TLS key than this session's leaf.
    #[error("epoch evidence: it vouches for TLS key SHA-256 {quoted}, but this session's server key has {session}")]
    ForeignTlsKey {
        /// The quoted leaf SPKI hash.
        quoted: String,
        /// This session's leaf SPKI hash.
        session: String,
    },
    /// The evidence key is not a usable public key.
    #[error("epoch evidence: its evidence key is not a P-256 public key: {0}")]
    Key(String),
    /// The evidence key's signature does not cover this session's nonce
    /// and exporter (a replayed or relayed answer, or no evidence key).
    #[error("epoch evidence: the session signature does not verify over this session's nonce and exporter under the quoted evidence key")]
    SessionSignature,
    /// The epoch is older than the client accepts.
    #[error(
        "epoch evidence: the epoch is {age} s old by this client's clock, more than the {max_age} s accepted"
    )]
    Stale {
        /// Its age (seconds).
        age: u64,
        /// The maximum (seconds).
        max_age: u64,
    },
    /// The epoch's time is ahead of the client's clock by more than the
    /// tolerance.
    #[error("epoch evidence: the enclave's clock is {seconds} s ahead of this client's, more than the {} s tolerated", crate::epoch::MAX_CLOCK_AHEAD_SECONDS)]
    Ahead {
        /// How far ahead (seconds).
        seconds: u64,
    },
}

impl Error {
    /// True when the input could not be used (exit 2), false when a check
    /// ran and failed (exit 1).
    pub fn is_unusable_input(&self) -> bool {
        matches!(
            self,
            Error::Input(_)
                | Error::Verify(VerifyError::Protocol(
                    blindfold_protocol::Error::Malformed { .. }
                        | blindfold_protocol::Error::UnsupportedVersion { .. }
                ))
        )
    }

    /// True when the evidence was made for another nonce than the one
    /// given: it is not fresh for this caller (a replay, or a relay's).
    pub fn is_nonce_mismatch(&self) -> bool {
        matches!(
            self,
            Error::Verify(
                VerifyError::Quote {
                    cause: blindfold_tpm::Error::NonceMismatch { .. },
                    ..
                } | VerifyError::Nitro(blindfold_nitro::Error::NonceMismatch { .. })
            )
        )
    }
}

macro_rules! from_stage {
    ($($stage:ident($ty:ty)),*) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::$stage(e)
            }
        }
    )*};
}
from_stage!(
    Input(InputError),
    Verify(VerifyError),
    Bundle(BundleError),
    Appraisal(AppraisalError)
);

// Conversions carry the inner error in the message (not as a `source`), so
// the one-line report prints each cause once.
impl From<blindfold_x509::Error> for Error {
    fn from(e: blindfold_x509::Error) -> Self {
        Error::Verify(VerifyError::Chain(e))
    }
}

impl From<blindfold_protocol::Error> for Error {
    fn from(e: blindfold_protocol::Error) -> Self {
        Error::Verify(VerifyError::Protocol(e))
    }
}

impl From<blindfold_eventlog::Error> for Error {
    fn from(e: blindfold_eventlog::Error) -> Self {
        Error::Verify(VerifyError::EventLog(e))
    }
}

impl From<Refusal> for Error {
    fn from(e: Refusal) -> Self {
        Error::Appraisal(AppraisalError::NotAccepted(e))
    }
}
