//! Building the evidence answer (`docs/evidence.md`).

use base64::Engine as _;
use blindfold_attest::binding::client_qualifying_data;
use blindfold_attester::Tpm;
use serde_json::{json, Value};

use crate::measure::StartState;

/// PCRs every quote covers.
pub const QUOTED_PCRS: [u32; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// Quotes PCRs 0-15 in every active bank with the client binding and
/// returns the evidence JSON.
pub fn evidence(
    tpm: &mut Tpm,
    state: &StartState,
    nonce: &[u8],
    spki: &[u8],
    exporter: &[u8],
) -> anyhow::Result<Value> {
    let qualifying = client_qualifying_data(nonce, spki, exporter);
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
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(json!({
        "blindfold_evidence": 1,
        "platform": state.platform,
        "quote": {"message": b64.encode(&quote.message), "signature": b64.encode(&quote.signature)},
        "pcrs": pcrs.to_hex_map(),
        "ak_public": b64.encode(&state.ak_public),
        "ak_cert_chain": [b64.encode(&state.ak_cert)],
        "firmware_log": null,
        "runtime_log": state.log.to_cel(),
    }))
}
