//! From `uki.efi` alone, the Authenticode digests the firmware measured and
//! PCR 4, 9 and 11 of the real boot in `local-ovmf-boot/stub252`.
#![allow(clippy::unwrap_used, missing_docs)]

use blindfold_crypto::HashAlg;
use blindfold_eventlog::{replay, EventLog, ReplayOptions};
use blindfold_measure::pe::{authenticode, PeImage};
use blindfold_measure::predict::{predict_uki_boot, BootInputs};
use blindfold_testdata::shared;
use blindfold_tpm::PcrIndex;
use serde_json::Value;

fn sample(f: &str) -> Vec<u8> {
    std::fs::read(shared("local-ovmf-boot/stub252").join(f)).unwrap()
}

#[test]
fn authenticode_equals_what_the_firmware_measured() {
    let uki = sample("uki.efi");
    let want: Value = serde_json::from_slice(&sample("expected.json")).unwrap();
    assert_eq!(
        authenticode(&uki, HashAlg::Sha256).unwrap().to_hex(),
        want["uki_authenticode_sha256"].as_str().unwrap()
    );
    let pe = PeImage::parse(&uki).unwrap();
    let linux = pe.section_data(&uki, pe.section(".linux").unwrap());
    assert_eq!(
        authenticode(&linux, HashAlg::Sha256).unwrap().to_hex(),
        want["linux_section_authenticode_sha256"].as_str().unwrap()
    );
}

#[test]
fn pcr_4_9_11_12_13_are_predicted_exactly() {
    let uki = sample("uki.efi");
    let want: Value = serde_json::from_slice(&sample("expected.json")).unwrap();
    let p = predict_uki_boot(&uki, &[HashAlg::Sha256, HashAlg::Sha384], &BootInputs::default()).unwrap();
    assert_eq!(p.stub.major, 252);
    for pcr in [4, 9, 11, 12, 13] {
        let got = p.pcrs.get(HashAlg::Sha256, PcrIndex(pcr)).unwrap().to_hex();
        assert_eq!(
            got,
            want[format!("pcr{pcr}_sha256")].as_str().unwrap(),
            "PCR {pcr}"
        );
    }
    // And the event log of that boot replays to the same values.
    let log = replay(
        &EventLog::parse(&sample("eventlog.bin")).unwrap(),
        ReplayOptions::default(),
    );
    for pcr in [4, 9, 11] {
        assert_eq!(
            log.pcrs.get(HashAlg::Sha256, PcrIndex(pcr)),
            p.pcrs.get(HashAlg::Sha256, PcrIndex(pcr))
        );
    }
    assert!(p.pcrs.get(HashAlg::Sha384, PcrIndex(4)).is_some());
}

#[test]
fn prediction_follows_the_uki_bytes_not_the_sample() {
    // Change one byte of the .cmdline section: PCR 11 and 9 change, 4 changes too
    // (the UKI's Authenticode covers every section).
    let mut uki = sample("uki.efi");
    let pe = PeImage::parse(&uki).unwrap();
    let c = pe.section(".cmdline").unwrap().raw_offset as usize;
    uki[c] = b'C';
    let base = predict_uki_boot(&sample("uki.efi"), &[HashAlg::Sha256], &BootInputs::default()).unwrap();
    let changed = predict_uki_boot(&uki, &[HashAlg::Sha256], &BootInputs::default()).unwrap();
    for pcr in [4, 9, 11] {
        assert_ne!(
            base.pcrs.get(HashAlg::Sha256, PcrIndex(pcr)),
            changed.pcrs.get(HashAlg::Sha256, PcrIndex(pcr)),
            "PCR {pcr}"
        );
    }
}

#[test]
fn the_blindllama_pcr4_recipe_agrees() {
    // BlindLlama-v2's recipe: extend EFI action, separator, UKI, .linux digests from zero.
    let uki = sample("uki.efi");
    let pe = PeImage::parse(&uki).unwrap();
    let linux = pe.section_data(&uki, pe.section(".linux").unwrap());
    let p = blindfold_crypto::default_provider();
    let mut pcr = [0u8; 32].to_vec();
    for d in [
        p.hash(HashAlg::Sha256, &[b"Calling EFI Application from Boot Option"]),
        p.hash(HashAlg::Sha256, &[&[0u8; 4]]),
        authenticode(&uki, HashAlg::Sha256).unwrap(),
        authenticode(&linux, HashAlg::Sha256).unwrap(),
    ] {
        pcr = p.hash(HashAlg::Sha256, &[&pcr, d.as_bytes()]).as_bytes().to_vec();
    }
    let predicted = predict_uki_boot(&uki, &[HashAlg::Sha256], &BootInputs::default()).unwrap();
    assert_eq!(
        predicted
            .pcrs
            .get(HashAlg::Sha256, PcrIndex(4))
            .unwrap()
            .as_bytes(),
        pcr.as_slice()
    );
}

#[test]
fn unchecked_boot_paths_are_refused_not_guessed() {
    let uki = sample("uki.efi");
    let err = predict_uki_boot(
        &uki,
        &[HashAlg::Sha256],
        &BootInputs {
            stub: None,
            secure_boot: true,
        },
    )
    .unwrap_err();
    assert!(matches!(err, blindfold_measure::Error::Unsupported(_)));
}
