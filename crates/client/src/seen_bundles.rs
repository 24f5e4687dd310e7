//! The highest signed-bundle version seen per publisher, kept in the
//! client's state directory, so that once a client has seen version N it
//! refuses anything older (a rollback to a build with a known flaw) even
//! where the caller gave no minimum.
//!
//! File: `<state dir>/seen-bundles.json`, [`SeenBundles`] (written
//! atomically, mode 0600, the directory 0700).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ClientError;

/// The file's format version.
const SEEN_VERSION: u32 = 1;
const FILE_NAME: &str = "seen-bundles.json";

/// The state file: the highest version seen under each publisher key.
///
/// Extension rule: another `blindfold_seen_bundles` version or an unknown
/// field is refused (the file is the client's own; an older client does
/// not guess at a newer one's state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeenBundles {
    /// Always 1.
    pub blindfold_seen_bundles: u32,
    /// Publisher key id (SHA-256 of its SPKI, hex) → highest version seen.
    pub highest: BTreeMap<String, u64>,
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

fn load(state_dir: &Path) -> Result<SeenBundles, ClientError> {
    let file = path(state_dir);
    match std::fs::read(&file) {
        Ok(bytes) => {
            let seen: SeenBundles = serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::Input(format!("{}: {e}", file.display())))?;
            if seen.blindfold_seen_bundles != SEEN_VERSION {
                return Err(ClientError::Input(format!(
                    "{}: version {}, this client understands {SEEN_VERSION}",
                    file.display(),
                    seen.blindfold_seen_bundles
                )));
            }
            Ok(seen)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SeenBundles {
            blindfold_seen_bundles: SEEN_VERSION,
            highest: BTreeMap::new(),
        }),
        Err(e) => Err(ClientError::Input(format!("{}: {e}", file.display()))),
    }
}

fn store(state_dir: &Path, seen: &SeenBundles) -> Result<(), ClientError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let io = |e: std::io::Error| ClientError::Input(format!("{}: {e}", state_dir.display()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)
        .map_err(io)?;
    let tmp = state_dir.join(format!(".{FILE_NAME}.{}", std::process::id()));
    let text = serde_json::to_vec_pretty(seen).map_err(|e| ClientError::Input(e.to_string()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(&text).and_then(|_| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path(state_dir)).map_err(io)
}

/// Refuses `version` if a higher one was seen under `key_id`; otherwise
/// records it as the highest.
pub fn check_and_record(state_dir: &Path, key_id: &str, version: u64) -> Result<(), ClientError> {
    let mut seen = load(state_dir)?;
    let highest = seen.highest.get(key_id).copied().unwrap_or(0);
    if version < highest {
        return Err(ClientError::Reference(format!(
            "signed reference values are version {version}, but this client has seen version {highest} from the same publisher (rollback; recorded in {})",
            path(state_dir).display()
        )));
    }
    if version > highest || !seen.highest.contains_key(key_id) {
        seen.highest.insert(key_id.to_string(), version);
        store(state_dir, &seen)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_version_is_refused_once_a_higher_one_was_seen() {
        let dir = std::env::temp_dir().join(format!("blindfold-seen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        check_and_record(&dir, "aa", 3).unwrap();
        check_and_record(&dir, "aa", 3).unwrap();
        check_and_record(&dir, "bb", 1).unwrap();
        let err = check_and_record(&dir, "aa", 2).unwrap_err();
        assert!(err.to_string().contains("seen version 3"), "{err}");
        check_and_record(&dir, "aa", 5).unwrap();
        assert!(check_and_record(&dir, "aa", 4).is_err());
        let seen = load(&dir).unwrap();
        assert_eq!(seen.highest["aa"], 5);
        assert_eq!(seen.highest["bb"], 1);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
