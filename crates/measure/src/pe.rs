//! PE/COFF images (PE32 and PE32+) and their Authenticode digest, computed
//! exactly as UEFI firmware (EDK2) measures an image it loads.

use blindfold_crypto::{default_provider, Digest, HashAlg};
use blindfold_tpm::{Reader, WireError};

use crate::error::Error;

const PE32: u16 = 0x10b;
const PE32_PLUS: u16 = 0x20b;
const CERTIFICATE_TABLE: usize = 4;

/// One section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Name (up to 8 bytes, NUL-trimmed).
    pub name: String,
    /// `VirtualSize`: bytes in memory.
    pub virtual_size: u32,
    /// `VirtualAddress` (RVA).
    pub virtual_address: u32,
    /// `SizeOfRawData`: bytes in the file.
    pub raw_size: u32,
    /// `PointerToRawData`: file offset.
    pub raw_offset: u32,
}

/// A parsed PE image (headers only; the bytes stay with the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeImage {
    /// `0x10b` (PE32) or `0x20b` (PE32+).
    pub magic: u16,
    /// COFF `Machine`.
    pub machine: u16,
    /// COFF `TimeDateStamp` (reproducible images have 0).
    pub timestamp: u32,
    /// `SizeOfHeaders`.
    pub size_of_headers: u32,
    /// `SectionAlignment`.
    pub section_alignment: u32,
    /// `FileAlignment`.
    pub file_alignment: u32,
    /// `SizeOfImage`.
    pub size_of_image: u32,
    /// File offset of the `CheckSum` field.
    pub checksum_offset: usize,
    /// File offset of the certificate-table directory entry, if present.
    pub cert_dir_offset: Option<usize>,
    /// Certificate table size (0 for unsigned images).
    pub cert_table_size: u32,
    /// Sections in header order.
    pub sections: Vec<Section>,
}

fn bad(e: WireError) -> Error {
    Error::Pe(e.to_string())
}

impl PeImage {
    /// Parses the headers of `bytes`, checking every offset against the file.
    pub fn parse(bytes: &[u8]) -> Result<PeImage, Error> {
        let mut dos = Reader::new(bytes, "DOS header");
        if dos.take(2).map_err(bad)? != b"MZ" {
            return Err(Error::Pe("not a PE image (no MZ signature)".into()));
        }
        let e_lfanew = {
            let mut r = Reader::new(bytes.get(0x3c..).unwrap_or_default(), "DOS header");
            r.u32_le().map_err(bad)? as usize
        };
        let pe = bytes
            .get(e_lfanew..)
            .ok_or_else(|| Error::Pe(format!("e_lfanew {e_lfanew} is past the end of the file")))?;
        let mut r = Reader::new(pe, "PE header");
        if r.take(4).map_err(bad)? != b"PE\0\0" {
            return Err(Error::Pe("no PE signature".into()));
        }
        let machine = r.u16_le().map_err(bad)?;
        let nsections = usize::from(r.u16_le().map_err(bad)?);
        let timestamp = r.u32_le().map_err(bad)?;
        let _symtab = r.u32_le().map_err(bad)?;
        let _nsyms = r.u32_le().map_err(bad)?;
        let opt_size = usize::from(r.u16_le().map_err(bad)?);
        let _characteristics = r.u16_le().map_err(bad)?;
        let opt_start = e_lfanew + 24;
        let opt = r.take(opt_size).map_err(bad)?;
        let mut o = Reader::new(opt, "optional header");
        let magic = o.u16_le().map_err(bad)?;
        let (dirs_at, count_at) = match magic {
            PE32 => (96, 92),
            PE32_PLUS => (112, 108),
            m => {
                return Err(Error::Pe(format!(
                    "optional header magic 0x{m:x} is neither PE32 nor PE32+"
                )))
            }
        };
        let field = |at: usize| -> Result<u32, Error> {
            let mut f = Reader::new(opt.get(at..).unwrap_or_default(), "optional header");
            f.u32_le().map_err(bad)
        };
        let section_alignment = field(32)?;
        let file_alignment = field(36)?;
        let size_of_image = field(56)?;
        let size_of_headers = field(60)?;
        let ndirs = field(count_at)? as usize;
        let (cert_dir_offset, cert_table_size) = if ndirs > CERTIFICATE_TABLE {
            let at = dirs_at + CERTIFICATE_TABLE * 8;
            if at + 8 > opt.len() {
                return Err(Error::Pe("data directories run past the optional header".into()));
            }
            (Some(opt_start + at), field(at + 4)?)
        } else {
            (None, 0)
        };
        let mut sections = Vec::with_capacity(nsections.min(96));
        for _ in 0..nsections {
            let mut s = r.sub(40, "section header").map_err(bad)?;
            let raw_name = s.take(8).map_err(bad)?;
            let name =
                String::from_utf8_lossy(raw_name.split(|b| *b == 0).next().unwrap_or_default()).into_owned();
            let virtual_size = s.u32_le().map_err(bad)?;
            let virtual_address = s.u32_le().map_err(bad)?;
            let raw_size = s.u32_le().map_err(bad)?;
            let raw_offset = s.u32_le().map_err(bad)?;
            if raw_size > 0 && (raw_offset as usize).saturating_add(raw_size as usize) > bytes.len() {
                return Err(Error::Pe(format!("section {name} runs past the end of the file")));
            }
            sections.push(Section {
                name,
                virtual_size,
                virtual_address,
                raw_size,
                raw_offset,
            });
        }
        if size_of_headers as usize > bytes.len() {
            return Err(Error::Pe("SizeOfHeaders is past the end of the file".into()));
        }
        Ok(PeImage {
            magic,
            machine,
            timestamp,
            size_of_headers,
            section_alignment,
            file_alignment,
            size_of_image,
            checksum_offset: opt_start + 64,
            cert_dir_offset,
            cert_table_size,
            sections,
        })
    }

