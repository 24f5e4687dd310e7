//! The shared quotes verify, and each fails with its specific error when one
//! bit of the message, the signature, a PCR value or the nonce changes.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
use std::path::Path;

use base64::Engine as _;
use blindfold_crypto::{CryptoError, Digest, HashAlg, PublicKey};
use blindfold_tpm::{
    parse_tpm2_tools_pcrs, AttestationKey, Error, Freshness, PcrIndex, PcrValues, QuoteVerifier, TpmPublic,
    TpmSignature,
};
use serde_json::Value;

use blindfold_testdata::shared_dir as shared;

/// One sample, in the shapes the verifier takes.
struct Sample {
    name: &'static str,
    ak: AttestationKey,
    message: Vec<u8>,
    signature: TpmSignature,
    pcrs: PcrValues,
    nonce: Vec<u8>,
}

fn keylime() -> Sample {
    let d = shared().join("tpm2-quotes/keylime-swtpm-quote");
    let read = |f: &str| std::fs::read(d.join(f)).unwrap();
    let public = TpmPublic::parse_tpm2b(&read("ak.pub")).unwrap();
    let expected: Value = serde_json::from_slice(&read("expected.json")).unwrap();
    // The AK name file is nameAlg || H(TPMT_PUBLIC) (tpm2-tools writes it raw).
    assert_eq!(public.name(blindfold_crypto::default_provider()), read("ak.name"));
    // The PEM and the TPM2B_PUBLIC are the same key.
    let pem = PublicKey::from_spki_pem(std::str::from_utf8(&read("akpub.pem")).unwrap()).unwrap();
    assert_eq!(pem, public.key);
    let (_, pcrs) = parse_tpm2_tools_pcrs(&read("quotepcr.out")).unwrap();
    for (i, v) in expected["pcrs_sha256"].as_object().unwrap() {
        let got = pcrs.get(HashAlg::Sha256, PcrIndex(i.parse().unwrap())).unwrap();
        assert_eq!(got.to_hex(), v.as_str().unwrap());
    }
    Sample {
        name: "keylime",
        ak: AttestationKey::from_tpm_public(&public).unwrap(),
        message: read("quote.out"),
        signature: TpmSignature::parse(&read("quotesig.out")).unwrap(),
        pcrs,
        nonce: hex::decode(expected["nonce_extraData_hex"].as_str().unwrap()).unwrap(),
    }
}

fn trustee() -> Sample {
    let d = shared().join("tpm2-quotes/trustee-tpm-evidence");
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(d.join("tpm_evidence.json")).unwrap()).unwrap();
    let expected: Value = serde_json::from_slice(&std::fs::read(d.join("expected.json")).unwrap()).unwrap();
    let b64 = |v: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let key = PublicKey::from_spki_der(&b64(&evidence["ak_public"])).unwrap();
    let mut pcrs = PcrValues::new();
    for (i, v) in evidence["tpm_quote"]["pcrs"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let bytes = hex::decode(v.as_str().unwrap()).unwrap();
        pcrs.insert(PcrIndex(i as u32), Digest::new(HashAlg::Sha256, &bytes).unwrap());
    }
    Sample {
        name: "trustee",
        ak: AttestationKey::from_public_key(key),
        message: b64(&evidence["tpm_quote"]["message"]),
        signature: TpmSignature::parse(&b64(&evidence["tpm_quote"]["signature"])).unwrap(),
        pcrs,
        nonce: hex::decode(expected["nonce_extraData_hex"].as_str().unwrap()).unwrap(),
    }
}

