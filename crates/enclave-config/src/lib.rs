//! The enclave's configuration file as one typed format: JSON whose
//! SHA-256 the enclave measures into PCR 15.
//!
//! What it is for: the one Rust type that the enclave reads and that
//! whoever prepares an enclave writes (`blindfold demo`, the tests) and
//! predicts from (`blindfold measure`), so they cannot drift apart; and,
//! apart from it, the unmeasured [`LaunchConfig`] (which TPM, which
//! address), so restarting a platform on another port changes no PCR.
//!
//! What it is not: the code that applies a setting (the enclave does), or a
//! place for secrets (the file is measured and readable by the operator;
//! API keys appear only as salted hashes).
//!
//! Unknown fields are refused: the configuration is measured, and a field
//! the enclave skipped would be a setting a verifier believes in that
//! nothing applies.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Evidence requests per second and client address when the configuration
/// says nothing.
pub const DEFAULT_EVIDENCE_PER_SECOND: u32 = 100;
/// Idle keep-alive of an attested session when the configuration says
/// nothing: five minutes.
pub const DEFAULT_IDLE_TIMEOUT_S: u64 = 300;

fn default_evidence_per_second() -> u32 {
    DEFAULT_EVIDENCE_PER_SECOND
}

fn default_idle_timeout_s() -> u64 {
    DEFAULT_IDLE_TIMEOUT_S
}

fn hex_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    hex::decode(&text).map_err(|e| serde::de::Error::custom(format!("not hex: {e}")))
}

fn hex_text<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
#[error("enclave configuration: {0}")]
pub struct ConfigError(#[from] serde_json::Error);

/// How the enclave reaches its TPM and where it listens: the launch
/// configuration, **not measured** (restarting the platform on another
/// port changes it, and changes nothing a verifier compares). Unknown
/// fields are refused, so nothing that matters can hide here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchConfig {
    /// TCTI of the TPM (`swtpm:host=..,port=..`, `device:/dev/tpmrm0`).
    pub tcti: String,
    /// Address to listen on (`host:port`; port 0 picks one).
    pub listen: String,
}

impl LaunchConfig {
    /// Parses the launch configuration.
    pub fn parse(raw: &[u8]) -> Result<LaunchConfig, ConfigError> {
        Ok(serde_json::from_slice(raw)?)
    }

    /// The bytes to write.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ConfigError> {
        Ok(serde_json::to_vec_pretty(self)?)
    }
}

/// What the enclave is: the measured configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnclaveConfig {
    /// The platform name reported in evidence (`local`, `azure-vtpm`, ...).
    pub platform: String,
    /// App disk image (erofs + verity tree appended).
    pub app_disk: PathBuf,
    /// Its expected dm-verity root hash (hex).
    #[serde(deserialize_with = "hex_bytes", serialize_with = "hex_text")]
    pub app_disk_root_hash: Vec<u8>,
    /// Where the verity tree starts in the image.
    pub app_disk_hash_offset: u64,
    /// Evidence requests allowed per second and client address (then 429
    /// with `Retry-After`). A verifying proxy is one address for all its
    /// users, and opens sessions at a bounded rate itself.
    #[serde(default = "default_evidence_per_second")]
    pub evidence_per_second: u32,
    /// How long an attested session may wait, idle, for its next request
    /// (a proxy keeps its sessions between bursts), in seconds. The headers
    /// of a request must still arrive within 10 s of their first byte.
    #[serde(default = "default_idle_timeout_s")]
    pub idle_timeout_s: u64,
    /// The inference engine, if this enclave serves a model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<blindfold_engine::EngineConfig>,
    /// The API's settings (body limit, API keys).
    #[serde(default)]
    pub api: blindfold_api::ApiConfig,
}

impl EnclaveConfig {
    /// A configuration with the defaults for everything optional: no
    /// engine, default rates and API settings.
    pub fn new(
        platform: String,
        app_disk: PathBuf,
        app_disk_root_hash: Vec<u8>,
        app_disk_hash_offset: u64,
    ) -> EnclaveConfig {
        EnclaveConfig {
            platform,
            app_disk,
            app_disk_root_hash,
            app_disk_hash_offset,
            evidence_per_second: DEFAULT_EVIDENCE_PER_SECOND,
            idle_timeout_s: DEFAULT_IDLE_TIMEOUT_S,
            engine: None,
            api: blindfold_api::ApiConfig::default(),
        }
    }

    /// Parses the configuration.
    pub fn parse(raw: &[u8]) -> Result<EnclaveConfig, ConfigError> {
        Ok(serde_json::from_slice(raw)?)
    }

    /// The bytes to write (what the enclave measures is exactly the file).
    /// Fails only on a path that is not UTF-8.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ConfigError> {
        Ok(serde_json::to_vec_pretty(self)?)
    }

    /// [`Self::idle_timeout_s`] as a duration.
    pub fn idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.idle_timeout_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"platform": "local",
        "app_disk": "app.img", "app_disk_root_hash": "00ff", "app_disk_hash_offset": 4096}"#;

    #[test]
    fn defaults_fill_what_is_left_out() {
        let c = EnclaveConfig::parse(MINIMAL.as_bytes()).unwrap();
        assert_eq!(c.app_disk_root_hash, vec![0, 0xff]);
        assert_eq!(c.evidence_per_second, DEFAULT_EVIDENCE_PER_SECOND);
        assert_eq!(c.idle_timeout().as_secs(), DEFAULT_IDLE_TIMEOUT_S);
        assert!(c.engine.is_none());
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let mut c = EnclaveConfig::parse(MINIMAL.as_bytes()).unwrap();
        c.engine = Some(blindfold_engine::EngineConfig::Embedded(
            blindfold_engine::EmbeddedConfig {
                gguf: "/m.gguf".into(),
                model_id: "m".into(),
                max_batch: None,
                queue_capacity: None,
                default_max_tokens: Some(64),
            },
        ));
        let again = EnclaveConfig::parse(&c.to_bytes().unwrap()).unwrap();
        assert_eq!(again, c);
        assert!(String::from_utf8(c.to_bytes().unwrap())
            .unwrap()
            .contains("\"00ff\""));
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let text = MINIMAL.replace("\"platform\"", "\"allow_debug\": true, \"platform\"");
        let e = EnclaveConfig::parse(text.as_bytes()).unwrap_err();
        assert!(format!("{e:#}").contains("allow_debug"), "{e:#}");
    }

    #[test]
    fn how_the_tpm_is_reached_is_launch_configuration_not_identity() {
        // The measured configuration no longer takes a TCTI or address...
        let old = MINIMAL.replace("\"platform\"", "\"tcti\": \"swtpm:port=1\", \"platform\"");
        let e = EnclaveConfig::parse(old.as_bytes()).unwrap_err();
        assert!(format!("{e:#}").contains("unknown field `tcti`"), "{e:#}");
        // ...the launch configuration does, and nothing else.
        let launch = LaunchConfig::parse(br#"{"tcti": "swtpm:port=1", "listen": "127.0.0.1:0"}"#).unwrap();
        assert_eq!(LaunchConfig::parse(&launch.to_bytes().unwrap()).unwrap(), launch);
        let e = LaunchConfig::parse(br#"{"tcti": "t", "listen": "l", "engine": null}"#).unwrap_err();
        assert!(format!("{e:#}").contains("unknown field `engine`"), "{e:#}");
    }
}
