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

use blindfold_crypto::{default_provider, Digest, HashAlg};
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
    if inputs.secure_boot {
        return Err(Error::Unsupported(
            "PCR prediction with Secure Boot on has not been checked against a real boot yet".into(),
        ));
    }
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
        extend(
            &mut pcrs,
            &mut events,
            4,
            "Authenticode of .linux (LoadImage)".into(),
            authenticode(&linux_image, bank)?,
        );

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
