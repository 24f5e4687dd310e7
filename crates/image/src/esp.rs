//! The EFI System Partition: a FAT32 file system holding the UKI as
//! `\EFI\BOOT\BOOTX64.EFI` (the removable-media path firmware boots with no
//! boot entry), made with mtools (`mformat`, `mmd`, `mcopy`). Reproducible:
//! a fixed volume id and label, and mtools stamps every entry with
//! `SOURCE_DATE_EPOCH` (no earlier than 1980-01-01, where FAT time starts).

use std::path::Path;
use std::process::Command;

use crate::error::Error;

/// The path firmware boots from a disk without a boot entry.
pub const BOOT_PATH: &str = "EFI/BOOT/BOOTX64.EFI";

/// 1980-01-01T00:00:00Z, the first time FAT can record.
const FAT_EPOCH: u64 = 315_532_800;

fn mtools(tool: &str, args: &[&std::ffi::OsStr], sde: u64) -> Result<(), Error> {
    let out = Command::new(tool)
        .args(args)
        .env("SOURCE_DATE_EPOCH", sde.max(FAT_EPOCH).to_string())
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .map_err(|e| Error::Output(format!("cannot run {tool} (install mtools): {e}")))?;
    if !out.status.success() {
        return Err(Error::Output(format!(
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// A FAT32 image (at least 64 MiB, a whole number of MiB) holding `uki`
/// at [`BOOT_PATH`], built in `scratch`.
pub fn build_esp(uki: &[u8], scratch: &Path, sde: u64) -> Result<Vec<u8>, Error> {
    let io = |e: std::io::Error| Error::Output(format!("writing the ESP in {}: {e}", scratch.display()));
    let size = ((uki.len() as u64 * 5 / 4 + (8 << 20)).max(64 << 20)).div_ceil(1 << 20) << 20;
    let image = scratch.join("esp.img");
    let file = std::fs::File::create(&image).map_err(io)?;
    file.set_len(size).map_err(io)?;
    drop(file);
    let source = scratch.join("BOOTX64.EFI");
    std::fs::write(&source, uki).map_err(io)?;
    let i = image.as_os_str();
    mtools(
        "mformat",
        &[
            "-i".as_ref(),
            i,
            "-F".as_ref(),
            "-N".as_ref(),
            "b11df01d".as_ref(),
            "-v".as_ref(),
            "BLINDFOLD".as_ref(),
            "::".as_ref(),
        ],
        sde,
    )?;
    mtools(
        "mmd",
        &["-i".as_ref(), i, "::/EFI".as_ref(), "::/EFI/BOOT".as_ref()],
        sde,
    )?;
    mtools(
        "mcopy",
        &[
            "-i".as_ref(),
            i,
            source.as_os_str(),
            format!("::/{BOOT_PATH}").as_ref(),
        ],
        sde,
    )?;
    std::fs::read(&image).map_err(io)
}
