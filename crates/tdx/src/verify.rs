//! Verification of a quote: the only place a [`VerifiedTdQuote`] is made.

use std::sync::Arc;
use std::time::SystemTime;

use blindfold_crypto::{
    ct_eq, default_provider, CryptoProvider, EccCurve, HashAlg, PublicKey, Signature, SignatureScheme,
};
use blindfold_x509::{CertSummary, ChainCache, ChainVerifier, TrustStore};

use crate::collateral::{TcbVerdict, TdxCollateral};
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
    /// Intel's collateral for the platform, as files: with it the TCB
    /// status is judged ([`VerifiedTdQuote::tcb`]); without it, it is not.
    pub collateral: Option<TdxCollateral>,
}

/// A quote whose PCK chain, QE report, attestation-key binding, signature
/// and debug bit were checked, and its TCB status when collateral was
/// given (this crate fetches none).
#[derive(Debug, Clone)]
pub struct VerifiedTdQuote {
    quote: TdQuote,
    pck_chain: Vec<CertSummary>,
    debug: bool,
    fmspc: Option<[u8; 6]>,
    tcb: Option<TcbVerdict>,
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
    /// Whether the TCB status (up to date, out of date, revoked) was
    /// judged: only with collateral ([`TdxOptions::collateral`]).
    pub fn tcb_status_checked(&self) -> bool {
        self.tcb.is_some()
    }
    /// The collateral's verdict on the platform's and the QE's TCB.
    pub fn tcb(&self) -> Option<&TcbVerdict> {
        self.tcb.as_ref()
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
    /// 4. the QE is Intel's TD quoting enclave, by the identity Intel
    ///    publishes (PCS `tdx/certification/v4/qe/identity`, no collateral
    ///    needed for these fields): MRSIGNER, ISVPRODID 2, ATTRIBUTES and
    ///    MISCSELECT under their masks (so never a debug QE), and the
    ///    header's QE vendor id is Intel's ([`Error::QeIdentity`]); its
    ///    ISVSVN (a TCB matter) is not judged;
    /// 5. the QE report binds the attestation key: its report_data is
    ///    SHA-256(attestation key || QE auth data) followed by 32 zero bytes
    ///    ([`Error::AttestationKeyNotBound`]);
    /// 6. the attestation key signed header || TD report (ECDSA P-256 /
    ///    SHA-256) ([`Error::BadQuoteSignature`]);
    /// 7. TD_ATTRIBUTES.DEBUG is clear, unless [`TdxOptions::allow_debug`]
    ///    ([`Error::DebugNotAllowed`]).
    ///
    /// 8. with [`TdxOptions::collateral`]: the TCB Info and QE Identity
    ///    verify to the roots, are current at `at`, are for this platform's
    ///    FMSPC, and a TCB level is reached ([`Error::CollateralFormat`],
    ///    [`Error::CollateralChain`], [`Error::CollateralSignature`],
    ///    [`Error::CollateralExpired`], [`Error::CollateralFmspc`],
    ///    [`Error::NoTcbLevel`], ...); the status is returned, not judged.
    ///
    /// Not checked: PCK revocation lists; without collateral, the TCB
    /// status at all (the result says so through
    /// [`VerifiedTdQuote::tcb_status_checked`]). Nor are the TD's
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

        // 4. The QE is Intel's TD QE.
        check_qe_identity(&parsed)?;

        // 5. The QE report binds the attestation key.
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

        // 6. The quote, signed by the attestation key.
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

        // 7. Debug.
        let debug = parsed.body.td_attributes.debug();
        if debug && !options.allow_debug {
            return Err(Error::DebugNotAllowed);
        }

        // 8. With collateral: its chain, signature and currency, and the
        // TCB levels this platform and QE reach (crate::collateral).
        let fmspc = pck::fmspc(leaf);
        let tcb = match &options.collateral {
            Some(collateral) => {
                let pck_tcb = pck::tcb(leaf).ok_or(Error::NoPckTcb)?;
                Some(crate::collateral::judge(
                    collateral,
                    &parsed,
                    &pck_tcb,
                    &self.store,
                    self.provider,
                    at,
                )?)
            }
            None => None,
        };
        Ok(VerifiedTdQuote {
            pck_chain: chain.path().to_vec(),
            quote: parsed,
            debug,
            fmspc,
            tcb,
        })
    }
}

/// Intel's QE vendor id (the quote header's `qe_vendor_id`).
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];
/// MRSIGNER of Intel's TD quoting enclave (PCS `qe/identity`, id `TD_QE`).
pub const TD_QE_MRSIGNER: [u8; 32] = [
    0xdc, 0x9e, 0x2a, 0x7c, 0x6f, 0x94, 0x8f, 0x17, 0x47, 0x4e, 0x34, 0xa7, 0xfc, 0x43, 0xed, 0x03, 0x0f,
    0x7c, 0x15, 0x63, 0xf1, 0xba, 0xbd, 0xdf, 0x63, 0x40, 0xc8, 0x2e, 0x0e, 0x54, 0xa8, 0xc5,
];
/// ISVPRODID of Intel's TD quoting enclave.
pub const TD_QE_ISV_PROD_ID: u16 = 2;
/// ATTRIBUTES of Intel's TD quoting enclave, and the mask they are compared
/// under (the mask keeps the DEBUG bit: a debug QE never matches).
const TD_QE_ATTRIBUTES: [u8; 16] = [0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const TD_QE_ATTRIBUTES_MASK: [u8; 16] = [
    0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn check_qe_identity(quote: &TdQuote) -> Result<(), Error> {
    let qe = &quote.signature_data.qe_report;
    let mismatch = |field: &'static str, expected: String, actual: String| Error::QeIdentity {
        field,
        expected,
        actual,
    };
    if quote.header.qe_vendor_id != INTEL_QE_VENDOR_ID {
        return Err(mismatch(
            "the header's QE vendor id",
            hex::encode(INTEL_QE_VENDOR_ID),
            hex::encode(quote.header.qe_vendor_id),
        ));
    }
    if qe.mr_signer != TD_QE_MRSIGNER {
        return Err(mismatch(
            "MRSIGNER",
            hex::encode(TD_QE_MRSIGNER),
            hex::encode(qe.mr_signer),
        ));
    }
    if qe.isv_prod_id != TD_QE_ISV_PROD_ID {
        return Err(mismatch(
            "ISVPRODID",
            TD_QE_ISV_PROD_ID.to_string(),
            qe.isv_prod_id.to_string(),
        ));
    }
    let masked: Vec<u8> = qe
        .attributes
        .iter()
        .zip(TD_QE_ATTRIBUTES_MASK)
        .map(|(a, m)| a & m)
        .collect();
    if masked != TD_QE_ATTRIBUTES {
        return Err(mismatch(
            "ATTRIBUTES (masked)",
            hex::encode(TD_QE_ATTRIBUTES),
            hex::encode(masked),
        ));
    }
    if qe.misc_select != 0 {
        return Err(mismatch(
            "MISCSELECT",
            "0".into(),
            format!("{:#x}", qe.misc_select),
        ));
    }
    Ok(())
}

/// An ECDSA signature from its fixed-width `r || s` form.
fn raw_signature(rs: &[u8; 64]) -> Signature {
    let (r, s) = rs.split_at(32);
    Signature::Ecdsa {
        r: r.to_vec(),
        s: s.to_vec(),
    }
}
