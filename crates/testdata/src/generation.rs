//! Driving an engine in tests: a greedy request, reading a generation to
//! its end, and a small tokio runtime (shared by the engines' tests).

use blindfold_engine::{GenerateRequest, Generation, GenerationEvent, Prompt, SamplingParams};

/// A greedy request continuing `text`.
pub fn greedy(text: &str, max_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        request_id: 0,
        prompt: Prompt::Text(text.to_string()),
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
        max_tokens: Some(max_tokens),
        stop: Vec::new(),
        bad_words: Vec::new(),
    }
}

/// Reads a generation to its end: the text and the last event.
pub async fn finish(mut g: Generation) -> (String, GenerationEvent) {
    let mut text = String::new();
    while let Some(e) = g.recv().await {
        match e {
            GenerationEvent::Text(t) => text.push_str(&t),
            other => return (text, other),
        }
    }
    panic!("the generation ended without a final event");
}

/// A multi-thread tokio runtime with two workers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
