//! Verification of a report: the only place a [`VerifiedSnpReport`] is made.

use std::sync::Arc;
use std::time::SystemTime;

use blindfold_crypto::{default_provider, CryptoProvider, EccCurve, HashAlg, PublicKey, SignatureScheme};
use blindfold_x509::{CertSummary, Certificate, ChainCache, ChainVerifier};

use crate::error::Error;
use crate::product::{AmdRoots, ProductLine};
use crate::report::{SigningKey, SnpReport, SIG_ALGO_ECDSA_P384_SHA384};
use crate::vcek;

/// What the caller decided before verifying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnpOptions {
    /// Accept a guest whose policy allows debugging (the result says so).
    pub allow_debug: bool,
    /// The VMPL the report must come from; `None` accepts any (default
    /// `Some(0)`: the most privileged level, where the guest's own
    /// firmware or SVSM runs).
    pub required_vmpl: Option<u32>,
    /// The product line the caller expects; `None` takes the VCEK's.
    pub product_line: Option<ProductLine>,
}

impl Default for SnpOptions {
    fn default() -> Self {
        SnpOptions {
            allow_debug: false,
            required_vmpl: Some(0),
            product_line: None,
        }
    }
}

/// A report whose VCEK chain, signature, chip, TCB, debug policy and VMPL
/// were checked.
#[derive(Debug, Clone)]
pub struct VerifiedSnpReport {
    report: SnpReport,
    product_line: ProductLine,
    chain: Vec<CertSummary>,
    debug: bool,
    chip_id_masked: bool,
}

impl VerifiedSnpReport {
    /// The report's fields (TCB versions decoded for [`Self::product_line`]).
    pub fn report(&self) -> &SnpReport {
        &self.report
    }
    /// The VCEK's product line.
    pub fn product_line(&self) -> ProductLine {
        self.product_line
    }
    /// The verified path: VCEK, ASK, ARK.
    pub fn chain(&self) -> &[CertSummary] {
        &self.chain
    }
    /// The guest policy allows debugging (only with [`SnpOptions::allow_debug`]).
    pub fn debug(&self) -> bool {
        self.debug
    }
    /// The report's CHIP_ID was masked (all zero), so the VCEK could not be
    /// tied to the chip by its hwID (the signature still ties it).
    pub fn chip_id_masked(&self) -> bool {
        self.chip_id_masked
    }
}

/// Verifies SEV-SNP reports under a set of AMD roots.
#[derive(Debug, Clone)]
pub struct SnpVerifier {
    roots: AmdRoots,
    provider: &'static dyn CryptoProvider,
    cache: Option<Arc<ChainCache>>,
}

