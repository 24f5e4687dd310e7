//! Assembling a UKI from a systemd-stub and its sections, reproducibly:
//! the same inputs give the same bytes (no time stamp, no checksum, no
//! COFF symbol table, zero padding).

use crate::error::Error;
use crate::pe::PeImage;

const SECTION_HEADER: usize = 40;
/// `IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ`.
const DATA_READ: u32 = 0x4000_0040;
/// Sections are placed on page boundaries in memory.
const PAGE: u32 = 4096;

fn align(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Appends `sections` (name, contents) to `stub`, in the given order.
/// Section names must be at most 8 bytes and not already in the stub.
pub fn build_uki(stub: &[u8], sections: &[(&str, &[u8])]) -> Result<Vec<u8>, Error> {
    let pe = PeImage::parse(stub)?;
    let e_lfanew = u32::from_le_bytes([stub[0x3c], stub[0x3d], stub[0x3e], stub[0x3f]]) as usize;
    let coff = e_lfanew + 4;
    let opt = coff + 20;
    let opt_size = usize::from(u16::from_le_bytes([stub[coff + 16], stub[coff + 17]]));
    let table = opt + opt_size;
    let used = table + pe.sections.len() * SECTION_HEADER;
    let needed = used + sections.len() * SECTION_HEADER;
    if needed > pe.size_of_headers as usize {
        return Err(Error::Pe(format!(
            "the stub's headers have room for {} more sections, {} were asked",
            (pe.size_of_headers as usize - used) / SECTION_HEADER,
            sections.len()
        )));
    }
    for (name, _) in sections {
        if name.len() > 8 || pe.section(name).is_some() {
            return Err(Error::Pe(format!(
                "section name {name} is too long or already in the stub"
            )));
        }
    }
    let file_align = u64::from(pe.file_alignment.max(1));
    let sect_align = u64::from(pe.section_alignment.max(PAGE));
    // Keep the stub up to the end of its last section's raw data; drop the
    // COFF symbol table and anything else after it.
    let raw_end = pe
        .sections
        .iter()
        .map(|s| u64::from(s.raw_offset) + u64::from(s.raw_size))
        .max()
        .unwrap_or(u64::from(pe.size_of_headers));
    let mut out = stub[..raw_end as usize].to_vec();
    let mut next_va = align(
        pe.sections
            .iter()
            .map(|s| u64::from(s.virtual_address) + u64::from(s.virtual_size.max(s.raw_size)))
            .max()
            .unwrap_or(0),
        sect_align,
    );
    let mut added_raw = 0u64;
    for (i, (name, data)) in sections.iter().enumerate() {
        let raw_offset = align(out.len() as u64, file_align);
        out.resize(raw_offset as usize, 0);
        let raw_size = align(data.len() as u64, file_align);
        out.extend_from_slice(data);
        out.resize((raw_offset + raw_size) as usize, 0);
        added_raw += raw_size;
        let h = used + i * SECTION_HEADER;
        let mut header = [0u8; SECTION_HEADER];
        header[..name.len()].copy_from_slice(name.as_bytes());
        put_u32(
            &mut header,
            8,
            u32::try_from(data.len()).map_err(|_| Error::Pe(format!("{name} is larger than 4 GiB")))?,
        );
        put_u32(
            &mut header,
            12,
            u32::try_from(next_va).map_err(|_| Error::Pe("image larger than 4 GiB".into()))?,
        );
        put_u32(&mut header, 16, raw_size as u32);
        put_u32(&mut header, 20, raw_offset as u32);
        put_u32(&mut header, 36, DATA_READ);
        out[h..h + SECTION_HEADER].copy_from_slice(&header);
        next_va = align(next_va + data.len() as u64, sect_align);
    }
    let count = u16::try_from(pe.sections.len() + sections.len())
        .map_err(|_| Error::Pe("too many sections".into()))?;
    put_u16(&mut out, coff + 2, count);
    put_u32(&mut out, coff + 4, 0); // TimeDateStamp
    put_u32(&mut out, coff + 8, 0); // PointerToSymbolTable
    put_u32(&mut out, coff + 12, 0); // NumberOfSymbols
    let initialized = u32::from_le_bytes([out[opt + 8], out[opt + 9], out[opt + 10], out[opt + 11]]);
    put_u32(&mut out, opt + 8, initialized.wrapping_add(added_raw as u32));
    put_u32(&mut out, opt + 56, next_va as u32); // SizeOfImage
    put_u32(&mut out, pe.checksum_offset, 0);
    PeImage::parse(&out)?;
    Ok(out)
}
