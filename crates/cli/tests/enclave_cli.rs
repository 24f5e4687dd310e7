//! The whole chain with the commands a developer types: `blindfold platform
//! init/start`, `blindfold disk build`, `blindfold measure`,
//! `blindfold-enclave`, and `blindfold verify`.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

fn enclave_binary() -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_BIN_EXE_blindfold")).with_file_name("blindfold-enclave");
    assert!(
        p.exists(),
        "{} not built: run the workspace's tests (cargo test --workspace)",
        p.display()
    );
    p
}

/// Starts `binary` with `dir/enclave.json` and `dir/launch.json`; returns
/// it and the address it listens on.
fn start_enclave(binary: &std::path::Path, dir: &std::path::Path) -> (KillOnDrop, String) {
    let mut enclave = KillOnDrop(
        Command::new(binary)
            .arg("--config")
            .arg(dir.join("enclave.json"))
            .arg("--launch")
            .arg(dir.join("launch.json"))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(enclave.0.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("enclave exited").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (enclave, addr)
}

/// Restarts the platform (PCR 15 back to zero) on a new port and points
/// `dir/launch.json` at it.
fn restart_platform(platform: &std::path::Path, dir: &std::path::Path) {
    assert!(run(blindfold().args(["platform", "stop"]).arg(platform))
        .status
        .success());
    start_platform(platform, dir);
}

/// Starts the platform on a free port and points `dir/launch.json` at it.
fn start_platform(platform: &std::path::Path, dir: &std::path::Path) {
    let start = run(blindfold().args(["platform", "start"]).arg(platform));
    assert!(start.status.success(), "{}", text(&start.stderr));
    let launch = blindfold_enclave_config::LaunchConfig {
        tcti: text(&start.stdout).trim().to_string(),
        listen: "127.0.0.1:0".into(),
    };
    std::fs::write(dir.join("launch.json"), launch.to_bytes().unwrap()).unwrap();
}

#[test]
fn blindfold_verify_passes_against_a_local_enclave() {
    require_tool("swtpm");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let platform = d.join("platform");
    assert!(run(blindfold().args(["platform", "init"]).arg(&platform))
        .status
        .success());
    let start = run(blindfold().args(["platform", "start"]).arg(&platform));
    assert!(start.status.success(), "{}", text(&start.stderr));
    let tcti = text(&start.stdout).trim().to_string();
    let _stop = StopPlatformOnDrop(platform.clone());

    std::fs::create_dir(d.join("app")).unwrap();
    std::fs::write(d.join("app/runtime.json"), "{\"served\": \"nothing yet\"}").unwrap();
    let root = run(blindfold()
        .args(["disk", "build"])
        .arg(d.join("app"))
        .arg("-o")
        .arg(d.join("app.img")));
    assert!(root.status.success(), "{}", text(&root.stderr));
    common::write_enclave_config(d, &tcti, None, |_| {});
    measure(d, "enclave.json", &[], "measurements.json");

    let (enclave, addr) = start_enclave(&enclave_binary(), d);

    let verify = |extra: &[&str]| {
        let out = run(blindfold()
            .args(["verify", &format!("https://{addr}"), "--reference"])
            .arg(d.join("measurements.json"))
            .args(["--reference-unsigned", "--platform-ca"])
            .arg(platform.join("ca.pem"))
            .args(extra));
        (out.status.code().unwrap(), text(&out.stdout), text(&out.stderr))
    };
    let (code, out, err) = verify(&["--allow-dev", "--allow-dev-reference", "--json"]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["platform"], "local");
    assert_eq!(report["trust_basis"], "development");
    assert_eq!(report["binding"]["fresh"], true);
    assert_eq!(report["runtime_events"].as_array().unwrap().len(), 4);
    assert_eq!(report["runtime_events"][0]["type"], "enclave-binary", "{out}");
    assert!(
        report["binding"]["epoch"].is_null(),
        "per-session quotes by default"
    );

    // The client's opt-in to epoch evidence: the report says which epoch,
    // how old by this clock, and what it gives up.
    let (code, out, err) = verify(&["--allow-dev", "--allow-dev-reference", "--accept-epoch-evidence"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("freshness:   epoch evidence"), "{out}");
    assert!(
        out.contains("the operator controls on hypervisor platforms"),
        "{out}"
    );
    let (code, out, err) = verify(&[
        "--allow-dev",
        "--allow-dev-reference",
        "--accept-epoch-evidence",
        "--epoch-max-age",
        "30",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["binding"]["epoch"]["epoch"], 1, "{out}");
    assert_eq!(report["binding"]["epoch"]["max_age_seconds"], 30, "{out}");
    assert_eq!(report["binding"]["epoch"]["caveats"].as_array().unwrap().len(), 2);
    assert!(report["binding"]["nonce"].is_null(), "{out}");
    // The maximum age means nothing without the opt-in.
    let (code, _, err) = verify(&["--allow-dev", "--allow-dev-reference", "--epoch-max-age", "30"]);
    assert_eq!(code, 2, "{err}");

    // A stale reference (measured from another configuration): PCR 15
    // differs, and the error names the runtime event that does.
    let mut stale =
        blindfold_enclave_config::EnclaveConfig::parse(&std::fs::read(d.join("enclave.json")).unwrap())
            .unwrap();
    stale.evidence_per_second += 1;
    std::fs::write(d.join("stale.json"), stale.to_bytes().unwrap()).unwrap();
    measure(d, "stale.json", &[], "stale-measurements.json");
    let out = dev_verify(&addr, &d.join("stale-measurements.json"), &platform);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("PCR 15 (sha256): expected")
            && err.contains("runtime events: config sha256 differs: expected"),
        "{err}"
    );
    assert!(
        !err.contains("app-disk root hash differs"),
        "only the configuration changed: {err}"
    );
    assert!(
        !err.contains("no measured boot"),
        "the accepted development warning is no cause: {err}"
    );

    // A relay that terminates TLS (socat with its own certificate, and a
    // TLS session of its own to the enclave): the evidence is bound to the
    // relay's session, and the client says so, once, and exits 1.
    require_tool("socat");
    let relay_pem = d.join("relay.pem");
    let key = run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", "/CN=relay", "-days", "1", "-keyout"])
        .arg(&relay_pem)
        .arg("-out")
        .arg(d.join("relay-cert.pem")));
    assert!(key.status.success(), "{}", text(&key.stderr));
    let mut pem = std::fs::read(&relay_pem).unwrap();
    pem.extend(std::fs::read(d.join("relay-cert.pem")).unwrap());
    std::fs::write(&relay_pem, pem).unwrap();
    let relay_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _relay = KillOnDrop(
        Command::new("socat")
            .arg(format!(
                "OPENSSL-LISTEN:{relay_port},bind=127.0.0.1,reuseaddr,fork,cert={},verify=0",
                relay_pem.display()
            ))
            .arg(format!("OPENSSL:{addr},verify=0"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = run(blindfold()
        .args([
            "verify",
            &format!("https://127.0.0.1:{relay_port}"),
            "--wait",
            "10",
            "--reference",
        ])
        .arg(d.join("measurements.json"))
        .args(["--reference-unsigned", "--platform-ca"])
        .arg(platform.join("ca.pem"))
        .args(["--allow-dev", "--allow-dev-reference"]));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the evidence is bound to another TLS session than yours: something between you and the enclave terminates TLS"),
        "{err}"
    );
    assert_eq!(err.matches("is not the expected nonce").count(), 1, "{err}");

    // Process mode needs both opt-ins: each refusal says why.
    let (code, _, err) = verify(&[]);
    assert_eq!(code, 1);
    assert!(err.contains("development references are not allowed"), "{err}");
    let (code, _, err) = verify(&["--allow-dev"]);
    assert_eq!(code, 1);
    assert!(err.contains("development references are not allowed"), "{err}");
    // With --json a failure still prints the documented object.
    let (code, out, _) = verify(&["--allow-dev", "--json"]);
    assert_eq!(code, 1);
    let failed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(failed["verified"], false, "{out}");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("development references are not allowed"),
        "{out}"
    );
    let (code, _, err) = verify(&["--allow-dev-reference"]);
    assert_eq!(
        code, 2,
        "a development reference without the development platform is a usage error: {err}"
    );
    // A client that requires more than the development trust basis.
    let (code, _, err) = verify(&["--allow-dev", "--allow-dev-reference", "--min-trust-basis", "cvm"]);
    assert_eq!(code, 1);
    assert!(err.contains("weaker than the required cvm"), "{err}");

    drop(enclave);

    // The platform restarted elsewhere (a new port, so a new TCTI): only the
    // unmeasured launch configuration changes, and the same measurements
    // still verify the restarted enclave.
    restart_platform(&platform, d);
    let (enclave, addr) = start_enclave(&enclave_binary(), d);
    let out = dev_verify(&addr, &d.join("measurements.json"), &platform);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    drop(enclave);

    // Another blindfold-enclave executable (one byte appended: it still
    // runs) measures another digest first: PCR 15 differs, and the error
    // names the enclave binary.
    restart_platform(&platform, d);
    let mut swapped = std::fs::read(enclave_binary()).unwrap();
    swapped.push(0);
    let swapped_path = d.join("blindfold-enclave");
    std::fs::write(&swapped_path, swapped).unwrap();
    std::fs::set_permissions(&swapped_path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (enclave, addr) = start_enclave(&swapped_path, d);
    let out = dev_verify(&addr, &d.join("measurements.json"), &platform);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("PCR 15 (sha256): expected")
            && err.contains("runtime events: enclave binary sha256 differs: expected"),
        "{err}"
    );
    assert!(
        !err.contains("config sha256 differs"),
        "only the binary changed: {err}"
    );
    // measure --enclave-binary predicts the swapped one.
    measure(
        d,
        "enclave.json",
        &["--enclave-binary".as_ref(), swapped_path.as_os_str()],
        "swapped-measurements.json",
    );
    let out = dev_verify(&addr, &d.join("swapped-measurements.json"), &platform);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    drop(enclave);
    assert!(run(blindfold().args(["platform", "stop"]).arg(&platform))
        .status
        .success());
}

/// `blindfold measure` of `dir/app.img.json` with the configuration
/// `dir/CONFIG` (and `extra` options) into `dir/OUT`, which must succeed.
fn measure(dir: &std::path::Path, config: &str, extra: &[&std::ffi::OsStr], out: &str) {
    let m = run(blindfold()
        .args(["measure", "--app-disk"])
        .arg(dir.join("app.img.json"))
        .arg("--enclave-config")
        .arg(dir.join(config))
        .args(extra)
        .arg("-o")
        .arg(dir.join(out)));
    assert!(m.status.success(), "{}", text(&m.stderr));
}

/// `blindfold verify` of the enclave at `addr` against an unsigned
/// development `reference`, with the platform's CA.
fn dev_verify(addr: &str, reference: &std::path::Path, platform: &std::path::Path) -> std::process::Output {
    run(blindfold()
        .args(["verify", &format!("https://{addr}"), "--json", "--reference"])
        .arg(reference)
        .args(["--reference-unsigned", "--platform-ca"])
        .arg(platform.join("ca.pem"))
        .args(["--allow-dev", "--allow-dev-reference"]))
}

/// An upstream engine's weights are outside the app disk in process mode:
/// the enclave hashes the file its configuration names before it starts
/// the server and measures it as the model, so a swapped file changes
/// PCR 15 and the verifier names the model event.
#[test]
fn an_upstream_weights_file_is_measured_and_a_swapped_one_fails_naming_the_model() {
    require_tool("swtpm");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let platform = d.join("platform");
    assert!(run(blindfold().args(["platform", "init"]).arg(&platform))
        .status
        .success());
    let _stop = StopPlatformOnDrop(platform.clone());
    start_platform(&platform, d);
    std::fs::create_dir(d.join("app")).unwrap();
    std::fs::write(d.join("app/runtime.json"), "{}").unwrap();
    let b = run(blindfold()
        .args(["disk", "build"])
        .arg(d.join("app"))
        .arg("-o")
        .arg(d.join("app.img")));
    assert!(b.status.success(), "{}", text(&b.stderr));
    let weights = d.join("upstream.gguf");
    std::fs::write(&weights, b"the weights the owner published").unwrap();
    let standin = blindfold_testdata::standin::StandIn {
        token_interval: std::time::Duration::from_millis(1),
    }
    .spawn();
    let tcti = blindfold_enclave_config::LaunchConfig::parse(&std::fs::read(d.join("launch.json")).unwrap())
        .unwrap()
        .tcti;
    let engine = blindfold_engine::EngineConfig::Upstream(blindfold_engine::UpstreamConfig {
        address: standin,
        upstream_model: "standin".into(),
        model_id: "standin".into(),
        context_length: 4096,
        command: None,
        weights: Some(weights.clone()),
    });
    common::write_enclave_config(d, &tcti, Some(engine), |_| {});
    measure(d, "enclave.json", &[], "measurements.json");

    let (enclave, addr) = start_enclave(&enclave_binary(), d);
    let out = dev_verify(&addr, &d.join("measurements.json"), &platform);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let model = &report["runtime_events"][4];
    assert_eq!(model["type"], "model", "{report}");
    assert_eq!(model["name"], "standin");
    assert_eq!(
        model["sha256"],
        blindfold_crypto::default_provider()
            .hash(
                blindfold_crypto::HashAlg::Sha256,
                &[&std::fs::read(&weights).unwrap()]
            )
            .to_hex()
    );
    drop(enclave);

    // The operator swaps the file and restarts: the evidence changes.
    std::fs::write(&weights, b"other weights, same size and name!").unwrap();
    restart_platform(&platform, d);
    let (_enclave, addr) = start_enclave(&enclave_binary(), d);
    let out = dev_verify(&addr, &d.join("measurements.json"), &platform);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("PCR 15 (sha256): expected")
            && err.contains("runtime events: model \"standin\" sha256 differs: expected"),
        "{err}"
    );
}

/// `blindfold-enclave --help` explains both files and exits 0; a missing
/// launch file is a usage error (2).
#[test]
fn the_enclave_explains_its_two_files() {
    let out = Command::new(enclave_binary()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(
        help.contains("--config FILE") && help.contains("--launch FILE") && help.contains("not measured"),
        "{help}"
    );
    let out = Command::new(enclave_binary())
        .args(["--config", "enclave.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `platform start plat` with a relative directory, as the README writes
/// it: swtpm changes to `/` when it becomes a daemon, so the directory is
/// resolved first and the TPM must answer before the TCTI is printed.
#[test]
fn a_platform_started_from_a_relative_directory_answers() {
    require_tool("swtpm");
    let tmp = tempfile::tempdir().unwrap();
    let init = run(blindfold()
        .current_dir(tmp.path())
        .args(["platform", "init", "plat"]));
    assert!(init.status.success(), "{}", text(&init.stderr));
    let start = run(blindfold()
        .current_dir(tmp.path())
        .args(["platform", "start", "plat"]));
    assert!(start.status.success(), "{}", text(&start.stderr));
    let tcti = text(&start.stdout).trim().to_string();
    let mut tpm = blindfold_attester::Tpm::open(&tcti).unwrap();
    let pcrs = tpm
        .read_pcrs(&[blindfold_crypto::HashAlg::Sha256], &[0, 15])
        .unwrap();
    assert_eq!(pcrs.banks().count(), 1);
    let stop = run(blindfold()
        .current_dir(tmp.path())
        .args(["platform", "stop", "plat"]));
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    // A platform whose TPM state cannot be read does not start.
    std::fs::write(tmp.path().join("plat/tpm/tpm2-00.permall"), b"not a TPM state").unwrap();
    let broken = run(blindfold()
        .current_dir(tmp.path())
        .args(["platform", "start", "plat"]));
    assert_eq!(broken.status.code(), Some(2), "{}", text(&broken.stdout));
    assert!(text(&broken.stderr).contains("swtpm"), "{}", text(&broken.stderr));
}
