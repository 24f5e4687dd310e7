//! Verification: the only place a [`VerifiedEvidence`] is made.

use std::sync::Arc;
use std::time::SystemTime;

use blindfold_crypto::{default_provider, CryptoProvider, Digest, HashAlg, PublicKey};
use blindfold_eventlog::{compare_with_quote, replay, require_match, EventLog, PcrCheck, ReplayOptions};
use blindfold_tpm::{AttestationKey, Freshness, PcrIndex, PcrValues, QuoteVerifier};
use blindfold_x509::{CertSummary, Certificate, ChainCache, ChainVerifier, TrustStore, VerifiedChain};

use crate::error::{Error, InputError, VerifyError};
use crate::evidence::{AkClaim, Evidence, Layout};
use crate::hardware::{
    merge_reported_pcrs, verify_hardware, HardwareAnchor, HardwareCheck, HardwareOptions, HardwareReport,
    HardwareRoots,
};
use crate::platform::{Platform, TrustBasis};
use blindfold_protocol::{RuntimeLog, RUNTIME_PCR};

/// How the caller anchors trust in a plain TPM's AK.
#[derive(Debug, Clone)]
pub enum TpmAnchor {
    /// A pinned AK public key.
    PinnedKey(PublicKey),
    /// A CA (e.g. the local platform CA) that certifies the AK.
    DangerPlatformCa(Vec<Certificate>),
}

/// What the caller decided before verifying.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The platform to expect; `None` accepts the detected one.
    pub platform: Option<Platform>,
    /// The nonce, or the explicit waiver; `None` refuses to verify.
    pub freshness: Option<Freshness>,
    /// The time certificates are checked at.
    pub at: SystemTime,
    /// Required for [`Platform::Tpm`] and [`Platform::Local`].
    pub tpm_anchor: Option<TpmAnchor>,
    /// AK-certificate intermediates supplied at run time (a cloud CA issued
    /// since this build, the one that replaced an expired intermediate),
    /// tried with the evidence's own and the bundled ones. They only help a
    /// path to the platform's root; they are never an anchor.
    pub ak_intermediates: Vec<Certificate>,
    /// Event-log replay options.
    pub replay: ReplayOptions,
    /// Document age and debug modes for platforms with a hardware report.
    pub hardware: HardwareOptions,
}

/// Evidence whose chain, signatures, PCR digests, freshness and logs have
/// been checked. Only [`Verifier::verify`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedEvidence {
    pub(crate) layout: Layout,
    pub(crate) platform: Platform,
    pub(crate) trust_basis: TrustBasis,
    pub(crate) pcrs: PcrValues,
    pub(crate) nonce: Option<Vec<u8>>,
    pub(crate) checked_at: SystemTime,
    pub(crate) chain: Option<Vec<CertSummary>>,
    pub(crate) event_log: Option<Vec<PcrCheck>>,
    pub(crate) runtime_log: Option<RuntimeLog>,
    pub(crate) blindllama_app_disk_root_hash: Option<Vec<u8>>,
    pub(crate) hardware: Option<HardwareReport>,
}

impl VerifiedEvidence {
    /// The layout the evidence came in.
    pub fn layout(&self) -> Layout {
        self.layout
    }
    /// The platform.
    pub fn platform(&self) -> Platform {
        self.platform
    }
    /// Who is trusted besides our code.
    pub fn trust_basis(&self) -> TrustBasis {
        self.trust_basis
    }
    /// The quoted PCR values (all verified quotes, all banks).
    pub fn pcrs(&self) -> &PcrValues {
        &self.pcrs
    }
    /// The nonce the quotes were checked against; `None` when freshness was waived.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_deref()
    }
    /// True when the nonce was checked.
    pub fn fresh(&self) -> bool {
        self.nonce.is_some()
    }
    /// The time certificates were checked at.
    pub fn checked_at(&self) -> SystemTime {
        self.checked_at
    }
    /// The verified hardware report (Nitro document, SEV-SNP report, TD
    /// quote) that roots this evidence, if the platform has one.
    pub fn hardware(&self) -> Option<&HardwareReport> {
        self.hardware.as_ref()
    }
    /// True when the platform runs in a debug mode the caller allowed
    /// (a debug Nitro enclave, SEV-SNP policy or TD): its memory is open.
    pub fn debug(&self) -> bool {
        self.hardware.as_ref().is_some_and(HardwareReport::debug)
    }
    /// The verified certificate path that anchors the evidence (the AK
    /// certificate's, or the hardware report's signer's), leaf first.
    pub fn chain(&self) -> Option<&[CertSummary]> {
        self.chain.as_deref()
    }
    /// The firmware event log's comparison with the quotes, if one was sent.
    pub fn event_log(&self) -> Option<&[PcrCheck]> {
        self.event_log.as_deref()
    }
    /// The runtime event log, replayed to the quoted PCR 15 in every bank it covers.
    pub fn runtime_log(&self) -> Option<&RuntimeLog> {
        self.runtime_log.as_ref()
    }
    /// Set for BlindLlama-v2 evidence: the app-disk root hash its PCR 15
    /// binding replayed to. That legacy binding has no nonce and binds TLS
    /// to a whole CA, so it can never be affirming.
    pub fn blindllama_app_disk_root_hash(&self) -> Option<&[u8]> {
        self.blindllama_app_disk_root_hash.as_deref()
    }
}

