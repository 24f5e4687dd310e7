//! Wrapped data keys: kept under the KEK in the store, never in the clear,
//! and useless in another model's slot or under another KEK.
#![allow(clippy::unwrap_used, missing_docs)]

use blindfold_crypto::AeadKey;
use blindfold_kbs::{unwrap_key, wrap_key, Error, Kek, KeyStore};
use blindfold_model_store::ModelStore;

#[tokio::test]
async fn a_kept_key_comes_back_and_is_not_in_the_store_in_the_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ModelStore::open(&format!("file://{}", tmp.path().display())).unwrap();
    let (kek, _) = Kek::generate().unwrap();
    let keys = KeyStore::new(store, kek);
    let data_key = AeadKey::from_bytes([0x42; 32]);
    let key_id = "00112233445566778899aabbccddeeff";
    keys.put("smollm2", key_id, &data_key).await.unwrap();
    assert_eq!(
        keys.get("smollm2", key_id).await.unwrap().expose(),
        data_key.expose()
    );
    let stored = std::fs::read(tmp.path().join("kbs/keys/smollm2").join(key_id)).unwrap();
    assert!(!stored.windows(32).any(|w| w == [0x42; 32]));
    assert!(!String::from_utf8_lossy(&stored).contains(&"42".repeat(32)));
    assert!(matches!(
        keys.get("smollm2", "ffffffffffffffffffffffffffffffff").await,
        Err(Error::NoKey { .. })
    ));
}

#[test]
fn a_key_moved_to_another_slot_or_under_another_kek_does_not_unwrap() {
    let (kek, _) = Kek::generate().unwrap();
    let key = AeadKey::from_bytes([7; 32]);
    let wrapped = wrap_key(&kek, "model-a", "aa", &key).unwrap();
    assert_eq!(
        unwrap_key(&kek, &wrapped, "model-a", "aa").unwrap().expose(),
        &[7; 32]
    );
    // Copied into model-b's slot as is: its own names give it away.
    assert!(matches!(
        unwrap_key(&kek, &wrapped, "model-b", "aa"),
        Err(Error::OtherSlot { .. })
    ));
    // Copied and relabelled to fit the slot: the associated data does not.
    let mut relabelled = wrapped.clone();
    relabelled.model = "model-b".into();
    assert!(matches!(
        unwrap_key(&kek, &relabelled, "model-b", "aa"),
        Err(Error::Unwrap { .. })
    ));
    let mut other_id = wrapped.clone();
    other_id.key_id = "bb".into();
    assert!(matches!(
        unwrap_key(&kek, &other_id, "model-a", "bb"),
        Err(Error::Unwrap { .. })
    ));
    let (other_kek, _) = Kek::generate().unwrap();
    assert!(matches!(
        unwrap_key(&other_kek, &wrapped, "model-a", "aa"),
        Err(Error::Unwrap { .. })
    ));
}

#[test]
fn a_kek_file_is_64_hex_digits() {
    let (_, text) = Kek::generate().unwrap();
    assert_eq!(text.trim().len(), 64);
    assert!(Kek::parse(text.as_bytes()).is_ok());
    for bad in ["", "abc", &"zz".repeat(32), &"00".repeat(31)] {
        assert!(
            matches!(Kek::parse(bad.as_bytes()), Err(Error::KekFormat)),
            "{bad}"
        );
    }
}
