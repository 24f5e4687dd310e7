//! # blindfold-fuzz-targets
//!
//! Every parser that reads bytes an attacker chooses, as one function
//! each ([`TARGETS`]): TPM structures (`TPMS_ATTEST`, `TPMT_PUBLIC`,
//! `TPMT_SIGNATURE`), TCG and CC event logs, Blindfold's evidence (and the
//! CEL runtime log in it), every foreign evidence layout (COSE/CBOR Nitro
//! documents, HCL reports inside trustee's JSON, go-tpm-tools protobufs),
//! SEV-SNP reports, TD quotes, X.509 certificates, PE images, reference
//! files and signed bundles, signed receipts, GGUF model files. `fuzz/` (outside the workspace: `cargo fuzz`)
//! drives each with libFuzzer; `tests/replay.rs` runs the kept corpora
//! (`fuzz/corpus/<target>/`) and the shared samples through the same
//! functions as ordinary tests, so a crash found once stays fixed.
//!
//! What it is **not**: a place for checks. Each function only parses; a
//! parser's answer, error or not, is fine; a panic, a hang or an abort is
//! the bug.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// `TPMS_ATTEST` (a quote's signed message).
pub fn tpms_attest(data: &[u8]) {
    let _ = blindfold_tpm::QuoteAttest::parse(data);
}

/// `TPMT_PUBLIC` and `TPM2B_PUBLIC`.
pub fn tpmt_public(data: &[u8]) {
    let _ = blindfold_tpm::TpmPublic::parse_tpmt(data);
    let _ = blindfold_tpm::TpmPublic::parse_tpm2b(data);
}

/// `TPMT_SIGNATURE`.
pub fn tpmt_signature(data: &[u8]) {
    let _ = blindfold_tpm::TpmSignature::parse(data);
}

/// A TCG firmware event log, replayed.
pub fn event_log(data: &[u8]) {
    if let Ok(log) = blindfold_eventlog::EventLog::parse(data) {
        let _ = blindfold_eventlog::replay(&log, Default::default());
    }
}

/// A confidential-computing event log (CCEL).
pub fn cc_event_log(data: &[u8]) {
    let _ = blindfold_eventlog::CcEventLog::parse(data);
}

/// Any evidence layout (`Evidence::parse`: Blindfold's JSON with its CEL
/// runtime log, BlindLlama-v2, trustee TPM and Azure (HCL reports), vaportpm,
/// Nitro documents as bytes, hex or base64, go-tpm-tools protobufs), and
/// the session evidence of a client that accepts epoch evidence.
pub fn evidence(data: &[u8]) {
    let _ = blindfold_attest::Evidence::parse(data);
    if let Ok(doc) = blindfold_protocol::EvidenceV1::from_json(data) {
        let _ = blindfold_protocol::RuntimeLog::from_records(&doc.runtime_log);
    }
    if let Ok(session) = blindfold_protocol::epoch::SessionEvidenceV1::from_json(data) {
        let _ = session.epoch.qualifying_data();
        let _ = blindfold_attest::Evidence::parse(&session.epoch.evidence.to_json());
        let facts = blindfold_attest::epoch::SessionFacts {
            nonce: &[0; 32],
            leaf_spki_der: &session.epoch.evidence_key,
            exporter: &[0; 32],
        };
        let _ = blindfold_attest::epoch::check_session(
            &session,
            &facts,
            std::time::SystemTime::UNIX_EPOCH,
            std::time::Duration::from_secs(60),
        );
    }
}

/// Evidence as a directory's files (kinvolk's HCL report layout, tpm2-tools
/// outputs): the input split in two files at its first byte's offset.
pub fn evidence_files(data: &[u8]) {
    let cut = data.first().map_or(0, |b| usize::from(*b).min(data.len()));
    let (a, b) = data.split_at(cut);
    let _ = blindfold_attest::Evidence::parse_directory(&[a.to_vec(), b.to_vec()]);
}

/// An AWS Nitro attestation document (`COSE_Sign1` over CBOR).
pub fn nitro_document(data: &[u8]) {
    let _ = blindfold_nitro::AttestationDocument::parse(data);
}

/// An SEV-SNP attestation report.
pub fn snp_report(data: &[u8]) {
    let _ = blindfold_snp::SnpReport::parse(data);
}

/// A TDX quote.
pub fn td_quote(data: &[u8]) {
    let _ = blindfold_tdx::TdQuote::parse(data);
}

/// X.509 certificates, DER or PEM.
pub fn x509(data: &[u8]) {
    let _ = blindfold_x509::Certificate::from_der(data);
    let _ = blindfold_x509::parse_certificates(data);
}

/// A PE image (a UKI, a stub).
pub fn pe_image(data: &[u8]) {
    let _ = blindfold_measure::pe::PeImage::parse(data);
}

/// Reference values (every format) and signed-bundle envelopes.
pub fn reference(data: &[u8]) {
    let _ = blindfold_attest::ReferenceValues::parse(data);
    let _ = blindfold_attest::bundle::Envelope::parse(data);
}

/// Signed receipts: a receipt, an issued one (with its salt), and a
/// streamed answer that carries one.
pub fn receipt(data: &[u8]) {
    use blindfold_protocol::receipt::{IssuedReceiptV1, ReceiptV1};
    if let Ok(r) = ReceiptV1::from_json(data) {
        let _ = r.signed_bytes();
    }
    let _ = IssuedReceiptV1::from_json(data);
    if let Some((_, Ok(issued))) = IssuedReceiptV1::find_in_stream(data) {
        let _ = issued.receipt.signed_bytes();
    }
}

/// GGUF model files, loaded as the enclave loads a model: the header, the
/// metadata, the tensor table, the tensors and the tokenizer built from
/// the metadata (a sealed model's bytes are the owner's, but an enclave
/// must refuse a malformed one, not crash on it).
pub fn gguf(data: &[u8]) {
    let _ = blindfold_engine_candle::ModelSource::Gguf(data).load(&candle_core::Device::Cpu);
}

/// A target: parses its input and ignores the answer.
pub type Target = fn(&[u8]);

/// Every target by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("tpms_attest", tpms_attest),
    ("tpmt_public", tpmt_public),
    ("tpmt_signature", tpmt_signature),
    ("event_log", event_log),
    ("cc_event_log", cc_event_log),
    ("evidence", evidence),
    ("evidence_files", evidence_files),
    ("nitro_document", nitro_document),
    ("snp_report", snp_report),
    ("td_quote", td_quote),
    ("x509", x509),
    ("pe_image", pe_image),
    ("reference", reference),
    ("receipt", receipt),
    ("gguf", gguf),
];
