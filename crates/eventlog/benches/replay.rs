//! Parse + replay of the largest shared event log (all banks).
//! Run with `cargo bench -p blindfold-eventlog`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::path::Path;

use blindfold_eventlog::{replay, EventLog, ReplayOptions};
use criterion::{criterion_group, criterion_main, Criterion};

fn largest_log() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/tcg-eventlogs");
    let mut best: Vec<u8> = Vec::new();
    for d in std::fs::read_dir(dir).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).into_iter().flatten() {
            let p = f.unwrap().path();
            let n = p.to_string_lossy().to_string();
            if n.ends_with(".json") || n.ends_with(".yaml") {
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            if bytes.len() > best.len() {
                best = bytes;
            }
        }
    }
    best
}

fn bench(c: &mut Criterion) {
    let bytes = largest_log();
    c.bench_function("eventlog_parse_and_replay_largest", |b| {
        b.iter(|| {
            let log = EventLog::parse(&bytes).unwrap();
            replay(&log, ReplayOptions::default())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
