//! Constraint checks on small PKIs made with the openssl CLI (installed by
//! scripts/setup.sh): a non-CA issuer, a path-length violation, an unknown
//! critical extension, a certificate not yet valid, and ECDSA-signed links.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use blindfold_x509::{parse_certificates, Certificate, ChainVerifier, Error, TrustStore};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `name.key` and `name.pem`, signed by `issuer` (or self-signed), with `ext` lines.
fn cert(dir: &Path, name: &str, issuer: Option<&str>, ext: &str) {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &format!("{name}.key"),
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    let subj = format!("/CN={name}");
    match issuer {
        None => openssl(
            dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                &subj,
                "-days",
                "30",
                "-sha256",
                "-extensions",
                "v3",
                "-config",
                &format!("{name}.cnf"),
                "-out",
                &format!("{name}.pem"),
            ],
        ),
        Some(ca) => {
            openssl(
                dir,
                &[
                    "req",
                    "-new",
                    "-key",
                    &format!("{name}.key"),
                    "-subj",
                    &subj,
                    "-out",
                    &format!("{name}.csr"),
                ],
            );
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    &format!("{ca}.pem"),
                    "-CAkey",
                    &format!("{ca}.key"),
                    "-CAcreateserial",
                    "-days",
                    "30",
                    "-sha256",
                    "-extfile",
                    &format!("{name}.ext"),
                    "-out",
                    &format!("{name}.pem"),
                ],
            );
        }
    }
}

fn self_signed_config(dir: &Path, name: &str, ext: &str) {
    std::fs::write(
        dir.join(format!("{name}.cnf")),
        format!("[req]\ndistinguished_name=dn\n[dn]\n[v3]\n{ext}"),
    )
    .unwrap();
}

fn load(dir: &Path, name: &str) -> Certificate {
    parse_certificates(&std::fs::read(dir.join(format!("{name}.pem"))).unwrap())
        .unwrap()
        .remove(0)
}

const CA: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
const LEAF: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n";

fn now() -> SystemTime {
    SystemTime::now()
}

#[test]
fn ecdsa_chain_verifies_and_constraints_are_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    self_signed_config(d, "root", CA);
    cert(d, "root", None, "");
    cert(d, "inter", Some("root"), CA);
    cert(d, "leaf", Some("inter"), LEAF);
    cert(d, "notca", Some("root"), LEAF);
    cert(d, "leaf-under-notca", Some("notca"), LEAF);
    cert(
        d,
        "odd",
        Some("inter"),
        &format!("{LEAF}1.2.3.4=critical,ASN1:NULL\n"),
    );

    let store = || TrustStore::new(vec![load(d, "root")]);
    let v = ChainVerifier::new(store().with_intermediates(vec![load(d, "inter")]));
    let ok = v.verify(&load(d, "leaf"), &[], now()).unwrap();
    assert_eq!(ok.path().len(), 3);

    let err = ChainVerifier::new(store())
        .verify(&load(d, "leaf-under-notca"), &[load(d, "notca")], now())
        .unwrap_err();
    assert!(matches!(err, Error::NotACa { .. }), "{err:?}");

    let err = v.verify(&load(d, "odd"), &[], now()).unwrap_err();
    assert!(
        matches!(err, Error::UnhandledCriticalExtension { ref oid, .. } if oid == "1.2.3.4"),
        "{err:?}"
    );

    let err = v
        .verify(&load(d, "leaf"), &[], now() - Duration::from_secs(3 * 86400))
        .unwrap_err();
    assert!(matches!(err, Error::NotYetValid { .. }), "{err:?}");
}

#[test]
fn path_length_is_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    self_signed_config(
        d,
        "root",
        &format!("{CA}basicConstraints=critical,CA:TRUE,pathlen:0\n")
            .replace("basicConstraints=critical,CA:TRUE\n", ""),
    );
    cert(d, "root", None, "");
    cert(d, "inter", Some("root"), CA);
    cert(d, "leaf", Some("inter"), LEAF);
    let v =
        ChainVerifier::new(TrustStore::new(vec![load(d, "root")]).with_intermediates(vec![load(d, "inter")]));
    let err = v.verify(&load(d, "leaf"), &[], now()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::PathLenExceeded {
                allowed: 0,
                actual: 1,
                ..
            }
        ),
        "{err:?}"
    );
}
