//! The measured image booted for real (QEMU + OVMF + swtpm, TCG here):
//! a reference boot gives PCRs 0-3 and 7, `blindfold measure --image`
//! predicts the rest, and `blindfold verify` passes with that measured-boot
//! reference and no development reference, both banks (SHA-384 included);
//! a chat answer comes back and the serial console never holds the prompt;
//! an image with one changed input fails naming PCR 4; one changed byte on
//! the app disk stops the machine before anything is served.
//!
//! The boots run one after another (each takes a core under TCG).

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use common::vm::*;
use common::*;

static ONE_VM_AT_A_TIME: Mutex<()> = Mutex::new(());

const CANARY: &str = "canary-7f3e9a1c-measured-vm";

/// image.toml serving the packaged model, with one extra app file whose
/// contents the caller picks (a changed input changes the image).
fn write_spec(dir: &Path, enclave: &Path, note: &str) -> PathBuf {
    let model = blindfold_testdata::packaged_model();
    spec_with_config(
        dir,
        enclave,
        r#"{"platform": "local",
            "network": {"address": "10.0.2.15/24", "gateway": "10.0.2.2", "listen_port": 8443},
            "engine": {"embedded": {"gguf": "/app/model.gguf", "model_id": "smollm2", "default_max_tokens": 8}}}"#,
        note,
        &[("model.gguf", &model)],
    )
}

/// One local platform and its firmware reference for every test here:
/// PCRs 0-3 and 7 depend on OVMF and the QEMU command line, not on the
/// image, so one reference boot (of a small plain image) serves all.
#[derive(Clone)]
struct SharedPlatform {
    platform: PathBuf,
    firmware: PathBuf,
}

fn shared_platform() -> &'static SharedPlatform {
    static SHARED: std::sync::OnceLock<SharedPlatform> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("measured-vm-platform");
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let enclave = stripped_enclave(&d);
        let plain_config =
            r#"{"platform": "local", "network": {"address": "10.0.2.15/24", "listen_port": 8443}}"#;
        build_image(
            &spec_with_config(&d, &enclave, plain_config, "plain\n", &[]),
            &d.join("image"),
        );
        let platform = d.join("platform");
        ok(blindfold().args(["platform", "init"]).arg(&platform));
        let firmware = d.join("firmware.log");
        reference_boot(&d.join("image"), &platform, &firmware, &[]);
        SharedPlatform { platform, firmware }
    })
}

