//! Every Azure Trusted Launch, GCP and plain-TPM sample verifies as its
//! expected.json says, at the stated time; each tampering fails with its
//! specific error.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::SystemTime;

use blindfold_attest::{AkClaim, Error, Evidence, Platform, TpmAnchor, TrustBasis, Verifier, VerifyOptions};
use blindfold_attest::{InputError, VerifyError};
use blindfold_crypto::{Digest, EccCurve, HashAlg, PublicKey};
use blindfold_eventlog::PcrStatus;
use blindfold_testdata::shared;
use blindfold_tpm::{Freshness, PcrIndex};
use serde_json::Value;

const AZURE: &str = "azure-vtpm/blindllama-trusted-launch/sample_azure_attestation.json";
const COS85: &str = "gcp-vtpm/gce-cos85-attestation-nonce9009/gce-cos-85-nonce9009.pb";
const VAPORTPM: &str = "gcp-vtpm/vaportpm-gcp-amd/test-gcp-amd-fixture.json";
const TRUSTEE: &str = "tpm2-quotes/trustee-tpm-evidence/tpm_evidence.json";

fn evidence(rel: &str) -> Evidence {
    Evidence::read(&shared(rel)).unwrap()
}

fn expected(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(shared(rel)).unwrap()).unwrap()
}

fn options(freshness: Option<Freshness>, at: &str) -> VerifyOptions {
    VerifyOptions {
        platform: None,
        freshness,
        at: if at == "now" {
            SystemTime::now()
        } else {
            humantime::parse_rfc3339(at).unwrap()
        },
        tpm_anchor: None,
        ak_intermediates: Vec::new(),
        replay: Default::default(),
        hardware: Default::default(),
    }
}

fn nonce(hex_text: &str) -> Option<Freshness> {
    Some(Freshness::Nonce(hex::decode(hex_text).unwrap()))
}

fn vaportpm_nonce() -> Option<Freshness> {
    nonce(
        expected("gcp-vtpm/vaportpm-gcp-amd/expected.json")["nonce_extraData_hex"]
            .as_str()
            .unwrap(),
    )
}

fn trustee_key() -> PublicKey {
    use base64::Engine as _;
    let json = expected(TRUSTEE);
    let der = base64::engine::general_purpose::STANDARD
        .decode(json["ak_public"].as_str().unwrap())
        .unwrap();
    PublicKey::from_spki_der(&der).unwrap()
}

