//! The default [`CryptoProvider`]: `ring` for the signature checks it
//! implements (its RSA and P-256/P-384 code is several times faster than the
//! pure-Rust crates) and for AES-256-GCM (AES-NI and carry-less multiply in
//! assembly), [`RustCrypto`] for everything else.

use ring::aead;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm};

use crate::{
    AeadKey, CryptoError, CryptoProvider, Digest, EccCurve, HashAlg, PublicKey, RustCrypto, Signature,
    SignatureScheme, AEAD_NONCE_LEN,
};

/// `ring` where it covers the key, scheme and hash; [`RustCrypto`] where it
/// does not (RSA below 2048 bits, RSA-PSS with the maximum salt length,
/// ECDSA with a hash other than the curve's own, SHA-1 RSA signatures, and
/// all hashing).
#[derive(Debug, Default, Clone, Copy)]
pub struct Ring;

impl CryptoProvider for Ring {
    fn hmac(&self, alg: HashAlg, key: &[u8], parts: &[&[u8]]) -> Digest {
        let algorithm = match alg {
            HashAlg::Sha256 => ring::hmac::HMAC_SHA256,
            HashAlg::Sha384 => ring::hmac::HMAC_SHA384,
            HashAlg::Sha512 => ring::hmac::HMAC_SHA512,
            HashAlg::Sha1 | HashAlg::Sm3_256 => return RustCrypto.hmac(alg, key, parts),
        };
        let mut ctx = ring::hmac::Context::with_key(&ring::hmac::Key::new(algorithm, key));
        for p in parts {
            ctx.update(p);
        }
        Digest::new(alg, ctx.sign().as_ref()).unwrap_or_else(|| Digest::zero(alg))
    }

    fn rsa_oaep_encrypt(
        &self,
        key: &PublicKey,
        alg: HashAlg,
        label: &[u8],
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        // ring has no RSA encryption.
        RustCrypto.rsa_oaep_encrypt(key, alg, label, message)
    }

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

    fn aes256gcm_seal(
        &self,
        key: &AeadKey,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        in_out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        ring_aead_key(key)?
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(*nonce),
                aead::Aad::from(aad),
                in_out,
            )
            .map_err(|_| CryptoError::AeadSeal)
    }

    fn aes256gcm_open(
        &self,
        key: &AeadKey,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        in_out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let key = ring_aead_key(key)?;
        match key.open_in_place(
            aead::Nonce::assume_unique_for_key(*nonce),
            aead::Aad::from(aad),
            in_out,
        ) {
            Ok(plain) => {
                let len = plain.len();
                in_out.truncate(len);
                Ok(())
            }
            Err(_) => {
                in_out.clear();
                Err(CryptoError::AeadOpen)
            }
        }
    }
}

fn ring_aead_key(key: &AeadKey) -> Result<aead::LessSafeKey, CryptoError> {
    aead::UnboundKey::new(&aead::AES_256_GCM, key.expose())
        .map(aead::LessSafeKey::new)
        .map_err(|_| CryptoError::InvalidKey("not an AES-256 key".into()))
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