#[test]
fn a_measured_image_verifies_against_its_build_time_prediction_and_a_changed_one_does_not() {
    let _one = ONE_VM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for tool in ["qemu-system-x86_64", "swtpm", "strip", "mformat", "mkfs.erofs"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let enclave = stripped_enclave(d);
    let image = d.join("image");
    build_image(&write_spec(d, &enclave, "first\n"), &image);
    // PCRs 0-3 and 7 of this platform and QEMU line: the reference boot.
    let SharedPlatform { platform, firmware } = shared_platform().clone();
    let measurements = d.join("measurements.json");
    let o = measure_image(&image, &firmware, &measurements);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&measurements).unwrap()).unwrap();
    assert_eq!(m["kind"], "measured-boot");

    // The real boot: verified with the measured-boot reference alone.
    let port = free_port();
    let console = d.join("console.log");
    let vm = vm_run(&image, &platform, port, &console);
    let url = format!("https://127.0.0.1:{port}");
    let o = run(blindfold()
        .args(["verify", &url, "--json", "--wait", "240"])
        .args(trust(&measurements, &platform)));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert!(
        o.status.success(),
        "verify: {}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let claims = report.to_string();
    for claim in [
        "pcr.sha256.4",
        "pcr.sha384.4",
        "pcr.sha256.11",
        "pcr.sha384.11",
        "pcr.sha384.9",
        "event-log",
    ] {
        assert!(claims.contains(claim), "no {claim} in {claims}");
    }
    assert!(!claims.contains("\"contraindicated\""), "{claims}");

    // An answer through the attested session; the prompt never reaches
    // the console.
    let answer = chat_with_canary(&url, &measurements, &platform, CANARY);
    assert!(answer.status.success(), "chat: {}", text(&answer.stderr));
    assert!(!text(&answer.stdout).trim().is_empty(), "no answer");
    stop(vm);
    let log = std::fs::read_to_string(&console).unwrap();
    assert!(log.contains("ready, listening"), "{log}");
    assert!(!log.contains(CANARY), "the prompt reached the serial console");

    // One changed input (a file on the app disk): a new root hash, a new
    // command line, a new UKI. Its own boot fails the old reference at PCR 4.
    let changed = d.join("changed");
    build_image(&write_spec(d, &enclave, "second\n"), &changed);
    let port = free_port();
    let vm = vm_run(&changed, &platform, port, &d.join("console2.log"));
    let o = verify_vm(port, &measurements, &platform);
    stop(vm);
    assert!(
        !o.status.success(),
        "a changed image verified: {}",
        text(&o.stdout)
    );
    let out = text(&o.stdout) + &text(&o.stderr);
    assert!(
        out.contains("pcr.sha256.4"),
        "the refusal does not name PCR 4: {out}"
    );

    // The same image, booted through a Boot#### entry whose load options
    // replace its command line (the operator controls the firmware's
    // variables; Secure Boot is off here): the options keep the verity
    // table, so the enclave boots and serves, but systemd-stub measures
    // them into PCR 12 and the kernel into PCR 9: refused, naming both.
    let python = blindfold_testdata::openai_python(); // the venv with virt-firmware too
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(image.join("image.json")).unwrap()).unwrap();
    let options = format!("{} blindfold.operator=1", manifest["cmdline"].as_str().unwrap());
    let vars = d.join("vars-with-load-options.fd");
    ok(Command::new(&python)
        .arg(repo_root().join("scripts/efi-boot-entry.py"))
        .arg("/usr/share/OVMF/OVMF_VARS_4M.fd")
        .arg(&vars)
        .arg(&options));
    let port = free_port();
    let console = d.join("console-load-options.log");
    let vm = vm_command(&image, &platform, port, &console)
        .arg("--efi-vars")
        .arg(&vars)
        .spawn()
        .unwrap();
    let o = verify_vm(port, &measurements, &platform);
    stop(vm);
    let out = text(&o.stdout) + &text(&o.stderr);
    let log = std::fs::read_to_string(&console).unwrap_or_default();
    assert!(
        log.contains("ready, listening"),
        "the enclave did not serve under the load options (the refusal must come from the PCRs): {log}"
    );
    assert!(!o.status.success(), "an overridden command line verified: {out}");
    for pcr in ["pcr.sha256.12", "pcr.sha256.9"] {
        assert!(out.contains(pcr), "the refusal does not name {pcr}: {out}");
    }
}

/// An upstream engine inside the image: llama.cpp's `llama-server` in the
/// initrd (PCR 4), its weights on the app disk (dm-verity) and measured as
/// the model (PCR 15); the enclave starts it on loopback and answers
/// through it over the attested session.
#[test]
fn an_upstream_llama_server_in_the_image_is_measured_and_answers() {
    let _one = ONE_VM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(llama) = blindfold_testdata::llama_server() else {
        eprintln!("llama-server is not built here (BLINDFOLD_NO_REFERENCE): the upstream engine in the image is not checked");
        return;
    };
    for tool in ["qemu-system-x86_64", "swtpm", "strip"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let enclave = stripped_enclave(d);
    let model = blindfold_testdata::packaged_model();
    let config = r#"{"platform": "local",
        "network": {"address": "10.0.2.15/24", "gateway": "10.0.2.2", "listen_port": 8443},
        "engine": {"upstream": {"address": "127.0.0.1:8081", "upstream_model": "smollm2",
            "model_id": "smollm2", "context_length": 2048, "weights": "/app/model.gguf",
            "command": ["/usr/bin/llama-server", "-m", "/app/model.gguf", "--host", "127.0.0.1",
                        "--port", "8081", "-t", "2", "-c", "2048"]}}}"#;
    let spec = spec_with_config(d, &enclave, config, "upstream\n", &[("model.gguf", &model)]);
    let mut toml = std::fs::read_to_string(&spec).unwrap();
    toml.push_str(&format!(
        "[programs]\n\"llama-server\" = \"{}\"\n",
        llama.display()
    ));
    std::fs::write(&spec, toml).unwrap();
    let image = d.join("image");
    build_image(&spec, &image);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(image.join("image.json")).unwrap()).unwrap();
    assert!(
        manifest["inputs"]["program/llama-server"].is_string(),
        "{manifest}"
    );
    assert!(
        manifest["libraries"].to_string().contains("libgomp.so.1"),
        "llama-server's libraries are in the initrd: {manifest}"
    );

    let SharedPlatform { platform, firmware } = shared_platform();
    let measurements = d.join("measurements.json");
    let o = measure_image(&image, firmware, &measurements);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let port = free_port();
    let console = d.join("console.log");
    let vm = vm_run(&image, platform, port, &console);
    let url = format!("https://127.0.0.1:{port}");
    let o = run(blindfold()
        .args(["verify", &url, "--json", "--wait", "300"])
        .args(trust(&measurements, platform)));
    if !o.status.success() {
        stop(vm);
        panic!(
            "verify: {}{}\nconsole:\n{}",
            text(&o.stdout),
            text(&o.stderr),
            std::fs::read_to_string(&console).unwrap_or_default()
        );
    }
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let model_sha256 = blindfold_crypto::default_provider()
        .hash(
            blindfold_crypto::HashAlg::Sha256,
            &[&std::fs::read(&model).unwrap()],
        )
        .to_hex();
    let events = report["runtime_events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "model" && e["name"] == "smollm2" && e["sha256"] == model_sha256.as_str()),
        "the upstream's weights are not measured: {report}"
    );

    let answer = chat_with_canary(&url, &measurements, platform, CANARY);
    stop(vm);
    let log = std::fs::read_to_string(&console).unwrap();
    assert!(
        answer.status.success(),
        "chat: {}\nconsole:\n{log}",
        text(&answer.stderr)
    );
    assert!(!text(&answer.stdout).trim().is_empty(), "no answer");
    assert!(log.contains("model `smollm2` loaded"), "{log}");
    assert!(!log.contains(CANARY), "the prompt reached the serial console");
}

