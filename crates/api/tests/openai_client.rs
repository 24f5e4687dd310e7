//! The real `openai` Python package (installed by `scripts/setup.sh` into
//! its own virtual environment) talks to the API over loopback HTTP:
//! models, chat with and without streaming, completions, errors.

mod common;

use blindfold_api::ApiConfig;
use blindfold_engine::EmbeddedOptions;

fn python() -> std::path::PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let p = std::path::PathBuf::from(home).join(".cache/blindfold/venv/bin/python");
    assert!(p.exists(), "{} is missing: run scripts/setup.sh (it installs the openai package)", p.display());
    p
}

#[test]
fn the_openai_package_works_against_the_api() {
    let server = common::serve(EmbeddedOptions::default(), ApiConfig::default());
    let out = std::process::Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openai_client.py"))
        .arg(format!("http://{}/v1", server.addr))
        .arg(common::MODEL)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
