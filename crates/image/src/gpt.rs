//! A GPT disk image: a protective MBR, the primary header and partition
//! array, the partitions' bytes, the backup array and header (UEFI 2.10,
//! chapter 5). Every GUID is given by the caller, so the same partitions
//! give the same bytes.

use std::io::{Read, Seek, SeekFrom, Write};

use crate::error::Error;

const SECTOR: u64 = 512;
const ENTRIES: u64 = 128;
const ENTRY_SIZE: u64 = 128;
/// Sectors taken by the partition array (128 entries of 128 bytes).
const ARRAY_SECTORS: u64 = ENTRIES * ENTRY_SIZE / SECTOR;
/// Partitions start on 1 MiB boundaries.
pub const ALIGN: u64 = 1 << 20;

/// The EFI System Partition type.
pub const ESP_TYPE: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
/// Linux filesystem data.
pub const LINUX_DATA_TYPE: &str = "0fc63daf-8483-4772-8e79-3d47d8e4de47";

/// A partition to write.
#[derive(Debug, Clone)]
pub struct Partition<'a> {
    /// Partition type GUID (text form).
    pub type_guid: &'a str,
    /// Unique partition GUID (text form).
    pub guid: &'a str,
    /// Name (UTF-16 in the table, at most 36 code units).
    pub name: &'a str,
    /// Contents (padded with zeros to a whole MiB).
    pub data: &'a [u8],
}

/// Where a partition landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// First byte.
    pub offset: u64,
    /// Bytes reserved (a multiple of 1 MiB).
    pub size: u64,
}

/// A GUID's on-disk bytes: the first three fields little-endian.
pub fn guid_bytes(text: &str) -> Result<[u8; 16], Error> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let raw = hex::decode(&hex).map_err(|_| Error::Spec(format!("{text} is not a GUID")))?;
    let raw: [u8; 16] = raw
        .try_into()
        .map_err(|_| Error::Spec(format!("{text} is not a GUID")))?;
    let mut out = raw;
    out[0..4].reverse();
    out[4..6].reverse();
    out[6..8].reverse();
    Ok(out)
}

fn align(v: u64) -> u64 {
    v.div_ceil(ALIGN) * ALIGN
}

