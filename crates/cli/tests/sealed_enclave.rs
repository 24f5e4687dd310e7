//! A sealed model end to end, with the real programs: the owner seals the
//! packaged model and sets a policy around the publisher's signed build;
//! the broker releases its key to the enclave that matches the build, which
//! serves it; an enclave whose configuration differs is refused (the
//! enclave's error and the audit line name the runtime event that
//! differs), an unreachable broker is given up after bounded tries, a
//! manifest for other weights is refused before any key is asked for —
//! and in each refused case nothing is served.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use blindfold_enclave_config::EnclaveConfig;
use common::*;

fn enclave_binary() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_blindfold")).with_file_name("blindfold-enclave");
    assert!(
        p.exists(),
        "{} not built: cargo build -p blindfold-runtime",
        p.display()
    );
    p
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// A started local platform in `dir`, its TCTI, and its stop guard.
fn platform(dir: &Path) -> (String, StopPlatformOnDrop) {
    ok(blindfold().args(["platform", "init"]).arg(dir));
    let tcti = ok(blindfold().args(["platform", "start"]).arg(dir))
        .trim()
        .to_string();
    (tcti, StopPlatformOnDrop(dir.to_path_buf()))
}

/// Starts the enclave on `config` and returns its address once it serves,
/// or its whole stderr and exit status if it exits first.
fn start_enclave(config: &Path, launch: &Path) -> Result<(String, KillOnDrop), (Option<i32>, String)> {
    start_enclave_with(config, launch, &[])
}

fn start_enclave_with(
    config: &Path,
    launch: &Path,
    env: &[(&str, String)],
) -> Result<(String, KillOnDrop), (Option<i32>, String)> {
    let mut child = KillOnDrop(
        Command::new(enclave_binary())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("--config")
            .arg(config)
            .arg("--launch")
            .arg(launch)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.split("listening on ").nth(1) {
            let addr = rest.split_whitespace().next().unwrap().to_string();
            std::thread::spawn(move || for _ in lines {});
            return Ok((addr, child));
        }
    }
    Err((child.0.wait().unwrap().code(), seen))
}

/// Restarts a platform (PCRs back to their reset values) and returns its
/// TCTI.
fn restart(dir: &Path) -> String {
    ok(blindfold().args(["platform", "stop"]).arg(dir));
    ok(blindfold().args(["platform", "start"]).arg(dir))
        .trim()
        .to_string()
}

fn launch(dir: &Path, tcti: &str) -> PathBuf {
    let launch = blindfold_enclave_config::LaunchConfig {
        tcti: tcti.into(),
        listen: "127.0.0.1:0".into(),
    };
    let path = dir.join("launch.json");
    std::fs::write(&path, launch.to_bytes().unwrap()).unwrap();
    path
}

/// `enclave.json` edited and written as `name`.
fn edited(d: &Path, name: &str, edit: impl FnOnce(&mut EnclaveConfig)) -> PathBuf {
    let mut config = EnclaveConfig::parse(&std::fs::read(d.join("enclave.json")).unwrap()).unwrap();
    edit(&mut config);
    let path = d.join(name);
    std::fs::write(&path, config.to_bytes().unwrap()).unwrap();
    path
}

/// The owner's broker as an enclave configuration names it.
struct Broker<'a> {
    store: &'a str,
    url: &'a str,
    spki: &'a str,
}

/// The publisher's build serving sealed model `name` (configuration
/// `d/config`, signed measurements `d/measurements`), and the owner's
/// policy releasing its key to that build.
fn build_and_approve(d: &Path, broker: &Broker<'_>, name: &str, config: &str, measurements: &str) {
    ok(blindfold()
        .args(["enclave-config", "--app-disk"])
        .arg(d.join("app.img.json"))
        .args([
            "--sealed-model",
            name,
            "--store",
            broker.store,
            "--broker",
            broker.url,
        ])
        .args(["--broker-spki-sha256", broker.spki, "-o"])
        .arg(d.join(config)));
    ok(blindfold()
        .args(["measure", "--app-disk"])
        .arg(d.join("app.img.json"))
        .arg("--enclave-config")
        .arg(d.join(config))
        .arg("--sign")
        .arg(d.join("publisher.key"))
        .arg("-o")
        .arg(d.join(measurements)));
    ok(blindfold()
        .args(["model", "policy", "set", name, "--reference"])
        .arg(d.join(measurements))
        .arg("--publisher-key")
        .arg(d.join("publisher.pub"))
        .arg("--owner-key")
        .arg(d.join("owner.key"))
        .args(["--store", broker.store, "--allow-development"]));
}

