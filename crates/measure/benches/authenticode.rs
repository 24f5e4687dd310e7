//! Authenticode SHA-256 of a 50 MB PE image (the shared stub-252 UKI grown
//! with a 41 MB section). Run with `cargo bench -p blindfold-measure`.
#![allow(missing_docs, clippy::unwrap_used)]

use blindfold_crypto::HashAlg;
use blindfold_measure::{build_uki, pe::authenticode};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let uki = std::fs::read(blindfold_testdata::shared("local-ovmf-boot/stub252/uki.efi")).unwrap();
    let filler: Vec<u8> = (0..41u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let image = build_uki(&uki, &[(".filler", &filler)]).unwrap();
    let mut g = c.benchmark_group("authenticode");
    g.throughput(Throughput::Bytes(image.len() as u64));
    g.sample_size(20);
    g.bench_function(format!("sha256_{}MB", image.len() >> 20), |b| {
        b.iter(|| authenticode(&image, HashAlg::Sha256).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
