//! Sealing into a store and reading back, on a directory and on a real
//! S3-compatible server (rclone's, started here on 127.0.0.1 and checking
//! SigV4), and a store tampered with or cut short refused chunk by chunk.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

use blindfold_model_store::{Error, ModelStore};
use blindfold_testdata::s3::{self, S3Server};

const CHUNK: u64 = 1 << 20;

/// A file of `len` pseudo-random bytes with a canary inside.
fn model_file(dir: &Path, len: usize) -> (PathBuf, Vec<u8>) {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut data: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let canary = b"CANARY-weights-9f2c";
    data[1000..1000 + canary.len()].copy_from_slice(canary);
    let path = dir.join("model.gguf");
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

async fn round_trip(store: &ModelStore, dir: &Path) {
    let (path, data) = model_file(dir, 5 * CHUNK as usize + 12345);
    let mut seen = Vec::new();
    let (manifest, key) = store
        .seal_file(&path, "smollm2", CHUNK, &mut |done, total| {
            seen.push((done, total))
        })
        .await
        .unwrap();
    assert_eq!(manifest.manifest.chunk_count, 6);
    assert_eq!(seen.last(), Some(&(data.len() as u64, data.len() as u64)));
    assert_eq!(store.list().await.unwrap(), vec!["smollm2".to_string()]);
    assert_eq!(store.manifest("smollm2").await.unwrap(), manifest);
    let mut out = Vec::new();
    let digest = store
        .open_model("smollm2", key.clone(), &mut |chunk| out.extend_from_slice(chunk))
        .await
        .unwrap();
    assert_eq!(out, data);
    assert_eq!(hex::encode(digest), manifest.manifest.plaintext_sha256);
    // Sealing the same name again is refused; deleting removes it.
    assert!(matches!(
        store.seal_file(&path, "smollm2", CHUNK, &mut |_, _| {}).await,
        Err(Error::Exists { .. })
    ));
    store.delete("smollm2").await.unwrap();
    assert!(store.list().await.unwrap().is_empty());
    assert!(matches!(
        store.manifest("smollm2").await,
        Err(Error::NoSuchModel { .. })
    ));
}

#[tokio::test]
async fn a_directory_store_round_trips_and_never_holds_the_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    let store = ModelStore::open(&format!("file://{}", store_dir.display())).unwrap();
    round_trip(&store, tmp.path()).await;

    let (path, _) = model_file(tmp.path(), 3 * CHUNK as usize);
    store.seal_file(&path, "m", CHUNK, &mut |_, _| {}).await.unwrap();
    for entry in walk(&store_dir) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(19).any(|w| w == b"CANARY-weights-9f2c"),
            "{} holds plaintext",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn a_tampered_or_cut_store_names_the_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    let store = ModelStore::open(&format!("file://{}", store_dir.display())).unwrap();
    let (path, _) = model_file(tmp.path(), 4 * CHUNK as usize);
    let (manifest, key) = store.seal_file(&path, "m", CHUNK, &mut |_, _| {}).await.unwrap();
    let data = store_dir
        .join("models/m")
        .join(format!("{}.sealed", manifest.manifest.key_id));
    let original = std::fs::read(&data).unwrap();
    let open = || async {
        let mut delivered = 0usize;
        let r = store
            .open_model("m", key.clone(), &mut |c| delivered += c.len())
            .await;
        (r, delivered)
    };
    // A bit flipped in chunk 2: chunks 0 and 1 arrive, chunk 2 is named.
    let mut flipped = original.clone();
    flipped[2 * (CHUNK as usize + 16) + 5] ^= 1;
    std::fs::write(&data, &flipped).unwrap();
    match open().await {
        (Err(Error::Sealed(blindfold_sealed::Error::Chunk { index: 2, .. })), delivered) => {
            assert_eq!(delivered, 2 * CHUNK as usize)
        }
        other => panic!("{:?}", other.0),
    }
    // Chunks 1 and 2 swapped.
    let stride = CHUNK as usize + 16;
    let mut swapped = original.clone();
    swapped[stride..2 * stride].copy_from_slice(&original[2 * stride..3 * stride]);
    swapped[2 * stride..3 * stride].copy_from_slice(&original[stride..2 * stride]);
    std::fs::write(&data, &swapped).unwrap();
    assert!(matches!(
        open().await.0,
        Err(Error::Sealed(blindfold_sealed::Error::Chunk { index: 1, .. }))
    ));
    // Cut short inside the last chunk.
    std::fs::write(&data, &original[..original.len() - 100]).unwrap();
    assert!(matches!(
        open().await.0,
        Err(Error::Sealed(blindfold_sealed::Error::Chunk { index: 3, .. }))
    ));
    // The manifest swapped for another model's.
    std::fs::write(&data, &original).unwrap();
    store
        .seal_file(&path, "other", CHUNK, &mut |_, _| {})
        .await
        .unwrap();
    std::fs::copy(
        store_dir.join("models/other/manifest.json"),
        store_dir.join("models/m/manifest.json"),
    )
    .unwrap();
    assert!(matches!(
        open().await.0,
        Err(Error::Sealed(blindfold_sealed::Error::ManifestTag))
    ));
}

