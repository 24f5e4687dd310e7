//! The runtime event log: what `blindfold-enclave` extends into PCR 15, in
//! the TCG Canonical Event Log JSON encoding (CEL-JSON).
//!
//! Each record: `{"recnum": N, "pcr": 15, "digests": [{"hashAlg":
//! "sha256", "digest": "<hex>"}, ...], "content_type": "blindfold",
//! "content": {...}}`. The digest in every bank is the hash of the event's
//! *measured bytes*, which the content carries, so a verifier recomputes it:
//!
//! | content | measured bytes (`lp` = `u32` big-endian length, then the bytes) |
//! |---|---|
//! | `{"type": "app-disk", "root_hash": "<hex>"}` | `blindfold/runtime/app-disk/v1` `lp(root hash)` |
//! | `{"type": "config", "sha256": "<hex>"}` | `blindfold/runtime/config/v1` `lp(SHA-256 of the configuration)` |
//! | `{"type": "model", "name": "...", "sha256": "<hex>"}` | `blindfold/runtime/model/v1` `lp(name)` `lp(SHA-256 of the model)` |
//! | `{"type": "ready"}` | `blindfold/runtime/ready/v1` |
//!
//! After `ready`, only `model` events may follow (a model load also rotates
//! the enclave's TLS key, so every client re-attests).

use blindfold_crypto::{ct_eq, default_provider, Digest, HashAlg};
use blindfold_tpm::{PcrIndex, PcrValues};
use serde_json::{json, Value};

use crate::error::Error;

/// The PCR the runtime extends.
pub const RUNTIME_PCR: u32 = 15;
/// Bytes measured by the ready separator.
pub const READY_MARKER: &[u8] = b"blindfold/runtime/ready/v1";

/// One runtime measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeEvent {
    /// The app disk's dm-verity root hash.
    AppDisk {
        /// Root hash bytes.
        root_hash: Vec<u8>,
    },
    /// The runtime configuration's SHA-256.
    Config {
        /// SHA-256 of the configuration file.
        sha256: Vec<u8>,
    },
    /// A model loaded into memory.
    Model {
        /// Its name (display only).
        name: String,
        /// SHA-256 of the model file.
        sha256: Vec<u8>,
    },
    /// The separator: nothing but model loads after it.
    Ready,
}

impl RuntimeEvent {
    /// The bytes whose hash is extended: a type label, then the value
    /// (length-prefixed where there are two), so an event of one type can
    /// never be read as another and a model's name is measured too.
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

    /// The CEL `content` object.
    pub fn content(&self) -> Value {
        match self {
            RuntimeEvent::AppDisk { root_hash } => {
                json!({"type": "app-disk", "root_hash": hex::encode(root_hash)})
            }
            RuntimeEvent::Config { sha256 } => json!({"type": "config", "sha256": hex::encode(sha256)}),
            RuntimeEvent::Model { name, sha256 } => {
                json!({"type": "model", "name": name, "sha256": hex::encode(sha256)})
            }
            RuntimeEvent::Ready => json!({"type": "ready"}),
        }
    }

    fn from_content(v: &Value) -> Result<RuntimeEvent, String> {
        let hex_field = |k: &str| -> Result<Vec<u8>, String> {
            hex::decode(v[k].as_str().ok_or(format!("content.{k} missing"))?)
                .map_err(|e| format!("content.{k}: {e}"))
        };
        Ok(match v["type"].as_str() {
            Some("app-disk") => RuntimeEvent::AppDisk {
                root_hash: hex_field("root_hash")?,
            },
            Some("config") => RuntimeEvent::Config {
                sha256: hex_field("sha256")?,
            },
            Some("model") => RuntimeEvent::Model {
                name: v["name"].as_str().unwrap_or_default().to_string(),
                sha256: hex_field("sha256")?,
            },
            Some("ready") => RuntimeEvent::Ready,
            other => return Err(format!("unknown runtime event type {other:?}")),
        })
    }
}

/// A runtime event log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeLog {
    /// Events in order.
    pub events: Vec<RuntimeEvent>,
    /// Banks each event was extended into.
    pub banks: Vec<HashAlg>,
}

impl RuntimeLog {
    /// The CEL-JSON encoding.
    pub fn to_cel(&self) -> Value {
        Value::Array(
            self.events
                .iter()
                .enumerate()
                .map(|(n, e)| {
                    json!({
                        "recnum": n,
                        "pcr": RUNTIME_PCR,
                        "digests": self.banks.iter().map(|b| json!({"hashAlg": b.name(), "digest": e.digest(*b).to_hex()})).collect::<Vec<_>>(),
                        "content_type": "blindfold",
                        "content": e.content(),
                    })
                })
                .collect(),
        )
    }

    /// Reads CEL-JSON, checking record numbers, the PCR, that every digest
    /// is the hash of the event's measured bytes, and the order rule (only
    /// model loads after `ready`). Errors name the record.
    pub fn parse(cel: &Value) -> Result<RuntimeLog, Error> {
        let records = cel
            .as_array()
            .ok_or_else(|| Error::RuntimeLog("not a CEL-JSON array".into()))?;
        let mut log = RuntimeLog::default();
        let mut ready = false;
        for (n, r) in records.iter().enumerate() {
            let bad = |why: String| Error::RuntimeLog(format!("record {n}: {why}"));
            if r["recnum"].as_u64() != Some(n as u64) {
                return Err(bad(format!("recnum is {}, expected {n}", r["recnum"])));
            }
            if r["pcr"].as_u64() != Some(u64::from(RUNTIME_PCR)) {
                return Err(bad(format!(
                    "pcr is {}, runtime events go to PCR {RUNTIME_PCR}",
                    r["pcr"]
                )));
            }
            if r["content_type"] != "blindfold" {
                return Err(bad(format!("content_type is {}", r["content_type"])));
            }
            let event = RuntimeEvent::from_content(&r["content"]).map_err(bad)?;
            let mut banks = Vec::new();
            for d in r["digests"].as_array().into_iter().flatten() {
                let name = d["hashAlg"].as_str().unwrap_or_default();
                let bank = HashAlg::from_name(name).ok_or_else(|| bad(format!("unknown hashAlg {name}")))?;
                let logged =
                    hex::decode(d["digest"].as_str().unwrap_or_default()).map_err(|e| bad(e.to_string()))?;
                let want = event.digest(bank);
                if !ct_eq(&logged, want.as_bytes()) {
                    return Err(Error::RuntimeEventDigest {
                        record: n,
                        bank,
                        logged: hex::encode(&logged),
                        computed: want.to_hex(),
                    });
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
            if ready && !matches!(event, RuntimeEvent::Model { .. }) {
                return Err(Error::RuntimeEventAfterReady { record: n });
            }
            ready |= event == RuntimeEvent::Ready;
            log.events.push(event);
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