#[test]
fn one_changed_byte_on_the_app_disk_stops_the_machine_before_anything_is_served() {
    let _one = ONE_VM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for tool in ["qemu-system-x86_64", "swtpm", "strip"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let enclave = stripped_enclave(d);
    let image = d.join("image");
    build_image(&write_spec(d, &enclave, "note\n"), &image);
    let platform = d.join("platform");
    assert!(run(blindfold().args(["platform", "init"]).arg(&platform))
        .status
        .success());
    // The app partition starts after the ESP. One changed byte in a block
    // read at start (erofs's superblock, read when the disk is mounted),
    // then in one read later (the middle of the data: the model, read when
    // the enclave loads it, after its disk is mounted and PCR 15 extended).
    let disk = image.join("disk.img");
    let pristine = std::fs::read(&disk).unwrap();
    let entry = &pristine[1024 + 128..1024 + 256];
    let app = u64::from_le_bytes(entry[32..40].try_into().unwrap()) as usize * 512;
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(image.join("app.img.json")).unwrap()).unwrap();
    let data_size = manifest["data_size"].as_u64().unwrap() as usize;
    for (what, offset) in [("at mount", 1100), ("when the model is loaded", data_size / 2)] {
        let mut bytes = pristine.clone();
        bytes[app + offset] ^= 0x01;
        std::fs::write(&disk, &bytes).unwrap();
        let console = d.join(format!("console-{offset}.log"));
        let mut vm = vm_run(&image, &platform, free_port(), &console);
        // The kernel's dm-verity refuses the block and panics; the machine
        // stops by itself (vm run returns) without ever serving.
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = vm.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > std::time::Duration::from_secs(180) {
                stop(vm);
                panic!("the machine kept running on an app disk changed in a block read {what}");
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        };
        assert!(status.success(), "{status}");
        let log = std::fs::read_to_string(&console).unwrap();
        assert!(
            log.contains("verity") && log.to_lowercase().contains("corrupt"),
            "a block read {what}: {log}"
        );
        assert!(!log.contains("ready, listening"), "a block read {what}: {log}");
    }
    // The later block is read after the disk was mounted.
    let later = std::fs::read_to_string(d.join(format!("console-{}.log", data_size / 2))).unwrap();
    assert!(later.contains("opened through dm-verity"), "{later}");
}

