//! The one error type: parse errors name the field, check errors say what
//! differed.

/// Why a quote was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The quote ends inside a field.
    #[error("quote truncated in {field}: {needed} bytes needed, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// Bytes follow the end of a structure whose length is known.
    #[error("{count} trailing byte(s) after {field}")]
    TrailingBytes {
        /// The structure that should have ended.
        field: &'static str,
        /// How many bytes were left over.
        count: usize,
    },
    /// A quote version this crate does not parse (only 4 is).
    #[error("quote version {version} is not supported (expected 4)")]
    UnsupportedVersion {
        /// The header's version.
        version: u16,
    },
    /// An attestation key type other than ECDSA-256-with-P-256 (2).
    #[error("attestation key type {actual} is not supported (expected 2, ECDSA P-256)")]
    UnsupportedAttestationKeyType {
        /// The header's attestation key type.
        actual: u16,
    },
    /// The quote is not a TDX quote (TEE type 0x81); 0x00 is SGX.
    #[error("TEE type {tee_type:#x} is not TDX (expected 0x81)")]
    NotTdx {
        /// The header's TEE type.
        tee_type: u32,
    },
    /// A certification data block of a type this crate does not handle.
    #[error("{field}: certification data type {actual}, expected {expected}")]
    UnsupportedCertificationDataType {
        /// Which certification data.
        field: &'static str,
        /// The type required there.
        expected: u16,
        /// The type found.
        actual: u16,
    },
    /// The PCK certificate chain in the quote is not readable PEM/DER.
    #[error("PCK certificate chain in the quote: {0}")]
    PckCertificates(blindfold_x509::Error),
    /// Trusted roots given to [`crate::IntelRoots::from_pem`] are unusable.
    #[error("Intel roots: {0}")]
    Roots(blindfold_x509::Error),
    /// The PCK chain does not verify to the trusted Intel roots at the
    /// verification time.
    #[error("PCK certificate chain: {0}")]
    PckChain(blindfold_x509::Error),
    /// The PCK leaf key did not sign the QE report.
    #[error("QE report signature does not verify under the PCK certificate key: {why}")]
    BadQeReportSignature {
        /// The provider's reason.
        why: String,
    },
    /// The PCK-signed report is not from Intel's TD quoting enclave (or the
    /// quote names another QE vendor): any enclave allowed the provisioning
    /// key can get a PCK-signed report, so only the QE's identity makes
    /// the attestation key Intel's.
    #[error("not Intel's TD quoting enclave: {field} is {actual}, expected {expected}")]
    QeIdentity {
        /// The field compared.
        field: &'static str,
        /// Intel's published value.
        expected: String,
        /// The quote's.
        actual: String,
    },
    /// The QE report's report_data does not hold SHA-256(attestation key ||
    /// QE auth data) followed by 32 zero bytes.
    #[error("QE report does not bind the attestation key: report_data is {actual}, expected {expected}")]
    AttestationKeyNotBound {
        /// SHA-256(attestation key || QE auth data) || 32 zero bytes, hex.
        expected: String,
        /// The QE report's report_data, hex.
        actual: String,
    },
    /// The attestation key did not sign the quote header and TD report.
    #[error("quote signature does not verify under the attestation key: {why}")]
    BadQuoteSignature {
        /// The provider's reason.
        why: String,
    },
    /// TD_ATTRIBUTES.DEBUG is set and the caller did not allow debug TDs.
    #[error("the TD is in debug mode (TD_ATTRIBUTES bit 0) and debug TDs are not allowed")]
    DebugNotAllowed,
    /// A collateral document (TCB Info, QE Identity) is not what it must be.
    #[error("{what}: {why}")]
    CollateralFormat {
        /// Which document.
        what: &'static str,
        /// What is wrong.
        why: String,
    },
    /// A collateral document's issuer chain does not verify to the roots.
    #[error("{what} issuer chain: {cause}")]
    CollateralChain {
        /// Which document.
        what: &'static str,
        /// Why.
        cause: blindfold_x509::Error,
    },
    /// A collateral document's signature does not verify.
    #[error("{what} signature does not verify under Intel's TCB signing key: {why}")]
    CollateralSignature {
        /// Which document.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// A collateral document is past its `nextUpdate`.
    #[error("{what} is stale: its nextUpdate was {next_update}")]
    CollateralExpired {
        /// Which document.
        what: &'static str,
        /// Its `nextUpdate`.
        next_update: String,
    },
    /// A collateral document was issued after the verification time.
    #[error("{what} was issued at {issued}, after the verification time")]
    CollateralNotYetValid {
        /// Which document.
        what: &'static str,
        /// Its `issueDate`.
        issued: String,
    },
    /// The TCB Info is for another platform.
    #[error("the TCB Info is for FMSPC {collateral}, the quote's PCK certificate names {quote}")]
    CollateralFmspc {
        /// The TCB Info's FMSPC.
        collateral: String,
        /// The PCK certificate's.
        quote: String,
    },
    /// The quote does not match what a collateral document says.
    #[error("{what}: {field} is {actual}, expected {expected}")]
    CollateralMismatch {
        /// Which document.
        what: &'static str,
        /// The field.
        field: &'static str,
        /// The document's value.
        expected: String,
        /// The quote's.
        actual: String,
    },
    /// The PCK certificate carries no FMSPC and TCB to judge.
    #[error("the PCK certificate carries no FMSPC and TCB (Intel SGX extension)")]
    NoPckTcb,
    /// No TCB level of the collateral is reached: the TCB is older than
    /// any Intel lists.
    #[error("no TCB level in the collateral is reached by this platform's TCB")]
    NoTcbLevel,
}
