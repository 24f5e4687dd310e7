//! Shared set-up for the enclave tests: a local platform, an app disk, a
//! configuration, the running enclave, and the reference it should meet.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

pub mod attacker;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use blindfold_attest::{PcrReference, ReferenceFormat, ReferenceKind, ReferenceValues};
use blindfold_crypto::{default_provider, HashAlg};
use blindfold_dev_platform::{self as platform, PlatformInfo, RunningSwtpm};
use blindfold_measure::app_disk::{build_app_disk, AppDisk, DEFAULT_FS_UUID};
use blindfold_protocol::{RuntimeEvent, RuntimeLog};

/// A running `blindfold-enclave`, killed on drop.
pub struct Enclave {
    pub child: Child,
    pub addr: String,
}

impl Drop for Enclave {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the enclave with `config` (and extra environment) and waits for its address.
pub fn start_enclave(config: &Path, env: &[(&str, &Path)]) -> Enclave {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blindfold-enclave"));
    cmd.arg("--config")
        .arg(config)
        .arg("--launch")
        .arg(config.with_file_name("launch.json"))
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("enclave exited before listening").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Enclave { child, addr }
}

/// A local platform, its swtpm, an app disk and the enclave configuration.
pub struct Setup {
    pub info: PlatformInfo,
    pub swtpm: RunningSwtpm,
    pub disk: AppDisk,
    pub config: Vec<u8>,
}

/// Builds everything under `dir`; the configuration file is `dir/enclave.json`.
pub fn local_setup(dir: &Path, evidence_per_second: u32, alg: blindfold_attester::AkAlgorithm) -> Setup {
    let info = platform::init(&dir.join("platform"), alg).unwrap();
    let swtpm = platform::start(&dir.join("platform")).unwrap();
    std::fs::create_dir(dir.join("app")).unwrap();
    std::fs::write(dir.join("app/runtime.json"), "{\"model\": \"none\"}").unwrap();
    let disk = build_app_disk(&dir.join("app"), &dir.join("app.img"), 0, DEFAULT_FS_UUID).unwrap();
    let launch = blindfold_enclave_config::LaunchConfig {
        tcti: swtpm.tcti().into(),
        listen: "127.0.0.1:0".into(),
    };
    std::fs::write(dir.join("launch.json"), launch.to_bytes().unwrap()).unwrap();
    let mut enclave = blindfold_enclave_config::EnclaveConfig::new(
        "local".into(),
        dir.join("app.img"),
        disk.root_hash.clone(),
        disk.data_size,
    );
    enclave.evidence_per_second = evidence_per_second;
    let config = enclave.to_bytes().unwrap();
    std::fs::write(dir.join("enclave.json"), &config).unwrap();
    Setup {
        info,
        swtpm,
        disk,
        config,
    }
}

impl Setup {
    /// The events the enclave logs at start.
    pub fn events(&self) -> Vec<RuntimeEvent> {
        vec![
            enclave_binary_event(),
            RuntimeEvent::AppDisk {
                root_hash: self.disk.root_hash.clone(),
            },
            RuntimeEvent::Config {
                sha256: default_provider()
                    .hash(HashAlg::Sha256, &[&self.config])
                    .as_bytes()
                    .to_vec(),
            },
            RuntimeEvent::Ready,
        ]
    }

    /// The platform CA, as the client's explicit anchor.
    pub fn ca(&self) -> Vec<blindfold_x509::Certificate> {
        blindfold_x509::parse_certificates(&std::fs::read(&self.info.ca_pem).unwrap()).unwrap()
    }
}

/// The enclave's own digest, its first event in process mode.
pub fn enclave_binary_event() -> RuntimeEvent {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_blindfold-enclave")).unwrap();
    RuntimeEvent::EnclaveBinary {
        sha256: default_provider()
            .hash(HashAlg::Sha256, &[&binary])
            .as_bytes()
            .to_vec(),
    }
}

/// The client policy the tests and benches attest with: `setup`'s
/// reference and local CA, development accepted, `freshness` as given.
pub fn dev_policy(setup: &Setup, freshness: blindfold_atls::FreshnessMode) -> blindfold_atls::ClientPolicy {
    blindfold_atls::ClientPolicy {
        reference: reference(setup.events()),
        platform_ca: Some(setup.ca()),
        ak_intermediates: Vec::new(),
        accept: blindfold_attest::AcceptPolicy::development(),
        freshness,
    }
}

/// A development reference for PCR 15 after `events`, SHA-256 and SHA-384.
pub fn reference(events: Vec<RuntimeEvent>) -> ReferenceValues {
    let log = RuntimeLog {
        events,
        banks: vec![HashAlg::Sha256, HashAlg::Sha384],
    };
    let mut pcrs = BTreeMap::new();
    for (bank, values) in log.replay().banks() {
        for (i, d) in values {
            pcrs.insert(
                (bank, *i),
                PcrReference {
                    allowed: vec![*d],
                    revoked: vec![],
                },
            );
        }
    }
    ReferenceValues {
        format: ReferenceFormat::Blindfold,
        kind: ReferenceKind::Development,
        pcrs,
        app_disk_root_hash: None,
        hardware_measurements: Vec::new(),
        snp_minimum_tcb: None,
        snp_allow_migration_agent: false,
        runtime_events: Vec::new(),
    }
}
