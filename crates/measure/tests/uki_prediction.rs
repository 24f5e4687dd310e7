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
fn with_secure_boot_on_pcr_4_leaves_out_the_kernel_and_nothing_else_changes() {
    // What a Secure Boot boot of stub 252 shows (crates/cli/tests/secure_boot_vm.rs
    // boots one): the stub's security override keeps the embedded kernel
    // out of the firmware's verification and measurement.
    let uki = sample("uki.efi");
    let predict = |secure_boot| {
        predict_uki_boot(
            &uki,
            &[HashAlg::Sha256],
            &BootInputs {
                stub: None,
                secure_boot,
            },
        )
        .unwrap()
    };
    let (off, on) = (predict(false), predict(true));
    let pcr4 = |p: &blindfold_measure::predict::Prediction| {
        p.events
            .iter()
            .filter(|e| e.pcr == PcrIndex(4))
            .map(|e| e.what.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(pcr4(&off).len(), 4);
    assert_eq!(pcr4(&on), pcr4(&off)[..3].to_vec());
    assert!(pcr4(&off)[3].contains(".linux"));
    for pcr in [9, 11, 12, 13] {
        assert_eq!(
            on.pcrs.get(HashAlg::Sha256, PcrIndex(pcr)),
            off.pcrs.get(HashAlg::Sha256, PcrIndex(pcr)),
            "PCR {pcr}"
        );
    }
    assert_ne!(
        on.pcrs.get(HashAlg::Sha256, PcrIndex(4)),
        off.pcrs.get(HashAlg::Sha256, PcrIndex(4))
    );
}

#[test]
fn the_db_authority_event_is_the_variable_data_of_the_db_entry() {
    let owner = [7u8; 16];
    let data = blindfold_measure::predict::db_authority_event(owner, b"CERT");
    // EFI_IMAGE_SECURITY_DATABASE_GUID, 2 name characters, 16 + 4 value bytes, "db", owner, cert.
    assert_eq!(
        &data[..16],
        &blindfold_measure::predict::IMAGE_SECURITY_DATABASE_GUID
    );
    assert_eq!(&data[16..24], &2u64.to_le_bytes());
    assert_eq!(&data[24..32], &20u64.to_le_bytes());
    assert_eq!(&data[32..36], b"d\0b\0");
    assert_eq!(&data[36..52], &owner);
    assert_eq!(&data[52..], b"CERT");
}

#[test]
fn unchecked_boot_paths_are_refused_not_guessed() {
    let uki = sample("uki.efi");
    let err = predict_uki_boot(
        &uki,
        &[HashAlg::Sha256],
        &BootInputs {
            stub: Some(blindfold_measure::uki::StubVersion {
                major: 258,
                text: "systemd-stub 258 (given)".into(),
            }),
            secure_boot: false,
        },
    )
    .unwrap_err();
    assert!(matches!(err, blindfold_measure::Error::Unsupported(_)), "{err}");
}
