//! How close the decode path is to the memory limit: a quantized matrix ×
//! one activation row (a decode step's matmul), in bytes of weights
//! streamed per second, beside the machine's read bandwidth measured the
//! same way (all threads summing a buffer larger than the caches); and a
//! weight pass over several rows (prefill, decoding batches).
//!
//!   cargo bench -p blindfold-kernels --bench decode
#![allow(missing_docs, clippy::unwrap_used)]

use blindfold_kernels::{QuantMatrix, WeightFormat};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rayon::prelude::*;

fn weights(format: WeightFormat, n_out: usize, k: usize) -> QuantMatrix {
    let blocks = n_out * k / format.block_values();
    let mut bytes: Vec<u8> = (0..blocks * format.block_bytes())
        .map(|i| ((i * 31 + i / 7) % 256) as u8)
        .collect();
    // Small finite f16 scales where each format keeps them.
    let fields: &[usize] = match format {
        WeightFormat::Q4_1 | WeightFormat::Q4K => &[0, 2],
        WeightFormat::Q6K => &[208],
        _ => &[0],
    };
    for block in bytes.chunks_mut(format.block_bytes()) {
        for at in fields {
            block[*at..*at + 2].copy_from_slice(&half::f16::from_f32(0.01).to_bits().to_le_bytes());
        }
    }
    QuantMatrix::new(format, bytes, n_out, k).unwrap()
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
    let act: Vec<f32> = (0..k).map(|i| (i % 17) as f32 / 9.0 - 0.9).collect();
    let acts: Vec<f32> = act.iter().cycle().take(4 * k).copied().collect();
    for format in [
        WeightFormat::Q4_0,
        WeightFormat::Q4_1,
        WeightFormat::Q8_0,
        WeightFormat::Q4K,
        WeightFormat::Q6K,
    ] {
        let m = weights(format, n_out, k);
        let size = m.bytes().len();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(
            format!("{format:?} matrix x 1 row ({} MB of weights)", size >> 20),
            |b| b.iter(|| black_box(m.matmul(&act, 1).unwrap())),
        );
        if format == WeightFormat::Q4_1 {
            group.bench_function("Q4_1 matrix x 4 rows (one weight pass)", |b| {
                b.iter(|| black_box(m.matmul(&acts, 4).unwrap()))
            });
        }
    }
    // A small model's projection (SmolLM2's 576 × 576): per-call costs
    // (quantizing the row, handing work to the threads) show here.
    let small = weights(WeightFormat::Q4_1, 576, 576);
    let row: Vec<f32> = act.iter().take(576).copied().collect();
    group.throughput(Throughput::Bytes(small.bytes().len() as u64));
    group.bench_function("Q4_1 576x576 x 1 row (per-call overhead)", |b| {
        b.iter(|| black_box(small.matmul(&row, 1).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
