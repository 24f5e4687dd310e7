//! `blindfold api-key`: a random key in a new private file, and a
//! configuration entry that accepts it without holding it.
#![allow(clippy::unwrap_used, missing_docs)]
mod common;

use std::os::unix::fs::PermissionsExt;

use common::{blindfold, run, text};

#[test]
fn the_key_goes_to_a_private_file_and_the_entry_holds_no_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key_file = tmp.path().join("team-a.key");
    let out = run(blindfold()
        .args([
            "api-key",
            "--name",
            "team-a",
            "--requests-per-minute",
            "60",
            "--key-out",
        ])
        .arg(&key_file));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = std::fs::read_to_string(&key_file).unwrap().trim().to_string();
    assert!(key.starts_with("bf-") && key.len() == 3 + 64, "{key}");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains(&key[3..]), "the key was printed");
    let entry: blindfold_protocol::api_keys::ApiKeyConfig = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (entry.name.as_str(), entry.requests_per_minute),
        ("team-a", Some(60))
    );
    let salt = hex::decode(&entry.salt).unwrap();
    assert_eq!(
        entry.hmac_sha256,
        hex::encode(blindfold_protocol::api_keys::keyed_hash(&salt, key.as_bytes()))
    );
    // An existing file is never overwritten.
    let again = run(blindfold()
        .args(["api-key", "--name", "team-a", "--key-out"])
        .arg(&key_file));
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().trim(), key);
}
