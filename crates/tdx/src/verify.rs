//! Verification of a quote: the only place a [`VerifiedTdQuote`] is made.

use std::sync::Arc;
use std::time::SystemTime;

use blindfold_crypto::{
    ct_eq, default_provider, CryptoProvider, EccCurve, HashAlg, PublicKey, Signature, SignatureScheme,
};
use blindfold_x509::{CertSummary, ChainCache, ChainVerifier, TrustStore};

use crate::error::Error;
use crate::pck;
use crate::quote::TdQuote;
use crate::roots::IntelRoots;

/// What the caller decided before verifying.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TdxOptions {
    /// Accept a TD with TD_ATTRIBUTES.DEBUG set (its memory is readable by
    /// the host). Reported by [`VerifiedTdQuote::debug`] either way.
    pub allow_debug: bool,
}

/// A quote whose PCK chain, QE report, attestation-key binding, signature
/// and debug bit were checked. Its TCB status was **not** checked (that
/// needs Intel's collateral, which this crate does not fetch).
#[derive(Debug, Clone)]
pub struct VerifiedTdQuote {
    quote: TdQuote,
    pck_chain: Vec<CertSummary>,
    debug: bool,
    fmspc: Option<[u8; 6]>,
}

impl VerifiedTdQuote {
    /// The quote's fields (header, TD report, signature data).
    pub fn quote(&self) -> &TdQuote {
        &self.quote
    }
    /// The verified PCK path: PCK certificate first, the trusted root last.
    pub fn pck_chain(&self) -> &[CertSummary] {
        &self.pck_chain
    }
    /// The TD runs in debug mode (only with [`TdxOptions::allow_debug`]).
    pub fn debug(&self) -> bool {
        self.debug
    }
    /// Always false: TCB status (up to date, out of date, revoked) needs
    /// Intel's TCB info and QE identity collateral, which this crate does
    /// not fetch or check.
    pub fn tcb_status_checked(&self) -> bool {
        false
    }
    /// The platform's FMSPC from the PCK certificate's SGX extension (the
    /// key to look up TCB collateral), when the certificate carries one.
    pub fn fmspc(&self) -> Option<[u8; 6]> {
        self.fmspc
    }
}

/// Verifies TDX quotes under a set of Intel roots.
#[derive(Debug, Clone)]
pub struct TdxVerifier {
    store: TrustStore,
    provider: &'static dyn CryptoProvider,
    cache: Option<Arc<ChainCache>>,
}

impl TdxVerifier {
    /// A verifier trusting exactly `roots`, with the default crypto provider.
    pub fn new(roots: &IntelRoots) -> Self {
        TdxVerifier {
            store: roots.store().clone(),
            provider: default_provider(),
            cache: None,
        }
    }

