//! Handlers of the OpenAI routes, the logging middleware and the steps
//! every generating route shares (authorise, parse, submit, collect).

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use blindfold_engine::{FinishReason, GenerateRequest, GenerationEvent, Usage};
use serde::de::DeserializeOwned;

use crate::error::{json_error, ApiError};
use crate::keys::KeyId;
use crate::openai::{check_fields, ChatRequest, CompletionRequest, CHAT_FIELDS, COMPLETION_FIELDS};
use crate::responses::{
    AssistantMessage, CompletionBody, CompletionChoice, Health, ModelEntry, ModelList, UsageBody,
};
use crate::stream;
use crate::AppState;

/// The id of one HTTP request (logs and `x-request-id`): random, so that
/// ids handed to clients do not count the enclave's traffic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestId(pub u64);

/// Assigns a request id, and logs route, status and time — never the
/// body, the query string or a path that is not one of ours.
pub(crate) async fn log_and_tag(mut request: Request, next: Next) -> Response {
    let id = random_request_id();
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "(unknown route)".into());
    let method = request.method().clone();
    request.extensions_mut().insert(RequestId(id));
    let mut response = next.run(request).await;
    if let Ok(v) = HeaderValue::from_str(&format!("{id:016x}")) {
        response.headers_mut().insert("x-request-id", v);
    }
    tracing::info!(
        request_id = id,
        %method,
        route,
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "request"
    );
    response
}

/// 64 random bits; should the system's randomness fail (it does not on
/// Linux once booted), the time in nanoseconds keeps ids distinct.
fn random_request_id() -> u64 {
    let mut bytes = [0u8; 8];
    match getrandom::getrandom(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    }
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Checks the API key when keys are configured, and its limits.
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<Option<KeyId>, ApiError> {
    if !state.keys.enabled() {
        return Ok(None);
    }
    let header = headers.get("authorization").map(|v| v.as_bytes());
    state.keys.admit(header).map(Some)
}

/// Checks the API key when keys are configured, not its limits.
pub(crate) fn identify(state: &AppState, headers: &HeaderMap) -> Result<Option<KeyId>, ApiError> {
    if !state.keys.enabled() {
        return Ok(None);
    }
    let header = headers.get("authorization").map(|v| v.as_bytes());
    state.keys.identify(header).map(Some)
}

/// The body as JSON of type `T`, with only `fields` (plus the common
/// ones) allowed. Errors never quote the body.
pub(crate) fn parse_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    fields: Option<&[&str]>,
) -> Result<T, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                kind: "invalid_request_error",
                code: "body_too_large",
                param: None,
                message: "the request body is larger than this server accepts".into(),
            }
        } else {
            ApiError::invalid("invalid_body", None, "the request body could not be read")
        }
    })?;
    if let Some(fields) = fields {
        // The keys alone, to name an unknown field before anything else.
        let keys: std::collections::BTreeMap<String, serde::de::IgnoredAny> =
            serde_json::from_slice(&body).map_err(|e| match e.classify() {
                serde_json::error::Category::Data => {
                    ApiError::invalid("invalid_json", None, "the request body must be a JSON object")
                }
                _ => json_error(&e),
            })?;
        check_fields(keys.keys(), fields)?;
    }
    serde_json::from_slice(&body).map_err(|e| json_error(&e))
}

/// Submits `request` after the model and key checks.
pub(crate) fn submit(
    state: &AppState,
    model: &str,
    mut request: GenerateRequest,
    id: RequestId,
) -> Result<blindfold_engine::Generation, ApiError> {
    let served = &state.engine.model().id;
    if model != served {
        return Err(ApiError::unknown_model(model, served));
    }
    // More than the whole context can never be generated: refused as
    // OpenAI does (less is capped by the engine, with finish_reason
    // "length" saying so).
    let context = state.engine.model().context_length;
    if let Some(asked) = request.max_tokens.filter(|m| *m > context) {
        return Err(ApiError::invalid(
            "context_length_exceeded",
            Some("max_tokens"),
            format!("`max_tokens` is {asked}, more than the model's context of {context} tokens"),
        ));
    }
    request.request_id = id.0;
    Ok(state.engine.submit(request)?)
}

