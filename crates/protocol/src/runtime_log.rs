//! The runtime event log: what `blindfold-enclave` extends into PCR 15, in
//! the TCG Canonical Event Log JSON encoding (CEL-JSON), and the recipe
//! that says which events a given app disk and configuration produce.
//!
//! Each record: `{"recnum": N, "pcr": 15, "digests": [{"hashAlg":
//! "sha256", "digest": "<hex>"}, ...], "content_type": "blindfold",
//! "content": {...}}`. The digest in every bank is the hash of the event's
//! *measured bytes*, which the content carries, so a verifier recomputes it:
//!
//! | content | measured bytes (`lp` = `u32` big-endian length, then the bytes) |
//! |---|---|
//! | `{"type": "enclave-binary", "sha256": "<hex>"}` | `blindfold/runtime/enclave-binary/v1` `lp(SHA-256 of the running executable)` |
//! | `{"type": "app-disk", "root_hash": "<hex>"}` | `blindfold/runtime/app-disk/v1` `lp(root hash)` |
//! | `{"type": "config", "sha256": "<hex>"}` | `blindfold/runtime/config/v1` `lp(SHA-256 of the configuration)` |
//! | `{"type": "model", "name": "...", "sha256": "<hex>"}` | `blindfold/runtime/model/v1` `lp(name)` `lp(SHA-256 of the model)` |
//! | `{"type": "ready"}` | `blindfold/runtime/ready/v1` |
//!
//! After `ready`, only `model` events may follow.
//!
//! `enclave-binary` comes first, in process mode only: the enclave hashes
//! its own executable (`/proc/self/exe`). It is a consistency check, not a
//! measurement an operator cannot fake: a modified binary could report the
//! original's digest. In a measured image the binary is part of the initrd,
//! measured by the firmware into PCR 4 before it runs, and there is no such
//! event.
//!
//! Extension rule: a new kind of event is a new `type` with its own
//! versioned label; a reader that does not know a type refuses the log (it
//! cannot recompute the digest, so it cannot replay PCR 15), it never skips
//! the record.

use blindfold_crypto::{ct_eq, default_provider, Digest, HashAlg};
use blindfold_tpm::{PcrIndex, PcrValues};
use serde::{Deserialize, Serialize};

use crate::encoding::hex_bytes;
use crate::error::Error;
use crate::wellknown::CEL_CONTENT_TYPE;

/// The PCR the runtime extends.
pub const RUNTIME_PCR: u32 = 15;
/// Bytes measured by the ready separator.
pub const READY_MARKER: &[u8] = b"blindfold/runtime/ready/v1";

/// One runtime measurement; serialised, it is a CEL record's `content`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RuntimeEvent {
    /// The SHA-256 of the enclave's own executable, as it read it (process
    /// mode only; see the module documentation for what it does not prove).
    EnclaveBinary {
        /// SHA-256 of `/proc/self/exe`.
        #[serde(with = "hex_bytes")]
        sha256: Vec<u8>,
    },
    /// The app disk's dm-verity root hash.
    AppDisk {
        /// Root hash bytes.
        #[serde(with = "hex_bytes")]
        root_hash: Vec<u8>,
    },
    /// The runtime configuration's SHA-256.
    Config {
        /// SHA-256 of the configuration file.
        #[serde(with = "hex_bytes")]
        sha256: Vec<u8>,
    },
    /// A model loaded into memory.
    Model {
        /// Its name (measured with its digest).
        name: String,
        /// SHA-256 of the model file.
        #[serde(with = "hex_bytes")]
        sha256: Vec<u8>,
    },
    /// The separator: nothing but model loads after it.
    Ready,
}

impl RuntimeEvent {
    /// The event of a model named `name` whose weights file hashes to
    /// `sha256`, as the enclave measures it after `ready`.
    pub fn model(name: &str, sha256: &[u8; 32]) -> RuntimeEvent {
        RuntimeEvent::Model {
            name: name.to_string(),
            sha256: sha256.to_vec(),
        }
    }

