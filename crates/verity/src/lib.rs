//! # blindfold-verity
//!
//! dm-verity hash trees, byte-compatible with `veritysetup format`
//! (format type 1: `H(salt || block)`, digests in power-of-two slots,
//! levels stored top level first, optional 512-byte superblock in its own
//! hash block): [`format`] builds one, [`verify`] checks data against a
//! root hash in user space (the enclave does, before it reads its app
//! disk). [`AppDiskTable`] is the app disk's table as a measured image
//! carries it on the kernel command line and as the device mapper takes it.
//!
//! What it is **not**: it does not build file systems (`blindfold-measure`
//! makes erofs app disks with it) and it does not talk to the kernel's
//! device mapper (the enclave does, with the table written here).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod superblock;
mod table;
mod tree;

pub use error::Error;
pub use superblock::{Superblock, SUPERBLOCK_SIZE};
pub use table::{AppDiskTable, APP_PARTITION_NAME, CMDLINE_KEY};
pub use tree::{format, verify, Geometry, VerityParams, VerityTree};

/// Formats a 16-byte UUID as `8-4-4-4-12` hex.
pub fn uuid_to_string(uuid: &[u8; 16]) -> String {
    let h = hex::encode(uuid);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Parses `8-4-4-4-12` hex into 16 bytes.
pub fn uuid_from_str(text: &str) -> Option<[u8; 16]> {
    let compact: String = text.chars().filter(|c| *c != '-').collect();
    let bytes = hex::decode(compact).ok()?;
    bytes.try_into().ok()
}

/// A random version-4 UUID.
pub fn random_uuid() -> Result<[u8; 16], Error> {
    let mut u = [0u8; 16];
    getrandom::getrandom(&mut u).map_err(|e| Error::Random(e.to_string()))?;
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    Ok(u)
}
