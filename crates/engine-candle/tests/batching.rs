//! Continuous batching on the packaged model: concurrent requests each
//! answer their own prompt, a new request starts while another streams,
//! a dropped client frees its slot, a full queue refuses work.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use blindfold_engine::{Engine, EngineError, GenerationEvent};
use blindfold_engine_candle::EmbeddedOptions;

const WORDS: [&str; 16] = [
    "apple", "river", "copper", "violin", "tiger", "purple", "window", "garden", "rocket", "silver",
    "pencil", "coffee", "dragon", "meadow", "castle", "orange",
];

fn repeat_prompt(word: &str) -> String {
    format!("{word}, {word}, {word}, {word}, {word}, {word},")
}

#[test]
fn sixteen_concurrent_streams_each_answer_their_own_prompt() {
    let engine = common::engine(EmbeddedOptions {
        max_batch: 16,
        ..EmbeddedOptions::default()
    });
    let rt = common::runtime();
    // Alone, one after the other.
    let solo: Vec<String> = WORDS
        .iter()
        .map(|w| {
            rt.block_on(common::finish(
                engine.submit(common::greedy(&repeat_prompt(w), 12)).unwrap(),
            ))
            .0
        })
        .collect();
    // All at once.
    let generations: Vec<_> = WORDS
        .iter()
        .map(|w| engine.submit(common::greedy(&repeat_prompt(w), 12)).unwrap())
        .collect();
    let together: Vec<String> =
        rt.block_on(async { futures_join(generations.into_iter().map(common::finish).collect()).await });
    for ((word, alone), batched) in WORDS.iter().zip(&solo).zip(&together) {
        assert!(batched.contains(word), "{word}: {batched:?}");
        assert_eq!(
            alone, batched,
            "{word}: batched output differs from the same request alone"
        );
    }
}

async fn futures_join<F: std::future::Future<Output = (String, GenerationEvent)> + Send + 'static>(
    futures: Vec<F>,
) -> Vec<String> {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        let (text, end) = h.await.unwrap();
        assert!(matches!(end, GenerationEvent::Finished { .. }), "{end:?}");
        out.push(text);
    }
    out
}

#[test]
fn a_second_request_starts_while_the_first_streams_256_tokens() {
    let engine = common::engine(EmbeddedOptions::default());
    let rt = common::runtime();
    rt.block_on(async {
        let mut long = engine
            .submit(common::greedy(&repeat_prompt("apple"), 256))
            .unwrap();
        // Wait for the long one to be streaming.
        assert!(matches!(long.recv().await, Some(GenerationEvent::Text(_))));
        let mut short = engine.submit(common::greedy(&repeat_prompt("river"), 4)).unwrap();
        let long_done = tokio::spawn(async move {
            let mut n = 1;
            loop {
                match long.recv().await {
                    Some(GenerationEvent::Text(_)) => n += 1,
                    Some(GenerationEvent::Finished { usage, .. }) => return (Instant::now(), n, usage),
                    other => panic!("{other:?}"),
                }
            }
        });
        let first_short = match short.recv().await {
            Some(GenerationEvent::Text(_)) => Instant::now(),
            other => panic!("{other:?}"),
        };
        let (long_finished, _, usage) = long_done.await.unwrap();
        assert_eq!(usage.completion_tokens, 256);
        assert!(
            first_short < long_finished,
            "the second request waited for the first to finish"
        );
    });
}

#[test]
fn a_dropped_client_frees_its_slot_and_a_full_queue_refuses() {
    let engine = common::engine(EmbeddedOptions {
        max_batch: 1,
        queue_capacity: 1,
        ..EmbeddedOptions::default()
    });
    let rt = common::runtime();
    rt.block_on(async {
        let mut first = engine
            .submit(common::greedy(&repeat_prompt("apple"), 4000))
            .unwrap();
        assert!(matches!(first.recv().await, Some(GenerationEvent::Text(_))));
        assert_eq!(engine.load().running, 1);
        let waiting = engine.submit(common::greedy(&repeat_prompt("river"), 3)).unwrap();
        let refused = engine
            .submit(common::greedy(&repeat_prompt("tiger"), 3))
            .err()
            .unwrap();
        assert!(
            matches!(refused, EngineError::Overloaded { queued: 1 }),
            "{refused:?}"
        );
        // The client goes away: its slot goes to the waiting request.
        drop(first);
        let started = Instant::now();
        let (text, end) = tokio::time::timeout(Duration::from_secs(60), common::finish(waiting))
            .await
            .unwrap();
        assert!(text.contains("river"), "{text:?}");
        assert!(matches!(end, GenerationEvent::Finished { .. }));
        assert!(started.elapsed() < Duration::from_secs(30));
        let deadline = Instant::now() + Duration::from_secs(5);
        while engine.load().running != 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            engine.load(),
            blindfold_engine::EngineLoad {
                queued: 0,
                running: 0
            }
        );
    });
}

#[test]
fn prompts_longer_than_the_context_are_refused_up_front() {
    let engine = common::engine(EmbeddedOptions::default());
    let prompt = "apple, ".repeat(9000);
    let err = engine.submit(common::greedy(&prompt, 1)).err().unwrap();
    assert!(
        matches!(err, EngineError::ContextTooLong { limit: 8192, .. }),
        "{err:?}"
    );
    let err = engine.submit(common::greedy("hi", 0)).err().unwrap();
    assert!(
        matches!(
            err,
            EngineError::InvalidParameter {
                param: "max_tokens",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn stop_sequences_and_bad_words_shape_the_answer() {
    let engine = common::engine(EmbeddedOptions::default());
    let rt = common::runtime();
    let mut req = common::greedy(&repeat_prompt("apple"), 20);
    req.stop = vec![", apple,".into()];
    let (text, end) = rt.block_on(common::finish(engine.submit(req).unwrap()));
    assert_eq!(text, " apple");
    assert!(matches!(
        end,
        GenerationEvent::Finished {
            reason: blindfold_engine::FinishReason::Stop,
            ..
        }
    ));
    let mut req = common::greedy(&repeat_prompt("apple"), 6);
    req.bad_words = vec![" apple".into()];
    let (text, _) = rt.block_on(common::finish(engine.submit(req).unwrap()));
    assert!(!text.starts_with(" apple"), "{text:?}");
}
