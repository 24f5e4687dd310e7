//! What a client trusts, resolved from files before anything is sent: the
//! reference values (a bundle signed by the pinned publisher key, or a
//! plain file only when the caller says `reference_unsigned`), the local
//! platform CA if given, and the acceptance rule ([`AcceptPolicy`]).
//!
//! A reference is refused here, before any connection, when it is of a
//! kind the acceptance rule would refuse anyway (a development reference
//! without its opt-in) or cannot vouch for a Blindfold enclave (a foreign
//! format), when its bundle expired, and when its bundle is older than
//! one this client has seen from the same publisher.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use blindfold_atls::{ClientPolicy, FreshnessMode};
use blindfold_attest::bundle::{self, BundleCheck};
use blindfold_attest::{AcceptPolicy, DevelopmentReference, ReferenceKind, ReferenceValues};
use blindfold_crypto::PublicKey;

use crate::{seen_bundles, ClientError};

/// Where the trust decisions come from (the CLI's flags map onto this).
#[derive(Debug, Clone, Default)]
pub struct TrustFiles {
    /// The reference: a signed bundle or a plain measurements file.
    pub reference: PathBuf,
    /// The publisher's public key (PEM SPKI) the bundle must be signed by.
    pub publisher_key: Option<PathBuf>,
    /// Accept a plain, unsigned reference file.
    pub reference_unsigned: bool,
    /// Refuse bundles older than this version.
    pub min_bundle_version: u64,
    /// A platform CA to anchor the AK chain (the local platform).
    pub platform_ca: Option<PathBuf>,
    /// AK-certificate intermediates supplied at run time (PEM).
    pub ak_intermediates: Option<PathBuf>,
    /// What an appraisal must meet.
    pub accept: AcceptPolicy,
    /// Where the highest bundle version seen per publisher is kept; `None`
    /// keeps no record (then only `min_bundle_version` guards rollback).
    pub state_dir: Option<PathBuf>,
    /// Per-session quotes (the default) or epoch evidence.
    pub freshness: FreshnessMode,
}

/// Whether the reference is signed, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceSource {
    /// A bundle that verified under the pinned publisher key.
    Signed {
        /// Its version.
        version: u64,
    },
    /// A plain file the caller chose to accept unsigned.
    Unsigned,
}

impl ReferenceSource {
    /// `signed` or `unsigned`, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            ReferenceSource::Signed { .. } => "signed",
            ReferenceSource::Unsigned => "unsigned",
        }
    }
}

/// A resolved trust decision.
#[derive(Debug, Clone)]
pub struct Trust {
    /// What the attested TLS client checks.
    pub policy: ClientPolicy,
    /// Where the reference came from.
    pub reference_source: ReferenceSource,
}

fn read(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|e| ClientError::Input(format!("{}: {e}", path.display())))
}

/// Refuses references the acceptance rule could never accept.
fn check_kind(reference: &ReferenceValues, accept: &AcceptPolicy, shown: &str) -> Result<(), ClientError> {
    match reference.kind {
        ReferenceKind::Foreign => Err(ClientError::Reference(format!(
            "reference {shown} is a {} file: it lists some PCRs and only warns about the others, so it cannot vouch for a Blindfold enclave (refused before any evidence was requested)",
            reference.format.name()
        ))),
        ReferenceKind::Development if accept.development_reference != DevelopmentReference::Allowed => {
            Err(ClientError::Reference(format!(
                "reference {shown} is a development reference (no measured boot), and development references are not allowed (refused before any evidence was requested)"
            )))
        }
        _ => Ok(()),
    }
}

impl Trust {
    /// Reads and checks the files: a bundle must verify under the pinned
    /// key; a plain file needs `reference_unsigned`. No network here.
    pub fn from_files(files: &TrustFiles) -> Result<Trust, ClientError> {
        let bytes = read(&files.reference)?;
        let shown = files.reference.display().to_string();
        let refused = |e: blindfold_attest::Error| {
            ClientError::Reference(format!(
                "reference {shown}: {e} (refused before any evidence was requested)"
            ))
        };
        let (reference, reference_source) = match (&files.publisher_key, bundle::is_envelope(&bytes)) {
            (Some(key_path), true) => {
                let pem = String::from_utf8(read(key_path)?)
                    .map_err(|_| ClientError::Input(format!("{}: not PEM text", key_path.display())))?;
                let key = PublicKey::from_spki_pem(&pem)
                    .map_err(|e| ClientError::Input(format!("publisher key {}: {e}", key_path.display())))?;
                let check = BundleCheck {
                    min_version: files.min_bundle_version,
                    at: SystemTime::now(),
                };
                let b = bundle::verify_bundle(&bytes, &key, &check).map_err(refused)?;
                check_kind(&b.reference, &files.accept, &shown)?;
                if let Some(dir) = &files.state_dir {
                    seen_bundles::check_and_record(dir, &b.key_id, b.version)?;
                }
                (
                    b.reference,
                    ReferenceSource::Signed { version: b.version },
                )
            }
            (Some(_), false) => {
                return Err(ClientError::Reference(format!(
                    "reference {shown} is not signed, but a publisher key asks for a signed bundle (refused before any evidence was requested)"
                )))
            }
            (None, _) if files.reference_unsigned => {
                let r = ReferenceValues::parse(&bytes)
                    .map_err(|e| ClientError::Input(format!("reference {shown}: {e}")))?;
                check_kind(&r, &files.accept, &shown)?;
                (r, ReferenceSource::Unsigned)
            }
            (None, _) => {
                return Err(ClientError::Input(
                    "the reference is trusted only under a publisher key, or explicitly unsigned".into(),
                ))
            }
        };
        let platform_ca = match &files.platform_ca {
            Some(path) => Some(
                blindfold_x509::parse_certificates(&read(path)?)
                    .map_err(|e| ClientError::Input(format!("{}: {e}", path.display())))?,
            ),
            None => None,
        };
        let ak_intermediates = match &files.ak_intermediates {
            Some(path) => blindfold_x509::parse_certificates(&read(path)?)
                .map_err(|e| ClientError::Input(format!("{}: {e}", path.display())))?,
            None => Vec::new(),
        };
        Ok(Trust {
            policy: ClientPolicy {
                reference,
                platform_ca,
                ak_intermediates,
                accept: files.accept.clone(),
                freshness: files.freshness.clone(),
            },
            reference_source,
        })
    }
}
