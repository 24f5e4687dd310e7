//! Quote verification speed: RSA-2048 (the keylime swtpm sample) and P-256
//! (a swtpm quote in this crate's testdata). Run with `cargo bench -p blindfold-tpm`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use blindfold_tpm::{
    parse_tpm2_tools_pcrs, AttestationKey, Freshness, QuoteVerifier, TpmPublic, TpmSignature,
};
use criterion::{criterion_group, criterion_main, Criterion};

struct Case {
    ak: PathBuf,
    msg: PathBuf,
    sig: PathBuf,
    pcrs: PathBuf,
    nonce: Vec<u8>,
}

fn rsa2048() -> Case {
    let d = blindfold_testdata::shared("tpm2-quotes/keylime-swtpm-quote");
    Case {
        ak: d.join("ak.pub"),
        msg: d.join("quote.out"),
        sig: d.join("quotesig.out"),
        pcrs: d.join("quotepcr.out"),
        nonce: hex::decode("db1db298db6d60e6385b7231743e9c3056a18003").unwrap(),
    }
}

fn p256() -> Case {
    let d = Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("testdata/swtpm-p256-quote");
    Case {
        ak: d.join("ak.pub"),
        msg: d.join("msg"),
        sig: d.join("sig"),
        pcrs: d.join("pcrs"),
        nonce: hex::decode(std::fs::read_to_string(d.join("nonce.hex")).unwrap().trim()).unwrap(),
    }
}

fn bench(c: &mut Criterion) {
    for (name, case) in [("quote_verify_rsa2048", rsa2048()), ("quote_verify_p256", p256())] {
        let public = TpmPublic::parse_tpm2b(&std::fs::read(&case.ak).unwrap()).unwrap();
        let verifier = QuoteVerifier::new(AttestationKey::from_tpm_public(&public).unwrap());
        let msg = std::fs::read(&case.msg).unwrap();
        let sig = TpmSignature::parse(&std::fs::read(&case.sig).unwrap()).unwrap();
        let (_, pcrs) = parse_tpm2_tools_pcrs(&std::fs::read(&case.pcrs).unwrap()).unwrap();
        let freshness = Freshness::Nonce(case.nonce.clone());
        verifier.verify(&msg, &sig, &pcrs, &freshness).unwrap();
        c.bench_function(name, |b| {
            b.iter(|| verifier.verify(&msg, &sig, &pcrs, &freshness).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
