//! `blindfold vm run` and `blindfold platform reference`: an image booted
//! under QEMU + OVMF with the local platform's swtpm (SHA-256 and SHA-384
//! banks), KVM when it really works, else TCG; the API port forwarded to
//! 127.0.0.1 only; user networking with `restrict=on`, so the guest reaches
//! nothing but the `guestfwd` listeners named here.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use blindfold_enclave_config::EnclaveConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::args::{DiskBus, PlatformReferenceArgs, VmArgs, VmRunArgs};
use crate::exit::{say, unusable, Failure};

const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// OVMF built with Secure Boot and SMM (needs `smm=on` and secure flash).
const OVMF_CODE_SECURE_BOOT: &str = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";
/// How long a boot may take to serve evidence (TCG is slow).
const BOOT_WAIT: Duration = Duration::from_secs(240);

/// How the guest CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation, the host's CPU model.
    Kvm,
    /// QEMU's emulator with every feature it has (`-cpu max`: AVX2, which
    /// the x86-64-v3 enclave needs).
    Tcg,
}

/// KVM only when a guest really runs on it: `/dev/kvm` can exist while a
/// nested guest fails (or hangs) at start. OVMF must print to the serial
/// port within 10 s. `BLINDFOLD_VM_ACCEL=tcg|kvm` skips the probe.
pub async fn probe_accel() -> Accel {
    match std::env::var("BLINDFOLD_VM_ACCEL").as_deref() {
        Ok("tcg") => return Accel::Tcg,
        Ok("kvm") => return Accel::Kvm,
        _ => {}
    }
    if !Path::new("/dev/kvm").exists() {
        return Accel::Tcg;
    }
    let child = Command::new("qemu-system-x86_64")
        .args([
            "-machine",
            "q35",
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-m",
            "256",
            "-nodefaults",
        ])
        .args(["-display", "none", "-no-reboot", "-serial", "stdio", "-drive"])
        .arg(format!(
            "if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else { return Accel::Tcg };
    let Some(mut out) = child.stdout.take() else {
        return Accel::Tcg;
    };
    let mut buf = [0u8; 64];
    let printed = tokio::time::timeout(Duration::from_secs(10), out.read(&mut buf)).await;
    let _ = child.kill().await;
    match printed {
        Ok(Ok(n)) if n > 0 => Accel::Kvm,
        _ => Accel::Tcg,
    }
}

/// A booted image: QEMU and its swtpm, both stopped when dropped.
pub struct RunningVm {
    qemu: Child,
    _swtpm: Child,
    monitor: std::path::PathBuf,
    _scratch: tempfile::TempDir,
    /// The API on the host.
    pub addr: String,
    /// How the CPU runs.
    pub accel: Accel,
}

impl RunningVm {
    /// Waits for QEMU to exit.
    pub async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.qemu.wait().await
    }

    /// Whether QEMU has exited (the guest powered off).
    pub fn exited(&mut self) -> bool {
        matches!(self.qemu.try_wait(), Ok(Some(_)))
    }

    /// Stops the guest in order: Ctrl-Alt-Del through QEMU's monitor, on
    /// which the enclave powers off and the kernel sends TPM2_Shutdown (an
    /// unorderly stop counts against the TPM's dictionary-attack
    /// protection, and after a few the AK can no longer quote). Waits up
    /// to 30 s, then kills QEMU. Returns whether the stop was orderly.
    pub async fn power_off(&mut self) -> bool {
        if self.exited() {
            return true;
        }
        // The monitor connection stays open until QEMU exits: a monitor
        // that sees its client go at once may drop the command unread.
        let monitor = async {
            let mut monitor = tokio::net::UnixStream::connect(&self.monitor).await?;
            monitor.write_all(b"sendkey ctrl-alt-delete\n").await?;
            monitor.flush().await?;
            Ok::<_, std::io::Error>(monitor)
        }
        .await;
        if let Ok(_open) = monitor {
            if tokio::time::timeout(Duration::from_secs(30), self.qemu.wait())
                .await
                .is_ok()
            {
                return true;
            }
        }
        let _ = self.qemu.kill().await;
        false
    }
}

fn platform_running(platform: &Path) -> bool {
    std::fs::read_to_string(platform.join("swtpm.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

/// The enclave's listen port, from the image's configuration.
fn listen_port(image: &Path) -> anyhow::Result<u16> {
    let path = image.join(blindfold_image::outputs::CONFIG);
    let raw = std::fs::read(&path).with_context(|| {
        format!(
            "{} (is it an image built by `blindfold image build`?)",
            path.display()
        )
    })?;
    let config = EnclaveConfig::parse(&raw)?;
    config
        .network
        .map(|n| n.listen_port)
        .ok_or_else(|| anyhow!("{} is not an image's configuration (no network)", path.display()))
}

/// One `guestfwd`: the guest's `IP:PORT` reaches the host's
/// `127.0.0.1:HOSTPORT` through socat, one per connection (nothing else is
/// reachable from the guest).
fn guestfwd(spec: &str) -> anyhow::Result<String> {
    let (guest, host) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("forward {spec} is not GUEST_IP:PORT=HOST_PORT"))?;
    let guest: std::net::SocketAddrV4 = guest
        .parse()
        .map_err(|_| anyhow!("forward {spec}: {guest} is not IPv4:PORT"))?;
    let host: u16 = host
        .parse()
        .map_err(|_| anyhow!("forward {spec}: {host} is not a port"))?;
    // A `tcp:` chardev would connect once, at start; `cmd:` runs socat for
    // each connection the guest opens.
    Ok(format!(
        ",guestfwd=tcp:{guest}-cmd:socat STDIO TCP:127.0.0.1:{host}"
    ))
}

/// One more `hostfwd`: the host's `127.0.0.1:HOST_PORT` to the guest's
/// `GUEST_PORT`.
fn hostfwd(spec: &str) -> anyhow::Result<String> {
    let parse = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| anyhow!("inbound {spec}: {p} is not a port"))
    };
    let (host, guest) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("inbound {spec} is not HOST_PORT=GUEST_PORT"))?;
    Ok(format!(
        ",hostfwd=tcp:127.0.0.1:{}-:{}",
        parse(host)?,
        parse(guest)?
    ))
}

