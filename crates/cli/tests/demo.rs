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
    let answer = stdout
        .lines()
        .find(|l| l.starts_with("answer:"))
        .unwrap_or_default();
    assert!(
        answer.trim_start_matches("answer:").trim().len() > 3,
        "no answer: {stdout}"
    );
    assert!(stdout.contains("tokens/s"), "{stdout}");
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
