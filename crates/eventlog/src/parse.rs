//! Reading a log: legacy SHA-1 `TCG_PCR_EVENT` logs and crypto-agile
//! (`Spec ID Event03`, `TCG_PCR_EVENT2`) logs.

use blindfold_crypto::{Digest, HashAlg};
use blindfold_tpm::{PcrIndex, Reader, WireError};

use crate::error::Error;
use crate::event_type::EventType;

/// Signature of the crypto-agile Spec ID event.
const SPEC_ID_03: &[u8; 16] = b"Spec ID Event03\0";
/// Most algorithms a Spec ID event may list (the TPM_ALG_ID space is 16-bit,
/// real logs list 1 to 5).
const MAX_SPEC_ID_ALGS: usize = 64;
/// Largest digest an algorithm may declare in the Spec ID event.
const MAX_DIGEST_SIZE: u16 = 64;

/// Which of the two log formats a log uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `TCG_PCR_EVENT2` events after a `Spec ID Event03` header.
    CryptoAgile,
    /// `TCG_PCR_EVENT` events with one SHA-1 digest each.
    Sha1Legacy,
}

impl LogFormat {
    /// The name used in JSON output: `crypto-agile` or `sha1-legacy`.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::CryptoAgile => "crypto-agile",
            LogFormat::Sha1Legacy => "sha1-legacy",
        }
    }
}

/// One algorithm declared by the Spec ID event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecIdAlgorithm {
    /// `TPM_ALG_ID`.
    pub alg_id: u16,
    /// Digest size the log uses for it.
    pub digest_size: u16,
}

/// `TCG_EfiSpecIDEvent`, the header of a crypto-agile log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecIdEvent {
    /// `platformClass` (0 client, 1 server).
    pub platform_class: u32,
    /// `specVersionMajor.specVersionMinor`, errata.
    pub spec_version: (u8, u8, u8),
    /// `uintnSize` (1 = 32-bit, 2 = 64-bit UINTN).
    pub uintn_size: u8,
    /// The algorithms every event carries a digest for.
    pub algorithms: Vec<SpecIdAlgorithm>,
    /// `vendorInfo`.
    pub vendor_info: Vec<u8>,
}

/// A digest carried by an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDigest {
    /// A digest of an algorithm we can compute (its bank can be replayed).
    Known(Digest),
    /// A digest of an algorithm we cannot compute (kept, not replayed).
    Unknown {
        /// `TPM_ALG_ID`.
        alg_id: u16,
        /// Digest bytes.
        bytes: Vec<u8>,
    },
}

/// One measured (or `EV_NO_ACTION`) event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in the log, 0-based (the Spec ID header is event 0).
    pub number: usize,
    /// The PCR the event extends.
    pub pcr: PcrIndex,
    /// The event type (untrusted).
    pub event_type: EventType,
    /// The digests, one per bank.
    pub digests: Vec<EventDigest>,
    /// The event data (untrusted).
    pub data: Vec<u8>,
}

impl Event {
    /// The digest for `bank`, if the event carries one.
    pub fn digest(&self, bank: HashAlg) -> Option<&Digest> {
        self.digests.iter().find_map(|d| match d {
            EventDigest::Known(d) if d.alg() == bank => Some(d),
            _ => None,
        })
    }
}

/// A parsed firmware event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog {
    /// The log format.
    pub format: LogFormat,
    /// The Spec ID header of a crypto-agile log.
    pub spec_id: Option<SpecIdEvent>,
    /// All events in order, the header included.
    pub events: Vec<Event>,
}

impl EventLog {
    /// Parses a log. Every length is checked; a log that ends inside an
    /// event, declares an algorithm twice, or carries a digest of an
    /// algorithm its header did not declare is an error.
    pub fn parse(bytes: &[u8]) -> Result<EventLog, Error> {
        Ok(parse_log(bytes, false)?.0)
    }
}

/// Where a CC event log's padding starts: the first record whose index
/// reads `0xFFFFFFFF` (TDVF fills the log area with `0xFF` before logging).
const PADDING_MARK: [u8; 4] = [0xFF; 4];

/// Parses a log; with `padded`, stops at [`PADDING_MARK`] and requires
/// every byte from there to be `0xFF`. Returns the log and the padding's
/// length.
pub(crate) fn parse_log(bytes: &[u8], padded: bool) -> Result<(EventLog, usize), Error> {
    let mut r = Reader::new(bytes, "TCG event log");
    let first = read_legacy_event(&mut r, 0)?;
    let spec_id = if first.event_type == EventType::EV_NO_ACTION && first.data.starts_with(SPEC_ID_03) {
        Some(parse_spec_id(&first.data)?)
    } else {
        None
    };
    let mut events = vec![first];
    let mut padding = 0;
    match &spec_id {
        Some(spec) => {
            while !r.is_empty() {
                let rest = &bytes[r.position()..];
                if padded && rest.starts_with(&PADDING_MARK) {
                    if let Some(at) = rest.iter().position(|b| *b != 0xFF) {
                        return Err(Error::DataAfterPadding {
                            offset: r.position() + at,
                        });
                    }
                    padding = rest.len();
                    break;
                }
                let n = events.len();
                events.push(read_agile_event(&mut r, n, spec)?);
            }
        }
        None => {
            while !r.is_empty() {
                let n = events.len();
                events.push(read_legacy_event(&mut r, n)?);
            }
        }
    }
    let log = EventLog {
        format: if spec_id.is_some() {
            LogFormat::CryptoAgile
        } else {
            LogFormat::Sha1Legacy
        },
        spec_id,
        events,
    };
    Ok((log, padding))
}

