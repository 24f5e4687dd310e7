//! The [`CryptoProvider`] built on the RustCrypto crates.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};

use aes_gcm::aead::AeadInPlace;
use aes_gcm::KeyInit;

use crate::key::ecdsa_fixed;
use crate::{
    AeadKey, CryptoError, CryptoProvider, Digest, EccCurve, HashAlg, PublicKey, Signature, SignatureScheme,
    AEAD_NONCE_LEN,
};

/// Hashing and verification with `sha1`, `sha2`, `sm3`, `rsa`, `p256` and
/// `p384`; AES-256-GCM with `aes-gcm`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RustCrypto;

fn hmac_with<D: sha2::Digest + sha2::digest::core_api::BlockSizeUser>(
    alg: HashAlg,
    key: &[u8],
    parts: &[&[u8]],
) -> Digest {
    use hmac::Mac as _;
    // HMAC takes a key of any length (longer ones are hashed first).
    let Ok(mut mac) = <hmac::SimpleHmac<D> as hmac::Mac>::new_from_slice(key) else {
        return Digest::zero(alg);
    };
    for p in parts {
        mac.update(p);
    }
    let out = mac.finalize().into_bytes();
    Digest::new(alg, &out).unwrap_or_else(|| Digest::zero(alg))
}

fn hash_with<D: sha2::Digest>(alg: HashAlg, parts: &[&[u8]]) -> Digest {
    let mut h = D::new();
    for p in parts {
        h.update(p);
    }
    let out = h.finalize();
    // The output length of D is the length of `alg` by construction of the
    // match in `hash` below.
    Digest::new(alg, &out).unwrap_or_else(|| Digest::zero(alg))
}

impl CryptoProvider for RustCrypto {
    fn hmac(&self, alg: HashAlg, key: &[u8], parts: &[&[u8]]) -> Digest {
        match alg {
            HashAlg::Sha1 => hmac_with::<sha1::Sha1>(alg, key, parts),
            HashAlg::Sha256 => hmac_with::<sha2::Sha256>(alg, key, parts),
            HashAlg::Sha384 => hmac_with::<sha2::Sha384>(alg, key, parts),
            HashAlg::Sha512 => hmac_with::<sha2::Sha512>(alg, key, parts),
            HashAlg::Sm3_256 => hmac_with::<sm3::Sm3>(alg, key, parts),
        }
    }

    fn rsa_oaep_encrypt(
        &self,
        key: &PublicKey,
        alg: HashAlg,
        label: &[u8],
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let PublicKey::Rsa { modulus, exponent } = key else {
            return Err(CryptoError::KeySchemeMismatch(format!(
                "RSA-OAEP to an {key} key"
            )));
        };
        let public = RsaPublicKey::new(BigUint::from_bytes_be(modulus), BigUint::from(*exponent))
            .map_err(|e| CryptoError::InvalidKey(e.to_string()))?;
        let label = String::from_utf8(label.to_vec())
            .map_err(|_| CryptoError::InvalidKey("an OAEP label that is not UTF-8".into()))?;
        let padding = match alg {
            HashAlg::Sha1 => rsa::Oaep::new_with_label::<sha1::Sha1, _>(label),
            HashAlg::Sha256 => rsa::Oaep::new_with_label::<sha2::Sha256, _>(label),
            HashAlg::Sha384 => rsa::Oaep::new_with_label::<sha2::Sha384, _>(label),
            HashAlg::Sha512 => rsa::Oaep::new_with_label::<sha2::Sha512, _>(label),
            HashAlg::Sm3_256 => rsa::Oaep::new_with_label::<sm3::Sm3, _>(label),
        };
        public
            .encrypt(&mut rsa::rand_core::OsRng, padding, message)
            .map_err(|e| CryptoError::InvalidKey(format!("RSA-OAEP: {e}")))
    }

    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Digest {
        match alg {
            HashAlg::Sha1 => hash_with::<sha1::Sha1>(alg, parts),
            HashAlg::Sha256 => hash_with::<sha2::Sha256>(alg, parts),
            HashAlg::Sha384 => hash_with::<sha2::Sha384>(alg, parts),
            HashAlg::Sha512 => hash_with::<sha2::Sha512>(alg, parts),
            HashAlg::Sm3_256 => hash_with::<sm3::Sm3>(alg, parts),
        }
    }

