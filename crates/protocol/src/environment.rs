//! What an enclave reports about itself beyond its evidence
//! (`GET /.well-known/blindfold/environment` on the attested session):
//! facts that are not measured, such as its uptime. A client shows them
//! as *reported, not attested*; anything that decides trust comes from
//! the evidence instead. Written by the enclave and read by clients with
//! this one type.

use serde::{Deserialize, Serialize};

/// The enclave's report of itself (version 1). Readers ignore fields they
/// do not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EnvironmentV1 {
    /// Always 1.
    pub blindfold_environment: u32,
    /// The `blindfold-enclave` version.
    pub enclave_version: String,
    /// `embedded`, `upstream`, or `none` (no model served).
    pub engine: String,
    /// The served model's id, if any.
    pub model_id: Option<String>,
    /// Seconds since the enclave started serving.
    pub uptime_seconds: u64,
    /// `image` (PID 1 of a measured VM image) or `process`.
    pub mode: String,
}

impl EnvironmentV1 {
    /// A version-1 report.
    pub fn new(
        enclave_version: &str,
        engine: &str,
        model_id: Option<String>,
        uptime_seconds: u64,
        mode: &str,
    ) -> Self {
        EnvironmentV1 {
            blindfold_environment: 1,
            enclave_version: enclave_version.into(),
            engine: engine.into(),
            model_id,
            uptime_seconds,
            mode: mode.into(),
        }
    }
}
