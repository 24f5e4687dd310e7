//! Property tests: every parser returns an error, never a panic, on
//! truncated, extended and random input.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
use blindfold_crypto::{EccCurve, PublicKey};
use blindfold_tpm::{parse_tpm2_tools_pcrs, QuoteAttest, TpmPublic, TpmSignature};
use proptest::prelude::*;

fn keylime(f: &str) -> Vec<u8> {
    std::fs::read(blindfold_testdata::shared("tpm2-quotes/keylime-swtpm-quote").join(f)).unwrap()
}

fn all_parsers(bytes: &[u8]) {
    let _ = QuoteAttest::parse(bytes);
    let _ = TpmPublic::parse_tpm2b(bytes);
    let _ = TpmPublic::parse_tpmt(bytes);
    let _ = TpmSignature::parse(bytes);
    let _ = parse_tpm2_tools_pcrs(bytes);
    let _ = PublicKey::from_spki_der(bytes);
    let ecc = PublicKey::ecc(EccCurve::NistP256, &[1; 32], &[2; 32]).unwrap();
    let _ = TpmSignature::raw(&ecc, bytes, None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        all_parsers(&bytes);
    }

    #[test]
    fn truncated_and_extended_real_structures(cut in 0usize..700, extra in proptest::collection::vec(any::<u8>(), 1..16)) {
        for (file, parse) in [
            ("quote.out", (|b: &[u8]| QuoteAttest::parse(b).is_ok()) as fn(&[u8]) -> bool),
            ("quotesig.out", |b: &[u8]| TpmSignature::parse(b).is_ok()),
            ("ak.pub", |b: &[u8]| TpmPublic::parse_tpm2b(b).is_ok()),
            ("quotepcr.out", |b: &[u8]| parse_tpm2_tools_pcrs(b).is_ok()),
        ] {
            let whole = keylime(file);
            prop_assert!(parse(&whole), "{} must parse", file);
            let cut = cut % whole.len();
            prop_assert!(!parse(&whole[..cut]), "{} truncated to {} parsed", file, cut);
            let mut longer = whole.clone();
            longer.extend_from_slice(&extra);
            prop_assert!(!parse(&longer), "{} with {} trailing bytes parsed", file, extra.len());
        }
    }

    #[test]
    fn mutated_real_structures(pos in 0usize..700, byte in any::<u8>()) {
        for file in ["quote.out", "quotesig.out", "ak.pub", "quotepcr.out"] {
            let mut b = keylime(file);
            let at = pos % b.len();
            b[at] = byte;
            all_parsers(&b);
        }
    }
}
