//! # blindfold-image
//!
//! Builds a Blindfold enclave image from pinned inputs: a UKI (systemd-stub,
//! Debian's kernel, an initrd with `blindfold-enclave` as PID 1, the
//! other programs the description names (an upstream engine the enclave
//! starts), exactly the libraries and kernel modules they need, and a
//! command line carrying the app disk's whole dm-verity table), the app
//! disk (erofs + dm-verity: the enclave's configuration and its files),
//! and one GPT disk image holding both (`docs/image.md`); and that disk in
//! the form each cloud imports ([`export`]). The same inputs and
//! `SOURCE_DATE_EPOCH` give the same bytes.
//!
//! What it is **not**: it does not predict PCRs (`blindfold-measure` does,
//! from the UKI and app disk written here), it boots nothing and it
//! uploads nothing.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cpio;
mod error;
pub mod esp;
pub mod export;
pub mod gpt;
pub mod libs;
pub mod modules;
pub mod spec;

use std::path::{Path, PathBuf};

use blindfold_crypto::{default_provider, HashAlg};
use blindfold_enclave_config::EnclaveConfig;
use blindfold_measure::app_disk::{build_app_disk, AppDiskManifest, DEFAULT_FS_UUID};
use blindfold_measure::verity::{AppDiskTable, APP_PARTITION_NAME, CMDLINE_KEY};
use serde::{Deserialize, Serialize};

pub use blindfold_uefi_sign::SigningIdentity;
pub use error::Error;
pub use spec::ImageSpec;

pub use blindfold_enclave_config::image_layout::{APP_MOUNT, CONFIG_NAME, MODULE_DIR, MODULE_LIST};
/// Where the image description's other programs are in the initrd.
pub const PROGRAM_DIR: &str = "/usr/bin";
/// The kernel parameters every image has, before the verity table: the
/// serial console (kernel messages only: the enclave never logs
/// prompts), a panic or oops stops the machine (`panic=-1` with QEMU's
/// `-no-reboot` powers it off).
pub const BASE_CMDLINE: &str = "console=ttyS0 loglevel=4 panic=-1 oops=panic";

const DISK_GUID: &str = "b11df01d-0000-4000-8000-0000000000d1";
const ESP_GUID: &str = "b11df01d-0000-4000-8000-0000000000e1";
const APP_GUID: &str = "b11df01d-0000-4000-8000-0000000000a1";

/// The files `build` writes into its output directory.
pub mod outputs {
    /// The GPT disk (ESP + app disk) to boot.
    pub const DISK: &str = "disk.img";
    /// The UKI (also on the ESP), for `blindfold measure --uki`.
    pub const UKI: &str = "uki.efi";
    /// The app disk's manifest, for `blindfold measure --app-disk`.
    pub const APP_DISK_MANIFEST: &str = "app.img.json";
    /// The enclave configuration on the app disk, for `--enclave-config`.
    pub const CONFIG: &str = "enclave.json";
    /// What was built from what.
    pub const MANIFEST: &str = "image.json";
}

/// A slow step, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Building the erofs app disk and its verity tree.
    AppDisk,
    /// Collecting libraries and modules into the initrd.
    Initrd,
    /// Assembling the UKI.
    Uki,
    /// Writing the ESP and the GPT disk.
    Disk,
}

/// `image.json`: what an image was built from, and the values a verifier
/// and an operator need to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageManifest {
    /// Always 1.
    pub blindfold_image: u32,
    /// `SOURCE_DATE_EPOCH` used.
    pub source_date_epoch: u64,
    /// The kernel command line in the UKI.
    pub cmdline: String,
    /// Kernel modules in load order (optional ones, loaded where their
    /// hardware is, after a `?`).
    pub modules: Vec<String>,
    /// Libraries in the initrd (target paths).
    pub libraries: Vec<String>,
    /// SHA-256 of each input (`stub`, `vmlinuz`, `enclave`, `config`, each
    /// app file as `app/NAME` and each other program as `program/NAME`).
    pub inputs: std::collections::BTreeMap<String, String>,
    /// The app disk's dm-verity root hash.
    pub app_disk_root_hash: String,
    /// Bytes of the UKI, the initrd, and the disk.
    pub sizes: std::collections::BTreeMap<String, u64>,
    /// SHA-256 of the certificate (DER) whose key signed the UKI for
    /// Secure Boot; absent for an unsigned UKI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    default_provider().hash(HashAlg::Sha256, &[bytes]).to_hex()
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|e| Error::Output(format!("{}: {e}", path.display())))
}

