//! Throughput of the sealing path on one core, for `bench/compare-aead.sh`:
//! AES-256-GCM alone in each provider on CHUNK-byte buffers, then the whole
//! sealer (AES-256-GCM and SHA-256 of the plaintext, no I/O) and opener on
//! TOTAL bytes. Prints `name bytes_per_second` lines.
//!
//!   cargo run --release -p blindfold-sealed --example aead_speed -- CHUNK TOTAL SECONDS
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use blindfold_crypto::{all_providers, AeadKey};
use blindfold_sealed::{Opener, Sealer};

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (chunk, total, seconds) = match args.as_slice() {
        [c, t, s] => (*c, *t, *s),
        _ => (4 << 20, 1 << 30, 3),
    };
    let key = AeadKey::from_bytes([7; 32]);
    for provider in all_providers() {
        let mut buf = vec![0x5a; chunk as usize];
        let mut bytes = 0u64;
        let start = Instant::now();
        let mut i = 0u32;
        while start.elapsed() < Duration::from_secs(seconds) {
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(&i.to_be_bytes());
            i += 1;
            provider.aes256gcm_seal(&key, &nonce, b"", &mut buf).unwrap();
            buf.truncate(chunk as usize);
            bytes += chunk;
        }
        println!(
            "aes-256-gcm-{provider:?} {:.0}",
            bytes as f64 / start.elapsed().as_secs_f64()
        );
    }

    // The whole format: seal then open TOTAL bytes, chunk by chunk.
    let plain = vec![0x5a; chunk as usize];
    let start = Instant::now();
    let mut sealer = Sealer::new("bench", total, chunk).unwrap();
    let mut sealed = Vec::new();
    while sealer.next_chunk_len() > 0 {
        let mut buf = plain[..sealer.next_chunk_len() as usize].to_vec();
        sealer.seal_next(&mut buf).unwrap();
        // Keep only the first few chunks: memory stays flat.
        if sealed.len() < 4 {
            sealed.push(buf);
        }
    }
    let (manifest, key) = sealer.finish().unwrap();
    println!("seal {:.0}", total as f64 / start.elapsed().as_secs_f64());
    let start = Instant::now();
    let count = manifest.manifest.chunk_count;
    let mut opened = 0u64;
    // Opening re-authenticates every chunk; all chunks hold the same
    // plaintext, so open the sealed ones again under a matching manifest.
    let mut small = Sealer::with_key("bench", chunk * sealed.len() as u64, chunk, key.clone()).unwrap();
    let mut copies = Vec::new();
    while small.next_chunk_len() > 0 {
        let mut buf = plain[..small.next_chunk_len() as usize].to_vec();
        small.seal_next(&mut buf).unwrap();
        copies.push(buf);
    }
    let (small_manifest, small_key) = small.finish().unwrap();
    let rounds = (count / copies.len() as u64).max(1);
    for _ in 0..rounds {
        let mut opener = Opener::new(&small_manifest, small_key.clone(), "bench").unwrap();
        for (i, c) in copies.iter().enumerate() {
            let mut buf = c.clone();
            opener.open_next(i as u64, &mut buf).unwrap();
            opened += buf.len() as u64;
        }
        opener.finish().unwrap();
    }
    println!("open {:.0}", opened as f64 / start.elapsed().as_secs_f64());
}
