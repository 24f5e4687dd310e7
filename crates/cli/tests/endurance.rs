//! The endurance bench's short run (`bench/endurance.sh`, with this
//! suite's binaries): streaming chats through `blindfold proxy` to three
//! local enclaves whose sealed model's key comes from two broker replicas
//! behind HAProxy; one enclave and one broker are killed mid-run. No
//! request fails (streams cut by the kill are counted apart), every answer
//! carries a receipt citing an enclave boot of this run (one receipt of
//! each boot verified against the signed reference), the restarted enclave
//! (a new TLS key on the same address, attested again by the proxy) gets
//! its key from the surviving broker and serves again, and
//! each broker released at most one key per connection.

#![allow(clippy::unwrap_used, missing_docs)]
mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

#[test]
fn a_short_run_with_a_killed_enclave_and_broker_fails_no_request() {
    for tool in ["swtpm", "haproxy", "bash"] {
        require_tool(tool);
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_blindfold")).parent().unwrap();
    let o = run(Command::new("bash")
        .arg(repo_root().join("bench/endurance.sh"))
        .args(["100", "4", "--fault"])
        .env("BLINDFOLD_BIN_DIR", bin_dir)
        .env("BENCH_FAULT_AT", "20")
        .env("BENCH_MAX_TOKENS", "12"));
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let load = &r["load"];
    assert_eq!(load["error"], 0, "{r:#}");
    assert!(load["ok"].as_u64().unwrap() >= 20, "{r:#}");
    assert_eq!(load["answers_without_receipt"], 0, "{r:#}");
    assert_eq!(r["every_answer_from_a_known_enclave"], true, "{r:#}");
    let boots = &r["answers_by_enclave_boot"];
    for boot in ["1-first", "2-first", "3-first", "1-restarted"] {
        assert!(
            boots[boot].as_u64().unwrap_or(0) > 0,
            "{boot} answered nothing: {r:#}"
        );
        // A receipt of each boot verifies against the signed reference.
        assert_eq!(r["receipt_verified_per_boot"][boot], true, "{boot}: {r:#}");
    }
    // Broker 1 was dead when enclave 1 restarted: broker 2 released its key.
    assert!(
        r["fault"]
            .as_str()
            .unwrap()
            .contains("its key released by broker 2"),
        "{r:#}"
    );
    let releases = &r["key_releases"];
    let total: u64 = ["kbs1", "kbs2"]
        .iter()
        .map(|b| releases[b]["released"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total, 4, "three boots and one restart: {r:#}");
    for b in ["kbs1", "kbs2"] {
        assert_ne!(releases[b]["one_per_connection"], false, "{r:#}");
    }
}
