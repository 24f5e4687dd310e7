//! Secure Boot, booted for real: OVMF's Secure Boot build (SMM, secure
//! flash) with one certificate enrolled as PK, KEK and db
//! (`scripts/secure-boot-vars.sh`, virt-firmware), and UKIs signed in Rust
//! by `blindfold image build --sign`.
//! - The reference boot of one signed image logs SecureBoot = 1 and the db
//!   authority that `blindfold_measure::predict::db_authority_event`
//!   predicts (owner GUID and certificate), and its PCR 4 holds no kernel
//!   event (the stub's security override).
//! - Another image signed by the same key boots and verifies against
//!   `blindfold measure --image` with that reference (PCR 4 predicted with
//!   Secure Boot on, PCR 7 from the reference).
//! - A boot entry's load options are ignored by the stub: the enclave
//!   serves, and the refusal names only PCR 1 (the boot variables), never
//!   the command line's PCR 9 or 12.
//! - The same image unsigned, or signed by another key: `measure` refuses
//!   it against this reference; unsigned, the firmware refuses to start it
//!   ("Access Denied") and it never serves.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use std::path::Path;
use std::process::Command;

use common::vm::*;
use common::*;

/// The owner GUID `scripts/secure-boot-vars.sh` enrolls entries under,
/// as stored (8ae2d9b4-4f43-4a6e-9c5d-1b7a0e5f3c21).
const OWNER: [u8; 16] = [
    0xb4, 0xd9, 0xe2, 0x8a, 0x43, 0x4f, 0x6e, 0x4a, 0x9c, 0x5d, 0x1b, 0x7a, 0x0e, 0x5f, 0x3c, 0x21,
];

const PLAIN: &str = r#"{"platform": "local", "network": {"address": "10.0.2.15/24", "listen_port": 8443}}"#;

fn build(d: &Path, enclave: &Path, note: &str, out: &str, sign: Option<&str>) -> std::path::PathBuf {
    let dir = d.join(format!("{out}-spec"));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = spec_with_config(&dir, enclave, PLAIN, note, &[]);
    let image = d.join(out);
    let mut cmd = blindfold();
    cmd.args(["image", "build", "--config"])
        .arg(&spec)
        .arg("-o")
        .arg(&image);
    if let Some(sign) = sign {
        cmd.args(["--sign", sign]);
    }
    ok(&mut cmd);
    image
}

fn secure_vm(image: &Path, platform: &Path, vars: &Path, port: u16, console: &Path) -> Command {
    let mut c = vm_command(image, platform, port, console);
    c.arg("--secure-boot").arg("--efi-vars").arg(vars);
    c
}