    fn verify_signature(
        &self,
        key: &PublicKey,
        scheme: SignatureScheme,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        let hashed = self.hash(scheme.hash_alg(), &[message]);
        let ok = match (key, scheme, signature) {
            (PublicKey::Rsa { modulus, exponent }, SignatureScheme::RsaPkcs1v15(h), Signature::Rsa(sig)) => {
                let pk = rsa_key(modulus, *exponent)?;
                let padding = match h {
                    HashAlg::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
                    HashAlg::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
                    HashAlg::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
                    HashAlg::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
                    HashAlg::Sm3_256 => return Err(unsupported_hash(scheme)),
                };
                pk.verify(padding, hashed.as_bytes(), sig).is_ok()
            }
            (PublicKey::Rsa { modulus, exponent }, SignatureScheme::RsaPss(h), Signature::Rsa(sig)) => {
                let pk = rsa_key(modulus, *exponent)?;
                // TPMs sign with salt = hash length (current spec) or the
                // largest salt the key allows (older TPM 2.0 revisions).
                let em_len = (pk.n().bits() + 6) / 8;
                let max_salt = em_len.saturating_sub(h.output_len() + 2);
                let mut ok = false;
                for salt in [h.output_len(), max_salt] {
                    let pss = match h {
                        HashAlg::Sha1 => Pss::new_with_salt::<sha1::Sha1>(salt),
                        HashAlg::Sha256 => Pss::new_with_salt::<sha2::Sha256>(salt),
                        HashAlg::Sha384 => Pss::new_with_salt::<sha2::Sha384>(salt),
                        HashAlg::Sha512 => Pss::new_with_salt::<sha2::Sha512>(salt),
                        HashAlg::Sm3_256 => return Err(unsupported_hash(scheme)),
                    };
                    ok |= pk.verify(pss, hashed.as_bytes(), sig).is_ok();
                }
                ok
            }
            (PublicKey::Ecc { curve, x, y }, SignatureScheme::Ecdsa(_), Signature::Ecdsa { r, s }) => {
                verify_ecdsa(*curve, x, y, r, s, hashed.as_bytes())?
            }
            (key, scheme, signature) => {
                let sig_kind = match signature {
                    Signature::Rsa(_) => "RSA",
                    Signature::Ecdsa { .. } => "ECDSA",
                };
                return Err(CryptoError::KeySchemeMismatch(format!(
                    "{sig_kind} signature with scheme {scheme} cannot be checked with a {key} key"
                )));
            }
        };
        if ok {
            Ok(())
        } else {
            Err(CryptoError::BadSignature {
                scheme,
                key: key.to_string(),
            })
        }
    }

    fn aes256gcm_seal(
        &self,
        key: &AeadKey,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        in_out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        aes_gcm::Aes256Gcm::new(key.expose().into())
            .encrypt_in_place(nonce.into(), aad, in_out)
            .map_err(|_| CryptoError::AeadSeal)
    }

    fn aes256gcm_open(
        &self,
        key: &AeadKey,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        in_out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        aes_gcm::Aes256Gcm::new(key.expose().into())
            .decrypt_in_place(nonce.into(), aad, in_out)
            .map_err(|_| {
                in_out.clear();
                CryptoError::AeadOpen
            })
    }
}

fn unsupported_hash(scheme: SignatureScheme) -> CryptoError {
    CryptoError::KeySchemeMismatch(format!("scheme {scheme} is not supported for RSA"))
}

fn rsa_key(modulus: &[u8], exponent: u32) -> Result<RsaPublicKey, CryptoError> {
    RsaPublicKey::new_with_max_size(BigUint::from_bytes_be(modulus), BigUint::from(exponent), 16384)
        .map_err(|e| CryptoError::InvalidKey(format!("RSA: {e}")))
}

/// `r || s` at the curve's width, split into the two fixed arrays p256/p384 take.
fn scalars<const N: usize>(r: &[u8], s: &[u8]) -> Result<([u8; N], [u8; N]), CryptoError> {
    let both = ecdsa_fixed(r, s, N)?;
    let mut out = ([0u8; N], [0u8; N]);
    out.0.copy_from_slice(&both[..N]);
    out.1.copy_from_slice(&both[N..]);
    Ok(out)
}

fn verify_ecdsa(
    curve: EccCurve,
    x: &[u8],
    y: &[u8],
    r: &[u8],
    s: &[u8],
    prehash: &[u8],
) -> Result<bool, CryptoError> {
    let mut sec1 = Vec::with_capacity(1 + x.len() + y.len());
    sec1.push(0x04);
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    match curve {
        EccCurve::NistP256 => {
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map_err(|_| CryptoError::InvalidKey("P-256 point is not on the curve".into()))?;
            let (r, s) = scalars::<32>(r, s)?;
            let Ok(sig) = p256::ecdsa::Signature::from_scalars(r, s) else {
                return Ok(false);
            };
            Ok(vk.verify_prehash(prehash, &sig).is_ok())
        }
        EccCurve::NistP384 => {
            let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map_err(|_| CryptoError::InvalidKey("P-384 point is not on the curve".into()))?;
            let (r, s) = scalars::<48>(r, s)?;
            let Ok(sig) = p384::ecdsa::Signature::from_scalars(r, s) else {
                return Ok(false);
            };
            Ok(vk.verify_prehash(prehash, &sig).is_ok())
        }
    }
}

