//! The app disk's dm-verity table as the measured image carries it on the
//! kernel command line (`blindfold.verity=…`), and as the kernel's device
//! mapper takes it.
//!
//! The image builder writes it with [`AppDiskTable::to_cmdline_value`]; the
//! enclave reads it back with [`AppDiskTable::from_cmdline`] and hands
//! [`AppDiskTable::dm_table`] to the kernel. Every parameter the kernel
//! needs is here (version, block sizes, block counts, where the tree
//! starts, algorithm, root hash, salt, `panic_on_corruption`), so nothing
//! is read from the unmeasured verity superblock.

use crate::error::Error;

/// The command-line parameter that carries the table.
pub const CMDLINE_KEY: &str = "blindfold.verity";

/// The GPT partition name of the app disk in a Blindfold image.
pub const APP_PARTITION_NAME: &str = "blindfold-app";

/// One dm-verity mapping of a partition that holds its data and, after
/// it, its hash tree (the layout `blindfold disk build` writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDiskTable {
    /// The GPT partition name the data and tree live on.
    pub partition: String,
    /// Bytes per data block.
    pub data_block_size: u32,
    /// Bytes per hash block.
    pub hash_block_size: u32,
    /// Data blocks mapped.
    pub data_blocks: u64,
    /// The tree's first block, in hash blocks from the partition's start
    /// (past the superblock, which is never read).
    pub hash_start_block: u64,
    /// `sha256`.
    pub algorithm: String,
    /// Expected root hash.
    pub root_hash: Vec<u8>,
    /// Salt.
    pub salt: Vec<u8>,
}

impl AppDiskTable {
    /// A table for data of `data_blocks` 4 KiB blocks followed, at
    /// `hash_offset`, by a superblock and the tree.
    pub fn new(data_blocks: u64, hash_offset: u64, root_hash: Vec<u8>, salt: Vec<u8>) -> Self {
        AppDiskTable {
            partition: APP_PARTITION_NAME.to_string(),
            data_block_size: 4096,
            hash_block_size: 4096,
            data_blocks,
            hash_start_block: hash_offset / 4096 + 1,
            algorithm: "sha256".to_string(),
            root_hash,
            salt,
        }
    }

    /// The value of `blindfold.verity=` (comma-separated, no spaces: the
    /// kernel hands it over unquoted).
    pub fn to_cmdline_value(&self) -> String {
        format!(
            "1,{},{},{},{},{},{},{},{}",
            self.partition,
            self.data_block_size,
            self.hash_block_size,
            self.data_blocks,
            self.hash_start_block,
            self.algorithm,
            hex::encode(&self.root_hash),
            hex::encode(&self.salt)
        )
    }

    /// Finds exactly one `blindfold.verity=` in a command line and parses
    /// it. Two of them are refused (which one would the kernel mean?).
    pub fn from_cmdline(cmdline: &str) -> Result<Self, Error> {
        let prefix = format!("{CMDLINE_KEY}=");
        let mut found = cmdline
            .split_ascii_whitespace()
            .filter_map(|w| w.strip_prefix(&prefix));
        let value = found
            .next()
            .ok_or_else(|| Error::Verity(format!("the command line has no {CMDLINE_KEY}=")))?;
        if found.next().is_some() {
            return Err(Error::Verity(format!(
                "the command line has {CMDLINE_KEY}= twice"
            )));
        }
        Self::parse_value(value)
    }

