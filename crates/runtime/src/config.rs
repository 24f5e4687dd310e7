//! The enclave's configuration (JSON; its SHA-256 is measured into PCR 15).

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use serde_json::Value;

/// Evidence requests per second and client address when the configuration
/// says nothing.
pub const DEFAULT_EVIDENCE_PER_SECOND: u32 = 100;
/// Idle keep-alive of an attested session when the configuration says
/// nothing: five minutes.
pub const DEFAULT_IDLE_TIMEOUT_S: u64 = 300;

/// What the enclave runs with.
#[derive(Debug, Clone)]
pub struct EnclaveConfig {
    /// TCTI of the TPM (`swtpm:host=..,port=..`, `device:/dev/tpmrm0`).
    pub tcti: String,
    /// Address to listen on.
    pub listen: String,
    /// The platform name reported in evidence (`local`, `azure-vtpm`, ...).
    pub platform: String,
    /// App disk image (erofs + verity tree appended).
    pub app_disk: PathBuf,
    /// Its expected dm-verity root hash.
    pub app_disk_root_hash: Vec<u8>,
    /// Where the verity tree starts in the image.
    pub app_disk_hash_offset: u64,
    /// Evidence requests allowed per second and client address (then 429
    /// with `Retry-After`). A verifying proxy is one address for all its
    /// users, and opens sessions at a bounded rate itself.
    pub evidence_per_second: u32,
    /// How long an attested session may wait, idle, for its next request
    /// (a proxy keeps its sessions between bursts). The headers of a
    /// request must still arrive within 10 s of its first byte.
    pub idle_timeout: std::time::Duration,
    /// The inference engine, if this enclave serves a model.
    pub engine: Option<blindfold_engine::EngineConfig>,
    /// The API's settings (body limit, API key hashes).
    pub api: blindfold_api::ApiConfig,
}

impl EnclaveConfig {
    /// Parses the configuration.
    pub fn parse(raw: &[u8]) -> anyhow::Result<EnclaveConfig> {
        let v: Value = serde_json::from_slice(raw).context("configuration is not JSON")?;
        let s = |k: &str| -> anyhow::Result<String> {
            v[k].as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("configuration: \"{k}\" missing"))
        };
        Ok(EnclaveConfig {
            tcti: s("tcti")?,
            listen: s("listen")?,
            platform: s("platform")?,
            app_disk: PathBuf::from(s("app_disk")?),
            app_disk_root_hash: hex::decode(s("app_disk_root_hash")?).context("app_disk_root_hash")?,
            app_disk_hash_offset: v["app_disk_hash_offset"]
                .as_u64()
                .ok_or_else(|| anyhow!("configuration: \"app_disk_hash_offset\" missing"))?,
            evidence_per_second: v["evidence_per_second"]
                .as_u64()
                .unwrap_or(DEFAULT_EVIDENCE_PER_SECOND as u64) as u32,
            idle_timeout: std::time::Duration::from_secs(
                v["idle_timeout_s"].as_u64().unwrap_or(DEFAULT_IDLE_TIMEOUT_S),
            ),
            engine: match v.get("engine") {
                Some(e) => Some(serde_json::from_value(e.clone()).context("configuration: \"engine\"")?),
                None => None,
            },
            api: match v.get("api") {
                Some(a) => serde_json::from_value(a.clone()).context("configuration: \"api\"")?,
                None => blindfold_api::ApiConfig::default(),
            },
        })
    }
}
