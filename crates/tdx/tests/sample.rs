//! The real Azure TDX quote (trustee az-tdx-vtpm evidence-v0): it verifies
//! under the bundled Intel root with every provider, and each tampering
//! is refused with the variant of the check that catches it.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime};

use blindfold_tdx::{
    Error, IntelRoots, TdQuote, TdxOptions, TdxVerifier, HEADER_LEN, QE_REPORT_LEN, TD_REPORT_BODY_LEN,
};

/// Offsets in the sample (signature data starts after its u32 length).
const SIG_DATA: usize = HEADER_LEN + TD_REPORT_BODY_LEN + 4;
const QUOTE_SIGNATURE: usize = SIG_DATA;
const ATTESTATION_KEY: usize = SIG_DATA + 64;
const QE_REPORT: usize = ATTESTATION_KEY + 64 + 6;
const QE_AUTH_DATA: usize = QE_REPORT + QE_REPORT_LEN + 64 + 2;
const TD_REPORT_DATA: usize = HEADER_LEN + 520;

fn sample() -> Vec<u8> {
    let path = blindfold_testdata::shared("azure-vtpm/trustee-az-tdx-vtpm-v0/evidence-v0.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["td_quote"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| u8::try_from(b.as_u64().unwrap()).unwrap())
        .collect()
}

/// A time inside every certificate of the sample's PCK chain: the PCK
/// certificate's notBefore (2023-09-13T21:00:51Z) plus a day.
fn inside_validity(quote: &[u8]) -> SystemTime {
    let parsed = TdQuote::parse(quote).unwrap();
    parsed.signature_data.pck_chain[0].validity().0 + Duration::from_secs(86400)
}

fn verify(quote: &[u8]) -> Result<blindfold_tdx::VerifiedTdQuote, Error> {
    let at = inside_validity(&sample());
    TdxVerifier::new(IntelRoots::bundled()).verify(quote, at, &TdxOptions::default())
}

fn flipped(offset: usize) -> Vec<u8> {
    let mut q = sample();
    q[offset] ^= 0x01;
    q
}

#[test]
fn real_quote_parses() {
    let q = TdQuote::parse(&sample()).unwrap();
    assert_eq!(q.header.version, 4);
    assert_eq!(q.header.attestation_key_type, 2);
    assert_eq!(q.header.tee_type, 0x81);
    assert_eq!(
        hex::encode(q.header.qe_vendor_id),
        "939a7233f79c4ca9940a0db3957f0607"
    );
    assert!(!q.body.td_attributes.debug());
    assert_eq!(q.signature_data.qe_auth_data.len(), 32);
    assert_eq!(q.signature_data.pck_chain.len(), 3);
    assert!(q.signature_data.pck_chain[0]
        .subject()
        .contains("Intel SGX PCK Certificate"));
    assert_eq!(q.signed_bytes().len(), HEADER_LEN + TD_REPORT_BODY_LEN);
    assert_eq!(q.padding_len(), 70);
}

#[test]
fn real_quote_verifies_with_every_provider() {
    let quote = sample();
    let at = inside_validity(&quote);
    for provider in blindfold_crypto::all_providers() {
        let v = TdxVerifier::new(IntelRoots::bundled())
            .with_provider(provider)
            .verify(&quote, at, &TdxOptions::default())
            .unwrap_or_else(|e| panic!("{provider:?}: {e}"));
        assert!(!v.debug());
        assert!(!v.tcb_status_checked());
        assert_eq!(v.fmspc(), Some([0x00, 0x80, 0x6f, 0x05, 0x00, 0x00]));
        let body = &v.quote().body;
        assert_eq!(
            hex::encode(&body.report_data[..32]),
            "9734504f161d104c74e3165c15f779b06a9bb40dfa71937817d7eee68e593839"
        );
        assert_eq!(body.report_data[32..], [0u8; 32]);
        assert_eq!(body.td_attributes.0, 0);
        assert_ne!(body.mr_td, [0u8; 48]);
        let chain = v.pck_chain();
        assert_eq!(chain.len(), 3);
        assert!(chain[0].subject.contains("Intel SGX PCK Certificate"));
        assert_eq!(chain[2].fingerprint, blindfold_tdx::INTEL_SGX_ROOT_CA_SHA256);
    }
}

#[test]
fn flipped_bit_in_td_report_breaks_the_quote_signature() {
    let e = verify(&flipped(TD_REPORT_DATA)).unwrap_err();
    assert!(matches!(e, Error::BadQuoteSignature { .. }), "{e:?}");
}

#[test]
fn flipped_bit_in_header_breaks_the_quote_signature() {
    let e = verify(&flipped(HEADER_LEN - 1)).unwrap_err();
    assert!(matches!(e, Error::BadQuoteSignature { .. }), "{e:?}");
}

#[test]
fn flipped_bit_in_quote_signature_is_refused() {
    let e = verify(&flipped(QUOTE_SIGNATURE + 40)).unwrap_err();
    assert!(matches!(e, Error::BadQuoteSignature { .. }), "{e:?}");
}

#[test]
fn flipped_bit_in_qe_report_breaks_its_signature() {
    // isv_svn, well away from report_data.
    let e = verify(&flipped(QE_REPORT + 258)).unwrap_err();
    assert!(matches!(e, Error::BadQeReportSignature { .. }), "{e:?}");
}

#[test]
fn flipped_bit_in_qe_auth_data_unbinds_the_attestation_key() {
    let e = verify(&flipped(QE_AUTH_DATA)).unwrap_err();
    let Error::AttestationKeyNotBound { expected, actual } = &e else {
        panic!("{e:?}")
    };
    assert_ne!(expected, actual);
    assert_eq!(actual.len(), 128);
}

#[test]
fn flipped_bit_in_attestation_key_unbinds_it_before_the_quote_signature_is_checked() {
    let e = verify(&flipped(ATTESTATION_KEY + 5)).unwrap_err();
    assert!(matches!(e, Error::AttestationKeyNotBound { .. }), "{e:?}");
}

#[test]
fn a_chain_to_another_root_is_refused_even_with_intels_root_in_the_quote() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Intel SGX Root CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other = params.self_signed(&key).unwrap();
    let roots = IntelRoots::from_pem(other.pem().as_bytes()).unwrap();
    let quote = sample();
    let e = TdxVerifier::new(&roots)
        .verify(&quote, inside_validity(&quote), &TdxOptions::default())
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::PckChain(
                blindfold_x509::Error::UnknownIssuer { .. } | blindfold_x509::Error::BadSignature { .. }
            )
        ),
        "{e:?}"
    );
}

