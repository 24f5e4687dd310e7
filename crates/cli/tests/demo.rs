//! The README's main command, `scripts/demo.sh`, from the clone: it ends
//! with a verification report and an answer, exits 0, and leaves nothing
//! running and no working directory behind.

#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

#[test]
fn the_readme_demo_command_answers_and_cleans_up() {
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_blindfold"))
        .parent()
        .unwrap();
    let script = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("../../scripts/demo.sh");
    let out = Command::new(script)
        .env("BLINDFOLD_BIN_DIR", bin_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("verified:    yes"), "{stdout}");
    assert!(stdout.contains("trust basis: development"), "{stdout}");
    assert!(stdout.contains("reference:   signed"), "{stdout}");
    assert!(
        stdout.contains("\"type\":\"model\""),
        "the model is not in the report: {stdout}"
    );
    assert!(
        stdout.contains("key release: smollm2-135m-instruct key ")
            && stdout.contains(" released to the local enclave"),
        "the key release is not in the report: {stdout}"
    );
    let answer = stdout
        .lines()
        .find(|l| l.starts_with("answer:"))
        .unwrap_or_default();
    assert!(
        answer.trim_start_matches("answer:").trim().len() > 3,
        "no answer: {stdout}"
    );
    assert!(stdout.contains("tokens/s"), "{stdout}");
    assert!(
        stdout.contains("receipt:     #")
            && stdout.contains(" for this answer, signed by this boot's receipt key"),
        "{stdout}"
    );
    let dir = stderr
        .lines()
        .find_map(|l| l.strip_prefix("blindfold demo: working in "))
        .unwrap()
        .trim()
        .to_string();
    assert!(!std::path::Path::new(&dir).exists(), "{dir} was left behind");
    let left = Command::new("pgrep").args(["-f", &dir]).output().unwrap();
    assert!(
        left.stdout.is_empty(),
        "still running: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

/// `demo --serve` keeps the enclave up until Ctrl-C and prints the commands
/// that reach it; the printed `verify` runs as printed; after Ctrl-C the
/// kept directory restarts as docs/enclave.md says (a new swtpm port goes
/// into launch.json only) and the same signed measurements still verify.
#[test]
fn a_served_demo_answers_its_printed_commands_and_restarts_from_its_directory() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let blindfold = std::path::Path::new(env!("CARGO_BIN_EXE_blindfold"));
    let enclave = blindfold.with_file_name("blindfold-enclave");
    let state = tempfile::tempdir().unwrap();
    let mut demo = Command::new(blindfold)
        .args(["demo", "--serve", "--max-tokens", "8"])
        .env("BLINDFOLD_STATE_DIR", state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut verify_line = None;
    for line in BufReader::new(demo.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(cmd) = line.trim_start().strip_prefix("blindfold verify ") {
            verify_line = Some(cmd.to_string());
        }
        if line.starts_with("Restart later") {
            break;
        }
    }
    let verify_line = verify_line.expect("no verify command printed");
    let verify = |args: &str| {
        Command::new(blindfold)
            .arg("verify")
            .args(args.split_whitespace())
            .output()
            .unwrap()
    };
    let out = verify(&verify_line);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Ctrl-C: the enclave and swtpm stop, the directory stays.
    let dir = verify_line
        .split_whitespace()
        .find_map(|w| w.strip_suffix("/measurements.json"))
        .unwrap()
        .to_string();
    assert!(Command::new("kill")
        .args(["-INT", &demo.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = demo.wait().unwrap();
    assert!(status.success(), "{status}");
    let d = std::path::Path::new(&dir);
    assert!(d.join("enclave.json").exists());

    // Restart from the kept directory.
    let start = Command::new(blindfold)
        .args(["platform", "start"])
        .arg(d.join("platform"))
        .output()
        .unwrap();
    assert!(
        start.status.success(),
        "{}",
        String::from_utf8_lossy(&start.stderr)
    );
    let tcti = String::from_utf8_lossy(&start.stdout).trim().to_string();
    // The owner's broker, back at the address the configuration names.
    let config =
        blindfold_enclave_config::EnclaveConfig::parse(&std::fs::read(d.join("enclave.json")).unwrap())
            .unwrap();
    let sealed = config.sealed_model.expect("the demo serves a sealed model");
    let mut broker = Command::new(blindfold)
        .args([
            "kbs",
            "serve",
            "--key-store",
            &format!("file://{}", d.join("store").display()),
        ])
        .arg("--kek-file")
        .arg(d.join("kek.hex"))
        .arg("--owner-public-key")
        .arg(d.join("owner.pub"))
        .arg("--tls-key")
        .arg(d.join("broker-tls.key"))
        .args([
            "--listen",
            sealed.broker.trim_start_matches("https://"),
            "--state-dir",
        ])
        .arg(d.join("kbs"))
        .arg("--platform-ca")
        .arg(d.join("platform/ca.pem"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = BufReader::new(broker.stderr.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    assert!(first.contains("listening on"), "{first}");
    std::fs::write(
        d.join("launch.json"),
        format!("{{\"tcti\": \"{tcti}\", \"listen\": \"127.0.0.1:0\"}}"),
    )
    .unwrap();
    let mut child = Command::new(enclave)
        .arg("--config")
        .arg(d.join("enclave.json"))
        .arg("--launch")
        .arg(d.join("launch.json"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("enclave exited").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let old_addr = verify_line.split_whitespace().next().unwrap().to_string();
    let out = verify(&verify_line.replacen(&old_addr, &format!("https://{addr}"), 1));
    for c in [&mut child, &mut broker] {
        let _ = c.kill();
        let _ = c.wait();
    }
    let _ = Command::new(blindfold)
        .args(["platform", "stop"])
        .arg(d.join("platform"))
        .output();
    let _ = std::fs::remove_dir_all(d);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
