//! The attester's session cryptography: HMAC (RFC 4231 vectors, every
//! provider) and RSA-OAEP encryption that the private key opens only with
//! the same label.
#![allow(clippy::unwrap_used, missing_docs)]

use blindfold_crypto::{all_providers, HashAlg, PublicKey};
use rsa::traits::PublicKeyParts;

#[test]
fn hmac_matches_rfc_4231_in_every_provider() {
    // Test case 2: key "Jefe", data "what do ya want for nothing?".
    let cases = [
        (
            HashAlg::Sha256,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            HashAlg::Sha384,
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
        ),
        (
            HashAlg::Sha512,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ];
    for provider in all_providers() {
        for (alg, expected) in cases {
            let mac = provider.hmac(alg, b"Jefe", &[b"what do ya want ", b"for nothing?"]);
            assert_eq!(mac.to_hex(), expected, "{alg} with {provider:?}");
        }
    }
}

#[test]
fn oaep_opens_with_the_private_key_and_the_same_label_only() {
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    assert_eq!(private.e().to_bytes_be(), vec![1, 0, 1]);
    let public = PublicKey::rsa(&private.n().to_bytes_be(), 65537);
    for provider in all_providers() {
        let sealed = provider
            .rsa_oaep_encrypt(&public, HashAlg::Sha256, b"SECRET\0", b"salt")
            .unwrap();
        assert_eq!(sealed.len(), 256);
        let opened = private
            .decrypt(rsa::Oaep::new_with_label::<sha2::Sha256, _>("SECRET\0"), &sealed)
            .unwrap();
        assert_eq!(opened, b"salt");
        assert!(private
            .decrypt(rsa::Oaep::new_with_label::<sha2::Sha256, _>("OTHER\0"), &sealed)
            .is_err());
    }
    let ecc = PublicKey::ecc(blindfold_crypto::EccCurve::NistP256, &[1; 32], &[2; 32]).unwrap();
    assert!(all_providers()[0]
        .rsa_oaep_encrypt(&ecc, HashAlg::Sha256, b"SECRET\0", b"salt")
        .is_err());
}
