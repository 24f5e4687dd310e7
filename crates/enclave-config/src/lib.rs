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

/// Where things are in a measured image: written by the image builder
/// (`blindfold-image`), read by the enclave as PID 1 — one definition for
/// both sides.
pub mod image_layout {
    /// Where the app disk is mounted.
    pub const APP_MOUNT: &str = "/app";
    /// The enclave's configuration's name on the app disk.
    pub const CONFIG_NAME: &str = "config.json";
    /// The modules to load, one name per line, in order (in the initrd);
    /// `?NAME` marks a driver loaded only where its hardware is.
    pub const MODULE_LIST: &str = "/etc/blindfold/modules";
    /// Where each module's `NAME.ko` is in the initrd.
    pub const MODULE_DIR: &str = "/lib/modules";
}

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

fn is_zero(v: &u64) -> bool {
    *v == 0
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
pub enum ConfigError {
    /// Not JSON of this type (unknown fields included).
    #[error("enclave configuration: {0}")]
    Json(#[from] serde_json::Error),
    /// Well-formed, but its parts do not fit together.
    #[error("enclave configuration: {0}")]
    Inconsistent(String),
}

/// A model sealed by its owner (`docs/sealed-models.md`): where the
/// enclave fetches it, what it must turn out to be, and which broker may
/// release its key. All of it is measured: a client's reference names the
/// store, the model, its digest and the broker the enclave trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedModelConfig {
    /// The store (`file://DIR` or `s3://BUCKET/PREFIX`; S3 endpoint and
    /// credentials come from the environment: they are not identity).
    pub store: String,
    /// The model's name in the store; also the name clients use (the
    /// embedded engine's `model_id`).
    pub name: String,
    /// SHA-256 of the plaintext weights (the manifest's; hex): anything
    /// else is refused before it is loaded.
    #[serde(deserialize_with = "hex_bytes", serialize_with = "hex_text")]
    pub plaintext_sha256: Vec<u8>,
    /// The key broker, `https://HOST:PORT`.
    pub broker: String,
    /// SHA-256 of the broker's TLS SubjectPublicKeyInfo (hex, as `blindfold
    /// kbs serve` prints it): the one key the enclave talks to.
    #[serde(deserialize_with = "hex_bytes", serialize_with = "hex_text")]
    pub broker_spki_sha256: Vec<u8>,
    /// S3 settings for the store, as `object_store` names them
    /// (`aws_endpoint`, `aws_region`, `aws_allow_http`,
    /// `aws_access_key_id`, ...), taking precedence over the environment.
    /// A measured image has no environment: its store is reached with these
    /// only. They are measured and readable by the operator: a key here
    /// must grant reading ciphertext and nothing more.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub store_settings: std::collections::BTreeMap<String, String>,
}

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

/// The measured image's network: one interface with a static address or
/// one from the platform's DHCP server (`"dhcp"`: address, prefix and
/// default gateway, nothing else), inbound only to the API port, outbound only to the listed
/// destinations (the key broker, the model store), nothing else — no DNS
/// unless a resolver is listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// The interface's IPv4 address with its prefix length (`10.0.2.15/24`),
    /// or `dhcp`: asked of the platform's DHCP server, as on a cloud.
    pub address: String,
    /// The default gateway, if destinations lie beyond the local network
    /// (with `dhcp`, the server's router option instead; not both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// The TCP port the enclave serves on (the only inbound port).
    pub listen_port: u16,
    /// Outbound destinations allowed, `IPv4:PORT` (TCP).
    #[serde(default)]
    pub allow_outbound: Vec<String>,
    /// Test builds only (compiled out of release builds, which refuse the
    /// field): after the firewall is up, try to connect to each of these
    /// `IPv4:PORT` and log whether it went through — the negative control
    /// of the network tests.
    #[cfg(debug_assertions)]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_probe_connect: Vec<String>,
    /// Test builds only, as `test_probe_connect`: listen on this TCP port
    /// on every address, answer each connection with one line, and check
    /// over loopback that the listener answers — the inbound negative
    /// control (the firewall must keep it unreachable from outside).
    #[cfg(debug_assertions)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_probe_listen: Option<u16>,
}

/// How the interface gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// A fixed address and prefix length.
    Static(std::net::Ipv4Addr, u8),
    /// From the platform's DHCP server.
    Dhcp,
}

/// The `address` value that asks for DHCP.
pub const DHCP: &str = "dhcp";

