//! Helpers shared by the CLI integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `blindfold` binary under test, with a client state directory of
/// this test process's own (never the user's).
pub fn blindfold() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blindfold"));
    cmd.env(
        "BLINDFOLD_STATE_DIR",
        std::env::temp_dir().join(format!("blindfold-test-state-{}", std::process::id())),
    );
    cmd
}

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()))
        .join("../..")
}

#[allow(unused_imports)] // each test binary uses its own subset
pub use blindfold_testdata::{event_log_samples, shared_dir as shared_testdata};

/// Fails the test (never skips) when a tool the set-up script installs is missing.
pub fn require_tool(name: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{name} is not installed: run scripts/setup.sh (it installs tpm2-tools and swtpm)"
    );
}

/// Runs a command to completion.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Lossy UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