    /// Remembers verified certificate chains in `cache` (validity is still
    /// checked at every verification's time); one cache may serve several
    /// verifiers.
    pub fn with_chain_cache(mut self, cache: Arc<ChainCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Uses `provider` for every check: the PCK chain's links, the QE
    /// report and quote signatures, and the attestation-key hash.
    pub fn with_provider(mut self, provider: &'static dyn CryptoProvider) -> Self {
        self.provider = provider;
        self
    }

    /// Verifies `quote` at time `at`. Checks, in order, failing on the first miss:
    ///
    /// 1. it parses ([`TdQuote::parse`]): version 4, attestation key type 2
    ///    (ECDSA P-256), TEE type 0x81 (TDX), a 584-byte TD 1.0 report,
    ///    signature data with QE report certification data (type 6) holding
    ///    a PCK certificate chain (type 5); every length matches, nothing
    ///    trails inside the signature data and only zero padding after it
    ///    ([`Error::Truncated`], [`Error::TrailingBytes`], ...);
    /// 2. the PCK chain carried in the quote verifies to this verifier's
    ///    roots at `at` (validity, CA constraints, signatures); the root
    ///    carried in the quote is only a candidate intermediate and trusted
    ///    only if it is one of the roots ([`Error::PckChain`]);
    /// 3. the PCK leaf key signed the QE report (ECDSA P-256 / SHA-256)
    ///    ([`Error::BadQeReportSignature`]);
    /// 4. the QE report binds the attestation key: its report_data is
    ///    SHA-256(attestation key || QE auth data) followed by 32 zero bytes
    ///    ([`Error::AttestationKeyNotBound`]);
    /// 5. the attestation key signed header || TD report (ECDSA P-256 /
    ///    SHA-256) ([`Error::BadQuoteSignature`]);
    /// 6. TD_ATTRIBUTES.DEBUG is clear, unless [`TdxOptions::allow_debug`]
    ///    ([`Error::DebugNotAllowed`]).
    ///
    /// Not checked (no collateral, no network): the platform's TCB status
    /// (TCB info, PCK CRLs) and the QE's identity (MRSIGNER, ISVPRODID,
    /// ISVSVN against Intel's QE identity); the result says so through
    /// [`VerifiedTdQuote::tcb_status_checked`]. Nor are the TD's
    /// measurements or report_data compared with anything: that is the
    /// caller's appraisal.
    pub fn verify(
        &self,
        quote: &[u8],
        at: SystemTime,
        options: &TdxOptions,
    ) -> Result<VerifiedTdQuote, Error> {
        // 1. Parse.
        let parsed = TdQuote::parse(quote)?;
        let sig = &parsed.signature_data;

        // 2. The PCK chain, to the store's roots only.
        let (leaf, presented) = sig.pck_chain.split_first().ok_or_else(|| {
            Error::PckCertificates(blindfold_x509::Error::Parse(
                "no certificate in the PCK chain".into(),
            ))
        })?;
        let verifier = ChainVerifier::new(self.store.clone()).with_provider(self.provider);
        let chain = match &self.cache {
            Some(cache) => cache.verify(&verifier, leaf, presented, at),
            None => verifier.verify(leaf, presented, at),
        }
        .map_err(Error::PckChain)?;

        // 3. The QE report, signed by the PCK key.
        self.provider
            .verify_signature(
                chain.leaf_key(),
                SignatureScheme::Ecdsa(HashAlg::Sha256),
                sig.qe_report.as_bytes(),
                &raw_signature(&sig.qe_report_signature),
            )
            .map_err(|e| Error::BadQeReportSignature { why: e.to_string() })?;

        // 4. The QE report binds the attestation key.
        let digest = self
            .provider
            .hash(HashAlg::Sha256, &[&sig.attestation_key, &sig.qe_auth_data]);
        // SHA-256 || 32 zero bytes (a provider returning another length
        // simply fails the comparison).
        let mut expected = digest.as_bytes().to_vec();
        expected.resize(64, 0);
        if !ct_eq(&expected, &sig.qe_report.report_data) {
            return Err(Error::AttestationKeyNotBound {
                expected: hex::encode(expected),
                actual: hex::encode(sig.qe_report.report_data),
            });
        }

        // 5. The quote, signed by the attestation key.
        let (x, y) = sig.attestation_key.split_at(32);
        let key = PublicKey::ecc(EccCurve::NistP256, x, y)
            .map_err(|e| Error::BadQuoteSignature { why: e.to_string() })?;
        self.provider
            .verify_signature(
                &key,
                SignatureScheme::Ecdsa(HashAlg::Sha256),
                parsed.signed_bytes(),
                &raw_signature(&sig.signature),
            )
            .map_err(|e| Error::BadQuoteSignature { why: e.to_string() })?;

        // 6. Debug.
        let debug = parsed.body.td_attributes.debug();
        if debug && !options.allow_debug {
            return Err(Error::DebugNotAllowed);
        }

        let fmspc = pck::fmspc(leaf);
        Ok(VerifiedTdQuote {
            pck_chain: chain.path().to_vec(),
            quote: parsed,
            debug,
            fmspc,
        })
    }
}

/// An ECDSA signature from its fixed-width `r || s` form.
fn raw_signature(rs: &[u8; 64]) -> Signature {
    let (r, s) = rs.split_at(32);
    Signature::Ecdsa {
        r: r.to_vec(),
        s: s.to_vec(),
    }
}
