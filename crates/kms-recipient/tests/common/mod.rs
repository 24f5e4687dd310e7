//! OpenSSL as the oracle: recipient keys and certificates, and envelopes
//! made with `openssl cms -encrypt`.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::Command;

use blindfold_kms_recipient::RecipientKey;

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An RSA key and certificate for the recipient (`name`.pem, `name`.der,
/// `name`.crt).
pub fn recipient(dir: &Path, name: &str) -> RecipientKey {
    let (pem, der, crt) = (
        format!("{name}.pem"),
        format!("{name}.der"),
        format!("{name}.crt"),
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &pem,
            "-out",
            &crt,
            "-subj",
            "/CN=enclave",
            "-days",
            "1",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", &pem, "-outform", "DER", "-out", &der,
        ],
    );
    RecipientKey::from_pkcs8_der(&std::fs::read(dir.join(der)).unwrap()).unwrap()
}

pub const OAEP_SHA256: [&str; 6] = [
    "-keyopt",
    "rsa_padding_mode:oaep",
    "-keyopt",
    "rsa_oaep_md:sha256",
    "-keyopt",
    "rsa_mgf1_md:sha256",
];

/// `openssl cms -encrypt` of `data` to `name`.crt with `extra` options.
pub fn envelope(dir: &Path, data: &[u8], name: &str, extra: &[&str]) -> Vec<u8> {
    std::fs::write(dir.join("data"), data).unwrap();
    let crt = format!("{name}.crt");
    let mut args = vec![
        "cms", "-encrypt", "-binary", "-in", "data", "-outform", "DER", "-out", "env", "-recip", &crt,
    ];
    // -keyopt applies to the -recip before it.
    args.extend_from_slice(extra);
    openssl(dir, &args);
    std::fs::read(dir.join("env")).unwrap()
}
