//! UEFI device paths to text (UEFI spec 10.3), for display only.

use crate::decode::{guid, utf16};

/// Renders a device path the way UEFI shells do, for the nodes firmware
/// logs commonly carry; other nodes print as `Path(type,subtype)`. Never
/// fails: a malformed path ends with `<malformed>`.
pub fn device_path_to_string(mut bytes: &[u8]) -> String {
    let mut nodes = Vec::new();
    while bytes.len() >= 4 {
        let (ty, sub) = (bytes[0], bytes[1]);
        let len = usize::from(u16::from_le_bytes([bytes[2], bytes[3]]));
        if len < 4 || len > bytes.len() {
            nodes.push("<malformed>".to_string());
            return nodes.join("/");
        }
        let body = &bytes[4..len];
        bytes = &bytes[len..];
        match (ty, sub) {
            (0x7f, 0xff) => break,
            (0x7f, _) => nodes.push(",".into()),
            _ => nodes.push(node(ty, sub, body)),
        }
    }
    nodes.join("/")
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn node(ty: u8, sub: u8, b: &[u8]) -> String {
    let fallback = || format!("Path({ty},{sub},{})", hex::encode(b));
    let guid_at = |at: usize| -> Option<String> { Some(guid(b.get(at..at + 16)?.try_into().ok()?)) };
    match (ty, sub) {
        (1, 1) if b.len() == 2 => format!("Pci(0x{:x},0x{:x})", b[1], b[0]),
        (1, 3) => "MemoryMapped".into(),
        (1, 4) => guid_at(0).map_or_else(fallback, |g| format!("VenHw({g})")),
        (2, 1) => match (u32_at(b, 0), u32_at(b, 4)) {
            (Some(hid), Some(uid)) => format!("Acpi(0x{hid:08x},0x{uid:x})"),
            _ => fallback(),
        },
        (3, 2) => "Scsi".into(),
        (3, 5) => "USB".into(),
        (3, 11) => "MAC".into(),
        (3, 12) => "IPv4".into(),
        (3, 13) => "IPv6".into(),
        (3, 18) => "Sata".into(),
        (3, 23) => "NVMe".into(),
        (3, 24) => format!("Uri({})", String::from_utf8_lossy(b)),
        (3, 10) => guid_at(0).map_or_else(fallback, |g| format!("VenMsg({g})")),
        (4, 1) => match u32_at(b, 0) {
            Some(part) => {
                let sig = guid_at(20).unwrap_or_default();
                format!("HD({part},GPT,{sig})")
            }
            None => fallback(),
        },
        (4, 2) => "CDROM".into(),
        (4, 3) => guid_at(0).map_or_else(fallback, |g| format!("VenMedia({g})")),
        (4, 4) => utf16(b),
        (4, 6) => guid_at(0).map_or_else(fallback, |g| format!("FvFile({g})")),
        (4, 7) => guid_at(0).map_or_else(fallback, |g| format!("Fv({g})")),
        (4, 8) => "Offset".into(),
        _ => fallback(),
    }
}
