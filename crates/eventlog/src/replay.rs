//! Replaying a log into PCR values, and the digest-versus-data checks.

use std::collections::BTreeMap;

use blindfold_crypto::{default_provider, CryptoProvider, Digest, HashAlg};
use blindfold_tpm::{PcrIndex, PcrValues};

use crate::event_type::EventType;
use crate::parse::{Event, EventLog};

/// Data of the `EV_NO_ACTION` event that sets PCR 0's initial value.
const STARTUP_LOCALITY: &[u8; 16] = b"StartupLocality\0";
/// The two `EV_EFI_ACTION` strings firmware measures into PCR 5 at
/// ExitBootServices.
pub const EXIT_BOOT_SERVICES_INVOCATION: &str = "Exit Boot Services Invocation";
/// See [`EXIT_BOOT_SERVICES_INVOCATION`].
pub const EXIT_BOOT_SERVICES_SUCCESS: &str = "Exit Boot Services Returned with Success";

/// Named deviations from a plain replay. All are off by default, and every
/// one that changed the result is listed in [`Replay::options_applied`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Some firmware extends PCR 5 with the two ExitBootServices
    /// `EV_EFI_ACTION` events without logging them. When set and the log has
    /// no ExitBootServices event in PCR 5, the replay extends PCR 5 with
    /// both after the last logged event.
    pub assume_unlogged_exit_boot_services: bool,
}

/// A replay option that changed the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppliedOption {
    /// PCR 5 was extended with the two unlogged ExitBootServices events.
    UnloggedExitBootServices,
}

impl AppliedOption {
    /// The option's name, as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            AppliedOption::UnloggedExitBootServices => "assume-unlogged-exit-boot-services",
        }
    }
}

/// Why an event's digest is suspicious.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuspicionReason {
    /// The spec says this type's digest is the hash of its data, and it is not.
    DigestDoesNotMatchData {
        /// The bank whose digest differs.
        bank: HashAlg,
        /// The digest in the log.
        logged: Digest,
        /// The hash of the event data.
        computed: Digest,
    },
    /// A crypto-agile event lacks a digest for a bank the log declares, so
    /// that bank's replay skips it.
    MissingBankDigest {
        /// The bank.
        bank: HashAlg,
    },
}

/// An event whose digest does not fit its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspiciousEvent {
    /// Event number.
    pub number: usize,
    /// Its PCR.
    pub pcr: PcrIndex,
    /// Its type.
    pub event_type: EventType,
    /// What is wrong.
    pub reason: SuspicionReason,
}

/// The result of replaying a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Final value of every PCR the log extends, per bank.
    pub pcrs: PcrValues,
    /// Locality from a `StartupLocality` event (PCR 0's initial value), if any.
    pub startup_locality: Option<u8>,
    /// Events extended (`EV_NO_ACTION` excluded).
    pub measured_events: usize,
    /// Events whose digest does not match their data.
    pub suspicious: Vec<SuspiciousEvent>,
    /// Options that changed the result.
    pub options_applied: Vec<AppliedOption>,
}

/// Replays `log`: every PCR starts at zero (PCR 0 at the startup locality
/// if a `StartupLocality` event says so), every event except `EV_NO_ACTION`
/// extends its PCR in each bank it carries: `PCR = H(PCR || digest)`.
pub fn replay(log: &EventLog, options: ReplayOptions) -> Replay {
    replay_with(log, options, default_provider())
}

