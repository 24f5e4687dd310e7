//! KMS's `CiphertextForRecipient` opened in Rust, against envelopes made by
//! OpenSSL with KMS's parameters (`openssl cms -encrypt -stream`: BER with
//! indefinite lengths and the content in pieces; and DER without
//! `-stream`); every other algorithm, another key, an altered ciphertext
//! and broken BER are refused with their own error.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use blindfold_kms_recipient::{open_for_recipient, Error, RecipientKey};
use common::*;

#[test]
fn a_streamed_ber_envelope_with_kms_parameters_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let key = recipient(d, "enclave");
    // A data key, and a payload large enough that OpenSSL streams it in
    // many pieces.
    for data in [vec![0x5a; 32], (0..100_000u32).map(|i| (i * 7) as u8).collect()] {
        let mut opts = vec!["-stream", "-aes-256-cbc"];
        opts.extend_from_slice(&OAEP_SHA256);
        let ber = envelope(d, &data, "enclave", &opts);
        assert_eq!(ber[1], 0x80, "OpenSSL's -stream output has indefinite lengths");
        assert_eq!(
            open_for_recipient(&ber, &key).unwrap().as_slice(),
            data.as_slice()
        );
    }
    // The same without -stream: DER, read as it is.
    let mut opts = vec!["-aes-256-cbc"];
    opts.extend_from_slice(&OAEP_SHA256);
    let der = envelope(d, &[1, 2, 3], "enclave", &opts);
    assert_ne!(der[1], 0x80);
    assert_eq!(open_for_recipient(&der, &key).unwrap().as_slice(), &[1, 2, 3]);
}

#[test]
fn other_algorithms_keys_and_altered_envelopes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let key = recipient(d, "enclave");
    let err = |env: &[u8], key: &RecipientKey| open_for_recipient(env, key).unwrap_err();

    // PKCS#1 v1.5 key transport (OpenSSL's default).
    let e = err(
        &envelope(d, &[0; 32], "enclave", &["-stream", "-aes-256-cbc"]),
        &key,
    );
    assert!(matches!(e, Error::Algorithm(_)), "{e}");
    assert!(
        e.to_string().contains("key transport is 1.2.840.113549.1.1.1"),
        "{e}"
    );
    // OAEP with SHA-1 (the parameters' defaults).
    let e = err(
        &envelope(
            d,
            &[0; 32],
            "enclave",
            &["-stream", "-aes-256-cbc", "-keyopt", "rsa_padding_mode:oaep"],
        ),
        &key,
    );
    assert!(
        e.to_string().contains("SHA-1") || e.to_string().contains("1.3.14.3.2.26"),
        "{e}"
    );
    // AES-128-CBC content.
    let mut opts = vec!["-stream", "-aes-128-cbc"];
    opts.extend_from_slice(&OAEP_SHA256);
    let e = err(&envelope(d, &[0; 32], "enclave", &opts), &key);
    assert!(
        e.to_string()
            .contains("content encryption is 2.16.840.1.101.3.4.1.2,"),
        "{e}"
    );

    // Sealed to another enclave's key.
    let _other = recipient(d, "other");
    let mut opts = vec!["-aes-256-cbc"];
    opts.extend_from_slice(&OAEP_SHA256);
    let e = err(&envelope(d, &[0; 32], "other", &opts), &key);
    assert!(matches!(e, Error::KeyTransport), "{e}");

    // One bit of the second-to-last ciphertext block flipped: the last
    // plaintext byte (padding 16) becomes 17, which is no padding.
    let mut der = envelope(d, &[0; 32], "enclave", &opts);
    let at = der.len() - 17;
    der[at] ^= 1;
    assert!(matches!(err(&der, &key), Error::Padding));

    // Broken BER: cut short, and junk.
    let mut opts = vec!["-stream", "-aes-256-cbc"];
    opts.extend_from_slice(&OAEP_SHA256);
    let ber = envelope(d, &[0; 32], "enclave", &opts);
    assert!(matches!(err(&ber[..ber.len() - 3], &key), Error::Ber(_)));
    assert!(matches!(
        err(b"not BER", &key),
        Error::Ber(_) | Error::Envelope(_)
    ));
}

#[test]
fn the_recipient_key_made_inside_is_rsa_2048_with_an_spki() {
    let key = RecipientKey::generate().unwrap();
    let spki = key.public_key_der().unwrap();
    // SEQUENCE { AlgorithmIdentifier rsaEncryption, BIT STRING }: 294 bytes for 2048 bits.
    assert_eq!(spki.len(), 294);
}
