//! The enclave's HTTP API over an inference engine.
//!
//! What it is for: the routes clients already speak —
//! `GET /v1/models`, `POST /v1/completions`, `POST /v1/chat/completions`
//! (streaming as server-sent events ending in `data: [DONE]`),
//! BlindLlama-v2's Triton route `POST /v2/models/ensemble/generate`,
//! `GET /v1/usage` (the caller's own key's counters) and `GET /health` —
//! with OpenAI-shaped errors ([`error`]), a body size limit, and optional
//! API keys with per-key limits ([`keys`]).
//!
//! What it is not: a TLS server. [`router`] returns an `axum::Router`;
//! `blindfold-enclave` serves it behind attested TLS, tests serve it on
//! loopback HTTP. Logs carry request ids, routes, statuses, token counts
//! and timings; never bodies, prompts or answers.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod keys;
pub mod openai;
pub mod responses;
mod routes;
mod stream;
pub mod triton;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use blindfold_engine::Engine;
use serde::{Deserialize, Serialize};

pub use error::ApiError;
pub use keys::{new_api_key, ApiKeyConfig, KeyRing, KeyUsage};

/// Default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// How the API is set up (part of the measured enclave configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Largest request body in bytes (then 413).
    #[serde(default = "default_body_limit")]
    pub body_limit: usize,
    /// Accepted API keys; none = no authentication.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
}

fn default_body_limit() -> usize {
    DEFAULT_BODY_LIMIT
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            body_limit: DEFAULT_BODY_LIMIT,
            api_keys: Vec::new(),
        }
    }
}

pub(crate) struct AppState {
    pub engine: Arc<dyn Engine>,
    pub keys: KeyRing,
}

/// The API's routes over `engine`.
pub fn router(engine: Arc<dyn Engine>, config: &ApiConfig) -> Result<Router, String> {
    let state = Arc::new(AppState {
        engine,
        keys: KeyRing::new(&config.api_keys)?,
    });
    Ok(Router::new()
        .route("/health", get(routes::health))
        .route("/v1/models", get(routes::models))
        .route("/v1/usage", get(routes::usage))
        .route("/v1/completions", post(routes::completions))
        .route("/v1/chat/completions", post(routes::chat))
        .route("/v2/models/ensemble/generate", post(triton::generate))
        .fallback(routes::fallback)
        .layer(axum::middleware::from_fn(routes::log_and_tag))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .with_state(state))
}