/// Verifies evidence. Holds the bundled trust stores and, optionally, a
/// cache of verified chains keyed by the SHA-256 of their certificates.
#[derive(Debug)]
pub struct Verifier {
    provider: &'static dyn CryptoProvider,
    chain_cache: Option<Arc<ChainCache>>,
    #[cfg(feature = "test-roots")]
    test_roots: Option<Arc<crate::TestRoots>>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl Verifier {
    /// A verifier without a chain cache (every chain is checked in full).
    pub fn new() -> Verifier {
        Verifier {
            provider: default_provider(),
            chain_cache: None,
            #[cfg(feature = "test-roots")]
            test_roots: None,
        }
    }

    /// Anchors evidence in `roots` instead of the bundled roots, for the
    /// platforms `roots` names (tests only: feature `test-roots`).
    #[cfg(feature = "test-roots")]
    pub fn danger_with_test_roots(mut self, roots: crate::TestRoots) -> Verifier {
        self.test_roots = Some(Arc::new(roots));
        self
    }

    /// The AK-certificate store of a cloud vTPM platform.
    fn vtpm_store(&self, platform: Platform) -> Result<Option<TrustStore>, Error> {
        #[cfg(feature = "test-roots")]
        if let Some(store) = self.test_roots.as_ref().and_then(|r| r.vtpm_store(platform)) {
            return Ok(Some(store));
        }
        platform.bundled_trust_store()
    }

    /// The roots of the hardware reports.
    fn hardware_roots(&self) -> HardwareRoots<'_> {
        #[cfg(feature = "test-roots")]
        if let Some(roots) = &self.test_roots {
            return HardwareRoots {
                amd: roots.amd.as_ref(),
                nitro: roots.nitro.as_ref(),
                intel: roots.intel.as_ref(),
            };
        }
        HardwareRoots {
            amd: None,
            nitro: None,
            intel: None,
        }
    }

    /// Caches verified chains by certificate hash; validity is still
    /// checked at each verification's time.
    pub fn with_chain_cache(mut self) -> Verifier {
        self.chain_cache = Some(Arc::new(ChainCache::new()));
        self
    }