/// Charges a key for a generation, however it ends (a dropped stream too).
pub(crate) struct Charge {
    pub state: Arc<AppState>,
    pub key: Option<KeyId>,
    pub usage: Usage,
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.state.keys.charge(
                key,
                self.usage.prompt_tokens as u64,
                self.usage.completion_tokens as u64,
            );
        }
    }
}

/// Waits for the whole answer.
pub(crate) async fn collect(
    mut generation: blindfold_engine::Generation,
    charge: &mut Charge,
) -> Result<(String, FinishReason, Usage), ApiError> {
    charge.usage.prompt_tokens = generation.prompt_tokens.unwrap_or(0);
    let mut text = String::new();
    while let Some(event) = generation.recv().await {
        match event {
            GenerationEvent::Text(t) => {
                charge.usage.completion_tokens += 1;
                text.push_str(&t);
            }
            GenerationEvent::Finished { reason, usage } => {
                charge.usage = usage;
                return Ok((text, reason, usage));
            }
            GenerationEvent::Failed(e) => return Err(e.into()),
        }
    }
    Err(blindfold_engine::EngineError::Stopped.into())
}

pub(crate) fn finish_str(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

pub(crate) async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    let load = state.engine.load();
    Json(Health {
        status: "ok",
        queued: load.queued,
        running: load.running,
    })
}

pub(crate) async fn models(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<ModelList>, ApiError> {
    identify(&state, &headers)?;
    let m = state.engine.model();
    Ok(Json(ModelList {
        object: "list",
        data: [ModelEntry {
            id: m.id.clone(),
            object: "model",
            created: m.created,
            owned_by: "blindfold",
            context_length: m.context_length,
        }],
    }))
}

pub(crate) async fn usage(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Option<crate::keys::KeyUsage>>, ApiError> {
    match identify(&state, &headers)? {
        Some(key) => Ok(Json(state.keys.usage(key))),
        None => Err(ApiError::invalid(
            "no_api_keys",
            None,
            "usage is counted per API key and no keys are configured",
        )),
    }
}

/// Which OpenAI shape an answer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Chat,
    Completion,
}

pub(crate) async fn chat(
    State(state): State<Arc<AppState>>,
    Extension(id): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let key = match authorize(&state, &headers) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let parsed = parse_body::<ChatRequest>(body, Some(CHAT_FIELDS)).and_then(ChatRequest::into_request);
    generate(state, key, id, parsed, Shape::Chat).await
}

pub(crate) async fn completions(
    State(state): State<Arc<AppState>>,
    Extension(id): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let key = match authorize(&state, &headers) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let parsed = parse_body::<CompletionRequest>(body, Some(COMPLETION_FIELDS))
        .and_then(CompletionRequest::into_request);
    generate(state, key, id, parsed, Shape::Completion).await
}

async fn generate(
    state: Arc<AppState>,
    key: Option<KeyId>,
    id: RequestId,
    parsed: Result<(String, GenerateRequest, (bool, bool)), ApiError>,
    shape: Shape,
) -> Response {
    let (model, request, (streaming, include_usage)) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let generation = match submit(&state, &model, request, id) {
        Ok(g) => g,
        Err(e) => return e.into_response(),
    };
    let charge = Charge {
        state: state.clone(),
        key,
        usage: Usage::default(),
    };
    let model = state.engine.model().id.clone();
    if streaming {
        return stream::sse(generation, charge, shape, id, model, include_usage).into_response();
    }
    let mut charge = charge;
    let (text, reason, usage) = match collect(generation, &mut charge).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let choice = match shape {
        Shape::Chat => CompletionChoice::Chat {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content: text,
            },
            finish_reason: finish_str(reason),
            logprobs: None,
        },
        Shape::Completion => CompletionChoice::Text {
            index: 0,
            text,
            finish_reason: finish_str(reason),
            logprobs: None,
        },
    };
    let (prefix, object) = match shape {
        Shape::Chat => ("chatcmpl", "chat.completion"),
        Shape::Completion => ("cmpl", "text_completion"),
    };
    Json(CompletionBody {
        id: format!("{prefix}-{}", id.0),
        object,
        created: now(),
        model,
        choices: [choice],
        usage: UsageBody::from(&usage),
    })
    .into_response()
}

pub(crate) async fn fallback() -> ApiError {
    ApiError::not_found()
}