    /// The bytes whose hash is extended: a type label, then the value
    /// (length-prefixed), so an event of one type can never be read as
    /// another and a model's name is measured too.
    pub fn measured_bytes(&self) -> Vec<u8> {
        let labelled = |label: &[u8], parts: &[&[u8]]| {
            let mut out = label.to_vec();
            for p in parts {
                out.extend_from_slice(&(p.len() as u32).to_be_bytes());
                out.extend_from_slice(p);
            }
            out
        };
        match self {
            RuntimeEvent::EnclaveBinary { sha256 } => {
                labelled(b"blindfold/runtime/enclave-binary/v1", &[sha256])
            }
            RuntimeEvent::AppDisk { root_hash } => labelled(b"blindfold/runtime/app-disk/v1", &[root_hash]),
            RuntimeEvent::Config { sha256 } => labelled(b"blindfold/runtime/config/v1", &[sha256]),
            RuntimeEvent::Model { name, sha256 } => {
                labelled(b"blindfold/runtime/model/v1", &[name.as_bytes(), sha256])
            }
            RuntimeEvent::Ready => READY_MARKER.to_vec(),
        }
    }

    /// The digest extended into `bank`.
    pub fn digest(&self, bank: HashAlg) -> Digest {
        default_provider().hash(bank, &[&self.measured_bytes()])
    }
}

/// The events the enclave measures at start, in order, for an app disk
/// with `app_disk_root_hash` and the configuration file `config` (its exact
/// bytes): in process mode the enclave's own digest (`enclave_binary`, the
/// SHA-256 of its executable; `None` in a measured image, whose PCR 4
/// covers it), app disk, configuration, `ready`. A model, if the
/// configuration names one, follows as [`RuntimeEvent::model`]. The enclave
/// extends exactly these, and `blindfold measure` predicts PCR 15 from them.
pub fn runtime_events(
    enclave_binary: Option<&[u8; 32]>,
    app_disk_root_hash: &[u8],
    config: &[u8],
) -> Vec<RuntimeEvent> {
    let config_sha256 = default_provider().hash(HashAlg::Sha256, &[config]);
    let binary = enclave_binary.map(|sha256| RuntimeEvent::EnclaveBinary {
        sha256: sha256.to_vec(),
    });
    binary
        .into_iter()
        .chain([
            RuntimeEvent::AppDisk {
                root_hash: app_disk_root_hash.to_vec(),
            },
            RuntimeEvent::Config {
                sha256: config_sha256.as_bytes().to_vec(),
            },
            RuntimeEvent::Ready,
        ])
        .collect()
}

/// What differs between the runtime events a reference was computed from
/// (`expected`) and those the enclave measured, in words, event by event:
/// "config sha256 differs: expected 7ba5eea7b4416693…, measured
/// fd22c16fb815f510…". `None` when they are the same.
pub fn describe_differences(expected: &[RuntimeEvent], measured: &[RuntimeEvent]) -> Option<String> {
    let mut differences = Vec::new();
    for i in 0..expected.len().max(measured.len()) {
        match (expected.get(i), measured.get(i)) {
            (Some(e), Some(m)) if e == m => {}
            (Some(e), Some(m)) => differences.push(event_difference(e, m)),
            (Some(e), None) => differences.push(format!("{} expected, not measured", e.summary())),
            (None, Some(m)) => differences.push(format!("{} measured, not expected", m.summary())),
            (None, None) => {}
        }
    }
    (!differences.is_empty()).then(|| differences.join("; "))
}

fn short(bytes: &[u8]) -> String {
    format!("{}…", hex::encode(&bytes[..bytes.len().min(8)]))
}

