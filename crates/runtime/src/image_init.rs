//! PID 1 in a measured image (`docs/image.md`): the file systems the
//! kernel does not mount for an initramfs, the kernel modules listed in the
//! initrd, the app disk opened through the kernel's dm-verity with the
//! table from the measured command line and mounted read-only, and the
//! configuration read from it. Nothing here reads the unmeasured verity
//! superblock or anything outside the initrd and the verified disk.
//!
//! Every failure is fatal: the caller powers the machine off.

use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use blindfold_enclave_config::EnclaveConfig;
use blindfold_verity::AppDiskTable;
use rustix::mount::{mount, MountFlags};

use blindfold_enclave_config::image_layout::{APP_MOUNT, CONFIG_NAME, MODULE_DIR, MODULE_LIST};

/// The device-mapper name of the app disk.
const DM_NAME: &str = "blindfold-app";
/// The firmware's event log, once securityfs is mounted.
const FIRMWARE_LOG: &str = "/sys/kernel/security/tpm0/binary_bios_measurements";
/// How long the app partition may take to appear (virtio probing is
/// asynchronous).
const DEVICE_WAIT: Duration = Duration::from_secs(30);

/// What PID 1 found: the verified disk's root hash (from the measured
/// command line), the configuration's bytes as read from it, and the
/// firmware's event log.
pub struct ImageBoot {
    /// The app disk's dm-verity root hash.
    pub root_hash: Vec<u8>,
    /// `config.json` exactly as read (its digest goes into PCR 15).
    pub raw_config: Vec<u8>,
    /// The parsed configuration.
    pub config: EnclaveConfig,
    /// The firmware's TCG event log.
    pub firmware_log: Vec<u8>,
}

/// Whether this process is the system's init.
pub fn running_as_init() -> bool {
    rustix::process::getpid().is_init()
}

fn mount_fs(source: &str, target: &str, fstype: &str, flags: MountFlags) -> anyhow::Result<()> {
    std::fs::create_dir_all(target).with_context(|| format!("creating {target}"))?;
    mount(source, target, fstype, flags, "").with_context(|| format!("mounting {fstype} on {target}"))
}

/// Mounts /proc, /sys, /dev (devtmpfs) and securityfs; no executables
/// anywhere but the initrd.
fn mount_basics() -> anyhow::Result<()> {
    let plain = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    mount_fs("proc", "/proc", "proc", plain)?;
    mount_fs("sysfs", "/sys", "sysfs", plain)?;
    mount_fs(
        "devtmpfs",
        "/dev",
        "devtmpfs",
        MountFlags::NOSUID | MountFlags::NOEXEC,
    )?;
    mount_fs("securityfs", "/sys/kernel/security", "securityfs", plain)?;
    Ok(())
}

/// Loads each module named in the initrd's list, in order; one marked
/// optional (`?name`: a driver for hardware only some platforms have)
/// may fail to load, which is logged.
fn load_modules() -> anyhow::Result<Vec<String>> {
    let list = std::fs::read_to_string(MODULE_LIST).with_context(|| format!("reading {MODULE_LIST}"))?;
    let mut loaded = Vec::new();
    for line in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, optional) = match line.strip_prefix('?') {
            Some(name) => (name, true),
            None => (line, false),
        };
        let path = format!("{MODULE_DIR}/{name}.ko");
        let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
        match rustix::system::finit_module(&file, c"", 0) {
            Ok(()) => loaded.push(name.to_string()),
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) if optional => {
                eprintln!("blindfold-enclave: {name} not loaded ({e}): not this platform's hardware")
            }
            Err(e) => return Err(anyhow!("loading module {name}: {e}")),
        }
    }
    Ok(loaded)
}

