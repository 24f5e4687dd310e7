//! Roots that replace the bundled ones, for tests only (cargo feature
//! `test-roots`, which no shipped build enables): an swtpm provisioned in
//! a cloud's NV layout carries an AK certificate from a test CA shaped like
//! that cloud's chain, since nobody holds the keys behind the real ones.
//! With these roots the same [`Verifier::verify`](crate::Verifier::verify)
//! that checks real evidence checks the enclave's, end to end.

use blindfold_nitro::NitroRoots;
use blindfold_snp::AmdRoots;
use blindfold_tdx::IntelRoots;
use blindfold_x509::TrustStore;

use crate::platform::Platform;

/// Anchors a verifier uses instead of the bundled roots, per platform.
#[derive(Debug, Clone, Default)]
pub struct TestRoots {
    /// AK-certificate roots for a cloud vTPM platform (Azure Trusted
    /// Launch, GCP Shielded VM).
    pub vtpm: Vec<(Platform, TrustStore)>,
    /// AMD roots for Azure SEV-SNP VMs.
    pub amd: Option<AmdRoots>,
    /// Nitro roots for NitroTPM documents.
    pub nitro: Option<NitroRoots>,
    /// Intel roots for Azure TDX VMs' TD quotes.
    pub intel: Option<IntelRoots>,
}

impl TestRoots {
    pub(crate) fn vtpm_store(&self, platform: Platform) -> Option<TrustStore> {
        self.vtpm
            .iter()
            .find(|(p, _)| *p == platform)
            .map(|(_, store)| store.clone())
    }
}
