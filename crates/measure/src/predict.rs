//! Predicting the PCRs a UKI boot produces (UEFI firmware → systemd-stub →
//! Linux EFI stub), from the UKI's own bytes.
//!
//! What a real boot shows (QEMU + OVMF + swtpm, systemd-stub 252, Linux 6.1;
//! `../shared/testdata/local-ovmf-boot`):
//! - PCR 4: `EV_EFI_ACTION` "Calling EFI Application from Boot Option",
//!   `EV_SEPARATOR`, Authenticode(UKI); then, for stubs before 258 (which
//!   hand the kernel to the firmware's `LoadImage`), Authenticode(`.linux`).
//! - PCR 11: per measured section, in the stub's order: SHA(name + NUL),
//!   SHA(section data over VirtualSize).
//! - PCR 9: the Linux EFI stub's tagged events: its load options (the
//!   command line as UTF-16LE with a NUL) and the initrd.
//! - PCR 12 and 13: untouched (no command-line override, no sysext).
//!
//! With Secure Boot on (OVMF's Secure Boot build, keys enrolled; the same
//! boot, `crates/cli/tests/secure_boot_vm.rs`):
//! - PCR 4 holds no `.linux` event: stubs before 258 install a security
//!   override for their embedded kernel, so the firmware neither verifies
//!   nor measures it (the UKI's own signature and digest cover it).
//! - PCR 7 gains one `EV_EFI_VARIABLE_AUTHORITY`: the db entry (owner GUID
//!   and certificate) that verified the UKI ([`db_authority_event`]); the
//!   rest of PCR 7 (SecureBoot, PK, KEK, db, dbx as enrolled) is the
//!   platform's, taken from a reference boot ([`secure_boot_state`]).
//! - PCR 9, 11 and 12 as without it: the stub ignores a boot entry's load
//!   options when the UKI has a `.cmdline` and Secure Boot is on.

use blindfold_crypto::{default_provider, Digest, HashAlg};
use blindfold_eventlog::{EventLog, EventType};
use blindfold_tpm::{PcrIndex, PcrValues};

use crate::error::Error;
use crate::pe::{authenticode, PeImage};
use crate::uki::{measured_sections, stub_version, StubVersion};

/// The `EV_EFI_ACTION` string firmware measures before starting a boot option.
pub const BOOT_OPTION_ACTION: &str = "Calling EFI Application from Boot Option";

/// One predicted extend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictedEvent {
    /// The PCR.
    pub pcr: PcrIndex,
    /// What is measured.
    pub what: String,
    /// The digest extended.
    pub digest: Digest,
}

/// Inputs of a prediction besides the UKI.
#[derive(Debug, Clone, Default)]
pub struct BootInputs {
    /// The systemd-stub version; read from `.sdmagic` when `None`.
    pub stub: Option<StubVersion>,
    /// Secure Boot state of the platform.
    pub secure_boot: bool,
}

/// The predicted PCRs 4, 9, 11, 12, 13 per bank, and the events behind them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    /// Final values.
    pub pcrs: PcrValues,
    /// The extends, per bank, in order.
    pub events: Vec<PredictedEvent>,
    /// The stub version used.
    pub stub: StubVersion,
}

fn extend(pcrs: &mut PcrValues, events: &mut Vec<PredictedEvent>, pcr: u32, what: String, digest: Digest) {
    let bank = digest.alg();
    let index = PcrIndex(pcr);
    let old = pcrs
        .get(bank, index)
        .copied()
        .unwrap_or_else(|| Digest::zero(bank));
    pcrs.insert(
        index,
        default_provider().hash(bank, &[old.as_bytes(), digest.as_bytes()]),
    );
    events.push(PredictedEvent {
        pcr: index,
        what,
        digest,
    });
}

