//! # blindfold-eventlog
//!
//! TCG PC Client firmware event logs, for the verifier side: parsing both
//! formats (legacy SHA-1 `TCG_PCR_EVENT` and crypto-agile `Spec ID
//! Event03` / `TCG_PCR_EVENT2` with every bank the log declares), replay of
//! all banks (PCR 0 starting from a `StartupLocality` or H-CRTM event,
//! `EV_NO_ACTION` not extended),
//! digest-versus-data checks where the spec defines the digest as the hash
//! of the data, decoding of common event types for display, and comparison
//! of a replay with a [`blindfold_tpm::VerifiedQuote`]; and confidential-
//! computing event logs (Intel TDX CCEL: MR indices, SHA-384, `0xFF`
//! padding) replayed into RTMRs and compared with a verified TD quote.
//!
//! What it is **not**: it does not judge whether PCR values are good
//! (appraisal lives in `blindfold-attest`), does not read logs from a
//! machine (the attester side does), and does not trust event types: a
//! type only changes how data is displayed and which digest-versus-data
//! check applies, never what is extended.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ccel;
mod decode;
mod device_path;
mod error;
mod event_type;
mod parse;
mod quote_check;
mod replay;

pub use ccel::{
    compare_with_td_quote, replay_cc, replay_cc_with, require_rtmr_match, CcEventLog, CcReplay, RtmrCheck,
    RTMR_COUNT,
};
pub use decode::{variable, EventData};
pub use device_path::device_path_to_string;
pub use error::Error;
pub use event_type::EventType;
pub use parse::{Event, EventDigest, EventLog, LogFormat, SpecIdAlgorithm, SpecIdEvent};
pub use quote_check::{compare_with_quote, require_match, PcrCheck, PcrStatus};
pub use replay::{
    replay, replay_with, AppliedOption, Pcr0Start, Replay, ReplayOptions, SuspicionReason, SuspiciousEvent,
    EXIT_BOOT_SERVICES_INVOCATION, EXIT_BOOT_SERVICES_SUCCESS,
};
