//! `blindfold verity format` against `veritysetup format` on the same data:
//! root hash and hash-file bytes must be identical; `veritysetup verify`
//! accepts our trees; both find the same corrupted block.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const UUID: &str = "12345678-1234-1234-1234-123456789abc";

fn random_file(path: &Path, len: usize, seed: u8) {
    // Deterministic, incompressible enough: a simple xorshift stream.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ u64::from(seed);
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(path, bytes).unwrap();
}

fn root_of(stdout: &[u8]) -> String {
    text(stdout)
        .lines()
        .find(|l| l.starts_with("Root hash:"))
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .unwrap_or_default()
}

/// Formats `data` with both tools and compares root hash and tree bytes.
fn both(dir: &Path, data: &Path, extra: &[&str]) -> String {
    let (theirs, ours) = (dir.join("theirs.hash"), dir.join("ours.hash"));
    let _ = std::fs::remove_file(&theirs);
    let _ = std::fs::remove_file(&ours);
    let v = run(Command::new("veritysetup")
        .arg("format")
        .arg(data)
        .arg(&theirs)
        .args(["--uuid", UUID])
        .args(extra));
    assert!(v.status.success(), "veritysetup {extra:?}: {}", text(&v.stderr));
    let b = run(blindfold()
        .args(["verity", "format"])
        .arg(data)
        .arg(&ours)
        .args(["--uuid", UUID])
        .args(extra));
    assert!(b.status.success(), "blindfold {extra:?}: {}", text(&b.stderr));
    let (rv, rb) = (root_of(&v.stdout), root_of(&b.stdout));
    assert!(!rv.is_empty());
    assert_eq!(rb, rv, "root hash {extra:?}");
    assert!(
        std::fs::read(&theirs).unwrap() == std::fs::read(&ours).unwrap(),
        "hash file bytes differ {extra:?}"
    );
    rb
}

#[test]
fn trees_are_byte_identical_to_veritysetup() {
    require_tool("veritysetup");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let salt = "07".repeat(32);
    let cases: [(&str, usize); 4] = [
        ("one-block", 4096),
        ("odd-size", 10_000),
        ("small", 1 << 20),
        ("three-levels", 70 << 20),
    ];
    for (name, len) in cases {
        let data = d.join(name);
        random_file(&data, len, len as u8);
        both(d, &data, &["--salt", &salt]);
    }
    let data = d.join("small");
    for extra in [
        vec!["--salt", &salt, "--no-superblock"],
        vec!["--salt", "abcd"],
        vec!["--salt", "-"],
        vec!["--salt", &salt, "--hash", "sha1"],
        vec!["--salt", &salt, "--hash", "sha512"],
        vec![
            "--salt",
            &salt,
            "--data-block-size",
            "1024",
            "--hash-block-size",
            "1024",
        ],
    ] {
        both(d, &data, &extra);
    }
}

#[test]
fn an_appended_tree_matches_veritysetup() {
    require_tool("veritysetup");
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.img"), tmp.path().join("b.img"));
    random_file(&a, 1 << 20, 3);
    std::fs::copy(&a, &b).unwrap();
    let offset = (1u64 << 20).to_string();
    let salt = "11".repeat(32);
    let v = run(Command::new("veritysetup")
        .args(["format"])
        .arg(&a)
        .arg(&a)
        .args(["--hash-offset", &offset, "--salt", &salt, "--uuid", UUID]));
    assert!(v.status.success(), "{}", text(&v.stderr));
    let o = run(blindfold().args(["verity", "format"]).arg(&b).arg(&b).args([
        "--hash-offset",
        &offset,
        "--salt",
        &salt,
        "--uuid",
        UUID,
    ]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(root_of(&o.stdout), root_of(&v.stdout));
    assert!(
        std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
        "appended images differ"
    );
}

#[test]
fn veritysetup_accepts_our_tree_and_both_find_the_same_corruption() {
    require_tool("veritysetup");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (data, hash) = (d.join("data"), d.join("hash"));
    random_file(&data, 8 << 20, 9);
    let out = run(blindfold()
        .args(["verity", "format", "--json"])
        .arg(&data)
        .arg(&hash));
    assert!(out.status.success());
    let root = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["root_hash"]
        .as_str()
        .unwrap()
        .to_string();
    let ok = run(Command::new("veritysetup")
        .arg("verify")
        .arg(&data)
        .arg(&hash)
        .arg(&root));
    assert!(
        ok.status.success(),
        "veritysetup rejects our tree: {}",
        text(&ok.stderr)
    );
    assert!(run(blindfold()
        .args(["verity", "verify"])
        .arg(&data)
        .arg(&hash)
        .arg(&root))
    .status
    .success());

    let mut bytes = std::fs::read(&data).unwrap();
    bytes[4096 * 777 + 100] ^= 0x40;
    std::fs::write(&data, bytes).unwrap();
    let theirs = run(Command::new("veritysetup")
        .arg("verify")
        .arg(&data)
        .arg(&hash)
        .arg(&root));
    assert!(!theirs.status.success());
    assert!(
        text(&theirs.stderr).contains(&format!("position {}", 4096 * 777)),
        "{}",
        text(&theirs.stderr)
    );
    let ours = run(blindfold()
        .args(["verity", "verify"])
        .arg(&data)
        .arg(&hash)
        .arg(&root));
    assert_eq!(ours.status.code(), Some(1));
    assert!(
        text(&ours.stderr).contains("data block 777 is corrupted"),
        "{}",
        text(&ours.stderr)
    );

    let wrong_root = "00".repeat(32);
    std::fs::write(&data, std::fs::read(&data).unwrap()).unwrap();
    let ours = run(blindfold()
        .args(["verity", "verify"])
        .arg(&data)
        .arg(&hash)
        .arg(&wrong_root));
    assert_eq!(ours.status.code(), Some(1));
}