/// Predicts a direct UEFI boot of `uki` for each bank in `banks`.
pub fn predict_uki_boot(uki: &[u8], banks: &[HashAlg], inputs: &BootInputs) -> Result<Prediction, Error> {
    let pe = PeImage::parse(uki)?;
    let stub = match &inputs.stub {
        Some(s) => s.clone(),
        None => stub_version(uki, &pe)?,
    };
    if stub.major >= 258 {
        return Err(Error::Unsupported(format!(
            "systemd-stub {} loads the kernel itself; its PCR 4 has not been checked against a real boot yet",
            stub.major
        )));
    }
    let linux = pe
        .section(".linux")
        .ok_or_else(|| Error::Pe("UKI has no .linux section".into()))?;
    let linux_image = pe.section_data(uki, linux);
    let cmdline = pe
        .section(".cmdline")
        .map(|s| pe.section_data(uki, s))
        .unwrap_or_default();
    let initrd = pe.section(".initrd").map(|s| pe.section_data(uki, s));
    let provider = default_provider();

    let mut pcrs = PcrValues::new();
    let mut events = Vec::new();
    for &bank in banks {
        let h = |parts: &[&[u8]]| provider.hash(bank, parts);
        extend(
            &mut pcrs,
            &mut events,
            4,
            format!("EV_EFI_ACTION \"{BOOT_OPTION_ACTION}\""),
            h(&[BOOT_OPTION_ACTION.as_bytes()]),
        );
        extend(&mut pcrs, &mut events, 4, "EV_SEPARATOR".into(), h(&[&[0u8; 4]]));
        extend(
            &mut pcrs,
            &mut events,
            4,
            "Authenticode of the UKI".into(),
            authenticode(uki, bank)?,
        );
        if !inputs.secure_boot {
            extend(
                &mut pcrs,
                &mut events,
                4,
                "Authenticode of .linux (LoadImage)".into(),
                authenticode(&linux_image, bank)?,
            );
        }

        for name in measured_sections(&pe, &stub) {
            let Some(section) = pe.section(name) else { continue };
            let mut tagged = name.as_bytes().to_vec();
            tagged.push(0);
            extend(
                &mut pcrs,
                &mut events,
                11,
                format!("EV_IPL section name {name}"),
                h(&[&tagged]),
            );
            extend(
                &mut pcrs,
                &mut events,
                11,
                format!("EV_IPL section data {name}"),
                h(&[&pe.section_data(uki, section)]),
            );
        }

        let text = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let mut load_options: Vec<u8> = String::from_utf8_lossy(text)
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        load_options.extend_from_slice(&[0, 0]);
        extend(
            &mut pcrs,
            &mut events,
            9,
            "EV_EVENT_TAG load options (UTF-16LE)".into(),
            h(&[&load_options]),
        );
        if let Some(initrd) = &initrd {
            extend(
                &mut pcrs,
                &mut events,
                9,
                "EV_EVENT_TAG initrd".into(),
                h(&[initrd]),
            );
        }
        for pcr in [12, 13] {
            pcrs.insert(PcrIndex(pcr), Digest::zero(bank));
        }
    }
    Ok(Prediction { pcrs, events, stub })
}

/// `EFI_IMAGE_SECURITY_DATABASE_GUID` (d719b2cb-3d3a-4596-a3bc-dad00e67656f)
/// as stored: the vendor GUID of `db` and `dbx`.
pub const IMAGE_SECURITY_DATABASE_GUID: [u8; 16] = [
    0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45, 0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f,
];

/// The data of the `EV_EFI_VARIABLE_AUTHORITY` event firmware logs in PCR 7
/// when the db entry of `owner` holding `certificate` (DER) verifies an
/// image: a `UEFI_VARIABLE_DATA` for `db` whose value is that entry's
/// `EFI_SIGNATURE_DATA` (owner GUID as stored, then the certificate). The
/// event's digest is this data's hash.
pub fn db_authority_event(owner: [u8; 16], certificate: &[u8]) -> Vec<u8> {
    let name: Vec<u8> = "db".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut out = IMAGE_SECURITY_DATABASE_GUID.to_vec();
    out.extend_from_slice(&2u64.to_le_bytes());
    out.extend_from_slice(&((16 + certificate.len()) as u64).to_le_bytes());
    out.extend_from_slice(&name);
    out.extend_from_slice(&owner);
    out.extend_from_slice(certificate);
    out
}

/// What a reference boot's firmware log says about Secure Boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecureBootState {
    /// The `SecureBoot` variable measured into PCR 7 was 1.
    pub enabled: bool,
    /// The certificates (DER) of the db entries that verified an image
    /// (`EV_EFI_VARIABLE_AUTHORITY`), in log order.
    pub db_certificates: Vec<Vec<u8>>,
}

/// Reads PCR 7's Secure Boot events from a firmware log (untrusted bytes:
/// the caller compares, it does not trust).
pub fn secure_boot_state(log: &EventLog) -> SecureBootState {
    let mut state = SecureBootState::default();
    for event in log.events.iter().filter(|e| e.pcr == PcrIndex(7)) {
        let Some((name, value)) = blindfold_eventlog::variable(event) else {
            continue;
        };
        match (event.event_type, name.as_str()) {
            (EventType::EV_EFI_VARIABLE_DRIVER_CONFIG, "SecureBoot") => state.enabled = value == [1],
            (EventType::EV_EFI_VARIABLE_AUTHORITY, "db") if value.len() > 16 => {
                state.db_certificates.push(value[16..].to_vec())
            }
            _ => {}
        }
    }
    state
}
