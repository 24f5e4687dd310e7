//! `TPMT_PUBLIC` / `TPM2B_PUBLIC` for RSA and ECC keys (Part 2, 12.2).

use blindfold_crypto::{CryptoProvider, EccCurve, HashAlg, PublicKey, SignatureScheme};

use crate::alg;
use crate::error::WireError;
use crate::reader::Reader;

/// `TPMA_OBJECT` bits this crate looks at.
pub mod attributes {
    /// The key cannot leave this TPM.
    pub const FIXED_TPM: u32 = 1 << 1;
    /// The key signs only TPM-generated structures (or decrypts only TPM ones).
    pub const RESTRICTED: u32 = 1 << 16;
    /// The key decrypts.
    pub const DECRYPT: u32 = 1 << 17;
    /// The key signs.
    pub const SIGN: u32 = 1 << 18;
}

const MAX_POLICY: usize = 64;
const MAX_RSA_BYTES: usize = 512;
const MAX_ECC_BYTES: usize = 66;

/// A parsed `TPMT_PUBLIC` of an RSA or ECC key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmPublic {
    /// `nameAlg`.
    pub name_alg: HashAlg,
    /// `objectAttributes` (`TPMA_OBJECT`).
    pub attributes: u32,
    /// The signing scheme the key is bound to (`None` for `TPM_ALG_NULL`).
    pub scheme: Option<SignatureScheme>,
    /// The public key.
    pub key: PublicKey,
    /// The exact bytes of the `TPMT_PUBLIC`, from which the name is computed.
    pub encoded: Vec<u8>,
}

impl TpmPublic {
    /// Parses a `TPMT_PUBLIC`; the input must hold exactly one.
    pub fn parse_tpmt(bytes: &[u8]) -> Result<TpmPublic, WireError> {
        let mut r = Reader::new(bytes, "TPMT_PUBLIC");
        let public = Self::read(&mut r)?;
        r.finish()?;
        Ok(public)
    }

    /// Parses a `TPM2B_PUBLIC` (a `u16` size, then a `TPMT_PUBLIC`).
    pub fn parse_tpm2b(bytes: &[u8]) -> Result<TpmPublic, WireError> {
        let mut r = Reader::new(bytes, "TPM2B_PUBLIC");
        let inner = r.tpm2b("TPM2B_PUBLIC", bytes.len())?;
        r.finish()?;
        Self::parse_tpmt(inner)
    }

    fn read(r: &mut Reader<'_>) -> Result<TpmPublic, WireError> {
        const S: &str = "TPMT_PUBLIC";
        let start = r.clone();
        let key_type = r.u16_be()?;
        let name_alg_id = r.u16_be()?;
        let name_alg = HashAlg::from_tpm_alg_id(name_alg_id).ok_or(WireError::UnsupportedAlgorithm {
            structure: S,
            field: "nameAlg",
            alg: name_alg_id,
        })?;
        let attributes = r.u32_be()?;
        let _auth_policy = r.tpm2b("TPM2B_DIGEST authPolicy", MAX_POLICY)?;
        let (scheme, key) = match key_type {
            alg::RSA => {
                read_symmetric(r)?;
                let scheme = read_scheme(r, "TPMT_RSA_SCHEME")?;
                let _key_bits = r.u16_be()?;
                let exponent = match r.u32_be()? {
                    0 => 65537,
                    e => e,
                };
                let modulus = r.tpm2b("TPM2B_PUBLIC_KEY_RSA", MAX_RSA_BYTES)?;
                (scheme, PublicKey::rsa(modulus, exponent))
            }
            alg::ECC => {
                read_symmetric(r)?;
                let scheme = read_scheme(r, "TPMT_ECC_SCHEME")?;
                let curve_id = r.u16_be()?;
                let curve = match curve_id {
                    0x0003 => EccCurve::NistP256,
                    0x0004 => EccCurve::NistP384,
                    _ => {
                        return Err(WireError::UnsupportedAlgorithm {
                            structure: S,
                            field: "ECC curve",
                            alg: curve_id,
                        })
                    }
                };
                let kdf = r.u16_be()?;
                if kdf != alg::NULL {
                    let _kdf_hash = r.u16_be()?;
                }
                let x = r.tpm2b("TPMS_ECC_POINT.x", MAX_ECC_BYTES)?;
                let y = r.tpm2b("TPMS_ECC_POINT.y", MAX_ECC_BYTES)?;
                let key = PublicKey::ecc(curve, x, y).map_err(|e| WireError::InvalidValue {
                    structure: S,
                    field: "ECC point",
                    value: e.to_string(),
                })?;
                (scheme, key)
            }
            other => {
                return Err(WireError::UnsupportedAlgorithm {
                    structure: S,
                    field: "key type (only RSA and ECC keys sign quotes)",
                    alg: other,
                })
            }
        };
        let consumed = start.remaining() - r.remaining();
        let encoded = start.clone().take(consumed)?.to_vec();
        Ok(TpmPublic {
            name_alg,
            attributes,
            scheme,
            key,
            encoded,
        })
    }

    /// The TPM name: `nameAlg || H_nameAlg(TPMT_PUBLIC)`.
    pub fn name(&self, provider: &dyn CryptoProvider) -> Vec<u8> {
        let mut out = self.name_alg.tpm_alg_id().to_be_bytes().to_vec();
        out.extend_from_slice(provider.hash(self.name_alg, &[&self.encoded]).as_bytes());
        out
    }

    /// True for a restricted, fixedTPM signing key: what an AK must be.
    pub fn is_restricted_signing_key(&self) -> bool {
        let need = attributes::RESTRICTED | attributes::SIGN | attributes::FIXED_TPM;
        self.attributes & need == need && self.attributes & attributes::DECRYPT == 0
    }
}

/// `TPMT_SYM_DEF_OBJECT`: an algorithm, then key bits and mode unless NULL.
fn read_symmetric(r: &mut Reader<'_>) -> Result<(), WireError> {
    if r.u16_be()? != alg::NULL {
        let _key_bits = r.u16_be()?;
        let _mode = r.u16_be()?;
    }
    Ok(())
}

/// `TPMT_RSA_SCHEME` / `TPMT_ECC_SCHEME` → the signing scheme, if any.
fn read_scheme(r: &mut Reader<'_>, structure: &'static str) -> Result<Option<SignatureScheme>, WireError> {
    let scheme = r.u16_be()?;
    // NULL and RSAES carry no details (TPMS_EMPTY).
    if scheme == alg::NULL || scheme == alg::RSAES {
        return Ok(None);
    }
    let hash_id = r.u16_be()?;
    if scheme == alg::ECDAA {
        let _count = r.u16_be()?;
    }
    let hash = HashAlg::from_tpm_alg_id(hash_id);
    Ok(match (scheme, hash) {
        (alg::RSASSA, Some(h)) => Some(SignatureScheme::RsaPkcs1v15(h)),
        (alg::RSAPSS, Some(h)) => Some(SignatureScheme::RsaPss(h)),
        (alg::ECDSA, Some(h)) => Some(SignatureScheme::Ecdsa(h)),
        // Decryption or other schemes: not a signing scheme we verify.
        (alg::OAEP | alg::ECDH, _) => None,
        _ => {
            return Err(WireError::UnsupportedAlgorithm {
                structure,
                field: "scheme",
                alg: scheme,
            })
        }
    })
}
