//! Reference values: Blindfold's `measurements.json`, and the files of the
//! systems people migrate from (BlindLlama-v2, AWS NitroTPM sample).

use std::collections::BTreeMap;

use blindfold_crypto::{Digest, HashAlg};
use blindfold_tpm::PcrIndex;
use serde::{Deserialize, Serialize};

use crate::error::{AppraisalError, Error, InputError};

/// The version of `measurements.json` this crate writes and reads.
pub const MEASUREMENTS_VERSION: u32 = 1;

/// PCR values per bank name and PCR index, hex.
pub type PcrLists = BTreeMap<String, BTreeMap<u32, Vec<String>>>;

/// Blindfold's `measurements.json`, version 1: written by `blindfold
/// measure`, read by every verifier, signed inside bundles.
///
/// Extension rule: a reader refuses a document of another
/// `blindfold_measurements` version and any field it does not know, since
/// a field it skipped could be a restriction it would fail to apply; new
/// restrictions come with a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurementsV1 {
    /// Always [`MEASUREMENTS_VERSION`].
    pub blindfold_measurements: u32,
    /// What the document covers.
    pub kind: MeasurementsKind,
    /// Allowed values: any one of a PCR's list is acceptable.
    pub pcrs: PcrLists,
    /// Refused values, even where also allowed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub revoked: PcrLists,
    /// Allowed SEV-SNP `MEASUREMENT` / TDX `MRTD` values (48 bytes, hex).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hardware_measurements: Vec<String>,
    /// The lowest SEV-SNP `REPORTED_TCB` accepted, component by component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snp_minimum_tcb: Option<SnpTcbFloor>,
    /// Accept an SEV-SNP guest policy that allows a migration agent
    /// (`MIGRATE_MA`, which can export the guest's memory).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub snp_allow_migration_agent: bool,
    /// The runtime events PCR 15's values were computed from, in order.
    /// Explanatory only (the PCR values decide): when PCR 15 differs, a
    /// verifier names the event that differs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_events: Vec<blindfold_protocol::RuntimeEvent>,
}

/// The lowest SEV-SNP TCB accepted: each security patch level at least
/// this (AMD's security bulletins name the levels that fix a flaw).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpTcbFloor {
    /// PSP boot loader SPL.
    pub bootloader: u8,
    /// PSP OS (TEE) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode patch level.
    pub microcode: u8,
    /// FMC SPL (Turin), checked where the report has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
}

/// What a `measurements.json` covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MeasurementsKind {
    /// A measured boot: PCRs 0-4, 7, 9, 11, 12, 13 and 15.
    MeasuredBoot,
    /// Process mode: PCR 15 only, accepted only on the development platform.
    Development,
}

/// Where a reference file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceFormat {
    /// Blindfold's `measurements.json`.
    Blindfold,
    /// BlindLlama-v2's `{"measurements": {...}}` or `{"application_disk_roothash": ...}`.
    BlindLlama,
    /// AWS NitroTPM sample's `pcr_measurements.json`.
    NitroTpm,
}

impl ReferenceFormat {
    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            ReferenceFormat::Blindfold => "blindfold",
            ReferenceFormat::BlindLlama => "blindllama-v2",
            ReferenceFormat::NitroTpm => "nitrotpm",
        }
    }
}

/// What a Blindfold reference covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceKind {
    /// A measured boot: the mandatory PCRs must all be listed.
    MeasuredBoot,
    /// Process mode: no measured boot, only PCR 15 (accepted only with allow-dev).
    Development,
    /// A foreign file: appraises what it lists, says what it does not.
    Foreign,
}

/// The PCRs a Blindfold measured-boot reference must list (DESIGN.md).
pub const MANDATORY_PCRS: [u32; 11] = [0, 1, 2, 3, 4, 7, 9, 11, 12, 13, 15];

/// Allowed and revoked values of one PCR.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcrReference {
    /// Any of these is acceptable (a firmware update or new build beside the old).
    pub allowed: Vec<Digest>,
    /// These are refused even if also allowed.
    pub revoked: Vec<Digest>,
}

/// Reference values from one or more files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceValues {
    /// The format of the (first) file.
    pub format: ReferenceFormat,
    /// What it covers.
    pub kind: ReferenceKind,
    /// Per bank and PCR.
    pub pcrs: BTreeMap<(HashAlg, PcrIndex), PcrReference>,
    /// BlindLlama-v2's expected app-disk root hash.
    pub app_disk_root_hash: Option<Vec<u8>>,
    /// Allowed launch measurements of a confidential VM's hardware report
    /// (the SEV-SNP `MEASUREMENT` or the TD's `MRTD`, 48 bytes each): on
    /// Azure, the paravisor (HCL) that holds the vTPM.
    pub hardware_measurements: Vec<Vec<u8>>,
    /// The lowest SEV-SNP reported TCB accepted.
    pub snp_minimum_tcb: Option<SnpTcbFloor>,
    /// Whether an SEV-SNP policy with `MIGRATE_MA` is accepted.
    pub snp_allow_migration_agent: bool,
    /// The runtime events PCR 15's values were computed from (Blindfold
    /// references; explanatory only, see [`MeasurementsV1::runtime_events`]).
    pub runtime_events: Vec<blindfold_protocol::RuntimeEvent>,
}

