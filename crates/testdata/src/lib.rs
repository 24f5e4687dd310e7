//! # blindfold-testdata
//!
//! Finds the shared test vectors (`../shared/testdata` beside the clone, or
//! `$BLINDFOLD_SHARED_TESTDATA`) for tests and benchmarks, and lists the
//! TCG event-log samples in it. A missing folder fails loudly: tests never
//! skip silently.
//!
//! What it is **not**: a place for expected values or parsing (tests read
//! the samples' own `expected*.json`); it is a dev-dependency only.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::{Path, PathBuf};

/// The shared test-data folder. Panics with a clear message when absent.
pub fn shared_dir() -> PathBuf {
    let p = std::env::var_os("BLINDFOLD_SHARED_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"));
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
