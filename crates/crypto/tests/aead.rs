//! AES-256-GCM in both providers: the published test vector (McGrew and
//! Viega's GCM specification, test case 16), each provider opening the
//! other's output, and tampering refused.
#![allow(clippy::unwrap_used, missing_docs)]

use blindfold_crypto::{all_providers, AeadKey, CryptoError};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

const KEY: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const IV: &str = "cafebabefacedbaddecaf888";
const PLAIN: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const SEALED: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f66276fc6ece0f4e1768cddf8853bb2d551b";

fn key() -> AeadKey {
    AeadKey::from_bytes(h(KEY).try_into().unwrap())
}

fn nonce() -> [u8; 12] {
    h(IV).try_into().unwrap()
}

#[test]
fn both_providers_match_the_published_vector_and_each_other() {
    for p in all_providers() {
        let mut buf = h(PLAIN);
        p.aes256gcm_seal(&key(), &nonce(), &h(AAD), &mut buf).unwrap();
        assert_eq!(hex::encode(&buf), SEALED, "{p:?}");
        for q in all_providers() {
            let mut back = buf.clone();
            q.aes256gcm_open(&key(), &nonce(), &h(AAD), &mut back).unwrap();
            assert_eq!(back, h(PLAIN), "{p:?} sealed, {q:?} opened");
        }
    }
}

#[test]
fn tampering_is_refused_and_leaves_no_plaintext() {
    for p in all_providers() {
        for (what, edit) in [("ciphertext", 0usize), ("tag", SEALED.len() / 2 - 1)] {
            let mut buf = h(SEALED);
            buf[edit] ^= 0x80;
            assert_eq!(
                p.aes256gcm_open(&key(), &nonce(), &h(AAD), &mut buf),
                Err(CryptoError::AeadOpen),
                "{p:?}: {what}"
            );
            assert!(buf.is_empty(), "{p:?}: {what}");
        }
        let mut buf = h(SEALED);
        assert_eq!(
            p.aes256gcm_open(&key(), &nonce(), b"other aad", &mut buf),
            Err(CryptoError::AeadOpen)
        );
    }
}

#[test]
fn a_key_is_never_printed() {
    assert_eq!(format!("{:?}", key()), "AeadKey(..)");
}
