//! What a client trusts, resolved from files before anything is sent: the
//! reference values (a bundle signed by the pinned publisher key, or a
//! plain file only when the caller says `reference_unsigned`), the local
//! platform CA if given, and whether development references are allowed.

use std::path::{Path, PathBuf};

use blindfold_atls::ClientPolicy;
use blindfold_attest::{bundle, ReferenceValues};
use blindfold_crypto::PublicKey;

use crate::ClientError;

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
    /// Accept development references and the development trust basis.
    pub allow_dev: bool,
}

/// A resolved trust decision.
#[derive(Debug, Clone)]
pub struct Trust {
    /// What the attested TLS client checks.
    pub policy: ClientPolicy,
    /// `signed` or `unsigned (--reference-unsigned)`, for reports.
    pub reference_kind: &'static str,
}

fn read(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|e| ClientError::Input(format!("{}: {e}", path.display())))
}

impl Trust {
    /// Reads and checks the files: a bundle must verify under the pinned
    /// key; a plain file needs `reference_unsigned`. No network here.
    pub fn from_files(files: &TrustFiles) -> Result<Trust, ClientError> {
        let bytes = read(&files.reference)?;
        let shown = files.reference.display();
        let is_bundle =
            serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| bundle::is_envelope(&v));
        let (reference, reference_kind) = match (&files.publisher_key, is_bundle) {
            (Some(key_path), true) => {
                let pem = String::from_utf8(read(key_path)?)
                    .map_err(|_| ClientError::Input(format!("{}: not PEM text", key_path.display())))?;
                let key = PublicKey::from_spki_pem(&pem)
                    .map_err(|e| ClientError::Input(format!("publisher key {}: {e}", key_path.display())))?;
                let b = bundle::verify_bundle(&bytes, &key, files.min_bundle_version).map_err(|e| {
                    ClientError::Reference(format!("reference {shown}: {e} (refused before any evidence was requested)"))
                })?;
                (b.reference, "signed")
            }
            (Some(_), false) => {
                return Err(ClientError::Reference(format!(
                    "reference {shown} is not signed, but a publisher key asks for a signed bundle (refused before any evidence was requested)"
                )))
            }
            (None, _) if files.reference_unsigned => {
                let r = ReferenceValues::parse(&bytes)
                    .map_err(|e| ClientError::Input(format!("reference {shown}: {e}")))?;
                (r, "unsigned (--reference-unsigned)")
            }
            (None, _) => {
                return Err(ClientError::Input(
                    "give a publisher key (--publisher-key), or --reference-unsigned to accept an unsigned file".into(),
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
        Ok(Trust {
            policy: ClientPolicy {
                reference,
                platform_ca,
                allow_dev: files.allow_dev,
            },
            reference_kind,
        })
    }
}
