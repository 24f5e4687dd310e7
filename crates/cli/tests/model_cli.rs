//! The model owner's commands: a KEK, sealing into a directory store and
//! into a real S3 server, memory that stays flat for a 256 MiB model, and
//! a canary in the weights that never appears outside the sealed chunks.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use blindfold_testdata::s3::{self, S3Server};
use common::*;

const CANARY: &[u8] = b"CANARY-owner-weights-51d7";

/// A sparse file of `len` bytes with the canary written at `at`.
fn weights(dir: &Path, len: u64, at: u64) -> PathBuf {
    let path = dir.join("weights.gguf");
    let mut f = std::fs::File::create(&path).unwrap();
    f.set_len(len).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(CANARY).unwrap();
    path
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn holds_canary(bytes: &[u8]) -> bool {
    bytes.windows(CANARY.len()).any(|w| w == CANARY)
}

#[test]
fn a_large_model_seals_in_flat_memory_and_never_in_the_clear() {
    require_tool("time");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let kek = d.join("kek.hex");
    let out = run(blindfold().args(["kbs", "kek", "-o"]).arg(&kek));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A second one does not overwrite it.
    let again = run(blindfold().args(["kbs", "kek", "-o"]).arg(&kek));
    assert_eq!(again.status.code(), Some(2));

    let size = 256u64 << 20;
    let file = weights(d, size, 100 << 20);
    let store = format!("file://{}", d.join("store").display());
    let out = run(Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_blindfold"))
        .args(["model", "seal"])
        .arg(&file)
        .args(["--name", "big", "--store", &store, "--kek-file"])
        .arg(&kek));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let peak_kb: u64 = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes): "))
        .unwrap()
        .parse()
        .unwrap();
    // Chunks of 4 MiB and at most five 16 MiB upload parts: the model's
    // size does not show.
    assert!(peak_kb < 160 * 1024, "peak {peak_kb} KiB sealing 256 MiB");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("sealed big into") && stdout.contains("in 64 chunks"),
        "{stdout}"
    );
    assert!(!holds_canary(stdout.as_bytes()) && !holds_canary(stderr.as_bytes()));
    for f in files_under(&d.join("store")) {
        assert!(
            !holds_canary(&std::fs::read(&f).unwrap()),
            "{} holds plaintext",
            f.display()
        );
    }

    let list = run(blindfold().args(["model", "list", "--store", &store]));
    assert_eq!(text(&list.stdout).trim(), "big");
    let show = run(blindfold().args(["model", "show", "big", "--store", &store]));
    let manifest: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(manifest["manifest"]["plaintext_size"], size);
    assert_eq!(manifest["manifest"]["chunk_count"], 64);
    let delete = run(blindfold().args(["model", "delete", "big", "--store", &store]));
    assert!(delete.status.success(), "{}", text(&delete.stderr));
    let show = run(blindfold().args(["model", "show", "big", "--store", &store]));
    assert_eq!(show.status.code(), Some(2));
    assert!(
        text(&show.stderr).contains("no model big in"),
        "{}",
        text(&show.stderr)
    );
}

#[test]
fn a_model_seals_into_a_real_s3_server_and_a_wrong_secret_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let server = S3Server::start(&d.join("s3"));
    let kek = d.join("kek.hex");
    assert!(run(blindfold().args(["kbs", "kek", "-o"]).arg(&kek))
        .status
        .success());
    let file = weights(d, 9 << 20, 5 << 20);
    let store = format!("s3://{}/owner-a", s3::BUCKET);
    let seal = |secret: &str| {
        run(blindfold()
            .args(["model", "seal"])
            .arg(&file)
            .args(["--name", "smollm2", "--store", &store, "--kek-file"])
            .arg(&kek)
            .envs(server.env(secret)))
    };
    let out = seal(s3::SECRET_ACCESS_KEY);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("in 3 chunks"), "{}", text(&out.stdout));
    let list = run(blindfold()
        .args(["model", "list", "--store", &store])
        .envs(server.env(s3::SECRET_ACCESS_KEY)));
    assert_eq!(text(&list.stdout).trim(), "smollm2");
    // The server keeps objects as files: no plaintext among them.
    for f in files_under(&d.join("s3")) {
        assert!(
            !holds_canary(&std::fs::read(&f).unwrap()),
            "{} holds plaintext",
            f.display()
        );
    }
    // Requests signed with another secret: refused by the server.
    let list = run(blindfold()
        .args(["model", "list", "--store", &store])
        .envs(server.env("not-the-secret")));
    assert_eq!(list.status.code(), Some(1), "{}", text(&list.stderr));
    assert!(text(&list.stderr).contains(&store), "{}", text(&list.stderr));
}

