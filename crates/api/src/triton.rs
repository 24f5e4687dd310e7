//! BlindLlama-v2's route: Triton's `POST /v2/models/ensemble/generate`
//! with TensorRT-LLM's ensemble fields (`text_input`, `max_tokens`,
//! `bad_words`, `stop_words` → `text_output`), so that system's clients
//! keep working. `text_output` holds the generated text only.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use blindfold_engine::{GenerateRequest, Prompt, SamplingParams, Usage};
use serde::Deserialize;

use crate::error::ApiError;
use crate::routes::{authorize, collect, parse_body, submit, Charge, RequestId};
use crate::AppState;

/// Words: Triton clients send `""`, one string, or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Words {
    /// One word (`""` = none).
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Words {
    fn into_vec(self) -> Vec<String> {
        match self {
            Words::One(s) if s.is_empty() => Vec::new(),
            Words::One(s) => vec![s],
            Words::Many(v) => v.into_iter().filter(|s| !s.is_empty()).collect(),
        }
    }
}

/// The ensemble's request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleRequest {
    /// The prompt, continued as is.
    pub text_input: String,
    /// Most tokens to generate.
    pub max_tokens: i64,
    /// Words that must not be generated.
    #[serde(default)]
    pub bad_words: Option<Words>,
    /// Words that end generation.
    #[serde(default)]
    pub stop_words: Option<Words>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f32>,
    /// Top-k.
    #[serde(default)]
    pub top_k: Option<u32>,
    /// Seed.
    #[serde(default)]
    pub random_seed: Option<u64>,
    /// Repetition penalty.
    #[serde(default)]
    pub repetition_penalty: Option<f32>,
}

/// `POST /v2/models/ensemble/generate`.
pub(crate) async fn generate(
    State(state): State<Arc<AppState>>,
    Extension(id): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match run(state, id, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: Arc<AppState>,
    id: RequestId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let key = authorize(&state, &headers)?;
    let req: EnsembleRequest = parse_body(body, None)?;
    if req.max_tokens < 1 {
        return Err(ApiError::invalid(
            "invalid_value",
            Some("max_tokens"),
            "`max_tokens` must be at least 1",
        ));
    }
    let request = GenerateRequest {
        request_id: 0,
        prompt: Prompt::Text(req.text_input),
        sampling: SamplingParams {
            // TensorRT-LLM's default is greedy (top_k 1).
            temperature: req.temperature.unwrap_or(0.0),
            top_p: req.top_p.unwrap_or(1.0),
            top_k: req.top_k.unwrap_or(0) as usize,
            repetition_penalty: req.repetition_penalty.unwrap_or(1.0),
            seed: req.random_seed,
        },
        max_tokens: Some(usize::try_from(req.max_tokens).unwrap_or(usize::MAX)),
        stop: req.stop_words.map(Words::into_vec).unwrap_or_default(),
        bad_words: req.bad_words.map(Words::into_vec).unwrap_or_default(),
    };
    let model = state.engine.model().id.clone();
    let generation = submit(&state, &model, request, id)?;
    let mut charge = Charge {
        state: state.clone(),
        key,
        usage: Usage::default(),
    };
    let (text, _, _) = collect(generation, &mut charge).await?;
    Ok(Json(TritonResponse {
        model_name: "ensemble",
        model_version: "1",
        sequence_id: 0,
        sequence_start: false,
        sequence_end: false,
        text_output: text,
    })
    .into_response())
}

/// Triton's generate response, as BlindLlama-v2's client reads it.
#[derive(serde::Serialize)]
struct TritonResponse {
    model_name: &'static str,
    model_version: &'static str,
    sequence_id: u64,
    sequence_start: bool,
    sequence_end: bool,
    text_output: String,
}
