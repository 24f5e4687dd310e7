//! `blindfold receipt verify`: a signed receipt against the evidence it
//! cites (`blindfold_attest::verify_receipt`), the evidence appraised as
//! `attest verify` appraises it, and the receipt's digests opened with its
//! salt when the bodies are given.

use std::fmt;

use anyhow::anyhow;
use base64::Engine as _;
use blindfold_attest::{open_receipt, verify_receipt, Evidence, Verifier};
use blindfold_crypto::{default_provider, HashAlg};
use blindfold_protocol::receipt::{receipt_qualifying_data, IssuedReceiptV1, ReceiptModel, ReceiptV1};
use blindfold_tpm::Freshness;
use serde::Serialize;

use crate::args::ReceiptVerifyArgs;
use crate::attest_cmd::{evaluate, resolve};
use crate::attest_report::AttestVerifyReport;
use crate::exit::{say, unusable, Failure};
use crate::inputs;

/// What `receipt verify` prints.
#[derive(Debug, Serialize)]
struct ReceiptVerifyReport {
    /// The signature, cited evidence and model event hold (and the
    /// evidence verified).
    holds: bool,
    /// This boot's count of receipts.
    counter: u64,
    /// The model the receipt names.
    model: Option<ReceiptModel>,
    /// SHA-256 of the receipt key's SPKI (hex).
    receipt_key_sha256: String,
    /// SHA-256 of the evidence it cites (hex).
    evidence_sha256: String,
    /// Whether the request body given is the one it signs (`null`: not checked).
    request_matches: Option<bool>,
    /// Whether the response body given is the one it signs (`null`: not checked).
    response_matches: Option<bool>,
    /// The receipt evidence's verification and appraisal.
    evidence: AttestVerifyReport,
}

impl fmt::Display for ReceiptVerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes_no = |v: Option<bool>| match v {
            Some(true) => "matches",
            Some(false) => "DIFFERS",
            None => "not checked",
        };
        writeln!(
            f,
            "receipt:      {}",
            if self.holds { "holds" } else { "DOES NOT HOLD" }
        )?;
        writeln!(f, "counter:      {}", self.counter)?;
        match &self.model {
            Some(m) => writeln!(f, "model:        {} (sha256 {})", m.name, m.sha256)?,
            None => writeln!(f, "model:        none")?,
        }
        writeln!(f, "receipt key:  sha256 {}", self.receipt_key_sha256)?;
        writeln!(f, "evidence:     sha256 {}", self.evidence_sha256)?;
        writeln!(f, "request:      {}", yes_no(self.request_matches))?;
        writeln!(f, "response:     {}", yes_no(self.response_matches))?;
        writeln!(f)?;
        write!(f, "{}", self.evidence)
    }
}

/// A receipt as given: the receipt, its salt if given, and for a saved
/// streamed answer the bytes it covers.
struct Given {
    receipt: ReceiptV1,
    salt: Option<Vec<u8>>,
    streamed_response: Option<Vec<u8>>,
}

fn read_receipt(bytes: &[u8]) -> Result<Given, String> {
    let issued = |i: IssuedReceiptV1| -> Result<(ReceiptV1, Option<Vec<u8>>), String> {
        let salt = hex::decode(&i.salt).map_err(|_| "its salt is not hex".to_string())?;
        Ok((i.receipt, Some(salt)))
    };
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        let (receipt, salt) = match IssuedReceiptV1::from_json(trimmed.as_bytes()) {
            Ok(i) => issued(i)?,
            Err(_) => (
                ReceiptV1::from_json(trimmed.as_bytes()).map_err(|e| e.to_string())?,
                None,
            ),
        };
        return Ok(Given {
            receipt,
            salt,
            streamed_response: None,
        });
    }
    if let Some((covered, found)) = IssuedReceiptV1::find_in_stream(bytes) {
        let (receipt, salt) = issued(found.map_err(|e| e.to_string())?)?;
        return Ok(Given {
            receipt,
            salt,
            streamed_response: Some(covered.to_vec()),
        });
    }
    let json = base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .map_err(|_| {
            "not a receipt: neither JSON, base64 of it, nor a streamed answer carrying one".to_string()
        })?;
    let (receipt, salt) = issued(IssuedReceiptV1::from_json(&json).map_err(|e| e.to_string())?)?;
    Ok(Given {
        receipt,
        salt,
        streamed_response: None,
    })
}

pub fn verify(args: &ReceiptVerifyArgs) -> Result<(), Failure> {
    let check = &args.evidence;
    if check.nonce.is_some() || check.no_freshness {
        return Err(Failure::Unusable(anyhow!(
            "a receipt's evidence is checked against the binding of its receipt key, not a nonce: leave out --nonce and --no-freshness"
        )));
    }
    let given = read_receipt(&inputs::read(&args.receipt)?)
        .map_err(|e| unusable(anyhow!(e), args.receipt.display()))?;
    let request = args.request.as_ref().map(|p| inputs::read(p)).transpose()?;
    let response = match (&args.response, &given.streamed_response) {
        (Some(p), _) => Some(inputs::read(p)?),
        (None, streamed) => streamed.clone(),
    };
    if (request.is_some() || args.response.is_some()) && given.salt.is_none() {
        return Err(Failure::Unusable(anyhow!(
            "{} has no salt, so its digests cannot be opened: give the receipt as the enclave issued it",
            args.receipt.display()
        )));
    }
    let mut resolved = resolve(check)?;
    let receipt = given.receipt;
    resolved.options.freshness = Some(Freshness::Nonce(
        receipt_qualifying_data(&receipt.receipt_key).to_vec(),
    ));
    let evidence_json = inputs::read(&check.evidence)?;
    let evidence = Evidence::parse(&evidence_json).map_err(|e| unusable(e, check.evidence.display()))?;
    let (evidence_report, mut outcome) = evaluate(check, &resolved, &evidence, |options| {
        verify_receipt(&Verifier::new(), &receipt, &evidence_json, options).map(|r| r.evidence)
    });
    let holds = evidence_report.verified;
    let salt = given.salt.as_deref();
    let request_check = salt
        .zip(request.as_deref())
        .map(|(s, body)| open_receipt(&receipt, s, Some(body), None));
    let response_check = salt
        .zip(response.as_deref())
        .map(|(s, body)| open_receipt(&receipt, s, None, Some(body)));
    for e in [&request_check, &response_check]
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_ref().err())
    {
        if outcome.is_ok() {
            outcome = Err(Failure::CheckFailed(anyhow!(e.clone())));
        }
    }
    let request_matches = request_check.map(|c| c.is_ok());
    let response_matches = response_check.map(|c| c.is_ok());
    let report = ReceiptVerifyReport {
        holds,
        counter: receipt.counter,
        model: receipt.model.clone(),
        receipt_key_sha256: default_provider()
            .hash(HashAlg::Sha256, &[&receipt.receipt_key])
            .to_hex(),
        evidence_sha256: receipt.evidence_sha256.clone(),
        request_matches,
        response_matches,
        evidence: evidence_report,
    };
    if check.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Unusable(anyhow!(e)))?
        );
    } else {
        say!("{}", report.to_string().trim_end());
    }
    outcome
}
