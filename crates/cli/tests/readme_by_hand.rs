//! The README's by-hand section runs as written: its shell blocks, in
//! order, in one bash, with `BLINDFOLD_BIN_DIR` set to this suite's
//! binaries. The `cargo build --release` line is checked, not run.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::*;

const BUILD_LINE: &str = "cargo build --release --locked -p blindfold-cli -p blindfold-runtime";

/// The ```sh blocks between the by-hand markers, in order.
fn by_hand_blocks(readme: &str) -> Vec<String> {
    let begin = readme
        .find("<!-- by-hand:begin -->")
        .expect("the README marks its by-hand section");
    let end = readme[begin..]
        .find("<!-- by-hand:end -->")
        .map(|e| begin + e)
        .expect("the by-hand section ends");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme[begin..end].lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unclosed block in the by-hand section");
    blocks
}

/// Stops what a failed run left: the platform under the script's working
/// directory (swtpm daemonises out of the process group).
fn stop_platforms_under(tmp: &Path) {
    for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
        let plat = entry.path().join("plat");
        if plat.join("swtpm.pid").exists() {
            let _ = blindfold().args(["platform", "stop"]).arg(&plat).output();
        }
    }
}

#[test]
fn the_by_hand_blocks_run_as_written() {
    require_tool("swtpm");
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let blocks = by_hand_blocks(&readme);
    assert!(blocks.len() >= 4, "{blocks:?}");
    // The build line is checked, not run: the suite has built both binaries.
    let first = &blocks[0];
    let build = first
        .lines()
        .find(|l| l.starts_with("cargo build"))
        .expect("the by-hand path starts by building");
    assert!(build.starts_with(BUILD_LINE), "{build}");
    // The harness's only addition: a failing step still ends the blocks'
    // background jobs, which would otherwise hold the output pipes open.
    let script: String = std::iter::once("trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n".to_string())
        .chain(
            blocks
                .iter()
                .flat_map(|b| b.lines())
                .filter(|l| !l.starts_with("cargo build"))
                .map(|l| format!("{l}\n")),
        )
        .collect();

    let bin_dir = Path::new(env!("CARGO_BIN_EXE_blindfold")).parent().unwrap();
    assert!(
        bin_dir.join("blindfold-enclave").exists(),
        "blindfold-enclave not built: run the workspace's tests (cargo test --workspace)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new("bash");
    child
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(repo_root())
        .env("BLINDFOLD_BIN_DIR", bin_dir)
        .env("TMPDIR", tmp.path())
        .env("BLINDFOLD_STATE_DIR", tmp.path().join("client-state"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    let child = child.spawn().unwrap();
    let pgid = child.id();
    let out = child.wait_with_output().unwrap();
    // Whatever is left in its process group (a proxy or an enclave after a
    // failure) goes with it.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .output();
    stop_platforms_under(tmp.path());
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    // verify printed a report that holds; chat answered; the SDK got an
    // answer from the model enclave.json names, through the proxy, and the
    // proxy's report says what was checked.
    assert!(stdout.contains("verified:    yes"), "{stdout}");
    assert!(stdout.contains("smollm2 says:"), "{stdout}");
    assert!(
        stdout.contains("verified: True trust basis: development"),
        "{stdout}"
    );
}