impl EventLog {
    /// The banks this log carries digests for (that we can compute).
    pub fn banks(&self) -> Vec<HashAlg> {
        match &self.spec_id {
            None => vec![HashAlg::Sha1],
            Some(spec) => spec
                .algorithms
                .iter()
                .filter_map(|a| HashAlg::from_tpm_alg_id(a.alg_id))
                .collect(),
        }
    }
}

fn malformed(number: usize, offset: usize) -> impl Fn(WireError) -> Error + Copy {
    move |cause| Error::Malformed {
        event: number,
        offset,
        cause,
    }
}

/// `TCG_PCR_EVENT`: pcr, type, SHA-1 digest, size, data (little-endian).
fn read_legacy_event(r: &mut Reader<'_>, number: usize) -> Result<Event, Error> {
    let offset = r.position();
    let wrap = malformed(number, offset);
    (|| {
        let pcr = PcrIndex(r.u32_le()?);
        let event_type = EventType(r.u32_le()?);
        let sha1 = r.take(20)?;
        let size = r.u32_le()? as usize;
        let data = r.take(size)?.to_vec();
        let digest =
            Digest::new(HashAlg::Sha1, sha1)
                .map(EventDigest::Known)
                .ok_or(WireError::InvalidValue {
                    structure: "TCG_PCR_EVENT",
                    field: "digest",
                    value: "not 20 bytes".into(),
                })?;
        Ok(Event {
            number,
            pcr,
            event_type,
            digests: vec![digest],
            data,
        })
    })()
    .map_err(wrap)
}

/// `TCG_PCR_EVENT2`: pcr, type, `TPML_DIGEST_VALUES`, size, data.
fn read_agile_event(r: &mut Reader<'_>, number: usize, spec: &SpecIdEvent) -> Result<Event, Error> {
    let w = malformed(number, r.position());
    let pcr = PcrIndex(r.u32_le().map_err(w)?);
    let event_type = EventType(r.u32_le().map_err(w)?);
    let count = r.u32_le().map_err(w)? as usize;
    if count > spec.algorithms.len() {
        return Err(Error::TooManyDigests {
            event: number,
            count,
            declared: spec.algorithms.len(),
        });
    }
    let mut digests = Vec::with_capacity(count);
    for _ in 0..count {
        let alg_id = r.u16_le().map_err(w)?;
        let Some(decl) = spec.algorithms.iter().find(|a| a.alg_id == alg_id) else {
            return Err(Error::UndeclaredDigestAlgorithm {
                event: number,
                alg_id,
            });
        };
        let bytes = r.take(usize::from(decl.digest_size)).map_err(w)?;
        // Sizes of computable algorithms were checked against the Spec ID
        // event, so `Digest::new` cannot fail here; keep the bytes if it did.
        let digest = match HashAlg::from_tpm_alg_id(alg_id).and_then(|alg| Digest::new(alg, bytes)) {
            Some(d) => EventDigest::Known(d),
            None => EventDigest::Unknown {
                alg_id,
                bytes: bytes.to_vec(),
            },
        };
        digests.push(digest);
    }
    let size = r.u32_le().map_err(w)? as usize;
    let data = r.take(size).map_err(w)?.to_vec();
    Ok(Event {
        number,
        pcr,
        event_type,
        digests,
        data,
    })
}

fn parse_spec_id(data: &[u8]) -> Result<SpecIdEvent, Error> {
    let bad = |e: WireError| Error::SpecIdInvalid(e.to_string());
    let mut r = Reader::new(data, "TCG_EfiSpecIdEvent");
    let _signature = r.take(16).map_err(bad)?;
    let platform_class = r.u32_le().map_err(bad)?;
    let minor = r.u8().map_err(bad)?;
    let major = r.u8().map_err(bad)?;
    let errata = r.u8().map_err(bad)?;
    let uintn_size = r.u8().map_err(bad)?;
    let n = r.u32_le().map_err(bad)? as usize;
    if n == 0 || n > MAX_SPEC_ID_ALGS {
        return Err(Error::SpecIdInvalid(format!(
            "numberOfAlgorithms is {n}, expected 1 to {MAX_SPEC_ID_ALGS}"
        )));
    }
    let mut algorithms: Vec<SpecIdAlgorithm> = Vec::with_capacity(n);
    for _ in 0..n {
        let alg_id = r.u16_le().map_err(bad)?;
        let digest_size = r.u16_le().map_err(bad)?;
        if digest_size == 0 || digest_size > MAX_DIGEST_SIZE {
            return Err(Error::SpecIdInvalid(format!(
                "algorithm 0x{alg_id:04x} declares digest size {digest_size}"
            )));
        }
        if let Some(alg) = HashAlg::from_tpm_alg_id(alg_id) {
            if alg.output_len() != usize::from(digest_size) {
                return Err(Error::SpecIdInvalid(format!(
                    "{alg} is declared with digest size {digest_size}, not {}",
                    alg.output_len()
                )));
            }
        }
        if algorithms.iter().any(|a| a.alg_id == alg_id) {
            return Err(Error::SpecIdInvalid(format!(
                "algorithm 0x{alg_id:04x} declared twice"
            )));
        }
        algorithms.push(SpecIdAlgorithm { alg_id, digest_size });
    }
    let vendor_size = usize::from(r.u8().map_err(bad)?);
    let vendor_info = r.take(vendor_size).map_err(bad)?.to_vec();
    r.finish().map_err(bad)?;
    Ok(SpecIdEvent {
        platform_class,
        spec_version: (major, minor, errata),
        uintn_size,
        algorithms,
        vendor_info,
    })
}
