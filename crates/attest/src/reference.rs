//! Reference values: Blindfold's `measurements.json`, and the files of the
//! systems people migrate from (BlindLlama-v2, AWS NitroTPM sample).

use std::collections::BTreeMap;

use blindfold_crypto::{Digest, HashAlg};
use blindfold_tpm::PcrIndex;
use serde_json::{json, Value};

use crate::error::Error;

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
}

fn bad(why: impl Into<String>) -> Error {
    Error::ReferenceFormat(why.into())
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
        let v: Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        if v.get("blindfold_measurements").is_some() {
            return Self::parse_blindfold(&v);
        }
        if let Some(m) = v.get("Measurements") {
            return Self::parse_nitro(m);
        }
        if v.get("measurements").is_some() || v.get("application_disk_roothash").is_some() {
            return Self::parse_blindllama(&v);
        }
        Err(bad(
            "no known layout (blindfold_measurements, measurements, application_disk_roothash, Measurements)",
        ))
    }

    fn parse_blindfold(v: &Value) -> Result<ReferenceValues, Error> {
        if v["blindfold_measurements"] != 1 {
            return Err(bad(format!(
                "unsupported blindfold_measurements version {}",
                v["blindfold_measurements"]
            )));
        }
        let kind = match v["kind"].as_str() {
            Some("measured-boot") => ReferenceKind::MeasuredBoot,
            Some("development") => ReferenceKind::Development,
            other => {
                return Err(bad(format!(
                    "kind must be measured-boot or development, not {other:?}"
                )))
            }
        };
        let mut pcrs: BTreeMap<(HashAlg, PcrIndex), PcrReference> = BTreeMap::new();
        for (section, revoked) in [("pcrs", false), ("revoked", true)] {
            for (bank_name, entries) in v[section].as_object().into_iter().flatten() {
                let bank =
                    HashAlg::from_name(bank_name).ok_or_else(|| bad(format!("unknown bank {bank_name}")))?;
                for (index, values) in entries.as_object().into_iter().flatten() {
                    let index = pcr_index(index)?;
                    let list = values.as_array().ok_or_else(|| {
                        bad(format!("{section}.{bank}.{index} must be a list of hex values"))
                    })?;
                    let entry = pcrs.entry((bank, index)).or_default();
                    for h in list {
                        let d = digest(
                            bank,
                            h.as_str().unwrap_or_default(),
                            &format!("PCR {index} ({bank})"),
                        )?;
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
        for (i, h) in v["hardware_measurements"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let bytes = hex::decode(h.as_str().unwrap_or_default())
                .map_err(|e| bad(format!("hardware_measurements[{i}]: not hex: {e}")))?;
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
        };
        refs.check_mandatory()?;
        Ok(refs)
    }

    fn parse_blindllama(v: &Value) -> Result<ReferenceValues, Error> {
        let mut pcrs = BTreeMap::new();
        for (index, value) in v["measurements"].as_object().into_iter().flatten() {
            let index = pcr_index(index)?;
            let d = digest(
                HashAlg::Sha256,
                value.as_str().unwrap_or_default(),
                &format!("PCR {index}"),
            )?;
            pcrs.insert(
                (HashAlg::Sha256, index),
                PcrReference {
                    allowed: vec![d],
                    revoked: vec![],
                },
            );
        }
        let app_disk_root_hash = v
            .get("application_disk_roothash")
            .map(|h| {
                hex::decode(h.as_str().unwrap_or_default())
                    .map_err(|e| bad(format!("application_disk_roothash: {e}")))
            })
            .transpose()?;
        Ok(ReferenceValues {
            format: ReferenceFormat::BlindLlama,
            kind: ReferenceKind::Foreign,
            pcrs,
            app_disk_root_hash,
            hardware_measurements: Vec::new(),
        })
    }

    fn parse_nitro(m: &Value) -> Result<ReferenceValues, Error> {
        let bank = match m["HashAlgorithm"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some(other) => {
                HashAlg::from_name(other).ok_or_else(|| bad(format!("unknown HashAlgorithm {other}")))?
            }
            None => return Err(bad("Measurements.HashAlgorithm missing")),
        };
        let mut pcrs = BTreeMap::new();
        for (key, value) in m.as_object().into_iter().flatten() {
            if !key.starts_with("PCR") {
                continue;
            }
            let index = pcr_index(key)?;
            let d = digest(bank, value.as_str().unwrap_or_default(), key)?;
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
                return Err(Error::MissingMandatoryPcr {
                    bank,
                    index: PcrIndex(*i),
                });
            }
        }
        Ok(())
    }

    /// Merges another file's values into this one (e.g. BlindLlama's two
    /// files). Files of different kinds do not merge: a development file
    /// must not slip its values into a measured-boot reference.
    pub fn merge(&mut self, other: ReferenceValues) -> Result<(), Error> {
        if other.kind != self.kind {
            return Err(Error::ReferenceFormat(format!(
                "cannot merge a {:?} reference into a {:?} one",
                other.kind, self.kind
            )));
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
        Ok(())
    }

    /// Writes the values in the file's own format (round-trips through [`Self::parse`]).
    pub fn to_json(&self) -> Value {
        match self.format {
            ReferenceFormat::Blindfold => {
                let mut pcrs: BTreeMap<&str, BTreeMap<u32, Vec<String>>> = BTreeMap::new();
                let mut revoked: BTreeMap<&str, BTreeMap<u32, Vec<String>>> = BTreeMap::new();
                for ((bank, index), r) in &self.pcrs {
                    if !r.allowed.is_empty() {
                        pcrs.entry(bank.name())
                            .or_default()
                            .insert(index.0, r.allowed.iter().map(Digest::to_hex).collect());
                    }
                    if !r.revoked.is_empty() {
                        revoked
                            .entry(bank.name())
                            .or_default()
                            .insert(index.0, r.revoked.iter().map(Digest::to_hex).collect());
                    }
                }
                let kind = match self.kind {
                    ReferenceKind::Development => "development",
                    _ => "measured-boot",
                };
                let mut v =
                    json!({ "blindfold_measurements": 1, "kind": kind, "pcrs": pcrs, "revoked": revoked });
                if !self.hardware_measurements.is_empty() {
                    v["hardware_measurements"] = json!(self
                        .hardware_measurements
                        .iter()
                        .map(hex::encode)
                        .collect::<Vec<_>>());
                }
                v
            }
            ReferenceFormat::BlindLlama => {
                let m: BTreeMap<u32, String> = self
                    .pcrs
                    .iter()
                    .filter_map(|((_, i), r)| Some((i.0, r.allowed.first()?.to_hex())))
                    .collect();
                let mut v = json!({ "measurements": m });
                if let Some(h) = &self.app_disk_root_hash {
                    v["application_disk_roothash"] = json!(hex::encode(h));
                }
                v
            }
            ReferenceFormat::NitroTpm => {
                let mut m = serde_json::Map::new();
                let bank = self.pcrs.keys().next().map_or(HashAlg::Sha384, |(b, _)| *b);
                m.insert("HashAlgorithm".into(), json!(bank.name().to_ascii_uppercase()));
                for ((_, i), r) in &self.pcrs {
                    if let Some(d) = r.allowed.first() {
                        m.insert(format!("PCR{}", i.0), json!(d.to_hex()));
                    }
                }
                json!({ "Measurements": m })
            }
        }
    }
}