/// The `SOURCE_DATE_EPOCH` environment variable (0 when unset).
pub fn source_date_epoch() -> Result<u64, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .parse()
            .map_err(|_| Error::Input(format!("SOURCE_DATE_EPOCH={v} is not a number of seconds"))),
        Err(_) => Ok(0),
    }
}

/// Builds the image described by `spec` into `out` (created if needed),
/// its UKI signed for Secure Boot by `signer` when one is given. `step` is
/// told when each slow step starts.
pub fn build(
    spec: &ImageSpec,
    out: &Path,
    sde: u64,
    signer: Option<&SigningIdentity>,
    step: &mut dyn FnMut(Step),
) -> Result<ImageManifest, Error> {
    std::fs::create_dir_all(out).map_err(|e| Error::Output(format!("{}: {e}", out.display())))?;
    let mut inputs = std::collections::BTreeMap::new();

    // The configuration: an image's (no app disk path), written back as
    // the same type the enclave reads.
    let raw = read(&spec.enclave.config)?;
    let config = EnclaveConfig::parse(&raw)
        .map_err(|e| Error::Input(format!("{}: {e}", spec.enclave.config.display())))?;
    if !config.is_image() {
        return Err(Error::Input(format!(
            "{}: names an app disk path; an image's configuration lives on the app disk and names none",
            spec.enclave.config.display()
        )));
    }
    let config_bytes = config
        .to_bytes()
        .map_err(|e| Error::Input(format!("{}: {e}", spec.enclave.config.display())))?;
    inputs.insert("config".to_string(), sha256_hex(&config_bytes));

    // The app disk.
    step(Step::AppDisk);
    let staging = tempfile::tempdir_in(out).map_err(|e| Error::Output(format!("{}: {e}", out.display())))?;
    let app_dir = staging.path().join("app");
    std::fs::create_dir(&app_dir).map_err(|e| Error::Output(e.to_string()))?;
    write(&app_dir.join(CONFIG_NAME), &config_bytes)?;
    for (name, source) in &spec.app.files {
        let target = app_dir.join(name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::Output(e.to_string()))?;
        }
        let bytes = read(source)?;
        inputs.insert(format!("app/{name}"), sha256_hex(&bytes));
        write(&target, &bytes)?;
    }
    let app_img = staging.path().join("app.img");
    let disk = build_app_disk(&app_dir, &app_img, sde, DEFAULT_FS_UUID)?;
    let manifest: AppDiskManifest = disk.manifest();
    let table = AppDiskTable::new(
        disk.data_blocks,
        disk.data_size,
        disk.root_hash.clone(),
        disk.salt.clone(),
    );
    let cmdline = format!("{BASE_CMDLINE} {CMDLINE_KEY}={}", table.to_cmdline_value());

    // The initrd.
    step(Step::Initrd);
    let binary = read(&spec.enclave.binary)?;
    inputs.insert("enclave".to_string(), sha256_hex(&binary));
    let dirs: Vec<&Path> = libs::LIBRARY_DIRS.iter().map(Path::new).collect();
    let mut programs = Vec::new();
    for (name, source) in &spec.programs {
        let bytes = read(source)?;
        inputs.insert(format!("program/{name}"), sha256_hex(&bytes));
        programs.push((name.as_str(), bytes));
    }
    let needing: Vec<(&str, &[u8])> = std::iter::once(("the enclave binary", binary.as_slice()))
        .chain(programs.iter().map(|(name, bytes)| (*name, bytes.as_slice())))
        .collect();
    let libraries = libs::closure(&needing, &libs::RUNTIME_LOADED, &dirs)?;
    let wanted: Vec<&str> = match &spec.kernel.modules {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => modules::DEFAULT_MODULES.to_vec(),
    };
    let cloud: Vec<&str> = match &spec.kernel.cloud_modules {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => modules::CLOUD_MODULES.to_vec(),
    };
    let mods = modules::resolve_with_optional(&spec.kernel.dir.join("modules"), &wanted, &cloud)?;
    let mut initrd = cpio::Archive::new();
    initrd.insert(
        "init",
        cpio::Entry::File {
            mode: 0o755,
            data: binary,
        },
    );
    for (name, data) in programs {
        initrd.insert(
            &format!("{PROGRAM_DIR}/{name}"),
            cpio::Entry::File { mode: 0o755, data },
        );
    }
    for lib in &libraries {
        initrd.insert(
            &lib.target,
            cpio::Entry::File {
                mode: 0o755,
                data: read(&lib.source)?,
            },
        );
    }
    for m in &mods {
        initrd.insert(
            &format!("{MODULE_DIR}/{}.ko", m.name),
            cpio::Entry::File {
                mode: 0o644,
                data: read(&m.source)?,
            },
        );
    }
    let order: String = mods.iter().map(|m| m.listed() + "\n").collect();
    initrd.insert(
        MODULE_LIST,
        cpio::Entry::File {
            mode: 0o644,
            data: order.into_bytes(),
        },
    );
    initrd.insert("dev/console", cpio::Entry::CharDevice { major: 5, minor: 1 });
    for dir in ["dev", "proc", "sys", "tmp", "run", APP_MOUNT] {
        initrd.insert(dir, cpio::Entry::Dir);
    }
    let initrd = initrd.to_bytes(sde);

    // The UKI.
    step(Step::Uki);
    let stub = read(&spec.boot.stub)?;
    let vmlinuz = read(&spec.kernel.dir.join("vmlinuz"))?;
    inputs.insert("stub".to_string(), sha256_hex(&stub));
    inputs.insert("vmlinuz".to_string(), sha256_hex(&vmlinuz));
    let osrel = format!(
        "ID=blindfold\nNAME=\"Blindfold enclave\"\nVERSION_ID={}\n",
        env!("CARGO_PKG_VERSION")
    );
    let uki = blindfold_measure::build_uki(
        &stub,
        &[
            (".osrel", osrel.as_bytes()),
            (".cmdline", cmdline.as_bytes()),
            (".initrd", &initrd),
            (".linux", &vmlinuz),
        ],
    )?;
    let (uki, signed_by) = match signer {
        Some(signer) => (
            blindfold_uefi_sign::sign_pe(&uki, signer)?,
            Some(sha256_hex(&signer.certificate_der()?)),
        ),
        None => (uki, None),
    };

    // The disk: ESP, then the app disk under its partition name.
    step(Step::Disk);
    let esp = esp::build_esp(&uki, staging.path(), sde)?;
    let app = read(&app_img)?;
    let disk_path = out.join(outputs::DISK);
    let mut file = std::fs::File::create(&disk_path)
        .map_err(|e| Error::Output(format!("{}: {e}", disk_path.display())))?;
    gpt::write_disk(
        &mut file,
        DISK_GUID,
        &[
            gpt::Partition {
                type_guid: gpt::ESP_TYPE,
                guid: ESP_GUID,
                name: "ESP",
                data: &esp,
            },
            gpt::Partition {
                type_guid: gpt::LINUX_DATA_TYPE,
                guid: APP_GUID,
                name: APP_PARTITION_NAME,
                data: &app,
            },
        ],
    )?;
    drop(file);
    let disk_len = std::fs::metadata(&disk_path).map(|m| m.len()).unwrap_or(0);

    write(&out.join(outputs::UKI), &uki)?;
    write(&out.join(outputs::CONFIG), &config_bytes)?;
    write(&out.join(outputs::APP_DISK_MANIFEST), &json(&manifest))?;
    let image = ImageManifest {
        blindfold_image: 1,
        source_date_epoch: sde,
        cmdline,
        modules: mods.iter().map(modules::Module::listed).collect(),
        libraries: libraries.iter().map(|l| l.target.clone()).collect(),
        inputs,
        app_disk_root_hash: hex::encode(&disk.root_hash),
        sizes: [
            ("uki".to_string(), uki.len() as u64),
            ("initrd".to_string(), initrd.len() as u64),
            ("app_disk".to_string(), app.len() as u64),
            ("disk".to_string(), disk_len),
        ]
        .into_iter()
        .collect(),
        signed_by,
    };
    write(&out.join(outputs::MANIFEST), &json(&image))?;
    Ok(image)
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(v).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The default image paths for this machine: the kernel `scripts/setup.sh
/// --vm` unpacks, Debian's stub.
pub fn default_kernel_dir() -> PathBuf {
    let cache = std::env::var_os("BLINDFOLD_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/blindfold")))
        .unwrap_or_else(|| PathBuf::from(".cache/blindfold"));
    cache.join("kernel/6.1.0-57-amd64")
}