fn event_difference(expected: &RuntimeEvent, measured: &RuntimeEvent) -> String {
    let differs = |what: &str, e: &[u8], m: &[u8]| {
        format!("{what} differs: expected {}, measured {}", short(e), short(m))
    };
    match (expected, measured) {
        (RuntimeEvent::EnclaveBinary { sha256: e }, RuntimeEvent::EnclaveBinary { sha256: m }) => {
            differs("enclave binary sha256", e, m)
        }
        (RuntimeEvent::AppDisk { root_hash: e }, RuntimeEvent::AppDisk { root_hash: m }) => {
            differs("app-disk root hash", e, m)
        }
        (RuntimeEvent::Config { sha256: e }, RuntimeEvent::Config { sha256: m }) => {
            differs("config sha256", e, m)
        }
        (RuntimeEvent::Model { name: en, sha256: e }, RuntimeEvent::Model { name: mn, sha256: m })
            if en == mn =>
        {
            differs(&format!("model \"{en}\" sha256"), e, m)
        }
        (RuntimeEvent::Model { name: en, .. }, RuntimeEvent::Model { name: mn, .. }) => {
            format!("model name differs: expected \"{en}\", measured \"{mn}\"")
        }
        (e, m) => format!("expected {}, measured {}", e.summary(), m.summary()),
    }
}

impl RuntimeEvent {
    /// The event in a few words: `config 7ba5eea7b4416693…`.
    pub fn summary(&self) -> String {
        match self {
            RuntimeEvent::EnclaveBinary { sha256 } => format!("enclave-binary {}", short(sha256)),
            RuntimeEvent::AppDisk { root_hash } => format!("app-disk {}", short(root_hash)),
            RuntimeEvent::Config { sha256 } => format!("config {}", short(sha256)),
            RuntimeEvent::Model { name, sha256 } => format!("model \"{name}\" {}", short(sha256)),
            RuntimeEvent::Ready => "ready".into(),
        }
    }
}

/// One digest of a CEL record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CelDigest {
    /// The bank's name (`sha256`, `sha384`, ...).
    #[serde(rename = "hashAlg")]
    pub hash_alg: String,
    /// The digest extended (hex).
    #[serde(with = "hex_bytes")]
    pub digest: Vec<u8>,
}

/// One CEL-JSON record of the runtime log, as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CelRecord {
    /// Record number, from 0.
    pub recnum: u64,
    /// The PCR extended (always [`RUNTIME_PCR`]).
    pub pcr: u32,
    /// The digest in every bank it was extended into.
    pub digests: Vec<CelDigest>,
    /// Always [`CEL_CONTENT_TYPE`].
    pub content_type: String,
    /// The event.
    pub content: RuntimeEvent,
}

/// A runtime event log: events and the banks each was extended into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeLog {
    /// Events in order.
    pub events: Vec<RuntimeEvent>,
    /// Banks each event was extended into.
    pub banks: Vec<HashAlg>,
}

impl RuntimeLog {
    /// The CEL records.
    pub fn to_records(&self) -> Vec<CelRecord> {
        self.records_in(&self.banks)
    }

    /// The CEL records with the digests of `banks` only (the banks a quote
    /// covers, where it covers fewer than the events were extended into).
    pub fn records_in(&self, banks: &[HashAlg]) -> Vec<CelRecord> {
        self.events
            .iter()
            .enumerate()
            .map(|(n, e)| CelRecord {
                recnum: n as u64,
                pcr: RUNTIME_PCR,
                digests: banks
                    .iter()
                    .map(|b| CelDigest {
                        hash_alg: b.name().to_string(),
                        digest: e.digest(*b).as_bytes().to_vec(),
                    })
                    .collect(),
                content_type: CEL_CONTENT_TYPE.to_string(),
                content: e.clone(),
            })
            .collect()
    }