impl NetworkConfig {
    /// Static or DHCP; a static address parsed, and a gateway refused
    /// alongside DHCP (the server's router option sets it).
    pub fn addressing(&self) -> Result<Addressing, ConfigError> {
        if self.address == DHCP {
            if self.gateway.is_some() {
                return Err(ConfigError::Inconsistent(
                    "network gateway is set with a DHCP address; the DHCP server's router option sets it"
                        .into(),
                ));
            }
            return Ok(Addressing::Dhcp);
        }
        let (ip, prefix) = self.address()?;
        Ok(Addressing::Static(ip, prefix))
    }

    /// The static address and prefix length.
    pub fn address(&self) -> Result<(std::net::Ipv4Addr, u8), ConfigError> {
        let bad =
            || ConfigError::Inconsistent(format!("network address {} is not IPv4/PREFIX", self.address));
        let (ip, prefix) = self.address.split_once('/').ok_or_else(bad)?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok((ip.parse().map_err(|_| bad())?, prefix))
    }

    /// The gateway's address.
    pub fn gateway(&self) -> Result<Option<std::net::Ipv4Addr>, ConfigError> {
        self.gateway
            .as_deref()
            .map(|g| {
                g.parse().map_err(|_| {
                    ConfigError::Inconsistent(format!("network gateway {g} is not an IPv4 address"))
                })
            })
            .transpose()
    }

    /// The outbound destinations.
    pub fn allowed(&self) -> Result<Vec<std::net::SocketAddrV4>, ConfigError> {
        self.allow_outbound
            .iter()
            .map(|a| {
                a.parse().map_err(|_| {
                    ConfigError::Inconsistent(format!("outbound destination {a} is not IPv4:PORT"))
                })
            })
            .collect()
    }
}

/// The platforms an enclave can attest on (`platform`): each names where
/// the AK, its certificate and the report that roots it live
/// (`blindfold_attester::PlatformLayout`).
pub const PLATFORMS: &[&str] = &[
    "local",
    "tpm",
    "azure-vtpm",
    "azure-snp",
    "azure-tdx",
    "gcp-vtpm",
    "aws-nitrotpm",
];

