//! Confidential-computing event logs: the Intel TDX CCEL (ACPI "CC Event
//! Log" table, ACPI 6.5 §5.2.34; Linux shows the log area at
//! `/sys/firmware/acpi/tables/data/CCEL`), replayed into RTMR values and
//! compared with a verified TD quote.
//!
//! The log is crypto-agile like a TPM log, with three differences:
//! - the index of each event is a CC measurement-register (MR) index, not
//!   a PCR: 1 to 4 are RTMR 0 to 3 (UEFI 2.10 §38.4.1 maps PCR 1 and 7 to
//!   RTMR 0, PCR 2-6 to RTMR 1, PCR 8-15 to RTMR 2); 0 is MRTD, which the
//!   TDX module builds and no event extends; TDVF writes the header in
//!   index 1;
//! - the only bank is SHA-384, and an RTMR extends as
//!   `RTMR = SHA-384(RTMR || digest)` from 48 zero bytes;
//! - the log area is filled with `0xFF` before anything is logged, so the
//!   log ends at the first record whose index reads `0xFFFFFFFF`; every
//!   byte from there must be `0xFF` (nothing may hide after the end).
//!   Logs cut at their last event (no padding) are read too.
//!
//! There is no `StartupLocality` or H-CRTM rule here: nothing starts an
//! RTMR at another value.

use blindfold_crypto::{default_provider, CryptoProvider, Digest, HashAlg};
use blindfold_tdx::VerifiedTdQuote;

use crate::error::Error;
use crate::event_type::EventType;
use crate::parse::{parse_log, EventLog};
use crate::quote_check::PcrStatus;

/// RTMRs a TD has.
pub const RTMR_COUNT: usize = 4;
/// SHA-384's `TPM_ALG_ID`.
const SHA384_ALG_ID: u16 = 0x000C;

/// A CC event log and how much padding followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcEventLog {
    /// The events (the header included), read as a crypto-agile log.
    pub log: EventLog,
    /// Bytes of `0xFF` padding after the last event (0: an unpadded log).
    pub padding: usize,
}

impl CcEventLog {
    /// Reads a CC event log, padded or not. The log must be crypto-agile
    /// and declare SHA-384.
    pub fn parse(bytes: &[u8]) -> Result<CcEventLog, Error> {
        let (log, padding) = parse_log(bytes, true)?;
        CcEventLog::checked(log, padding)
    }

    fn checked(log: EventLog, padding: usize) -> Result<CcEventLog, Error> {
        let declared = log.banks();
        if !declared.contains(&HashAlg::Sha384) {
            return Err(Error::CcLogWithoutSha384 {
                declared: if declared.is_empty() {
                    "no bank we know".into()
                } else {
                    declared.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
                },
            });
        }
        Ok(CcEventLog { log, padding })
    }

    /// `None` unless `bytes` say they are a CC event log rather than a TPM
    /// log: a crypto-agile header that declares SHA-384 alone and is
    /// written in MR index 1 (as TDVF writes it; a TPM log's header is in
    /// PCR 0), or records that end in `0xFF` padding (TPM logs are never
    /// padded). Then the log as [`Self::parse`] reads it, from this one
    /// reading.
    pub fn detect(bytes: &[u8]) -> Option<Result<CcEventLog, Error>> {
        let (log, padding) = parse_log(bytes, true).ok()?;
        let header_in_index_1 = log.events.first().is_some_and(|e| e.pcr.0 == 1);
        let algs = log
            .spec_id
            .as_ref()
            .map(|s| s.algorithms.as_slice())
            .unwrap_or(&[]);
        let only_sha384 = algs.len() == 1 && algs[0].alg_id == SHA384_ALG_ID;
        (padding > 0 || (header_in_index_1 && only_sha384)).then(|| CcEventLog::checked(log, padding))
    }
}

/// The RTMR values a CC event log replays to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcReplay {
    /// RTMR 0 to 3; `None` where the log extends that RTMR with nothing.
    pub rtmrs: [Option<Digest>; RTMR_COUNT],
    /// Events extended (`EV_NO_ACTION` excluded).
    pub measured_events: usize,
}

/// Replays `log` into RTMR values (see the module docs).
pub fn replay_cc(log: &CcEventLog) -> Result<CcReplay, Error> {
    replay_cc_with(log, default_provider())
}

/// [`replay_cc`] with a chosen crypto provider.
pub fn replay_cc_with(log: &CcEventLog, provider: &dyn CryptoProvider) -> Result<CcReplay, Error> {
    let mut rtmrs: [Option<Digest>; RTMR_COUNT] = [None; RTMR_COUNT];
    let mut measured_events = 0;
    for event in log.log.events.iter().skip(1) {
        if event.event_type == EventType::EV_NO_ACTION {
            continue;
        }
        let rtmr = match event.pcr.0 {
            i @ 1..=4 => (i - 1) as usize,
            index => {
                return Err(Error::NotAnRtmr {
                    event: event.number,
                    index,
                })
            }
        };
        let digest = event
            .digest(HashAlg::Sha384)
            .ok_or(Error::MissingSha384 { event: event.number })?;
        let current = rtmrs[rtmr].unwrap_or_else(|| Digest::zero(HashAlg::Sha384));
        rtmrs[rtmr] = Some(provider.hash(HashAlg::Sha384, &[current.as_bytes(), digest.as_bytes()]));
        measured_events += 1;
    }
    Ok(CcReplay {
        rtmrs,
        measured_events,
    })
}

/// How one RTMR of a TD quote compares with the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmrCheck {
    /// The RTMR (0 to 3).
    pub rtmr: usize,
    /// Outcome ([`PcrStatus::NotInLog`]: the log never extends it, e.g.
    /// RTMR 3, which the guest OS extends at run time).
    pub status: PcrStatus,
}

/// For each RTMR of a verified TD quote, whether the replayed log reaches
/// its value.
pub fn compare_with_td_quote(quote: &VerifiedTdQuote, replay: &CcReplay) -> Vec<RtmrCheck> {
    let quoted = &quote.quote().body.rtmr;
    (0..RTMR_COUNT)
        .map(|i| {
            let expected =
                Digest::new(HashAlg::Sha384, &quoted[i]).unwrap_or_else(|| Digest::zero(HashAlg::Sha384));
            let status = match replay.rtmrs[i] {
                None => PcrStatus::NotInLog,
                Some(actual) if actual == expected => PcrStatus::Matches,
                Some(actual) => PcrStatus::Mismatch { expected, actual },
            };
            RtmrCheck { rtmr: i, status }
        })
        .collect()
}

/// The first mismatch among `checks` as an error naming the RTMR and both
/// values; `Ok` when every RTMR the log extends matches.
pub fn require_rtmr_match(checks: &[RtmrCheck]) -> Result<(), Error> {
    for c in checks {
        if let PcrStatus::Mismatch { expected, actual } = &c.status {
            return Err(Error::RtmrMismatch {
                rtmr: c.rtmr,
                expected: expected.to_hex(),
                actual: actual.to_hex(),
            });
        }
    }
    Ok(())
}
