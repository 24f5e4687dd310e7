//! Which engine to run, as written in the enclave's configuration (and so
//! measured with it). Starting one is the enclave's job: it links the
//! engine crates, this crate does not.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The engine section of a configuration: `{"embedded": {..}}` or
/// `{"upstream": {..}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineConfig {
    /// A GGUF model run in this process (`blindfold-engine-candle`).
    Embedded(EmbeddedConfig),
    /// An OpenAI-compatible server on loopback (`blindfold-engine-upstream`).
    Upstream(UpstreamConfig),
}

impl EngineConfig {
    /// The name clients use for the model.
    pub fn model_id(&self) -> &str {
        match self {
            EngineConfig::Embedded(c) => &c.model_id,
            EngineConfig::Upstream(c) => &c.model_id,
        }
    }
}

/// A GGUF model run in this process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedConfig {
    /// The GGUF file; absent when the enclave's configuration names a
    /// sealed model instead (the enclave then gets the weights from the
    /// owner's store and their key from the owner's broker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gguf: Option<PathBuf>,
    /// The name clients use.
    pub model_id: String,
    /// Most sequences per batch (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<usize>,
    /// Most requests waiting (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_capacity: Option<usize>,
    /// `max_tokens` when a request gives none (default 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_tokens: Option<usize>,
}

/// An OpenAI-compatible server on loopback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Its address (loopback only).
    pub address: SocketAddr,
    /// The model name it expects.
    pub upstream_model: String,
    /// The name clients use.
    pub model_id: String,
    /// Its context window.
    pub context_length: usize,
    /// A command that starts it, if the enclave starts it itself
    /// (watched: its exit is reported at once; output discarded once it
    /// serves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// The weights file the server loads. The enclave hashes it before it
    /// starts the server and measures it as the model (PCR 15), so a
    /// swapped file changes the evidence. In a measured image the file
    /// must be on the app disk (dm-verity checks every block it reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_form_is_one_tagged_section_and_unknown_fields_are_refused() {
        let text = r#"{"embedded": {"gguf": "/m.gguf", "model_id": "m", "max_batch": 4}}"#;
        let parsed: EngineConfig = serde_json::from_str(text).unwrap();
        assert_eq!(parsed.model_id(), "m");
        let EngineConfig::Embedded(c) = &parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(c.max_batch, Some(4));
        let back: EngineConfig = serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(back, parsed);
        let err = serde_json::from_str::<EngineConfig>(
            r#"{"embedded": {"gguf": "/m", "model_id": "m", "batch": 4}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `batch`"), "{err}");
    }
}
