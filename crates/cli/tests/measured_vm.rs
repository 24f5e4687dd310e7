//! The measured image booted for real (QEMU + OVMF + swtpm, TCG here):
//! a reference boot gives PCRs 0-3 and 7, `blindfold measure --image`
//! predicts the rest, and `blindfold verify` passes with that measured-boot
//! reference and no development reference, both banks (SHA-384 included);
//! a chat answer comes back and the serial console never holds the prompt;
//! an image with one changed input fails naming PCR 4; one changed byte on
//! the app disk stops the machine before anything is served.
//!
//! The boots run one after another (each takes a core under TCG).

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use common::*;

static ONE_VM_AT_A_TIME: Mutex<()> = Mutex::new(());

const CANARY: &str = "canary-7f3e9a1c-measured-vm";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn stripped_enclave(dir: &Path) -> PathBuf {
    let built = Path::new(env!("CARGO_BIN_EXE_blindfold")).with_file_name("blindfold-enclave");
    assert!(
        built.is_file(),
        "build blindfold-enclave first (cargo build -p blindfold-runtime)"
    );
    let out = dir.join("blindfold-enclave");
    let o = run(Command::new("strip").arg("-o").arg(&out).arg(&built));
    assert!(o.status.success(), "{}", text(&o.stderr));
    out
}

/// image.toml serving the packaged model, with one extra app file whose
/// contents the caller picks (a changed input changes the image).
fn write_spec(dir: &Path, enclave: &Path, note: &str) -> PathBuf {
    std::fs::write(
        dir.join("enclave.json"),
        r#"{"platform": "local",
            "network": {"address": "10.0.2.15/24", "gateway": "10.0.2.2", "listen_port": 8443},
            "engine": {"embedded": {"gguf": "/app/model.gguf", "model_id": "smollm2", "default_max_tokens": 8}}}"#,
    )
    .unwrap();
    std::fs::write(dir.join("note.txt"), note).unwrap();
    let toml = format!(
        "[kernel]\ndir = \"{}\"\n[boot]\nstub = \"/usr/lib/systemd/boot/efi/linuxx64.efi.stub\"\n\
         [enclave]\nbinary = \"{}\"\nconfig = \"enclave.json\"\n[app.files]\n\
         \"model.gguf\" = \"{}\"\n\"note.txt\" = \"note.txt\"\n",
        blindfold_image::default_kernel_dir().display(),
        enclave.display(),
        blindfold_testdata::packaged_model().display()
    );
    std::fs::write(dir.join("image.toml"), toml).unwrap();
    dir.join("image.toml")
}

fn build_image(spec: &Path, out: &Path) {
    let o = run(blindfold()
        .args(["image", "build", "--config"])
        .arg(spec)
        .arg("-o")
        .arg(out));
    assert!(o.status.success(), "{}", text(&o.stderr));
}

fn vm_run(image: &Path, platform: &Path, port: u16, console: &Path) -> Child {
    blindfold()
        .args(["vm", "run"])
        .arg(image)
        .arg("--platform")
        .arg(platform)
        .args(["--port", &port.to_string(), "--console"])
        .arg(console)
        .env("BLINDFOLD_VM_ACCEL", "tcg")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Stops `vm run` as Ctrl-C or a service manager would (SIGTERM): it stops
/// QEMU and swtpm with it.
fn stop(mut child: Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "vm run did not stop cleanly: {status}");
}

fn trust(reference: &Path, platform: &Path) -> Vec<String> {
    vec![
        "--reference".into(),
        reference.display().to_string(),
        "--reference-unsigned".into(),
        "--platform-ca".into(),
        platform.join("ca.pem").display().to_string(),
        "--allow-dev".into(),
    ]
}

