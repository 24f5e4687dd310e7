//! The OpenAI-compatible requests: their JSON shapes and how they become
//! engine requests. Unknown fields are refused, fields we accept but do
//! not implement (`n` > 1, `logprobs`, tools) are refused by name, so a
//! client never gets an answer computed differently from what it asked.

use blindfold_engine::{ChatMessage, GenerateRequest, Prompt, Role, SamplingParams};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;

/// `stop`: one string or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum StopField {
    /// One stop sequence.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl StopField {
    fn into_vec(self) -> Vec<String> {
        match self {
            StopField::One(s) => vec![s],
            StopField::Many(v) => v,
        }
    }
}

/// `stream_options`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    /// Send a last chunk with `usage`.
    #[serde(default)]
    pub include_usage: bool,
}

/// Message content: a string, or a list of parts of which we take text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// `[{"type": "text", "text": ...}]`.
    Parts(Vec<ContentPart>),
}

/// One part of a message's content.
#[derive(Debug, Deserialize)]
pub struct ContentPart {
    /// Only `text` is supported.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text.
    #[serde(default)]
    pub text: Option<String>,
}

/// One message as clients send it.
#[derive(Debug, Deserialize)]
pub struct InMessage {
    /// Who wrote it.
    pub role: Role,
    /// What it says (`null` for an assistant turn that only called tools).
    #[serde(default)]
    pub content: Option<Content>,
    /// Ignored name of the author.
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    /// Must be the served model.
    pub model: String,
    /// The conversation.
    pub messages: Vec<InMessage>,
    #[serde(flatten)]
    /// Sampling and streaming fields.
    pub common: CommonFields,
    /// Newer name of `max_tokens`.
    #[serde(default)]
    pub max_completion_tokens: Option<i64>,
    /// Tools are not supported (an empty list is accepted).
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    /// Only `none`/`auto` with no tools.
    #[serde(default)]
    pub tool_choice: Option<Value>,
    /// Accepted and ignored.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// Only `{"type": "text"}`.
    #[serde(default)]
    pub response_format: Option<Value>,
}

/// `POST /v1/completions`.
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    /// Must be the served model.
    pub model: String,
    /// One string (or a list holding one).
    pub prompt: PromptField,
    #[serde(flatten)]
    /// Sampling and streaming fields.
    pub common: CommonFields,
    /// Echo the prompt back (not supported).
    #[serde(default)]
    pub echo: Option<bool>,
    /// Text after the completion (not supported).
    #[serde(default)]
    pub suffix: Option<String>,
    /// Server-side candidates (only 1).
    #[serde(default)]
    pub best_of: Option<u32>,
}

/// `prompt`: a string or a list of one string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PromptField {
    /// One prompt.
    One(String),
    /// A batch (only one element supported).
    Many(Vec<String>),
}

/// Fields both endpoints take.
#[derive(Debug, Deserialize)]
pub struct CommonFields {
    /// Most tokens to generate.
    #[serde(default)]
    pub max_tokens: Option<i64>,
    /// Sampling temperature (0-2).
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f32>,
    /// Top-k (an extension llama.cpp and vLLM also take).
    #[serde(default)]
    pub top_k: Option<i64>,
    /// Repetition penalty (vLLM's name).
    #[serde(default)]
    pub repetition_penalty: Option<f32>,
    /// Repetition penalty (llama.cpp's name).
    #[serde(default)]
    pub repeat_penalty: Option<f32>,
    /// Seed for sampling.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Stop sequences.
    #[serde(default)]
    pub stop: Option<StopField>,
    /// Stream as server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Streaming options.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Choices per request (only 1).
    #[serde(default)]
    pub n: Option<u32>,
    /// Only 0.
    #[serde(default)]
    pub presence_penalty: Option<f32>,
    /// Only 0.
    #[serde(default)]
    pub frequency_penalty: Option<f32>,
    /// Not supported.
    #[serde(default)]
    pub logprobs: Option<Value>,
    /// Not supported.
    #[serde(default)]
    pub top_logprobs: Option<u32>,
    /// Not supported (an empty map is accepted).
    #[serde(default)]
    pub logit_bias: Option<serde_json::Map<String, Value>>,
    /// Accepted and ignored (never logged).
    #[serde(default)]
    pub user: Option<String>,
    /// Accepted and ignored.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Only `false` (we keep nothing).
    #[serde(default)]
    pub store: Option<bool>,
    /// Accepted and ignored.
    #[serde(default)]
    pub service_tier: Option<String>,
}

/// Fields of [`CommonFields`] (serde cannot refuse unknown fields of a
/// flattened struct, so the handlers check names against these lists).
const COMMON_FIELDS: &[&str] = &[
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "repeat_penalty",
    "seed",
    "stop",
    "stream",
    "stream_options",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "user",
    "metadata",
    "store",
    "service_tier",
];
/// Fields only chat requests have.
pub const CHAT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_completion_tokens",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
];
/// Fields only completions requests have.
pub const COMPLETION_FIELDS: &[&str] = &["model", "prompt", "echo", "suffix", "best_of"];

/// Refuses a body with a field (of `keys`) not in `own` or the common
/// fields.
pub fn check_fields<'a>(keys: impl IntoIterator<Item = &'a String>, own: &[&str]) -> Result<(), ApiError> {
    for key in keys {
        if !own.contains(&key.as_str()) && !COMMON_FIELDS.contains(&key.as_str()) {
            let name: String = key.chars().take(64).filter(|c| !c.is_control()).collect();
            return Err(ApiError::invalid(
                "unknown_field",
                Some(&name),
                format!("`{name}` is not a known field of this endpoint"),
            ));
        }
    }
    Ok(())
}

