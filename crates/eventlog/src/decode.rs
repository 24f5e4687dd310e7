//! Decoding event data for display. The data is untrusted: nothing here
//! feeds the replay or any decision, and malformed data decodes to
//! [`EventData::Malformed`] instead of failing.

use std::fmt;

use blindfold_tpm::{Reader, WireError};

use crate::device_path::device_path_to_string;
use crate::event_type::EventType;
use crate::parse::Event;

/// A decoded summary of an event's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventData {
    /// `Spec ID Event03` header.
    SpecId,
    /// `StartupLocality` (PCR 0 initial value).
    StartupLocality(u8),
    /// Another `EV_NO_ACTION` event, by its signature.
    NoAction(String),
    /// `EV_SEPARATOR` value.
    Separator(u32),
    /// A text event (`EV_EFI_ACTION`, `EV_ACTION`, `EV_IPL`, `EV_S_CRTM_VERSION`, ...).
    Text(String),
    /// `UEFI_VARIABLE_DATA`.
    Variable {
        /// Vendor GUID.
        guid: String,
        /// Variable name.
        name: String,
        /// Length of the variable's value.
        data_len: usize,
        /// A short rendering of well-known values (SecureBoot, BootOrder).
        value: Option<String>,
        /// Bytes after the structure.
        trailing: usize,
    },
    /// `UEFI_IMAGE_LOAD_EVENT`.
    ImageLoad {
        /// Load address.
        location: u64,
        /// Image length in memory.
        length: u64,
        /// Device path text.
        device_path: String,
        /// Bytes after the structure (some loaders log a few).
        trailing: usize,
    },
    /// `UEFI_PLATFORM_FIRMWARE_BLOB` (or an `EV_POST_CODE` in that form).
    FirmwareBlob {
        /// Optional description (`BLOB2`).
        description: Option<String>,
        /// Base address.
        base: u64,
        /// Length.
        length: u64,
    },
    /// `UEFI_GPT_DATA`.
    Gpt {
        /// Disk GUID.
        disk_guid: String,
        /// Number of partitions.
        partitions: u64,
    },
    /// `UEFI_HANDOFF_TABLE_POINTERS`.
    HandoffTables(Vec<String>),
    /// `TCG_PCClientTaggedEvent`.
    Tagged {
        /// `taggedEventID`.
        id: u32,
        /// Data length.
        len: usize,
    },
    /// Data we do not decode (length and a printable prefix).
    Raw(usize),
    /// Data that does not fit the structure its type promises.
    Malformed(String),
}

impl EventData {
    /// Decodes `event.data` by `event.event_type`.
    pub fn decode(event: &Event) -> EventData {
        decode(event).unwrap_or_else(|e| EventData::Malformed(e.to_string()))
    }
}

