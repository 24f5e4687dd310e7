//! The verification report of an attested session, as JSON: what
//! `blindfold verify --json` prints, what the proxy serves at
//! `GET /blindfold/verification`, and what [`crate::Client::report`]
//! returns. Schema in `docs/verification-report.md`.

use blindfold_atls::AttestedSession;
use serde_json::{json, Value};

/// The report for `session` to `addr`.
pub fn verification_report(addr: &str, session: &AttestedSession, reference_kind: &str) -> Value {
    let v = &session.verified;
    let events: Vec<_> = v.runtime_log().map(|l| l.events.clone()).unwrap_or_default();
    json!({
        "verified": true,
        "enclave": addr,
        "platform": v.platform().name(),
        "trust_basis": v.trust_basis().name(),
        "chain": v.chain().map(|c| c.iter().map(|s| json!({"subject": s.subject, "sha256": s.fingerprint})).collect::<Vec<_>>()),
        "binding": {
            "tls_leaf_spki_sha256": session.leaf_spki_sha256,
            "session_exporter": String::from_utf8_lossy(blindfold_protocol::binding::EXPORTER_LABEL),
            "fresh": v.fresh(),
        },
        "reference": reference_kind,
        "appraisal": session.appraisal.to_json(),
        "runtime_events": events,
    })
}

/// The report when verification failed: nothing was sent.
pub fn failure_report(addr: &str, reason: &str) -> Value {
    json!({"verified": false, "enclave": addr, "reason": reason})
}
