//! A real firmware log played into swtpm, quoted, and compared back:
//! `quote verify --eventlog` must report every PCR the log extends as
//! matching, PCRs outside the log as not-in-log, and a changed event as a
//! mismatch naming the PCR, the bank and both values.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use common::*;

const SELECTION: &str = "sha1:0,1,2,3,4,5,6,7,16+sha256:0,1,2,3,4,5,6,7,16";

fn extend_lines(log: &std::path::Path) -> Vec<String> {
    let out = run(blindfold().args(["eventlog", "show", "--json"]).arg(log));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] != "EV_NO_ACTION")
        .map(|e| {
            let digests: Vec<String> = e["digests"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(bank, hex)| format!("{bank}={}", hex.as_str().unwrap()))
                .collect();
            format!("{}:{}", e["pcr"], digests.join(","))
        })
        .collect()
}

fn verify(dir: &std::path::Path, log: &std::path::Path) -> (i32, serde_json::Value, String) {
    let nonce = std::fs::read_to_string(dir.join("nonce.hex")).unwrap();
    let out = run(blindfold()
        .args(["quote", "verify", "--json", "--ak"])
        .arg(dir.join("ak.pub"))
        .arg("--message")
        .arg(dir.join("msg"))
        .arg("--signature")
        .arg(dir.join("sig"))
        .arg("--pcrs")
        .arg(dir.join("pcrs"))
        .args(["--nonce", nonce.trim(), "--eventlog"])
        .arg(log));
    let v = serde_json::from_slice(&out.stdout).unwrap();
    (out.status.code().unwrap(), v, text(&out.stderr))
}

#[test]
fn a_log_played_into_a_tpm_replays_to_its_quote() {
    require_tool("swtpm");
    require_tool("tpm2_checkquote");
    let log = shared_testdata().join("tcg-eventlogs/gtt-rhel8-uefi/rhel8-uefi.bin");
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("extend.txt");
    std::fs::write(&list, extend_lines(&log).join("\n")).unwrap();
    let quote = dir.path().join("quote");
    let out = run(
        std::process::Command::new(repo_root().join("scripts/swtpm-quote.sh"))
            .env("EXTEND_LIST", &list)
            .arg(&quote)
            .args(["rsa", "rsassa", SELECTION]),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let nonce = std::fs::read_to_string(quote.join("nonce.hex")).unwrap();
    let theirs = run(std::process::Command::new("tpm2_checkquote")
        .arg("-u")
        .arg(quote.join("ak.pem"))
        .arg("-m")
        .arg(quote.join("msg"))
        .arg("-s")
        .arg(quote.join("sig"))
        .arg("-f")
        .arg(quote.join("pcrs"))
        .args(["-g", "sha256", "-q", nonce.trim()]));
    assert!(
        theirs.status.success(),
        "tpm2_checkquote: {}",
        text(&theirs.stderr)
    );

    let (code, v, err) = verify(&quote, &log);
    assert_eq!(code, 0, "{err}");
    let rows = v["eventlog"]["pcrs"].as_array().unwrap();
    assert_eq!(rows.len(), 18);
    for r in rows {
        let want = if r["pcr"] == 16 { "not-in-log" } else { "matches" };
        assert_eq!(r["status"], want, "{r}");
    }

    // Change one digest of the first PCR 4 event: the replay must name PCR 4.
    let mut bytes = std::fs::read(&log).unwrap();
    let show = run(blindfold().args(["eventlog", "show", "--json"]).arg(&log));
    let events: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let pcr4 = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["pcr"] == 4)
        .unwrap();
    let sha1 = hex::decode(pcr4["digests"]["sha1"].as_str().unwrap()).unwrap();
    let at = bytes.windows(20).position(|w| w == sha1.as_slice()).unwrap();
    bytes[at] ^= 0x01;
    let tampered = dir.path().join("tampered.bin");
    std::fs::write(&tampered, bytes).unwrap();
    let (code, v, err) = verify(&quote, &tampered);
    assert_eq!(code, 1);
    assert_eq!(v["verdict"], "failed");
    assert!(err.contains("PCR 4 (sha1): quote has "), "{err}");
    assert!(err.contains(", event log replays to "), "{err}");
    let row = v["eventlog"]["pcrs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pcr"] == 4 && r["bank"] == "sha1")
        .unwrap();
    assert_eq!(row["status"], "mismatch");
    assert_ne!(row["quoted"], row["replayed"]);
}