/// `MAJOR:MINOR` of the partition whose GPT name is `name`, waiting for
/// the disk to be probed.
fn find_partition(name: &str) -> anyhow::Result<String> {
    let start = Instant::now();
    loop {
        if let Ok(entries) = std::fs::read_dir("/sys/class/block") {
            for entry in entries.flatten() {
                let uevent = std::fs::read_to_string(entry.path().join("uevent")).unwrap_or_default();
                let field = |key: &str| {
                    uevent
                        .lines()
                        .find_map(|l| l.strip_prefix(key).map(str::to_string))
                };
                if field("PARTNAME=").as_deref() == Some(name) {
                    let (major, minor) = (field("MAJOR="), field("MINOR="));
                    if let (Some(major), Some(minor)) = (major, minor) {
                        return Ok(format!("{major}:{minor}"));
                    }
                }
            }
        }
        if start.elapsed() > DEVICE_WAIT {
            return Err(anyhow!(
                "no partition named {name} appeared within {} s",
                DEVICE_WAIT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Creates the read-only dm-verity device over `dev` and returns its
/// `/dev/dm-N` path.
fn open_verity(table: &AppDiskTable, dev: &str) -> anyhow::Result<String> {
    use devicemapper::{DevId, DmFlags, DmName, DmOptions, DM};
    let dm = DM::new().map_err(|e| anyhow!("opening the device mapper: {e}"))?;
    let name = DmName::new(DM_NAME).map_err(|e| anyhow!("{e}"))?;
    let readonly = || DmOptions::default().set_flags(DmFlags::DM_READONLY);
    dm.device_create(name, None, readonly())
        .map_err(|e| anyhow!("creating the app disk's device: {e}"))?;
    let id = DevId::Name(name);
    dm.table_load(&id, &[table.dm_table(dev)], readonly())
        .map_err(|e| anyhow!("loading the app disk's dm-verity table: {e}"))?;
    let info = dm
        .device_suspend(&id, readonly())
        .map_err(|e| anyhow!("activating the app disk's device: {e}"))?;
    Ok(format!("/dev/dm-{}", info.device().minor))
}

/// Waits for devtmpfs to create `path`.
fn wait_for_node(path: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    while !Path::new(path).exists() {
        if start.elapsed() > DEVICE_WAIT {
            return Err(anyhow!("{path} did not appear"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// PID 1's start: mounts, modules, the verified app disk, the
/// configuration on it, the firmware log.
pub fn boot() -> anyhow::Result<ImageBoot> {
    mount_basics()?;
    let loaded = load_modules()?;
    eprintln!("blindfold-enclave: PID 1, {} kernel modules loaded", loaded.len());
    let cmdline = std::fs::read_to_string("/proc/cmdline").context("reading /proc/cmdline")?;
    let table = AppDiskTable::from_cmdline(&cmdline).context("the app disk's table on the command line")?;
    let partition = find_partition(&table.partition)?;
    let device = open_verity(&table, &partition)?;
    wait_for_node(&device)?;
    mount_fs(
        &device,
        APP_MOUNT,
        "erofs",
        MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
    )?;
    eprintln!(
        "blindfold-enclave: app disk {} opened through dm-verity (root hash {})",
        table.partition,
        hex::encode(&table.root_hash)
    );
    let config_path = format!("{APP_MOUNT}/{CONFIG_NAME}");
    let raw_config = std::fs::read(&config_path).with_context(|| format!("reading {config_path}"))?;
    let config = EnclaveConfig::parse(&raw_config)?;
    if !config.is_image() {
        return Err(anyhow!(
            "{config_path} names an app disk path: an image's configuration must not (the kernel opened this disk)"
        ));
    }
    let firmware_log = match std::fs::read(FIRMWARE_LOG) {
        Ok(log) => log,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(anyhow!(
                "the firmware left no event log ({FIRMWARE_LOG}): no measured boot"
            ))
        }
        Err(e) => return Err(anyhow!("reading {FIRMWARE_LOG}: {e}")),
    };
    Ok(ImageBoot {
        root_hash: table.root_hash,
        raw_config,
        config,
        firmware_log,
    })
}

/// Stops the machine: PID 1 must not exit (the kernel would panic with
/// whatever state it has), and nothing is left to serve.
/// Has the kernel send SIGINT to PID 1 on Ctrl-Alt-Del instead of
/// rebooting at once, and powers off in order when it comes.
pub async fn power_off_on_ctrl_alt_del() -> anyhow::Result<()> {
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("handling SIGINT")?;
    rustix::system::reboot(rustix::system::RebootCommand::CadOff).context("Ctrl-Alt-Del to SIGINT")?;
    tokio::spawn(async move {
        if interrupt.recv().await.is_some() {
            eprintln!("blindfold-enclave: Ctrl-Alt-Del: powering off");
            power_off();
        }
    });
    Ok(())
}

/// Powers the machine off (the kernel shuts its devices down first; the
/// TPM driver sends TPM2_Shutdown).
pub fn power_off() -> ! {
    rustix::fs::sync();
    let _ = rustix::system::reboot(rustix::system::RebootCommand::PowerOff);
    // Only reached if the reboot call was refused.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