fn unsupported(param: &str, what: &str) -> ApiError {
    ApiError::invalid("unsupported_value", Some(param), format!("`{param}`: {what}"))
}

impl CommonFields {
    /// Whether to stream, and whether to end with a usage chunk.
    pub fn streaming(&self) -> (bool, bool) {
        let include_usage = self.stream_options.as_ref().is_some_and(|o| o.include_usage);
        (self.stream.unwrap_or(false), include_usage)
    }

    fn into_request(self, prompt: Prompt, max_tokens: Option<i64>) -> Result<GenerateRequest, ApiError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(unsupported("n", "only 1 choice per request is supported"));
        }
        if self.presence_penalty.is_some_and(|p| p != 0.0) {
            return Err(unsupported(
                "presence_penalty",
                "is not supported; use repetition_penalty",
            ));
        }
        if self.frequency_penalty.is_some_and(|p| p != 0.0) {
            return Err(unsupported(
                "frequency_penalty",
                "is not supported; use repetition_penalty",
            ));
        }
        if self
            .logprobs
            .as_ref()
            .is_some_and(|l| !(l.is_null() || *l == Value::Bool(false)))
        {
            return Err(unsupported("logprobs", "is not supported"));
        }
        if self.top_logprobs.is_some_and(|n| n > 0) {
            return Err(unsupported("top_logprobs", "is not supported"));
        }
        if self.logit_bias.as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(unsupported("logit_bias", "is not supported"));
        }
        if self.store == Some(true) {
            return Err(unsupported("store", "this server stores nothing"));
        }
        let max_tokens = match max_tokens {
            Some(m) if m < 1 => {
                return Err(ApiError::invalid(
                    "invalid_value",
                    Some("max_tokens"),
                    "`max_tokens` must be at least 1",
                ))
            }
            Some(m) => Some(usize::try_from(m).unwrap_or(usize::MAX)),
            None => None,
        };
        let top_k = match self.top_k {
            Some(k) if k < 0 => {
                return Err(ApiError::invalid(
                    "invalid_value",
                    Some("top_k"),
                    "`top_k` must not be negative",
                ))
            }
            Some(k) => usize::try_from(k).unwrap_or(usize::MAX),
            None => 0,
        };
        let stop = self.stop.map(StopField::into_vec).unwrap_or_default();
        if stop.len() > 4 {
            return Err(ApiError::invalid(
                "invalid_value",
                Some("stop"),
                "at most 4 stop sequences",
            ));
        }
        Ok(GenerateRequest {
            request_id: 0,
            prompt,
            sampling: SamplingParams {
                temperature: self.temperature.unwrap_or(1.0),
                top_p: self.top_p.unwrap_or(1.0),
                top_k,
                repetition_penalty: self.repetition_penalty.or(self.repeat_penalty).unwrap_or(1.0),
                seed: self.seed,
            },
            max_tokens,
            stop,
            bad_words: Vec::new(),
        })
    }
}

impl ChatRequest {
    /// The engine request (with `request_id` still 0).
    pub fn into_request(self) -> Result<(String, GenerateRequest, (bool, bool)), ApiError> {
        if self.tools.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(unsupported("tools", "tool calls are not supported"));
        }
        if let Some(format) = &self.response_format {
            if format.get("type").and_then(Value::as_str) != Some("text") {
                return Err(unsupported(
                    "response_format",
                    "only {\"type\": \"text\"} is supported",
                ));
            }
        }
        if self.messages.is_empty() {
            return Err(ApiError::invalid(
                "invalid_value",
                Some("messages"),
                "`messages` must not be empty",
            ));
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        for m in self.messages {
            let content = match m.content {
                None => String::new(),
                Some(Content::Text(t)) => t,
                Some(Content::Parts(parts)) => {
                    let mut text = String::new();
                    for p in parts {
                        match (p.kind.as_str(), p.text) {
                            ("text", Some(t)) => text.push_str(&t),
                            _ => {
                                return Err(unsupported("messages", "only text content parts are supported"))
                            }
                        }
                    }
                    text
                }
            };
            messages.push(ChatMessage {
                role: m.role,
                content,
            });
        }
        let streaming = self.common.streaming();
        let max = self.max_completion_tokens.or(self.common.max_tokens);
        let request = self.common.into_request(Prompt::Chat(messages), max)?;
        Ok((self.model, request, streaming))
    }
}

impl CompletionRequest {
    /// The engine request (with `request_id` still 0).
    pub fn into_request(self) -> Result<(String, GenerateRequest, (bool, bool)), ApiError> {
        if self.echo == Some(true) {
            return Err(unsupported("echo", "is not supported"));
        }
        if self.suffix.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err(unsupported("suffix", "is not supported"));
        }
        if self.best_of.is_some_and(|b| b != 1) {
            return Err(unsupported("best_of", "only 1 is supported"));
        }
        let prompt = match self.prompt {
            PromptField::One(p) => p,
            PromptField::Many(mut v) if v.len() == 1 => v.remove(0),
            PromptField::Many(_) => {
                return Err(unsupported(
                    "prompt",
                    "exactly one prompt per request is supported",
                ))
            }
        };
        let streaming = self.common.streaming();
        let max = self.common.max_tokens;
        let request = self.common.into_request(Prompt::Text(prompt), max)?;
        Ok((self.model, request, streaming))
    }
}