impl SnpVerifier {
    /// A verifier under `roots` ([`AmdRoots::bundled`] in production).
    pub fn new(roots: &AmdRoots) -> SnpVerifier {
        SnpVerifier {
            roots: roots.clone(),
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

    /// Uses another crypto provider (for the report's signature and the
    /// certificate chain).
    pub fn with_provider(mut self, provider: &'static dyn CryptoProvider) -> SnpVerifier {
        self.provider = provider;
        self
    }

    /// Verifies `report` (the 0x4A0-byte `ATTESTATION_REPORT`, not a
    /// wrapper around it) signed by the VCEK `vcek_der`, at time `at`.
    /// Checks, in order, failing on the first miss:
    ///
    /// 1. the report is 0x4A0 bytes, version 2 to 5, `SIGNATURE_ALGO` 1
    ///    (ECDSA P-384 with SHA-384) and `SIGNING_KEY` the VCEK
    ///    ([`Error::ReportLength`], [`Error::UnsupportedVersion`],
    ///    [`Error::UnsupportedSignatureAlgorithm`], [`Error::NotSignedByVcek`]);
    /// 2. the certificate is a VCEK (subject `SEV-VCEK`) and its issuer
    ///    names its product line (`SEV-Milan`, `SEV-Genoa`, `SEV-Turin`;
    ///    VLEKs are refused: [`Error::NotAVcek`]); that line equals
    ///    `options.product_line` when given, and the line the report's
    ///    CPUID family and model imply (version 3 and later)
    ///    ([`Error::ProductLineMismatch`]);
    /// 3. the VCEK chains to that line's ARK through that line's ASK, every
    ///    certificate valid at `at` ([`Error::Chain`]; a VCEK of a line the
    ///    roots do not cover has an unknown issuer);
    /// 4. the report's signature (`r`, `s` as 72-byte little-endian fields)
    ///    verifies under the VCEK's P-384 key over bytes 0x000–0x2A0
    ///    ([`Error::BadReportSignature`]);
    /// 5. the VCEK is this chip's and this TCB's: its hwID equals the
    ///    report's CHIP_ID (not compared when CHIP_ID is masked to zero:
    ///    [`VerifiedSnpReport::chip_id_masked`]; [`Error::ChipIdMismatch`]),
    ///    and its blSPL, teeSPL, snpSPL and ucodeSPL (and fmcSPL on Turin,
    ///    when present) equal REPORTED_TCB's ([`Error::TcbMismatch`]);
    /// 6. the guest policy does not allow debugging (bit 19) unless
    ///    `options.allow_debug` ([`Error::DebugNotAllowed`]);
    /// 7. the report's VMPL is `options.required_vmpl` when that is set
    ///    ([`Error::VmplMismatch`]).
    pub fn verify(
        &self,
        report: &[u8],
        vcek_der: &[u8],
        at: SystemTime,
        options: &SnpOptions,
    ) -> Result<VerifiedSnpReport, Error> {
        // 1. Shape.
        let mut report = SnpReport::parse(report)?;
        if report.signature_algo() != SIG_ALGO_ECDSA_P384_SHA384 {
            return Err(Error::UnsupportedSignatureAlgorithm {
                expected: SIG_ALGO_ECDSA_P384_SHA384,
                actual: report.signature_algo(),
            });
        }
        if report.signing_key() != SigningKey::Vcek {
            return Err(Error::NotSignedByVcek {
                actual: report.signing_key().to_string(),
            });
        }

        // 2. Product line.
        let vcek = Certificate::from_der(vcek_der)?;
        let line = vcek::product_line(&vcek)?;
        if let Some(expected) = options.product_line {
            if expected != line {
                return Err(Error::ProductLineMismatch {
                    expected,
                    actual: line,
                    expected_from: "the options".into(),
                });
            }
        }
        if let Some(cpuid) = report.cpuid() {
            if let Some(expected) = cpuid.product_line() {
                if expected != line {
                    return Err(Error::ProductLineMismatch {
                        expected,
                        actual: line,
                        expected_from: format!(
                            "the report's CPUID (family {:#04x}, model {:#04x})",
                            cpuid.family, cpuid.model
                        ),
                    });
                }
            }
        }
        report.set_tcb_line(line);

        // 3. Chain.
        let verifier = ChainVerifier::new(self.roots.vcek_store(line)).with_provider(self.provider);
        let chain = match &self.cache {
            Some(cache) => cache.verify(&verifier, &vcek, &[], at)?,
            None => verifier.verify(&vcek, &[], at)?,
        };

        let through_ask = self.roots.ask(line).map(|c| c.fingerprint_hex());
        if chain.path().len() != 3 || chain.path().get(1).map(|c| &c.fingerprint) != through_ask.as_ref() {
            return Err(Error::NotAVcek {
                why: format!(
                    "its path has {} certificates, not VCEK, ASK, ARK",
                    chain.path().len()
                ),
            });
        }

        // 4. Signature.
        if !matches!(
            chain.leaf_key(),
            PublicKey::Ecc {
                curve: EccCurve::NistP384,
                ..
            }
        ) {
            return Err(Error::NotAVcek {
                why: format!("its key is {}, not ECC P-384", chain.leaf_key()),
            });
        }
        let signature = report.signature().ok_or(Error::BadReportSignature)?;
        self.provider
            .verify_signature(
                chain.leaf_key(),
                SignatureScheme::Ecdsa(HashAlg::Sha384),
                report.signed_bytes(),
                &signature,
            )
            .map_err(|_| Error::BadReportSignature)?;

        // 5. Chip and TCB.
        vcek::check_chip_id(&vcek, line, &report)?;
        vcek::check_tcb(&vcek, &report.reported_tcb())?;

        // 6. Debug.
        let debug = report.policy().debug_allowed();
        if debug && !options.allow_debug {
            return Err(Error::DebugNotAllowed);
        }

        // 7. VMPL.
        if let Some(expected) = options.required_vmpl {
            if report.vmpl() != expected {
                return Err(Error::VmplMismatch {
                    expected,
                    actual: report.vmpl(),
                });
            }
        }

        Ok(VerifiedSnpReport {
            chip_id_masked: report.chip_id_masked(),
            report,
            product_line: line,
            chain: chain.path().to_vec(),
            debug,
        })
    }
}
