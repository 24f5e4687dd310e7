//! Digest-versus-data checks and parser strictness on hand-made logs.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
use blindfold_crypto::{default_provider, HashAlg};
use blindfold_eventlog::{replay, Error, EventLog, EventType, LogFormat, ReplayOptions, SuspicionReason};
use blindfold_tpm::PcrIndex;

/// One hand-made event: PCR, type, data, and a digest replacing H(data).
type TestEvent<'a> = (u32, u32, &'a [u8], Option<[u8; 32]>);

/// A crypto-agile SHA-256 log with the given events.
fn agile_log(events: &[TestEvent<'_>]) -> Vec<u8> {
    let mut spec = b"Spec ID Event03\0".to_vec();
    spec.extend_from_slice(&0u32.to_le_bytes()); // platform class
    spec.extend_from_slice(&[0, 2, 0, 2]); // minor, major, errata, uintn
    spec.extend_from_slice(&1u32.to_le_bytes());
    spec.extend_from_slice(&0x000Bu16.to_le_bytes());
    spec.extend_from_slice(&32u16.to_le_bytes());
    spec.push(0);
    let mut out = Vec::new();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&[0u8; 20]);
    out.extend_from_slice(&(spec.len() as u32).to_le_bytes());
    out.extend_from_slice(&spec);
    for (pcr, ty, data, digest) in events {
        out.extend_from_slice(&pcr.to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&0x000Bu16.to_le_bytes());
        let d = digest.unwrap_or_else(|| {
            default_provider()
                .hash(HashAlg::Sha256, &[data])
                .as_bytes()
                .try_into()
                .unwrap()
        });
        out.extend_from_slice(&d);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

#[test]
fn separator_whose_digest_is_not_its_data_is_reported() {
    let bytes = agile_log(&[
        (7, 4, &[0, 0, 0, 0], Some([0xAB; 32])),
        (7, 4, &[0, 0, 0, 0], None),
    ]);
    let log = EventLog::parse(&bytes).unwrap();
    assert_eq!(log.format, LogFormat::CryptoAgile);
    let r = replay(&log, ReplayOptions::default());
    assert_eq!(r.suspicious.len(), 1, "{:?}", r.suspicious);
    let s = &r.suspicious[0];
    assert_eq!(
        (s.number, s.pcr, s.event_type),
        (1, PcrIndex(7), EventType::EV_SEPARATOR)
    );
    assert!(matches!(
        s.reason,
        SuspicionReason::DigestDoesNotMatchData {
            bank: HashAlg::Sha256,
            ..
        }
    ));
}

#[test]
fn event_type_does_not_decide_what_is_extended() {
    // An EV_EFI_ACTION whose digest is not the hash of its data is still
    // extended with the logged digest (replay), and reported (suspicion).
    let a = agile_log(&[(4, 0x8000_0007, b"Calling EFI Application", Some([1; 32]))]);
    let b = agile_log(&[(4, 0x0000_000D, b"Calling EFI Application", Some([1; 32]))]);
    let ra = replay(&EventLog::parse(&a).unwrap(), ReplayOptions::default());
    let rb = replay(&EventLog::parse(&b).unwrap(), ReplayOptions::default());
    assert_eq!(ra.pcrs, rb.pcrs);
    assert_eq!(ra.suspicious.len(), 1);
    assert!(
        rb.suspicious.is_empty(),
        "EV_IPL digests are not defined as the hash of the data"
    );
}

#[test]
fn no_action_events_are_not_extended() {
    let bytes = agile_log(&[(0, 3, b"anything", None)]);
    let r = replay(&EventLog::parse(&bytes).unwrap(), ReplayOptions::default());
    assert!(r.pcrs.is_empty());
    assert_eq!(r.measured_events, 0);
}

#[test]
fn undeclared_digest_algorithm_is_an_error() {
    let mut bytes = agile_log(&[(0, 1, b"x", None)]);
    // Rewrite the event's algorithm id (after pcr, type, count) to SHA-384.
    let spec_len = u32::from_le_bytes(bytes[28..32].try_into().unwrap()) as usize;
    let ev = 32 + spec_len;
    bytes[ev + 12..ev + 14].copy_from_slice(&0x000Cu16.to_le_bytes());
    assert_eq!(
        EventLog::parse(&bytes).unwrap_err(),
        Error::UndeclaredDigestAlgorithm {
            event: 1,
            alg_id: 0x000C
        }
    );
}

#[test]
fn truncated_log_is_an_error_naming_the_event() {
    let bytes = agile_log(&[(0, 1, b"hello", None), (1, 1, b"world", None)]);
    let err = EventLog::parse(&bytes[..bytes.len() - 2]).unwrap_err();
    assert!(matches!(err, Error::Malformed { event: 2, .. }), "{err:?}");
}

#[test]
fn spec_id_with_wrong_digest_size_is_an_error() {
    let mut bytes = agile_log(&[]);
    // digestSize of SHA-256 in the Spec ID event: 32 -> 20.
    let pos = 32 + 16 + 4 + 4 + 4 + 2;
    bytes[pos..pos + 2].copy_from_slice(&20u16.to_le_bytes());
    assert!(matches!(
        EventLog::parse(&bytes).unwrap_err(),
        Error::SpecIdInvalid(_)
    ));
}
