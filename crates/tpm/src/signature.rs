//! `TPMT_SIGNATURE` (Part 2, 11.3.4) and raw signatures.

use blindfold_crypto::{HashAlg, PublicKey, Signature, SignatureScheme};

use crate::alg;
use crate::error::WireError;
use crate::reader::Reader;

const MAX_SIG: usize = 512;
const MAX_ECC: usize = 66;

/// A signature together with the scheme it was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmSignature {
    /// Scheme and hash.
    pub scheme: SignatureScheme,
    /// The signature value.
    pub signature: Signature,
}

impl TpmSignature {
    /// Parses a `TPMT_SIGNATURE` (RSASSA, RSAPSS or ECDSA); the input must
    /// hold exactly one.
    pub fn parse(bytes: &[u8]) -> Result<TpmSignature, WireError> {
        const S: &str = "TPMT_SIGNATURE";
        let mut r = Reader::new(bytes, S);
        let sig_alg = r.u16_be()?;
        let hash_id = r.u16_be()?;
        let hash = HashAlg::from_tpm_alg_id(hash_id).ok_or(WireError::UnsupportedAlgorithm {
            structure: S,
            field: "hash",
            alg: hash_id,
        })?;
        let out = match sig_alg {
            alg::RSASSA | alg::RSAPSS => {
                let sig = r.tpm2b("TPM2B_PUBLIC_KEY_RSA", MAX_SIG)?.to_vec();
                let scheme = if sig_alg == alg::RSASSA {
                    SignatureScheme::RsaPkcs1v15(hash)
                } else {
                    SignatureScheme::RsaPss(hash)
                };
                TpmSignature {
                    scheme,
                    signature: Signature::Rsa(sig),
                }
            }
            alg::ECDSA => {
                let r_val = r.tpm2b("TPMS_SIGNATURE_ECDSA.signatureR", MAX_ECC)?.to_vec();
                let s_val = r.tpm2b("TPMS_SIGNATURE_ECDSA.signatureS", MAX_ECC)?.to_vec();
                TpmSignature {
                    scheme: SignatureScheme::Ecdsa(hash),
                    signature: Signature::Ecdsa { r: r_val, s: s_val },
                }
            }
            other => {
                return Err(WireError::UnsupportedAlgorithm {
                    structure: S,
                    field: "signature scheme (supported: RSASSA, RSAPSS, ECDSA)",
                    alg: other,
                })
            }
        };
        r.finish()?;
        Ok(out)
    }

    /// A raw signature (no `TPMT_SIGNATURE` header): the RSA signature
    /// bytes, or ECDSA `r || s` with each half the curve's field size.
    /// `scheme` defaults to the TPM's usual one for the key: RSASSA-SHA256,
    /// ECDSA-SHA256 on P-256, ECDSA-SHA384 on P-384.
    pub fn raw(
        key: &PublicKey,
        bytes: &[u8],
        scheme: Option<SignatureScheme>,
    ) -> Result<TpmSignature, WireError> {
        const S: &str = "raw signature";
        match key {
            PublicKey::Rsa { .. } => Ok(TpmSignature {
                scheme: scheme.unwrap_or(SignatureScheme::RsaPkcs1v15(HashAlg::Sha256)),
                signature: Signature::Rsa(bytes.to_vec()),
            }),
            PublicKey::Ecc { curve, .. } => {
                let n = curve.field_len();
                if bytes.len() != 2 * n {
                    return Err(WireError::InvalidValue {
                        structure: S,
                        field: "length (ECDSA r||s)",
                        value: format!("{} bytes, expected {}", bytes.len(), 2 * n),
                    });
                }
                let default = if n == 48 { HashAlg::Sha384 } else { HashAlg::Sha256 };
                Ok(TpmSignature {
                    scheme: scheme.unwrap_or(SignatureScheme::Ecdsa(default)),
                    signature: Signature::Ecdsa {
                        r: bytes[..n].to_vec(),
                        s: bytes[n..].to_vec(),
                    },
                })
            }
        }
    }
}
