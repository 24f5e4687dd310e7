//! Replaying a log into PCR values, and the digest-versus-data checks.

use std::collections::BTreeMap;

use blindfold_crypto::{default_provider, CryptoProvider, Digest, HashAlg};
use blindfold_tpm::{PcrIndex, PcrValues};

use crate::event_type::EventType;
use crate::parse::{Event, EventLog};

/// Data of the `EV_NO_ACTION` event that sets PCR 0's initial value.
const STARTUP_LOCALITY: &[u8; 16] = b"StartupLocality\0";
/// The last octet of PCR 0 after an H-CRTM sequence (locality 4).
const HCRTM_LOCALITY: u8 = 4;
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
    /// A `StartupLocality` event after an event that extended PCR 0: the
    /// PFP spec places it before any (§10.4.5.3), so it was not used.
    StartupLocalityAfterMeasurement,
    /// Another `StartupLocality` event after the first: not used.
    RepeatedStartupLocality,
    /// An `EV_EFI_HCRTM_EVENT` after an event that extended PCR 0. A TPM
    /// runs an H-CRTM sequence into PCR 0 only before `TPM2_Startup`
    /// (afterwards it is a D-RTM into PCR 17), so it cannot follow other
    /// PCR 0 measurements: it was replayed as a plain extend, without
    /// resetting PCR 0.
    HcrtmAfterMeasurement,
    /// A `StartupLocality` event names a locality other than 4 although
    /// the log begins PCR 0 with an H-CRTM event: the H-CRTM wins (the TPM
    /// keeps PCR 0 from the H-CRTM whatever locality `TPM2_Startup` came
    /// from), but the log contradicts itself.
    StartupLocalityContradictsHcrtm {
        /// The locality the event names.
        locality: u8,
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

/// Where PCR 0 started before the log's first PCR 0 measurement, and why.
/// Every other PCR starts at zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pcr0Start {
    /// All zero: `TPM2_Startup` at locality 0, no H-CRTM.
    Zero,
    /// `0…0L`: `TPM2_Startup` at locality `L` (3 on platforms whose
    /// S-CRTM starts the TPM from locality 3), from a `StartupLocality`
    /// event before any PCR 0 measurement (PFP §10.4.5.3).
    StartupLocality(u8),
    /// `0…04`, then the H-CRTM digest extended: the log's first PCR 0
    /// measurement is an `EV_EFI_HCRTM_EVENT` (TPM 2.0 Library Part 1,
    /// §34.3 H-CRTM: before `TPM2_Startup`, `_TPM_Hash_End` sets PCR 0 to
    /// locality 4 and extends the digest of the H-CRTM data).
    Hcrtm,
}

impl Pcr0Start {
    /// The last octet of PCR 0's initial value.
    pub fn last_octet(self) -> u8 {
        match self {
            Pcr0Start::Zero => 0,
            Pcr0Start::StartupLocality(l) => l,
            Pcr0Start::Hcrtm => HCRTM_LOCALITY,
        }
    }

    /// How it is named in output: `zero`, `startup-locality`, `h-crtm`.
    pub fn name(self) -> &'static str {
        match self {
            Pcr0Start::Zero => "zero",
            Pcr0Start::StartupLocality(_) => "startup-locality",
            Pcr0Start::Hcrtm => "h-crtm",
        }
    }
}

/// The result of replaying a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Final value of every PCR the log extends, per bank.
    pub pcrs: PcrValues,
    /// Locality from the `StartupLocality` event that was used, if any.
    pub startup_locality: Option<u8>,
    /// PCR 0's initial value, and why.
    pub pcr0_start: Pcr0Start,
    /// Events extended (`EV_NO_ACTION` excluded).
    pub measured_events: usize,
    /// Events whose digest does not match their data.
    pub suspicious: Vec<SuspiciousEvent>,
    /// Options that changed the result.
    pub options_applied: Vec<AppliedOption>,
}

