//! Signatures checked by the tools firmware people use: `sbverify`
//! (sbsigntool, OpenSSL's PKCS#7 with Authenticode's digest) accepts a
//! UKI signed here with the signing certificate and refuses it with
//! another certificate or after one changed byte; `pesign` (NSS) lists the
//! signer and computes the same Authenticode digest as the unsigned image
//! padded. Keys come from `openssl req` as an operator would make them.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

use blindfold_crypto::HashAlg;
use blindfold_measure::pe::{authenticode, PeImage};
use blindfold_uefi_sign::{sign_pe, signatures, Error, SigningIdentity};

fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "{tool} is not installed (scripts/setup.sh installs it)");
}

/// `openssl req -x509 -newkey rsa:BITS`: KEY.key (PKCS#8) and KEY.pem.
fn keypair(dir: &Path, name: &str, bits: u32) -> (String, String) {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.pem"));
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            &format!("rsa:{bits}"),
            "-nodes",
            "-days",
            "30",
        ])
        .args(["-subj", &format!("/CN=Blindfold test {name}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (
        std::fs::read_to_string(key).unwrap(),
        std::fs::read_to_string(cert).unwrap(),
    )
}

fn uki() -> Vec<u8> {
    std::fs::read(blindfold_testdata::shared("local-ovmf-boot/stub252").join("uki.efi")).unwrap()
}

fn tool(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn sbverify_and_pesign_accept_the_signature_and_refuse_a_changed_image_or_another_certificate() {
    require("sbverify");
    require("pesign");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (key, cert) = keypair(d, "db", 2048);
    let (_, other_cert) = keypair(d, "other", 2048);
    let identity = SigningIdentity::from_pem(&key, &cert).unwrap();
    let unsigned = uki();
    let signed = sign_pe(&unsigned, &identity).unwrap();
    let signed_path = d.join("signed.efi");
    std::fs::write(&signed_path, &signed).unwrap();

    let (ok, out) = tool(
        Command::new("sbverify")
            .arg("--cert")
            .arg(d.join("db.pem"))
            .arg(&signed_path),
    );
    assert!(ok, "sbverify refused the signature: {out}");
    assert!(out.contains("Signature verification OK"), "{out}");

    let (ok, out) = tool(
        Command::new("sbverify")
            .arg("--cert")
            .arg(d.join("other.pem"))
            .arg(&signed_path),
    );
    assert!(
        !ok,
        "sbverify accepted the signature under another certificate: {out}"
    );
    let _ = other_cert;

    // One changed byte in the .linux section: the digest differs.
    let pe = PeImage::parse(&signed).unwrap();
    let linux = pe.section(".linux").unwrap();
    let mut changed = signed.clone();
    changed[linux.raw_offset as usize + 4096] ^= 1;
    let changed_path = d.join("changed.efi");
    std::fs::write(&changed_path, &changed).unwrap();
    let (ok, out) = tool(
        Command::new("sbverify")
            .arg("--cert")
            .arg(d.join("db.pem"))
            .arg(&changed_path),
    );
    assert!(!ok, "sbverify accepted a changed image: {out}");

    // pesign lists one signature, by our certificate.
    let (ok, out) = tool(Command::new("pesign").args(["-S", "-i"]).arg(&signed_path));
    assert!(ok, "pesign could not read the signature: {out}");
    assert!(
        out.contains("Blindfold test db"),
        "pesign does not name the signer: {out}"
    );

    // pesign's Authenticode digest of the signed image is the digest of the
    // unsigned image padded to 8 bytes: the signature covers the image.
    let (ok, out) = tool(
        Command::new("pesign")
            .args(["-h", "-d", "sha256", "-i"])
            .arg(&signed_path),
    );
    assert!(ok, "{out}");
    let mut padded = unsigned.clone();
    padded.resize(unsigned.len().next_multiple_of(8), 0);
    let ours = authenticode(&padded, HashAlg::Sha256).unwrap().to_hex();
    assert!(out.contains(&ours), "pesign's digest differs from {ours}: {out}");
    assert_eq!(authenticode(&signed, HashAlg::Sha256).unwrap().to_hex(), ours);
    assert_eq!(signatures(&signed).unwrap().len(), 1);
    assert!(signatures(&unsigned).unwrap().is_empty());
}

#[test]
fn an_image_signed_already_a_foreign_certificate_and_a_short_key_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (key, cert) = keypair(d, "db", 2048);
    let (_, other_cert) = keypair(d, "other", 2048);
    let (short_key, short_cert) = keypair(d, "short", 1024);

    let e = SigningIdentity::from_pem(&key, &other_cert).unwrap_err();
    assert!(matches!(e, Error::Identity(_)), "{e}");
    assert!(e.to_string().contains("public keys differ"), "{e}");

    let e = SigningIdentity::from_pem(&short_key, &short_cert).unwrap_err();
    assert!(e.to_string().contains("1024 bits"), "{e}");

    let e = SigningIdentity::from_pem("not a key", &cert).unwrap_err();
    assert!(e.to_string().contains("not an RSA private key"), "{e}");
    assert!(
        !e.to_string().contains("not a key"),
        "the key's text reached the error: {e}"
    );

    let identity = SigningIdentity::from_pem(&key, &cert).unwrap();
    let signed = sign_pe(&uki(), &identity).unwrap();
    let e = sign_pe(&signed, &identity).unwrap_err();
    assert!(e.to_string().contains("signed already"), "{e}");

    let e = sign_pe(b"MZ not really a PE image", &identity).unwrap_err();
    assert!(matches!(e, Error::Image(_)), "{e}");
}