/// Boots `args.image` on `args.platform`'s TPM.
pub async fn boot(args: &VmArgs) -> anyhow::Result<RunningVm> {
    for tool in ["qemu-system-x86_64", "swtpm"] {
        which(tool)?;
    }
    if !args.forward.is_empty() {
        which("socat")?;
    }
    let disk = args.image.join(blindfold_image::outputs::DISK);
    if !disk.is_file() {
        return Err(anyhow!(
            "{} has no {}: build it with `blindfold image build`",
            args.image.display(),
            blindfold_image::outputs::DISK
        ));
    }
    let state = args.platform.join("tpm");
    if !state.is_dir() {
        return Err(anyhow!(
            "{} is not a platform (make one with `blindfold platform init`)",
            args.platform.display()
        ));
    }
    if platform_running(&args.platform) {
        return Err(anyhow!(
            "the platform's swtpm is running for process mode; stop it first (`blindfold platform stop {}`)",
            args.platform.display()
        ));
    }
    let listen = listen_port(&args.image)?;
    let mut netdev = format!(
        "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{}-:{listen}",
        args.port
    );
    for f in &args.forward {
        netdev.push_str(&guestfwd(f)?);
    }
    for i in &args.inbound {
        netdev.push_str(&hostfwd(i)?);
    }
    let scratch = tempfile::tempdir().context("scratch directory")?;
    let sock = scratch.path().join("swtpm.sock");
    let swtpm = Command::new("swtpm")
        .args(["socket", "--tpm2", "--tpmstate"])
        .arg(format!("dir={}", state.display()))
        .arg("--ctrl")
        .arg(format!("type=unixio,path={}", sock.display()))
        .arg("--terminate")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting swtpm")?;
    let start = Instant::now();
    while !sock.exists() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err(anyhow!("swtpm did not open its socket"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let vars = scratch.path().join("OVMF_VARS.fd");
    let source = args.efi_vars.as_deref().unwrap_or(Path::new(OVMF_VARS));
    std::fs::copy(source, &vars).with_context(|| format!("copying {} (install ovmf)", source.display()))?;
    let accel = probe_accel().await;
    let (accel_name, cpu) = match accel {
        Accel::Kvm => ("kvm", "host"),
        Accel::Tcg => ("tcg", "max"),
    };
    let (code, machine) = if args.secure_boot {
        (OVMF_CODE_SECURE_BOOT, "q35,smm=on")
    } else {
        (OVMF_CODE, "q35")
    };
    if !Path::new(code).is_file() {
        return Err(anyhow!("{code} is missing (install ovmf)"));
    }
    let serial = match &args.console {
        Some(path) => format!("file:{}", path.display()),
        None => "null".to_string(),
    };
    let monitor = scratch.path().join("monitor.sock");
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(["-machine", machine, "-accel", accel_name, "-cpu", cpu]);
    if args.secure_boot {
        // The variable store is writable only from SMM: the OS cannot
        // change PK, KEK or db behind the firmware's back.
        qemu.args(["-global", "driver=cfi.pflash01,property=secure,value=on"]);
    }
    let qemu = qemu
        .arg("-monitor")
        .arg(format!("unix:{},server=on,wait=off", monitor.display()))
        .args(["-m", &args.memory.to_string(), "-smp", &args.cpus.to_string()])
        .args([
            "-display",
            "none",
            "-no-reboot",
            "-nodefaults",
            "-serial",
            &serial,
        ])
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,unit=0,readonly=on,file={code}"))
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,unit=1,file={}", vars.display()))
        .arg("-chardev")
        .arg(format!("socket,id=chrtpm,path={}", sock.display()))
        .args([
            "-tpmdev",
            "emulator,id=tpm0,chardev=chrtpm",
            "-device",
            "tpm-tis,tpmdev=tpm0",
        ])
        .arg("-drive")
        .arg(format!(
            "if=none,id=d0,format=raw,readonly=on,file={}",
            disk.display()
        ))
        .args(disk_device(args.disk_bus))
        .args(["-netdev", &netdev, "-device", "virtio-net-pci,netdev=n0,romfile="])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting qemu-system-x86_64")?;
    Ok(RunningVm {
        qemu,
        _swtpm: swtpm,
        monitor,
        _scratch: scratch,
        addr: format!("127.0.0.1:{}", args.port),
        accel,
    })
}

/// QEMU's `-device` arguments attaching drive `d0` on `bus`, first in the
/// boot order.
fn disk_device(bus: DiskBus) -> Vec<&'static str> {
    match bus {
        DiskBus::Virtio => vec!["-device", "virtio-blk-pci,drive=d0,bootindex=1"],
        DiskBus::Nvme => vec!["-device", "nvme,drive=d0,serial=blindfold-disk,bootindex=1"],
        DiskBus::Scsi => vec![
            "-device",
            "virtio-scsi-pci,id=scsi0",
            "-device",
            "scsi-hd,drive=d0,bus=scsi0.0,bootindex=1",
        ],
    }
}

fn which(tool: &str) -> anyhow::Result<()> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err(anyhow!(
            "{tool} is not installed (scripts/setup.sh --vm installs it)"
        ))
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Unusable(anyhow!(e)))
}

