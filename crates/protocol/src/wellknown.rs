//! Names both sides of the protocol must agree on.

/// The enclave's evidence endpoint (`GET ?nonce=<64 hex digits>`).
pub const EVIDENCE_PATH: &str = "/.well-known/blindfold/evidence";
/// The enclave's session evidence for clients that accept epoch evidence
/// (`GET ?nonce=<64 hex digits>`): [`crate::epoch::SessionEvidenceV1`].
pub const SESSION_EVIDENCE_PATH: &str = "/.well-known/blindfold/session";
/// The enclave's receipt evidence (`GET`): the quote that vouches for its
/// per-boot receipt key (`crate::receipt`).
pub const RECEIPT_EVIDENCE_PATH: &str = "/.well-known/blindfold/receipt-evidence";
/// The enclave's report of what is not measured (uptime, engine):
/// [`crate::EnvironmentV1`], on the attested session.
pub const ENVIRONMENT_PATH: &str = "/.well-known/blindfold/environment";
/// The TLS server name (SNI) and `Host` a client uses, and the name in the
/// enclave's self-issued certificate. Trust comes from the evidence, not
/// from this name.
pub const SERVER_NAME: &str = "blindfold-enclave";
/// The verifying proxy's report of the session it uses.
pub const VERIFICATION_PATH: &str = "/blindfold/verification";
/// The content type of Blindfold's CEL records.
pub const CEL_CONTENT_TYPE: &str = "blindfold";
