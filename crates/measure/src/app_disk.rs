//! App disks: a directory made into a reproducible erofs image (with
//! `mkfs.erofs` from erofs-utils) followed by its dm-verity tree.
//!
//! Reproducible: every timestamp is `SOURCE_DATE_EPOCH` (default 0), the
//! filesystem UUID is fixed, every file is owned by root, extended
//! attributes are dropped, and erofs stores directory entries sorted; the
//! verity salt is derived from the image bytes. The same directory gives
//! the same bytes and root hash on every build.

use std::fs::{File, OpenOptions};
use std::io::BufReader;
use std::path::Path;
use std::process::Command;

use blindfold_crypto::{default_provider, HashAlg};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::verity::{self, uuid_to_string, VerityParams};

/// The filesystem UUID every app disk gets unless the caller picks one.
pub const DEFAULT_FS_UUID: &str = "b11df01d-0000-4000-8000-000000000001";

/// What was built: enough to open the disk with dm-verity and to predict PCR 15.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDisk {
    /// dm-verity root hash.
    pub root_hash: Vec<u8>,
    /// Verity salt.
    pub salt: Vec<u8>,
    /// Bytes of erofs data (the tree starts here).
    pub data_size: u64,
    /// Bytes of the hash area after it.
    pub hash_size: u64,
    /// Data blocks.
    pub data_blocks: u64,
    /// erofs UUID.
    pub fs_uuid: String,
    /// verity superblock UUID.
    pub verity_uuid: String,
    /// Timestamp of every file.
    pub source_date_epoch: u64,
}

/// `IMAGE.json`, written beside an app disk by `blindfold disk build` and
/// read by `blindfold measure --app-disk` and whoever writes the enclave's
/// configuration: what `veritysetup` needs to open the disk, and the root
/// hash the enclave checks.
///
/// Extension rule: readers ignore fields they do not know (the manifest
/// describes a disk; it grants nothing), and `format` changes only when a
/// field they read changes meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppDiskManifest {
    /// Always [`APP_DISK_MANIFEST_FORMAT`] (absent in manifests from
    /// before it was written; they mean the same).
    #[serde(default = "manifest_format")]
    pub format: u32,
    /// dm-verity root hash, hex.
    pub root_hash: String,
    /// Verity salt, hex.
    pub salt: String,
    /// Always `sha256`.
    pub hash_algorithm: String,
    /// Bytes per data block.
    pub data_block_size: u32,
    /// Bytes per hash block.
    pub hash_block_size: u32,
    /// Data blocks.
    pub data_blocks: u64,
    /// Bytes of erofs data.
    pub data_size: u64,
    /// Where the verity tree starts (= `data_size`).
    pub hash_offset: u64,
    /// Bytes of the hash area.
    pub hash_size: u64,
    /// verity superblock UUID.
    pub verity_uuid: String,
    /// erofs UUID.
    pub fs_uuid: String,
    /// Timestamp of every file.
    pub source_date_epoch: u64,
}

/// The manifest format this crate writes.
pub const APP_DISK_MANIFEST_FORMAT: u32 = 1;

fn manifest_format() -> u32 {
    APP_DISK_MANIFEST_FORMAT
}

impl AppDisk {
    /// The manifest written beside the image.
    pub fn manifest(&self) -> AppDiskManifest {
        AppDiskManifest {
            format: APP_DISK_MANIFEST_FORMAT,
            root_hash: hex::encode(&self.root_hash),
            salt: hex::encode(&self.salt),
            hash_algorithm: "sha256".into(),
            data_block_size: 4096,
            hash_block_size: 4096,
            data_blocks: self.data_blocks,
            data_size: self.data_size,
            hash_offset: self.data_size,
            hash_size: self.hash_size,
            verity_uuid: self.verity_uuid.clone(),
            fs_uuid: self.fs_uuid.clone(),
            source_date_epoch: self.source_date_epoch,
        }
    }
}

impl AppDiskManifest {
    /// The root hash's bytes.
    pub fn root_hash_bytes(&self) -> Result<Vec<u8>, Error> {
        hex::decode(&self.root_hash).map_err(|e| Error::Io(format!("root_hash is not hex: {e}")))
    }
}

/// Builds `image` from `dir`: erofs, then the verity tree appended at the
/// end of the erofs data.
pub fn build_app_disk(
    dir: &Path,
    image: &Path,
    source_date_epoch: u64,
    fs_uuid: &str,
) -> Result<AppDisk, Error> {
    if !dir.is_dir() {
        return Err(Error::Io(format!("{} is not a directory", dir.display())));
    }
    let out = Command::new("mkfs.erofs")
        .arg(format!("-T{source_date_epoch}"))
        .arg(format!("-U{fs_uuid}"))
        .args(["--all-root", "-x-1", "--ignore-mtime", "--quiet"])
        .arg(image)
        .arg(dir)
        .output()
        .map_err(|e| Error::Io(format!("cannot run mkfs.erofs (install erofs-utils): {e}")))?;
    if !out.status.success() {
        return Err(Error::Io(format!(
            "mkfs.erofs failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", image.display()));
    let data = std::fs::read(image).map_err(io)?;
    let data_size = data.len() as u64;
    let salt = default_provider()
        .hash(HashAlg::Sha256, &[b"blindfold/app-disk/verity-salt/v1", &data])
        .as_bytes()
        .to_vec();
    let verity_uuid: [u8; 16] = default_provider()
        .hash(HashAlg::Sha256, &[b"blindfold/app-disk/verity-uuid/v1", &salt])
        .as_bytes()[..16]
        .try_into()
        .unwrap_or([0; 16]);
    let mut params = VerityParams::new(salt.clone(), verity_uuid);
    params.hash_offset = data_size;
    let reader = BufReader::new(File::open(image).map_err(io)?);
    let mut out = OpenOptions::new().write(true).open(image).map_err(io)?;
    let tree = verity::format(reader, data_size, &mut out, &params)?;
    Ok(AppDisk {
        root_hash: tree.root_hash.as_bytes().to_vec(),
        salt,
        data_size,
        hash_size: tree.hash_area_size,
        data_blocks: tree.geometry.data_blocks,
        fs_uuid: fs_uuid.to_string(),
        verity_uuid: uuid_to_string(&verity_uuid),
        source_date_epoch,
    })
}