fn bad(why: impl Into<String>) -> Error {
    Error::Input(InputError::ReferenceFormat(why.into()))
}

fn digest(bank: HashAlg, hex_text: &str, what: &str) -> Result<Digest, Error> {
    let bytes = hex::decode(hex_text.trim()).map_err(|e| bad(format!("{what}: not hex: {e}")))?;
    Digest::new(bank, &bytes).ok_or_else(|| {
        bad(format!(
            "{what}: {} bytes, {bank} needs {}",
            bytes.len(),
            bank.output_len()
        ))
    })
}

fn pcr_index(text: &str) -> Result<PcrIndex, Error> {
    text.trim_start_matches("PCR")
        .parse()
        .map(PcrIndex)
        .map_err(|_| bad(format!("\"{text}\" is not a PCR index")))
}

impl ReferenceValues {
    /// Reads any supported format, recognised by its content.
    pub fn parse(bytes: &[u8]) -> Result<ReferenceValues, Error> {
        let sniff: ReferenceSniff =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        if let Some(version) = sniff.blindfold_measurements {
            if version != u64::from(MEASUREMENTS_VERSION) {
                return Err(bad(format!(
                    "blindfold_measurements version {version}, this verifier understands {MEASUREMENTS_VERSION}"
                )));
            }
            let doc: MeasurementsV1 =
                serde_json::from_slice(bytes).map_err(|e| bad(format!("measurements.json: {e}")))?;
            return ReferenceValues::from_measurements(&doc);
        }
        if sniff.nitro.is_some() {
            let doc: NitroPcrMeasurements =
                serde_json::from_slice(bytes).map_err(|e| bad(format!("pcr_measurements.json: {e}")))?;
            return Self::parse_nitro(&doc.measurements);
        }
        if sniff.measurements.is_some() || sniff.application_disk_roothash.is_some() {
            let doc: BlindLlamaReference =
                serde_json::from_slice(bytes).map_err(|e| bad(format!("BlindLlama-v2 measurements: {e}")))?;
            return Self::parse_blindllama(&doc);
        }
        if sniff.payload_type.is_some() {
            return Err(bad(
                "this is a signed reference bundle (a DSSE envelope), not plain reference values: it is read only with its publisher's key, which verifies its signature",
            ));
        }
        Err(bad(
            "no known layout (blindfold_measurements, measurements, application_disk_roothash, Measurements)",
        ))
    }

    /// Reads Blindfold's own `measurements.json` document.
    pub fn from_measurements(doc: &MeasurementsV1) -> Result<ReferenceValues, Error> {
        let kind = match doc.kind {
            MeasurementsKind::MeasuredBoot => ReferenceKind::MeasuredBoot,
            MeasurementsKind::Development => ReferenceKind::Development,
        };
        let mut pcrs: BTreeMap<(HashAlg, PcrIndex), PcrReference> = BTreeMap::new();
        for (section, revoked) in [(&doc.pcrs, false), (&doc.revoked, true)] {
            for (bank_name, entries) in section {
                let bank =
                    HashAlg::from_name(bank_name).ok_or_else(|| bad(format!("unknown bank {bank_name}")))?;
                for (index, list) in entries {
                    let index = PcrIndex(*index);
                    let entry = pcrs.entry((bank, index)).or_default();
                    for h in list {
                        let d = digest(bank, h, &format!("PCR {} ({bank})", index.0))?;
                        if revoked {
                            entry.revoked.push(d);
                        } else {
                            entry.allowed.push(d);
                        }
                    }
                }
            }
        }
        let mut hardware_measurements = Vec::new();
        for (i, h) in doc.hardware_measurements.iter().enumerate() {
            let bytes =
                hex::decode(h).map_err(|e| bad(format!("hardware_measurements[{i}]: not hex: {e}")))?;
            if bytes.len() != 48 {
                return Err(bad(format!(
                    "hardware_measurements[{i}]: {} bytes, a SEV-SNP MEASUREMENT or TDX MRTD is 48",
                    bytes.len()
                )));
            }
            hardware_measurements.push(bytes);
        }
        let refs = ReferenceValues {
            format: ReferenceFormat::Blindfold,
            kind,
            pcrs,
            app_disk_root_hash: None,
            hardware_measurements,
            snp_minimum_tcb: doc.snp_minimum_tcb,
            snp_allow_migration_agent: doc.snp_allow_migration_agent,
            runtime_events: doc.runtime_events.clone(),
        };
        refs.check_mandatory()?;
        Ok(refs)
    }

