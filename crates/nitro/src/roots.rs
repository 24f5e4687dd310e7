//! The trust anchor: AWS Nitro Enclaves Root-G1, bundled and pinned.

use std::sync::OnceLock;

use blindfold_x509::{parse_certificates, Certificate, TrustStore};

use crate::error::Error;

/// SHA-256 of the DER of "AWS Nitro Enclaves Root-G1" (CN=aws.nitro-enclaves),
/// the value AWS's documentation lets one check the downloaded root against.
pub const ROOT_G1_SHA256: &str = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b";

/// The roots Nitro documents must chain to.
#[derive(Debug, Clone)]
pub struct NitroRoots {
    store: TrustStore,
}

impl NitroRoots {
    /// AWS Nitro Enclaves Root-G1, parsed once and checked against
    /// [`ROOT_G1_SHA256`].
    pub fn bundled() -> Result<&'static NitroRoots, Error> {
        static ROOTS: OnceLock<Result<NitroRoots, Error>> = OnceLock::new();
        ROOTS
            .get_or_init(|| {
                let certs = parse_certificates(include_bytes!("../roots/aws-nitro-enclaves-root-g1.pem"))
                    .map_err(|e| Error::BundledRoot(e.to_string()))?;
                let [root] = certs.as_slice() else {
                    return Err(Error::BundledRoot(format!(
                        "{} certificates, expected 1",
                        certs.len()
                    )));
                };
                if root.fingerprint_hex() != ROOT_G1_SHA256 {
                    return Err(Error::BundledRoot(format!(
                        "SHA-256 {} is not the pinned {ROOT_G1_SHA256}",
                        root.fingerprint_hex()
                    )));
                }
                Ok(NitroRoots {
                    store: TrustStore::new(vec![root.clone()]),
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Other roots, for tests that sign documents with a chain they
    /// generate. Never bundled.
    pub fn from_certificates(roots: Vec<Certificate>) -> NitroRoots {
        NitroRoots {
            store: TrustStore::new(roots),
        }
    }

    /// The trust store.
    pub fn store(&self) -> &TrustStore {
        &self.store
    }
}
