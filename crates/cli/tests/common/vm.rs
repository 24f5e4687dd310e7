//! Helpers of the tests that boot a measured image under QEMU + OVMF
//! (`measured_vm.rs`, `secure_boot_vm.rs`): image descriptions, `blindfold
//! image build`, `blindfold vm run` and stopping it, an attested chat, the
//! trust flags for a local platform.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::*;

pub fn build_image(spec: &Path, out: &Path) {
    let o = run(blindfold()
        .args(["image", "build", "--config"])
        .arg(spec)
        .arg("-o")
        .arg(out));
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// `blindfold vm run` of `image` under TCG, the API on `port`, the serial
/// console in `console` (add options, then spawn).
pub fn vm_command(image: &Path, platform: &Path, port: u16, console: &Path) -> Command {
    let mut c = blindfold();
    c.args(["vm", "run"])
        .arg(image)
        .arg("--platform")
        .arg(platform)
        .args(["--port", &port.to_string(), "--console"])
        .arg(console)
        .env("BLINDFOLD_VM_ACCEL", "tcg")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

pub fn vm_run(image: &Path, platform: &Path, port: u16, console: &Path) -> Child {
    vm_command(image, platform, port, console).spawn().unwrap()
}

/// Stops `vm run` as Ctrl-C or a service manager would (SIGTERM): it stops
/// QEMU and swtpm with it.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "vm run did not stop cleanly: {status}");
}

/// `blindfold chat` of a short prompt carrying the canary (on stdin, never
/// in argv), 4 tokens, over the attested session to `url`.
pub fn chat_with_canary(
    url: &str,
    measurements: &Path,
    platform: &Path,
    canary: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut chat = blindfold()
        .args(["chat", url, "--prompt-file", "-", "--max-tokens", "4"])
        .args(trust(measurements, platform))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    chat.stdin
        .take()
        .unwrap()
        .write_all(format!("Say hello. {canary}").as_bytes())
        .unwrap();
    chat.wait_with_output().unwrap()
}

pub fn trust(reference: &Path, platform: &Path) -> Vec<String> {
    vec![
        "--reference".into(),
        reference.display().to_string(),
        "--reference-unsigned".into(),
        "--platform-ca".into(),
        platform.join("ca.pem").display().to_string(),
        "--allow-dev".into(),
    ]
}

pub fn ok(cmd: &mut Command) -> String {
    let o = run(cmd);
    assert!(o.status.success(), "{cmd:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

/// An image description from an enclave configuration (JSON text), with
/// one small app file (`note.txt`, contents `note`) and `files` (name on
/// the app disk, file on the host).
pub fn spec_with_config(
    dir: &Path,
    enclave: &Path,
    config: &str,
    note: &str,
    files: &[(&str, &Path)],
) -> PathBuf {
    std::fs::write(dir.join("enclave.json"), config).unwrap();
    std::fs::write(dir.join("note.txt"), note).unwrap();
    let mut toml = format!(
        "[kernel]\ndir = \"{}\"\n[boot]\nstub = \"/usr/lib/systemd/boot/efi/linuxx64.efi.stub\"\n\
         [enclave]\nbinary = \"{}\"\nconfig = \"enclave.json\"\n[app.files]\n\"note.txt\" = \"note.txt\"\n",
        blindfold_image::default_kernel_dir().display(),
        enclave.display(),
    );
    for (name, source) in files {
        toml.push_str(&format!("\"{name}\" = \"{}\"\n", source.display()));
    }
    std::fs::write(dir.join("image.toml"), toml).unwrap();
    dir.join("image.toml")
}

/// Waits for `vm run` to end by itself (the guest powered off).
pub fn wait_powered_off(mut vm: Child, within: std::time::Duration) {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = vm.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            return;
        }
        if start.elapsed() > within {
            stop(vm);
            panic!("the machine kept running");
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// `blindfold platform reference` of `image` under TCG (with `extra`
/// arguments): the reference boot's firmware log in `firmware`.
pub fn reference_boot(image: &Path, platform: &Path, firmware: &Path, extra: &[&std::ffi::OsStr]) {
    ok(blindfold()
        .args(["platform", "reference"])
        .arg(image)
        .arg("--platform")
        .arg(platform)
        .args(extra)
        .args(["--port", &free_port().to_string(), "-o"])
        .arg(firmware)
        .env("BLINDFOLD_VM_ACCEL", "tcg"));
}

/// `blindfold measure --image IMAGE --firmware-log FIRMWARE -o OUT`.
pub fn measure_image(image: &Path, firmware: &Path, out: &Path) -> std::process::Output {
    run(blindfold()
        .args(["measure", "--image"])
        .arg(image)
        .arg("--firmware-log")
        .arg(firmware)
        .arg("-o")
        .arg(out))
}

/// `blindfold verify --json` of the enclave on 127.0.0.1:`port`, waiting
/// up to 240 s for it, with the local platform's trust flags.
pub fn verify_vm(port: u16, measurements: &Path, platform: &Path) -> std::process::Output {
    run(blindfold()
        .args([
            "verify",
            &format!("https://127.0.0.1:{port}"),
            "--json",
            "--wait",
            "240",
        ])
        .args(trust(measurements, platform)))
}
