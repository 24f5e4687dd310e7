//! The engine's one error type. Messages name what went wrong and never
//! carry prompt text, generated text or weight bytes.

/// Everything that can go wrong loading a model or generating.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum EngineError {
    /// The weights are not a model this engine can load.
    #[error("model: {0}")]
    Model(String),
    /// The tokenizer could not be built or used.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template failed to render.
    #[error("chat template: {0}")]
    ChatTemplate(String),
    /// Prompt plus generation does not fit the context window.
    #[error("the request needs {tokens} tokens, more than the model's context of {limit}")]
    ContextTooLong {
        /// Tokens the request needs.
        tokens: usize,
        /// The model's context window.
        limit: usize,
    },
    /// A sampling parameter is out of range.
    #[error("invalid parameter `{param}`: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        param: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The request queue is full; try again later.
    #[error("the engine is overloaded: {queued} requests are already waiting")]
    Overloaded {
        /// Requests waiting.
        queued: usize,
    },
    /// The engine has stopped.
    #[error("the engine has stopped")]
    Stopped,
    /// The upstream server failed or answered something unexpected.
    #[error("upstream engine: {0}")]
    Upstream(String),
    /// The upstream server process the engine started has ended.
    #[error("upstream engine: the server process {how}{}", tail_text(last_lines, *was_serving))]
    UpstreamExited {
        /// "exited with status 1", "was killed by signal SIGSEGV (11)".
        how: String,
        /// The last lines of its standard error while it was starting.
        last_lines: Vec<String>,
        /// Whether it had begun serving (its later output is not kept).
        was_serving: bool,
    },
    /// A tensor operation failed (a bug or an exhausted device).
    #[error("internal engine error: {0}")]
    Internal(String),
}

fn tail_text(lines: &[String], was_serving: bool) -> String {
    if was_serving {
        // Its output while serving may carry prompts: never kept.
        return " while serving".into();
    }
    if lines.is_empty() {
        return " while starting, printing nothing".into();
    }
    format!(" while starting; its last lines:\n  {}", lines.join("\n  "))
}
