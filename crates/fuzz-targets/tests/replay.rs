//! The fuzz corpora (`fuzz/corpus/<target>/`, kept in the repository), the
//! hand-made seeds (`fuzz/seeds/<target>/`) and
//! every shared sample under `../shared/testdata`, run through every fuzz
//! target as ordinary tests: a parser may refuse any of them, never panic.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

use blindfold_fuzz_targets::TARGETS;

/// Largest sample fed to the targets.
const MAX_SAMPLE: u64 = 4 << 20;

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.map_while(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else if entry.metadata().is_ok_and(|m| m.len() <= MAX_SAMPLE) {
            out.push(path);
        }
    }
}

fn run(target: &str, run: fn(&[u8]), file: &Path) {
    let data = std::fs::read(file).unwrap();
    if std::panic::catch_unwind(|| run(&data)).is_err() {
        panic!("{target} panicked on {}", file.display());
    }
}

#[test]
fn every_kept_corpus_input_parses_without_a_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut total = 0;
    for (name, target) in TARGETS {
        let mut files = Vec::new();
        files_under(&corpus.join(name), &mut files);
        assert!(!files.is_empty(), "fuzz/corpus/{name} is empty");
        // Hand-made seeds (fuzz/seeds/<target>/), crashes found once among them.
        files_under(&corpus.join("../seeds").join(name), &mut files);
        total += files.len();
        for file in &files {
            run(name, *target, file);
        }
    }
    assert!(total >= TARGETS.len());
}

#[test]
fn every_shared_sample_goes_through_every_target_without_a_panic() {
    let mut files = Vec::new();
    files_under(&blindfold_testdata::shared_dir(), &mut files);
    assert!(files.len() > 50, "{} samples", files.len());
    for file in &files {
        for (name, target) in TARGETS {
            run(name, *target, file);
        }
    }
}

#[test]
fn the_gguf_seed_is_a_model_the_engine_loads_and_runs() {
    // The seed must be a whole, valid model, or the fuzzer would only ever
    // exercise the first refusal.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/gguf/tiny-llama.gguf");
    let bytes = std::fs::read(path).unwrap();
    let model = blindfold_engine_candle::ModelSource::Gguf(&bytes)
        .load(&candle_core::Device::Cpu)
        .unwrap();
    let ids = model.tokenizer.encode("ab c").unwrap();
    assert!(!ids.is_empty());
    let mut cache = model.transformer.new_cache(ids.len());
    let logits = model
        .transformer
        .forward(&mut [blindfold_engine_candle::model::StepInput {
            tokens: &ids,
            cache: &mut cache,
        }])
        .unwrap();
    assert_eq!(
        logits[0].len(),
        10,
        "one logit per token of the seed's vocabulary"
    );
}
