//! The default [`CryptoProvider`]: `ring` for the signature checks it
//! implements (its RSA and P-256/P-384 code is several times faster than the
//! pure-Rust crates), [`RustCrypto`] for everything else.

use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm};

use crate::{
    CryptoError, CryptoProvider, Digest, EccCurve, HashAlg, PublicKey, RustCrypto, Signature, SignatureScheme,
};

/// `ring` where it covers the key, scheme and hash; [`RustCrypto`] where it
/// does not (RSA below 2048 bits, RSA-PSS with the maximum salt length,
/// ECDSA with a hash other than the curve's own, SHA-1 RSA signatures, and
/// all hashing).
#[derive(Debug, Default, Clone, Copy)]
pub struct Ring;

impl CryptoProvider for Ring {
    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Digest {
        RustCrypto.hash(alg, parts)
    }

    fn verify_signature(
        &self,
        key: &PublicKey,
        scheme: SignatureScheme,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        let bad = || CryptoError::BadSignature {
            scheme,
            key: key.to_string(),
        };
        match (key, scheme, signature) {
            (PublicKey::Rsa { modulus, exponent }, _, Signature::Rsa(sig)) if key.bits() >= 2048 => {
                let Some(alg) = ring_rsa(scheme) else {
                    return RustCrypto.verify_signature(key, scheme, message, signature);
                };
                let e = exponent.to_be_bytes();
                let first = e.iter().position(|b| *b != 0).unwrap_or(3);
                let components = RsaPublicKeyComponents {
                    n: modulus.as_slice(),
                    e: &e[first..],
                };
                match components.verify(alg, message, sig) {
                    Ok(()) => Ok(()),
                    // ring checks PSS with salt = hash length only; older
                    // TPMs use the maximum salt, which RustCrypto also tries.
                    Err(_) if matches!(scheme, SignatureScheme::RsaPss(_)) => {
                        RustCrypto.verify_signature(key, scheme, message, signature)
                    }
                    Err(_) => Err(bad()),
                }
            }
            (PublicKey::Ecc { curve, x, y }, SignatureScheme::Ecdsa(h), Signature::Ecdsa { r, s }) => {
                let Some(alg) = ring_ecdsa(*curve, h) else {
                    return RustCrypto.verify_signature(key, scheme, message, signature);
                };
                let n = curve.field_len();
                let mut point = Vec::with_capacity(1 + 2 * n);
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                let fixed = crate::key::ecdsa_fixed(r, s, n)?;
                UnparsedPublicKey::new(alg, &point)
                    .verify(message, &fixed)
                    .map_err(|_| bad())
            }
            _ => RustCrypto.verify_signature(key, scheme, message, signature),
        }
    }
}

fn ring_rsa(scheme: SignatureScheme) -> Option<&'static signature::RsaParameters> {
    Some(match scheme {
        SignatureScheme::RsaPkcs1v15(HashAlg::Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        SignatureScheme::RsaPkcs1v15(HashAlg::Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        SignatureScheme::RsaPkcs1v15(HashAlg::Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        SignatureScheme::RsaPss(HashAlg::Sha256) => &signature::RSA_PSS_2048_8192_SHA256,
        SignatureScheme::RsaPss(HashAlg::Sha384) => &signature::RSA_PSS_2048_8192_SHA384,
        SignatureScheme::RsaPss(HashAlg::Sha512) => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn ring_ecdsa(curve: EccCurve, hash: HashAlg) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match (curve, hash) {
        (EccCurve::NistP256, HashAlg::Sha256) => &signature::ECDSA_P256_SHA256_FIXED,
        (EccCurve::NistP384, HashAlg::Sha384) => &signature::ECDSA_P384_SHA384_FIXED,
        _ => return None,
    })
}