#[test]
fn a_broker_refuses_a_store_without_conditional_writes_before_it_listens() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let server = S3Server::start(&d.join("s3"));
    broker_keys(d);
    // rclone ignores If-None-Match: brokers sharing it could overwrite
    // each other's policy updates.
    let out =
        run(kbs_serve(blindfold(), d, &format!("s3://{}", s3::BUCKET))
            .envs(server.env(s3::SECRET_ACCESS_KEY)));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("does not honour conditional writes"), "{err}");
    assert!(!err.contains("listening on"), "{err}");
}

#[test]
fn sealing_needs_a_key_encryption_key_and_a_usable_name() {
    let tmp = tempfile::tempdir().unwrap();
    let file = weights(tmp.path(), 1000, 10);
    let store = format!("file://{}", tmp.path().join("store").display());
    let out = run(blindfold()
        .args(["model", "seal"])
        .arg(&file)
        .args(["--name", "m", "--store", &store])
        .env_remove("BLINDFOLD_KEK"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no key-encryption key"),
        "{}",
        text(&out.stderr)
    );
    let out = run(blindfold()
        .args(["model", "seal"])
        .arg(&file)
        .args(["--name", "Not/A/Name", "--store", &store])
        .env("BLINDFOLD_KEK", "11".repeat(32)));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("model name"), "{}", text(&out.stderr));
    let out = run(blindfold()
        .args(["model", "seal"])
        .arg(&file)
        .args(["--name", "m", "--store", &store])
        .env("BLINDFOLD_KEK", "not hex"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("64 hex digits"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_owner_policy_wraps_a_signed_build_and_only_grows() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let store = format!("file://{}", d.join("store").display());
    for key in ["owner", "publisher", "intruder"] {
        assert!(run(blindfold().args(["keygen", "-o"]).arg(d.join(key)))
            .status
            .success());
    }
    // A signed development reference, as `measure --sign` makes it.
    app_disk_manifest(d, 4096);
    let m = run(blindfold()
        .args(["measure", "--app-disk"])
        .arg(d.join("app.json"))
        .arg("--sign")
        .arg(d.join("publisher.key"))
        .arg("-o")
        .arg(d.join("build.json")));
    assert!(m.status.success(), "{}", text(&m.stderr));
    let file = weights(d, 1 << 20, 10);
    let seal = run(blindfold()
        .args(["model", "seal"])
        .arg(&file)
        .args(["--name", "smollm2", "--store", &store])
        .env("BLINDFOLD_KEK", "33".repeat(32)));
    assert!(seal.status.success(), "{}", text(&seal.stderr));

    let set = |publisher: &str| {
        run(blindfold()
            .args(["model", "policy", "set", "smollm2", "--reference"])
            .arg(d.join("build.json"))
            .arg("--publisher-key")
            .arg(d.join(format!("{publisher}.pub")))
            .arg("--owner-key")
            .arg(d.join("owner.key"))
            .args(["--store", &store, "--allow-development"]))
    };
    let out = set("publisher");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("policy v1 for smollm2"),
        "{}",
        text(&out.stdout)
    );
    let out = set("publisher");
    assert!(
        text(&out.stdout).starts_with("policy v2 for smollm2"),
        "{}",
        text(&out.stdout)
    );
    // A bundle that does not verify under the named publisher key: refused now.
    let out = set("intruder");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let show = |owner: &str| {
        run(blindfold()
            .args(["model", "policy", "show", "smollm2", "--owner-public-key"])
            .arg(d.join(format!("{owner}.pub")))
            .args(["--key-store", &store]))
    };
    let out = show("owner");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], 2);
    assert_eq!(v["allow_development"], true);
    let out = show("intruder");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not signed by the owner key"),
        "{}",
        text(&out.stderr)
    );

    // Rotation: a new key id, the old wrapped key gone, the same plaintext.
    let before = v_key_id(&store);
    let rotate = run(blindfold()
        .args(["model", "rotate-key", "smollm2", "--store", &store])
        .env("BLINDFOLD_KEK", "33".repeat(32)));
    assert!(rotate.status.success(), "{}", text(&rotate.stderr));
    let after = v_key_id(&store);
    assert_ne!(before, after);
    assert_eq!(
        text(&rotate.stdout).trim(),
        format!("rotated smollm2: key {before} -> {after}")
    );
    assert!(!d.join("store/kbs/keys/smollm2").join(&before).exists());
    assert!(d.join("store/kbs/keys/smollm2").join(&after).exists());
    // Under another KEK the old key does not unwrap: nothing changes.
    let rotate = run(blindfold()
        .args(["model", "rotate-key", "smollm2", "--store", &store])
        .env("BLINDFOLD_KEK", "44".repeat(32)));
    assert_eq!(rotate.status.code(), Some(2), "{}", text(&rotate.stderr));
    assert!(
        text(&rotate.stderr).contains("does not unwrap"),
        "{}",
        text(&rotate.stderr)
    );
    assert_eq!(v_key_id(&store), after);
}

