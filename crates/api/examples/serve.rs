//! Serves the API over plain HTTP on loopback, for tests and benchmarks
//! only (the enclave serves it over attested TLS).
//!
//! ```text
//! cargo run --release -p blindfold-api --example serve -- CONFIG.json
//! ```
//! CONFIG.json: `{"listen": "127.0.0.1:8080", "engine": {...}, "api": {...}}`
//! with `engine` as `blindfold_engine::EngineConfig` (embedded or
//! upstream) and `api` as
//! `blindfold_api::ApiConfig`. Prints `listening on ADDR` when ready.
//! Logs go to standard error, filtered by `RUST_LOG` (default `info`).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{bail, Context};
use blindfold_api::ApiConfig;
use blindfold_engine::{Engine, EngineConfig};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeConfig {
    listen: SocketAddr,
    engine: EngineConfig,
    #[serde(default)]
    api: ApiConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let path = std::env::args().nth(1).context("usage: serve CONFIG.json")?;
    let config: ServeConfig = serde_json::from_slice(&std::fs::read(&path).with_context(|| path.clone())?)
        .with_context(|| format!("{path}: not a serve configuration"))?;
    if !config.listen.ip().is_loopback() {
        bail!(
            "{} is not a loopback address: plain HTTP would carry prompts off this machine",
            config.listen
        );
    }
    // Kept alive while serving: dropping it would stop a started upstream.
    let mut _upstream_process = None;
    let engine: Arc<dyn Engine> = match &config.engine {
        EngineConfig::Embedded(c) => Arc::new(blindfold_engine_candle::start(c).await?.engine),
        EngineConfig::Upstream(c) => {
            let started = blindfold_engine_upstream::start(c).await?;
            _upstream_process = started.process;
            Arc::new(started.engine)
        }
    };
    let router = blindfold_api::router(engine, &config.api).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router).await?;
    Ok(())
}
