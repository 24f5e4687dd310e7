//! The embedded inference engine: the model runs in this process on
//! `candle`.
//!
//! What it is for: [`EmbeddedEngine`], a `blindfold_engine::Engine` over a
//! GGUF (quantized llama family: SmolLM2, TinyLlama, Llama 2/3, Qwen2) or
//! safetensors model, its tokenizer built from the GGUF metadata
//! ([`tokenizer`]) or a `tokenizer.json`, its own chat template
//! ([`template`]), sampling ([`sampling`]), and continuous batching
//! ([`embedded`]): new requests join the running batch at the next step, a
//! bounded queue refuses work when full, and a request whose receiver is
//! dropped (client gone) leaves the batch at once. [`start`] loads the
//! model an enclave configuration names and reports the weights' hash.
//!
//! What it is not: the engine interface (that is `blindfold-engine`), a
//! forwarder to another server (`blindfold-engine-upstream`), or an HTTP
//! API. Nothing here logs or returns prompt text, generated text or weights
//! except to the caller that asked: logs carry token counts and timings
//! only.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod attention;
pub mod embedded;
mod ggml_math;
mod gguf_header;
pub mod linear;
pub mod load;
pub mod model;
pub mod sampling;
pub mod template;
pub mod text;
pub mod tokenizer;

use blindfold_engine::{EmbeddedConfig, EngineError};

pub use embedded::{EmbeddedEngine, EmbeddedOptions};
pub use load::{LoadedModel, ModelSource};

/// A tensor operation failed: a bug or an exhausted device.
pub(crate) fn internal(e: candle_core::Error) -> EngineError {
    EngineError::Internal(e.to_string())
}

/// The device models load on: the first GPU when built with the `cuda`
/// feature and one is present, else the CPU.
pub fn device() -> Result<candle_core::Device, EngineError> {
    #[cfg(feature = "cuda")]
    {
        candle_core::Device::cuda_if_available(0).map_err(|e| EngineError::Model(format!("CUDA device: {e}")))
    }
    #[cfg(not(feature = "cuda"))]
    {
        Ok(candle_core::Device::Cpu)
    }
}

/// A started embedded engine and the hash the enclave measures.
pub struct StartedEmbedded {
    /// The engine.
    pub engine: EmbeddedEngine,
    /// SHA-256 of the weights, over the bytes that were loaded.
    pub weights_sha256: [u8; 32],
}

/// Loads the model file `config` names. The weights are read into memory,
/// hashed, loaded, and the buffer wiped.
pub async fn start(config: &EmbeddedConfig) -> Result<StartedEmbedded, EngineError> {
    let path = config.gguf.clone().ok_or_else(|| {
        EngineError::Model(
            "the configuration names no model file (a sealed model is loaded from its bytes)".into(),
        )
    })?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| EngineError::Model(format!("reading {}: {e}", path.display())))?;
    start_from_bytes(config, zeroize::Zeroizing::new(bytes)).await
}

/// Loads a model from GGUF bytes already in memory (a sealed model the
/// enclave opened): hashed and loaded, then the buffer is wiped.
pub async fn start_from_bytes(
    config: &EmbeddedConfig,
    bytes: zeroize::Zeroizing<Vec<u8>>,
) -> Result<StartedEmbedded, EngineError> {
    let device = device()?;
    let loaded = tokio::task::spawn_blocking(move || ModelSource::Gguf(&bytes).load(&device))
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))??;
    // Hashed by the loader, over the same bytes.
    let weights_sha256 = loaded.weights_sha256;
    let defaults = EmbeddedOptions::default();
    let engine = EmbeddedEngine::start(
        loaded,
        EmbeddedOptions {
            model_id: config.model_id.clone(),
            max_batch: config.max_batch.unwrap_or(defaults.max_batch),
            queue_capacity: config.queue_capacity.unwrap_or(defaults.queue_capacity),
            default_max_tokens: config.default_max_tokens.unwrap_or(defaults.default_max_tokens),
            ..defaults
        },
    )?;
    Ok(StartedEmbedded {
        engine,
        weights_sha256,
    })
}
