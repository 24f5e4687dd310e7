//! A built disk in each cloud's import format: the fixed VHD's footer, the
//! GCP archive's tar header and size, the GPT still whole (backup header at
//! the new end) after growing, the same bytes from the same input, and GNU
//! tar and gzip as oracles for the archive.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Read;
use std::path::Path;
use std::process::Command;

use blindfold_image::export::{export, vhd_footer, Cloud, GIB, MIB};
use blindfold_image::gpt;

const SDE: u64 = 1_700_000_000;

/// A small GPT disk as `image build` writes one: two partitions.
fn disk(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let esp = vec![0xE5u8; 70_000];
    let app: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    gpt::write_disk(
        &mut out,
        "b11df01d-0000-4000-8000-0000000000d1",
        &[
            gpt::Partition {
                type_guid: gpt::ESP_TYPE,
                guid: "b11df01d-0000-4000-8000-0000000000e1",
                name: "ESP",
                data: &esp,
            },
            gpt::Partition {
                type_guid: gpt::LINUX_DATA_TYPE,
                guid: "b11df01d-0000-4000-8000-0000000000a1",
                name: "app",
                data: &app,
            },
        ],
    )
    .unwrap();
    let bytes = out.into_inner();
    let path = dir.join("disk.img");
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

fn u64_le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The GPT of a disk of `len` bytes is whole: both headers' CRCs hold,
/// the backup header is the last sector and points back at the primary,
/// and both arrays carry their CRC. `head` is the disk's start, `tail` its
/// end (each at least 1 MiB).
fn assert_gpt_whole(head: &[u8], tail: &[u8], len: u64) {
    let sectors = len / 512;
    let at = |lba: u64, n: usize| -> &[u8] {
        let offset = lba * 512;
        if offset + n as u64 <= head.len() as u64 {
            &head[offset as usize..offset as usize + n]
        } else {
            let from_end = (len - offset) as usize;
            let start = tail.len() - from_end;
            &tail[start..start + n]
        }
    };
    for (lba, other) in [(1, sectors - 1), (sectors - 1, 1)] {
        let h = at(lba, 512);
        assert_eq!(&h[0..8], b"EFI PART");
        let mut unsummed = h[..92].to_vec();
        unsummed[16..20].fill(0);
        assert_eq!(
            crc32fast::hash(&unsummed),
            u32::from_le_bytes(h[16..20].try_into().unwrap())
        );
        assert_eq!(u64_le(h, 24), lba);
        assert_eq!(u64_le(h, 32), other);
        assert_eq!(u64_le(h, 48), sectors - 34, "last usable LBA");
        let array = at(u64_le(h, 72), 128 * 128);
        assert_eq!(
            crc32fast::hash(array),
            u32::from_le_bytes(h[88..92].try_into().unwrap())
        );
    }
    assert_eq!(u64_le(at(sectors - 1, 512), 72), sectors - 33);
}

#[test]
fn azure_gets_a_fixed_vhd_of_whole_mib_with_a_valid_footer() {
    let dir = tempfile::tempdir().unwrap();
    let (path, raw) = disk(dir.path());
    let out = export(&path, Cloud::Azure, &dir.path().join("azure"), SDE).unwrap();
    assert_eq!(out.file_name().unwrap(), "disk.vhd");
    let vhd = std::fs::read(&out).unwrap();
    let (data, footer) = vhd.split_at(vhd.len() - 512);
    assert_eq!(data.len() as u64 % MIB, 0);
    assert_eq!(data, &raw[..], "a whole-MiB disk is carried unchanged");
    assert_eq!(&footer[0..8], b"conectix");
    assert_eq!(
        u32::from_be_bytes(footer[60..64].try_into().unwrap()),
        2,
        "fixed disk"
    );
    assert_eq!(u64::from_be_bytes(footer[16..24].try_into().unwrap()), u64::MAX);
    assert_eq!(
        u64::from_be_bytes(footer[40..48].try_into().unwrap()),
        data.len() as u64
    );
    assert_eq!(
        u64::from_be_bytes(footer[48..56].try_into().unwrap()),
        data.len() as u64
    );
    assert_eq!(
        u32::from_be_bytes(footer[24..28].try_into().unwrap()) as u64,
        SDE - 946_684_800
    );
    // The checksum: ones' complement of every other byte's sum.
    let sum: u32 = footer
        .iter()
        .enumerate()
        .filter(|(i, _)| !(64..68).contains(i))
        .map(|(_, b)| u32::from(*b))
        .sum();
    assert_eq!(u32::from_be_bytes(footer[64..68].try_into().unwrap()), !sum);
    assert_gpt_whole(data, data, data.len() as u64);
    // The same disk, the same bytes.
    let again = export(&path, Cloud::Azure, &dir.path().join("again"), SDE).unwrap();
    assert_eq!(std::fs::read(again).unwrap(), vhd);
}

#[test]
fn the_vhd_geometry_follows_the_specifications_algorithm() {
    // 3 MiB: 6144 sectors, 17 per track, 4 heads, 90 cylinders.
    let f = vhd_footer(3 * MIB, 0, &[0; 16]);
    assert_eq!((u16::from_be_bytes([f[56], f[57]]), f[58], f[59]), (90, 4, 17));
    // 127 GiB and more: 16 heads, 255 sectors, cylinders capped at 65535.
    let f = vhd_footer(200 * GIB, 0, &[0; 16]);
    assert_eq!(
        (u16::from_be_bytes([f[56], f[57]]), f[58], f[59]),
        (65535, 16, 255)
    );
    // 1 GiB: 2097152 sectors: 63 sectors, 16 heads, 2080 cylinders.
    let f = vhd_footer(GIB, 0, &[0; 16]);
    assert_eq!((u16::from_be_bytes([f[56], f[57]]), f[58], f[59]), (2080, 16, 63));
}

#[test]
fn aws_gets_the_raw_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (path, raw) = disk(dir.path());
    let out = export(&path, Cloud::Aws, &dir.path().join("aws"), SDE).unwrap();
    assert_eq!(out.file_name().unwrap(), "disk.raw");
    assert_eq!(std::fs::read(out).unwrap(), raw);
}

