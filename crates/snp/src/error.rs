//! Why a report was refused: one variant per check, each saying what
//! differed.

use crate::ProductLine;

/// Why an SEV-SNP report, its VCEK or the AMD roots were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The report is not exactly one `ATTESTATION_REPORT` long.
    #[error("SNP report is {actual} bytes, expected {expected}")]
    ReportLength {
        /// 0x4A0 = 1184.
        expected: usize,
        /// The bytes given.
        actual: usize,
    },
    /// A report version this crate does not parse.
    #[error("SNP report version {actual} is not supported (versions {min} to {max} are)")]
    UnsupportedVersion {
        /// The report's version field.
        actual: u32,
        /// Lowest supported.
        min: u32,
        /// Highest supported.
        max: u32,
    },
    /// The report is not signed with ECDSA P-384 / SHA-384.
    #[error("SNP report signature algorithm is {actual}, expected {expected} (ECDSA P-384 with SHA-384)")]
    UnsupportedSignatureAlgorithm {
        /// 1.
        expected: u32,
        /// The report's `SIGNATURE_ALGO`.
        actual: u32,
    },
    /// The report says it was signed by a key other than the VCEK (a VLEK,
    /// or no key at all); only VCEK-signed reports are verified.
    #[error("SNP report is signed by {actual}, expected the VCEK")]
    NotSignedByVcek {
        /// What the report's `SIGNING_KEY` field names.
        actual: String,
    },
    /// The certificate given as the VCEK is not one (its subject or issuer
    /// is not AMD's `SEV-VCEK` / `SEV-<product line>`).
    #[error("not a VCEK: {why}")]
    NotAVcek {
        /// What was found instead.
        why: String,
    },
    /// An AMD extension of the VCEK is missing or malformed.
    #[error("VCEK extension {name} ({oid}): {why}")]
    VcekExtension {
        /// The extension's name in AMD's VCEK specification (`hwID`, `blSPL`, ...).
        name: &'static str,
        /// Its OID.
        oid: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The product line the caller or the report's CPUID expects is not
    /// the VCEK's.
    #[error("product line mismatch: {expected_from} says {expected}, the VCEK is {actual}")]
    ProductLineMismatch {
        /// The line expected.
        expected: ProductLine,
        /// The VCEK's line (from its issuer).
        actual: ProductLine,
        /// Where the expectation came from (the options, or the report's CPUID).
        expected_from: String,
    },
    /// The VCEK does not chain to the product line's ARK through its ASK
    /// at the verification time.
    #[error("VCEK chain: {0}")]
    Chain(#[from] blindfold_x509::Error),
    /// The report's signature does not verify under the VCEK's key (or its
    /// `r`, `s` do not fit P-384).
    #[error("the SNP report's signature does not verify under the VCEK's key")]
    BadReportSignature,
    /// The VCEK was issued for another chip.
    #[error("VCEK hwID {vcek} differs from the report's CHIP_ID {report}")]
    ChipIdMismatch {
        /// The VCEK's hwID, hex.
        vcek: String,
        /// The report's CHIP_ID, hex.
        report: String,
    },
    /// The VCEK was issued for another TCB than the report's REPORTED_TCB.
    #[error("TCB {component}: the VCEK has {vcek}, the report's REPORTED_TCB has {report}")]
    TcbMismatch {
        /// `bootloader`, `tee`, `snp`, `microcode` or `fmc`.
        component: &'static str,
        /// The VCEK's SPL.
        vcek: u8,
        /// The report's.
        report: u8,
    },
    /// The guest policy allows debugging and the caller did not.
    #[error("the guest policy allows debugging (bit 19) and debug guests are not allowed")]
    DebugNotAllowed,
    /// The report is from another VMPL than required.
    #[error("the report is from VMPL {actual}, expected VMPL {expected}")]
    VmplMismatch {
        /// Required.
        expected: u32,
        /// The report's.
        actual: u32,
    },
    /// The AMD certificates given as roots are unusable.
    #[error("AMD roots for {line}: {why}")]
    Roots {
        /// The product line they were given for.
        line: ProductLine,
        /// What is wrong.
        why: String,
    },
}
