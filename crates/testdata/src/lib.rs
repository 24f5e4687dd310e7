//! # blindfold-testdata
//!
//! Finds the shared test vectors (`../shared/testdata` beside the clone, or
//! `$BLINDFOLD_SHARED_TESTDATA`) for tests and benchmarks, and lists the
//! TCG event-log samples in it. A missing folder fails loudly: tests never
//! skip silently.
//!
//! Also builds hand-made event logs byte for byte ([`eventlog`]), for
//! tests that need a log no sample has (H-CRTM, CC event logs), and TDX
//! quotes signed by a generated key chain ([`tdx`]), SEV-SNP and Azure HCL
//! reports signed by a generated AMD-shaped chain ([`snp`]), Nitro
//! attestation documents signed by a generated chain ([`nitro`]); runs a fast stand-in
//! for a GPU inference server ([`standin`]) and a real S3-compatible server
//! ([`s3`]).
//!
//! What it is **not**: a place for expected values or parsing (tests read
//! the samples' own `expected*.json`); it is a dev-dependency only.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod eventlog;
pub mod generation;
pub mod nitro;
pub mod s3;
pub mod seaweedfs;
pub mod snp;
pub mod standin;
pub mod tdx;

use std::path::{Path, PathBuf};

/// The shared test-data folder. Panics with a clear message when absent.
///
/// The path is taken from the running test's `CARGO_MANIFEST_DIR` (every
/// crate sits at `crates/<name>`, so the relative step is the same), not the
/// one baked in at compile time: a build cache shared between checkouts
/// would otherwise point every checkout at the first one's folders.
pub fn shared_dir() -> PathBuf {
    let p = std::env::var_os("BLINDFOLD_SHARED_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(
                &std::env::var("CARGO_MANIFEST_DIR")
                    .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
            )
            .join("../../../shared/testdata")
        });
    assert!(
        p.is_dir(),
        "shared test data not found at {} (clone with ../shared beside it, or set BLINDFOLD_SHARED_TESTDATA)",
        p.display()
    );
    p
}

/// A file under the shared test-data folder.
pub fn shared(relative: &str) -> PathBuf {
    shared_dir().join(relative)
}

/// One event-log sample: its folder name, the log, its `expected-pcrs.json`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventLogSample {
    /// Folder name, e.g. `gtt-rhel8-uefi`.
    pub name: String,
    /// The binary log.
    pub log: PathBuf,
    /// Its `expected-pcrs.json`.
    pub expected: PathBuf,
}

/// Every sample under `tcg-eventlogs/`, sorted by name.
pub fn event_log_samples() -> Vec<EventLogSample> {
    let dir = shared("tcg-eventlogs");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let Ok(entry) = entry else { continue };
        let folder = entry.path();
        if !folder.is_dir() {
            continue;
        }
        let files = std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        let log = files.flatten().map(|f| f.path()).find(|p| {
            let n = p.to_string_lossy();
            !n.ends_with(".json") && !n.ends_with(".yaml")
        });
        let log = log.unwrap_or_else(|| panic!("no log file in {}", folder.display()));
        out.push(EventLogSample {
            name: entry.file_name().to_string_lossy().into_owned(),
            expected: folder.join("expected-pcrs.json"),
            log,
        });
    }
    out.sort();
    out
}

/// Where `scripts/setup.sh` keeps the model, the `openai` virtual
/// environment and the reference llama.cpp build: `BLINDFOLD_CACHE`, or
/// `~/.cache/blindfold`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BLINDFOLD_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/blindfold")
}

/// The packaged SmolLM2 GGUF (fetched from PyPI by `scripts/setup.sh`);
/// panics with what to run when it is missing.
pub fn packaged_model() -> PathBuf {
    let p = cache_dir().join("model/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (it fetches the model from PyPI)",
        p.display()
    );
    p
}

/// The Python of the virtual environment holding the `openai` package.
pub fn openai_python() -> PathBuf {
    let p = cache_dir().join("venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (it installs the openai package)",
        p.display()
    );
    p
}

/// The reference `llama-server`, when `scripts/setup.sh` has built it.
pub fn llama_server() -> Option<PathBuf> {
    let p = cache_dir().join("llama.cpp/bin/llama-server");
    p.exists().then_some(p)
}

/// Regular files under `dir` modified at or after `since` (for the privacy
/// tests: a canary must be in none of them).
pub fn files_touched_since(dir: &Path, since: std::time::SystemTime) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(e.path());
            } else if meta.is_file() && meta.modified().map(|m| m >= since).unwrap_or(false) {
                out.push(e.path());
            }
        }
    }
    out
}

/// The first of `files` whose bytes contain `needle`, if any.
pub fn file_containing(files: &[PathBuf], needle: &str) -> Option<PathBuf> {
    files.iter().find_map(|f| {
        let bytes = std::fs::read(f).ok()?;
        bytes
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
            .then(|| f.clone())
    })
}

/// The command line that serves the packaged model with the reference
/// `llama-server` on a free loopback port, and that port; `None` when the
/// server is not built. Its settings are fixed, as the parity vectors
/// were made with them (`scripts/llama-parity-vectors.py`): one slot, 2
/// threads, a 2048-token context, batch 2048 / micro-batch 512 (a prompt
/// in one batch), the KV cache in f16, flash attention off (its default,
/// `auto`, turns it on for the CPU; our engine rounds as the plain path
/// does).
pub fn llama_server_command() -> Option<(Vec<String>, u16)> {
    let binary = llama_server()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port");
    let argv = [
        binary.display().to_string(),
        "-m".into(),
        packaged_model().display().to_string(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
        "-t".into(),
        "2".into(),
        "-np".into(),
        "1".into(),
        "-c".into(),
        "2048".into(),
        "-b".into(),
        "2048".into(),
        "-ub".into(),
        "512".into(),
        "-ctk".into(),
        "f16".into(),
        "-ctv".into(),
        "f16".into(),
        "-fa".into(),
        "off".into(),
    ];
    Some((argv.to_vec(), port))
}