/// [`replay`] with a chosen crypto provider.
pub fn replay_with(log: &EventLog, options: ReplayOptions, provider: &dyn CryptoProvider) -> Replay {
    let banks = log.banks();
    let startup_locality = log
        .events
        .iter()
        .filter(|e| e.event_type == EventType::EV_NO_ACTION && e.pcr == PcrIndex(0))
        .find_map(|e| match e.data.as_slice() {
            [prefix @ .., locality] if prefix == STARTUP_LOCALITY => Some(*locality),
            _ => None,
        });

    let mut state: BTreeMap<(HashAlg, PcrIndex), Digest> = BTreeMap::new();
    let initial = |bank: HashAlg, pcr: PcrIndex| {
        let mut v = [0u8; 64];
        if let (PcrIndex(0), Some(loc)) = (pcr, startup_locality) {
            v[bank.output_len() - 1] = loc;
        }
        Digest::new(bank, &v[..bank.output_len()]).unwrap_or_else(|| Digest::zero(bank))
    };
    let mut extend = |bank: HashAlg, pcr: PcrIndex, digest: &Digest| {
        let cur = state.entry((bank, pcr)).or_insert_with(|| initial(bank, pcr));
        *cur = provider.hash(bank, &[cur.as_bytes(), digest.as_bytes()]);
    };

    let mut suspicious = Vec::new();
    let mut measured_events = 0;
    for event in &log.events {
        if event.event_type == EventType::EV_NO_ACTION {
            continue;
        }
        measured_events += 1;
        for &bank in &banks {
            match event.digest(bank) {
                Some(d) => extend(bank, event.pcr, d),
                None => suspicious.push(SuspiciousEvent {
                    number: event.number,
                    pcr: event.pcr,
                    event_type: event.event_type,
                    reason: SuspicionReason::MissingBankDigest { bank },
                }),
            }
        }
        check_digest_matches_data(event, provider, &mut suspicious);
    }

    let mut options_applied = Vec::new();
    if options.assume_unlogged_exit_boot_services && !logs_exit_boot_services(log) {
        for action in [EXIT_BOOT_SERVICES_INVOCATION, EXIT_BOOT_SERVICES_SUCCESS] {
            for &bank in &banks {
                let d = provider.hash(bank, &[action.as_bytes()]);
                extend(bank, PcrIndex(5), &d);
            }
        }
        options_applied.push(AppliedOption::UnloggedExitBootServices);
    }

    let mut pcrs = PcrValues::new();
    for ((_, pcr), value) in state {
        pcrs.insert(pcr, value);
    }
    Replay {
        pcrs,
        startup_locality,
        measured_events,
        suspicious,
        options_applied,
    }
}

fn logs_exit_boot_services(log: &EventLog) -> bool {
    log.events.iter().any(|e| {
        e.pcr == PcrIndex(5)
            && e.event_type == EventType::EV_EFI_ACTION
            && e.data.starts_with(EXIT_BOOT_SERVICES_INVOCATION.as_bytes())
    })
}

/// Where the PC Client spec defines the digest as the hash of the event
/// data, checks it. `EV_EFI_VARIABLE_BOOT` may hash either the whole
/// `UEFI_VARIABLE_DATA` or only its `VariableData` (EDK2 does the latter).
fn check_digest_matches_data(event: &Event, provider: &dyn CryptoProvider, out: &mut Vec<SuspiciousEvent>) {
    let alternative: Option<&[u8]> = match event.event_type {
        EventType::EV_SEPARATOR
        | EventType::EV_EFI_ACTION
        | EventType::EV_EFI_VARIABLE_DRIVER_CONFIG
        | EventType::EV_EFI_VARIABLE_BOOT2
        | EventType::EV_EFI_VARIABLE_AUTHORITY => None,
        EventType::EV_EFI_VARIABLE_BOOT => crate::decode::variable_data(&event.data),
        _ => return,
    };
    for d in &event.digests {
        let crate::parse::EventDigest::Known(logged) = d else {
            continue;
        };
        let computed = provider.hash(logged.alg(), &[&event.data]);
        if computed == *logged {
            continue;
        }
        if let Some(alt) = alternative {
            if provider.hash(logged.alg(), &[alt]) == *logged {
                continue;
            }
        }
        out.push(SuspiciousEvent {
            number: event.number,
            pcr: event.pcr,
            event_type: event.event_type,
            reason: SuspicionReason::DigestDoesNotMatchData {
                bank: logged.alg(),
                logged: *logged,
                computed,
            },
        });
    }
}
