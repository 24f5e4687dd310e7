//! Sealing round-trips, and every way of tampering with a sealed model
//! fails with an error that names what (and which chunk) is wrong.
#![allow(clippy::unwrap_used, missing_docs)]

use blindfold_crypto::AeadKey;
use blindfold_sealed::{Error, Opener, SealedManifest, Sealer};
use proptest::prelude::*;

/// Seals `data` in chunks of `chunk`: the manifest, the sealed chunks, the key.
fn seal(name: &str, data: &[u8], chunk: u64) -> (SealedManifest, Vec<Vec<u8>>, AeadKey) {
    let mut sealer = Sealer::new(name, data.len() as u64, chunk).unwrap();
    let mut chunks = Vec::new();
    let mut at = 0usize;
    while sealer.next_chunk_len() > 0 || chunks.is_empty() {
        let len = sealer.next_chunk_len() as usize;
        let mut buf = data[at..at + len].to_vec();
        at += len;
        sealer.seal_next(&mut buf).unwrap();
        chunks.push(buf);
        if sealer.next_chunk_len() == 0 {
            break;
        }
    }
    let (manifest, key) = sealer.finish().unwrap();
    (manifest, chunks, key)
}

/// Opens chunks in the order given; the plaintext, or the first error.
fn open(manifest: &SealedManifest, chunks: &[Vec<u8>], key: &AeadKey, name: &str) -> Result<Vec<u8>, Error> {
    let mut opener = Opener::new(manifest, key.clone(), name)?;
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let mut buf = c.clone();
        opener.open_next(i as u64, &mut buf)?;
        out.extend(buf);
    }
    opener.finish()?;
    Ok(out)
}

fn model() -> Vec<u8> {
    (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect()
}

#[test]
fn a_sealed_model_opens_to_its_bytes_and_hides_them() {
    let data = model();
    let (manifest, chunks, key) = seal("m", &data, 4096);
    assert_eq!(manifest.manifest.chunk_count, 10);
    assert_eq!(chunks.len(), 10);
    assert_eq!(chunks[9].len(), 40_000 - 9 * 4096 + 16);
    assert_eq!(open(&manifest, &chunks, &key, "m").unwrap(), data);
    // No chunk carries a run of the plaintext.
    let joined: Vec<u8> = chunks.concat();
    assert!(!joined.windows(16).any(|w| w == &data[4096..4112]));
    // The stored manifest reads back the same.
    assert_eq!(SealedManifest::parse(&manifest.to_bytes()).unwrap(), manifest);
}

#[test]
fn an_empty_model_is_one_empty_last_chunk() {
    let (manifest, chunks, key) = seal("empty", &[], 4096);
    assert_eq!(manifest.manifest.chunk_count, 1);
    assert_eq!(open(&manifest, &chunks, &key, "empty").unwrap(), Vec::<u8>::new());
}

fn chunk_error(r: Result<Vec<u8>, Error>) -> (u64, String) {
    match r {
        Err(Error::Chunk { index, reason }) => (index, reason),
        other => panic!("expected a chunk error, got {other:?}"),
    }
}

#[test]
fn a_flipped_bit_is_found_in_its_chunk() {
    let (manifest, mut chunks, key) = seal("m", &model(), 4096);
    chunks[3][100] ^= 1;
    let (index, reason) = chunk_error(open(&manifest, &chunks, &key, "m"));
    assert_eq!(index, 3);
    assert!(reason.contains("does not authenticate"), "{reason}");
}

#[test]
fn reordered_duplicated_and_dropped_chunks_are_refused() {
    let (manifest, chunks, key) = seal("m", &model(), 4096);
    let mut reordered = chunks.clone();
    reordered.swap(2, 5);
    assert_eq!(chunk_error(open(&manifest, &reordered, &key, "m")).0, 2);
    let mut duplicated = chunks.clone();
    duplicated[4] = duplicated[3].clone();
    assert_eq!(chunk_error(open(&manifest, &duplicated, &key, "m")).0, 4);
    let mut dropped = chunks.clone();
    dropped.remove(6);
    assert_eq!(chunk_error(open(&manifest, &dropped, &key, "m")).0, 6);
}

#[test]
fn a_truncated_model_is_refused() {
    let (manifest, chunks, key) = seal("m", &model(), 4096);
    // The last chunk dropped: every remaining chunk authenticates, the
    // count does not.
    match open(&manifest, &chunks[..9], &key, "m") {
        Err(Error::Truncated { got: 9, expected: 10 }) => {}
        other => panic!("{other:?}"),
    }
    // The last chunk cut short.
    let mut cut = chunks.clone();
    cut[9].truncate(100);
    let (index, reason) = chunk_error(open(&manifest, &cut, &key, "m"));
    assert_eq!(index, 9);
    assert!(reason.contains("bytes, expected"), "{reason}");
    // A non-last chunk presented as the last (the manifest edited to end there).
    let mut shorter = manifest.clone();
    shorter.manifest.chunk_count = 9;
    shorter.manifest.plaintext_size = 9 * 4096;
    assert!(matches!(
        open(&shorter, &chunks[..9], &key, "m"),
        Err(Error::ManifestTag)
    ));
}

#[test]
fn another_models_manifest_or_key_is_refused() {
    let (manifest, chunks, key) = seal("m", &model(), 4096);
    let (other_manifest, other_chunks, other_key) = seal("m", &model(), 4096);
    // Another sealing's manifest (same name, another key) under this key.
    assert!(matches!(
        open(&other_manifest, &chunks, &key, "m"),
        Err(Error::ManifestTag)
    ));
    // Its chunks under this manifest and key: the first one fails.
    assert_eq!(chunk_error(open(&manifest, &other_chunks, &key, "m")).0, 0);
    // The right manifest and chunks with another key.
    assert!(matches!(
        open(&manifest, &chunks, &other_key, "m"),
        Err(Error::ManifestTag)
    ));
    // A manifest that authenticates but names another model.
    match open(&manifest, &chunks, &key, "n") {
        Err(Error::OtherModel { expected, got }) => assert_eq!((expected.as_str(), got.as_str()), ("n", "m")),
        other => panic!("{other:?}"),
    }
    // An edited digest does not authenticate.
    let mut edited = manifest.clone();
    edited.manifest.plaintext_sha256 = "00".repeat(32);
    assert!(matches!(
        open(&edited, &chunks, &key, "m"),
        Err(Error::ManifestTag)
    ));
}

#[test]
fn the_sealer_refuses_input_that_changed_size() {
    let mut sealer = Sealer::new("m", 10, 4).unwrap();
    let mut buf = vec![0u8; 3];
    assert!(matches!(sealer.seal_next(&mut buf), Err(Error::InputChanged(_))));
    let sealer = Sealer::new("m", 10, 4).unwrap();
    assert!(matches!(sealer.finish(), Err(Error::InputChanged(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn any_model_round_trips(data in proptest::collection::vec(any::<u8>(), 0..3000), chunk in 1u64..700) {
        let (manifest, chunks, key) = seal("p", &data, chunk);
        prop_assert_eq!(open(&manifest, &chunks, &key, "p").unwrap(), data);
    }
}