fn decode(event: &Event) -> Result<EventData, WireError> {
    let data = event.data.as_slice();
    Ok(match event.event_type {
        EventType::EV_NO_ACTION => {
            if data.starts_with(b"Spec ID Event03\0") {
                EventData::SpecId
            } else if data.len() == 17 && data.starts_with(b"StartupLocality\0") {
                EventData::StartupLocality(data[16])
            } else {
                let sig = data
                    .iter()
                    .take(16)
                    .take_while(|b| **b != 0)
                    .copied()
                    .collect::<Vec<u8>>();
                EventData::NoAction(printable(&sig))
            }
        }
        EventType::EV_SEPARATOR => {
            let mut r = Reader::new(data, "EV_SEPARATOR");
            let v = r.u32_le()?;
            r.finish()?;
            EventData::Separator(v)
        }
        EventType::EV_EFI_ACTION
        | EventType::EV_ACTION
        | EventType::EV_IPL
        | EventType::EV_S_CRTM_VERSION
        | EventType::EV_S_CRTM_CONTENTS
        | EventType::EV_COMPACT_HASH
        | EventType::EV_OMIT_BOOT_DEVICE_EVENTS
        // PFP: the data is the string "HCRTM"; the digest is the H-CRTM's.
        | EventType::EV_EFI_HCRTM_EVENT => EventData::Text(text(data)),
        EventType::EV_POST_CODE | EventType::EV_POST_CODE2 => {
            if data.len() == 16 {
                let mut r = Reader::new(data, "UEFI_PLATFORM_FIRMWARE_BLOB");
                EventData::FirmwareBlob {
                    description: None,
                    base: r.u64_le()?,
                    length: r.u64_le()?,
                }
            } else {
                EventData::Text(text(data))
            }
        }
        EventType::EV_EFI_VARIABLE_DRIVER_CONFIG
        | EventType::EV_EFI_VARIABLE_BOOT
        | EventType::EV_EFI_VARIABLE_BOOT2
        | EventType::EV_EFI_VARIABLE_AUTHORITY => decode_variable(data)?,
        EventType::EV_EFI_BOOT_SERVICES_APPLICATION
        | EventType::EV_EFI_BOOT_SERVICES_DRIVER
        | EventType::EV_EFI_RUNTIME_SERVICES_DRIVER => {
            let mut r = Reader::new(data, "UEFI_IMAGE_LOAD_EVENT");
            let location = r.u64_le()?;
            let length = r.u64_le()?;
            let _link_time = r.u64_le()?;
            let path_len = r.u64_le()?;
            let path = r.take(usize::try_from(path_len).unwrap_or(usize::MAX))?;
            EventData::ImageLoad {
                location,
                length,
                device_path: device_path_to_string(path),
                trailing: r.remaining(),
            }
        }
        EventType::EV_EFI_PLATFORM_FIRMWARE_BLOB => {
            let mut r = Reader::new(data, "UEFI_PLATFORM_FIRMWARE_BLOB");
            let blob = EventData::FirmwareBlob {
                description: None,
                base: r.u64_le()?,
                length: r.u64_le()?,
            };
            r.finish()?;
            blob
        }
        EventType::EV_EFI_PLATFORM_FIRMWARE_BLOB2 => {
            let mut r = Reader::new(data, "UEFI_PLATFORM_FIRMWARE_BLOB2");
            let n = usize::from(r.u8()?);
            let description = Some(printable(r.take(n)?));
            let blob = EventData::FirmwareBlob {
                description,
                base: r.u64_le()?,
                length: r.u64_le()?,
            };
            r.finish()?;
            blob
        }
        EventType::EV_EFI_GPT_EVENT => {
            let mut r = Reader::new(data, "UEFI_GPT_DATA");
            let header = r.sub(92.min(data.len()), "EFI_PARTITION_TABLE_HEADER")?;
            let mut h = header.clone();
            let _sig = h.take(8)?;
            let _rev = h.u32_le()?;
            let header_size = h.u32_le()? as usize;
            let _ = h.take(4 + 4 + 8 + 8 + 8 + 8)?;
            let disk_guid = guid(h.array::<16>()?);
            let mut r = Reader::new(data, "UEFI_GPT_DATA");
            r.take(header_size)?;
            let partitions = r.u64_le()?;
            EventData::Gpt {
                disk_guid,
                partitions,
            }
        }
        EventType::EV_EFI_HANDOFF_TABLES => {
            let mut r = Reader::new(data, "UEFI_HANDOFF_TABLE_POINTERS");
            let n = r.u64_le()?;
            let mut tables = Vec::new();
            for _ in 0..n {
                let g = guid(r.array::<16>()?);
                let _ptr = r.u64_le()?;
                tables.push(g);
            }
            r.finish()?;
            EventData::HandoffTables(tables)
        }
        EventType::EV_EVENT_TAG => {
            let mut r = Reader::new(data, "TCG_PCClientTaggedEvent");
            let id = r.u32_le()?;
            let len = r.u32_le()? as usize;
            r.take(len)?;
            EventData::Tagged { id, len }
        }
        _ => EventData::Raw(data.len()),
    })
}

/// A `UEFI_VARIABLE_DATA` event's variable name and value (untrusted
/// bytes, as logged), if its data parses as one.
pub fn variable(event: &Event) -> Option<(String, &[u8])> {
    read_variable(&event.data).ok().map(|v| (v.name, v.value))
}

struct VariableData<'a> {
    guid: [u8; 16],
    name: String,
    value: &'a [u8],
    /// Bytes after the structure (some shim versions log a few).
    trailing: usize,
}

fn read_variable(data: &[u8]) -> Result<VariableData<'_>, WireError> {
    let mut r = Reader::new(data, "UEFI_VARIABLE_DATA");
    let guid = r.array::<16>()?;
    let name_chars = r.u64_le()?;
    let data_len = r.u64_le()?;
    let name_bytes = r.take(usize::try_from(name_chars.saturating_mul(2)).unwrap_or(usize::MAX))?;
    let value = r.take(usize::try_from(data_len).unwrap_or(usize::MAX))?;
    Ok(VariableData {
        guid,
        name: utf16(name_bytes),
        value,
        trailing: r.remaining(),
    })
}