#[test]
fn after_the_pck_certificate_expires_the_chain_is_refused() {
    let at = humantime::parse_rfc3339("2031-01-01T00:00:00Z").unwrap();
    let e = TdxVerifier::new(IntelRoots::bundled())
        .verify(&sample(), at, &TdxOptions::default())
        .unwrap_err();
    assert!(
        matches!(e, Error::PckChain(blindfold_x509::Error::Expired { .. })),
        "{e:?}"
    );
}

#[test]
fn truncated_quotes_name_the_field() {
    let q = sample();
    let padding = TdQuote::parse(&q).unwrap().padding_len();
    let e = TdQuote::parse(&q[..q.len() - padding - 1]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Truncated {
                field: "signature data",
                ..
            }
        ),
        "{e:?}"
    );
    let e = TdQuote::parse(&q[..40]).unwrap_err();
    assert!(matches!(e, Error::Truncated { field: "header", .. }), "{e:?}");
    let e = TdQuote::parse(&q[..HEADER_LEN + 100]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Truncated {
                field: "TD report",
                ..
            }
        ),
        "{e:?}"
    );
    let e = TdQuote::parse(&q[..HEADER_LEN + TD_REPORT_BODY_LEN + 2]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Truncated {
                field: "signature data length",
                ..
            }
        ),
        "{e:?}"
    );
    // The signature data claims less than it holds: the certification data overruns it.
    let mut short = q.clone();
    let len = u32::from_le_bytes(q[SIG_DATA - 4..SIG_DATA].try_into().unwrap());
    short[SIG_DATA - 4..SIG_DATA].copy_from_slice(&(len - 1).to_le_bytes());
    short.pop();
    let e = TdQuote::parse(&short).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Truncated {
                field: "certification data",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn a_trailing_byte_is_refused() {
    // Zero padding after the signature data is accepted and counted.
    let mut q = sample();
    q.push(0);
    assert_eq!(TdQuote::parse(&q).unwrap().padding_len(), 71);
    let mut q = sample();
    q.push(1);
    let e = TdQuote::parse(&q).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TrailingBytes {
                field: "signature data",
                count: 71
            }
        ),
        "{e:?}"
    );
    // Inside the signature data nothing may trail: grow the PCK chain's
    // size by one (its PEM then overruns the QE certification data).
    let mut q = sample();
    let chain_size = QE_AUTH_DATA + 32 + 2;
    let n = u32::from_le_bytes(q[chain_size..chain_size + 4].try_into().unwrap());
    q[chain_size..chain_size + 4].copy_from_slice(&(n - 1).to_le_bytes());
    let e = TdQuote::parse(&q).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TrailingBytes {
                field: "QE certification data",
                count: 1
            }
        ),
        "{e:?}"
    );
    let e = verify(&q).unwrap_err();
    assert!(matches!(e, Error::TrailingBytes { .. }), "{e:?}");
}

#[test]
fn other_versions_tee_types_and_key_types_are_refused() {
    let mut q = sample();
    q[0] = 5;
    assert_eq!(
        TdQuote::parse(&q).unwrap_err(),
        Error::UnsupportedVersion { version: 5 }
    );
    let mut q = sample();
    q[2] = 3;
    assert_eq!(
        TdQuote::parse(&q).unwrap_err(),
        Error::UnsupportedAttestationKeyType { actual: 3 }
    );
    let mut q = sample();
    q[4] = 0;
    assert_eq!(TdQuote::parse(&q).unwrap_err(), Error::NotTdx { tee_type: 0 });
    let mut q = sample();
    q[ATTESTATION_KEY + 64] = 5;
    assert!(matches!(
        TdQuote::parse(&q).unwrap_err(),
        Error::UnsupportedCertificationDataType {
            expected: 6,
            actual: 5,
            ..
        }
    ));
}
