//! Epoch evidence (`blindfold_protocol::epoch`, `docs/epoch-evidence.md`):
//! one quote per epoch binding a fresh evidence key to this boot's TLS key,
//! and the per-session signature that makes a new attested session cost one
//! signature instead of one TPM quote.
//!
//! Each epoch has its own P-256 evidence key, made in memory and never
//! written; the previous one is dropped when the next epoch is quoted, so
//! a stolen evidence key signs sessions only for its own epoch (and a
//! client accepts that epoch only up to its maximum age). The first epoch
//! is quoted before the server listens, then one every [`EPOCH_SECONDS`].
//! A failed quote is logged and leaves the last epoch to age out (or, for
//! the first, the endpoint answers 503): per-session evidence, the
//! default, does not depend on it.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use blindfold_protocol::epoch::{
    epoch_qualifying_data, session_signed_bytes, EpochEvidenceV1, SessionEvidenceV1, EPOCH_SECONDS,
};
use sha2::{Digest as _, Sha256};

use crate::server::Shared;
use crate::tls_key::TlsKey;

/// The current epoch, when one has been quoted.
#[derive(Debug)]
pub struct Epochs {
    tls_spki: Arc<Vec<u8>>,
    current: RwLock<Option<Arc<Current>>>,
}

/// One epoch: its evidence key and its evidence.
#[derive(Debug)]
struct Current {
    key: TlsKey,
    evidence: EpochEvidenceV1,
    quote_sha256: [u8; 32],
}

impl Epochs {
    /// Quotes the first epoch for the TLS key whose SPKI is `tls_spki`
    /// (logged, and none served, if that fails).
    pub fn start(shared: &Shared, tls_spki: Arc<Vec<u8>>) -> Epochs {
        let first = quote(shared, &tls_spki, 1)
            .map_err(|e| eprintln!("blindfold-enclave: epoch 1 not quoted (no epoch evidence yet): {e:#}"))
            .ok()
            .map(Arc::new);
        Epochs {
            tls_spki,
            current: RwLock::new(first),
        }
    }

    /// Quotes a new epoch every [`EPOCH_SECONDS`] for as long as the
    /// server runs.
    pub fn spawn_rotation(self: &Arc<Self>, shared: Arc<Shared>) {
        let epochs = self.clone();
        tokio::spawn(async move {
            let mut next = 2;
            loop {
                tokio::time::sleep(Duration::from_secs(EPOCH_SECONDS)).await;
                let (epochs, shared) = (epochs.clone(), shared.clone());
                let number = next;
                let quoted = tokio::task::spawn_blocking(move || {
                    let current = quote(&shared, &epochs.tls_spki, number)?;
                    if let Ok(mut slot) = epochs.current.write() {
                        *slot = Some(Arc::new(current));
                    }
                    anyhow::Ok(())
                })
                .await;
                match quoted {
                    Ok(Ok(())) => next += 1,
                    Ok(Err(e)) => eprintln!(
                        "blindfold-enclave: epoch {number} not quoted (the last one ages out): {e:#}"
                    ),
                    Err(_) => eprintln!("blindfold-enclave: epoch {number} not quoted: the task failed"),
                }
            }
        });
    }

    /// This session's evidence: the current epoch and its evidence key's
    /// signature over `nonce` and the session's `exporter`; `None` before
    /// any epoch was quoted.
    pub fn session(&self, nonce: &[u8], exporter: &[u8]) -> Option<SessionEvidenceV1> {
        let current = match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }?;
        let signed = session_signed_bytes(nonce, &self.tls_spki, exporter, &current.quote_sha256);
        Some(SessionEvidenceV1 {
            blindfold_session: SessionEvidenceV1::VERSION,
            epoch: current.evidence.clone(),
            signature: current.key.sign_der(&signed),
        })
    }
}

/// Makes epoch `number`'s evidence key and quotes it now (the TPM held for
/// the quote only).
fn quote(shared: &Shared, tls_spki: &[u8], number: u64) -> anyhow::Result<Current> {
    let key = TlsKey::generate().context("evidence key")?;
    let evidence_key = key.spki_der().context("evidence key")?;
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let tls_spki_sha256 = hex::encode(Sha256::digest(tls_spki));
    let qualifying = epoch_qualifying_data(&evidence_key, &tls_spki_sha256, number, time);
    let evidence = {
        let mut tpm = lock(&shared.tpm)?;
        blindfold_attester::evidence::quoted(&mut tpm, &shared.state, &qualifying)
            .context("quoting the epoch")?
    };
    let evidence = EpochEvidenceV1 {
        blindfold_epoch: EpochEvidenceV1::VERSION,
        epoch: number,
        time,
        evidence_key,
        tls_spki_sha256,
        evidence,
    };
    Ok(Current {
        key,
        quote_sha256: evidence.quote_sha256(),
        evidence,
    })
}

fn lock<T>(m: &Mutex<T>) -> anyhow::Result<std::sync::MutexGuard<'_, T>> {
    m.lock().map_err(|_| anyhow::anyhow!("TPM lock poisoned"))
}