#[test]
fn a_signed_image_boots_under_secure_boot_and_verifies_and_an_unsigned_one_never_starts() {
    for tool in [
        "qemu-system-x86_64",
        "swtpm",
        "strip",
        "mformat",
        "mkfs.erofs",
        "openssl",
    ] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (key, cert) = self_signed_rsa(d, "db", "Blindfold Secure Boot test db");
    let vars = d.join("vars.fd");
    ok(Command::new("bash")
        .arg(repo_root().join("scripts/secure-boot-vars.sh"))
        .arg(&cert)
        .arg(&vars));
    let sign = format!("{},{}", key.display(), cert.display());
    let enclave = stripped_enclave(d);
    let platform = d.join("platform");
    ok(blindfold().args(["platform", "init"]).arg(&platform));

    // The reference boot, of one signed image.
    let reference = build(d, &enclave, "reference\n", "reference", Some(&sign));
    let firmware = d.join("firmware.log");
    reference_boot(
        &reference,
        &platform,
        &firmware,
        &["--secure-boot".as_ref(), "--efi-vars".as_ref(), vars.as_os_str()],
    );
    let log = blindfold_eventlog::EventLog::parse(&std::fs::read(&firmware).unwrap()).unwrap();
    let state = blindfold_measure::predict::secure_boot_state(&log);
    assert!(state.enabled, "the reference boot ran with Secure Boot off");
    let der = run(Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&cert));
    assert_eq!(state.db_certificates, vec![der.stdout.clone()]);
    let predicted = blindfold_measure::predict::db_authority_event(OWNER, &der.stdout);
    let authority = log
        .events
        .iter()
        .find(|e| e.event_type == blindfold_eventlog::EventType::EV_EFI_VARIABLE_AUTHORITY)
        .unwrap();
    assert_eq!(
        authority.data, predicted,
        "the db authority event differs from the prediction"
    );
    let sha256 = blindfold_crypto::default_provider().hash(blindfold_crypto::HashAlg::Sha256, &[&predicted]);
    assert_eq!(authority.digest(blindfold_crypto::HashAlg::Sha256), Some(&sha256));
    let pcr4_apps = log
        .events
        .iter()
        .filter(|e| {
            e.pcr.0 == 4 && e.event_type == blindfold_eventlog::EventType::EV_EFI_BOOT_SERVICES_APPLICATION
        })
        .count();
    assert_eq!(pcr4_apps, 1, "PCR 4 measures the UKI alone under Secure Boot");

    // Another image signed by the same key: predicted, booted, verified.
    let image = build(d, &enclave, "served\n", "image", Some(&sign));
    let measurements = d.join("measurements.json");
    let o = measure_image(&image, &firmware, &measurements);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let port = free_port();
    let console = d.join("console.log");
    let vm = secure_vm(&image, &platform, &vars, port, &console)
        .spawn()
        .unwrap();
    let o = verify_vm(port, &measurements, &platform);
    stop(vm);
    assert!(
        o.status.success(),
        "verify: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let claims = text(&o.stdout);
    for claim in ["pcr.sha256.4", "pcr.sha384.4", "pcr.sha256.7", "pcr.sha256.12"] {
        assert!(claims.contains(claim), "no {claim} in {claims}");
    }

    // A boot entry whose load options add to the command line: ignored.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(image.join("image.json")).unwrap()).unwrap();
    let options = format!("{} blindfold.operator=1", manifest["cmdline"].as_str().unwrap());
    let vars_with_options = d.join("vars-with-load-options.fd");
    ok(Command::new(blindfold_testdata::openai_python())
        .arg(repo_root().join("scripts/efi-boot-entry.py"))
        .arg(&vars)
        .arg(&vars_with_options)
        .arg(&options));
    let port = free_port();
    let console = d.join("console-load-options.log");
    let vm = secure_vm(&image, &platform, &vars_with_options, port, &console)
        .spawn()
        .unwrap();
    let o = verify_vm(port, &measurements, &platform);
    stop(vm);
    let out = text(&o.stdout) + &text(&o.stderr);
    let log_text = std::fs::read_to_string(&console).unwrap_or_default();
    assert!(log_text.contains("ready, listening"), "{log_text}");
    assert!(!o.status.success(), "changed boot variables verified: {out}");
    assert!(
        out.contains("pcr.sha256.1"),
        "the refusal does not name PCR 1: {out}"
    );
    for pcr in ["pcr.sha256.9:", "pcr.sha256.12:"] {
        assert!(
            !out.contains(pcr),
            "the stub took the load options ({pcr}): {out}"
        );
    }

    // The same image unsigned.
    let unsigned = build(d, &enclave, "served\n", "unsigned", None);
    let o = measure_image(&unsigned, &firmware, &d.join("unsigned.json"));
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("this UKI is unsigned"),
        "{}",
        text(&o.stderr)
    );
    // The same image signed by another key: the reference boot's db
    // entry did not sign it, so its PCR 7 would differ.
    let other_dir = d.join("other-key");
    std::fs::create_dir_all(&other_dir).unwrap();
    let (other_key, other_cert) = self_signed_rsa(&other_dir, "db", "Blindfold other db");
    let other_sign = format!("{},{}", other_key.display(), other_cert.display());
    let other = build(d, &enclave, "served\n", "other", Some(&other_sign));
    let o = measure_image(&other, &firmware, &d.join("other.json"));
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("did not sign this UKI"),
        "{}",
        text(&o.stderr)
    );
    let port = free_port();
    let console = d.join("console-unsigned.log");
    let vm = secure_vm(&unsigned, &platform, &vars, port, &console)
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let mut log_text = String::new();
    while start.elapsed() < std::time::Duration::from_secs(150) && !log_text.contains("No bootable option") {
        std::thread::sleep(std::time::Duration::from_secs(2));
        log_text = String::from_utf8_lossy(&std::fs::read(&console).unwrap_or_default()).into_owned();
    }
    stop(vm);
    assert!(
        log_text.contains("Access Denied"),
        "the firmware did not refuse the unsigned UKI: {log_text}"
    );
    assert!(!log_text.contains("ready, listening"), "{log_text}");
}