fn decode_variable(data: &[u8]) -> Result<EventData, WireError> {
    let VariableData {
        guid: g,
        name,
        value,
        trailing,
    } = read_variable(data)?;
    let rendered = match name.as_str() {
        "SecureBoot" | "AuditMode" | "DeployedMode" | "SetupMode" if value.len() == 1 => {
            Some(format!("{}", value[0]))
        }
        "BootOrder" => Some(
            value
                .chunks_exact(2)
                .map(|c| format!("Boot{:04X}", u16::from_le_bytes([c[0], c[1]])))
                .collect::<Vec<_>>()
                .join(","),
        ),
        n if n.starts_with("Boot") && n.len() == 8 => load_option_description(value),
        _ => None,
    };
    Ok(EventData::Variable {
        guid: guid(g),
        name,
        data_len: value.len(),
        value: rendered,
        trailing,
    })
}

/// `EFI_LOAD_OPTION`: attributes, path length, NUL-terminated UTF-16 description.
fn load_option_description(value: &[u8]) -> Option<String> {
    let rest = value.get(6..)?;
    let end = rest.chunks_exact(2).position(|c| c == [0, 0])?;
    Some(utf16(&rest[..end * 2]))
}

/// Formats a mixed-endian EFI GUID.
pub(crate) fn guid(b: [u8; 16]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{}-{}",
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        hex::encode(&b[8..10]),
        hex::encode(&b[10..16])
    )
}

pub(crate) fn utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
        .trim_end_matches('\0')
        .to_string()
}

/// Text of an event: UTF-16LE if it looks like it, else printable ASCII.
fn text(data: &[u8]) -> String {
    let looks_utf16 =
        data.len() >= 4 && data.len() % 2 == 0 && data.iter().skip(1).step_by(2).all(|b| *b == 0);
    if looks_utf16 {
        utf16(data)
    } else {
        printable(data)
    }
}

fn printable(data: &[u8]) -> String {
    let trimmed = data.strip_suffix(&[0]).unwrap_or(data);
    trimmed
        .iter()
        .map(|b| {
            if b.is_ascii_graphic() || *b == b' ' {
                *b as char
            } else {
                '.'
            }
        })
        .collect()
}

impl fmt::Display for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventData::SpecId => f.write_str("Spec ID Event03"),
            EventData::StartupLocality(l) => write!(f, "StartupLocality {l}"),
            EventData::NoAction(sig) => write!(f, "no-action \"{sig}\""),
            EventData::Separator(v) => write!(f, "separator 0x{v:08x}"),
            EventData::Text(t) => write!(f, "\"{}\"", truncate(t, 120)),
            EventData::Variable {
                guid,
                name,
                data_len,
                value,
                trailing,
            } => {
                write!(f, "{guid}:{name} ({data_len} bytes)")?;
                if let Some(v) = value {
                    write!(f, " = {}", truncate(v, 80))?;
                }
                write_trailing(f, *trailing)
            }
            EventData::ImageLoad {
                location,
                length,
                device_path,
                trailing,
            } => {
                write!(
                    f,
                    "image at 0x{location:x} ({length} bytes) {}",
                    truncate(device_path, 160)
                )?;
                write_trailing(f, *trailing)
            }
            EventData::FirmwareBlob {
                description,
                base,
                length,
            } => {
                if let Some(d) = description {
                    write!(f, "\"{d}\" ")?;
                }
                write!(f, "blob at 0x{base:x} ({length} bytes)")
            }
            EventData::Gpt {
                disk_guid,
                partitions,
            } => write!(f, "GPT disk {disk_guid}, {partitions} partitions"),
            EventData::HandoffTables(t) => write!(f, "handoff tables {}", t.join(",")),
            EventData::Tagged { id, len } => write!(f, "tagged event 0x{id:08x} ({len} bytes)"),
            EventData::Raw(n) => write!(f, "{n} bytes"),
            EventData::Malformed(why) => write!(f, "malformed: {why}"),
        }
    }
}

fn write_trailing(f: &mut fmt::Formatter<'_>, trailing: usize) -> fmt::Result {
    if trailing > 0 {
        write!(f, " (+{trailing} trailing bytes)")?;
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}
