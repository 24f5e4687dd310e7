//! The trust anchor: Intel SGX Root CA (which also roots TDX PCK chains),
//! bundled and pinned.

use std::sync::OnceLock;

use blindfold_x509::{parse_certificates, TrustStore};

use crate::error::Error;

/// SHA-256 of the DER of "Intel SGX Root CA" (ECDSA P-256, 2018-05-21 ..
/// 2049-12-31), as Intel publishes it.
pub const INTEL_SGX_ROOT_CA_SHA256: &str = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3";

/// The bundled root, PEM.
const BUNDLED_PEM: &str = include_str!("../roots/intel_sgx_root_ca.pem");

/// The roots PCK certificate chains must end at.
#[derive(Debug, Clone)]
pub struct IntelRoots {
    store: TrustStore,
}

impl IntelRoots {
    /// Intel SGX Root CA, parsed once and checked against
    /// [`INTEL_SGX_ROOT_CA_SHA256`].
    pub fn bundled() -> &'static IntelRoots {
        static ROOTS: OnceLock<IntelRoots> = OnceLock::new();
        ROOTS.get_or_init(|| {
            // Invariant: the bundled PEM is a compile-time constant holding
            // exactly the pinned root; the unit test `bundled_root_is_pinned`
            // parses and fingerprints it, so this cannot fail at run time.
            bundled_roots().expect("bundled Intel SGX Root CA parses and matches its pin")
        })
    }

    /// Other trusted roots from PEM (or one DER certificate), for tests that
    /// sign quotes with a chain they generate. Never bundled.
    pub fn from_pem(pem: &[u8]) -> Result<IntelRoots, Error> {
        let roots = parse_certificates(pem).map_err(Error::Roots)?;
        Ok(IntelRoots {
            store: TrustStore::new(roots),
        })
    }

    /// The trust store.
    pub fn store(&self) -> &TrustStore {
        &self.store
    }
}

fn bundled_roots() -> Result<IntelRoots, String> {
    let certs = parse_certificates(BUNDLED_PEM.as_bytes()).map_err(|e| e.to_string())?;
    let [root] = certs.as_slice() else {
        return Err(format!("{} certificates, expected 1", certs.len()));
    };
    if root.fingerprint_hex() != INTEL_SGX_ROOT_CA_SHA256 {
        return Err(format!(
            "SHA-256 {} is not the pinned {INTEL_SGX_ROOT_CA_SHA256}",
            root.fingerprint_hex()
        ));
    }
    Ok(IntelRoots {
        store: TrustStore::new(vec![root.clone()]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_root_is_pinned() {
        let roots = bundled_roots().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(roots.store().roots().len(), 1);
        assert!(roots.store().roots()[0].subject().contains("Intel SGX Root CA"));
        assert_eq!(IntelRoots::bundled().store().roots().len(), 1);
    }
}