fn v_key_id(store: &str) -> String {
    let show = run(blindfold().args(["model", "show", "smollm2", "--store", store]));
    let manifest: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    manifest["manifest"]["key_id"].as_str().unwrap().to_string()
}

#[test]
fn the_broker_says_which_key_to_pin_and_its_audit_log_reads_back() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    broker_keys(d);
    let store = format!("file://{}", d.join("store").display());
    // The owner's bearer token: the token in a 0600 file, its SHA-256 (all
    // the broker keeps) beside it.
    assert!(run(blindfold()
        .args(["kbs", "token", "-o"])
        .arg(d.join("owner.token")))
    .status
    .success());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("owner.token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(d.join("owner.token"))
        .unwrap()
        .trim()
        .to_string();
    let digest = run(Command::new("bash")
        .arg("-c")
        .arg(format!("printf %s {token} | sha256sum | cut -d' ' -f1")));
    assert_eq!(
        std::fs::read_to_string(d.join("owner.token.sha256"))
            .unwrap()
            .trim(),
        text(&digest.stdout).trim()
    );
    let again = run(blindfold()
        .args(["kbs", "token", "-o"])
        .arg(d.join("owner.token")));
    assert_eq!(again.status.code(), Some(2), "never overwritten");
    let serve = |owner: &str| {
        let mut cmd = blindfold();
        cmd.args(["kbs", "serve", "--key-store", &store, "--kek-file"])
            .arg(d.join("kek.hex"))
            .arg("--owner-public-key")
            .arg(d.join(owner))
            .arg("--tls-key")
            .arg(d.join("broker-tls.key"))
            .args(["--listen", "127.0.0.1:0", "--state-dir"])
            .arg(d.join("state"))
            .arg("--owner-token-sha256-file")
            .arg(d.join("owner.token.sha256"));
        cmd
    };
    let missing = run(&mut serve("nobody.pub"));
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("nobody.pub"),
        "{}",
        text(&missing.stderr)
    );

    let mut child = serve("owner.pub")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let line = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let _broker = KillOnDrop(child);
    assert!(line.contains("listening on https://127.0.0.1:"), "{line}");
    // The SPKI it names is the TLS key's, as OpenSSL computes it.
    let oracle = run(Command::new("bash").arg("-c").arg(format!(
        "openssl pkey -pubin -in {} -outform DER | sha256sum | cut -d' ' -f1",
        d.join("broker-tls.pub").display()
    )));
    let want = text(&oracle.stdout).trim().to_string();
    assert_eq!(want.len(), 64, "{}", text(&oracle.stderr));
    assert!(line.contains(&format!("SPKI SHA-256 is {want}")), "{line}");
    let pin = run(blindfold()
        .args(["kbs", "pin", "--tls-key"])
        .arg(d.join("broker-tls.key")));
    assert_eq!(text(&pin.stdout).trim(), want);

    // The owner's call with curl, the broker's key pinned: only with the
    // owner's token.
    require_tool("curl");
    let url = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let pinned = run(Command::new("bash").arg("-c").arg(format!(
        "openssl pkey -pubin -in {} -outform DER | openssl dgst -sha256 -binary | base64",
        d.join("broker-tls.pub").display()
    )));
    let curl = |token: &str| {
        let out = run(Command::new("curl")
            .args(["-sS", "-k", "--pinnedpubkey"])
            .arg(format!("sha256//{}", text(&pinned.stdout).trim()))
            .args(["-o", "/dev/null", "-w", "%{http_code}", "-H"])
            .arg(format!("Authorization: Bearer {token}"))
            .arg(format!("{url}/v1/owner/audit")));
        text(&out.stdout)
    };
    assert_eq!(curl(&token), "200");
    assert_eq!(curl("bfo_not-the-owner"), "401");

    // The audit log, as the broker writes it, reads back one line each.
    let records = [
        blindfold_kbs::AuditRecord {
            time: "2026-12-05T10:00:00Z".into(),
            connection: 1,
            model: "smollm2".into(),
            key_id: "aa".into(),
            platform: Some("local".into()),
            verdict: "released".into(),
            reason: "policy version 2, trust basis development".into(),
        },
        blindfold_kbs::AuditRecord {
            time: "2026-12-05T10:01:00Z".into(),
            connection: 2,
            model: "smollm2".into(),
            key_id: "aa".into(),
            platform: None,
            verdict: "refused".into(),
            reason: "challenge refused: unknown, or already used".into(),
        },
    ];
    let log: String = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(d.join("state/audit.jsonl"), log).unwrap();
    let audit = run(blindfold()
        .args(["kbs", "audit", "--state-dir"])
        .arg(d.join("state")));
    let out = text(&audit.stdout);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.contains("smollm2 key aa from local: released: policy version 2"),
        "{out}"
    );
    assert!(
        out.contains("from an unverified enclave: refused: challenge refused"),
        "{out}"
    );
}

