//! What to do about a failure, when the command can tell from its typed
//! cause: the libraries say what differed; only here may a message name a
//! flag of this command.

use blindfold_attest::{Error as AttestError, VerifyError};

/// One line of advice for the failure `e`, if there is one.
pub fn hint(e: &anyhow::Error) -> Option<String> {
    let live = e
        .chain()
        .any(|c| c.downcast_ref::<blindfold_atls::Error>().is_some());
    for cause in e.chain() {
        if let Some(AttestError::Verify(v)) = cause.downcast_ref::<AttestError>() {
            if let Some(h) = verify_hint(v, live) {
                return Some(h.into());
            }
        }
        if let Some(x) = cause.downcast_ref::<blindfold_x509::Error>() {
            if let Some(h) = chain_hint(x) {
                return Some(h.into());
            }
        }
    }
    None
}

fn chain_hint(e: &blindfold_x509::Error) -> Option<&'static str> {
    match e {
        blindfold_x509::Error::Expired { .. } | blindfold_x509::Error::NotYetValid { .. } => {
            Some("checking archived evidence? verify it at the time it was made with --at TIME (RFC 3339)")
        }
        _ => None,
    }
}

fn verify_hint(e: &VerifyError, live: bool) -> Option<&'static str> {
    match e {
        VerifyError::Quote {
            cause: blindfold_tpm::Error::NonceMismatch { .. },
            ..
        } if live => Some(
            "the evidence is bound to another TLS session than yours: something between you and the enclave terminates TLS (a relay or middlebox); nothing was sent",
        ),
        VerifyError::Quote {
            cause: blindfold_tpm::Error::NonceMismatch { .. },
            ..
        } => Some("the quote was made for another nonce: check --nonce (or the evidence is a replay)"),
        // A client connecting to an enclave has no AK to pin: only the
        // local platform's CA applies.
        VerifyError::NoTrustAnchor { .. } if live => Some(
            "a local enclave's AK is certified by its platform's CA: give it with --platform-ca (and --allow-dev: it can forge evidence)",
        ),
        VerifyError::NoTrustAnchor { .. } => {
            Some("pin the AK with --ak FILE, or (development) trust the CA that certifies it with --platform-ca FILE")
        }
        VerifyError::Chain(x)
        | VerifyError::Nitro(blindfold_nitro::Error::Chain(x))
        | VerifyError::Snp(blindfold_snp::Error::Chain(x))
        | VerifyError::Tdx(blindfold_tdx::Error::PckChain(x) | blindfold_tdx::Error::CollateralChain { cause: x, .. }) => {
            chain_hint(x)
        }
        VerifyError::Nitro(blindfold_nitro::Error::DebugEnclave)
        | VerifyError::Snp(blindfold_snp::Error::DebugNotAllowed)
        | VerifyError::Tdx(blindfold_tdx::Error::DebugNotAllowed) => Some(
            "--allow-debug accepts a debug-mode platform knowingly (its memory is open to its host; the report says so)",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce_mismatch() -> AttestError {
        AttestError::Verify(VerifyError::Quote {
            index: 0,
            cause: blindfold_tpm::Error::NonceMismatch {
                expected: "aa".into(),
                actual: "bb".into(),
            },
        })
    }

    #[test]
    fn a_nonce_mismatch_on_a_live_session_names_the_relay() {
        let live = anyhow::Error::new(blindfold_atls::Error::Verification(nonce_mismatch()));
        assert!(hint(&live).unwrap().contains("another TLS session"), "{live:#}");
        let offline = anyhow::Error::new(nonce_mismatch());
        assert!(hint(&offline).unwrap().contains("check --nonce"));
    }

    #[test]
    fn a_missing_anchor_names_the_flags_each_command_has() {
        let missing = || {
            AttestError::Verify(VerifyError::NoTrustAnchor {
                platform: blindfold_attest::Platform::Local,
            })
        };
        let live = anyhow::Error::new(blindfold_atls::Error::Verification(missing()));
        let hint_live = hint(&live).unwrap_or_default();
        assert!(
            hint_live.contains("--platform-ca") && !hint_live.contains("--ak"),
            "{hint_live}"
        );
        let offline = hint(&anyhow::Error::new(missing())).unwrap_or_default();
        assert!(offline.contains("--ak FILE"), "{offline}");
    }

    #[test]
    fn each_cause_is_printed_once() {
        let e =
            anyhow::Error::new(blindfold_atls::Error::Verification(nonce_mismatch())).context("verifying x");
        let line = crate::exit::one_line(&e);
        assert_eq!(line.matches("not the expected nonce").count(), 1, "{line}");
    }
}
