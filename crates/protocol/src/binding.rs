//! What a quote's qualifying data binds (DESIGN.md, "Evidence and the
//! binding to TLS").
//!
//! `qualifyingData = SHA-256(lp(purpose) || lp(nonce) || lp(SHA-256(SPKI)) || lp(exporter))`
//! where `lp(x)` is `x` preceded by its length as a big-endian `u32`, the
//! purpose is the label of a [`Purpose`], the SPKI is the TLS leaf's
//! SubjectPublicKeyInfo (DER), and the exporter is [`EXPORTER_LEN`] bytes of
//! RFC 8446 keying material from *this* session with [`EXPORTER_LABEL`].
//! Binding the session, not only the key, defeats a relay even by someone
//! holding the enclave's TLS key; the purpose keeps evidence asked for one
//! reason (a client session) from being used for another (a key release).

use blindfold_crypto::{default_provider, HashAlg};

/// TLS exporter label.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-blindfold-evidence-v1";
/// Bytes of exported keying material.
pub const EXPORTER_LEN: usize = 32;
/// Bytes of a client nonce.
pub const NONCE_LEN: usize = 32;

/// Why evidence was asked for. Each purpose has its own label in the
/// qualifying data, so a quote made for one purpose never verifies as
/// another.
///
/// Extension rule: new purposes are new variants with new labels; a quote
/// made for a purpose an older verifier does not know simply does not
/// verify there (its qualifying data differs), it is never mistaken for
/// one it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// A client checks the enclave before sending prompts over this session.
    ClientSession,
    /// A key broker checks the enclave before releasing a model key to it.
    KeyRelease,
    /// Anyone, later, checks that a per-boot receipt key belongs to a
    /// measured enclave (`crate::receipt`).
    Receipt,
    /// A client that opted in checks a session against the quote of the
    /// enclave's current epoch (`crate::epoch`).
    Epoch,
}

impl Purpose {
    /// The label measured into the qualifying data.
    pub fn label(self) -> &'static str {
        match self {
            Purpose::ClientSession => "blindfold/evidence/v1/client",
            Purpose::KeyRelease => "blindfold/evidence/v1/key-release",
            Purpose::Receipt => "blindfold/evidence/v1/receipt",
            Purpose::Epoch => "blindfold/evidence/v1/epoch",
        }
    }
}

/// The qualifying data of a quote made for `purpose` over a session whose
/// leaf key is `leaf_spki_der` and whose exported keying material is
/// `exporter`, answering `nonce`.
pub fn qualifying_data(purpose: Purpose, nonce: &[u8], leaf_spki_der: &[u8], exporter: &[u8]) -> [u8; 32] {
    let spki_hash = default_provider().hash(HashAlg::Sha256, &[leaf_spki_der]);
    length_prefixed_sha256(&[purpose.label().as_bytes(), nonce, spki_hash.as_bytes(), exporter])
}

/// SHA-256 over each field preceded by its length as a big-endian `u32`:
/// no two different field lists hash the same bytes.
pub(crate) fn length_prefixed_sha256(fields: &[&[u8]]) -> [u8; 32] {
    let lens: Vec<[u8; 4]> = fields.iter().map(|f| (f.len() as u32).to_be_bytes()).collect();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(2 * fields.len());
    for (f, l) in fields.iter().zip(&lens) {
        parts.push(l);
        parts.push(f);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(default_provider().hash(HashAlg::Sha256, &parts).as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_bind_differently() {
        let a = qualifying_data(Purpose::ClientSession, &[1; 32], b"spki", &[2; 32]);
        let b = qualifying_data(Purpose::KeyRelease, &[1; 32], b"spki", &[2; 32]);
        let c = qualifying_data(Purpose::Receipt, &[1; 32], b"spki", &[2; 32]);
        let d = qualifying_data(Purpose::Epoch, &[1; 32], b"spki", &[2; 32]);
        let all = [a, b, c, d];
        for (i, x) in all.iter().enumerate() {
            assert!(all[i + 1..].iter().all(|y| y != x));
        }
    }

    #[test]
    fn length_prefixes_separate_fields() {
        // Moving a byte from the nonce to the exporter changes the result.
        let a = qualifying_data(Purpose::ClientSession, &[7; 33], b"k", &[7; 31]);
        let b = qualifying_data(Purpose::ClientSession, &[7; 32], b"k", &[7; 32]);
        assert_ne!(a, b);
    }
}
