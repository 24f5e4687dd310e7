//! The reference llama-server is built at the same fixed CPU level as
//! Blindfold (x86-64-v3), never for the build machine's CPU: its own
//! `system_info` names no AVX-512, AMX or AVX-VNNI feature, and its code
//! uses no register or instruction beyond AVX2 (checked with `objdump -d`),
//! whatever CPU runs this test. A native build on an AVX-512/AMX machine
//! fails both checks.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the build must not contain, as ggml's `system_info` names it.
const FORBIDDEN_FEATURES: &[&str] = &["AVX512", "AMX", "AVX_VNNI"];
/// What the fixed level brings, as `system_info` names it.
const REQUIRED_FEATURES: &[&str] = &["AVX2 = 1", "FMA = 1", "F16C = 1", "BMI2 = 1"];

fn reference() -> Option<std::path::PathBuf> {
    let found = blindfold_testdata::llama_server();
    if found.is_none() {
        assert!(
            std::env::var("BLINDFOLD_NO_REFERENCE").as_deref() == Ok("1"),
            "the reference llama-server is missing: run scripts/setup.sh"
        );
        eprintln!("llama-server is not built here (BLINDFOLD_NO_REFERENCE); its CPU level is not checked");
    }
    found
}

/// The `system_info` line llama-server prints when it starts.
fn system_info(server: &std::path::Path) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(server)
        .args(["-m"])
        .arg(blindfold_testdata::packaged_model())
        // Verbosity 4 prints the system_info line.
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "-t",
            "1",
            "-lv",
            "4",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut line = String::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let found = loop {
        line.clear();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 || Instant::now() > deadline {
            break None;
        }
        if line.contains("system_info") {
            break Some(line.trim().to_string());
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    found.expect("llama-server printed no system_info line")
}

#[test]
fn the_reference_reports_the_fixed_cpu_level() {
    let Some(server) = reference() else { return };
    let info = system_info(&server);
    for feature in FORBIDDEN_FEATURES {
        assert!(!info.contains(feature), "the reference uses {feature}: {info}");
    }
    for feature in REQUIRED_FEATURES {
        assert!(info.contains(feature), "the reference lacks {feature}: {info}");
    }
}

/// A register or instruction beyond x86-64-v3 in one line of `objdump -d`.
fn beyond_v3(line: &str) -> Option<&'static str> {
    if line.contains("%zmm") {
        return Some("AVX-512 zmm register");
    }
    if line.contains("%tmm") {
        return Some("AMX tile register");
    }
    // AVX-512's mask registers and its upper sixteen xmm/ymm registers.
    for prefix in ["%k", "%xmm", "%ymm"] {
        for (at, _) in line.match_indices(prefix) {
            let digits: String = line[at + prefix.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let Ok(n) = digits.parse::<u32>() else { continue };
            if (prefix == "%k" && n <= 7) || (prefix != "%k" && n >= 16) {
                return Some("AVX-512 register");
            }
        }
    }
    // VNNI dot products (AVX-VNNI and AVX512-VNNI share the mnemonics).
    if ["vpdpbusd", "vpdpwssd"].iter().any(|m| line.contains(m)) {
        return Some("VNNI instruction");
    }
    None
}

#[test]
fn the_reference_code_uses_nothing_beyond_avx2() {
    let Some(server) = reference() else { return };
    let mut objdump = Command::new("objdump")
        .args(["-d", "--no-show-raw-insn"])
        .arg(&server)
        .stdout(Stdio::piped())
        .spawn()
        .expect("objdump (binutils) is installed by scripts/setup.sh");
    let mut offending = Vec::new();
    let mut lines = 0usize;
    let mut saw_avx2 = false;
    for line in BufReader::new(objdump.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        lines += 1;
        saw_avx2 |= line.contains("%ymm");
        if let Some(what) = beyond_v3(&line) {
            if offending.len() < 5 {
                offending.push(format!("{what}: {}", line.trim()));
            }
        }
    }
    assert!(objdump.wait().unwrap().success());
    assert!(lines > 10_000, "objdump printed only {lines} lines");
    assert!(saw_avx2, "no AVX2 (ymm) code at all: not the expected build");
    assert!(
        offending.is_empty(),
        "beyond x86-64-v3:\n{}",
        offending.join("\n")
    );
}

#[test]
fn the_scan_finds_avx512_and_amx_code() {
    assert_eq!(
        beyond_v3("  4011f0:\tvmovups (%rdi),%zmm0"),
        Some("AVX-512 zmm register")
    );
    assert_eq!(
        beyond_v3("  401200:\ttileloadd (%rax,%rcx,1),%tmm1"),
        Some("AMX tile register")
    );
    assert_eq!(
        beyond_v3("  401210:\tvaddps %ymm17,%ymm1,%ymm2"),
        Some("AVX-512 register")
    );
    assert_eq!(
        beyond_v3("  401220:\tvaddps %ymm1,%ymm2,%ymm3{%k1}"),
        Some("AVX-512 register")
    );
    assert_eq!(
        beyond_v3("  401230:\t{vex} vpdpbusd %ymm1,%ymm2,%ymm3"),
        Some("VNNI instruction")
    );
    assert_eq!(beyond_v3("  401240:\tvfmadd231ps %ymm1,%ymm2,%ymm15"), None);
    assert_eq!(beyond_v3("  401250:\tcall   401000 <k16_kernel>"), None);
}
