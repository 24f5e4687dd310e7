//! The development platform: a local stand-in for a cloud's vTPM, for
//! development and tests only.
//!
//! What it is for: setting up and running a swtpm state with an EK
//! certificate, a local with an EK certificate, a local
//! platform CA, and an AK at `0x81000003` whose certificate (signed by that
//! CA) sits in NV `0x01C101D0` — the Azure layout, so the enclave's code
//! path is the cloud's. Whoever holds the platform directory can forge any
//! quote: verifiers accept its CA only when given it explicitly, and report
//! the trust basis `development`.
//!
//! Layout of the directory: `tpm/` (swtpm state), `localca/` (swtpm's EK
//! CA), `ca.pem` / `ca.key` (the platform CA; the key is mode 0600),
//! `ak-cert.pem`, `tcti` (written by [`start`]), `swtpm.pid`.
//!
//! What it is not: part of a production attester. The enclave never links
//! it; `blindfold-attester` talks to whatever TPM it is given.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Every way setting up or running the platform can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Talking to the swtpm failed.
    #[error(transparent)]
    Tpm(#[from] blindfold_attester::Error),
    /// A TPM structure read back did not parse.
    #[error("TPM structure: {0}")]
    Wire(#[from] blindfold_tpm::WireError),
    /// Certificate generation failed.
    #[error("certificate: {0}")]
    Certificate(String),
    /// A file or process problem.
    #[error("{0}")]
    Io(String),
}

use std::path::{Path, PathBuf};
use std::process::Command;

use blindfold_tpm::TpmPublic;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SubjectPublicKeyInfo,
};

use blindfold_attester::{AkAlgorithm, Tpm, AK_CERT_NV_INDEX};

/// OID of `tcg-kp-AIKCertificate` (TCG EK credential profile).
const TCG_KP_AIK_CERTIFICATE: &[u64] = &[2, 23, 133, 8, 3];

fn io(what: impl std::fmt::Display) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::Io(format!("{what}: {e}"))
}