    /// Blindfold's `measurements.json` document for these values; `None`
    /// for a foreign reference, which has its own format ([`Self::to_json`]).
    pub fn to_measurements(&self) -> Option<MeasurementsV1> {
        let kind = match self.kind {
            ReferenceKind::MeasuredBoot => MeasurementsKind::MeasuredBoot,
            ReferenceKind::Development => MeasurementsKind::Development,
            ReferenceKind::Foreign => return None,
        };
        let mut pcrs: PcrLists = BTreeMap::new();
        let mut revoked: PcrLists = BTreeMap::new();
        for ((bank, index), r) in &self.pcrs {
            if !r.allowed.is_empty() {
                pcrs.entry(bank.name().to_string())
                    .or_default()
                    .insert(index.0, r.allowed.iter().map(Digest::to_hex).collect());
            }
            if !r.revoked.is_empty() {
                revoked
                    .entry(bank.name().to_string())
                    .or_default()
                    .insert(index.0, r.revoked.iter().map(Digest::to_hex).collect());
            }
        }
        Some(MeasurementsV1 {
            blindfold_measurements: MEASUREMENTS_VERSION,
            kind,
            pcrs,
            revoked,
            hardware_measurements: self.hardware_measurements.iter().map(hex::encode).collect(),
            snp_minimum_tcb: self.snp_minimum_tcb,
            snp_allow_migration_agent: self.snp_allow_migration_agent,
            runtime_events: self.runtime_events.clone(),
        })
    }

    fn parse_blindllama(doc: &BlindLlamaReference) -> Result<ReferenceValues, Error> {
        let mut pcrs = BTreeMap::new();
        for (index, value) in &doc.measurements {
            let index = pcr_index(index)?;
            let d = digest(HashAlg::Sha256, value, &format!("PCR {index}"))?;
            pcrs.insert(
                (HashAlg::Sha256, index),
                PcrReference {
                    allowed: vec![d],
                    revoked: vec![],
                },
            );
        }
        let app_disk_root_hash = doc
            .application_disk_roothash
            .as_deref()
            .map(|h| hex::decode(h).map_err(|e| bad(format!("application_disk_roothash: {e}"))))
            .transpose()?;
        Ok(ReferenceValues {
            format: ReferenceFormat::BlindLlama,
            kind: ReferenceKind::Foreign,
            pcrs,
            app_disk_root_hash,
            hardware_measurements: Vec::new(),
            snp_minimum_tcb: None,
            snp_allow_migration_agent: false,
            runtime_events: Vec::new(),
        })
    }

    fn parse_nitro(m: &NitroMeasurements) -> Result<ReferenceValues, Error> {
        let name = m.hash_algorithm.to_ascii_lowercase();
        let bank = HashAlg::from_name(&name).ok_or_else(|| bad(format!("unknown HashAlgorithm {name}")))?;
        let mut pcrs = BTreeMap::new();
        for (key, value) in &m.pcrs {
            if !key.starts_with("PCR") {
                continue;
            }
            let index = pcr_index(key)?;
            let d = digest(bank, value, key)?;
            pcrs.insert(
                (bank, index),
                PcrReference {
                    allowed: vec![d],
                    revoked: vec![],
                },
            );
        }
        Ok(ReferenceValues {
            format: ReferenceFormat::NitroTpm,
            kind: ReferenceKind::Foreign,
            pcrs,
            app_disk_root_hash: None,
            hardware_measurements: Vec::new(),
            snp_minimum_tcb: None,
            snp_allow_migration_agent: false,
            runtime_events: Vec::new(),
        })
    }

    /// A measured-boot reference must list every mandatory PCR in some bank.
    pub fn check_mandatory(&self) -> Result<(), Error> {
        let required: &[u32] = match self.kind {
            ReferenceKind::MeasuredBoot => &MANDATORY_PCRS,
            ReferenceKind::Development => &[15],
            ReferenceKind::Foreign => &[],
        };
        let banks: Vec<HashAlg> = self.pcrs.keys().map(|(b, _)| *b).collect();
        let bank = banks.first().copied().unwrap_or(HashAlg::Sha256);
        for i in required {
            if !self.pcrs.keys().any(|(_, idx)| idx.0 == *i) {
                return Err(Error::Appraisal(AppraisalError::MissingMandatoryPcr {
                    bank,
                    index: PcrIndex(*i),
                }));
            }
        }
        Ok(())
    }

