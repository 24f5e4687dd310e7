//! Reading evidence from a file or a directory: the one place this crate
//! touches the file system, behind the `files` feature (the `blindfold`
//! command and tests enable it; the client and the key broker, which get
//! evidence over the network, do not).

use std::path::Path;

use super::Evidence;
use crate::error::{Error, InputError};

impl Evidence {
    /// Reads evidence from a file or a directory, detecting its layout from
    /// the content (never from the name).
    pub fn read(path: &Path) -> Result<Evidence, Error> {
        let at = |e: Error| match e {
            Error::Input(InputError::EvidenceFormat(what)) => {
                Error::Input(InputError::EvidenceFormat(format!("{}: {what}", path.display())))
            }
            other => other,
        };
        if path.is_dir() {
            let mut paths: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("{}: {e}", path.display()))))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            paths.sort();
            let files: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
            return Evidence::parse_directory(&files).map_err(at);
        }
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Input(InputError::EvidenceFormat(format!("{}: {e}", path.display()))))?;
        Evidence::parse(&bytes)
    }
}