    /// Verifies `evidence`. Checks, in order, failing on the first miss:
    ///
    /// 1. freshness is decided (a nonce, or the explicit waiver);
    /// 2. the platform is the one asked for;
    /// 3. the trust anchor: for a platform with a hardware report, that
    ///    report (`blindfold-nitro`, `blindfold-snp`, `blindfold-tdx`: its
    ///    signature, its chain to the vendor's bundled root at `at`, its
    ///    age, nonce and debug mode) and, for Azure confidential VMs, the
    ///    binding of `HCLAkPub` by the report data; for a cloud vTPM, the AK
    ///    certificate chains to the platform's bundled root at `at`; for a
    ///    plain TPM, the pinned key or the caller's platform CA; the
    ///    anchored key must be the key the evidence names;
    /// 4. every quote: signature by that key, structure, PCR digest, nonce;
    ///    where the hardware report carries PCRs too (NitroTPM), the quoted
    ///    values must be the same;
    /// 5. a firmware event log, if sent, replays to every quoted PCR it extends;
    /// 6. a runtime event log, if sent, is well formed and replays to the
    ///    quoted PCR 15 in every bank it covers;
    /// 7. BlindLlama-v2's PCR 15 binding replays to the quoted PCR 15.
    pub fn verify(&self, evidence: &Evidence, options: &VerifyOptions) -> Result<VerifiedEvidence, Error> {
        let freshness = options
            .freshness
            .clone()
            .ok_or(Error::Verify(VerifyError::FreshnessNotDecided))?;
        let platform = match options.platform {
            None => evidence.platform,
            // The local platform speaks the plain-TPM layouts.
            Some(Platform::Local) if evidence.platform == Platform::Tpm => Platform::Local,
            Some(asked) if asked == evidence.platform => asked,
            Some(asked) => {
                return Err(Error::Verify(VerifyError::PlatformMismatch {
                    expected: asked,
                    actual: evidence.platform,
                }))
            }
        };
        let (key, chain, hardware) = match &evidence.hardware {
            None if platform.has_hardware_report() => {
                return Err(Error::Input(InputError::EvidenceFormat(format!(
                    "{platform} evidence without its hardware report"
                ))))
            }
            Some(hw) => {
                if options.tpm_anchor.is_some() {
                    return Err(Error::Input(InputError::Usage(format!(
                        "a pinned AK or platform CA applies to the tpm and local platforms only; {platform} is anchored in its vendor's bundled root"
                    ))));
                }
                let HardwareAnchor {
                    report,
                    ak,
                    chain,
                    pcrs,
                } = verify_hardware(
                    hw,
                    platform,
                    &HardwareCheck {
                        freshness: &freshness,
                        at: options.at,
                        options: &options.hardware,
                        provider: self.provider,
                        cache: self.chain_cache.as_ref(),
                        roots: self.hardware_roots(),
                    },
                )?;
                let key = match (ak, evidence.ak.as_ref()) {
                    (Some(anchored), Some(claimed)) => {
                        Some(same_key("hardware report", &anchored, &claimed.claimed_key()?)?)
                    }
                    (ak, _) => ak,
                };
                (key, Some(chain), Some((report, pcrs)))
            }
            None => {
                let (key, chain) = self.anchor(evidence, platform, options)?;
                (Some(key), chain.map(|c| c.path().to_vec()), None)
            }
        };
        if evidence.quotes.is_empty() && hardware.as_ref().and_then(|h| h.1.as_ref()).is_none() {
            return Err(Error::Input(InputError::EvidenceFormat(
                "no quote: nothing in this evidence is signed".into(),
            )));
        }

        let mut pcrs = PcrValues::new();
        let mut verified_quotes = Vec::new();
        if !evidence.quotes.is_empty() {
            let key = key.ok_or_else(|| {
                Error::Input(InputError::EvidenceFormat(
                    "the evidence carries quotes, but its hardware report names no AK".into(),
                ))
            })?;
            let verifier =
                QuoteVerifier::new(AttestationKey::from_public_key(key)).with_provider(self.provider);
            for (index, q) in evidence.quotes.iter().enumerate() {
                let v = verifier
                    .verify(&q.message, &q.signature, &q.pcrs, &freshness)
                    .map_err(|cause| Error::Verify(VerifyError::Quote { index, cause }))?;
                for (_, values) in v.pcrs().banks() {
                    for (i, d) in values {
                        pcrs.insert(*i, *d);
                    }
                }
                verified_quotes.push(v);
            }
        }
        let (hardware, hardware_pcrs) = match hardware {
            Some((report, pcrs)) => (Some(report), pcrs),
            None => (None, None),
        };
        if let Some(reported) = &hardware_pcrs {
            pcrs = merge_reported_pcrs(pcrs, reported)?;
        }

        let event_log = match &evidence.event_log {
            Some(bytes) => {
                let log = EventLog::parse(bytes)?;
                let replayed = replay(&log, options.replay);
                let mut checks = Vec::new();
                for q in &verified_quotes {
                    let c = compare_with_quote(q, &replayed);
                    require_match(&c)?;
                    checks.extend(c);
                }
                Some(checks)
            }
            None => None,
        };

        let runtime_log = match &evidence.runtime_log {
            Some(records) => {
                let log = RuntimeLog::from_records(records)?;
                // Every bank in which PCR 15 was quoted must be covered by the log.
                for (bank, values) in pcrs.banks() {
                    if values.contains_key(&PcrIndex(RUNTIME_PCR)) && !log.banks.contains(&bank) {
                        return Err(Error::Verify(VerifyError::RuntimeLogMissingBank { bank }));
                    }
                }
                let replayed = log.replay();
                for bank in &log.banks {
                    let index = PcrIndex(RUNTIME_PCR);
                    let quoted = pcrs.get(*bank, index).map(Digest::to_hex);
                    let actual = replayed.get(*bank, index).map(Digest::to_hex).unwrap_or_default();
                    if quoted.as_deref() != Some(actual.as_str()) {
                        return Err(Error::Verify(VerifyError::RuntimeLogMismatch {
                            bank: *bank,
                            quoted: quoted.unwrap_or_else(|| "(not quoted)".into()),
                            replayed: actual,
                        }));
                    }
                }
                Some(log)
            }
            None => None,
        };

        let blindllama_app_disk_root_hash = match &evidence.blindllama {
            Some(b) => {
                let replayed = blindllama_pcr15(&b.app_disk_root_hash, &b.webserver_ca_pem, self.provider);
                let quoted = pcrs
                    .get(HashAlg::Sha256, PcrIndex(15))
                    .map(Digest::to_hex)
                    .unwrap_or_default();
                if quoted != replayed.to_hex() {
                    return Err(Error::Verify(VerifyError::LegacyBindingMismatch {
                        expected: quoted,
                        actual: replayed.to_hex(),
                    }));
                }
                Some(b.app_disk_root_hash.clone())
            }
            None => None,
        };

        Ok(VerifiedEvidence {
            layout: evidence.layout,
            platform,
            trust_basis: platform.trust_basis(),
            pcrs,
            nonce: match freshness {
                Freshness::Nonce(n) => Some(n),
                Freshness::DangerNotChecked => None,
            },
            checked_at: options.at,
            chain,
            event_log,
            runtime_log,
            blindllama_app_disk_root_hash,
            hardware,
        })
    }