pub(crate) fn decode_spki(der: &[u8]) -> Result<PublicKey, CryptoError> {
    if let Ok(pk) = RsaPublicKey::from_public_key_der(der) {
        let e = pk.e().to_bytes_be();
        if e.len() > 4 {
            return Err(CryptoError::InvalidKey("RSA exponent wider than 32 bits".into()));
        }
        let exponent = e.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        return Ok(PublicKey::rsa(&pk.n().to_bytes_be(), exponent));
    }
    if let Ok(pk) = p256::PublicKey::from_public_key_der(der) {
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&pk, false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(CryptoError::InvalidKey("P-256 point at infinity".into()));
        };
        return PublicKey::ecc(EccCurve::NistP256, x, y);
    }
    if let Ok(pk) = p384::PublicKey::from_public_key_der(der) {
        let point = p384::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&pk, false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(CryptoError::InvalidKey("P-384 point at infinity".into()));
        };
        return PublicKey::ecc(EccCurve::NistP384, x, y);
    }
    match spki::SubjectPublicKeyInfoRef::try_from(der) {
        Ok(info) => {
            let params = info
                .algorithm
                .parameters_oid()
                .map(|o| format!(" ({o})"))
                .unwrap_or_default();
            Err(CryptoError::UnsupportedKeyAlgorithm(format!(
                "{}{params}",
                info.algorithm.oid
            )))
        }
        Err(e) => Err(CryptoError::InvalidKey(format!(
            "not a DER SubjectPublicKeyInfo: {e}"
        ))),
    }
}

pub(crate) fn decode_spki_pem(pem: &str) -> Result<PublicKey, CryptoError> {
    let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes())
        .map_err(|e| CryptoError::InvalidKey(format!("not a PEM block: {e}")))?;
    if label != "PUBLIC KEY" {
        return Err(CryptoError::InvalidKey(format!(
            "PEM label is \"{label}\", expected \"PUBLIC KEY\""
        )));
    }
    decode_spki(&der)
}

pub(crate) fn encode_spki(key: &PublicKey) -> Result<Vec<u8>, CryptoError> {
    let der = match key {
        PublicKey::Rsa { modulus, exponent } => rsa_key(modulus, *exponent)?.to_public_key_der(),
        PublicKey::Ecc { curve, x, y } => {
            let mut sec1 = vec![0x04];
            sec1.extend_from_slice(x);
            sec1.extend_from_slice(y);
            let bad = |_| CryptoError::InvalidKey("point is not on the curve".into());
            match curve {
                EccCurve::NistP256 => p256::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(bad)?
                    .to_public_key_der(),
                EccCurve::NistP384 => p384::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(bad)?
                    .to_public_key_der(),
            }
        }
    };
    der.map(|d| d.into_vec())
        .map_err(|e| CryptoError::InvalidKey(format!("cannot encode SPKI: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_hashes() {
        let p = RustCrypto;
        assert_eq!(
            p.hash(HashAlg::Sha256, &[b"a", b"bc"]).to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            p.hash(HashAlg::Sha1, &[b"abc"]).to_hex(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            p.hash(HashAlg::Sm3_256, &[b"abc"]).to_hex(),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn rsa_pss_unsupported_hash_is_an_error() {
        let key = PublicKey::rsa(&[0xC5; 256], 65537);
        let err = RustCrypto
            .verify_signature(
                &key,
                SignatureScheme::RsaPss(HashAlg::Sm3_256),
                b"m",
                &Signature::Rsa(vec![1; 256]),
            )
            .unwrap_err();
        assert!(matches!(err, CryptoError::KeySchemeMismatch(_)), "{err:?}");
    }

    #[test]
    fn mismatched_key_and_signature_is_named() {
        let key = PublicKey::rsa(&[0xC5; 256], 65537);
        let err = RustCrypto
            .verify_signature(
                &key,
                SignatureScheme::Ecdsa(HashAlg::Sha256),
                b"m",
                &Signature::Ecdsa {
                    r: vec![1],
                    s: vec![1],
                },
            )
            .unwrap_err();
        assert!(matches!(err, CryptoError::KeySchemeMismatch(_)), "{err:?}");
    }
}