    /// Merges another file's values into this one (e.g. BlindLlama's two
    /// files). Files of different kinds do not merge: a development file
    /// must not slip its values into a measured-boot reference.
    pub fn merge(&mut self, other: ReferenceValues) -> Result<(), Error> {
        if other.kind != self.kind {
            return Err(Error::Input(InputError::ReferenceFormat(format!(
                "cannot merge a {:?} reference into a {:?} one",
                other.kind, self.kind
            ))));
        }
        for (k, v) in other.pcrs {
            let e = self.pcrs.entry(k).or_default();
            e.allowed.extend(v.allowed);
            e.revoked.extend(v.revoked);
        }
        if other.app_disk_root_hash.is_some() {
            self.app_disk_root_hash = other.app_disk_root_hash;
        }
        self.hardware_measurements.extend(other.hardware_measurements);
        // Merged files: the stricter TCB floor and migration rule win.
        self.snp_minimum_tcb = match (self.snp_minimum_tcb, other.snp_minimum_tcb) {
            (Some(a), Some(b)) => Some(SnpTcbFloor {
                bootloader: a.bootloader.max(b.bootloader),
                tee: a.tee.max(b.tee),
                snp: a.snp.max(b.snp),
                microcode: a.microcode.max(b.microcode),
                fmc: a.fmc.max(b.fmc),
            }),
            (a, b) => a.or(b),
        };
        self.snp_allow_migration_agent &= other.snp_allow_migration_agent;
        Ok(())
    }

    /// The values as a document in the file's own format (round-trips
    /// through [`Self::parse`]); `None` for values no Blindfold document
    /// can hold.
    pub fn to_document(&self) -> Option<ReferenceDocument> {
        Some(match self.format {
            ReferenceFormat::Blindfold => ReferenceDocument::Blindfold(self.to_measurements()?),
            ReferenceFormat::BlindLlama => ReferenceDocument::BlindLlama(BlindLlamaReference {
                measurements: self
                    .pcrs
                    .iter()
                    .filter_map(|((_, i), r)| Some((i.0.to_string(), r.allowed.first()?.to_hex())))
                    .collect(),
                application_disk_roothash: self.app_disk_root_hash.as_ref().map(hex::encode),
            }),
            ReferenceFormat::NitroTpm => {
                let bank = self.pcrs.keys().next().map_or(HashAlg::Sha384, |(b, _)| *b);
                ReferenceDocument::NitroTpm(NitroPcrMeasurements {
                    measurements: NitroMeasurements {
                        hash_algorithm: bank.name().to_ascii_uppercase(),
                        pcrs: self
                            .pcrs
                            .iter()
                            .filter_map(|((_, i), r)| {
                                Some((format!("PCR{}", i.0), r.allowed.first()?.to_hex()))
                            })
                            .collect(),
                    },
                })
            }
        })
    }
}

/// The keys that tell the reference formats apart.
#[derive(Deserialize)]
struct ReferenceSniff {
    blindfold_measurements: Option<u64>,
    #[serde(rename = "Measurements")]
    nitro: Option<serde::de::IgnoredAny>,
    measurements: Option<serde::de::IgnoredAny>,
    application_disk_roothash: Option<serde::de::IgnoredAny>,
    #[serde(rename = "payloadType")]
    payload_type: Option<serde::de::IgnoredAny>,
}

/// A reference file as written, in one of the formats this crate reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ReferenceDocument {
    /// Blindfold's `measurements.json`.
    Blindfold(MeasurementsV1),
    /// BlindLlama-v2's measurements (and `application.json`'s root hash).
    BlindLlama(BlindLlamaReference),
    /// AWS's NitroTPM sample `pcr_measurements.json`.
    NitroTpm(NitroPcrMeasurements),
}

/// BlindLlama-v2's `measurements.json` (`{"measurements": {"4": HEX}}`),
/// optionally with `application.json`'s `application_disk_roothash`.
/// Another project's format: unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlindLlamaReference {
    /// PCR index (decimal, or `PCRn`) → SHA-256 value (hex).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub measurements: BTreeMap<String, String>,
    /// The app disk's dm-verity root hash (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_disk_roothash: Option<String>,
}

/// AWS's NitroTPM sample `pcr_measurements.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NitroPcrMeasurements {
    /// The measurements.
    #[serde(rename = "Measurements")]
    pub measurements: NitroMeasurements,
}

/// `{"HashAlgorithm": "SHA384", "PCR4": HEX, ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NitroMeasurements {
    /// `SHA384` or `SHA256`.
    #[serde(rename = "HashAlgorithm")]
    pub hash_algorithm: String,
    /// `PCRn` → value (hex); keys not starting with `PCR` are ignored.
    #[serde(flatten)]
    pub pcrs: BTreeMap<String, String>,
}