fn run(cmd: &mut Command, what: &str) -> Result<(), Error> {
    let out = cmd.output().map_err(io(format!("cannot run {what}")))?;
    if !out.status.success() {
        return Err(Error::Io(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// A running swtpm for a platform directory; stopped on drop.
#[derive(Debug)]
pub struct RunningSwtpm {
    pid: u32,
    tcti: String,
}

impl RunningSwtpm {
    /// The TCTI string to reach it.
    pub fn tcti(&self) -> &str {
        &self.tcti
    }

    /// Leaves swtpm running after this value is dropped (`platform start`).
    pub fn detach(self) -> String {
        let tcti = self.tcti.clone();
        std::mem::forget(self);
        tcti
    }
}

impl Drop for RunningSwtpm {
    fn drop(&mut self) {
        orderly_shutdown(&self.tcti);
        let _ = Command::new("kill").arg(self.pid.to_string()).output();
    }
}

/// Sends TPM2_Shutdown(CLEAR) before swtpm is stopped, as a machine going
/// down does: an unorderly stop counts against the TPM's dictionary-attack
/// protection, and after a few the AK cannot quote ("DA lockout mode").
/// Gives up after 2 s (another client still holding swtpm's one
/// connection); the stop goes on either way.
pub fn orderly_shutdown(tcti: &str) {
    let tcti = tcti.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let done = Tpm::open(&tcti).and_then(|mut tpm| tpm.shutdown());
        let _ = tx.send(done.is_ok());
    });
    let _ = rx.recv_timeout(std::time::Duration::from_secs(2));
}

/// Starts swtpm on a free loopback port pair (the swtpm TCTI expects the
/// control port right after the command port), checks that the TPM answers,
/// and writes `DIR/tcti`. A relative `dir` is resolved first: swtpm changes
/// to `/` when it becomes a daemon.
pub fn start(dir: &Path) -> Result<RunningSwtpm, Error> {
    let dir = &std::path::absolute(dir).map_err(io(dir.display()))?;
    let state = dir.join("tpm");
    if !state.join("tpm2-00.permall").exists() {
        return Err(Error::Io(format!(
            "{} is not a platform directory (run blindfold platform init)",
            dir.display()
        )));
    }
    let pid_file = dir.join("swtpm.pid");
    let mut last = String::new();
    for attempt in 0..20u32 {
        let seed = std::process::id()
            .wrapping_mul(7919)
            .wrapping_add(attempt * 104_729);
        let port = 20_000 + (seed % 6_000) * 2;
        let out = Command::new("swtpm")
            .args(["socket", "--tpm2", "--tpmstate"])
            .arg(format!("dir={}", state.display()))
            .args(["--server", &format!("type=tcp,port={port},bindaddr=127.0.0.1")])
            .args([
                "--ctrl",
                &format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1),
            ])
            .args(["--flags", "startup-clear", "--daemon", "--pid"])
            .arg(format!("file={}", pid_file.display()))
            .output()
            .map_err(io("cannot run swtpm (install swtpm)"))?;
        if out.status.success() {
            let pid = std::fs::read_to_string(&pid_file)
                .map_err(io(pid_file.display()))?
                .trim()
                .parse()
                .map_err(|_| Error::Io("swtpm wrote no pid".into()))?;
            let tcti = format!("swtpm:host=127.0.0.1,port={port}");
            let running = RunningSwtpm { pid, tcti };
            // A TPM that starts but cannot answer (its state unreadable)
            // is no platform: stopped on the way out.
            Tpm::open(running.tcti())
                .and_then(|mut tpm| tpm.active_banks())
                .map_err(|e| Error::Io(format!("swtpm started but its TPM does not answer: {e}")))?;
            std::fs::write(dir.join("tcti"), running.tcti()).map_err(io("writing tcti"))?;
            return Ok(running);
        }
        last = String::from_utf8_lossy(&out.stderr).trim().to_string();
    }
    Err(Error::Io(format!("swtpm did not start: {last}")))
}

/// What [`init`] made.
#[derive(Debug, Clone)]
pub struct PlatformInfo {
    /// The platform CA certificate (PEM), to hand to verifiers with `--platform-ca`.
    pub ca_pem: PathBuf,
    /// The AK certificate (PEM).
    pub ak_cert_pem: PathBuf,
    /// The AK's `TPMT_PUBLIC`.
    pub ak_public: Vec<u8>,
}

/// Creates a platform in `dir` (which must not hold one): swtpm state with
/// SHA-256 and SHA-384 banks and an EK certificate, the platform CA, the
/// AK and its certificate in NV.
pub fn init(dir: &Path, alg: AkAlgorithm) -> Result<PlatformInfo, Error> {
    if dir.join("tpm").exists() {
        return Err(Error::Io(format!("{} already holds a platform", dir.display())));
    }
    let abs = std::fs::canonicalize(dir).or_else(|_| {
        std::fs::create_dir_all(dir)?;
        std::fs::canonicalize(dir)
    });
    let dir = abs.map_err(io(dir.display()))?;
    for sub in ["tpm", "localca"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io(sub))?;
    }
    let write = |name: &str, text: String| std::fs::write(dir.join(name), text).map_err(io(name));
    let ca_dir = dir.join("localca");
    write(
        "localca.conf",
        format!(
            "statedir = {0}\nsigningkey = {0}/signkey.pem\nissuercert = {0}/issuercert.pem\ncertserial = {0}/certserial\n",
            ca_dir.display()
        ),
    )?;
    write(
        "localca.options",
        "--platform-manufacturer Blindfold\n--platform-version 1\n--platform-model local\n".into(),
    )?;
    write(
        "swtpm_setup.conf",
        format!(
            "create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {0}/localca.conf\ncreate_certs_tool_options = {0}/localca.options\nactive_pcr_banks = sha256,sha384\n",
            dir.display()
        ),
    )?;
    run(
        Command::new("swtpm_setup")
            .args(["--tpm2", "--tpmstate"])
            .arg(dir.join("tpm"))
            .args([
                "--create-ek-cert",
                "--create-platform-cert",
                "--pcr-banks",
                "sha256,sha384",
                "--config",
            ])
            .arg(dir.join("swtpm_setup.conf")),
        "swtpm_setup",
    )?;

    let swtpm = start(&dir)?;
    let mut tpm = Tpm::open(swtpm.tcti())?;
    let ak_public = tpm.create_persistent_ak(alg)?;
    let key = TpmPublic::parse_tpmt(&ak_public)?.key;
    let spki = key.to_spki_der().map_err(|e| Error::Certificate(e.to_string()))?;

    let cert_err = |e: rcgen::Error| Error::Certificate(e.to_string());
    let ca_key = KeyPair::generate().map_err(cert_err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "Blindfold local platform");
    ca_params.distinguished_name.push(
        DnType::CommonName,
        "Blindfold local platform CA (development only)",
    );
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(cert_err)?;

    let mut ak_params = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    ak_params
        .distinguished_name
        .push(DnType::CommonName, "Blindfold local AK");
    ak_params.is_ca = IsCa::ExplicitNoCa;
    ak_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    ak_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::Other(
        TCG_KP_AIK_CERTIFICATE.to_vec(),
    )];
    let ak_spki = SubjectPublicKeyInfo::from_der(&spki).map_err(cert_err)?;
    let ak_cert = ak_params
        .signed_by(&ak_spki, &ca_cert, &ca_key)
        .map_err(cert_err)?;
    tpm.write_nv(AK_CERT_NV_INDEX, ak_cert.der())?;
    drop(tpm);
    drop(swtpm);

    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca_cert.pem()).map_err(io("ca.pem"))?;
    write_private(&dir.join("ca.key"), &ca_key.serialize_pem())?;
    let ak_cert_pem = dir.join("ak-cert.pem");
    std::fs::write(&ak_cert_pem, ak_cert.pem()).map_err(io("ak-cert.pem"))?;
    Ok(PlatformInfo {
        ca_pem,
        ak_cert_pem,
        ak_public,
    })
}

fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path.display()))?;
    f.write_all(text.as_bytes()).map_err(io(path.display()))
}
