//! A built disk image (`OUT/disk.img`) in the form each cloud imports:
//!
//! - **Azure**: a fixed VHD (`disk.vhd`): the raw disk, its size a whole
//!   number of MiB, then the 512-byte VHD footer (disk type 2, fixed);
//!   uploaded as a page blob and made into a managed disk or a Compute
//!   Gallery image version.
//! - **AWS**: the raw disk (`disk.raw`), for a snapshot upload (`coldsnap`
//!   or `import-snapshot`) and `register-image --boot-mode uefi
//!   --tpm-support v2.0`.
//! - **GCP**: `disk.raw` grown to a whole number of GiB, alone in a gzip'd
//!   tar archive in GNU format (`disk.tar.gz`, as `tar --format=oldgnu -czf`
//!   writes it), for `gcloud compute images create --source-uri`.
//!
//! Growing a disk moves its backup GPT header to the new end
//! ([`crate::gpt::grow`]). The same disk and `SOURCE_DATE_EPOCH` give the
//! same bytes.
//!
//! What it is **not**: an uploader. Nothing here talks to a cloud; the
//! deploy scripts do.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use blindfold_crypto::{default_provider, HashAlg};

use crate::error::Error;
use crate::gpt;

/// A cloud's import format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Azure: fixed VHD.
    Azure,
    /// AWS: raw disk.
    Aws,
    /// GCP: `disk.raw` in a gzip'd GNU tar.
    Gcp,
}

impl Cloud {
    /// The file [`export`] writes.
    pub fn file_name(self) -> &'static str {
        match self {
            Cloud::Azure => "disk.vhd",
            Cloud::Aws => "disk.raw",
            Cloud::Gcp => "disk.tar.gz",
        }
    }

    /// What that file is, in a few words.
    pub fn form(self) -> &'static str {
        match self {
            Cloud::Azure => "fixed VHD",
            Cloud::Aws => "raw disk",
            Cloud::Gcp => "disk.raw in a gzip'd tar (whole GiB)",
        }
    }
}

/// 1 MiB: Azure's size unit for VHDs.
pub const MIB: u64 = 1 << 20;
/// 1 GiB: GCP's size unit for imported disks.
pub const GIB: u64 = 1 << 30;
/// Seconds from the Unix epoch to the VHD epoch (2000-01-01 00:00:00 UTC).
const VHD_EPOCH: u64 = 946_684_800;

/// Writes `disk` in `cloud`'s import format into `out_dir` (created if
/// needed) and returns the file written.
pub fn export(disk: &Path, cloud: Cloud, out_dir: &Path, source_date_epoch: u64) -> Result<PathBuf, Error> {
    let io = |what: &Path| {
        let what = what.display().to_string();
        move |e: std::io::Error| Error::Output(format!("{what}: {e}"))
    };
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let target = out_dir.join(cloud.file_name());
    match cloud {
        Cloud::Aws => {
            std::fs::copy(disk, &target).map_err(io(&target))?;
        }
        Cloud::Azure => {
            std::fs::copy(disk, &target).map_err(io(&target))?;
            let mut file = File::options()
                .read(true)
                .write(true)
                .open(&target)
                .map_err(io(&target))?;
            let size = grow_to_multiple(&mut file, MIB)?;
            let footer = vhd_footer(size, source_date_epoch, &unique_id(&mut file)?);
            file.seek(SeekFrom::Start(size)).map_err(io(&target))?;
            file.write_all(&footer).map_err(io(&target))?;
        }
        Cloud::Gcp => {
            let staging = tempfile::NamedTempFile::new_in(out_dir).map_err(io(out_dir))?;
            std::fs::copy(disk, staging.path()).map_err(io(staging.path()))?;
            let mut raw = File::options()
                .read(true)
                .write(true)
                .open(staging.path())
                .map_err(io(staging.path()))?;
            let size = grow_to_multiple(&mut raw, GIB)?;
            raw.seek(SeekFrom::Start(0)).map_err(io(staging.path()))?;
            let out = File::create(&target).map_err(io(&target))?;
            let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            let mut tar = tar::Builder::new(gz);
            let mut header = tar::Header::new_gnu();
            header.set_size(size);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(source_date_epoch);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, "disk.raw", &mut raw)
                .map_err(io(&target))?;
            let gz = tar.into_inner().map_err(io(&target))?;
            gz.finish()
                .map_err(io(&target))?
                .sync_all()
                .map_err(io(&target))?;
        }
    }
    Ok(target)
}