#[test]
fn azure_trusted_launch_verifies_at_its_stated_time() {
    let want = expected("azure-vtpm/blindllama-trusted-launch/expected.json");
    let v = Verifier::new()
        .verify(
            &evidence(AZURE),
            &options(Some(Freshness::DangerNotChecked), "2024-06-01T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(v.platform(), Platform::AzureVtpm);
    assert_eq!(v.trust_basis(), TrustBasis::Hypervisor);
    assert!(!v.fresh());
    for (i, hex_value) in want["quoted_pcrs_sha256"].as_object().unwrap() {
        let got = v
            .pcrs()
            .get(HashAlg::Sha256, PcrIndex(i.parse().unwrap()))
            .unwrap();
        assert_eq!(got.to_hex(), hex_value.as_str().unwrap(), "PCR {i}");
    }
    let chain = v.chain().unwrap();
    assert_eq!(
        chain[0].fingerprint,
        want["ak_cert_sha256_fingerprint"].as_str().unwrap()
    );
    assert_eq!(
        chain[2].fingerprint,
        want["root_sha256_fingerprint"].as_str().unwrap()
    );
    assert!(v.blindllama_app_disk_root_hash().is_some());
}

#[test]
fn azure_chain_is_expired_now() {
    let err = Verifier::new()
        .verify(
            &evidence(AZURE),
            &options(Some(Freshness::DangerNotChecked), "now"),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(VerifyError::Chain(blindfold_x509::Error::Expired { .. }))
        ),
        "{err:?}"
    );
}

#[test]
fn no_nonce_without_an_explicit_waiver_is_refused() {
    let err = Verifier::new()
        .verify(&evidence(AZURE), &options(None, "2024-06-01T00:00:00Z"))
        .unwrap_err();
    assert_eq!(err, Error::Verify(VerifyError::FreshnessNotDecided));
}

#[test]
fn a_wrong_nonce_is_refused() {
    // The BlindLlama quote carries no nonce at all: any nonce is wrong.
    let err = Verifier::new()
        .verify(&evidence(AZURE), &options(nonce("00"), "2024-06-01T00:00:00Z"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(VerifyError::Quote {
                cause: blindfold_tpm::Error::NonceMismatch { .. },
                ..
            })
        ),
        "{err:?}"
    );
    let err = Verifier::new()
        .verify(&evidence(COS85), &options(nonce("9008"), "now"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(VerifyError::Quote {
                cause: blindfold_tpm::Error::NonceMismatch { .. },
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn a_chain_to_another_root_is_refused() {
    let mut e = evidence(AZURE);
    e.platform = Platform::GcpVtpm;
    let err = Verifier::new()
        .verify(
            &e,
            &options(Some(Freshness::DangerNotChecked), "2024-06-01T00:00:00Z"),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(VerifyError::Chain(blindfold_x509::Error::UnknownIssuer { .. }))
        ),
        "{err:?}"
    );
}

#[test]
fn the_blindllama_pcr15_binding_must_replay() {
    let mut e = evidence(AZURE);
    e.blindllama.as_mut().unwrap().webserver_ca_pem.push('\n');
    let err = Verifier::new()
        .verify(
            &e,
            &options(Some(Freshness::DangerNotChecked), "2024-06-01T00:00:00Z"),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Verify(VerifyError::LegacyBindingMismatch { .. })),
        "{err:?}"
    );
}

#[test]
fn gcp_cos85_protobuf_verifies_with_its_event_log() {
    let e = evidence(COS85);
    assert!(e.event_log.is_some());
    let v = Verifier::new()
        .verify(&e, &options(nonce("9009"), "now"))
        .unwrap();
    assert_eq!(v.platform(), Platform::GcpVtpm);
    assert!(v.fresh());
    let checks = v.event_log().unwrap();
    assert!(checks.iter().any(|c| c.status == PcrStatus::Matches));
    assert!(checks
        .iter()
        .all(|c| !matches!(c.status, PcrStatus::Mismatch { .. })));
}

#[test]
fn gcp_event_log_that_does_not_replay_is_refused() {
    let mut e = evidence(COS85);
    let log = e.event_log.as_mut().unwrap();
    // Flip a byte inside the first SHA-256 digest of a PCR 4 event: find the
    // EV_EFI_ACTION "Calling EFI Application from Boot Option" digest.
    let parsed = blindfold_eventlog::EventLog::parse(log).unwrap();
    let event = parsed.events.iter().find(|ev| ev.pcr == PcrIndex(4)).unwrap();
    let d = event.digest(HashAlg::Sha256).unwrap().as_bytes().to_vec();
    let at = log.windows(32).position(|w| w == d.as_slice()).unwrap();
    log[at] ^= 1;
    let err = Verifier::new()
        .verify(&e, &options(nonce("9009"), "now"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(VerifyError::EventLog(blindfold_eventlog::Error::PcrMismatch {
                index: PcrIndex(4),
                ..
            }))
        ),
        "{err:?}"
    );
}

#[test]
fn gcp_vaportpm_fixture_verifies() {
    let want = expected("gcp-vtpm/vaportpm-gcp-amd/expected.json");
    let v = Verifier::new()
        .verify(&evidence(VAPORTPM), &options(vaportpm_nonce(), "now"))
        .unwrap();
    for (i, hex_value) in want["pcrs_sha256"].as_object().unwrap() {
        let got = v
            .pcrs()
            .get(HashAlg::Sha256, PcrIndex(i.parse().unwrap()))
            .unwrap();
        assert_eq!(got.to_hex(), hex_value.as_str().unwrap());
    }
}

#[test]
fn a_leaf_whose_key_is_not_the_quote_signer_is_refused() {
    let mut e = evidence(VAPORTPM);
    let other = PublicKey::ecc(EccCurve::NistP256, &[1; 32], &[2; 32]).unwrap();
    if let Some(AkClaim::Certificate { public, .. }) = &mut e.ak {
        *public = Some(other);
    }
    let err = Verifier::new()
        .verify(&e, &options(vaportpm_nonce(), "now"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(VerifyError::AkMismatch {
                anchor: "certificate",
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn flipped_bits_fail_with_specific_errors() {
    let cases: Vec<(&str, Option<Freshness>, &str)> = vec![
        (AZURE, Some(Freshness::DangerNotChecked), "2024-06-01T00:00:00Z"),
        (COS85, nonce("9009"), "now"),
        (VAPORTPM, vaportpm_nonce(), "now"),
    ];
    for (rel, fresh, at) in cases {
        let opts = options(fresh, at);
        // Signed message.
        let mut e = evidence(rel);
        e.quotes[0].message[12] ^= 1;
        let err = Verifier::new().verify(&e, &opts).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Verify(VerifyError::Quote {
                    cause: blindfold_tpm::Error::BadSignature(_),
                    ..
                })
            ),
            "{rel}: {err:?}"
        );
        // Signature.
        let mut e = evidence(rel);
        match &mut e.quotes[0].signature.signature {
            blindfold_crypto::Signature::Rsa(b) => b[3] ^= 1,
            blindfold_crypto::Signature::Ecdsa { s, .. } => s[3] ^= 1,
        }
        let err = Verifier::new().verify(&e, &opts).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Verify(VerifyError::Quote {
                    cause: blindfold_tpm::Error::BadSignature(_),
                    ..
                })
            ),
            "{rel}: {err:?}"
        );
        // A PCR value.
        let mut e = evidence(rel);
        let (bank, values) = e.quotes[0]
            .pcrs
            .banks()
            .next()
            .map(|(b, v)| (b, v.clone()))
            .unwrap();
        let (index, value) = values.iter().next().unwrap();
        let mut bytes = value.as_bytes().to_vec();
        bytes[0] ^= 1;
        e.quotes[0]
            .pcrs
            .insert(*index, Digest::new(bank, &bytes).unwrap());
        let err = Verifier::new().verify(&e, &opts).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Verify(VerifyError::Quote {
                    cause: blindfold_tpm::Error::PcrDigestMismatch { .. },
                    ..
                })
            ),
            "{rel}: {err:?}"
        );
    }
}

#[test]
fn plain_tpm_evidence_needs_an_explicit_anchor() {
    let want = expected("tpm2-quotes/trustee-tpm-evidence/expected.json");
    let fresh = nonce(want["nonce_extraData_hex"].as_str().unwrap());
    let e = evidence(TRUSTEE);
    let err = Verifier::new()
        .verify(&e, &options(fresh.clone(), "now"))
        .unwrap_err();
    assert!(
        matches!(err, Error::Verify(VerifyError::NoTrustAnchor { .. })),
        "{err:?}"
    );

    let mut opts = options(fresh.clone(), "now");
    opts.tpm_anchor = Some(TpmAnchor::PinnedKey(trustee_key()));
    let v = Verifier::new().verify(&e, &opts).unwrap();
    assert_eq!(v.trust_basis(), TrustBasis::Development);

    let keylime = Evidence::read(&shared("tpm2-quotes/keylime-swtpm-quote")).unwrap();
    let other = keylime.ak.as_ref().unwrap().claimed_key().unwrap();
    opts.tpm_anchor = Some(TpmAnchor::PinnedKey(other));
    let err = Verifier::new().verify(&e, &opts).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(VerifyError::AkMismatch { anchor: "pinned", .. })
        ),
        "{err:?}"
    );
}

#[test]
fn keylime_tpm2_tools_directory_verifies_with_a_pinned_ak() {
    let e = Evidence::read(&shared("tpm2-quotes/keylime-swtpm-quote")).unwrap();
    let key = e.ak.as_ref().unwrap().claimed_key().unwrap();
    let mut opts = options(nonce("db1db298db6d60e6385b7231743e9c3056a18003"), "now");
    opts.tpm_anchor = Some(TpmAnchor::PinnedKey(key));
    let v = Verifier::new().verify(&e, &opts).unwrap();
    assert_eq!(v.pcrs().len(), 3);
}

#[test]
fn a_platform_ca_anchors_a_plain_tpm_as_development() {
    let mut e = evidence(AZURE);
    e.platform = Platform::Tpm;
    let root = blindfold_x509::parse_certificates(
        &std::fs::read(shared(
            "azure-vtpm/blindllama-trusted-launch/azure_vtpm_root_ca_2023.crt",
        ))
        .unwrap(),
    )
    .unwrap();
    let mut opts = options(Some(Freshness::DangerNotChecked), "2024-06-01T00:00:00Z");
    opts.tpm_anchor = Some(TpmAnchor::DangerPlatformCa(root));
    let v = Verifier::new().verify(&e, &opts).unwrap();
    assert_eq!(v.trust_basis(), TrustBasis::Development);
}

#[test]
fn the_chain_cache_still_checks_validity_at_each_time() {
    let verifier = Verifier::new().with_chain_cache();
    let e = evidence(AZURE);
    verifier
        .verify(
            &e,
            &options(Some(Freshness::DangerNotChecked), "2024-06-01T00:00:00Z"),
        )
        .unwrap();
    let err = verifier
        .verify(&e, &options(Some(Freshness::DangerNotChecked), "now"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(VerifyError::Chain(blindfold_x509::Error::Expired { .. }))
        ),
        "{err:?}"
    );
}

#[test]
fn the_asked_platform_must_match_the_evidence() {
    let mut opts = options(nonce("9009"), "now");
    opts.platform = Some(Platform::AzureVtpm);
    let err = Verifier::new().verify(&evidence(COS85), &opts).unwrap_err();
    assert!(
        matches!(err, Error::Verify(VerifyError::PlatformMismatch { .. })),
        "{err:?}"
    );
}

#[test]
fn unknown_layouts_are_unusable_input() {
    let err = Evidence::parse(b"{\"hello\": 1}").unwrap_err();
    assert!(err.is_unusable_input());
    let err = Evidence::parse(&[0xff; 64]).unwrap_err();
    assert!(err.is_unusable_input());
}

#[test]
fn the_local_platform_reads_plain_tpm_layouts_with_an_explicit_anchor() {
    let e = Evidence::read(&shared("tpm2-quotes/keylime-swtpm-quote")).unwrap();
    let mut opts = options(nonce("db1db298db6d60e6385b7231743e9c3056a18003"), "now");
    opts.platform = Some(Platform::Local);
    let err = Verifier::new().verify(&e, &opts).unwrap_err();
    assert!(
        matches!(err, Error::Verify(VerifyError::NoTrustAnchor { .. })),
        "{err:?}"
    );
    opts.tpm_anchor = Some(TpmAnchor::PinnedKey(
        e.ak.as_ref().unwrap().claimed_key().unwrap(),
    ));
    let v = Verifier::new().verify(&e, &opts).unwrap();
    assert_eq!(v.platform(), Platform::Local);
    assert_eq!(v.trust_basis(), TrustBasis::Development);
}

#[test]
fn a_cached_chain_does_not_carry_over_to_another_trust_store() {
    let verifier = Verifier::new().with_chain_cache();
    let at = "2024-06-01T00:00:00Z";
    verifier
        .verify(&evidence(AZURE), &options(Some(Freshness::DangerNotChecked), at))
        .unwrap();
    // Same certificates, now claimed as a local platform under a CA that did not issue them.
    let mut e = evidence(AZURE);
    e.platform = Platform::Tpm;
    let google = blindfold_x509::parse_certificates(
        &std::fs::read(shared("gcp-vtpm/google-ca-certs/gcp_ek_ak_ca_root.crt")).unwrap(),
    )
    .unwrap();
    let mut opts = options(Some(Freshness::DangerNotChecked), at);
    opts.tpm_anchor = Some(TpmAnchor::DangerPlatformCa(google));
    let err = verifier.verify(&e, &opts).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(VerifyError::Chain(blindfold_x509::Error::UnknownIssuer { .. }))
        ),
        "{err:?}"
    );
}

#[test]
fn evidence_without_a_quote_is_refused() {
    let mut e = evidence(VAPORTPM);
    e.quotes.clear();
    let err = Verifier::new()
        .verify(&e, &options(vaportpm_nonce(), "now"))
        .unwrap_err();
    assert!(
        matches!(err, Error::Input(InputError::EvidenceFormat(_))),
        "{err:?}"
    );
}

#[test]
fn an_empty_nonce_is_not_freshness() {
    let err = Verifier::new()
        .verify(
            &evidence(AZURE),
            &options(Some(Freshness::Nonce(vec![])), "2024-06-01T00:00:00Z"),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(VerifyError::Quote {
                cause: blindfold_tpm::Error::EmptyNonce,
                ..
            })
        ),
        "{err:?}"
    );
}
