//! Building and checking the tree.

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::{mpsc, Mutex};

use blindfold_crypto::{default_provider, CryptoProvider, Digest, HashAlg};

use crate::error::Error;
use crate::superblock::{Superblock, SUPERBLOCK_SIZE};

/// Blocks read and handed to a hashing thread at a time (1 MiB of 4 KiB
/// blocks: small enough to keep every core busy to the end).
const CHUNK_BLOCKS: usize = 256;

/// How a tree is laid out and salted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityParams {
    /// Hash algorithm (SHA-256 by default; SHA-1 and SHA-512 supported).
    pub hash: HashAlg,
    /// Data block size in bytes (4096 by default).
    pub data_block_size: u32,
    /// Hash block size in bytes (4096 by default).
    pub hash_block_size: u32,
    /// Salt, hashed before every block.
    pub salt: Vec<u8>,
    /// UUID recorded in the superblock.
    pub uuid: [u8; 16],
    /// Write a superblock in the first hash block.
    pub superblock: bool,
    /// Byte offset of the hash area in the hash file (the superblock, if any, comes first).
    pub hash_offset: u64,
    /// Threads hashing data blocks.
    pub threads: usize,
}

impl VerityParams {
    /// SHA-256, 4096-byte blocks, superblock, offset 0, one thread per core.
    pub fn new(salt: Vec<u8>, uuid: [u8; 16]) -> VerityParams {
        VerityParams {
            hash: HashAlg::Sha256,
            data_block_size: 4096,
            hash_block_size: 4096,
            salt,
            uuid,
            superblock: true,
            hash_offset: 0,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// Where each level lives. Level 0 hashes data blocks; the highest level
/// holds one block and is stored first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    /// Data blocks covered.
    pub data_blocks: u64,
    /// Digests per hash block.
    pub per_block: u64,
    /// Bytes per digest slot (digest size rounded up to a power of two).
    pub slot: usize,
    /// Per level (0 = leaves): first hash block (relative to the tree start) and block count.
    pub levels: Vec<(u64, u64)>,
}

impl Geometry {
    /// The layout for `data_blocks` blocks under `params`.
    pub fn new(params: &VerityParams, data_blocks: u64) -> Result<Geometry, Error> {
        let hbs = u64::from(params.hash_block_size);
        let dbs = u64::from(params.data_block_size);
        for (what, v) in [("data", dbs), ("hash", hbs)] {
            if !v.is_power_of_two() || !(512..=1 << 20).contains(&v) {
                return Err(Error::Verity(format!(
                    "{what} block size {v} is not a power of two in 512..1M"
                )));
            }
        }
        if data_blocks == 0 {
            return Err(Error::Verity(format!(
                "data is smaller than one {dbs}-byte block"
            )));
        }
        let digest = params.hash.output_len() as u64;
        let bits = 63 - (hbs / digest).leading_zeros();
        let slot = 1usize << (usize::BITS - (params.hash.output_len() - 1).leading_zeros());
        let mut count = 0u32;
        while bits * count < 64 && (data_blocks - 1) >> (bits * count) != 0 {
            count += 1;
        }
        let mut sizes = Vec::new();
        for i in 0..count {
            let shift = (i + 1) * bits;
            let s = if shift >= 64 {
                1
            } else {
                (data_blocks + (1u64 << shift) - 1) >> shift
            };
            sizes.push(s);
        }
        let mut levels = vec![(0, 0); sizes.len()];
        let mut position = 0;
        for i in (0..sizes.len()).rev() {
            levels[i] = (position, sizes[i]);
            position += sizes[i];
        }
        Ok(Geometry {
            data_blocks,
            per_block: 1 << bits,
            slot,
            levels,
        })
    }

    /// Hash blocks in the tree (superblock excluded).
    pub fn hash_blocks(&self) -> u64 {
        self.levels.iter().map(|(_, n)| n).sum()
    }
}

/// The result of formatting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityTree {
    /// The root hash (the value that goes on the kernel command line).
    pub root_hash: Digest,
    /// The layout.
    pub geometry: Geometry,
    /// Bytes of the hash area (superblock included).
    pub hash_area_size: u64,
}

fn salted(provider: &dyn CryptoProvider, alg: HashAlg, salt: &[u8], block: &[u8]) -> Digest {
    provider.hash(alg, &[salt, block])
}

/// Hashes `blocks` (whole blocks of `size` bytes) on up to `threads` threads.
fn hash_blocks(params: &VerityParams, bytes: &[u8], size: usize) -> Vec<Digest> {
    let provider = default_provider();
    let n = bytes.len() / size;
    let threads = params.threads.clamp(1, n.max(1));
    if threads == 1 {
        return bytes
            .chunks_exact(size)
            .map(|b| salted(provider, params.hash, &params.salt, b))
            .collect();
    }
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = bytes
            .chunks(per * size)
            .map(|part| {
                s.spawn(move || {
                    part.chunks_exact(size)
                        .map(|b| salted(provider, params.hash, &params.salt, b))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Level 0: reads the data blocks in chunks on this thread while
/// `params.threads` long-lived workers hash them, and places each chunk's
/// digests as it comes back. Reading (a copy out of the page cache) and
/// hashing overlap on every core, with no barrier between chunks; the
/// buffers go round (no allocation, page faults or zeroing per chunk).
fn hash_data_blocks<R: Read>(
    mut data: R,
    params: &VerityParams,
    geometry: &Geometry,
    level0: &mut [u8],
) -> Result<(), Error> {
    let dbs = params.data_block_size as usize;
    let hbs = params.hash_block_size as usize;
    let total = geometry.data_blocks;
    let threads = params.threads.max(1);
    let provider = default_provider();
    type Hashed = (u64, Vec<Digest>, Vec<u8>);
    let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(threads);
    let work_rx = Mutex::new(work_rx);
    let (done_tx, done_rx) = mpsc::channel::<Hashed>();
    std::thread::scope(|s| {
        let work_tx = work_tx;
        for _ in 0..threads {
            let (work_rx, done_tx) = (&work_rx, done_tx.clone());
            s.spawn(move || loop {
                // The lock is held while waiting: one idle worker waits on
                // the channel, the others on the lock.
                let next = work_rx.lock().map(|rx| rx.recv());
                let Ok(Ok((first, buf))) = next else { return };
                let digests = buf
                    .chunks_exact(dbs)
                    .map(|b| salted(provider, params.hash, &params.salt, b))
                    .collect();
                if done_tx.send((first, digests, buf)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let mut spare: Vec<Vec<u8>> = Vec::new();
        let mut outstanding = 0usize;
        let mut place_hashed = |(first, digests, buf): Hashed, spare: &mut Vec<Vec<u8>>| {
            place(level0, geometry, hbs, first, &digests);
            spare.push(buf);
        };
        let mut first = 0u64;
        while first < total {
            let n = (total - first).min(CHUNK_BLOCKS as u64) as usize;
            let mut buf = spare.pop().unwrap_or_default();
            buf.resize(n * dbs, 0);
            data.read_exact(&mut buf)
                .map_err(|e| Error::Io(format!("reading data: {e}")))?;
            work_tx
                .send((first, buf))
                .map_err(|_| Error::Verity("the hashing threads stopped".into()))?;
            outstanding += 1;
            first += n as u64;
            while let Ok(hashed) = done_rx.try_recv() {
                place_hashed(hashed, &mut spare);
                outstanding -= 1;
            }
        }
        drop(work_tx);
        while outstanding > 0 {
            let hashed = done_rx
                .recv()
                .map_err(|_| Error::Verity("the hashing threads stopped".into()))?;
            place_hashed(hashed, &mut spare);
            outstanding -= 1;
        }
        Ok(())
    })
}

/// Places digests into level buffers: digest `k` goes to slot `k % per_block` of block `k / per_block`.
fn place(level: &mut [u8], geometry: &Geometry, hbs: usize, first: u64, digests: &[Digest]) {
    for (k, d) in digests.iter().enumerate() {
        let k = first + k as u64;
        let at = (k / geometry.per_block) as usize * hbs + (k % geometry.per_block) as usize * geometry.slot;
        level[at..at + d.as_bytes().len()].copy_from_slice(d.as_bytes());
    }
}

/// Builds every level from the leaves up; returns the levels (0 = leaves) and the root.
fn build<R: Read>(
    data: R,
    params: &VerityParams,
    geometry: &Geometry,
) -> Result<(Vec<Vec<u8>>, Digest), Error> {
    let hbs = params.hash_block_size as usize;
    let dbs = params.data_block_size as usize;
    let provider = default_provider();
    if geometry.levels.is_empty() {
        // One data block: the root is its hash, and there is no tree.
        let mut data = data;
        let mut block = vec![0u8; dbs];
        data.read_exact(&mut block)
            .map_err(|e| Error::Io(format!("reading data: {e}")))?;
        return Ok((Vec::new(), salted(provider, params.hash, &params.salt, &block)));
    }
    let mut levels: Vec<Vec<u8>> = geometry
        .levels
        .iter()
        .map(|(_, n)| vec![0u8; *n as usize * hbs])
        .collect();
    hash_data_blocks(data, params, geometry, &mut levels[0])?;
    for i in 1..levels.len() {
        let digests = hash_blocks(params, &levels[i - 1], hbs);
        place(&mut levels[i], geometry, hbs, 0, &digests);
    }
    let root = salted(
        provider,
        params.hash,
        &params.salt,
        levels.last().map(Vec::as_slice).unwrap_or_default(),
    );
    Ok((levels, root))
}

/// Formats a tree over the first `data_size / data_block_size` blocks of
/// `data`, writes it (and the superblock) into `hash`, and returns the root.
pub fn format<R: Read + Send, W: Write + Seek>(
    data: R,
    data_size: u64,
    hash: &mut W,
    params: &VerityParams,
) -> Result<VerityTree, Error> {
    let geometry = Geometry::new(params, data_size / u64::from(params.data_block_size))?;
    let (levels, root_hash) = build(data, params, &geometry)?;
    let hbs = u64::from(params.hash_block_size);
    let io = |e: std::io::Error| Error::Io(format!("writing hash tree: {e}"));
    let mut tree_start = params.hash_offset;
    if params.superblock {
        let sb = Superblock {
            hash_type: 1,
            uuid: params.uuid,
            hash: params.hash,
            data_block_size: params.data_block_size,
            hash_block_size: params.hash_block_size,
            data_blocks: geometry.data_blocks,
            salt: params.salt.clone(),
        };
        let mut block = vec![0u8; hbs as usize];
        block[..SUPERBLOCK_SIZE].copy_from_slice(&sb.encode()?);
        hash.seek(SeekFrom::Start(tree_start)).map_err(io)?;
        hash.write_all(&block).map_err(io)?;
        tree_start += hbs;
    }
    for (i, (start, _)) in geometry.levels.iter().enumerate() {
        hash.seek(SeekFrom::Start(tree_start + start * hbs)).map_err(io)?;
        hash.write_all(&levels[i]).map_err(io)?;
    }
    hash.flush().map_err(io)?;
    Ok(VerityTree {
        root_hash,
        hash_area_size: tree_start - params.hash_offset + geometry.hash_blocks() * hbs,
        geometry,
    })
}

/// Re-hashes `data` and checks it against the tree in `hash` and `root`.
/// Errors name the first corrupted data block, or the level and block of a
/// corrupted hash block, or a root mismatch.
pub fn verify<R: Read + Send, H: Read + Seek>(
    data: R,
    data_size: u64,
    hash: &mut H,
    params: &VerityParams,
    root: &[u8],
) -> Result<(), Error> {
    let geometry = Geometry::new(params, data_size / u64::from(params.data_block_size))?;
    let hbs = params.hash_block_size as usize;
    let tree_start = params.hash_offset + if params.superblock { hbs as u64 } else { 0 };
    let io = |e: std::io::Error| Error::Io(format!("reading hash tree: {e}"));
    let mut stored = Vec::new();
    for (start, n) in &geometry.levels {
        let mut buf = vec![0u8; *n as usize * hbs];
        hash.seek(SeekFrom::Start(tree_start + start * hbs as u64))
            .map_err(io)?;
        hash.read_exact(&mut buf).map_err(io)?;
        stored.push(buf);
    }
    let (computed, computed_root) = build(data, params, &geometry)?;
    if let (Some(s), Some(c)) = (stored.first(), computed.first()) {
        let per = geometry.per_block as usize;
        for k in 0..geometry.data_blocks as usize {
            let at = (k / per) * hbs + (k % per) * geometry.slot;
            let n = params.hash.output_len();
            if s[at..at + n] != c[at..at + n] {
                return Err(Error::CorruptedDataBlock { block: k as u64 });
            }
        }
    }
    for (level, (s, c)) in stored.iter().zip(&computed).enumerate().skip(1) {
        if let Some(b) = s.chunks(hbs).zip(c.chunks(hbs)).position(|(a, b)| a != b) {
            return Err(Error::CorruptedHashBlock {
                level,
                block: b as u64,
            });
        }
    }
    // The stored top block must hash to the root (a wrong root, or a
    // corrupted top block, is caught here).
    if computed_root.as_bytes() != root {
        return Err(Error::RootHashMismatch {
            expected: hex::encode(root),
            actual: computed_root.to_hex(),
        });
    }
    if let Some(top) = stored.last() {
        let provider = default_provider();
        if salted(provider, params.hash, &params.salt, top).as_bytes() != root {
            return Err(Error::CorruptedHashBlock {
                level: stored.len() - 1,
                block: 0,
            });
        }
    }
    Ok(())
}
