//! The JSON bodies the API answers with, as the types that write them
//! (OpenAI's shapes; BlindLlama-v2's Triton shape in `triton.rs`).

use serde::Serialize;

use blindfold_engine::Usage;

/// OpenAI's `usage` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UsageBody {
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Their sum.
    pub total_tokens: usize,
}

impl From<&Usage> for UsageBody {
    fn from(u: &Usage) -> Self {
        UsageBody {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.prompt_tokens + u.completion_tokens,
        }
    }
}

/// `GET /health`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// Always `ok` when it answers.
    pub status: &'static str,
    /// Requests waiting for a batch slot.
    pub queued: usize,
    /// Requests generating.
    pub running: usize,
}

/// `GET /v1/models`.
#[derive(Debug, Serialize)]
pub struct ModelList {
    /// `list`.
    pub object: &'static str,
    /// The one model this enclave serves.
    pub data: [ModelEntry; 1],
}

/// One model of a [`ModelList`].
#[derive(Debug, Serialize)]
pub struct ModelEntry {
    /// The name clients use.
    pub id: String,
    /// `model`.
    pub object: &'static str,
    /// Unix time the engine started.
    pub created: u64,
    /// `blindfold`.
    pub owned_by: &'static str,
    /// Context window in tokens.
    pub context_length: usize,
}

/// A whole (not streamed) chat or text completion.
#[derive(Debug, Serialize)]
pub struct CompletionBody {
    /// `chatcmpl-…` or `cmpl-…`.
    pub id: String,
    /// `chat.completion` or `text_completion`.
    pub object: &'static str,
    /// Unix time.
    pub created: u64,
    /// The model's name.
    pub model: String,
    /// The one answer.
    pub choices: [CompletionChoice; 1],
    /// Token counts.
    pub usage: UsageBody,
}

/// The answer of a [`CompletionBody`], in the shape of its route.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum CompletionChoice {
    /// `/v1/chat/completions`.
    Chat {
        /// 0.
        index: u32,
        /// The assistant's message.
        message: AssistantMessage,
        /// `stop` or `length`.
        finish_reason: &'static str,
        /// Always null.
        logprobs: Option<()>,
    },
    /// `/v1/completions`.
    Text {
        /// 0.
        index: u32,
        /// The continuation.
        text: String,
        /// `stop` or `length`.
        finish_reason: &'static str,
        /// Always null.
        logprobs: Option<()>,
    },
}

/// The assistant's message of a chat answer.
#[derive(Debug, Serialize)]
pub struct AssistantMessage {
    /// `assistant`.
    pub role: &'static str,
    /// What it said.
    pub content: String,
}
