//! Unified kernel images: the sections systemd-stub knows, and the stub's
//! version read from its `.sdmagic` section.

use crate::error::Error;
use crate::pe::PeImage;

/// Sections the UKI specification defines, in the order systemd-stub 254
/// measures them into PCR 11 (252 lacks `.uname` and `.sbat`).
pub const UKI_SECTIONS: [&str; 10] = [
    ".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".uname", ".sbat", ".pcrsig", ".pcrpkey",
];

/// A systemd-stub version (`major`, and the full text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubVersion {
    /// Major version, e.g. 252.
    pub major: u32,
    /// The `.sdmagic` text, e.g. `systemd-stub 252.39-1~deb12u2`.
    pub text: String,
}

/// Reads the stub version from `#### LoaderInfo: systemd-stub 252.39 ####`.
pub fn stub_version(bytes: &[u8], pe: &PeImage) -> Result<StubVersion, Error> {
    let section = pe.section(".sdmagic").ok_or_else(|| {
        Error::Pe("no .sdmagic section: not a systemd-stub UKI (give --stub-version)".into())
    })?;
    let data = pe.section_data(bytes, section);
    let text = String::from_utf8_lossy(&data);
    let info = text
        .split("LoaderInfo:")
        .nth(1)
        .map(|t| t.trim_matches(|c: char| c == '#' || c.is_whitespace() || c == '\0'))
        .and_then(|t| t.split(" ####").next())
        .map(str::trim)
        .ok_or_else(|| Error::Pe(format!(".sdmagic does not say LoaderInfo: {text}")))?;
    let major = info
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Pe(format!("no version in \"{info}\"")))?;
    Ok(StubVersion {
        major,
        text: info.to_string(),
    })
}

/// The sections systemd-stub of `version` measures into PCR 11, in order,
/// that are present in `pe`.
pub fn measured_sections(pe: &PeImage, version: &StubVersion) -> Vec<&'static str> {
    UKI_SECTIONS
        .iter()
        .copied()
        .filter(|s| *s != ".pcrsig")
        .filter(|s| version.major >= 254 || !matches!(*s, ".uname" | ".sbat"))
        .filter(|s| pe.section(s).is_some())
        .collect()
}