#[test]
fn a_measured_image_verifies_against_its_build_time_prediction_and_a_changed_one_does_not() {
    let _one = ONE_VM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for tool in ["qemu-system-x86_64", "swtpm", "strip", "mformat", "mkfs.erofs"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let enclave = stripped_enclave(d);
    let image = d.join("image");
    build_image(&write_spec(d, &enclave, "first\n"), &image);
    let platform = d.join("platform");
    let o = run(blindfold().args(["platform", "init"]).arg(&platform));
    assert!(o.status.success(), "{}", text(&o.stderr));

    // The reference boot: PCRs 0-3 and 7 of this platform and QEMU line.
    let firmware = d.join("firmware.log");
    let o = run(blindfold()
        .args(["platform", "reference"])
        .arg(&image)
        .arg("--platform")
        .arg(&platform)
        .args(["--port", &free_port().to_string(), "-o"])
        .arg(&firmware)
        .env("BLINDFOLD_VM_ACCEL", "tcg"));
    assert!(o.status.success(), "platform reference: {}", text(&o.stderr));
    let measurements = d.join("measurements.json");
    let o = run(blindfold()
        .args(["measure", "--image"])
        .arg(&image)
        .arg("--firmware-log")
        .arg(&firmware)
        .arg("-o")
        .arg(&measurements));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&measurements).unwrap()).unwrap();
    assert_eq!(m["kind"], "measured-boot");

    // The real boot: verified with the measured-boot reference alone.
    let port = free_port();
    let console = d.join("console.log");
    let vm = vm_run(&image, &platform, port, &console);
    let url = format!("https://127.0.0.1:{port}");
    let o = run(blindfold()
        .args(["verify", &url, "--json", "--wait", "240"])
        .args(trust(&measurements, &platform)));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert!(
        o.status.success(),
        "verify: {}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let claims = report.to_string();
    for claim in [
        "pcr.sha256.4",
        "pcr.sha384.4",
        "pcr.sha256.11",
        "pcr.sha384.11",
        "pcr.sha384.9",
        "event-log",
    ] {
        assert!(claims.contains(claim), "no {claim} in {claims}");
    }
    assert!(!claims.contains("\"contraindicated\""), "{claims}");

    // An answer through the attested session; the prompt never reaches
    // the console.
    let mut chat = blindfold()
        .args(["chat", &url, "--prompt-file", "-", "--max-tokens", "4"])
        .args(trust(&measurements, &platform))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    chat.stdin
        .take()
        .unwrap()
        .write_all(format!("Say hello. {CANARY}").as_bytes())
        .unwrap();
    let answer = chat.wait_with_output().unwrap();
    assert!(answer.status.success(), "chat: {}", text(&answer.stderr));
    assert!(!text(&answer.stdout).trim().is_empty(), "no answer");
    stop(vm);
    let log = std::fs::read_to_string(&console).unwrap();
    assert!(log.contains("ready, listening"), "{log}");
    assert!(!log.contains(CANARY), "the prompt reached the serial console");

    // One changed input (a file on the app disk): a new root hash, a new
    // command line, a new UKI. Its own boot fails the old reference at PCR 4.
    let changed = d.join("changed");
    build_image(&write_spec(d, &enclave, "second\n"), &changed);
    let port = free_port();
    let vm = vm_run(&changed, &platform, port, &d.join("console2.log"));
    let o = run(blindfold()
        .args([
            "verify",
            &format!("https://127.0.0.1:{port}"),
            "--json",
            "--wait",
            "240",
        ])
        .args(trust(&measurements, &platform)));
    stop(vm);
    assert!(
        !o.status.success(),
        "a changed image verified: {}",
        text(&o.stdout)
    );
    let out = text(&o.stdout) + &text(&o.stderr);
    assert!(
        out.contains("pcr.sha256.4"),
        "the refusal does not name PCR 4: {out}"
    );
}

#[test]
fn one_changed_byte_on_the_app_disk_stops_the_machine_before_anything_is_served() {
    let _one = ONE_VM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for tool in ["qemu-system-x86_64", "swtpm", "strip"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let enclave = stripped_enclave(d);
    let image = d.join("image");
    build_image(&write_spec(d, &enclave, "note\n"), &image);
    let platform = d.join("platform");
    assert!(run(blindfold().args(["platform", "init"]).arg(&platform))
        .status
        .success());
    // The app partition starts after the ESP; change one byte of its first
    // block (erofs's superblock: read when the disk is mounted).
    let disk = image.join("disk.img");
    let mut bytes = std::fs::read(&disk).unwrap();
    let entry = &bytes[1024 + 128..1024 + 256];
    let app = u64::from_le_bytes(entry[32..40].try_into().unwrap()) as usize * 512;
    bytes[app + 1100] ^= 0x01;
    std::fs::write(&disk, &bytes).unwrap();

    let console = d.join("console.log");
    let mut vm = vm_run(&image, &platform, free_port(), &console);
    // The kernel's dm-verity refuses the block and panics; the machine
    // stops by itself (vm run returns) without ever serving.
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = vm.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > std::time::Duration::from_secs(180) {
            stop(vm);
            panic!("the machine kept running on a corrupted app disk");
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert!(status.success(), "{status}");
    let log = std::fs::read_to_string(&console).unwrap();
    assert!(
        log.contains("verity") && log.to_lowercase().contains("corrupt"),
        "{log}"
    );
    assert!(!log.contains("ready, listening"), "{log}");
}