#[test]
fn a_sealed_model_reaches_only_the_enclave_its_owner_approved() {
    require_tool("swtpm");
    require_tool("mkfs.erofs");
    let model = blindfold_testdata::packaged_model();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let store = format!("file://{}", d.join("store").display());

    // The owner: a KEK, the sealed model, keys.
    for key in ["owner", "publisher", "broker-tls"] {
        ok(blindfold().args(["keygen", "-o"]).arg(d.join(key)));
    }
    ok(blindfold().args(["kbs", "kek", "-o"]).arg(d.join("kek.hex")));
    ok(blindfold()
        .args(["model", "seal"])
        .arg(&model)
        .args(["--name", "smollm2", "--store", &store, "--kek-file"])
        .arg(d.join("kek.hex")));

    // The broker, which says where it listens and which key to pin.
    let (tcti, _plat) = platform(&d.join("plat"));
    let (_broker, url, spki) = start_broker(blindfold(), d, &store, &d.join("plat/ca.pem"));

    // The publisher's build: an app disk without the model, a configuration
    // naming the sealed model and the broker, signed measurements.
    std::fs::create_dir(d.join("app")).unwrap();
    std::fs::write(d.join("app/README"), "the model is sealed in the owner's store").unwrap();
    ok(blindfold()
        .args(["disk", "build"])
        .arg(d.join("app"))
        .arg("-o")
        .arg(d.join("app.img")));
    // The owner approves that build for the model.
    let kbs = Broker {
        store: &store,
        url: &url,
        spki: &spki,
    };
    build_and_approve(d, &kbs, "smollm2", "enclave.json", "measurements.json");

    // The enclave of that build gets the key, loads and serves the model,
    // and verifies against the same signed measurements (model event
    // included, predicted from the manifest).
    let (addr, enclave) = start_enclave(&d.join("enclave.json"), &launch(d, &tcti))
        .unwrap_or_else(|(code, err)| panic!("the approved enclave exited ({code:?}): {err}"));
    let trust = |cmd: &mut Command| {
        cmd.arg("--reference")
            .arg(d.join("measurements.json"))
            .arg("--publisher-key")
            .arg(d.join("publisher.pub"))
            .arg("--platform-ca")
            .arg(d.join("plat/ca.pem"))
            .args(["--allow-dev", "--allow-dev-reference"]);
    };
    let mut verify = blindfold();
    verify.args(["verify", &format!("https://{addr}"), "--json"]);
    trust(&mut verify);
    let report: serde_json::Value = serde_json::from_str(&ok(&mut verify)).unwrap();
    let events = report["runtime_events"].to_string();
    assert!(
        events.contains("smollm2"),
        "the model event is in the log: {events}"
    );
    let mut chat = blindfold();
    chat.args([
        "chat",
        &format!("https://{addr}"),
        "--max-tokens",
        "4",
        "--prompt-file",
        "-",
    ]);
    trust(&mut chat);
    let mut child = chat
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"Say hi.").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).trim().is_empty(), "the sealed model answered");

    drop(enclave);

    // Another configuration (one setting changed) on the same platform,
    // restarted: the broker refuses, the enclave says why and serves
    // nothing.
    let other = edited(d, "other.json", |c| c.evidence_per_second += 1);
    let (code, err) = start_enclave(&other, &launch(d, &restart(&d.join("plat"))))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("the key broker refused (403 Forbidden)")
            && err.contains("runtime events")
            && err.contains("config sha256 differs"),
        "{err}"
    );
    assert!(
        err.contains("serving nothing") && !err.contains("listening on"),
        "{err}"
    );
    let audit = ok(blindfold()
        .args(["kbs", "audit", "--state-dir"])
        .arg(d.join("kbs")));
    assert!(
        audit.contains("released") && audit.contains("config sha256 differs"),
        "{audit}"
    );

    // A broker that is not there: bounded tries, then a clear error.
    let tcti = restart(&d.join("plat"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gone = edited(d, "gone.json", |c| {
        c.sealed_model.as_mut().unwrap().broker = format!("https://{closed}");
    });
    let (code, err) = start_enclave(&gone, &launch(d, &tcti)).map(|_| ()).unwrap_err();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "the key broker https://{closed} could not be reached (3 tries)"
        )),
        "{err}"
    );

    // Weights other than the manifest's: refused before any key is asked for.
    let tcti = restart(&d.join("plat"));
    let swapped = edited(d, "swapped.json", |c| {
        c.sealed_model.as_mut().unwrap().plaintext_sha256 = vec![7; 32];
    });
    let (code, err) = start_enclave(&swapped, &launch(d, &tcti))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("the store's manifest for smollm2 names weights with SHA-256")
            && err.contains(&"07".repeat(32)),
        "{err}"
    );
    // A broker whose key is not the pinned one is not trusted, nor retried.
    let tcti = restart(&d.join("plat"));
    let unpinned = edited(d, "unpinned.json", |c| {
        c.sealed_model.as_mut().unwrap().broker_spki_sha256 = vec![9; 32];
    });
    let (code, err) = start_enclave(&unpinned, &launch(d, &tcti))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("the configuration pins {}", "09".repeat(32))),
        "{err}"
    );
    assert!(!err.contains("tries"), "a wrong key is not retried: {err}");

    // A store that cannot be reached: the store's bounded retries, then
    // an error naming it.
    let tcti = restart(&d.join("plat"));
    let nowhere = edited(d, "nowhere.json", |c| {
        c.sealed_model.as_mut().unwrap().store = "s3://models-bucket".into();
    });
    let env = [
        ("AWS_ENDPOINT_URL", format!("http://{closed}")),
        ("AWS_ACCESS_KEY_ID", "k".into()),
        ("AWS_SECRET_ACCESS_KEY", "s".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ];
    let (code, err) = start_enclave_with(&nowhere, &launch(d, &tcti), &env)
        .map(|_| ())
        .unwrap_err();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("reading the sealed model's manifest") && err.contains("store s3://models-bucket"),
        "{err}"
    );

    // One byte flipped in the stored chunks: the key is released (the
    // build is right), the chunk is named, nothing is loaded or served.
    let tcti = restart(&d.join("plat"));
    let data = std::fs::read_dir(d.join("store/models/smollm2"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "sealed"))
        .unwrap();
    let mut bytes = std::fs::read(&data).unwrap();
    let at = 2 * ((4 << 20) + 16) + 1000; // inside chunk 2 (4 MiB chunks, each with its 16-byte tag)
    bytes[at] ^= 1;
    std::fs::write(&data, bytes).unwrap();
    let (code, err) = start_enclave(&d.join("enclave.json"), &launch(d, &tcti))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("chunk 2:") && err.contains("nothing loaded"),
        "{err}"
    );
    assert!(
        !err.contains("listening on") && !err.contains("model `smollm2` loaded"),
        "{err}"
    );

    // A canary in sealed weights that are no model: the key is released
    // and the weights opened, the engine refuses them — and the canary is
    // in no log, no error and no file outside the store.
    let canary = b"CANARY-sealed-weights-3f9a";
    let mut weights = vec![0u8; 1 << 20];
    weights[4096..4096 + canary.len()].copy_from_slice(canary);
    std::fs::write(d.join("canary.bin"), &weights).unwrap();
    ok(blindfold()
        .args(["model", "seal"])
        .arg(d.join("canary.bin"))
        .args(["--name", "canary", "--store", &store, "--kek-file"])
        .arg(d.join("kek.hex")));
    std::fs::remove_file(d.join("canary.bin")).unwrap();
    build_and_approve(d, &kbs, "canary", "canary.json", "canary-measurements.json");
    let tcti = restart(&d.join("plat"));
    let (code, err) = start_enclave(&d.join("canary.json"), &launch(d, &tcti))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("starting the inference engine (serving nothing)"),
        "{err}"
    );
    let holds = |bytes: &[u8]| bytes.windows(canary.len()).any(|w| w == canary);
    assert!(
        !holds(err.as_bytes()),
        "the canary is in the enclave's error: {err}"
    );
    let audit = ok(blindfold()
        .args(["kbs", "audit", "--state-dir"])
        .arg(d.join("kbs")));
    assert!(
        audit.contains("canary key") && !holds(audit.as_bytes()),
        "{audit}"
    );
    let mut dirs = vec![d.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for path in std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()) {
            if path == d.join("store") {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                assert!(!holds(&bytes), "the canary is in {}", path.display());
            }
        }
    }
}
