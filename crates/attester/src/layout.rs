//! Where each platform keeps its attestation key, the key's certificate
//! and the report that roots it: the NV layout the attester reads, chosen
//! by the measured configuration's platform name.

use blindfold_crypto::HashAlg;

use crate::error::Error;

/// Azure (Trusted Launch and confidential VMs) and the local platform keep
/// the AK here.
pub const AK_PERSISTENT_HANDLE: u32 = 0x8100_0003;
/// Azure and the local platform keep the AK certificate here.
pub const AK_CERT_NV_INDEX: u32 = 0x01C1_01D0;
/// An Azure confidential VM's HCL report (SNP report or TD report, and the
/// runtime data naming the vTPM's AK).
pub const AZURE_HCL_REPORT_NV_INDEX: u32 = 0x0140_0001;
/// GCE's RSA AK template (`TPMT_PUBLIC`), the key made from it in the
/// endorsement hierarchy, and its certificate.
pub const GCE_AK_TEMPLATE_RSA_NV_INDEX: u32 = 0x01C1_0001;
/// GCE's RSA AK certificate.
pub const GCE_AK_CERT_RSA_NV_INDEX: u32 = 0x01C1_0000;
/// GCE's ECC (P-256) AK template.
pub const GCE_AK_TEMPLATE_ECC_NV_INDEX: u32 = 0x01C1_0003;
/// GCE's ECC AK certificate.
pub const GCE_AK_CERT_ECC_NV_INDEX: u32 = 0x01C1_0002;

/// How the attestation key comes to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AkSource {
    /// A key the platform made persistent at `handle` (Azure, local), with
    /// its certificate in NV at `certificate` where the platform keeps one.
    Persistent {
        /// The AK's persistent handle.
        handle: u32,
        /// The AK certificate's NV index.
        certificate: Option<u32>,
    },
    /// A primary key re-created in the endorsement hierarchy from a
    /// template in NV (GCE: the same template gives the same key, which
    /// the certificate names): `(template index, certificate index)` pairs,
    /// the first template present used.
    EndorsementTemplate(Vec<(u32, u32)>),
    /// A fresh key made under the EK at start (NitroTPM: the attestation
    /// document names it; no one certifies it otherwise).
    CreatedUnderEk,
}

/// Which hardware report an Azure confidential VM's HCL report holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzureHardware {
    /// An SEV-SNP report (verified with its VCEK).
    Snp,
    /// A TDX TD report (verified through the TD quote made from it).
    Tdx,
}

/// The report that roots the AK, where a platform has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportSource {
    /// None: the AK certificate vouches for the AK.
    None,
    /// An Azure confidential VM's HCL report in NV at `index`.
    AzureHcl {
        /// Its NV index.
        index: u32,
        /// The hardware report inside.
        hardware: AzureHardware,
    },
    /// A NitroTPM attestation document, asked for per quote.
    NitroDocument,
}

/// What is read from the TPM besides quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformLayout {
    /// The AK and its certificate.
    pub ak: AkSource,
    /// The report that roots the AK.
    pub report: ReportSource,
}

impl PlatformLayout {
    /// The layout of the platform named `platform` (`local`, `tpm`,
    /// `azure-vtpm`, `azure-snp`, `azure-tdx`, `gcp-vtpm`, `aws-nitrotpm`).
    pub fn for_platform(platform: &str) -> Result<PlatformLayout, Error> {
        let azure_ak = |certificate| AkSource::Persistent {
            handle: AK_PERSISTENT_HANDLE,
            certificate,
        };
        // The HCL report vouches for a confidential VM's AK: no certificate is read.
        let azure_cvm = |hardware| PlatformLayout {
            ak: azure_ak(None),
            report: ReportSource::AzureHcl {
                index: AZURE_HCL_REPORT_NV_INDEX,
                hardware,
            },
        };
        Ok(match platform {
            "local" | "tpm" | "azure-vtpm" => PlatformLayout {
                ak: azure_ak(Some(AK_CERT_NV_INDEX)),
                report: ReportSource::None,
            },
            "azure-snp" => azure_cvm(AzureHardware::Snp),
            "azure-tdx" => azure_cvm(AzureHardware::Tdx),
            "gcp-vtpm" => PlatformLayout {
                ak: AkSource::EndorsementTemplate(vec![
                    (GCE_AK_TEMPLATE_RSA_NV_INDEX, GCE_AK_CERT_RSA_NV_INDEX),
                    (GCE_AK_TEMPLATE_ECC_NV_INDEX, GCE_AK_CERT_ECC_NV_INDEX),
                ]),
                report: ReportSource::None,
            },
            "aws-nitrotpm" => PlatformLayout {
                ak: AkSource::CreatedUnderEk,
                report: ReportSource::NitroDocument,
            },
            other => return Err(Error::UnknownPlatform(other.to_string())),
        })
    }

    /// The banks quotes cover: `None`, every active bank; NitroTPM's
    /// SHA-384 only, the bank its document carries (a verifier trusts no
    /// other: nothing certifies that the AK the document names is the TPM's).
    pub fn quoted_banks(&self) -> Option<&'static [HashAlg]> {
        match self.report {
            ReportSource::NitroDocument => Some(&[HashAlg::Sha384]),
            _ => None,
        }
    }
}