fn azure_snp() -> Sample {
    let d = shared().join("azure-vtpm/azure-cvm-tooling-snp");
    let read = |f: &str| std::fs::read(d.join(f)).unwrap();
    let key = PublicKey::from_spki_pem(std::str::from_utf8(&read("akpub.pem")).unwrap()).unwrap();
    // quote.bin: bincode {signature, message, pcrs: Vec<[u8; 32]>}, u64 LE lengths.
    let bin = read("quote.bin");
    let mut at = 0;
    let mut next = |n: usize| {
        let s = &bin[at..at + n];
        at += n;
        s
    };
    let len = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap()) as usize;
    let sig_len = len(next(8));
    let sig = next(sig_len).to_vec();
    let msg_len = len(next(8));
    let msg = next(msg_len).to_vec();
    let count = len(next(8));
    let mut pcrs = PcrValues::new();
    for i in 0..count {
        pcrs.insert(
            PcrIndex(i as u32),
            Digest::new(HashAlg::Sha256, next(32)).unwrap(),
        );
    }
    assert_eq!(msg, read("quote.msg.TPMS_ATTEST.bin"));
    assert_eq!(sig, read("quote.sig.rsassa-sha256.raw"));
    let expected: Value = serde_json::from_slice(&read("expected.json")).unwrap();
    Sample {
        name: "azure-cvm-tooling-snp",
        signature: TpmSignature::raw(&key, &sig, None).unwrap(),
        ak: AttestationKey::from_public_key(key),
        message: msg,
        pcrs,
        nonce: hex::decode(expected["nonce_extraData_hex"].as_str().unwrap()).unwrap(),
    }
}

fn samples() -> Vec<Sample> {
    vec![keylime(), trustee(), azure_snp()]
}

fn verify(
    s: &Sample,
    message: &[u8],
    signature: &TpmSignature,
    pcrs: &PcrValues,
    nonce: &[u8],
) -> Result<(), Error> {
    QuoteVerifier::new(s.ak.clone())
        .verify(message, signature, pcrs, &Freshness::Nonce(nonce.to_vec()))
        .map(|_| ())
}

