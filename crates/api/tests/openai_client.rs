//! The real `openai` Python package (installed by `scripts/setup.sh` into
//! its own virtual environment) talks to the API over loopback HTTP:
//! models, chat with and without streaming, completions, errors.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use blindfold_api::ApiConfig;
use blindfold_engine_candle::EmbeddedOptions;

use blindfold_testdata::openai_python as python;

#[test]
fn the_openai_package_works_against_the_api() {
    let server = common::serve(EmbeddedOptions::default(), ApiConfig::default());
    let out = std::process::Command::new(python())
        .arg(format!(
            "{}/tests/openai_client.py",
            std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
        ))
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
/// llama-server (when `scripts/setup.sh` has built it).
#[test]
fn the_openai_package_works_through_an_upstream_llama_server() {
    let Some((argv, port)) = blindfold_testdata::llama_server_command() else {
        eprintln!("llama-server is not built here; upstream mode not checked");
        return;
    };
    let config = blindfold_engine::UpstreamConfig {
        address: format!("127.0.0.1:{port}").parse().unwrap(),
        upstream_model: "smollm2".into(),
        model_id: common::MODEL.into(),
        context_length: 2048,
        command: Some(argv),
        weights: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut started = rt.block_on(blindfold_engine_upstream::start(&config)).unwrap();
    let server = common::serve_engine(std::sync::Arc::new(started.engine), ApiConfig::default());
    let out = std::process::Command::new(python())
        .arg(format!(
            "{}/tests/openai_client.py",
            std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
        ))
        .arg(format!("http://{}/v1", server.addr))
        .arg(common::MODEL)
        .output()
        .unwrap();
    if let Some(p) = started.process.take() {
        rt.block_on(p.stop());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
}
