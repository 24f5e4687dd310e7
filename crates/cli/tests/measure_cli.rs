//! `blindfold measure`: the three output formats, read back by the verifier.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use blindfold_attest::{ReferenceFormat, ReferenceKind, ReferenceValues};
use blindfold_crypto::{default_provider, Digest, HashAlg};
use blindfold_tpm::PcrIndex;
use common::*;

fn app_disk(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    std::fs::write(dir.join("app.img"), vec![3u8; 3 * 4096]).unwrap();
    let f = run(blindfold()
        .args(["verity", "format", "--json", "--salt", "-"])
        .arg(dir.join("app.img"))
        .arg(dir.join("app.hash")));
    let json = dir.join("app.json");
    std::fs::write(&json, &f.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
    (json, hex::decode(v["root_hash"].as_str().unwrap()).unwrap())
}

fn measure(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let out = run(blindfold().arg("measure").args(args));
    (out.status.code().unwrap(), text(&out.stderr))
}

#[test]
fn process_mode_writes_a_development_reference_with_pcr15() {
    let tmp = tempfile::tempdir().unwrap();
    let (json, root) = app_disk(tmp.path());
    let out = tmp.path().join("dev.json");
    let (code, err) = measure(&[
        "--app-disk".as_ref(),
        json.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(code, 0, "{err}");
    let r = ReferenceValues::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(r.kind, ReferenceKind::Development);
    let p = default_provider();
    // The app-disk event measures its type label and the length-prefixed root hash.
    let mut measured = b"blindfold/runtime/app-disk/v1".to_vec();
    measured.extend_from_slice(&(root.len() as u32).to_be_bytes());
    measured.extend_from_slice(&root);
    let event = p.hash(HashAlg::Sha256, &[&measured]);
    let want = p.hash(
        HashAlg::Sha256,
        &[Digest::zero(HashAlg::Sha256).as_bytes(), event.as_bytes()],
    );
    assert_eq!(r.pcrs[&(HashAlg::Sha256, PcrIndex(15))].allowed, vec![want]);
    assert_eq!(r.pcrs.len(), 2, "PCR 15 in the sha256 and sha384 banks only");
}

#[test]
fn measured_boot_in_all_three_formats_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (json, root) = app_disk(d);
    let sample = shared_testdata().join("local-ovmf-boot/stub252");
    let (uki, log) = (sample.join("uki.efi"), sample.join("eventlog.bin"));
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sample.join("expected.json")).unwrap()).unwrap();
    for (format, want) in [
        ("blindfold", ReferenceFormat::Blindfold),
        ("blindllama", ReferenceFormat::BlindLlama),
        ("nitro", ReferenceFormat::NitroTpm),
    ] {
        let out = d.join(format!("{format}.json"));
        let (code, err) = measure(&[
            "--uki".as_ref(),
            uki.as_os_str(),
            "--firmware-log".as_ref(),
            log.as_os_str(),
            "--app-disk".as_ref(),
            json.as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
        ]);
        assert_eq!(code, 0, "{format}: {err}");
        let r = ReferenceValues::parse(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(r.format, want);
        if format != "nitro" {
            assert_eq!(
                r.pcrs[&(HashAlg::Sha256, PcrIndex(4))].allowed[0].to_hex(),
                expected["pcr4_sha256"].as_str().unwrap(),
                "{format}"
            );
        } else {
            assert!(r.pcrs.contains_key(&(HashAlg::Sha384, PcrIndex(4))));
        }
    }
    let app: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("application.json")).unwrap()).unwrap();
    assert_eq!(app["application_disk_roothash"], hex::encode(root));
    let blindfold = ReferenceValues::parse(&std::fs::read(d.join("blindfold.json")).unwrap()).unwrap();
    assert_eq!(blindfold.kind, ReferenceKind::MeasuredBoot);
    blindfold.check_mandatory().unwrap();
}

#[test]
fn a_uki_without_a_firmware_log_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (json, _) = app_disk(tmp.path());
    let uki = shared_testdata().join("local-ovmf-boot/stub252/uki.efi");
    let out = tmp.path().join("m.json");
    let (code, err) = measure(&[
        "--uki".as_ref(),
        uki.as_os_str(),
        "--app-disk".as_ref(),
        json.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--firmware-log"), "{err}");
}

#[test]
fn the_configured_model_extends_pcr15_after_the_ready_separator() {
    use blindfold_protocol::{RuntimeEvent, RuntimeLog};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (json, root) = app_disk(d);
    std::fs::write(d.join("model.gguf"), b"weights").unwrap();
    let mut enclave = blindfold_enclave_config::EnclaveConfig::new(
        "local".into(),
        d.join("app.img"),
        root.clone(),
        3 * 4096,
    );
    enclave.engine = Some(common::embedded(d.join("model.gguf"), "m1"));
    let config = enclave.to_bytes().unwrap();
    std::fs::write(d.join("enclave.json"), &config).unwrap();
    std::fs::write(d.join("enclave-binary"), b"the enclave").unwrap();
    let out = d.join("m.json");
    let (code, err) = measure(&[
        "--app-disk".as_ref(),
        json.as_os_str(),
        "--enclave-config".as_ref(),
        d.join("enclave.json").as_os_str(),
        "--enclave-binary".as_ref(),
        d.join("enclave-binary").as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(code, 0, "{err}");
    let p = default_provider();
    let log = RuntimeLog {
        events: vec![
            RuntimeEvent::EnclaveBinary {
                sha256: p.hash(HashAlg::Sha256, &[b"the enclave"]).as_bytes().to_vec(),
            },
            RuntimeEvent::AppDisk { root_hash: root },
            RuntimeEvent::Config {
                sha256: p.hash(HashAlg::Sha256, &[&config]).as_bytes().to_vec(),
            },
            RuntimeEvent::Ready,
            RuntimeEvent::Model {
                name: "m1".into(),
                sha256: p.hash(HashAlg::Sha256, &[b"weights"]).as_bytes().to_vec(),
            },
        ],
        banks: vec![HashAlg::Sha256],
    };
    let r = ReferenceValues::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        &r.pcrs[&(HashAlg::Sha256, PcrIndex(15))].allowed[0],
        log.replay().get(HashAlg::Sha256, PcrIndex(15)).unwrap()
    );
}
