//! Times one batched decoding step at several batch sizes (a profiling aid).
//!
//! ```text
//! cargo run --release -p blindfold-engine-candle --example step_timing -- MODEL.gguf [BATCH...]
//! ```
//!
//! Batch sizes 1, 4 and 16 unless given.
#![allow(clippy::unwrap_used, missing_docs)]
use blindfold_engine_candle::model::StepInput;
use blindfold_engine_candle::ModelSource;

fn main() {
    // As the engine runs its steps: on a rayon worker.
    rayon::scope(|_| run());
}

fn run() {
    let path = std::env::args().nth(1).expect("usage: step_timing MODEL.gguf");
    let bytes = std::fs::read(path).unwrap();
    let model = ModelSource::Gguf(&bytes).load(&candle_core::Device::Cpu).unwrap();
    let prompt = model
        .tokenizer
        .encode("apple, apple, apple, apple, apple, apple, apple, apple,")
        .unwrap();
    let mut batches: Vec<usize> = std::env::args().skip(2).map(|b| b.parse().unwrap()).collect();
    if batches.is_empty() {
        batches = vec![1, 4, 16];
    }
    for batch in batches {
        let mut caches: Vec<_> = (0..batch).map(|_| model.transformer.new_cache(256)).collect();
        let t = std::time::Instant::now();
        for c in caches.iter_mut() {
            model
                .transformer
                .forward(&mut [StepInput {
                    tokens: &prompt,
                    cache: c,
                }])
                .unwrap();
        }
        let prefill = t.elapsed() / batch as u32;
        let steps = 64;
        let t = std::time::Instant::now();
        for _ in 0..steps {
            let mut inputs: Vec<_> = caches
                .iter_mut()
                .map(|c| StepInput {
                    tokens: &[1234],
                    cache: c,
                })
                .collect();
            model.transformer.forward(&mut inputs).unwrap();
        }
        let per_step = t.elapsed() / steps;
        println!(
            "batch {batch:>2}: prefill {} tokens {prefill:?}, decode step {per_step:?} ({:.1} tok/s)",
            prompt.len(),
            batch as f64 / per_step.as_secs_f64()
        );
    }
}
