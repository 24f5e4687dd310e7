//! Verification of a document: the only place a [`VerifiedDocument`] is made.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blindfold_crypto::{ct_eq, default_provider, CryptoProvider, HashAlg, Signature, SignatureScheme};
use blindfold_x509::{CertSummary, ChainCache, ChainVerifier, VerifiedChain};

use crate::document::{AttestationDocument, DocumentKind};
use crate::error::Error;
use crate::roots::NitroRoots;

/// The age after which a document is stale unless the caller says otherwise.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// How far in the future a timestamp may be (clocks differ).
const FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);

/// What the caller decided before verifying.
#[derive(Debug, Clone)]
pub struct NitroOptions {
    /// The nonce the document must carry; `None` when the caller waived
    /// freshness (the result then says so).
    pub nonce: Option<Vec<u8>>,
    /// The oldest a document may be at the verification time.
    pub max_age: Duration,
    /// Accept a debug-mode enclave (PCR 0–2 zero). Reported either way.
    pub allow_debug: bool,
}

impl Default for NitroOptions {
    fn default() -> Self {
        NitroOptions {
            nonce: None,
            max_age: DEFAULT_MAX_AGE,
            allow_debug: false,
        }
    }
}

/// A document whose signature, chain, age, nonce and mode were checked.
#[derive(Debug, Clone)]
pub struct VerifiedDocument {
    document: AttestationDocument,
    chain: Vec<CertSummary>,
    debug: bool,
    nonce_checked: bool,
}

impl VerifiedDocument {
    /// The document's fields.
    pub fn document(&self) -> &AttestationDocument {
        &self.document
    }
    /// Enclave or NitroTPM.
    pub fn kind(&self) -> DocumentKind {
        self.document.kind
    }
    /// The verified certificate path, signer first, Root-G1 last.
    pub fn chain(&self) -> &[CertSummary] {
        &self.chain
    }
    /// A debug-mode enclave (only with [`NitroOptions::allow_debug`]).
    pub fn debug(&self) -> bool {
        self.debug
    }
    /// True when the nonce was compared with the caller's.
    pub fn nonce_checked(&self) -> bool {
        self.nonce_checked
    }
    /// The document's time.
    pub fn issued_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.document.timestamp_ms)
    }
}

/// Verifies Nitro attestation documents under a set of roots.
#[derive(Debug)]
pub struct NitroVerifier {
    roots: NitroRoots,
    provider: &'static dyn CryptoProvider,
    cache: Option<Arc<ChainCache>>,
}

impl NitroVerifier {
    /// A verifier under `roots` ([`NitroRoots::bundled`] in production).
    pub fn new(roots: &NitroRoots) -> NitroVerifier {
        NitroVerifier {
            roots: roots.clone(),
            provider: default_provider(),
            cache: None,
        }
    }

    /// Uses another crypto provider for the COSE signature.
    pub fn with_provider(mut self, provider: &'static dyn CryptoProvider) -> NitroVerifier {
        self.provider = provider;
        self
    }

    /// Remembers verified chains in `cache` (validity is still checked
    /// every time); one cache may serve several verifiers.
    pub fn with_chain_cache(mut self, cache: Arc<ChainCache>) -> NitroVerifier {
        self.cache = Some(cache);
        self
    }

    /// Verifies a document. Checks, in order, failing on the first miss:
    ///
    /// 1. it is a `COSE_Sign1` with ES384 in its protected header, and its
    ///    payload is a well-formed attestation document (SHA384 digest,
    ///    48-byte PCRs, a certificate and a non-empty `cabundle`);
    /// 2. the signing certificate chains through the `cabundle` to a trusted
    ///    root (Root-G1, pinned by hash), every certificate valid at `at`;
    ///    the `cabundle`'s own root is never trusted by itself;
    /// 3. the COSE signature verifies under the signing certificate's key;
    /// 4. the document is not from the future and not older than
    ///    `max_age` at `at`;
    /// 5. its `nonce` equals the caller's, which may not be empty (unless
    ///    freshness was waived);
    /// 6. an enclave document with PCR 0, 1 and 2 all zero is a debug-mode
    ///    enclave: refused unless `allow_debug`.
    pub fn verify(
        &self,
        bytes: &[u8],
        at: SystemTime,
        options: &NitroOptions,
    ) -> Result<VerifiedDocument, Error> {
        self.verify_document(AttestationDocument::parse(bytes)?, at, options)
    }

    /// [`NitroVerifier::verify`] for a document already read with
    /// [`AttestationDocument::parse`] (checks 2 to 6; parsing checked 1).
    pub fn verify_document(
        &self,
        document: AttestationDocument,
        at: SystemTime,
        options: &NitroOptions,
    ) -> Result<VerifiedDocument, Error> {
        let chain = self.chain(&document, at)?;

        let subject = document.certificate.subject().to_string();
        let key = chain.leaf_key();
        let raw = &document.signature;
        if raw.len() != 96 {
            return Err(Error::BadSignature { subject });
        }
        let signature = Signature::Ecdsa {
            r: raw[..48].to_vec(),
            s: raw[48..].to_vec(),
        };
        self.provider
            .verify_signature(
                key,
                SignatureScheme::Ecdsa(HashAlg::Sha384),
                &document.signed,
                &signature,
            )
            .map_err(|_| Error::BadSignature { subject })?;

        let issued = UNIX_EPOCH + Duration::from_millis(document.timestamp_ms);
        let stamp = |t: SystemTime| humantime::format_rfc3339_millis(t).to_string();
        if issued > at + FUTURE_SKEW {
            return Err(Error::FromTheFuture {
                issued: stamp(issued),
                at: stamp(at),
            });
        }
        if at.duration_since(issued).unwrap_or_default() > options.max_age {
            return Err(Error::Stale {
                issued: stamp(issued),
                at: stamp(at),
                max_age: humantime::format_duration(options.max_age).to_string(),
            });
        }

        if let Some(expected) = &options.nonce {
            if expected.is_empty() {
                return Err(Error::EmptyNonce);
            }
            let same = document
                .nonce
                .as_deref()
                .is_some_and(|actual| ct_eq(expected, actual));
            if !same {
                return Err(Error::NonceMismatch {
                    expected: hex::encode(expected),
                    actual: document.nonce.as_ref().map_or_else(|| "none".into(), hex::encode),
                });
            }
        }

        let debug = document.kind == DocumentKind::Enclave
            && (0..3).all(|i| document.pcrs.get(&i).is_some_and(|p| p.iter().all(|b| *b == 0)));
        if debug && !options.allow_debug {
            return Err(Error::DebugEnclave);
        }

        Ok(VerifiedDocument {
            chain: chain.path().to_vec(),
            document,
            debug,
            nonce_checked: options.nonce.is_some(),
        })
    }

    fn chain(&self, document: &AttestationDocument, at: SystemTime) -> Result<VerifiedChain, Error> {
        let verifier = ChainVerifier::new(self.roots.store().clone()).with_provider(self.provider);
        let result = match &self.cache {
            Some(cache) => cache.verify(&verifier, &document.certificate, &document.cabundle, at),
            None => verifier.verify(&document.certificate, &document.cabundle, at),
        };
        result.map_err(Error::Chain)
    }
}
