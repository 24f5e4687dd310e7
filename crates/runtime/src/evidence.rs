//! Building the evidence answer: a `blindfold_protocol::EvidenceV1`
//! (`docs/evidence.md`).

use blindfold_attester::Tpm;
use blindfold_protocol::{qualifying_data, EvidenceV1, Purpose, QuoteV1};

use crate::measure::StartState;

/// PCRs every quote covers.
pub const QUOTED_PCRS: [u32; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// Quotes PCRs 0-15 in every active bank with the client-session binding
/// and returns the evidence document.
pub fn evidence(
    tpm: &mut Tpm,
    state: &StartState,
    nonce: &[u8],
    spki: &[u8],
    exporter: &[u8],
) -> anyhow::Result<EvidenceV1> {
    quoted(
        tpm,
        state,
        &qualifying_data(Purpose::ClientSession, nonce, spki, exporter),
    )
}

/// Quotes PCRs 0-15 in every active bank over `qualifying` (the caller's
/// purpose binding: a client session's or a key release's) and returns
/// the evidence document.
pub fn quoted(tpm: &mut Tpm, state: &StartState, qualifying: &[u8; 32]) -> anyhow::Result<EvidenceV1> {
    let qualifying = *qualifying;
    // Read, quote, read again: an extend in between (firmware-side PCRs may
    // move) would make the values disagree with the quote; retry then.
    let mut attempt = 0;
    let (quote, pcrs) = loop {
        let before = tpm.read_pcrs(&state.banks, &QUOTED_PCRS)?;
        let quote = tpm.quote(&qualifying, &state.banks, &QUOTED_PCRS)?;
        let after = tpm.read_pcrs(&state.banks, &QUOTED_PCRS)?;
        attempt += 1;
        if before == after || attempt == 3 {
            break (quote, after);
        }
    };
    Ok(EvidenceV1 {
        blindfold_evidence: EvidenceV1::VERSION,
        platform: state.platform.clone(),
        quote: QuoteV1 {
            message: quote.message,
            signature: quote.signature,
        },
        pcrs,
        ak_public: state.ak_public.clone(),
        ak_cert_chain: vec![state.ak_cert.clone()],
        firmware_log: state.firmware_log.clone(),
        runtime_log: state.log.to_records(),
    })
}
