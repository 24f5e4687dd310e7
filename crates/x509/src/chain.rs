//! Path building and the checks on each link.

use std::time::{Duration, SystemTime};

use blindfold_crypto::{default_provider, CryptoProvider, HashAlg, PublicKey, Signature, SignatureScheme};
use const_oid::db::{rfc5280, rfc5912};
use der::Decode;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

use crate::cert::Certificate;
use crate::error::Error;

/// Clock skew allowed on both ends of each validity period.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// Longest chain considered (leaf + intermediates + root).
const MAX_DEPTH: usize = 8;
/// Most intermediates a piece of evidence may present.
pub const MAX_PRESENTED: usize = 8;
/// Most issuer signature checks one path search may spend.
const SIGNATURE_BUDGET: u32 = 64;

/// The roots a verifier trusts and the intermediates it knows.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    roots: Vec<Certificate>,
    intermediates: Vec<Certificate>,
}

impl TrustStore {
    /// A store with these trusted roots.
    pub fn new(roots: Vec<Certificate>) -> TrustStore {
        TrustStore {
            roots,
            intermediates: Vec::new(),
        }
    }

    /// Adds known intermediates (untrusted by themselves: they must chain to a root).
    pub fn with_intermediates(mut self, intermediates: Vec<Certificate>) -> TrustStore {
        self.intermediates.extend(intermediates);
        self
    }

    /// The trusted roots.
    pub fn roots(&self) -> &[Certificate] {
        &self.roots
    }
}

/// One certificate of a verified path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject (RFC 4514).
    pub subject: String,
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
}

/// A chain that verified: leaf first, root last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    leaf_key: PublicKey,
    path: Vec<CertSummary>,
    checked_at: SystemTime,
}

impl VerifiedChain {
    /// The leaf's public key (the key the chain vouches for).
    pub fn leaf_key(&self) -> &PublicKey {
        &self.leaf_key
    }
    /// Leaf, intermediates, root.
    pub fn path(&self) -> &[CertSummary] {
        &self.path
    }
    /// The time validity was checked at.
    pub fn checked_at(&self) -> SystemTime {
        self.checked_at
    }
}

/// Verifies leaf certificates against a [`TrustStore`].
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    store: TrustStore,
    skew: Duration,
    provider: &'static dyn CryptoProvider,
}

impl ChainVerifier {
    /// A verifier over `store` with [`DEFAULT_CLOCK_SKEW`].
    pub fn new(store: TrustStore) -> ChainVerifier {
        ChainVerifier {
            store,
            skew: DEFAULT_CLOCK_SKEW,
            provider: default_provider(),
        }
    }

    /// The store this verifier trusts.
    pub fn store(&self) -> &TrustStore {
        &self.store
    }

    /// Uses another crypto provider for the signatures on each link.
    pub fn with_provider(mut self, provider: &'static dyn CryptoProvider) -> ChainVerifier {
        self.provider = provider;
        self
    }

    /// Verifies `leaf` at time `at`, using `presented` intermediates (from
    /// the evidence) and the store's. Checks, for every certificate on the
    /// path: validity at `at` (± skew); no unhandled critical extension;
    /// for issuers: basic constraints `cA`, `keyCertSign` if key usage is
    /// present, path length; the issuer's signature. The leaf's key usage,
    /// if present, must allow `digitalSignature`. The path must end at a
    /// trusted root (compared by DER bytes).
    pub fn verify(
        &self,
        leaf: &Certificate,
        presented: &[Certificate],
        at: SystemTime,
    ) -> Result<VerifiedChain, Error> {
        if presented.len() > MAX_PRESENTED {
            return Err(Error::TooManyIntermediates {
                count: presented.len(),
                max: MAX_PRESENTED,
            });
        }
        check_common(leaf, at, self.skew)?;
        if let Some(ku) = key_usage(leaf)? {
            if !ku.digital_signature() {
                return Err(Error::LeafCannotSign {
                    subject: leaf.subject().to_string(),
                });
            }
        }
        let mut path = vec![leaf.clone()];
        let mut budget = SIGNATURE_BUDGET;
        self.extend(&mut path, presented, at, &mut budget)?;
        let leaf_key = leaf.public_key()?;
        Ok(VerifiedChain {
            leaf_key,
            path: path.iter().map(summary).collect(),
            checked_at: at,
        })
    }

