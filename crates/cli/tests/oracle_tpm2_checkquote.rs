//! Fresh quotes from swtpm, checked by us and by `tpm2_checkquote`: the two
//! must agree on the good quote and on every tampered copy.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use std::path::{Path, PathBuf};

use common::*;

struct Quote {
    dir: tempfile::TempDir,
    hash: String,
    nonce: String,
}

impl Quote {
    fn take(key: &str, scheme: &str) -> Quote {
        require_tool("swtpm");
        require_tool("tpm2_quote");
        let dir = tempfile::tempdir().unwrap();
        let out = run(
            std::process::Command::new(repo_root().join("scripts/swtpm-quote.sh"))
                .arg(dir.path())
                .arg(key)
                .arg(scheme),
        );
        assert!(
            out.status.success(),
            "swtpm-quote.sh {key} {scheme}: {}",
            text(&out.stderr)
        );
        let read = |f: &str| {
            std::fs::read_to_string(dir.path().join(f))
                .unwrap()
                .trim()
                .to_string()
        };
        let (hash, nonce) = (read("hash"), read("nonce.hex"));
        Quote { dir, hash, nonce }
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    /// A copy of `file` with one bit flipped at `offset` (from the end if negative).
    fn tampered(&self, file: &str, offset: isize) -> PathBuf {
        let mut bytes = std::fs::read(self.path(file)).unwrap();
        let at = if offset < 0 {
            bytes.len() - offset.unsigned_abs()
        } else {
            offset as usize
        };
        bytes[at] ^= 0x01;
        let p = self.path(&format!("{file}.tampered"));
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

struct Files<'a> {
    ak_pem: &'a Path,
    ak_tpm: &'a Path,
    msg: &'a Path,
    sig: &'a Path,
    pcrs: &'a Path,
    nonce: &'a str,
}

/// Exit code of `blindfold quote verify`, and its stderr line.
fn ours(f: &Files<'_>, ak: &Path) -> (i32, String) {
    let out = run(blindfold()
        .args(["quote", "verify", "--ak"])
        .arg(ak)
        .arg("--message")
        .arg(f.msg)
        .arg("--signature")
        .arg(f.sig)
        .arg("--pcrs")
        .arg(f.pcrs)
        .args(["--nonce", f.nonce]));
    (out.status.code().unwrap(), text(&out.stderr))
}

fn theirs(f: &Files<'_>, hash: &str) -> bool {
    run(std::process::Command::new("tpm2_checkquote")
        .arg("-u")
        .arg(f.ak_pem)
        .arg("-m")
        .arg(f.msg)
        .arg("-s")
        .arg(f.sig)
        .arg("-f")
        .arg(f.pcrs)
        .args(["-g", hash, "-q", f.nonce]))
    .status
    .success()
}

/// OpenSSL as a second oracle for the bare signature (used where tpm2_checkquote is wrong).
fn openssl_signature_ok(q: &Quote, msg: &Path, sig: &Path) -> bool {
    let raw = q.path("sig.raw");
    let bytes = std::fs::read(sig).unwrap();
    // TPMT_SIGNATURE of RSAPSS: alg(2) hash(2) size(2) sig.
    std::fs::write(&raw, &bytes[6..]).unwrap();
    run(std::process::Command::new("openssl")
        .args(["dgst", &format!("-{}", q.hash), "-verify"])
        .arg(q.path("ak.pem"))
        .args([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:auto",
            "-signature",
        ])
        .arg(&raw)
        .arg(msg))
    .status
    .success()
}

/// The four tamperings, each with the phrase our error must contain.
fn cases(q: &Quote) -> Vec<(&'static str, Files<'static>, &'static str)> {
    // Leak the paths: the test process is short-lived and this keeps the table simple.
    let leak = |p: PathBuf| -> &'static Path { Box::leak(p.into_boxed_path()) };
    let nonce: &'static str = Box::leak(q.nonce.clone().into_boxed_str());
    let base = Files {
        ak_pem: leak(q.path("ak.pem")),
        ak_tpm: leak(q.path("ak.pub")),
        msg: leak(q.path("msg")),
        sig: leak(q.path("sig")),
        pcrs: leak(q.path("pcrs")),
        nonce,
    };
    let mut wrong_nonce = nonce.to_string();
    let last = if wrong_nonce.ends_with('0') { "1" } else { "0" };
    wrong_nonce.replace_range(wrong_nonce.len() - 1.., last);
    vec![
        ("good", Files { ..base }, ""),
        // Byte 40 lies inside extraData/clockInfo: covered by the signature.
        (
            "message bit",
            Files {
                msg: leak(q.tampered("msg", 40)),
                ..base
            },
            "quote signature",
        ),
        (
            "signature bit",
            Files {
                sig: leak(q.tampered("sig", -1)),
                ..base
            },
            "quote signature",
        ),
        // The first digest byte of the tpm2-tools PCR file (132 + 4 + 4 + 2).
        (
            "pcr bit",
            Files {
                pcrs: leak(q.tampered("pcrs", 142)),
                ..base
            },
            "PCR digest",
        ),
        (
            "nonce",
            Files {
                nonce: Box::leak(wrong_nonce.into_boxed_str()),
                ..base
            },
            "extraData",
        ),
    ]
}

fn agree_with_tpm2_checkquote(key: &str, scheme: &str) {
    let q = Quote::take(key, scheme);
    for (name, files, phrase) in cases(&q) {
        let want_ok = name == "good";
        assert_eq!(
            theirs(&files, &q.hash),
            want_ok,
            "{key}/{scheme} {name}: tpm2_checkquote"
        );
        for ak in [files.ak_pem, files.ak_tpm] {
            let (code, err) = ours(&files, ak);
            if want_ok {
                assert_eq!(code, 0, "{key}/{scheme} {name} with {}: {err}", ak.display());
            } else {
                assert_eq!(code, 1, "{key}/{scheme} {name}: {err}");
                assert!(
                    err.contains(phrase),
                    "{key}/{scheme} {name}: expected \"{phrase}\" in: {err}"
                );
            }
        }
    }
}

#[test]
fn rsa2048_rsassa_sha256() {
    agree_with_tpm2_checkquote("rsa", "rsassa");
}

#[test]
fn rsa3072_rsassa_sha384() {
    agree_with_tpm2_checkquote("rsa3072", "rsassa");
}

#[test]
fn ecc_p256_ecdsa_sha256() {
    agree_with_tpm2_checkquote("ecc", "ecdsa");
}

#[test]
fn ecc_p384_ecdsa_sha384() {
    agree_with_tpm2_checkquote("ecc384", "ecdsa");
}

/// Named exception: tpm2_checkquote 5.4 rejects valid RSAPSS quotes from
/// swtpm (it does not verify PSS with the TPM's salt length). OpenSSL is the
/// oracle for the signature there; the rest must still agree.
#[test]
fn rsa2048_rsapss_sha256_against_openssl() {
    let q = Quote::take("rsa", "rsapss");
    for (name, files, phrase) in cases(&q) {
        let (code, err) = ours(&files, files.ak_tpm);
        match name {
            "good" => {
                assert!(
                    openssl_signature_ok(&q, files.msg, files.sig),
                    "openssl rejects the good PSS quote"
                );
                assert!(
                    !theirs(&files, &q.hash),
                    "tpm2_checkquote now accepts RSAPSS: drop this exception and use agree_with_tpm2_checkquote"
                );
                assert_eq!(code, 0, "good PSS quote: {err}");
            }
            "message bit" | "signature bit" => {
                assert!(!openssl_signature_ok(&q, files.msg, files.sig), "{name}: openssl");
                assert_eq!(code, 1, "{name}: {err}");
                assert!(err.contains(phrase), "{name}: {err}");
            }
            _ => {
                assert_eq!(code, 1, "{name}: {err}");
                assert!(err.contains(phrase), "{name}: {err}");
            }
        }
    }
}