/// Findings parliament may report on our KMS key policy: `Resource: "*"`
/// (in a key policy it means this key) and the NitroTPM condition keys,
/// which its action database predates. Anything else fails.
fn unexpected_findings(policy: &str) -> Vec<String> {
    let venv = std::env::var_os("BLINDFOLD_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/blindfold"))
        .join("venv/bin/parliament");
    assert!(
        venv.exists(),
        "{} is missing: scripts/setup.sh installs it",
        venv.display()
    );
    let mut child = Command::new(venv)
        .arg("--json")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(policy.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    text(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            let f: serde_json::Value = serde_json::from_str(l).unwrap();
            let known_gap = f["issue"] == "UNKNOWN_CONDITION_FOR_ACTION"
                && f["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("kms:RecipientAttestation:NitroTPMPCR");
            !(f["issue"] == "RESOURCE_STAR" || known_gap)
        })
        .map(String::from)
        .collect()
}

#[test]
fn a_kms_key_policy_for_the_build_passes_parliament() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let sample = shared_testdata().join("local-ovmf-boot/stub252");
    app_disk_manifest(d, 4096);
    let m = run(blindfold()
        .args(["measure", "--format", "nitro", "--uki"])
        .arg(sample.join("uki.efi"))
        .arg("--firmware-log")
        .arg(sample.join("eventlog.bin"))
        .arg("--app-disk")
        .arg(d.join("app.json"))
        .arg("-o")
        .arg(d.join("pcr_measurements.json")));
    assert!(m.status.success(), "{}", text(&m.stderr));
    let measured: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("pcr_measurements.json")).unwrap()).unwrap();
    let policy = |owner: &str| {
        run(blindfold()
            .args(["model", "kms-policy", "--measurements"])
            .arg(d.join("pcr_measurements.json"))
            .args([
                "--role",
                "arn:aws:iam::444455556666:role/enclave",
                "--owner-account",
                owner,
            ]))
    };
    let out = policy("111122223333");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let allow = &doc["Statement"][1];
    assert_eq!(allow["Action"], "kms:Decrypt");
    for pcr in ["4", "12"] {
        assert_eq!(
            allow["Condition"]["StringEqualsIgnoreCase"]
                [format!("kms:RecipientAttestation:NitroTPMPCR{pcr}")],
            measured["Measurements"][format!("PCR{pcr}")]
                .as_str()
                .unwrap()
                .to_lowercase()
        );
    }
    let findings = unexpected_findings(&text(&out.stdout));
    assert!(findings.is_empty(), "{findings:?}");
    // parliament does flag what we must never write (its check works here).
    let mut loose = doc.clone();
    loose["Statement"][1]["Action"] = "kms:Decript".into();
    assert!(!unexpected_findings(&loose.to_string()).is_empty());

    let same = policy("444455556666");
    assert_eq!(same.status.code(), Some(2));
    assert!(
        text(&same.stderr).contains("operator would administer the key"),
        "{}",
        text(&same.stderr)
    );
}
