//! Start-up measurements into PCR 15, every active bank.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{anyhow, Context};
use blindfold_attester::{PlatformLayout, Tpm};
use blindfold_protocol::{runtime_events, RuntimeEvent, RuntimeLog, RUNTIME_PCR};
use blindfold_verity::{self as verity, Superblock, VerityParams};
use sha2::{Digest as _, Sha256};

use blindfold_enclave_config::EnclaveConfig;

pub use blindfold_attester::evidence::StartState;

fn extend(tpm: &mut Tpm, log: &mut RuntimeLog, event: RuntimeEvent) -> anyhow::Result<()> {
    let digests: Vec<_> = log.banks.iter().map(|b| event.digest(*b)).collect();
    tpm.extend(RUNTIME_PCR, &digests).context("extending PCR 15")?;
    log.events.push(event);
    Ok(())
}

/// Checks the app disk against its root hash in user space (nothing is
/// read from it before this succeeds).
fn check_app_disk(config: &EnclaveConfig) -> anyhow::Result<()> {
    let path = config
        .app_disk
        .as_ref()
        .ok_or_else(|| anyhow!("the configuration names no app disk (it is a measured image's)"))?;
    let mut image = File::open(path).with_context(|| format!("app disk {}", path.display()))?;
    let mut sb = vec![0u8; 512];
    image.seek(SeekFrom::Start(config.app_disk_hash_offset))?;
    image
        .read_exact(&mut sb)
        .context("reading the verity superblock")?;
    let sb = Superblock::decode(&sb)?;
    let mut params = VerityParams::new(sb.salt, sb.uuid);
    params.hash = sb.hash;
    params.data_block_size = sb.data_block_size;
    params.hash_block_size = sb.hash_block_size;
    params.hash_offset = config.app_disk_hash_offset;
    let data = BufReader::new(File::open(path)?);
    verity::verify(
        data,
        config.app_disk_hash_offset,
        &mut image,
        &params,
        &config.app_disk_root_hash,
    )
    .map_err(|e| anyhow!("app disk does not match its root hash: {e}"))
}

/// SHA-256 of a file, read in pieces.
pub fn file_sha256(path: &Path) -> anyhow::Result<[u8; 32]> {
    let mut file = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hasher.finalize().into())
}

/// Process mode: verifies the app disk, then extends the enclave's own
/// digest (read from `/proc/self/exe`: a consistency check only, a
/// modified binary could report another digest), app disk, configuration
/// and the ready separator. Any failure is fatal: the enclave serves
/// nothing.
pub fn measure_at_start(
    tpm: &mut Tpm,
    tcti: &str,
    config: &EnclaveConfig,
    raw_config: &[u8],
) -> anyhow::Result<StartState> {
    check_app_disk(config)?;
    let binary = file_sha256(Path::new("/proc/self/exe")).context("hashing the enclave's own executable")?;
    measure_verified(
        tpm,
        tcti,
        config,
        Some(&binary),
        &config.app_disk_root_hash,
        raw_config,
        None,
    )
}

/// Extends the enclave's digest (process mode; `None` in an image, whose
/// PCR 4 holds it), app disk (`root_hash`, already verified: by
/// [`check_app_disk`] in process mode, by the kernel's dm-verity in an
/// image), configuration and the ready separator.
pub fn measure_verified(
    tpm: &mut Tpm,
    tcti: &str,
    config: &EnclaveConfig,
    enclave_binary: Option<&[u8; 32]>,
    root_hash: &[u8],
    raw_config: &[u8],
    firmware_log: Option<Vec<u8>>,
) -> anyhow::Result<StartState> {
    // The AK first: a platform without its AK fails before PCR 15 moves.
    let layout = PlatformLayout::for_platform(&config.platform)?;
    let ak = tpm
        .load_ak(&layout)
        .with_context(|| format!("loading the {} attestation key", config.platform))?;
    let banks = tpm.active_banks()?;
    if banks.is_empty() {
        return Err(anyhow!("the TPM has no active PCR bank"));
    }
    // A restart within one boot would extend on top of old values and never
    // replay: refuse unless PCR 15 is still at its reset value.
    let current = tpm.read_pcrs(&banks, &[RUNTIME_PCR])?;
    for (bank, values) in current.banks() {
        if values.values().any(|d| d.as_bytes().iter().any(|b| *b != 0)) {
            return Err(anyhow!(
                "PCR 15 ({bank}) is already extended: the runtime measures once per boot (restart the platform)"
            ));
        }
    }
    let mut log = RuntimeLog {
        events: Vec::new(),
        banks: banks.clone(),
    };
    for event in runtime_events(enclave_binary, root_hash, raw_config) {
        extend(tpm, &mut log, event)?;
    }
    Ok(StartState {
        banks,
        log,
        ak_public: ak.public,
        ak_cert_chain: ak.certificate.into_iter().collect(),
        layout,
        platform_report: None,
        tcti: tcti.to_string(),
        platform: config.platform.clone(),
        firmware_log,
    })
}

/// Measures the loaded model (its name and the SHA-256 of its weights)
/// after `ready`, before the TLS key exists: every session, and so every
/// piece of evidence, comes after the model it serves is in PCR 15.
pub fn measure_model(
    tpm: &mut Tpm,
    state: &mut StartState,
    name: &str,
    sha256: &[u8; 32],
) -> anyhow::Result<()> {
    extend(tpm, &mut state.log, RuntimeEvent::model(name, sha256))
}