    fn parse_value(value: &str) -> Result<Self, Error> {
        let bad = |what: &str| Error::Verity(format!("{CMDLINE_KEY}: {what}"));
        let f: Vec<&str> = value.split(',').collect();
        if f.len() != 9 {
            return Err(bad(&format!(
                "expected 9 comma-separated fields, found {}",
                f.len()
            )));
        }
        if f[0] != "1" {
            return Err(bad(&format!("hash format {} (only 1 is used)", f[0])));
        }
        let num = |s: &str, what: &str| {
            s.parse::<u64>()
                .map_err(|_| bad(&format!("{what} `{s}` is not a number")))
        };
        let size = |s: &str, what: &str| -> Result<u32, Error> {
            let n = num(s, what)?;
            if !(512..=65536).contains(&n) || !n.is_power_of_two() {
                return Err(bad(&format!(
                    "{what} {n} is not a power of two from 512 to 65536"
                )));
            }
            Ok(n as u32)
        };
        let hex = |s: &str, what: &str| hex::decode(s).map_err(|_| bad(&format!("{what} is not hex")));
        if f[1].is_empty()
            || !f[1]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("the partition name must be letters, digits, - and _"));
        }
        if f[6] != "sha256" {
            return Err(bad(&format!("algorithm {} (only sha256 is used)", f[6])));
        }
        let root_hash = hex(f[7], "the root hash")?;
        if root_hash.len() != 32 {
            return Err(bad("the root hash is not 32 bytes"));
        }
        let table = AppDiskTable {
            partition: f[1].to_string(),
            data_block_size: size(f[2], "the data block size")?,
            hash_block_size: size(f[3], "the hash block size")?,
            data_blocks: num(f[4], "the data block count")?,
            hash_start_block: num(f[5], "the hash start block")?,
            algorithm: f[6].to_string(),
            root_hash,
            salt: hex(f[8], "the salt")?,
        };
        if table.data_blocks == 0 {
            return Err(bad("no data blocks"));
        }
        Ok(table)
    }

    /// Bytes of data the mapping exposes.
    pub fn data_bytes(&self) -> u64 {
        self.data_blocks * u64::from(self.data_block_size)
    }

    /// The device-mapper target line for a data device `dev` (`MAJOR:MINOR`
    /// or a path) holding data and tree: start 0, length in 512-byte
    /// sectors, `verity`, then the parameters with `panic_on_corruption`
    /// (a corrupted block stops the machine instead of returning an error
    /// the program could handle wrongly).
    pub fn dm_table(&self, dev: &str) -> (u64, u64, String, String) {
        let params = format!(
            "1 {dev} {dev} {} {} {} {} {} {} {} 1 panic_on_corruption",
            self.data_block_size,
            self.hash_block_size,
            self.data_blocks,
            self.hash_start_block,
            self.algorithm,
            hex::encode(&self.root_hash),
            if self.salt.is_empty() {
                "-".to_string()
            } else {
                hex::encode(&self.salt)
            }
        );
        (0, self.data_bytes() / 512, "verity".to_string(), params)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn table() -> AppDiskTable {
        AppDiskTable::new(10, 40960, vec![0xab; 32], vec![0x01, 0x02])
    }

    #[test]
    fn the_command_line_value_reads_back_as_written() {
        let t = table();
        let line = format!("console=ttyS0 {}={} panic=-1", CMDLINE_KEY, t.to_cmdline_value());
        assert_eq!(AppDiskTable::from_cmdline(&line).unwrap(), t);
        assert_eq!(
            t.hash_start_block, 11,
            "the tree starts one block past the superblock"
        );
    }

    #[test]
    fn the_device_mapper_line_is_the_kernel_s_verity_syntax() {
        let (start, sectors, target, params) = table().dm_table("254:2");
        assert_eq!((start, sectors, target.as_str()), (0, 80, "verity"));
        assert_eq!(
            params,
            format!(
                "1 254:2 254:2 4096 4096 10 11 sha256 {} 0102 1 panic_on_corruption",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn a_missing_doubled_or_malformed_table_is_refused_with_its_reason() {
        let v = table().to_cmdline_value();
        let err = |line: &str| AppDiskTable::from_cmdline(line).unwrap_err().to_string();
        assert!(err("console=ttyS0").contains("has no blindfold.verity="));
        assert!(err(&format!("blindfold.verity={v} blindfold.verity={v}")).contains("twice"));
        assert!(
            err(&format!("blindfold.verity={}", v.replacen("sha256", "sha1", 1))).contains("only sha256")
        );
        assert!(err(&format!("blindfold.verity={}", v.replacen("4096", "4000", 1))).contains("power of two"));
        assert!(err("blindfold.verity=1,a,4096").contains("9 comma-separated"));
        assert!(err(&format!(
            "blindfold.verity={}",
            v.replacen("blindfold-app", "../x", 1)
        ))
        .contains("partition name"));
    }
}
