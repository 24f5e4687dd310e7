//! The inference engine's interface: the [`Engine`] trait, the request,
//! event and error types that cross it, and the engine section of the
//! enclave's configuration ([`EngineConfig`]).
//!
//! What it is for: letting the API (`blindfold-api`), the enclave
//! (`blindfold-runtime`) and the `blindfold` command speak about engines
//! without linking one. The engines live in their own crates:
//! `blindfold-engine-candle` runs a model in this process on candle, and
//! `blindfold-engine-upstream` forwards to an OpenAI-compatible server on
//! loopback. The enclave starts whichever its configuration names.
//!
//! What it is not: an engine (no tensors, tokenizers or HTTP here), an
//! HTTP API, or a place that decides who may ask. Nothing that crosses this
//! interface is logged by it; engines log token counts and timings only.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
mod error;
mod sampling;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

pub use config::{EmbeddedConfig, EngineConfig, UpstreamConfig};
pub use error::EngineError;
pub use sampling::SamplingParams;

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the assistant.
    System,
    /// The person asking.
    User,
    /// The model's earlier answers.
    Assistant,
    /// Developer instructions (OpenAI's newer name for system).
    Developer,
    /// Output of a tool call.
    Tool,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

/// What to continue.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Raw text, continued as is (`/v1/completions`).
    Text(String),
    /// A conversation, rendered with the model's chat template.
    Chat(Vec<ChatMessage>),
}

/// One generation request.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// Correlates log lines; carries no content.
    pub request_id: u64,
    /// What to continue.
    pub prompt: Prompt,
    /// Sampling parameters.
    pub sampling: SamplingParams,
    /// Most tokens to generate (the context window is the other limit).
    pub max_tokens: Option<usize>,
    /// Stop sequences; generation ends before the first one and it is not
    /// sent.
    pub stop: Vec<String>,
    /// Token strings that must not be generated (BlindLlama-v2's
    /// `bad_words`); each is encoded and its first token banned.
    pub bad_words: Vec<String>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its turn or a stop sequence was found.
    Stop,
    /// `max_tokens` or the context window was reached.
    Length,
}

/// Token counts of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Tokens of the prompt (after the chat template).
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
}

/// What a running generation sends back.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerationEvent {
    /// More text (may be empty-free; never contains a stop sequence).
    Text(String),
    /// Generation ended normally.
    Finished {
        /// Why.
        reason: FinishReason,
        /// Token counts.
        usage: Usage,
    },
    /// Generation failed after it started.
    Failed(EngineError),
}

/// The work behind a [`Generation::driven`] generation.
type Driver = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A started generation: its events, in order, ending with `Finished` or
/// `Failed`. Dropping it cancels the generation.
pub struct Generation {
    /// Tokens of the prompt, when known up front (embedded engine).
    pub prompt_tokens: Option<usize>,
    events: mpsc::UnboundedReceiver<GenerationEvent>,
    /// Work done in the reader's task (none when the engine runs elsewhere).
    driver: Option<Driver>,
}

impl Generation {
    /// A generation whose events come from elsewhere (the engine's own
    /// thread or task), through `events`.
    pub fn new(prompt_tokens: Option<usize>, events: mpsc::UnboundedReceiver<GenerationEvent>) -> Self {
        Generation {
            prompt_tokens,
            events,
            driver: None,
        }
    }

    /// A generation whose events `driver` sends into `events`, run only
    /// while the generation is read: it runs in the reader's task, so an
    /// event crosses no task or thread on its way out, and dropping the
    /// generation drops the work. `driver` must be the only sender.
    pub fn driven(
        prompt_tokens: Option<usize>,
        events: mpsc::UnboundedReceiver<GenerationEvent>,
        driver: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        Generation {
            prompt_tokens,
            events,
            driver: Some(Box::pin(driver)),
        }
    }

    /// The next event; `None` once the engine ended without a last event
    /// (it stopped). Cancel-safe: nothing is lost if the future is dropped.
    pub async fn recv(&mut self) -> Option<GenerationEvent> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next event, driving the engine's work first.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<GenerationEvent>> {
        let Some(driver) = self.driver.as_mut() else {
            return self.events.poll_recv(cx);
        };
        // Only the driver sends, and only while polled here: no waker is
        // registered on the channel, so a sent event does not wake this
        // task again (which tokio would reschedule as a yield, waking
        // another worker thread for every token).
        if let Ok(event) = self.events.try_recv() {
            return Poll::Ready(Some(event));
        }
        let ended = driver.as_mut().poll(cx).is_ready();
        if ended {
            // Dropping it drops its sender: what it sent is still read.
            self.driver = None;
        }
        match self.events.try_recv() {
            Ok(event) => Poll::Ready(Some(event)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) if ended => Poll::Ready(None),
            Err(TryRecvError::Empty) => Poll::Pending,
        }
    }
}

/// What clients see of the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// The name clients use in `model`.
    pub id: String,
    /// Context window in tokens.
    pub context_length: usize,
    /// Unix time the engine started (OpenAI's `created`).
    pub created: u64,
}

/// An inference engine.
pub trait Engine: Send + Sync {
    /// The model this engine serves.
    fn model(&self) -> &ModelInfo;

    /// Starts a generation, or says at once why it cannot (bad parameters,
    /// prompt too long, queue full). Never blocks on generation itself.
    fn submit(&self, request: GenerateRequest) -> Result<Generation, EngineError>;

    /// Requests waiting for a slot and requests generating.
    fn load(&self) -> EngineLoad;
}

/// How busy an engine is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EngineLoad {
    /// Waiting for a batch slot.
    pub queued: usize,
    /// In the running batch.
    pub running: usize,
}