    /// Reads CEL records, checking record numbers, the PCR, that every
    /// digest is the hash of the event's measured bytes (constant time),
    /// that every record covers the same banks, and the order rule (only
    /// model loads after `ready`). Errors name the record.
    pub fn from_records(records: &[CelRecord]) -> Result<RuntimeLog, Error> {
        if records.is_empty() {
            return Err(Error::EmptyRuntimeLog);
        }
        let mut log = RuntimeLog::default();
        let mut ready = false;
        for (n, r) in records.iter().enumerate() {
            let bad = |why: String| Error::RuntimeRecord { record: n, why };
            if r.recnum != n as u64 {
                return Err(bad(format!("recnum is {}, expected {n}", r.recnum)));
            }
            if r.pcr != RUNTIME_PCR {
                return Err(bad(format!(
                    "pcr is {}, runtime events go to PCR {RUNTIME_PCR}",
                    r.pcr
                )));
            }
            if r.content_type != CEL_CONTENT_TYPE {
                return Err(bad(format!(
                    "content_type is {:?}, expected {CEL_CONTENT_TYPE:?}",
                    r.content_type
                )));
            }
            let mut banks = Vec::new();
            for d in &r.digests {
                let bank = HashAlg::from_name(&d.hash_alg)
                    .ok_or_else(|| bad(format!("unknown hashAlg {:?}", d.hash_alg)))?;
                let want = r.content.digest(bank);
                if !ct_eq(&d.digest, want.as_bytes()) {
                    return Err(Error::RuntimeEventDigest {
                        record: n,
                        bank,
                        logged: hex::encode(&d.digest),
                        computed: want.to_hex(),
                    });
                }
                if banks.contains(&bank) {
                    return Err(bad(format!("two {bank} digests")));
                }
                banks.push(bank);
            }
            if banks.is_empty() {
                return Err(bad(
                    "no digests: every runtime event names the banks it was extended into".into(),
                ));
            }
            if n == 0 {
                log.banks = banks;
            } else if banks != log.banks {
                return Err(bad("digests do not cover the same banks as record 0".into()));
            }
            if ready && !matches!(r.content, RuntimeEvent::Model { .. }) {
                return Err(Error::RuntimeEventAfterReady { record: n });
            }
            ready |= r.content == RuntimeEvent::Ready;
            log.events.push(r.content.clone());
        }
        Ok(log)
    }

    /// PCR 15 per bank after replaying every event from zero.
    pub fn replay(&self) -> PcrValues {
        let p = default_provider();
        let mut out = PcrValues::new();
        for bank in &self.banks {
            let mut pcr = Digest::zero(*bank);
            for e in &self.events {
                pcr = p.hash(*bank, &[pcr.as_bytes(), e.digest(*bank).as_bytes()]);
            }
            out.insert(PcrIndex(RUNTIME_PCR), pcr);
        }
        out
    }

    /// True when the `ready` separator has been logged.
    pub fn is_ready(&self) -> bool {
        self.events.contains(&RuntimeEvent::Ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_that_differs_is_named() {
        let expected = runtime_events(Some(&[7; 32]), &[1; 32], b"{\"a\": 1}");
        assert_eq!(describe_differences(&expected, &expected), None);
        let measured = runtime_events(Some(&[7; 32]), &[1; 32], b"{\"a\": 2}");
        let why = describe_differences(&expected, &measured).unwrap_or_default();
        assert!(why.starts_with("config sha256 differs: expected "), "{why}");
        assert!(!why.contains("app-disk"), "{why}");

        let mut with_model = measured.clone();
        with_model.push(RuntimeEvent::model("m", &[2; 32]));
        let why = describe_differences(&measured, &with_model).unwrap_or_default();
        assert_eq!(why, "model \"m\" 0202020202020202… measured, not expected");

        let mut other_model = measured.clone();
        other_model.push(RuntimeEvent::model("n", &[2; 32]));
        let why = describe_differences(&with_model, &other_model).unwrap_or_default();
        assert_eq!(why, "model name differs: expected \"m\", measured \"n\"");

        let other_disk = runtime_events(Some(&[7; 32]), &[3; 32], b"{\"a\": 1}");
        let why = describe_differences(&expected, &other_disk).unwrap_or_default();
        assert!(
            why.starts_with(
                "app-disk root hash differs: expected 0101010101010101…, measured 0303030303030303…"
            ),
            "{why}"
        );

        // Process mode's first event: another executable is named as such.
        let other_binary = runtime_events(Some(&[8; 32]), &[1; 32], b"{\"a\": 1}");
        let why = describe_differences(&expected, &other_binary).unwrap_or_default();
        assert_eq!(
            why,
            "enclave binary sha256 differs: expected 0707070707070707…, measured 0808080808080808…"
        );
        // A measured image has no such event (PCR 4 holds the binary).
        let image = runtime_events(None, &[1; 32], b"{\"a\": 1}");
        assert_eq!(image.len(), 3);
        assert!(!image
            .iter()
            .any(|e| matches!(e, RuntimeEvent::EnclaveBinary { .. })));
    }
}