/// What the enclave is: the measured configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnclaveConfig {
    /// The platform name reported in evidence (`local`, `azure-vtpm`, ...).
    pub platform: String,
    /// Process mode: the app disk image (erofs + verity tree appended),
    /// checked in user space before anything is read from it. Absent in a
    /// measured image, where this file lives *on* the app disk, which the
    /// kernel's dm-verity opens with the root hash from the measured
    /// command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_disk: Option<PathBuf>,
    /// Process mode: the app disk's expected dm-verity root hash (hex).
    #[serde(
        default,
        deserialize_with = "hex_bytes",
        serialize_with = "hex_text",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub app_disk_root_hash: Vec<u8>,
    /// Process mode: where the verity tree starts in the image.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub app_disk_hash_offset: u64,
    /// Measured image: the network the enclave sets up itself, default
    /// deny (`docs/image.md`). Absent in process mode, where the host's
    /// network is not the enclave's to set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkConfig>,
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
    /// The sealed model the embedded engine serves, if its weights come
    /// from the owner's store rather than a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_model: Option<SealedModelConfig>,
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
            app_disk: Some(app_disk),
            app_disk_root_hash,
            app_disk_hash_offset,
            network: None,
            evidence_per_second: DEFAULT_EVIDENCE_PER_SECOND,
            idle_timeout_s: DEFAULT_IDLE_TIMEOUT_S,
            engine: None,
            api: blindfold_api::ApiConfig::default(),
            sealed_model: None,
        }
    }

    /// Parses the configuration.
    /// The weights come from exactly one place: an embedded engine names a
    /// model file or the configuration names a sealed model whose name is
    /// the engine's `model_id`, never both.
    pub fn parse(raw: &[u8]) -> Result<EnclaveConfig, ConfigError> {
        let config: EnclaveConfig = serde_json::from_slice(raw)?;
        config.check()?;
        Ok(config)
    }

    /// The bytes to write (what the enclave measures is exactly the file).
    /// Fails on a path that is not UTF-8 or parts that do not fit together
    /// (as [`Self::parse`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ConfigError> {
        self.check()?;
        Ok(serde_json::to_vec_pretty(self)?)
    }

    /// A measured image's configuration (no app disk path: the kernel opens
    /// the disk this file is on), with the defaults for everything optional.
    pub fn for_image(platform: String, network: NetworkConfig) -> EnclaveConfig {
        EnclaveConfig {
            app_disk: None,
            app_disk_root_hash: Vec::new(),
            app_disk_hash_offset: 0,
            network: Some(network),
            ..EnclaveConfig::new(platform, PathBuf::new(), Vec::new(), 0)
        }
    }

    /// Whether this is a measured image's configuration (no app disk path).
    pub fn is_image(&self) -> bool {
        self.app_disk.is_none()
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bad = |why: String| Err(ConfigError::Inconsistent(why));
        if !PLATFORMS.contains(&self.platform.as_str()) {
            return bad(format!(
                "platform {:?} has no attester (one of: {})",
                self.platform,
                PLATFORMS.join(", ")
            ));
        }
        match (&self.app_disk, &self.network) {
            (Some(_), Some(_)) => {
                return bad("a process-mode configuration (with an app disk path) cannot set the network: the host's network is not the enclave's".into())
            }
            (None, None) => {
                return bad("a measured image's configuration (no app disk path) must set the network".into())
            }
            (None, Some(net)) => {
                if !self.app_disk_root_hash.is_empty() || self.app_disk_hash_offset != 0 {
                    return bad("app_disk_root_hash and app_disk_hash_offset belong with an app disk path".into());
                }
                net.addressing()?;
                net.gateway()?;
                net.allowed()?;
                // Nothing an engine reads may come from outside what is
                // measured: an upstream's weights are on the app disk.
                if let Some(blindfold_engine::EngineConfig::Upstream(u)) = &self.engine {
                    if let Some(weights) = &u.weights {
                        let on_app_disk = weights.starts_with(image_layout::APP_MOUNT)
                            && !weights.components().any(|c| c == std::path::Component::ParentDir);
                        if !on_app_disk {
                            return bad(format!(
                                "the upstream's weights {} are not on the app disk ({}): in an image nothing an engine reads may come from outside what is measured",
                                weights.display(),
                                image_layout::APP_MOUNT
                            ));
                        }
                    }
                }
            }
            (Some(_), None) => {}
        }
        let embedded = match &self.engine {
            Some(blindfold_engine::EngineConfig::Embedded(e)) => Some(e),
            _ => None,
        };
        match (&self.sealed_model, embedded) {
            (Some(sealed), Some(e)) => {
                if e.gguf.is_some() {
                    return bad(
                        "the embedded engine names a model file and a sealed model is named too: keep one"
                            .into(),
                    );
                }
                if e.model_id != sealed.name {
                    return bad(format!(
                        "the sealed model is `{}` but the embedded engine serves `{}`: they must be the same name",
                        sealed.name, e.model_id
                    ));
                }
                if sealed.plaintext_sha256.len() != 32 || sealed.broker_spki_sha256.len() != 32 {
                    return bad("the sealed model's plaintext_sha256 and broker_spki_sha256 are SHA-256 digests (32 bytes)".into());
                }
                if !sealed.broker.starts_with("https://") {
                    return bad(format!("the key broker {} is not an https:// URL", sealed.broker));
                }
                Ok(())
            }
            (Some(_), None) => {
                bad("a sealed model is named but there is no embedded engine to serve it".into())
            }
            (None, Some(e)) if e.gguf.is_none() => {
                bad("the embedded engine names no model file and no sealed model is named".into())
            }
            (None, _) => Ok(()),
        }
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
                gguf: Some("/m.gguf".into()),
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

    fn sealed() -> EnclaveConfig {
        let mut c = EnclaveConfig::parse(MINIMAL.as_bytes()).unwrap();
        c.engine = Some(blindfold_engine::EngineConfig::Embedded(
            blindfold_engine::EmbeddedConfig {
                gguf: None,
                model_id: "m".into(),
                max_batch: None,
                queue_capacity: None,
                default_max_tokens: None,
            },
        ));
        c.sealed_model = Some(SealedModelConfig {
            store: "file:///s".into(),
            name: "m".into(),
            plaintext_sha256: vec![1; 32],
            broker: "https://127.0.0.1:8443".into(),
            broker_spki_sha256: vec![2; 32],
            store_settings: Default::default(),
        });
        c
    }

    #[test]
    fn a_sealed_model_round_trips_and_its_parts_must_fit() {
        let c = sealed();
        assert_eq!(EnclaveConfig::parse(&c.to_bytes().unwrap()).unwrap(), c);
        let refused = |c: &EnclaveConfig| format!("{}", c.to_bytes().unwrap_err());
        let mut other_name = c.clone();
        other_name.sealed_model.as_mut().unwrap().name = "n".into();
        assert!(refused(&other_name).contains("sealed model is `n` but the embedded engine serves `m`"));
        let mut both = c.clone();
        if let Some(blindfold_engine::EngineConfig::Embedded(e)) = &mut both.engine {
            e.gguf = Some("/m.gguf".into());
        }
        assert!(refused(&both).contains("names a model file and a sealed model"));
        let mut neither = both.clone();
        neither.sealed_model = None;
        if let Some(blindfold_engine::EngineConfig::Embedded(e)) = &mut neither.engine {
            e.gguf = None;
        }
        assert!(refused(&neither).contains("names no model file and no sealed model"));
        let mut plain_http = c.clone();
        plain_http.sealed_model.as_mut().unwrap().broker = "http://127.0.0.1:1".into();
        assert!(refused(&plain_http).contains("not an https:// URL"));
        let mut short = c.clone();
        short.sealed_model.as_mut().unwrap().broker_spki_sha256 = vec![2; 20];
        assert!(refused(&short).contains("32 bytes"));
        let mut no_engine = c;
        no_engine.engine = None;
        assert!(refused(&no_engine).contains("no embedded engine"));
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

    fn image() -> EnclaveConfig {
        EnclaveConfig::for_image(
            "local".into(),
            NetworkConfig {
                address: "10.0.2.15/24".into(),
                gateway: Some("10.0.2.2".into()),
                listen_port: 8443,
                allow_outbound: vec!["10.0.2.100:9000".into()],
                test_probe_connect: Vec::new(),
                test_probe_listen: None,
            },
        )
    }

    #[test]
    fn a_measured_image_names_its_network_and_no_app_disk_path() {
        let c = image();
        let bytes = c.to_bytes().unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("app_disk"));
        assert_eq!(EnclaveConfig::parse(&bytes).unwrap(), c);
        let net = c.network.as_ref().unwrap();
        assert_eq!(net.address().unwrap(), ("10.0.2.15".parse().unwrap(), 24));
        assert_eq!(
            net.addressing().unwrap(),
            Addressing::Static("10.0.2.15".parse().unwrap(), 24)
        );
        assert_eq!(net.allowed().unwrap(), vec!["10.0.2.100:9000".parse().unwrap()]);
        let refused = |c: &EnclaveConfig| format!("{}", c.to_bytes().unwrap_err());
        let mut both = c.clone();
        both.app_disk = Some("app.img".into());
        assert!(refused(&both).contains("cannot set the network"));
        let mut neither = c.clone();
        neither.network = None;
        assert!(refused(&neither).contains("must set the network"));
        let mut bad = c.clone();
        bad.network.as_mut().unwrap().allow_outbound = vec!["broker:443".into()];
        assert!(refused(&bad).contains("broker:443 is not IPv4:PORT"));
        let mut bad = c.clone();
        bad.network.as_mut().unwrap().address = "10.0.2.15".into();
        assert!(refused(&bad).contains("not IPv4/PREFIX"));
        // DHCP: the server's router option is the gateway; both is refused.
        let mut dhcp = c;
        dhcp.network.as_mut().unwrap().address = DHCP.into();
        assert!(refused(&dhcp).contains("gateway is set with a DHCP address"));
        dhcp.network.as_mut().unwrap().gateway = None;
        let bytes = dhcp.to_bytes().unwrap();
        let net = EnclaveConfig::parse(&bytes).unwrap().network.unwrap();
        assert_eq!(net.addressing().unwrap(), Addressing::Dhcp);
    }

    #[test]
    fn in_an_image_an_upstream_reads_its_weights_from_the_app_disk_only() {
        let with_weights = |path: &str| {
            let mut c = image();
            c.engine = Some(blindfold_engine::EngineConfig::Upstream(
                blindfold_engine::UpstreamConfig {
                    address: "127.0.0.1:8081".parse().unwrap(),
                    upstream_model: "m".into(),
                    model_id: "m".into(),
                    context_length: 2048,
                    command: Some(vec!["/usr/bin/llama-server".into()]),
                    weights: Some(path.into()),
                },
            ));
            c
        };
        assert!(with_weights("/app/model.gguf").to_bytes().is_ok());
        for outside in ["/tmp/model.gguf", "/app/../tmp/model.gguf", "/application/m.gguf"] {
            let err = with_weights(outside).to_bytes().unwrap_err().to_string();
            assert!(err.contains("are not on the app disk (/app)"), "{outside}: {err}");
        }
    }

    #[test]
    fn a_platform_without_an_attester_is_refused() {
        let text = MINIMAL.replace("\"platform\": \"local\"", "\"platform\": \"aws-nitro-enclave\"");
        let err = EnclaveConfig::parse(text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("\"aws-nitro-enclave\" has no attester"), "{err}");
        for platform in PLATFORMS {
            let text = MINIMAL.replace(
                "\"platform\": \"local\"",
                &format!("\"platform\": \"{platform}\""),
            );
            EnclaveConfig::parse(text.as_bytes()).unwrap();
        }
    }
}
