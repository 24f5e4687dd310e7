//! Epoch evidence (`blindfold_protocol::epoch`, `docs/epoch-evidence.md`):
//! the per-boot evidence key, one quote per epoch binding it to this
//! boot's TLS key, and the per-session signature that makes a new attested
//! session cost one signature instead of one TPM quote.
//!
//! The evidence key is a P-256 key made in memory when the server starts
//! and never written anywhere. The first epoch is quoted before the server
//! listens; a task quotes the next every [`EPOCH_SECONDS`]. If a quote
//! fails, the last epoch is kept and ages out (clients refuse it once it
//! is older than their maximum); per-session evidence is unaffected.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use blindfold_protocol::epoch::{
    epoch_qualifying_data, session_signed_bytes, EpochEvidenceV1, SessionEvidenceV1, EPOCH_SECONDS,
};
use sha2::{Digest as _, Sha256};

use crate::server::Shared;
use crate::tls_key::TlsKey;

/// The evidence key and the current epoch.
#[derive(Debug)]
pub struct Epochs {
    key: TlsKey,
    spki: Vec<u8>,
    tls_spki: Arc<Vec<u8>>,
    current: RwLock<Arc<Current>>,
}

#[derive(Debug)]
struct Current {
    evidence: EpochEvidenceV1,
    quote_sha256: [u8; 32],
}

impl Epochs {
    /// Makes the evidence key and quotes the first epoch for the TLS key
    /// whose SPKI is `tls_spki`.
    pub fn start(shared: &Shared, tls_spki: Arc<Vec<u8>>) -> anyhow::Result<Epochs> {
        let key = TlsKey::generate().context("evidence key")?;
        let spki = key.spki_der().context("evidence key")?;
        let first = quote(shared, &spki, &tls_spki, 1)?;
        Ok(Epochs {
            key,
            spki,
            tls_spki,
            current: RwLock::new(Arc::new(first)),
        })
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
                    let current = quote(&shared, &epochs.spki, &epochs.tls_spki, number)?;
                    if let Ok(mut slot) = epochs.current.write() {
                        *slot = Arc::new(current);
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

    /// This session's evidence: the current epoch and the evidence key's
    /// signature over `nonce` and the session's `exporter`.
    pub fn session(&self, nonce: &[u8], exporter: &[u8]) -> SessionEvidenceV1 {
        let current = match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let signed = session_signed_bytes(nonce, &self.tls_spki, exporter, &current.quote_sha256);
        SessionEvidenceV1 {
            blindfold_session: SessionEvidenceV1::VERSION,
            epoch: current.evidence.clone(),
            signature: self.key.sign_der(&signed),
        }
    }
}

/// Quotes epoch `number` now (the TPM held for the quote only).
fn quote(shared: &Shared, evidence_key: &[u8], tls_spki: &[u8], number: u64) -> anyhow::Result<Current> {
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let tls_spki_sha256 = hex::encode(Sha256::digest(tls_spki));
    let qualifying = epoch_qualifying_data(evidence_key, &tls_spki_sha256, number, time);
    let evidence = {
        let mut tpm = lock(&shared.tpm)?;
        blindfold_attester::evidence::quoted(&mut tpm, &shared.state, &qualifying)
            .context("quoting the epoch")?
    };
    let evidence = EpochEvidenceV1 {
        blindfold_epoch: EpochEvidenceV1::VERSION,
        epoch: number,
        time,
        evidence_key: evidence_key.to_vec(),
        tls_spki_sha256,
        evidence,
    };
    Ok(Current {
        quote_sha256: evidence.quote_sha256(),
        evidence,
    })
}

fn lock<T>(m: &Mutex<T>) -> anyhow::Result<std::sync::MutexGuard<'_, T>> {
    m.lock().map_err(|_| anyhow::anyhow!("TPM lock poisoned"))
}