    /// The section named `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// A section's bytes as loaded: `VirtualSize` bytes, the raw data
    /// followed by zeros where `VirtualSize` exceeds `SizeOfRawData`.
    pub fn section_data(&self, bytes: &[u8], section: &Section) -> Vec<u8> {
        let n = section.virtual_size as usize;
        let raw = section.raw_size.min(section.virtual_size) as usize;
        let start = section.raw_offset as usize;
        let mut out = bytes.get(start..start + raw).unwrap_or_default().to_vec();
        out.resize(n, 0);
        out
    }
}

/// The Authenticode digest of a PE image as EDK2 measures it: the headers
/// without the checksum and the certificate-table entry, the sections'
/// raw data sorted by file offset, then any data after the last section up
/// to the certificate table, hashed as is (not padded).
pub fn authenticode(bytes: &[u8], alg: HashAlg) -> Result<Digest, Error> {
    let pe = PeImage::parse(bytes)?;
    let headers = pe.size_of_headers as usize;
    let mut parts: Vec<&[u8]> = Vec::new();
    parts.push(&bytes[..pe.checksum_offset]);
    match pe.cert_dir_offset {
        Some(cert) => {
            parts.push(&bytes[pe.checksum_offset + 4..cert]);
            parts.push(&bytes[cert + 8..headers]);
        }
        None => parts.push(&bytes[pe.checksum_offset + 4..headers]),
    }
    let mut hashed = headers;
    let mut sections: Vec<&Section> = pe.sections.iter().filter(|s| s.raw_size > 0).collect();
    sections.sort_by_key(|s| s.raw_offset);
    for s in sections {
        let start = s.raw_offset as usize;
        parts.push(&bytes[start..start + s.raw_size as usize]);
        hashed += s.raw_size as usize;
    }
    if bytes.len() > hashed {
        let trailing = (bytes.len() - hashed).saturating_sub(pe.cert_table_size as usize);
        parts.push(&bytes[hashed..hashed + trailing]);
    }
    Ok(default_provider().hash(alg, &parts))
}