/// Grows the disk in `file` to the next multiple of `unit` bytes (a whole
/// disk already is left as it is) and returns its size.
fn grow_to_multiple(file: &mut File, unit: u64) -> Result<u64, Error> {
    let size = file
        .metadata()
        .map_err(|e| Error::Output(format!("reading the disk's size: {e}")))?
        .len();
    let want = size.div_ceil(unit).max(1) * unit;
    if want != size {
        gpt::grow(file, want)?;
    }
    Ok(want)
}

/// A VHD's unique id: derived from the disk's GPT header (its GUID and the
/// CRC of its partition table) and size, so the same disk gets the same
/// id and another disk another.
fn unique_id(file: &mut File) -> Result<[u8; 16], Error> {
    let io = |e: std::io::Error| Error::Output(format!("reading the disk's GPT header: {e}"));
    let size = file.metadata().map_err(io)?.len();
    let mut header = vec![0u8; 512];
    file.seek(SeekFrom::Start(512)).map_err(io)?;
    file.read_exact(&mut header).map_err(io)?;
    let digest = default_provider().hash(
        HashAlg::Sha256,
        &[b"blindfold vhd id", &header, &size.to_be_bytes()],
    );
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest.as_bytes()[..16]);
    Ok(id)
}

/// The 512-byte footer of a fixed VHD of `size` bytes (Virtual Hard Disk
/// Image Format Specification, "Hard Disk Footer Format"): big-endian
/// fields, the data offset all ones (no dynamic header), the disk type 2
/// (fixed), the checksum the ones' complement of the other bytes' sum.
pub fn vhd_footer(size: u64, source_date_epoch: u64, unique_id: &[u8; 16]) -> [u8; 512] {
    let mut f = [0u8; 512];
    f[0..8].copy_from_slice(b"conectix");
    f[8..12].copy_from_slice(&2u32.to_be_bytes()); // features: reserved bit
    f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes()); // format 1.0
    f[16..24].copy_from_slice(&u64::MAX.to_be_bytes()); // no dynamic header
    let stamp = u32::try_from(source_date_epoch.saturating_sub(VHD_EPOCH)).unwrap_or(u32::MAX);
    f[24..28].copy_from_slice(&stamp.to_be_bytes());
    f[28..32].copy_from_slice(b"bfld"); // creator application
    f[32..36].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    f[36..40].copy_from_slice(b"Wi2k"); // creator host OS, as Azure's tools write
    f[40..48].copy_from_slice(&size.to_be_bytes()); // original size
    f[48..56].copy_from_slice(&size.to_be_bytes()); // current size
    let (cylinders, heads, sectors) = chs(size);
    f[56..58].copy_from_slice(&cylinders.to_be_bytes());
    f[58] = heads;
    f[59] = sectors;
    f[60..64].copy_from_slice(&2u32.to_be_bytes()); // fixed
    f[68..84].copy_from_slice(unique_id);
    let sum = f.iter().fold(0u32, |acc, b| acc.wrapping_add(u32::from(*b)));
    f[64..68].copy_from_slice(&(!sum).to_be_bytes());
    f
}

/// The cylinder/head/sector geometry the VHD specification's algorithm
/// gives a disk of `size` bytes (appendix "CHS Calculation").
fn chs(size: u64) -> (u16, u8, u8) {
    let mut total = size / 512;
    total = total.min(65_535 * 16 * 255);
    let (sectors, heads, cylinder_heads);
    if total >= 65_535 * 16 * 63 {
        sectors = 255;
        heads = 16;
        cylinder_heads = total / sectors;
    } else {
        let mut s = 17;
        let mut ch = total / s;
        let mut h = ch.div_ceil(1024).max(4);
        if ch >= h * 1024 || h > 16 {
            s = 31;
            h = 16;
            ch = total / s;
        }
        if ch >= h * 1024 {
            s = 63;
            h = 16;
            ch = total / s;
        }
        sectors = s;
        heads = h;
        cylinder_heads = ch;
    }
    let cylinders = cylinder_heads / heads;
    (
        u16::try_from(cylinders).unwrap_or(u16::MAX),
        u8::try_from(heads).unwrap_or(u8::MAX),
        u8::try_from(sectors).unwrap_or(u8::MAX),
    )
}
