//! `blindfold verity format|verify`.

use std::fs::{File, OpenOptions};
use std::io::BufReader;

use anyhow::anyhow;
use blindfold_crypto::HashAlg;
use blindfold_verity::{self as verity, uuid_from_str, uuid_to_string, Superblock, VerityParams};

use crate::args::{VerityFormatArgs, VerityTreeArgs, VerityVerifyArgs};
use crate::eventlog_cmd::pretty;
use crate::exit::{say, unusable, Failure};
use crate::inputs;

fn salt_arg(text: &str) -> Result<Vec<u8>, Failure> {
    if text == "-" {
        return Ok(Vec::new());
    }
    inputs::hex_arg(text).map_err(|e| Failure::Unusable(e.context("--salt")))
}

fn params(tree: &VerityTreeArgs, salt: Vec<u8>, uuid: [u8; 16]) -> Result<VerityParams, Failure> {
    let hash = HashAlg::from_name(&tree.hash)
        .filter(|h| matches!(h, HashAlg::Sha1 | HashAlg::Sha256 | HashAlg::Sha512))
        .ok_or_else(|| Failure::Unusable(anyhow!("--hash {} (sha256, sha1 or sha512)", tree.hash)))?;
    let mut p = VerityParams::new(salt, uuid);
    p.hash = hash;
    p.data_block_size = tree.data_block_size;
    p.hash_block_size = tree.hash_block_size;
    p.hash_offset = tree.hash_offset;
    p.superblock = !tree.no_superblock;
    if let Some(t) = tree.threads {
        p.threads = t.max(1);
    }
    Ok(p)
}

fn open_data(path: &std::path::Path) -> Result<(BufReader<File>, u64), Failure> {
    let f = File::open(path).map_err(|e| unusable(e, format!("cannot open {}", path.display())))?;
    let size = f.metadata().map_err(|e| unusable(e, path.display()))?.len();
    Ok((BufReader::with_capacity(1 << 20, f), size))
}

pub fn format(args: &VerityFormatArgs) -> Result<(), Failure> {
    let salt = match &args.salt {
        Some(s) => salt_arg(s)?,
        None => {
            let mut s = vec![0u8; 32];
            getrandom_salt(&mut s)?;
            s
        }
    };
    let uuid = match &args.uuid {
        Some(u) => uuid_from_str(u).ok_or_else(|| Failure::Unusable(anyhow!("--uuid {u} is not a UUID")))?,
        None => verity::random_uuid().map_err(|e| Failure::Unusable(anyhow!(e)))?,
    };
    let p = params(&args.tree, salt, uuid)?;
    let (data, size) = open_data(&args.data)?;
    // With the tree after the data (HASHFILE = DATA), only the data part is hashed.
    let size = if args.hashfile == args.data {
        size.min(p.hash_offset)
    } else {
        size
    };
    let mut hash = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(args.hashfile != args.data)
        .open(&args.hashfile)
        .map_err(|e| unusable(e, format!("cannot write {}", args.hashfile.display())))?;
    let tree = verity::format(data, size, &mut hash, &p).map_err(|e| Failure::Unusable(anyhow!(e)))?;
    let g = &tree.geometry;
    if args.json {
        say!(
            "{}",
            pretty(&VerityFormatReport {
                root_hash: tree.root_hash.to_hex(),
                salt: hex::encode(&p.salt),
                hash_algorithm: p.hash.name(),
                uuid: p.superblock.then(|| uuid_to_string(&p.uuid)),
                data_blocks: g.data_blocks,
                data_block_size: p.data_block_size,
                hash_blocks: g.hash_blocks(),
                hash_block_size: p.hash_block_size,
                hash_offset: p.hash_offset,
                hash_area_size: tree.hash_area_size,
                superblock: p.superblock,
            })
        );
        return Ok(());
    }
    say!("VERITY header information for {}", args.hashfile.display());
    if p.superblock {
        say!("UUID:            \t{}", uuid_to_string(&p.uuid));
    }
    say!("Hash type:       \t1");
    say!("Data blocks:     \t{}", g.data_blocks);
    say!("Data block size: \t{}", p.data_block_size);
    say!("Hash blocks:     \t{}", g.hash_blocks());
    say!("Hash block size: \t{}", p.hash_block_size);
    say!("Hash algorithm:  \t{}", p.hash.name());
    say!(
        "Salt:            \t{}",
        if p.salt.is_empty() {
            "-".to_string()
        } else {
            hex::encode(&p.salt)
        }
    );
    say!("Root hash:      \t{}", tree.root_hash.to_hex());
    Ok(())
}

fn getrandom_salt(buf: &mut [u8]) -> Result<(), Failure> {
    // A random UUID's bytes are random; two of them give 32 bytes of salt.
    for chunk in buf.chunks_mut(16) {
        let u = verity::random_uuid().map_err(|e| Failure::Unusable(anyhow!(e)))?;
        chunk.copy_from_slice(&u[..chunk.len()]);
    }
    Ok(())
}

pub fn verify(args: &VerityVerifyArgs) -> Result<(), Failure> {
    let root = inputs::hex_arg(&args.root_hash).map_err(|e| Failure::Unusable(e.context("ROOTHASH")))?;
    let mut hash = File::open(&args.hashfile)
        .map_err(|e| unusable(e, format!("cannot open {}", args.hashfile.display())))?;
    let p = if args.tree.no_superblock {
        let salt = args
            .salt
            .as_deref()
            .ok_or_else(|| Failure::Unusable(anyhow!("--no-superblock needs --salt")))
            .and_then(salt_arg)?;
        params(&args.tree, salt, [0; 16])?
    } else {
        use std::io::{Read, Seek, SeekFrom};
        let mut sb = vec![0u8; 512];
        hash.seek(SeekFrom::Start(args.tree.hash_offset))
            .and_then(|_| hash.read_exact(&mut sb))
            .map_err(|e| unusable(e, "reading the verity superblock"))?;
        let sb = Superblock::decode(&sb).map_err(|e| Failure::Unusable(anyhow!(e)))?;
        let mut p = params(&args.tree, sb.salt, sb.uuid)?;
        p.hash = sb.hash;
        p.data_block_size = sb.data_block_size;
        p.hash_block_size = sb.hash_block_size;
        p
    };
    let (data, size) = open_data(&args.data)?;
    let size = if args.hashfile == args.data {
        size.min(p.hash_offset)
    } else {
        size
    };
    match verity::verify(data, size, &mut hash, &p, &root) {
        Ok(()) => {
            say!(
                "verity: {} verifies against root hash {}",
                args.data.display(),
                hex::encode(&root)
            );
            Ok(())
        }
        Err(e) if e.is_unusable_input() => Err(Failure::Unusable(anyhow!(e))),
        Err(e) => Err(Failure::CheckFailed(anyhow!(e))),
    }
}

/// `verity format --json` (the fields `veritysetup format` prints).
#[derive(serde::Serialize)]
struct VerityFormatReport {
    root_hash: String,
    salt: String,
    hash_algorithm: &'static str,
    uuid: Option<String>,
    data_blocks: u64,
    data_block_size: u32,
    hash_blocks: u64,
    hash_block_size: u32,
    hash_offset: u64,
    hash_area_size: u64,
    superblock: bool,
}