#[test]
fn inside_the_vm_a_sealed_model_comes_from_s3_and_its_key_only_to_the_approved_measured_boot() {
    let _one = ONE_VM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for tool in ["qemu-system-x86_64", "swtpm", "strip", "sha256sum"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let enclave = stripped_enclave(d);
    let model = blindfold_testdata::packaged_model();
    // A store with conditional writes, as brokers require (rclone has none).
    let s3 = blindfold_testdata::seaweedfs::SeaweedServer::start(&d.join("s3"));
    let env = s3.env();
    let store = format!("s3://{}", blindfold_testdata::s3::BUCKET);
    let with_env = |mut c: Command| {
        for (k, v) in &env {
            c.env(k, v);
        }
        c
    };

    // The owner seals the model into S3 and runs the broker on the host.
    for key in ["owner", "publisher", "broker-tls"] {
        ok(blindfold().args(["keygen", "-o"]).arg(d.join(key)));
    }
    ok(blindfold().args(["kbs", "kek", "-o"]).arg(d.join("kek.hex")));
    ok(with_env(blindfold())
        .args(["model", "seal"])
        .arg(&model)
        .args(["--name", "smollm2", "--store", &store, "--kek-file"])
        .arg(d.join("kek.hex")));
    let SharedPlatform { platform, firmware } = shared_platform().clone();
    let (broker, broker_url, spki) = start_broker(with_env(blindfold()), d, &store, &platform.join("ca.pem"));
    let broker_port = broker_url.rsplit(':').next().unwrap().to_string();
    let sha = ok(Command::new("sha256sum").arg(&model));
    let sha = sha.split_whitespace().next().unwrap();

    // The publisher's image: the sealed model from the store at
    // 10.0.2.100:9000 and the broker at 10.0.2.101:8443 (guest addresses,
    // forwarded to the host's listeners), signed measured-boot reference.
    let sealed_config = |note: &str, dir: &Path| {
        let config = format!(
            r#"{{"platform": "local",
                "network": {{"address": "10.0.2.15/24", "gateway": "10.0.2.2", "listen_port": 8443,
                             "allow_outbound": ["10.0.2.100:9000", "10.0.2.101:8443"],
                             "test_probe_connect": ["10.0.2.102:7000"], "test_probe_listen": 7001}},
                "engine": {{"embedded": {{"model_id": "smollm2", "default_max_tokens": 8}}}},
                "sealed_model": {{"store": "{store}", "name": "smollm2", "plaintext_sha256": "{sha}",
                    "broker": "https://10.0.2.101:8443", "broker_spki_sha256": "{spki}",
                    "store_settings": {{"aws_endpoint": "http://10.0.2.100:9000", "aws_region": "us-east-1",
                        "aws_allow_http": "true", "disable_system_certificates": "true", "aws_access_key_id": "{}", "aws_secret_access_key": "{}"}}}}}}"#,
            blindfold_testdata::s3::ACCESS_KEY_ID,
            blindfold_testdata::s3::SECRET_ACCESS_KEY
        );
        std::fs::create_dir_all(dir).unwrap();
        build_image(
            &spec_with_config(dir, &enclave, &config, note, &[]),
            &dir.join("image"),
        );
        dir.join("image")
    };
    let approved = sealed_config("approved\n", &d.join("approved"));
    let measurements = d.join("measurements.json");
    ok(blindfold()
        .args(["measure", "--image"])
        .arg(&approved)
        .arg("--firmware-log")
        .arg(&firmware)
        .arg("--sign")
        .arg(d.join("publisher.key"))
        .arg("-o")
        .arg(&measurements));
    ok(with_env(blindfold())
        .args(["model", "policy", "set", "smollm2", "--reference"])
        .arg(&measurements)
        .arg("--publisher-key")
        .arg(d.join("publisher.pub"))
        .arg("--owner-key")
        .arg(d.join("owner.key"))
        .args(["--store", &store, "--allow-development"]));
    // A listener the guest can be forwarded to but is not allowed to reach:
    // the enclave's test probe tries it after its firewall is up.
    let forbidden = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    forbidden.set_nonblocking(true).unwrap();
    let forbidden_port = forbidden.local_addr().unwrap().port();
    // Inbound: a host port forwarded to the probe's listener in the guest
    // (it answers over loopback inside; the firewall must keep it closed).
    let inbound_port = free_port();
    let forwards = |c: &mut Command| {
        c.args(["--forward", &format!("10.0.2.100:9000={}", s3.port)])
            .args(["--forward", &format!("10.0.2.101:8443={broker_port}")])
            .args(["--forward", &format!("10.0.2.102:7000={forbidden_port}")])
            .args(["--inbound", &format!("{inbound_port}=7001")]);
    };

    // Its boot: the key released against the measured-boot reference, the
    // model served, the boot verified with the same signed reference.
    let port = free_port();
    let console = d.join("console.log");
    let mut run_vm = vm_command(&approved, &platform, port, &console);
    forwards(&mut run_vm);
    let vm = run_vm.spawn().unwrap();
    let o = run(blindfold()
        .args([
            "verify",
            &format!("https://127.0.0.1:{port}"),
            "--json",
            "--wait",
            "240",
            "--reference",
        ])
        .arg(&measurements)
        .arg("--publisher-key")
        .arg(d.join("publisher.pub"))
        .arg("--platform-ca")
        .arg(platform.join("ca.pem"))
        .arg("--allow-dev"));
    // Inbound, while it serves: the API port answered (above); the probe's
    // port, forwarded the same way, gives nothing back.
    let inbound = read_what_answers(inbound_port);
    stop(vm);
    assert!(
        o.status.success(),
        "verify: {}{}\nconsole:\n{}",
        text(&o.stdout),
        text(&o.stderr),
        std::fs::read_to_string(&console).unwrap_or_default()
    );
    let report = text(&o.stdout);
    // The signed measured-boot reference: the model event and the boot
    // PCRs (both banks) were appraised; no development reference was offered.
    for needle in [
        "smollm2",
        "\"reference\": \"signed\"",
        "pcr.sha384.4",
        "pcr.sha256.11",
    ] {
        assert!(report.contains(needle), "no {needle} in {report}");
    }
    let log = std::fs::read_to_string(&console).unwrap();
    assert!(log.contains("model `smollm2` loaded"), "{log}");
    // Default deny: the allowed store and broker were reached (the model
    // is served), the forwarded but unlisted port saw nothing.
    assert!(
        log.contains("default deny: inbound TCP 8443 only, outbound 2 destination(s)"),
        "{log}"
    );
    assert!(log.contains("test probe: 10.0.2.102:7000: no answer"), "{log}");
    assert!(
        log.contains("test probe: listener on port 7001 answers over loopback"),
        "the inbound control's listener must work inside the guest: {log}"
    );
    assert!(
        inbound.is_empty(),
        "a port other than the API answered from outside: {inbound:?}"
    );
    assert!(
        matches!(forbidden.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a connection reached a destination the configuration does not allow"
    );

    // An image with one changed byte of input: the broker refuses its key,
    // the enclave serves nothing and powers off.
    let changed = sealed_config("changed\n", &d.join("changed"));
    let console = d.join("console-changed.log");
    let mut run_vm = vm_command(&changed, &platform, free_port(), &console);
    forwards(&mut run_vm);
    wait_powered_off(run_vm.spawn().unwrap(), std::time::Duration::from_secs(240));
    let log = std::fs::read_to_string(&console).unwrap();
    assert!(log.contains("getting the model's key"), "{log}");
    assert!(!log.contains("ready, listening"), "{log}");
    drop(broker);
}

