//! The verity superblock (`struct verity_sb`, 512 bytes, little-endian).

use blindfold_crypto::HashAlg;
use blindfold_tpm::Reader;

use crate::error::Error;

/// Size of the on-disk superblock.
pub const SUPERBLOCK_SIZE: usize = 512;
const SIGNATURE: &[u8; 8] = b"verity\0\0";
const MAX_SALT: usize = 256;

/// The fields of a verity superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// Hash type (1 = the format veritysetup writes by default).
    pub hash_type: u32,
    /// UUID.
    pub uuid: [u8; 16],
    /// Hash algorithm.
    pub hash: HashAlg,
    /// Data block size.
    pub data_block_size: u32,
    /// Hash block size.
    pub hash_block_size: u32,
    /// Number of data blocks.
    pub data_blocks: u64,
    /// Salt.
    pub salt: Vec<u8>,
}

impl Superblock {
    /// Encodes the 512-byte superblock.
    pub fn encode(&self) -> Result<[u8; SUPERBLOCK_SIZE], Error> {
        if self.salt.len() > MAX_SALT {
            return Err(Error::Verity(format!(
                "salt of {} bytes, at most {MAX_SALT}",
                self.salt.len()
            )));
        }
        let mut b = [0u8; SUPERBLOCK_SIZE];
        b[0..8].copy_from_slice(SIGNATURE);
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        b[12..16].copy_from_slice(&self.hash_type.to_le_bytes());
        b[16..32].copy_from_slice(&self.uuid);
        let name = self.hash.name().as_bytes();
        b[32..32 + name.len()].copy_from_slice(name);
        b[64..68].copy_from_slice(&self.data_block_size.to_le_bytes());
        b[68..72].copy_from_slice(&self.hash_block_size.to_le_bytes());
        b[72..80].copy_from_slice(&self.data_blocks.to_le_bytes());
        b[80..82].copy_from_slice(&(self.salt.len() as u16).to_le_bytes());
        b[88..88 + self.salt.len()].copy_from_slice(&self.salt);
        Ok(b)
    }

    /// Decodes and checks a superblock.
    pub fn decode(bytes: &[u8]) -> Result<Superblock, Error> {
        let bad = |e: blindfold_tpm::WireError| Error::Verity(format!("superblock: {e}"));
        let mut r = Reader::new(bytes.get(..SUPERBLOCK_SIZE).unwrap_or(bytes), "verity superblock");
        if r.take(8).map_err(bad)? != SIGNATURE {
            return Err(Error::Verity(
                "no verity superblock (signature is not \"verity\")".into(),
            ));
        }
        let version = r.u32_le().map_err(bad)?;
        if version != 1 {
            return Err(Error::Verity(format!("superblock version {version}, expected 1")));
        }
        let hash_type = r.u32_le().map_err(bad)?;
        let uuid = r.array::<16>().map_err(bad)?;
        let name = r.take(32).map_err(bad)?;
        let name = std::str::from_utf8(name.split(|b| *b == 0).next().unwrap_or_default())
            .map_err(|_| Error::Verity("superblock algorithm is not text".into()))?;
        let hash =
            HashAlg::from_name(name).ok_or_else(|| Error::Verity(format!("unsupported hash {name}")))?;
        let data_block_size = r.u32_le().map_err(bad)?;
        let hash_block_size = r.u32_le().map_err(bad)?;
        let data_blocks = r.u64_le().map_err(bad)?;
        let salt_size = usize::from(r.u16_le().map_err(bad)?);
        if salt_size > MAX_SALT {
            return Err(Error::Verity(format!("superblock salt size {salt_size}")));
        }
        r.take(6).map_err(bad)?;
        let salt = r.take(MAX_SALT).map_err(bad)?[..salt_size].to_vec();
        Ok(Superblock {
            hash_type,
            uuid,
            hash,
            data_block_size,
            hash_block_size,
            data_blocks,
            salt,
        })
    }
}