    /// Depth-first search for an issuer of the last certificate of `path`.
    fn extend(
        &self,
        path: &mut Vec<Certificate>,
        presented: &[Certificate],
        at: SystemTime,
        budget: &mut u32,
    ) -> Result<(), Error> {
        let child = path.last().cloned().ok_or(Error::Parse("empty path".into()))?;
        let roots = self.store.roots.iter().map(|c| (c, true));
        let others = presented
            .iter()
            .chain(&self.store.intermediates)
            .map(|c| (c, false));
        let mut first_error = None;
        for (candidate, is_root) in roots.chain(others) {
            if candidate.subject_der() != child.issuer_der() || path.contains(candidate) {
                continue;
            }
            if *budget == 0 {
                return Err(Error::PathSearchExhausted);
            }
            *budget -= 1;
            let attempt = (|| {
                check_common(candidate, at, self.skew)?;
                check_ca(candidate, path.len() - 1)?;
                verify_signature(&child, candidate, self.provider)
            })();
            match attempt {
                Ok(()) if is_root => {
                    path.push(candidate.clone());
                    return Ok(());
                }
                Ok(()) if path.len() + 1 < MAX_DEPTH => {
                    path.push(candidate.clone());
                    match self.extend(path, presented, at, budget) {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            path.pop();
                            first_error.get_or_insert(e);
                        }
                    }
                }
                Ok(()) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| Error::UnknownIssuer {
            subject: child.subject().to_string(),
            issuer: child.issuer().to_string(),
        }))
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn summary(c: &Certificate) -> CertSummary {
    let (nb, na) = c.validity();
    CertSummary {
        subject: c.subject().to_string(),
        fingerprint: c.fingerprint_hex(),
        not_before: rfc3339(nb),
        not_after: rfc3339(na),
    }
}

/// Validity and critical extensions: checked for every certificate.
fn check_common(c: &Certificate, at: SystemTime, skew: Duration) -> Result<(), Error> {
    let (not_before, not_after) = c.validity();
    if at + skew < not_before {
        return Err(Error::NotYetValid {
            subject: c.subject().to_string(),
            not_before: rfc3339(not_before),
            at: rfc3339(at),
        });
    }
    if at > not_after + skew {
        return Err(Error::Expired {
            subject: c.subject().to_string(),
            not_after: rfc3339(not_after),
            at: rfc3339(at),
        });
    }
    // Extensions this verifier processes or that carry no constraint we
    // must enforce for AK certificates (names and policies are not used).
    let understood = [
        rfc5280::ID_CE_BASIC_CONSTRAINTS,
        rfc5280::ID_CE_KEY_USAGE,
        rfc5280::ID_CE_EXT_KEY_USAGE,
        rfc5280::ID_CE_SUBJECT_ALT_NAME,
        rfc5280::ID_CE_CERTIFICATE_POLICIES,
        rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
        rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
    ];
    for ext in c.parsed().tbs_certificate.extensions.iter().flatten() {
        if ext.critical && !understood.contains(&ext.extn_id) {
            return Err(Error::UnhandledCriticalExtension {
                subject: c.subject().to_string(),
                oid: ext.extn_id.to_string(),
            });
        }
    }
    Ok(())
}

fn key_usage(c: &Certificate) -> Result<Option<KeyUsage>, Error> {
    c.extension(rfc5280::ID_CE_KEY_USAGE)
        .map(|(value, _critical)| value)
        .map(|v| KeyUsage::from_der(v).map_err(|e| Error::Parse(format!("{}: key usage: {e}", c.subject()))))
        .transpose()
}

/// An issuer must be a CA allowed to sign certificates, with room for the
/// `below` intermediates between it and the leaf.
fn check_ca(issuer: &Certificate, below: usize) -> Result<(), Error> {
    let not_ca = |why: &str| Error::NotACa {
        subject: issuer.subject().to_string(),
        why: why.to_string(),
    };
    let bc = issuer
        .extension(rfc5280::ID_CE_BASIC_CONSTRAINTS)
        .map(|(value, _critical)| value)
        .ok_or_else(|| not_ca("no basic constraints"))?;
    let bc =
        BasicConstraints::from_der(bc).map_err(|e| Error::Parse(format!("{}: {e}", issuer.subject())))?;
    if !bc.ca {
        return Err(not_ca("basic constraints cA is false"));
    }
    if let Some(allowed) = bc.path_len_constraint {
        if below > usize::from(allowed) {
            return Err(Error::PathLenExceeded {
                subject: issuer.subject().to_string(),
                allowed,
                actual: below,
            });
        }
    }
    if let Some(ku) = key_usage(issuer)? {
        if !ku.key_cert_sign() {
            return Err(not_ca("key usage lacks keyCertSign"));
        }
    }
    Ok(())
}

fn verify_signature(
    child: &Certificate,
    issuer: &Certificate,
    provider: &dyn CryptoProvider,
) -> Result<(), Error> {
    let oid = child.parsed().signature_algorithm.oid;
    let unsupported = || Error::UnsupportedSignatureAlgorithm {
        subject: child.subject().to_string(),
        oid: oid.to_string(),
    };
    let scheme = match oid {
        o if o == rfc5912::SHA_256_WITH_RSA_ENCRYPTION => SignatureScheme::RsaPkcs1v15(HashAlg::Sha256),
        o if o == rfc5912::SHA_384_WITH_RSA_ENCRYPTION => SignatureScheme::RsaPkcs1v15(HashAlg::Sha384),
        o if o == rfc5912::SHA_512_WITH_RSA_ENCRYPTION => SignatureScheme::RsaPkcs1v15(HashAlg::Sha512),
        o if o == rfc5912::ECDSA_WITH_SHA_256 => SignatureScheme::Ecdsa(HashAlg::Sha256),
        o if o == rfc5912::ECDSA_WITH_SHA_384 => SignatureScheme::Ecdsa(HashAlg::Sha384),
        o if o == rfc5912::ECDSA_WITH_SHA_512 => SignatureScheme::Ecdsa(HashAlg::Sha512),
        o if o == rfc5912::ID_RSASSA_PSS => {
            // The outer AlgorithmIdentifier is the one the signature was made
            // with; x509-cert does not check it equals the tbs copy, so do.
            if child.parsed().signature_algorithm != child.parsed().tbs_certificate.signature {
                return Err(unsupported());
            }
            let params = child.parsed().signature_algorithm.parameters.as_ref();
            SignatureScheme::RsaPss(pss_hash(params).ok_or_else(unsupported)?)
        }
        _ => return Err(unsupported()),
    };
    let raw = child.parsed().signature.raw_bytes();
    let signature = match scheme {
        SignatureScheme::Ecdsa(_) => Signature::ecdsa_from_der(raw).map_err(|_| unsupported())?,
        _ => Signature::Rsa(raw.to_vec()),
    };
    let tbs = child.tbs_der();
    let key = issuer.public_key().map_err(|_| Error::BadSignature {
        subject: child.subject().to_string(),
        issuer: issuer.subject().to_string(),
    })?;
    provider
        .verify_signature(&key, scheme, tbs, &signature)
        .map_err(|_| Error::BadSignature {
            subject: child.subject().to_string(),
            issuer: issuer.subject().to_string(),
        })
}

/// The hash of RSASSA-PSS parameters (RFC 4055 section 3.1) this verifier
/// accepts: SHA-256, SHA-384 or SHA-512, MGF1 with the same hash, a salt as
/// long as the hash and the only trailer field (1). Anything else, absent
/// parameters (which mean SHA-1) included, is `None`.
fn pss_hash(params: Option<&der::Any>) -> Option<HashAlg> {
    use der::Encode;
    use rsa::pkcs1::{RsaPssParams, TrailerField};
    let der = params?.to_der().ok()?;
    let pss = RsaPssParams::from_der(&der).ok()?;
    let hash = match pss.hash.oid {
        o if o == rfc5912::ID_SHA_256 => HashAlg::Sha256,
        o if o == rfc5912::ID_SHA_384 => HashAlg::Sha384,
        o if o == rfc5912::ID_SHA_512 => HashAlg::Sha512,
        _ => return None,
    };
    // Hash parameters, when present, must be NULL (RFC 4055 section 2.1).
    let null_or_absent = |p: Option<der::AnyRef<'_>>| p.map_or(true, |p| p.is_null());
    let mgf_hash = pss.mask_gen.parameters?;
    let ok = null_or_absent(pss.hash.parameters)
        && pss.mask_gen.oid == rfc5912::ID_MGF_1
        && mgf_hash.oid == pss.hash.oid
        && null_or_absent(mgf_hash.parameters)
        && usize::from(pss.salt_len) == hash.output_len()
        && pss.trailer_field == TrailerField::BC;
    ok.then_some(hash)
}
