//! Helpers shared by the CLI integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod proxy_fixture;
pub mod vm;

/// The `blindfold` binary under test, with a client state directory of
/// this test process's own (never the user's).
pub fn blindfold() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blindfold"));
    cmd.env(
        "BLINDFOLD_STATE_DIR",
        std::env::temp_dir().join(format!("blindfold-test-state-{}", std::process::id())),
    );
    cmd
}

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()))
        .join("../..")
}

#[allow(unused_imports)] // each test binary uses its own subset
pub use blindfold_testdata::{event_log_samples, shared_dir as shared_testdata};

/// Fails the test (never skips) when a tool the set-up script installs is missing.
pub fn require_tool(name: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{name} is not installed: run scripts/setup.sh (it installs tpm2-tools and swtpm)"
    );
}

/// Runs a command to completion.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Lossy UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An enclave configuration for the local platform over the app disk
/// `disk build` wrote to `dir/app.img` (its manifest `dir/app.img.json`),
/// written to `dir/enclave.json` as the enclave reads it, and its launch
/// configuration (`tcti`, a free loopback port) to `dir/launch.json`.
pub fn write_enclave_config(
    dir: &Path,
    tcti: &str,
    engine: Option<blindfold_engine::EngineConfig>,
    edit: impl FnOnce(&mut blindfold_enclave_config::EnclaveConfig),
) -> PathBuf {
    let manifest: blindfold_measure::app_disk::AppDiskManifest =
        serde_json::from_slice(&std::fs::read(dir.join("app.img.json")).expect("reading app.img.json"))
            .expect("an app disk manifest");
    let launch = blindfold_enclave_config::LaunchConfig {
        tcti: tcti.into(),
        listen: "127.0.0.1:0".into(),
    };
    std::fs::write(dir.join("launch.json"), launch.to_bytes().unwrap()).expect("writing launch.json");
    let mut config = blindfold_enclave_config::EnclaveConfig::new(
        "local".into(),
        dir.join("app.img"),
        manifest.root_hash_bytes().expect("a hex root hash"),
        manifest.hash_offset,
    );
    config.engine = engine;
    edit(&mut config);
    let path = dir.join("enclave.json");
    std::fs::write(&path, config.to_bytes().expect("a UTF-8 path")).expect("writing enclave.json");
    path
}

/// The embedded engine on `gguf`, with default tuning.
pub fn embedded(gguf: PathBuf, model_id: &str) -> blindfold_engine::EngineConfig {
    blindfold_engine::EngineConfig::Embedded(blindfold_engine::EmbeddedConfig {
        gguf: Some(gguf),
        model_id: model_id.into(),
        max_batch: None,
        queue_capacity: None,
        default_max_tokens: None,
    })
}

/// A child process killed and reaped when dropped, so a failing test
/// leaves no enclave or proxy running (and no pipe held open).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A started local platform (`platform start DIR`) stopped when dropped.
pub struct StopPlatformOnDrop(pub PathBuf);

impl Drop for StopPlatformOnDrop {
    fn drop(&mut self) {
        let _ = blindfold().args(["platform", "stop"]).arg(&self.0).output();
    }
}

/// A stand-in app disk's manifest for `measure --app-disk`: `dir/app.img`
/// (`len` bytes) formatted with `verity format --json`, written to
/// `dir/app.json`.
pub fn app_disk_manifest(dir: &Path, len: usize) -> PathBuf {
    std::fs::write(dir.join("app.img"), vec![1u8; len]).unwrap();
    let f = run(blindfold()
        .args(["verity", "format", "--json", "--salt", "-"])
        .arg(dir.join("app.img"))
        .arg(dir.join("app.hash")));
    assert!(f.status.success(), "{}", text(&f.stderr));
    let path = dir.join("app.json");
    std::fs::write(&path, &f.stdout).unwrap();
    path
}

/// The enclave binary, stripped of its debug information as an image's
/// binary is, written into `dir` (for `blindfold image build`).
pub fn stripped_enclave(dir: &Path) -> PathBuf {
    let built = Path::new(env!("CARGO_BIN_EXE_blindfold")).with_file_name("blindfold-enclave");
    assert!(
        built.is_file(),
        "build blindfold-enclave first (cargo build -p blindfold-runtime)"
    );
    let out = dir.join("blindfold-enclave");
    let o = run(Command::new("strip").arg("-o").arg(&out).arg(&built));
    assert!(o.status.success(), "{}", text(&o.stderr));
    out
}

/// The owner's key broker (`kbs serve` from `cmd`, a `blindfold` command
/// with any environment it needs) on 127.0.0.1, keeping its wrapped keys
/// in `store` with `d/kek.hex`, owned by `d/owner.pub`, its TLS key
/// `d/broker-tls.key`, its state in `d/kbs`, trusting `platform_ca`.
/// Returns it with its URL and the SPKI SHA-256 enclaves pin, both read
/// from its first line.
pub fn start_broker(cmd: Command, d: &Path, store: &str, platform_ca: &Path) -> (KillOnDrop, String, String) {
    use std::io::BufRead;
    let mut broker = KillOnDrop(
        kbs_serve(cmd, d, store)
            .arg("--platform-ca")
            .arg(platform_ca)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = std::io::BufReader::new(broker.0.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    std::thread::spawn(move || for _ in lines {});
    let url = first
        .split("listening on ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let spki = first.split("SPKI SHA-256 is ").nth(1).unwrap()[..64].to_string();
    (broker, url, spki)
}

/// The owner's keys a broker needs, made in `d`: `owner.key`/`.pub`,
/// `broker-tls.key`/`.pub` and `kek.hex`.
pub fn broker_keys(d: &Path) {
    for key in ["owner", "broker-tls"] {
        assert!(run(blindfold().args(["keygen", "-o"]).arg(d.join(key)))
            .status
            .success());
    }
    assert!(run(blindfold().args(["kbs", "kek", "-o"]).arg(d.join("kek.hex")))
        .status
        .success());
}

/// `cmd` (a `blindfold` command) as `kbs serve` on a free loopback port
/// with [`broker_keys`]' files in `d`, its state in `d/kbs`, keeping its
/// wrapped keys in `store`.
pub fn kbs_serve(mut cmd: Command, d: &Path, store: &str) -> Command {
    cmd.args(["kbs", "serve", "--key-store", store, "--kek-file"])
        .arg(d.join("kek.hex"))
        .arg("--owner-public-key")
        .arg(d.join("owner.pub"))
        .arg("--tls-key")
        .arg(d.join("broker-tls.key"))
        .args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(d.join("kbs"));
    cmd
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `openssl req -x509 -newkey rsa:2048` as an operator makes a Secure Boot
/// key: writes `dir/NAME.key` (PKCS#8) and `dir/NAME.pem`, subject CN.
pub fn self_signed_rsa(dir: &Path, name: &str, cn: &str) -> (PathBuf, PathBuf) {
    let (key, cert) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pem")));
    let o = run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30"])
        .args(["-subj", &format!("/CN={cn}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    assert!(o.status.success(), "{}", text(&o.stderr));
    (key, cert)
}
