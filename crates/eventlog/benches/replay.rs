//! Parse + replay (all banks) of the largest shared event log
//! (ga-option_rom, 72 KB, SHA-1) and of the largest crypto-agile
//! three-bank log (gtt-ubuntu-2404-amd-sevsnp, 45 KB), which is also the one
//! `bench/compare-tpm2-tools.sh` hands to tpm2_eventlog (it crashes on the
//! first). Run with `cargo bench -p blindfold-eventlog`.
#![allow(missing_docs, clippy::unwrap_used)]

use blindfold_eventlog::{replay, EventLog, ReplayOptions};
use criterion::{criterion_group, criterion_main, Criterion};

const LOGS: [(&str, &str); 2] = [
    (
        "eventlog_replay_largest",
        "ga-option_rom_eventlog/option_rom_eventlog",
    ),
    (
        "eventlog_replay_ubuntu2404_3banks",
        "gtt-ubuntu-2404-amd-sevsnp/ubuntu-2404-amd-sevsnp.bin",
    ),
];

fn bench(c: &mut Criterion) {
    let dir = blindfold_testdata::shared("tcg-eventlogs");
    for (name, file) in LOGS {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        c.bench_function(name, |b| {
            b.iter(|| {
                let log = EventLog::parse(&bytes).unwrap();
                replay(&log, ReplayOptions::default())
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
