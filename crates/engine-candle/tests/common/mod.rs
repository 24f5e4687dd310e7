//! Shared by the embedded engine's tests: the packaged model, loaded.
#![allow(dead_code, unused_imports, clippy::unwrap_used, missing_docs)]

pub use blindfold_testdata::generation::{finish, greedy, runtime};
pub use blindfold_testdata::packaged_model;

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
