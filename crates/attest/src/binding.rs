//! The binding of evidence to a TLS session: what goes into a quote's
//! qualifying data (DESIGN.md, "Evidence and the binding to TLS").
//!
//! `qualifyingData = SHA-256(lp(purpose) || lp(nonce) || lp(SHA-256(SPKI)) || lp(exporter))`
//! where `lp(x)` is `x` preceded by its length as a big-endian `u32`, the
//! purpose is a fixed label, the SPKI is the TLS leaf's
//! SubjectPublicKeyInfo (DER), and the exporter is 32 bytes of RFC 8446
//! keying material from *this* session with [`EXPORTER_LABEL`]. Binding the
//! session, not only the key, defeats a relay even by someone holding the
//! enclave's TLS key.

use blindfold_crypto::{default_provider, HashAlg};

/// Purpose label for evidence a client asks for.
pub const CLIENT_PURPOSE: &str = "blindfold/evidence/v1/client";
/// TLS exporter label.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-blindfold-evidence-v1";
/// Bytes of exported keying material.
pub const EXPORTER_LEN: usize = 32;
/// Bytes of a client nonce.
pub const NONCE_LEN: usize = 32;

/// The qualifying data of a client evidence quote.
pub fn client_qualifying_data(nonce: &[u8], leaf_spki_der: &[u8], exporter: &[u8]) -> [u8; 32] {
    let p = default_provider();
    let spki_hash = p.hash(HashAlg::Sha256, &[leaf_spki_der]);
    let fields: [&[u8]; 4] = [CLIENT_PURPOSE.as_bytes(), nonce, spki_hash.as_bytes(), exporter];
    let lens: Vec<[u8; 4]> = fields.iter().map(|f| (f.len() as u32).to_be_bytes()).collect();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(8);
    for (f, l) in fields.iter().zip(&lens) {
        parts.push(l);
        parts.push(f);
    }
    let d = p.hash(HashAlg::Sha256, &parts);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_bytes());
    out
}