pub fn run(args: &VmRunArgs) -> Result<(), Failure> {
    let rt = runtime()?;
    rt.block_on(async {
        let mut vm = boot(&args.vm).await.map_err(|e| unusable(e, "booting the image"))?;
        let reference = args.vm.image.join("measurements.json");
        say!(
            "booting {} ({}); the API will be at https://{}",
            args.vm.image.display(),
            if vm.accel == Accel::Kvm { "KVM" } else { "TCG: slower" },
            vm.addr
        );
        say!("verify it with:");
        say!(
            "  blindfold verify https://{} --reference {} --reference-unsigned --platform-ca {} --allow-dev --wait 240",
            vm.addr,
            if reference.is_file() {
                reference.display().to_string()
            } else {
                "MEASUREMENTS.json".to_string()
            },
            args.vm.platform.join("ca.pem").display()
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Failure::Unusable(anyhow!(e)))?;
        let stopped = tokio::select! {
            status = vm.wait() => Some(status.map_err(|e| Failure::Unusable(anyhow!(e)))?),
            _ = tokio::signal::ctrl_c() => None,
            _ = term.recv() => None,
        };
        match stopped {
            Some(status) => say!("the VM stopped ({status})"),
            None => stop(&mut vm).await,
        }
        Ok(())
    })
}

async fn stop(vm: &mut RunningVm) {
    say!("stopping the VM (Ctrl-Alt-Del: the enclave powers off)");
    if !vm.power_off().await {
        say!("the VM did not power off within 30 s; stopped it (the TPM counts an unorderly stop)");
    }
}

/// Boots the image on the platform, takes the firmware's event log from
/// the enclave's verified evidence, writes it, and stops the VM.
pub fn reference(args: &PlatformReferenceArgs) -> Result<(), Failure> {
    let ca_path = args.vm.platform.join("ca.pem");
    let ca = crate::inputs::read(&ca_path)?;
    let ca = blindfold_x509::parse_certificates(&ca).map_err(|e| unusable(e, ca_path.display()))?;
    let rt = runtime()?;
    let log = rt.block_on(async {
        let mut vm = boot(&args.vm)
            .await
            .map_err(|e| unusable(e, "booting the image"))?;
        let start = Instant::now();
        loop {
            match blindfold_atls::reference_evidence(
                &vm.addr,
                blindfold_atls::ReferenceAnchor::PlatformCa(ca.clone()),
            )
            .await
            {
                Ok((evidence, _verified)) => {
                    vm.power_off().await;
                    break evidence.event_log.ok_or_else(|| {
                        Failure::Unusable(anyhow!("the enclave's evidence carries no firmware event log"))
                    });
                }
                Err(e) => {
                    if vm.exited() {
                        return Err(Failure::Unusable(anyhow!(
                            "the VM stopped before serving evidence (last: {e})"
                        )));
                    }
                    if start.elapsed() > BOOT_WAIT {
                        return Err(Failure::Unusable(anyhow!(
                            "no evidence within {} s: {e}",
                            BOOT_WAIT.as_secs()
                        )));
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    })?;
    std::fs::write(&args.output, &log).map_err(|e| unusable(e, args.output.display()))?;
    say!(
        "wrote {} ({} bytes): the firmware's event log of a reference boot, replayed to the quote; PCRs 0-3 and 7 for `blindfold measure --firmware-log`",
        args.output.display(),
        log.len()
    );
    Ok(())
}
