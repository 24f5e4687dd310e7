//! Library-neutral public keys, signature schemes and signatures.

use std::fmt;

use crate::{CryptoError, HashAlg};

/// An elliptic curve the verifiers support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EccCurve {
    /// NIST P-256 (secp256r1).
    NistP256,
    /// NIST P-384 (secp384r1).
    NistP384,
}

impl EccCurve {
    /// Size of one coordinate (and of `r` and `s`) in bytes.
    pub const fn field_len(self) -> usize {
        match self {
            EccCurve::NistP256 => 32,
            EccCurve::NistP384 => 48,
        }
    }
}

/// A public verification key, independent of any crypto library.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA: big-endian modulus and public exponent.
    Rsa {
        /// Big-endian modulus without leading zero bytes.
        modulus: Vec<u8>,
        /// Public exponent.
        exponent: u32,
    },
    /// An uncompressed point on a NIST curve.
    Ecc {
        /// The curve.
        curve: EccCurve,
        /// Big-endian x coordinate, `curve.field_len()` bytes.
        x: Vec<u8>,
        /// Big-endian y coordinate, `curve.field_len()` bytes.
        y: Vec<u8>,
    },
}

impl PublicKey {
    /// Builds an RSA key, stripping leading zero bytes of the modulus.
    pub fn rsa(modulus: &[u8], exponent: u32) -> PublicKey {
        let start = modulus.iter().position(|b| *b != 0).unwrap_or(modulus.len());
        PublicKey::Rsa {
            modulus: modulus[start..].to_vec(),
            exponent,
        }
    }

    /// Builds an ECC key, left-padding coordinates to the field size.
    pub fn ecc(curve: EccCurve, x: &[u8], y: &[u8]) -> Result<PublicKey, CryptoError> {
        let pad = |v: &[u8], what: &str| -> Result<Vec<u8>, CryptoError> {
            let n = curve.field_len();
            fixed_width(v, n).ok_or_else(|| {
                CryptoError::InvalidKey(format!(
                    "{what} coordinate is {} bytes, more than the {n} of {curve:?}",
                    strip_leading_zeros(v).len()
                ))
            })
        };
        Ok(PublicKey::Ecc {
            curve,
            x: pad(x, "x")?,
            y: pad(y, "y")?,
        })
    }

    /// Decodes a DER `SubjectPublicKeyInfo` (RSA or EC P-256/P-384).
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, CryptoError> {
        crate::rustcrypto::decode_spki(der)
    }

    /// Decodes a PEM `PUBLIC KEY` block holding a `SubjectPublicKeyInfo`.
    pub fn from_spki_pem(pem: &str) -> Result<PublicKey, CryptoError> {
        crate::rustcrypto::decode_spki_pem(pem)
    }

    /// Encodes the key as a DER `SubjectPublicKeyInfo`.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        crate::rustcrypto::encode_spki(self)
    }

    /// Key size in bits (RSA modulus or curve size).
    pub fn bits(&self) -> usize {
        match self {
            PublicKey::Rsa { modulus, .. } => {
                let lead = modulus.first().map_or(0, |b| 8 - b.leading_zeros() as usize);
                (modulus.len().saturating_sub(1)) * 8 + lead
            }
            PublicKey::Ecc { curve, .. } => curve.field_len() * 8,
        }
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKey::Rsa { .. } => write!(f, "RSA-{}", self.bits()),
            PublicKey::Ecc {
                curve: EccCurve::NistP256,
                ..
            } => f.write_str("ECC P-256"),
            PublicKey::Ecc {
                curve: EccCurve::NistP384,
                ..
            } => f.write_str("ECC P-384"),
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A signature scheme with its hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1v15(HashAlg),
    /// RSASSA-PSS (salt length equal to the hash length, or the maximum).
    RsaPss(HashAlg),
    /// ECDSA.
    Ecdsa(HashAlg),
}

impl SignatureScheme {
    /// The hash algorithm the scheme signs with.
    pub fn hash_alg(self) -> HashAlg {
        match self {
            SignatureScheme::RsaPkcs1v15(h) | SignatureScheme::RsaPss(h) | SignatureScheme::Ecdsa(h) => h,
        }
    }
}

impl fmt::Display for SignatureScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureScheme::RsaPkcs1v15(h) => write!(f, "rsassa-{h}"),
            SignatureScheme::RsaPss(h) => write!(f, "rsapss-{h}"),
            SignatureScheme::Ecdsa(h) => write!(f, "ecdsa-{h}"),
        }
    }
}

/// Signature bytes in the shape the scheme needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// An RSA signature (big-endian integer, usually the modulus length).
    Rsa(Vec<u8>),
    /// An ECDSA signature as its two big-endian integers.
    Ecdsa {
        /// The `r` value.
        r: Vec<u8>,
        /// The `s` value.
        s: Vec<u8>,
    },
}

pub(crate) fn strip_leading_zeros(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
    &v[start..]
}

/// The big-endian integer `v` at exactly `n` bytes (leading zeros dropped,
/// then left-padded); `None` when it does not fit. Curve coordinates and
/// ECDSA `r`, `s` all take this shape.
pub(crate) fn fixed_width(v: &[u8], n: usize) -> Option<Vec<u8>> {
    let v = strip_leading_zeros(v);
    let mut out = vec![0u8; n.checked_sub(v.len())?];
    out.extend_from_slice(v);
    Some(out)
}

/// ECDSA `r || s`, each at `n` bytes.
pub(crate) fn ecdsa_fixed(r: &[u8], s: &[u8], n: usize) -> Result<Vec<u8>, CryptoError> {
    let part = |v: &[u8], what: &str| {
        fixed_width(v, n).ok_or_else(|| {
            CryptoError::KeySchemeMismatch(format!(
                "ECDSA {what} is {} bytes, longer than the curve's {n}",
                v.len()
            ))
        })
    };
    let mut out = part(r, "r")?;
    out.extend_from_slice(&part(s, "s")?);
    Ok(out)
}

impl Signature {
    /// An ECDSA signature from its DER `SEQUENCE { r INTEGER, s INTEGER }`
    /// (X.509 certificates, OpenSSL, some attestation formats).
    pub fn ecdsa_from_der(bytes: &[u8]) -> Result<Signature, CryptoError> {
        use der::{asn1::UintRef, Decode, Reader, SliceReader};
        let bad = |e: der::Error| CryptoError::KeySchemeMismatch(format!("not a DER ECDSA signature: {e}"));
        let mut reader = SliceReader::new(bytes).map_err(bad)?;
        let (r, s) = reader
            .sequence(|seq| {
                Ok((
                    UintRef::decode(seq)?.as_bytes().to_vec(),
                    UintRef::decode(seq)?.as_bytes().to_vec(),
                ))
            })
            .map_err(bad)?;
        reader.finish(()).map_err(bad)?;
        Ok(Signature::Ecdsa { r, s })
    }
}
