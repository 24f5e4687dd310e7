//! The upstream inference engine: forwards to an OpenAI-compatible server
//! on loopback inside the same enclave (llama.cpp's `llama-server`, vLLM,
//! TGI, Triton's OpenAI front end) and streams its answer through.
//!
//! What it is for: [`UpstreamEngine`], a `blindfold_engine::Engine` that
//! talks to that server, and [`UpstreamProcess`], which starts the server
//! when the enclave's configuration gives its command and watches it, so a
//! crash is reported at once with its exit status or signal. [`start`]
//! does both for an enclave configuration's upstream section.
//!
//! What it is not: a model runner (`blindfold-engine-candle` is), or a
//! client of anything beyond loopback (the address must be loopback).
//! Nothing here logs prompt or generated text; the server's output is kept
//! only while it starts, never while it serves.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connections;
pub mod upstream;
pub mod upstream_process;

use std::time::Duration;

use blindfold_engine::{EngineError, UpstreamConfig};

pub use upstream::{UpstreamEngine, UpstreamOptions};
pub use upstream_process::{ProcessExit, UpstreamProcess};

/// How long a started server may take to answer its first request.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one answer may take.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);

/// A connected upstream engine and the server process, if this started it.
pub struct StartedUpstream {
    /// The engine.
    pub engine: UpstreamEngine,
    /// The server process; dropping it kills the process.
    pub process: Option<UpstreamProcess>,
}

/// Starts the server `config` gives a command for (if any), then waits
/// until it serves. Must run inside a tokio runtime.
pub async fn start(config: &UpstreamConfig) -> Result<StartedUpstream, EngineError> {
    let mut engine = UpstreamEngine::new(UpstreamOptions {
        address: config.address,
        upstream_model: config.upstream_model.clone(),
        model_id: config.model_id.clone(),
        context_length: config.context_length,
        response_timeout: RESPONSE_TIMEOUT,
    })?;
    let process = match &config.command {
        Some(argv) => Some(UpstreamProcess::spawn(argv)?),
        None => None,
    };
    if let Some(p) = &process {
        engine = engine.with_process(p.watch());
    }
    engine.wait_ready(READY_TIMEOUT).await?;
    Ok(StartedUpstream { engine, process })
}