#[tokio::test]
async fn an_interrupted_seal_leaves_no_model() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ModelStore::open(&format!("file://{}", tmp.path().join("store").display())).unwrap();
    let (path, _) = model_file(tmp.path(), 4 * CHUNK as usize);
    // The file shrinks after the first chunk: the read fails midway.
    let shrink = path.clone();
    let r = store
        .seal_file(&path, "m", CHUNK, &mut |done, _| {
            if done == CHUNK {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&shrink)
                    .unwrap()
                    .set_len(CHUNK + 10)
                    .unwrap();
            }
        })
        .await;
    assert!(matches!(r, Err(Error::Read { .. })), "{r:?}");
    assert!(store.list().await.unwrap().is_empty());
    assert!(matches!(
        store.manifest("m").await,
        Err(Error::NoSuchModel { .. })
    ));
}

#[tokio::test]
async fn bad_names_and_urls_are_refused() {
    assert!(matches!(ModelStore::open("ftp://x"), Err(Error::Url { .. })));
    assert!(matches!(ModelStore::open("s3://"), Err(Error::Url { .. })));
    let tmp = tempfile::tempdir().unwrap();
    let store = ModelStore::open(&format!("file://{}", tmp.path().display())).unwrap();
    for name in ["", "../x", "A", "a/b", ".hidden", &"a".repeat(65)] {
        assert!(
            matches!(store.manifest(name).await, Err(Error::Name(_))),
            "{name}"
        );
    }
}

// ------------------------------------------------ a real S3-compatible server

fn s3_store(server: &S3Server, secret: &str) -> ModelStore {
    let env = server.env(secret);
    let settings: Vec<(String, &str)> = env.iter().map(|(k, v)| (k.to_lowercase(), v.as_str())).collect();
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    ModelStore::open_with(&format!("s3://{}/owner-a", s3::BUCKET), &settings).unwrap()
}

#[tokio::test]
async fn an_s3_server_round_trips_and_checks_the_signature() {
    let tmp = tempfile::tempdir().unwrap();
    let server = S3Server::start(&tmp.path().join("s3"));
    round_trip(&s3_store(&server, s3::SECRET_ACCESS_KEY), tmp.path()).await;
    // The same requests signed with another secret are refused (SigV4).
    let wrong = s3_store(&server, "not-the-secret");
    assert!(matches!(wrong.list().await, Err(Error::Store { .. })));
}

#[tokio::test]
async fn a_rotated_model_opens_only_under_its_new_key() {
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    let store = ModelStore::open(&format!("file://{}", store_dir.display())).unwrap();
    let (path, data) = model_file(tmp.path(), 3 * CHUNK as usize + 7);
    let (old, old_key) = store.seal_file(&path, "m", CHUNK, &mut |_, _| {}).await.unwrap();
    let (new, new_key, old_id) = store.reseal("m", old_key.clone(), &mut |_, _| {}).await.unwrap();
    assert_eq!(old_id, old.manifest.key_id);
    assert_ne!(new.manifest.key_id, old.manifest.key_id);
    assert_eq!(new.manifest.plaintext_sha256, old.manifest.plaintext_sha256);
    let mut out = Vec::new();
    store
        .open_model("m", new_key, &mut |c| out.extend_from_slice(c))
        .await
        .unwrap();
    assert_eq!(out, data);
    // The old key no longer opens anything, and the old data is gone.
    assert!(matches!(
        store.open_model("m", old_key.clone(), &mut |_| {}).await,
        Err(Error::Sealed(blindfold_sealed::Error::ManifestTag))
    ));
    assert!(!store_dir
        .join("models/m")
        .join(format!("{}.sealed", old.manifest.key_id))
        .exists());
    // Rotating with a wrong key leaves the model as it was.
    assert!(store.reseal("m", old_key, &mut |_, _| {}).await.is_err());
    assert_eq!(store.manifest("m").await.unwrap(), new);
}
