//! Building the evidence answer: a `blindfold_protocol::EvidenceV1`
//! (`docs/evidence.md`), the same type the verifier reads.

use blindfold_crypto::HashAlg;
use blindfold_protocol::{qualifying_data, EvidenceV1, PlatformReportV1, Purpose, QuoteV1, RuntimeLog};

use crate::error::Error;
use crate::layout::{PlatformLayout, ReportSource};
use crate::raw::RawTpm;
use crate::tpm::Tpm;

/// PCRs every quote covers.
pub const QUOTED_PCRS: [u32; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// What the attester knows after start-up: the banks, the runtime log, the
/// AK and what vouches for it.
#[derive(Debug)]
pub struct StartState {
    /// Active PCR banks.
    pub banks: Vec<HashAlg>,
    /// The runtime event log so far.
    pub log: RuntimeLog,
    /// AK public area (`TPMT_PUBLIC`).
    pub ak_public: Vec<u8>,
    /// The AK certificate (DER) where the platform keeps one, then the
    /// intermediates supplied at run time; empty where a hardware report
    /// vouches for the AK instead.
    pub ak_cert_chain: Vec<Vec<u8>>,
    /// Where the platform keeps its AK, certificate and report.
    pub layout: PlatformLayout,
    /// The report that roots the AK, collected at start (Azure
    /// confidential VMs); a NitroTPM document is made per quote instead.
    pub platform_report: Option<PlatformReportV1>,
    /// The TPM's TCTI (a NitroTPM document goes over a second channel).
    pub tcti: String,
    /// Platform name for evidence.
    pub platform: String,
    /// The firmware's event log (a measured image; none in process mode).
    pub firmware_log: Option<Vec<u8>>,
}

/// Quotes PCRs 0-15 in every active bank with the client-session binding
/// and returns the evidence document.
pub fn evidence(
    tpm: &mut Tpm,
    state: &StartState,
    nonce: &[u8],
    spki: &[u8],
    exporter: &[u8],
) -> Result<EvidenceV1, Error> {
    quoted(
        tpm,
        state,
        &qualifying_data(Purpose::ClientSession, nonce, spki, exporter),
    )
}

/// Quotes PCRs 0-15 in every active bank (or the banks the platform's
/// layout names) over `qualifying` (the caller's
/// purpose binding: a client session's or a key release's) and returns
/// the evidence document, with the platform's report where it has one.
pub fn quoted(tpm: &mut Tpm, state: &StartState, qualifying: &[u8; 32]) -> Result<EvidenceV1, Error> {
    let qualifying = *qualifying;
    let banks = state.layout.quoted_banks().unwrap_or(&state.banks);
    // Read, quote, read again: an extend in between (firmware-side PCRs may
    // move) would make the values disagree with the quote; retry then.
    let mut attempt = 0;
    let (quote, pcrs) = loop {
        let before = tpm.read_pcrs(banks, &QUOTED_PCRS)?;
        let quote = tpm.quote(&qualifying, banks, &QUOTED_PCRS)?;
        let after = tpm.read_pcrs(banks, &QUOTED_PCRS)?;
        attempt += 1;
        if before == after || attempt == 3 {
            break (quote, after);
        }
    };
    let platform_report = if state.layout.report == ReportSource::NitroDocument {
        Some(nitro_document(tpm, state, &qualifying)?)
    } else {
        state.platform_report.clone()
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
        ak_cert_chain: state.ak_cert_chain.clone(),
        firmware_log: state.firmware_log.clone(),
        // The log in the quoted banks: a verifier replays each bank it
        // names and needs each quoted.
        runtime_log: state.log.records_in(banks),
        platform_report,
    })
}

/// A NitroTPM attestation document whose nonce is `qualifying` and whose
/// public key is the AK (SubjectPublicKeyInfo): the document vouches for
/// the key the quote is signed by, and for this session.
fn nitro_document(
    tpm: &mut Tpm,
    state: &StartState,
    qualifying: &[u8; 32],
) -> Result<PlatformReportV1, Error> {
    let ak = blindfold_tpm::TpmPublic::parse_tpmt(&state.ak_public)?;
    let spki = ak.key.to_spki_der()?;
    let mut raw = RawTpm::open(&state.tcti)?;
    let document = tpm.nitro_document(&mut raw, qualifying, &spki)?;
    Ok(PlatformReportV1::NitroDocument { document })
}