/// Connects to 127.0.0.1:`port` and returns what comes back within a few
/// seconds (QEMU accepts on the host side whatever the guest does; a
/// guest that drops the connection sends nothing).
fn read_what_answers(port: u16) -> String {
    use std::io::Read;
    let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(8)))
        .unwrap();
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

/// `scripts/demo.sh --vm` with the binaries built here (the enclave
/// stripped, as an image's is): the image built, the measured boot
/// verified with no development reference, an answer. The platform and
/// its firmware reference are the demo's own, kept in the cache as for a
/// user (the first run boots twice).
#[test]
fn the_demo_runs_in_a_measured_vm() {
    let _one = ONE_VM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for tool in ["qemu-system-x86_64", "swtpm", "strip"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path();
    stripped_enclave(bin);
    std::fs::copy(env!("CARGO_BIN_EXE_blindfold"), bin.join("blindfold")).unwrap();
    let out = Command::new(repo_root().join("scripts/demo.sh"))
        .args(["--vm", "--max-tokens", "4"])
        .env("BLINDFOLD_BIN_DIR", bin)
        .env("BLINDFOLD_VM_ACCEL", "tcg")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("measured boot, no development reference"),
        "{stderr}"
    );
    assert!(stdout.contains("verified:    yes"), "{stdout}");
    assert!(stdout.contains("reference:   signed"), "{stdout}");
    for claim in ["pcr.sha256.4", "pcr.sha384.11", "pcr.sha256.12"] {
        assert!(stdout.contains(claim), "no {claim}: {stdout}");
    }
    let answer = stdout
        .lines()
        .find(|l| l.starts_with("answer:"))
        .unwrap_or_default();
    assert!(
        !answer.trim_start_matches("answer:").trim().is_empty(),
        "no answer: {stdout}"
    );
    assert!(stderr.contains("stopped the VM"), "{stderr}");
}
