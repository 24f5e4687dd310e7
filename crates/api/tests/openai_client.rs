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

/// The same client checks with the upstream engine forwarding to a real
/// llama-server (when `scripts/setup.sh --reference` has built it).
#[test]
fn the_openai_package_works_through_an_upstream_llama_server() {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let binary = std::path::PathBuf::from(home).join(".cache/blindfold/llama.cpp/bin/llama-server");
    if !binary.exists() {
        eprintln!("llama-server is not built here; upstream mode not checked");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = blindfold_engine::EngineConfig::Upstream {
        address: format!("127.0.0.1:{port}").parse().unwrap(),
        upstream_model: "smollm2".into(),
        model_id: common::MODEL.into(),
        context_length: 2048,
        command: Some(vec![
            binary.display().to_string(),
            "-m".into(),
            common::packaged_model().display().to_string(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "-t".into(),
            "2".into(),
            "-c".into(),
            "2048".into(),
        ]),
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut started = rt.block_on(config.start()).unwrap();
    let server = common::serve_engine(started.engine.clone(), ApiConfig::default());
    let out = std::process::Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openai_client.py"))
        .arg(format!("http://{}/v1", server.addr))
        .arg(common::MODEL)
        .output()
        .unwrap();
    if let Some(mut p) = started.upstream_process.take() {
        let _ = p.kill();
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
}
