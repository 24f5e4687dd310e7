//! Hash algorithms and fixed-capacity digests.

use std::fmt;

/// A hash algorithm Blindfold can compute. Identifiers follow the TPM 2.0
/// `TPM_ALG_ID` registry so that parsers can map wire values directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    /// SHA-1 (legacy: accepted for event-log replay, refused for signatures unless opted in).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// SM3-256 (Chinese national standard), seen as a PCR bank in some logs.
    Sm3_256,
}

impl HashAlg {
    /// Every algorithm, in a stable order.
    pub const ALL: [HashAlg; 5] = [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
        HashAlg::Sm3_256,
    ];

    /// Digest length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 | HashAlg::Sm3_256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The TPM 2.0 `TPM_ALG_ID` of this algorithm.
    pub const fn tpm_alg_id(self) -> u16 {
        match self {
            HashAlg::Sha1 => 0x0004,
            HashAlg::Sha256 => 0x000B,
            HashAlg::Sha384 => 0x000C,
            HashAlg::Sha512 => 0x000D,
            HashAlg::Sm3_256 => 0x0012,
        }
    }

    /// The algorithm with this `TPM_ALG_ID`, if it is a hash we support.
    pub const fn from_tpm_alg_id(id: u16) -> Option<HashAlg> {
        match id {
            0x0004 => Some(HashAlg::Sha1),
            0x000B => Some(HashAlg::Sha256),
            0x000C => Some(HashAlg::Sha384),
            0x000D => Some(HashAlg::Sha512),
            0x0012 => Some(HashAlg::Sm3_256),
            _ => None,
        }
    }

    /// Lower-case name as tpm2-tools and our JSON use it (`sha256`, `sm3_256`).
    pub const fn name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "sha1",
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
            HashAlg::Sm3_256 => "sm3_256",
        }
    }

    /// Parses a name as printed by [`HashAlg::name`] (also accepts `sm3`).
    pub fn from_name(name: &str) -> Option<HashAlg> {
        match name.to_ascii_lowercase().as_str() {
            "sha1" => Some(HashAlg::Sha1),
            "sha256" => Some(HashAlg::Sha256),
            "sha384" => Some(HashAlg::Sha384),
            "sha512" => Some(HashAlg::Sha512),
            "sm3_256" | "sm3" => Some(HashAlg::Sm3_256),
            _ => None,
        }
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A digest produced by (or claimed for) one [`HashAlg`]; stored inline so
/// that event-log replay does not allocate per event.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    alg: HashAlg,
    bytes: [u8; 64],
}

impl Digest {
    /// A digest of `alg` from `bytes`; `None` when the length is not `alg`'s.
    pub fn new(alg: HashAlg, bytes: &[u8]) -> Option<Digest> {
        if bytes.len() != alg.output_len() {
            return None;
        }
        let mut buf = [0u8; 64];
        buf[..bytes.len()].copy_from_slice(bytes);
        Some(Digest { alg, bytes: buf })
    }

    /// The all-zero value of `alg` (a PCR after reset).
    pub fn zero(alg: HashAlg) -> Digest {
        Digest {
            alg,
            bytes: [0u8; 64],
        }
    }

    /// The algorithm this digest belongs to.
    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.alg.output_len()]
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.alg, self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