    /// The key quotes must be signed by, and the chain that vouches for it.
    fn anchor(
        &self,
        evidence: &Evidence,
        platform: Platform,
        options: &VerifyOptions,
    ) -> Result<(PublicKey, Option<VerifiedChain>), Error> {
        let claimed = evidence.ak.as_ref();
        let store = match (self.vtpm_store(platform)?, &options.tpm_anchor) {
            (Some(_), Some(_)) => {
                return Err(Error::Input(InputError::Usage(format!(
                    "a pinned AK or platform CA applies to the tpm and local platforms only; {platform} is anchored in its bundled root"
                ))))
            }
            (Some(store), None) => store,
            (None, Some(TpmAnchor::DangerPlatformCa(cas))) => TrustStore::new(cas.clone()),
            (None, Some(TpmAnchor::PinnedKey(pinned))) => {
                if let Some(ak) = claimed {
                    same_key("pinned", pinned, &ak.claimed_key()?)?;
                }
                return Ok((pinned.clone(), None));
            }
            (None, None) => {
                return Err(Error::Verify(VerifyError::NoTrustAnchor {
                    platform,
                }))
            }
        };
        let Some(
            ak @ AkClaim::Certificate {
                leaf, intermediates, ..
            },
        ) = claimed
        else {
            return Err(Error::Verify(VerifyError::NoAkCertificate { platform }));
        };
        let mut intermediates = intermediates.clone();
        intermediates.extend(options.ak_intermediates.iter().cloned());
        let chain = self.chain(store, leaf, &intermediates, options.at)?;
        let key = same_key("certificate", chain.leaf_key(), &ak.claimed_key()?)?;
        Ok((key, Some(chain)))
    }

    fn chain(
        &self,
        store: TrustStore,
        leaf: &Certificate,
        intermediates: &[Certificate],
        at: SystemTime,
    ) -> Result<VerifiedChain, Error> {
        let verifier = ChainVerifier::new(store).with_provider(self.provider);
        Ok(match &self.chain_cache {
            Some(cache) => cache.verify(&verifier, leaf, intermediates, at)?,
            None => verifier.verify(leaf, intermediates, at)?,
        })
    }
}

fn same_key(anchor: &'static str, trusted: &PublicKey, claimed: &PublicKey) -> Result<PublicKey, Error> {
    if trusted != claimed {
        return Err(Error::Verify(VerifyError::AkMismatch {
            anchor,
            anchor_key: trusted.to_string(),
            evidence_key: claimed.to_string(),
        }));
    }
    Ok(trusted.clone())
}

/// BlindLlama-v2's PCR 15: extend(app-disk root hash), extend(32 zero
/// bytes), extend(SHA-256 of the web-server CA PEM), from zero.
pub(crate) fn blindllama_pcr15(root_hash: &[u8], ca_pem: &str, provider: &dyn CryptoProvider) -> Digest {
    let ca = provider.hash(HashAlg::Sha256, &[ca_pem.as_bytes()]);
    let mut pcr = Digest::zero(HashAlg::Sha256);
    for m in [root_hash, &[0u8; 32][..], ca.as_bytes()] {
        pcr = provider.hash(HashAlg::Sha256, &[pcr.as_bytes(), m]);
    }
    pcr
}
