//! Quote verification: the only place a [`VerifiedQuote`] is made.

use blindfold_crypto::{ct_eq, default_provider, CryptoProvider, HashAlg, PublicKey, SignatureScheme};

use crate::attest::QuoteAttest;
use crate::error::Error;
use crate::pcr::PcrValues;
use crate::public::TpmPublic;
use crate::signature::TpmSignature;

/// The trust anchor of a quote check: a public key the caller vouches for.
/// There is no way to verify a quote without one, and the verifier never
/// takes a key from the evidence it checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationKey {
    key: PublicKey,
    scheme: Option<SignatureScheme>,
}

impl AttestationKey {
    /// A key from a certificate or SPKI the caller trusts. Its TPM
    /// attributes cannot be checked here; the caller vouches that it is an AK.
    pub fn from_public_key(key: PublicKey) -> AttestationKey {
        AttestationKey { key, scheme: None }
    }

    /// A key from its TPM public area; refused unless it is a restricted,
    /// fixedTPM signing key (otherwise it could sign forged `TPMS_ATTEST`s).
    /// If the area binds a scheme, signatures must use it.
    pub fn from_tpm_public(public: &TpmPublic) -> Result<AttestationKey, Error> {
        if !public.is_restricted_signing_key() {
            return Err(Error::AkNotRestrictedSigningKey {
                attributes: public.attributes,
            });
        }
        Ok(AttestationKey {
            key: public.key.clone(),
            scheme: public.scheme,
        })
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }
}

/// What the quote's `extraData` must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// `extraData` must equal these bytes (compared in constant time).
    Nonce(Vec<u8>),
    /// Do not check `extraData`: the quote may be a replay. Only for offline
    /// inspection; reported in [`VerifiedQuote::freshness_checked`].
    DangerNotChecked,
}

/// A quote whose signature, structure, PCR digest and (unless opted out)
/// nonce have been checked. Only [`QuoteVerifier::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedQuote {
    attest: QuoteAttest,
    pcrs: PcrValues,
    scheme: SignatureScheme,
    freshness_checked: bool,
}

impl VerifiedQuote {
    /// The parsed, signed `TPMS_ATTEST`.
    pub fn attest(&self) -> &QuoteAttest {
        &self.attest
    }
    /// The quoted PCR values (only the selected ones), proven by the PCR digest.
    pub fn pcrs(&self) -> &PcrValues {
        &self.pcrs
    }
    /// The scheme the signature used.
    pub fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
    /// False when the caller opted out of the nonce check.
    pub fn freshness_checked(&self) -> bool {
        self.freshness_checked
    }
}

/// Verifies TPM 2.0 quotes against one attestation key.
#[derive(Debug, Clone)]
pub struct QuoteVerifier {
    ak: AttestationKey,
    allow_sha1: bool,
    provider: &'static dyn CryptoProvider,
}

impl QuoteVerifier {
    /// A verifier trusting `ak`, refusing SHA-1 signatures.
    pub fn new(ak: AttestationKey) -> QuoteVerifier {
        QuoteVerifier {
            ak,
            allow_sha1: false,
            provider: default_provider(),
        }
    }

    /// Accepts SHA-1 quote signatures (legacy TPMs only).
    pub fn danger_allow_sha1(mut self) -> QuoteVerifier {
        self.allow_sha1 = true;
        self
    }

    /// Uses another crypto provider.
    pub fn with_provider(mut self, provider: &'static dyn CryptoProvider) -> QuoteVerifier {
        self.provider = provider;
        self
    }

    /// Verifies a quote. Checks, in this order, failing on the first miss:
    ///
    /// 1. the signature's scheme is the AK's bound scheme (if it has one),
    ///    and is not SHA-1 unless [`Self::danger_allow_sha1`];
    /// 2. `signature` is the AK's signature over `message`;
    /// 3. `message` is a well-formed `TPMS_ATTEST` (no trailing bytes) with
    ///    magic `TPM_GENERATED_VALUE` and type `TPM_ST_ATTEST_QUOTE`;
    /// 4. `pcrs` has a value for every selected PCR, and those values, in
    ///    selection order, hash (with the signature's hash) to `pcrDigest`;
    /// 5. `extraData` equals the nonce, in constant time (unless
    ///    [`Freshness::DangerNotChecked`]).
    pub fn verify(
        &self,
        message: &[u8],
        signature: &TpmSignature,
        pcrs: &PcrValues,
        freshness: &Freshness,
    ) -> Result<VerifiedQuote, Error> {
        if let Some(bound) = self.ak.scheme {
            if bound != signature.scheme {
                return Err(Error::SchemeMismatch {
                    expected: bound.to_string(),
                    actual: signature.scheme.to_string(),
                });
            }
        }
        let hash = signature.scheme.hash_alg();
        if hash == HashAlg::Sha1 && !self.allow_sha1 {
            return Err(Error::Sha1Refused);
        }
        self.provider
            .verify_signature(&self.ak.key, signature.scheme, message, &signature.signature)
            .map_err(|e| match e {
                blindfold_crypto::CryptoError::BadSignature { .. } => Error::BadSignature(e),
                other => Error::AkUnusable(other),
            })?;

        let attest = QuoteAttest::parse(message)?;

        let selected = pcrs.select(&attest.pcr_select)?;
        let actual = selected.digest(&attest.pcr_select, hash, self.provider)?;
        if !ct_eq(actual.as_bytes(), &attest.pcr_digest) {
            return Err(Error::PcrDigestMismatch {
                expected: hex::encode(&attest.pcr_digest),
                actual: actual.to_hex(),
            });
        }

        let freshness_checked = match freshness {
            Freshness::Nonce(nonce) => {
                if nonce.is_empty() {
                    return Err(Error::EmptyNonce);
                }
                if !ct_eq(nonce, &attest.extra_data) {
                    return Err(Error::NonceMismatch {
                        expected: hex::encode(nonce),
                        actual: hex::encode(&attest.extra_data),
                    });
                }
                true
            }
            Freshness::DangerNotChecked => false,
        };

        Ok(VerifiedQuote {
            attest,
            pcrs: selected,
            scheme: signature.scheme,
            freshness_checked,
        })
    }
}
