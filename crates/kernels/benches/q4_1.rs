//! How close the decode path is to the memory limit: the Q4_1 matrix ×
//! one activation row (a decode step's matmul), in bytes of weights
//! streamed per second, beside the machine's read bandwidth measured the
//! same way (all threads summing a buffer larger than the caches).
//!
//!   cargo bench -p blindfold-kernels --bench q4_1
#![allow(missing_docs, clippy::unwrap_used)]

use blindfold_kernels::{Q4_1Matrix, Q4_1_BLOCK_BYTES, QK};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rayon::prelude::*;

fn weights(n_out: usize, k: usize) -> Q4_1Matrix {
    let blocks = n_out * k / QK;
    let mut bytes = Vec::with_capacity(blocks * Q4_1_BLOCK_BYTES);
    for i in 0..blocks {
        bytes.extend_from_slice(&half::f16::from_f32(0.01).to_bits().to_le_bytes());
        bytes.extend_from_slice(&half::f16::from_f32(-0.08).to_bits().to_le_bytes());
        bytes.extend((0..16).map(|j| ((i * 31 + j * 7) % 256) as u8));
    }
    Q4_1Matrix::new(bytes, n_out, k).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.sample_size(20);
    // Larger than the caches, as a whole model's weights are.
    let buffer: Vec<u64> = (0..(256usize << 20) / 8).map(|i| i as u64).collect();
    group.throughput(Throughput::Bytes((buffer.len() * 8) as u64));
    group.bench_function("memory read bandwidth (256 MiB, all threads)", |b| {
        b.iter(|| {
            black_box(
                buffer
                    .par_chunks(1 << 16)
                    .map(|c| c.iter().fold(0u64, |a, v| a ^ v))
                    .reduce(|| 0, |a, b| a ^ b),
            )
        })
    });
    let (n_out, k) = (32_768, 2048);
    let m = weights(n_out, k);
    let act: Vec<f32> = (0..k).map(|i| (i % 17) as f32 / 9.0 - 0.9).collect();
    group.throughput(Throughput::Bytes((n_out * k / QK * Q4_1_BLOCK_BYTES) as u64));
    group.bench_function("Q4_1 matrix x 1 row (42 MB of weights)", |b| {
        b.iter(|| black_box(m.matmul(&act, 1).unwrap()))
    });
    let acts: Vec<f32> = act.iter().cycle().take(4 * k).copied().collect();
    group.bench_function("Q4_1 matrix x 4 rows (one weight pass)", |b| {
        b.iter(|| black_box(m.matmul(&acts, 4).unwrap()))
    });
    // A small model's projection (SmolLM2's 576 × 576): per-call costs
    // (quantizing the row, handing work to the threads) show here.
    let small = weights(576, 576);
    let row: Vec<f32> = act.iter().take(576).copied().collect();
    group.throughput(Throughput::Bytes((576 * 576 / QK * Q4_1_BLOCK_BYTES) as u64));
    group.bench_function("Q4_1 576x576 x 1 row (per-call overhead)", |b| {
        b.iter(|| black_box(small.matmul(&row, 1).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
