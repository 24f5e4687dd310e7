//! Which engine to run, as written in the enclave's configuration (and so
//! measured with it), and starting it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::upstream_process::UpstreamProcess;
use crate::{
    EmbeddedEngine, EmbeddedOptions, Engine, EngineError, ModelSource, UpstreamEngine, UpstreamOptions,
};

/// The engine section of a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum EngineConfig {
    /// A GGUF model run in this process.
    Embedded {
        /// The GGUF file.
        gguf: PathBuf,
        /// The name clients use.
        model_id: String,
        /// Most sequences per batch (default 16).
        #[serde(default)]
        max_batch: Option<usize>,
        /// Most requests waiting (default 64).
        #[serde(default)]
        queue_capacity: Option<usize>,
        /// `max_tokens` when a request gives none (default 512).
        #[serde(default)]
        default_max_tokens: Option<usize>,
    },
    /// An OpenAI-compatible server on loopback.
    Upstream {
        /// Its address (loopback only).
        address: SocketAddr,
        /// The model name it expects.
        upstream_model: String,
        /// The name clients use.
        model_id: String,
        /// Its context window.
        context_length: usize,
        /// A command that starts it, if the enclave starts it itself
        /// (watched: its exit is reported at once; output discarded once
        /// it serves).
        #[serde(default)]
        command: Option<Vec<String>>,
    },
}

/// The device models load on: the first GPU when built with the `cuda`
/// feature and one is present, else the CPU.
fn device() -> Result<candle_core::Device, EngineError> {
    #[cfg(feature = "cuda")]
    {
        candle_core::Device::cuda_if_available(0).map_err(|e| EngineError::Model(format!("CUDA device: {e}")))
    }
    #[cfg(not(feature = "cuda"))]
    {
        Ok(candle_core::Device::Cpu)
    }
}

/// A started engine and what the enclave measures about it.
pub struct StartedEngine {
    /// The engine.
    pub engine: Arc<dyn Engine>,
    /// The model's name.
    pub model_id: String,
    /// SHA-256 of the weights (embedded engine only).
    pub weights_sha256: Option<[u8; 32]>,
    /// The upstream process, if the enclave started it; dropping it kills
    /// the process.
    pub upstream_process: Option<UpstreamProcess>,
}

impl EngineConfig {
    /// Loads the model or connects the upstream. The weights are read
    /// into memory, hashed, loaded, and the buffer wiped.
    pub async fn start(&self) -> Result<StartedEngine, EngineError> {
        match self {
            EngineConfig::Embedded {
                gguf,
                model_id,
                max_batch,
                queue_capacity,
                default_max_tokens,
            } => {
                let path = gguf.clone();
                let mut bytes = tokio::fs::read(&path)
                    .await
                    .map_err(|e| EngineError::Model(format!("reading {}: {e}", path.display())))?;
                let device = device()?;
                let loaded = tokio::task::spawn_blocking(move || {
                    let loaded = ModelSource::Gguf(&bytes).load(&device);
                    bytes.iter_mut().for_each(|b| *b = 0);
                    loaded
                })
                .await
                .map_err(|e| EngineError::Internal(e.to_string()))??;
                // Hashed by the loader, over the same bytes.
                let sha256 = loaded.weights_sha256;
                let defaults = EmbeddedOptions::default();
                let engine = EmbeddedEngine::start(
                    loaded,
                    EmbeddedOptions {
                        model_id: model_id.clone(),
                        max_batch: max_batch.unwrap_or(defaults.max_batch),
                        queue_capacity: queue_capacity.unwrap_or(defaults.queue_capacity),
                        default_max_tokens: default_max_tokens.unwrap_or(defaults.default_max_tokens),
                        ..defaults
                    },
                )?;
                Ok(StartedEngine {
                    engine: Arc::new(engine),
                    model_id: model_id.clone(),
                    weights_sha256: Some(sha256),
                    upstream_process: None,
                })
            }
            EngineConfig::Upstream {
                address,
                upstream_model,
                model_id,
                context_length,
                command,
            } => {
                let mut engine = UpstreamEngine::new(
                    UpstreamOptions {
                        address: *address,
                        upstream_model: upstream_model.clone(),
                        model_id: model_id.clone(),
                        context_length: *context_length,
                        response_timeout: Duration::from_secs(300),
                    },
                    tokio::runtime::Handle::current(),
                )?;
                let process = match command {
                    Some(argv) => Some(UpstreamProcess::spawn(argv)?),
                    None => None,
                };
                if let Some(p) = &process {
                    engine = engine.with_process(p.watch());
                }
                engine.wait_ready(Duration::from_secs(120)).await?;
                Ok(StartedEngine {
                    engine: Arc::new(engine),
                    model_id: model_id.clone(),
                    weights_sha256: None,
                    upstream_process: process,
                })
            }
        }
    }
}