/// Replays `log`: every PCR starts at zero except PCR 0 (see
/// [`Pcr0Start`]), and every event except `EV_NO_ACTION` extends its PCR in
/// each bank it carries: `PCR = H(PCR || digest)`.
///
/// PCR 0's start follows the TPM (TPM 2.0 Library Part 1 §34.3, Part 3
/// `TPM2_Startup`) and the PC Client PFP (§10.4.5.3):
/// - a `StartupLocality` event counts only before the first event that
///   extends PCR 0, and only the first one: its locality is the last octet;
/// - if that first PCR 0 event is an `EV_EFI_HCRTM_EVENT`, PCR 0 starts at
///   `0…04` whatever a `StartupLocality` event says (an H-CRTM before
///   `TPM2_Startup` sets PCR 0, and Startup then leaves it alone), and a
///   locality other than 4 there is reported as a contradiction;
/// - an `EV_EFI_HCRTM_EVENT` anywhere later is a plain extend, reported
///   as suspicious (a TPM cannot do that).
pub fn replay(log: &EventLog, options: ReplayOptions) -> Replay {
    replay_with(log, options, default_provider())
}

/// [`replay`] with a chosen crypto provider.
pub fn replay_with(log: &EventLog, options: ReplayOptions, provider: &dyn CryptoProvider) -> Replay {
    let banks = log.banks();
    let mut suspicious = Vec::new();
    let (pcr0_start, startup_locality) = pcr0_start(log, &mut suspicious);

    let mut state: BTreeMap<(HashAlg, PcrIndex), Digest> = BTreeMap::new();
    let initial = |bank: HashAlg, pcr: PcrIndex| {
        let mut v = [0u8; 64];
        if pcr == PcrIndex(0) {
            v[bank.output_len() - 1] = pcr0_start.last_octet();
        }
        Digest::new(bank, &v[..bank.output_len()]).unwrap_or_else(|| Digest::zero(bank))
    };
    let mut extend = |bank: HashAlg, pcr: PcrIndex, digest: &Digest| {
        let cur = state.entry((bank, pcr)).or_insert_with(|| initial(bank, pcr));
        *cur = provider.hash(bank, &[cur.as_bytes(), digest.as_bytes()]);
    };

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
        pcr0_start,
        measured_events,
        suspicious,
        options_applied,
    }
}

/// PCR 0's start (see [`replay_with`]) and the `StartupLocality` used;
/// events that break the rules are added to `suspicious`.
fn pcr0_start(log: &EventLog, suspicious: &mut Vec<SuspiciousEvent>) -> (Pcr0Start, Option<u8>) {
    let mut flag = |event: &Event, reason: SuspicionReason| {
        suspicious.push(SuspiciousEvent {
            number: event.number,
            pcr: event.pcr,
            event_type: event.event_type,
            reason,
        })
    };
    let mut locality: Option<(u8, &Event)> = None;
    let mut first_measurement: Option<&Event> = None;
    for event in log.events.iter().filter(|e| e.pcr == PcrIndex(0)) {
        if event.event_type == EventType::EV_NO_ACTION {
            let Some(l) = startup_locality_of(event) else {
                continue;
            };
            if first_measurement.is_some() {
                flag(event, SuspicionReason::StartupLocalityAfterMeasurement);
            } else if locality.is_some() {
                flag(event, SuspicionReason::RepeatedStartupLocality);
            } else {
                locality = Some((l, event));
            }
            continue;
        }
        match first_measurement {
            None => first_measurement = Some(event),
            Some(_) if event.event_type == EventType::EV_EFI_HCRTM_EVENT => {
                flag(event, SuspicionReason::HcrtmAfterMeasurement)
            }
            Some(_) => {}
        }
    }
    let hcrtm = first_measurement.is_some_and(|e| e.event_type == EventType::EV_EFI_HCRTM_EVENT);
    match (hcrtm, locality) {
        (true, Some((l, event))) => {
            if l != HCRTM_LOCALITY {
                flag(
                    event,
                    SuspicionReason::StartupLocalityContradictsHcrtm { locality: l },
                );
            }
            (Pcr0Start::Hcrtm, Some(l))
        }
        (true, None) => (Pcr0Start::Hcrtm, None),
        (false, Some((l, _))) => (Pcr0Start::StartupLocality(l), Some(l)),
        (false, None) => (Pcr0Start::Zero, None),
    }
}

/// The locality of a `StartupLocality` event (`TCG_EfiStartupLocalityEvent`:
/// the 16-byte signature and one byte).
fn startup_locality_of(event: &Event) -> Option<u8> {
    match event.data.as_slice() {
        [prefix @ .., locality] if prefix == STARTUP_LOCALITY => Some(*locality),
        _ => None,
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
        EventType::EV_EFI_VARIABLE_BOOT => crate::decode::variable(event).map(|(_, value)| value),
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
