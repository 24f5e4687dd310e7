//! The OpenAI shapes this SDK writes and reads for its own callers (the
//! `blindfold` command's chat and demo): typed requests and chunks. The
//! `serde_json::Value` methods of [`crate::Client`] stay for callers who
//! send OpenAI requests this crate does not model.

use serde::{Deserialize, Serialize};

/// A chat request (`POST /v1/chat/completions`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatRequest {
    /// The model's name.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Most tokens to generate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature (0: greedy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Stream the answer as server-sent chunks.
    pub stream: bool,
    /// With `stream`: whether the last chunk carries the token counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// What it says.
    pub content: String,
}

impl ChatMessage {
    /// A message from the user.
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "user".into(),
            content: content.into(),
        }
    }
    /// An earlier answer.
    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "assistant".into(),
            content: content.into(),
        }
    }
}

/// `stream_options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StreamOptions {
    /// Send the token counts in a last chunk.
    pub include_usage: bool,
}

/// `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModelList {
    /// The models served.
    pub data: Vec<ModelEntry>,
}

/// One served model.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModelEntry {
    /// Its name.
    pub id: String,
}

/// One streamed chunk: text, or the last one's usage, or an error that
/// ended the stream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StreamChunk {
    /// The choices (one).
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Token counts (last chunk, when asked for).
    #[serde(default)]
    pub usage: Option<ChunkUsage>,
    /// An error that ended the stream (the OpenAI error object).
    #[serde(default)]
    pub error: Option<blindfold_protocol::api_error::ApiErrorDetail>,
}

/// A chunk's choice: chat `delta.content` or completion `text`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChunkChoice {
    /// Chat: what was added.
    #[serde(default)]
    pub delta: Option<Delta>,
    /// Completion: what was added.
    #[serde(default)]
    pub text: Option<String>,
}

/// What a chat chunk adds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Delta {
    /// The text, if any.
    #[serde(default)]
    pub content: Option<String>,
}

/// Token counts of a finished answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ChunkUsage {
    /// Tokens of the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
}

impl StreamChunk {
    /// The text this chunk adds.
    pub fn text(&self) -> &str {
        self.choices
            .first()
            .and_then(|c| {
                c.delta
                    .as_ref()
                    .and_then(|d| d.content.as_deref())
                    .or(c.text.as_deref())
            })
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_of_every_kind_read_typed() {
        let chat: StreamChunk = serde_json::from_str(
            r#"{"id":"x","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
        )
        .unwrap();
        assert_eq!(chat.text(), "Hi");
        let text: StreamChunk = serde_json::from_str(r#"{"choices":[{"index":0,"text":" there"}]}"#).unwrap();
        assert_eq!(text.text(), " there");
        let usage: StreamChunk = serde_json::from_str(
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}"#,
        )
        .unwrap();
        assert_eq!((usage.text(), usage.usage.unwrap().completion_tokens), ("", 5));
        let error: StreamChunk = serde_json::from_str(
            r#"{"error":{"message":"the engine has stopped","type":"server_error","param":null,"code":"engine_stopped"}}"#,
        )
        .unwrap();
        assert_eq!(error.error.unwrap().code.as_deref(), Some("engine_stopped"));
    }

    #[test]
    fn a_chat_request_writes_only_what_is_set() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage::user("q")],
            max_tokens: None,
            temperature: Some(0.0),
            stream: true,
            stream_options: None,
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"model":"m","messages":[{"role":"user","content":"q"}],"temperature":0.0,"stream":true}"#
        );
    }
}
