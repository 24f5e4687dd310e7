//! One ECDSA verification per curve, through each provider: the cost that
//! bounds Nitro documents and SEV-SNP reports (P-384) and TDX quotes
//! (P-256). Run with `cargo bench -p blindfold-crypto --bench ecdsa`.
#![allow(missing_docs, clippy::unwrap_used)]

use blindfold_crypto::{all_providers, EccCurve, HashAlg, PublicKey, Signature, SignatureScheme};
use criterion::{criterion_group, criterion_main, Criterion};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
};

fn case(
    alg: &'static ring::signature::EcdsaSigningAlgorithm,
    curve: EccCurve,
    n: usize,
) -> (PublicKey, Signature) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let key = PublicKey::ecc(curve, &point[1..1 + n], &point[1 + n..]).unwrap();
    let sig = pair.sign(&rng, b"attestation document").unwrap();
    let (r, s) = sig.as_ref().split_at(n);
    (
        key,
        Signature::Ecdsa {
            r: r.to_vec(),
            s: s.to_vec(),
        },
    )
}

fn bench(c: &mut Criterion) {
    let cases = [
        (
            "p384_sha384",
            case(&ECDSA_P384_SHA384_FIXED_SIGNING, EccCurve::NistP384, 48),
            HashAlg::Sha384,
        ),
        (
            "p256_sha256",
            case(&ECDSA_P256_SHA256_FIXED_SIGNING, EccCurve::NistP256, 32),
            HashAlg::Sha256,
        ),
    ];
    for (name, (key, sig), hash) in &cases {
        for provider in all_providers() {
            let provider_name = format!("{provider:?}").to_lowercase();
            c.bench_function(&format!("ecdsa_verify_{name}_{provider_name}"), |b| {
                b.iter(|| {
                    provider
                        .verify_signature(key, SignatureScheme::Ecdsa(*hash), b"attestation document", sig)
                        .unwrap()
                })
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