#[test]
fn gcp_gets_a_whole_gib_disk_raw_alone_in_a_gnu_tar_gz() {
    let dir = tempfile::tempdir().unwrap();
    let (path, raw) = disk(dir.path());
    let out = export(&path, Cloud::Gcp, &dir.path().join("gcp"), SDE).unwrap();
    assert_eq!(out.file_name().unwrap(), "disk.tar.gz");
    // Nothing but the archive is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path().join("gcp")).unwrap().collect();
    assert_eq!(names.len(), 1);

    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(&out).unwrap()));
    let mut entries = archive.entries().unwrap();
    let mut entry = entries.next().unwrap().unwrap();
    let header = entry.header().clone();
    assert_eq!(&header.as_bytes()[257..265], b"ustar  \0", "GNU (oldgnu) magic");
    assert_eq!(entry.path().unwrap().to_str(), Some("disk.raw"));
    assert_eq!(header.mtime().unwrap(), SDE);
    // Read in pieces (a GiB): the start, the end, and zeros between.
    let old_backup = raw.len() - 33 * 512;
    let mut head = vec![0u8; raw.len()];
    entry.read_exact(&mut head).unwrap();
    let mut len = head.len() as u64;
    let mut tail = vec![0u8; MIB as usize];
    loop {
        let mut piece = vec![0u8; MIB as usize];
        let n = read_full(&mut entry, &mut piece);
        if n == 0 {
            break;
        }
        len += n as u64;
        if len < GIB {
            assert!(piece[..n].iter().all(|b| *b == 0), "free space is zeros");
        }
        tail = piece[..n].to_vec();
    }
    assert_eq!(len, GIB, "grown to a whole GiB");
    drop(entry);
    assert!(entries.next().is_none(), "one file only");
    assert_eq!(tail.len() as u64, MIB);
    // The partitions' bytes are where they were; the old backup's place
    // is zeros; the GPT is whole at the new size.
    assert_eq!(&head[1024..old_backup], &raw[1024..old_backup]);
    assert!(head[old_backup..].iter().all(|b| *b == 0));
    assert_gpt_whole(&head, &tail, len);
    let mbr_size = u32::from_le_bytes(head[446 + 12..446 + 16].try_into().unwrap());
    assert_eq!(u64::from(mbr_size), GIB / 512 - 1);

    // GNU tar and gzip read it as GCP's instructions make it.
    let gzip = Command::new("gzip").arg("-t").arg(&out).status().unwrap();
    assert!(gzip.success());
    let listing = Command::new("tar").arg("-tvzf").arg(&out).output().unwrap();
    assert!(listing.status.success());
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(
        text.contains(" 1073741824 ") && text.trim_end().ends_with("disk.raw"),
        "{text}"
    );
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]).unwrap() {
            0 => break,
            k => n += k,
        }
    }
    n
}

#[test]
fn a_disk_is_never_shrunk_and_a_disk_without_gpt_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, raw) = disk(dir.path());
    let mut file = std::fs::File::options()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let err = gpt::grow(&mut file, raw.len() as u64 - MIB).unwrap_err();
    assert!(err.to_string().contains("cannot become"), "{err}");
    let err = gpt::grow(&mut file, raw.len() as u64 + 100).unwrap_err();
    assert!(err.to_string().contains("cannot become"), "{err}");
    let blank = dir.path().join("blank.img");
    std::fs::write(&blank, vec![0u8; MIB as usize]).unwrap();
    let mut file = std::fs::File::options()
        .read(true)
        .write(true)
        .open(&blank)
        .unwrap();
    let err = gpt::grow(&mut file, 2 * MIB).unwrap_err();
    assert!(err.to_string().contains("no valid GPT header"), "{err}");
}
