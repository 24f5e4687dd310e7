//! Shared by the engine's tests: where the packaged model is.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

pub use blindfold_testdata::packaged_model;

use blindfold_engine::{GenerateRequest, GenerationEvent, Prompt, SamplingParams};
use blindfold_engine_candle::{EmbeddedEngine, EmbeddedOptions, LoadedModel, ModelSource};

/// The packaged model, loaded on the CPU.
pub fn load_packaged() -> LoadedModel {
    let bytes = std::fs::read(packaged_model()).expect("reading the packaged model");
    ModelSource::Gguf(&bytes)
        .load(&candle_core::Device::Cpu)
        .expect("loading the packaged model")
}

/// An engine on the packaged model.
pub fn engine(options: EmbeddedOptions) -> EmbeddedEngine {
    EmbeddedEngine::start(load_packaged(), options).expect("starting the engine")
}

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
pub async fn finish(mut g: blindfold_engine::Generation) -> (String, GenerationEvent) {
    let mut text = String::new();
    while let Some(e) = g.events.recv().await {
        match e {
            GenerationEvent::Text(t) => text.push_str(&t),
            other => return (text, other),
        }
    }
    panic!("the generation ended without a final event");
}

/// A current-thread tokio runtime.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
