//! Platforms, their trust basis, and the roots bundled for each.

use std::fmt;
use std::sync::OnceLock;

use blindfold_x509::{parse_certificates, Certificate, TrustStore};

use crate::error::{Error, InputError};

/// Where evidence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Azure Trusted Launch vTPM (AK certificate from NV 0x01C101D0).
    AzureVtpm,
    /// Google Compute Engine Shielded VM vTPM (AK certificate).
    GcpVtpm,
    /// A plain TPM whose AK the caller pins or certifies (swtpm, keylime, trustee).
    Tpm,
    /// Blindfold's local swtpm platform (process or VM mode): a plain TPM
    /// whose AK certificate comes from the local platform CA, named so the
    /// report says which it is. Same layouts and anchors as [`Platform::Tpm`].
    Local,
    /// An EC2 instance's NitroTPM: an attestation document signed under AWS
    /// Nitro Enclaves Root-G1 carries its SHA-384 PCRs (and may name the
    /// TPM's AK for a quote).
    AwsNitroTpm,
    /// A Nitro Enclave: its attestation document carries the enclave's PCRs.
    AwsNitroEnclave,
    /// An Azure SEV-SNP confidential VM: the vTPM's AK is rooted in the
    /// SNP report (VCEK → ASK → ARK) through the HCL report.
    AzureSnp,
    /// An Azure TDX confidential VM: the vTPM's AK is rooted in the TD
    /// quote (PCK chain → Intel SGX root) through the HCL report.
    AzureTdx,
}

impl Platform {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Platform::AzureVtpm => "azure-vtpm",
            Platform::GcpVtpm => "gcp-vtpm",
            Platform::Tpm => "tpm",
            Platform::Local => "local",
            Platform::AwsNitroTpm => "aws-nitrotpm",
            Platform::AwsNitroEnclave => "aws-nitro-enclave",
            Platform::AzureSnp => "azure-snp",
            Platform::AzureTdx => "azure-tdx",
        }
    }

    /// Parses a name printed by [`Platform::name`].
    pub fn from_name(name: &str) -> Option<Platform> {
        [
            Platform::AzureVtpm,
            Platform::GcpVtpm,
            Platform::Tpm,
            Platform::Local,
            Platform::AwsNitroTpm,
            Platform::AwsNitroEnclave,
            Platform::AzureSnp,
            Platform::AzureTdx,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }

    /// Who must be trusted besides our code (DESIGN.md, "trust basis").
    pub fn trust_basis(self) -> TrustBasis {
        match self {
            Platform::AzureVtpm | Platform::GcpVtpm | Platform::AwsNitroTpm | Platform::AwsNitroEnclave => {
                TrustBasis::Hypervisor
            }
            Platform::AzureSnp | Platform::AzureTdx => TrustBasis::Cvm,
            Platform::Tpm | Platform::Local => TrustBasis::Development,
        }
    }

    /// True for the platforms whose AK (or PCRs) a hardware or hypervisor
    /// report vouches for (Nitro, SEV-SNP, TDX), anchored in those
    /// vendors' roots (`blindfold-nitro`, `blindfold-snp`, `blindfold-tdx`).
    pub fn has_hardware_report(self) -> bool {
        matches!(
            self,
            Platform::AwsNitroTpm | Platform::AwsNitroEnclave | Platform::AzureSnp | Platform::AzureTdx
        )
    }

    /// The bundled AK-certificate trust store of a cloud vTPM platform
    /// (parsed once per process); `None` for [`Platform::Tpm`] and
    /// [`Platform::Local`], whose anchor the caller must give, and for the
    /// platforms with a hardware report.
    pub fn bundled_trust_store(self) -> Result<Option<TrustStore>, Error> {
        static AZURE: OnceLock<Result<Option<TrustStore>, Error>> = OnceLock::new();
        static GCP: OnceLock<Result<Option<TrustStore>, Error>> = OnceLock::new();
        match self {
            Platform::AzureVtpm => AZURE.get_or_init(|| self.load_trust_store()).clone(),
            Platform::GcpVtpm => GCP.get_or_init(|| self.load_trust_store()).clone(),
            _ => Ok(None),
        }
    }

    fn load_trust_store(self) -> Result<Option<TrustStore>, Error> {
        let load = |pems: &[&str]| -> Result<Vec<Certificate>, Error> {
            let mut out = Vec::new();
            for pem in pems {
                out.extend(
                    parse_certificates(pem.as_bytes())
                        .map_err(|e| Error::Input(InputError::BundledRoot(e.to_string())))?,
                );
            }
            Ok(out)
        };
        Ok(match self {
            Platform::AzureVtpm => Some(
                TrustStore::new(load(&[include_str!(
                    "../roots/azure-virtual-tpm-root-ca-2023.pem"
                )])?)
                .with_intermediates(load(&[include_str!(
                    "../roots/azure-global-virtual-tpm-ca-01.pem"
                )])?),
            ),
            Platform::GcpVtpm => Some(
                TrustStore::new(load(&[
                    include_str!("../roots/gcp-ek-ak-ca-root.pem"),
                    include_str!("../roots/gcp-tpm-ek-root-1.pem"),
                ])?)
                .with_intermediates(load(&[
                    include_str!("../roots/gcp-ek-ak-ca-intermediate-v3.pem"),
                    include_str!("../roots/gcp-tpm-ek-intermediate-2.pem"),
                    include_str!("../roots/gcp-tpm-ek-intermediate-3.pem"),
                ])?),
            ),
            _ => None,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who, besides Blindfold's code, a verification result trusts, ordered
/// from weakest to strongest (`development` < `hypervisor` < `cvm`), so a
/// client can ask for a minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrustBasis {
    /// A pinned key or local platform CA: whoever holds it can forge evidence.
    Development,
    /// The cloud's hypervisor and its vTPM: a quote proves what booted, not
    /// that the host did not read guest memory.
    Hypervisor,
    /// The CPU vendor's confidential-VM hardware (SEV-SNP, TDX).
    Cvm,
}

impl TrustBasis {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            TrustBasis::Hypervisor => "hypervisor",
            TrustBasis::Cvm => "cvm",
            TrustBasis::Development => "development",
        }
    }

    /// Parses a name printed by [`TrustBasis::name`].
    pub fn from_name(name: &str) -> Option<TrustBasis> {
        [TrustBasis::Development, TrustBasis::Hypervisor, TrustBasis::Cvm]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

impl fmt::Display for TrustBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
