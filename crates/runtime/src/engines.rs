//! Starting the engine the configuration names: the enclave is the one
//! program that links both engine crates.

use std::sync::Arc;

use blindfold_engine::{Engine, EngineConfig, EngineError};
use blindfold_engine_upstream::UpstreamProcess;
use zeroize::Zeroizing;

/// A started engine and what the enclave measures about it.
pub struct StartedEngine {
    /// The engine.
    pub engine: Arc<dyn Engine>,
    /// SHA-256 of the weights: the embedded engine's, or the file an
    /// upstream server's configuration names (hashed before the server
    /// starts); `None` for an upstream that names none.
    pub weights_sha256: Option<[u8; 32]>,
    /// The upstream process, if the enclave started it; dropping it kills
    /// the process.
    pub upstream_process: Option<UpstreamProcess>,
}

/// Loads the model (from `weights` when the enclave opened a sealed model,
/// else from the file the configuration names) or connects the upstream.
pub async fn start(
    config: &EngineConfig,
    weights: Option<Zeroizing<Vec<u8>>>,
) -> Result<StartedEngine, EngineError> {
    match config {
        EngineConfig::Embedded(embedded) => {
            let started = match weights {
                Some(bytes) => blindfold_engine_candle::start_from_bytes(embedded, bytes).await?,
                None => blindfold_engine_candle::start(embedded).await?,
            };
            Ok(StartedEngine {
                engine: Arc::new(started.engine),
                weights_sha256: Some(started.weights_sha256),
                upstream_process: None,
            })
        }
        EngineConfig::Upstream(upstream) => {
            let weights_sha256 = match &upstream.weights {
                Some(path) => {
                    let file = path.clone();
                    let digest = tokio::task::spawn_blocking(move || crate::measure::file_sha256(&file))
                        .await
                        .map_err(|e| EngineError::Model(format!("hashing the upstream's weights: {e}")))?
                        .map_err(|e| {
                            EngineError::Model(format!(
                                "hashing the upstream's weights {}: {e}",
                                path.display()
                            ))
                        })?;
                    Some(digest)
                }
                None => None,
            };
            let started = blindfold_engine_upstream::start(upstream).await?;
            Ok(StartedEngine {
                engine: Arc::new(started.engine),
                weights_sha256,
                upstream_process: started.process,
            })
        }
    }
}