/// Writes the disk to `out` and says where each partition is.
pub fn write_disk<W: Write + Seek>(
    out: &mut W,
    disk_guid: &str,
    parts: &[Partition<'_>],
) -> Result<Vec<Placed>, Error> {
    let io = |e: std::io::Error| Error::Output(format!("writing the disk image: {e}"));
    let mut placed = Vec::new();
    let mut next = ALIGN;
    for p in parts {
        let size = align(p.data.len().max(1) as u64);
        placed.push(Placed { offset: next, size });
        next += size;
    }
    // Room for the backup array and header, then a whole MiB.
    let total_bytes = align(next + (ARRAY_SECTORS + 1) * SECTOR);
    let total = total_bytes / SECTOR;
    let last_usable = total - ARRAY_SECTORS - 2;

    let mut array = vec![0u8; (ENTRIES * ENTRY_SIZE) as usize];
    for (i, (p, at)) in parts.iter().zip(&placed).enumerate() {
        let e = &mut array[i * ENTRY_SIZE as usize..(i + 1) * ENTRY_SIZE as usize];
        e[0..16].copy_from_slice(&guid_bytes(p.type_guid)?);
        e[16..32].copy_from_slice(&guid_bytes(p.guid)?);
        e[32..40].copy_from_slice(&(at.offset / SECTOR).to_le_bytes());
        e[40..48].copy_from_slice(&((at.offset + at.size) / SECTOR - 1).to_le_bytes());
        let name: Vec<u16> = p.name.encode_utf16().collect();
        if name.len() > 36 {
            return Err(Error::Spec(format!(
                "partition name {} is longer than 36 characters",
                p.name
            )));
        }
        for (j, u) in name.iter().enumerate() {
            e[56 + 2 * j..58 + 2 * j].copy_from_slice(&u.to_le_bytes());
        }
    }
    let array_crc = crc32fast::hash(&array);
    let header = |current: u64, backup: u64, array_lba: u64| -> Result<Vec<u8>, Error> {
        let mut h = vec![0u8; SECTOR as usize];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&current.to_le_bytes());
        h[32..40].copy_from_slice(&backup.to_le_bytes());
        h[40..48].copy_from_slice(&(2 + ARRAY_SECTORS).to_le_bytes());
        h[48..56].copy_from_slice(&last_usable.to_le_bytes());
        h[56..72].copy_from_slice(&guid_bytes(disk_guid)?);
        h[72..80].copy_from_slice(&array_lba.to_le_bytes());
        h[80..84].copy_from_slice(&(ENTRIES as u32).to_le_bytes());
        h[84..88].copy_from_slice(&(ENTRY_SIZE as u32).to_le_bytes());
        h[88..92].copy_from_slice(&array_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        Ok(h)
    };

    let mut mbr = vec![0u8; SECTOR as usize];
    let p = &mut mbr[446..462];
    p[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
    p[4] = 0xEE;
    p[5..8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
    p[8..12].copy_from_slice(&1u32.to_le_bytes());
    p[12..16].copy_from_slice(&u32::try_from(total - 1).unwrap_or(u32::MAX).to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;

    out.seek(SeekFrom::Start(0)).map_err(io)?;
    out.write_all(&mbr).map_err(io)?;
    out.write_all(&header(1, total - 1, 2)?).map_err(io)?;
    out.write_all(&array).map_err(io)?;
    let zeros = vec![0u8; (ALIGN - (2 + ARRAY_SECTORS) * SECTOR) as usize];
    out.write_all(&zeros).map_err(io)?;
    for (p, at) in parts.iter().zip(&placed) {
        out.seek(SeekFrom::Start(at.offset)).map_err(io)?;
        out.write_all(p.data).map_err(io)?;
        let pad = at.size - p.data.len() as u64;
        std::io::copy(&mut std::io::repeat(0).take(pad), out).map_err(io)?;
    }
    let backup_array = total - 1 - ARRAY_SECTORS;
    out.seek(SeekFrom::Start(next)).map_err(io)?;
    std::io::copy(&mut std::io::repeat(0).take(backup_array * SECTOR - next), out).map_err(io)?;
    out.write_all(&array).map_err(io)?;
    out.write_all(&header(total - 1, 1, backup_array)?).map_err(io)?;
    Ok(placed)
}

/// Makes a disk written by [`write_disk`] `new_bytes` long (a whole number
/// of sectors, not shorter than it is): the backup partition array and
/// header move to the new end, and the primary header and the protective
/// MBR say so. Clouds import disks whose size is a multiple of their unit
/// (1 MiB, 1 GiB); a backup header left where it was would be stale.
pub fn grow<D: Read + Write + Seek>(disk: &mut D, new_bytes: u64) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Output(format!("resizing the disk image: {e}"));
    let mut primary = vec![0u8; SECTOR as usize];
    disk.seek(SeekFrom::Start(SECTOR)).map_err(io)?;
    disk.read_exact(&mut primary).map_err(io)?;
    let field = |h: &[u8], at: usize| u64::from_le_bytes(h[at..at + 8].try_into().unwrap_or_default());
    let stored_crc = u32::from_le_bytes(primary[16..20].try_into().unwrap_or_default());
    let mut unsummed = primary[..92].to_vec();
    unsummed[16..20].fill(0);
    if &primary[0..8] != b"EFI PART" || crc32fast::hash(&unsummed) != stored_crc {
        return Err(Error::Input("the disk has no valid GPT header".into()));
    }
    let old_total = field(&primary, 32) + 1;
    if new_bytes % SECTOR != 0 || new_bytes / SECTOR < old_total {
        return Err(Error::Input(format!(
            "a disk of {} bytes cannot become {new_bytes} bytes",
            old_total * SECTOR
        )));
    }
    let total = new_bytes / SECTOR;
    let mut array = vec![0u8; (ENTRIES * ENTRY_SIZE) as usize];
    disk.seek(SeekFrom::Start(field(&primary, 72) * SECTOR))
        .map_err(io)?;
    disk.read_exact(&mut array).map_err(io)?;
    // The old backup's place becomes zeros, as the rest of the free space.
    let old_backup_array = old_total - 1 - ARRAY_SECTORS;
    disk.seek(SeekFrom::Start(old_backup_array * SECTOR))
        .map_err(io)?;
    std::io::copy(
        &mut std::io::repeat(0).take((total - old_backup_array) * SECTOR),
        disk,
    )
    .map_err(io)?;
    let last_usable = total - ARRAY_SECTORS - 2;
    let with = |mut h: Vec<u8>, current: u64, backup: u64, array_lba: u64| {
        h[24..32].copy_from_slice(&current.to_le_bytes());
        h[32..40].copy_from_slice(&backup.to_le_bytes());
        h[48..56].copy_from_slice(&last_usable.to_le_bytes());
        h[72..80].copy_from_slice(&array_lba.to_le_bytes());
        h[16..20].fill(0);
        let crc = crc32fast::hash(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    };
    let backup_array = total - 1 - ARRAY_SECTORS;
    disk.seek(SeekFrom::Start(backup_array * SECTOR)).map_err(io)?;
    disk.write_all(&array).map_err(io)?;
    disk.write_all(&with(primary.clone(), total - 1, 1, backup_array))
        .map_err(io)?;
    disk.seek(SeekFrom::Start(SECTOR)).map_err(io)?;
    disk.write_all(&with(primary, 1, total - 1, 2)).map_err(io)?;
    // The protective MBR's partition covers the disk (capped at 2^32 - 1).
    disk.seek(SeekFrom::Start(446 + 12)).map_err(io)?;
    disk.write_all(&u32::try_from(total - 1).unwrap_or(u32::MAX).to_le_bytes())
        .map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn guids_are_stored_mixed_endian() {
        assert_eq!(
            hex::encode(guid_bytes(ESP_TYPE).unwrap()),
            "28732ac11ff8d211ba4b00a0c93ec93b"
        );
        assert!(guid_bytes("not-a-guid").is_err());
    }

    #[test]
    fn headers_and_arrays_carry_valid_crcs_and_the_backup_mirrors_the_primary() {
        let mut disk = std::io::Cursor::new(Vec::new());
        let a = vec![1u8; 5000];
        let placed = write_disk(
            &mut disk,
            "b11df01d-0000-4000-8000-0000000000d1",
            &[Partition {
                type_guid: LINUX_DATA_TYPE,
                guid: "b11df01d-0000-4000-8000-0000000000a1",
                name: "x",
                data: &a,
            }],
        )
        .unwrap();
        let d = disk.into_inner();
        assert_eq!(
            placed,
            vec![Placed {
                offset: ALIGN,
                size: ALIGN
            }]
        );
        assert_eq!(d.len() as u64 % ALIGN, 0);
        assert_eq!(&d[ALIGN as usize..ALIGN as usize + 5000], &a[..]);
        let primary = &d[512..1024];
        let backup = &d[d.len() - 512..];
        for h in [primary, backup] {
            let mut z = h[..92].to_vec();
            z[16..20].fill(0);
            assert_eq!(crc32fast::hash(&z).to_le_bytes(), h[16..20]);
            assert_eq!(h[88..92], crc32fast::hash(&d[1024..1024 + 16384]).to_le_bytes());
        }
        assert_eq!(primary[56..72], backup[56..72]);
        assert_eq!(d[510..512], [0x55, 0xAA]);
    }
}