#[test]
fn shared_quotes_verify() {
    for s in samples() {
        let v = QuoteVerifier::new(s.ak.clone())
            .verify(
                &s.message,
                &s.signature,
                &s.pcrs,
                &Freshness::Nonce(s.nonce.clone()),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert!(v.freshness_checked());
        assert_eq!(v.attest().extra_data, s.nonce);
        assert!(!v.pcrs().is_empty());
    }
}

#[test]
fn keylime_fields_match_expected() {
    let s = keylime();
    let v = QuoteVerifier::new(s.ak.clone())
        .verify(
            &s.message,
            &s.signature,
            &s.pcrs,
            &Freshness::Nonce(s.nonce.clone()),
        )
        .unwrap();
    assert_eq!(v.attest().clock_info.clock, 5994);
    assert_eq!(v.attest().pcr_select.to_string(), "sha256:15,16,22");
    assert_eq!(
        hex::encode(&v.attest().pcr_digest),
        "ec1636c69c548fd09a165a4f874e5d1610a8fbe36241566017e92b17e144b971"
    );
}

#[test]
fn a_flipped_message_bit_breaks_the_signature() {
    for s in samples() {
        for pos in [0, s.message.len() / 2, s.message.len() - 1] {
            let mut m = s.message.clone();
            m[pos] ^= 0x80;
            let err = verify(&s, &m, &s.signature, &s.pcrs, &s.nonce).unwrap_err();
            assert!(
                matches!(err, Error::BadSignature(CryptoError::BadSignature { .. })),
                "{} byte {pos}: {err:?}",
                s.name
            );
        }
    }
}

#[test]
fn a_flipped_signature_bit_breaks_the_signature() {
    for s in samples() {
        let mut sig = s.signature.clone();
        match &mut sig.signature {
            blindfold_crypto::Signature::Rsa(b) => b[10] ^= 0x01,
            blindfold_crypto::Signature::Ecdsa { r, .. } => r[10] ^= 0x01,
        }
        let err = verify(&s, &s.message, &sig, &s.pcrs, &s.nonce).unwrap_err();
        assert!(matches!(err, Error::BadSignature(_)), "{}: {err:?}", s.name);
    }
}

#[test]
fn a_flipped_pcr_bit_breaks_the_pcr_digest() {
    for s in samples() {
        let (bank, values) = s.pcrs.banks().next().unwrap();
        let (index, value) = values.iter().next_back().unwrap();
        let mut bytes = value.as_bytes().to_vec();
        bytes[0] ^= 0x01;
        let mut pcrs = s.pcrs.clone();
        pcrs.insert(*index, Digest::new(bank, &bytes).unwrap());
        let err = verify(&s, &s.message, &s.signature, &pcrs, &s.nonce).unwrap_err();
        assert!(
            matches!(err, Error::PcrDigestMismatch { .. }),
            "{}: {err:?}",
            s.name
        );
    }
}

#[test]
fn a_missing_pcr_value_is_named() {
    let s = keylime();
    let mut pcrs = PcrValues::new();
    for (_, values) in s.pcrs.banks() {
        for (i, v) in values {
            if i.0 != 16 {
                pcrs.insert(*i, *v);
            }
        }
    }
    let err = verify(&s, &s.message, &s.signature, &pcrs, &s.nonce).unwrap_err();
    assert_eq!(
        err,
        Error::PcrValueMissing {
            bank: HashAlg::Sha256,
            index: PcrIndex(16)
        }
    );
}

#[test]
fn a_flipped_nonce_bit_is_rejected() {
    for s in samples() {
        let mut nonce = s.nonce.clone();
        nonce[0] ^= 0x01;
        let err = verify(&s, &s.message, &s.signature, &s.pcrs, &nonce).unwrap_err();
        assert!(matches!(err, Error::NonceMismatch { .. }), "{}: {err:?}", s.name);
        // A nonce that is a prefix of extraData is not extraData either.
        let err = verify(
            &s,
            &s.message,
            &s.signature,
            &s.pcrs,
            &s.nonce[..s.nonce.len() - 1],
        )
        .unwrap_err();
        assert!(matches!(err, Error::NonceMismatch { .. }), "{}: {err:?}", s.name);
    }
}

#[test]
fn the_upstream_wrong_nonce_is_rejected() {
    let s = azure_snp();
    let err = verify(&s, &s.message, &s.signature, &s.pcrs, &[1, 2, 3, 4]).unwrap_err();
    assert!(matches!(err, Error::NonceMismatch { .. }));
}

#[test]
fn no_freshness_is_reported() {
    let s = keylime();
    let v = QuoteVerifier::new(s.ak.clone())
        .verify(&s.message, &s.signature, &s.pcrs, &Freshness::DangerNotChecked)
        .unwrap();
    assert!(!v.freshness_checked());
}

#[test]
fn another_key_does_not_verify() {
    let s = keylime();
    let other = trustee();
    let err = QuoteVerifier::new(other.ak)
        .verify(
            &s.message,
            &s.signature,
            &s.pcrs,
            &Freshness::Nonce(s.nonce.clone()),
        )
        .unwrap_err();
    assert!(matches!(err, Error::BadSignature(_)), "{err:?}");
}

#[test]
fn a_signature_scheme_other_than_the_aks_is_refused() {
    let s = keylime();
    let mut sig = s.signature.clone();
    sig.scheme = blindfold_crypto::SignatureScheme::RsaPss(HashAlg::Sha256);
    let err = verify(&s, &s.message, &sig, &s.pcrs, &s.nonce).unwrap_err();
    assert!(matches!(err, Error::SchemeMismatch { .. }), "{err:?}");
}

#[test]
fn sha1_signatures_are_refused_unless_allowed() {
    let s = azure_snp();
    let key = s.ak.public_key().clone();
    let sig = TpmSignature::raw(
        &key,
        match &s.signature.signature {
            blindfold_crypto::Signature::Rsa(b) => b,
            _ => unreachable!(),
        },
        Some(blindfold_crypto::SignatureScheme::RsaPkcs1v15(HashAlg::Sha1)),
    )
    .unwrap();
    let err = verify(&s, &s.message, &sig, &s.pcrs, &s.nonce).unwrap_err();
    assert_eq!(err, Error::Sha1Refused);
    // Allowed, it is checked (and this SHA-256 signature does not verify as SHA-1).
    let err = QuoteVerifier::new(s.ak.clone())
        .danger_allow_sha1()
        .verify(&s.message, &sig, &s.pcrs, &Freshness::Nonce(s.nonce.clone()))
        .unwrap_err();
    assert!(matches!(err, Error::BadSignature(_)));
}

#[test]
fn a_non_restricted_key_is_not_an_ak() {
    let d = shared().join("tpm2-quotes/keylime-swtpm-quote");
    let mut bytes = std::fs::read(d.join("ak.pub")).unwrap();
    // TPM2B size (2) + type (2) + nameAlg (2) = offset of objectAttributes; clear `restricted` (bit 16).
    bytes[2 + 4 + 1] &= !0x01;
    let public = TpmPublic::parse_tpm2b(&bytes).unwrap();
    let err = AttestationKey::from_tpm_public(&public).unwrap_err();
    assert!(matches!(err, Error::AkNotRestrictedSigningKey { .. }), "{err:?}");
}

#[test]
fn a_quote_with_another_magic_or_type_is_not_a_quote() {
    // Parsing alone (the signature check comes first in `verify`).
    let s = keylime();
    let mut m = s.message.clone();
    m[0] = 0;
    assert!(matches!(
        blindfold_tpm::QuoteAttest::parse(&m),
        Err(Error::NotTpmGenerated { .. })
    ));
    let mut m = s.message.clone();
    m[5] = 0x17; // TPM_ST_ATTEST_CERTIFY
    assert!(matches!(
        blindfold_tpm::QuoteAttest::parse(&m),
        Err(Error::NotAQuote { actual: 0x8017 })
    ));
    let mut m = s.message.clone();
    m.push(0);
    assert!(matches!(
        blindfold_tpm::QuoteAttest::parse(&m),
        Err(Error::Wire(blindfold_tpm::WireError::TrailingBytes {
            count: 1,
            ..
        }))
    ));
}

fn swtpm_p256() -> Sample {
    let d = Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("testdata/swtpm-p256-quote");
    let read = |f: &str| std::fs::read(d.join(f)).unwrap();
    let public = TpmPublic::parse_tpm2b(&read("ak.pub")).unwrap();
    let (_, pcrs) = parse_tpm2_tools_pcrs(&read("pcrs")).unwrap();
    Sample {
        name: "swtpm-p256",
        ak: AttestationKey::from_tpm_public(&public).unwrap(),
        message: read("msg"),
        signature: TpmSignature::parse(&read("sig")).unwrap(),
        pcrs,
        nonce: hex::decode(String::from_utf8(read("nonce.hex")).unwrap().trim()).unwrap(),
    }
}

#[test]
fn both_crypto_providers_agree_on_good_and_tampered_quotes() {
    let mut all = samples();
    all.push(swtpm_p256());
    for s in all {
        for provider in blindfold_crypto::all_providers() {
            let verifier = QuoteVerifier::new(s.ak.clone()).with_provider(provider);
            let fresh = Freshness::Nonce(s.nonce.clone());
            verifier
                .verify(&s.message, &s.signature, &s.pcrs, &fresh)
                .unwrap_or_else(|e| panic!("{} with {provider:?}: {e}", s.name));
            let mut m = s.message.clone();
            m[7] ^= 0x04;
            let err = verifier.verify(&m, &s.signature, &s.pcrs, &fresh).unwrap_err();
            assert!(
                matches!(err, Error::BadSignature(_)),
                "{} with {provider:?}: {err:?}",
                s.name
            );
        }
    }
}

#[test]
fn an_rsaes_key_parses_with_no_signing_scheme() {
    // TPMT_PUBLIC: RSA, SHA-256, attributes (decrypt), empty policy,
    // symmetric NULL, scheme RSAES (no details), 2048 bits, exponent 0, modulus.
    let mut b = vec![
        0x00, 0x01, 0x00, 0x0B, 0x00, 0x02, 0x00, 0x72, 0x00, 0x00, 0x00, 0x10, 0x00, 0x15, 0x08, 0x00, 0, 0,
        0, 0,
    ];
    b.extend_from_slice(&256u16.to_be_bytes());
    b.extend_from_slice(&[0xC3; 256]);
    let p = TpmPublic::parse_tpmt(&b).unwrap();
    assert_eq!(p.scheme, None);
    assert_eq!(p.key.bits(), 2048);
}
