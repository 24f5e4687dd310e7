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
    /// A key the platform made persistent at this handle (Azure, local).
    Persistent(u32),
    /// A primary key re-created in the endorsement hierarchy from the
    /// template in NV (GCE: the same template gives the same key, which
    /// the certificate names). The first template present is used.
    EndorsementTemplate(Vec<(u32, u32)>),
    /// A fresh key made under the EK at start (NitroTPM: the attestation
    /// document names it; no one certifies it otherwise).
    CreatedUnderEk,
}

/// What is read from the TPM besides quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformLayout {
    /// The platform name the layout is for (as in evidence).
    pub platform: String,
    /// The AK.
    pub ak: AkSource,
    /// The AK certificate's NV index (for [`AkSource::Persistent`]); for a
    /// template key, the template's own pair names it.
    pub ak_cert_index: Option<u32>,
    /// The HCL report's NV index (Azure confidential VMs).
    pub hcl_report_index: Option<u32>,
    /// True when the evidence carries a NitroTPM attestation document.
    pub nitro_document: bool,
    /// The banks quotes cover: `None`, every active bank; NitroTPM's
    /// SHA-384 only, the bank its document carries (a verifier trusts no
    /// other: nothing certifies that the AK the document names is the TPM's).
    pub quoted_banks: Option<Vec<HashAlg>>,
}

impl PlatformLayout {
    /// The layout of the platform named `platform` (`local`, `tpm`,
    /// `azure-vtpm`, `azure-snp`, `azure-tdx`, `gcp-vtpm`, `aws-nitrotpm`).
    pub fn for_platform(platform: &str) -> Result<PlatformLayout, Error> {
        let layout = |ak, ak_cert_index, hcl_report_index, nitro_document| PlatformLayout {
            platform: platform.to_string(),
            ak,
            ak_cert_index,
            hcl_report_index,
            nitro_document,
            quoted_banks: nitro_document.then(|| vec![HashAlg::Sha384]),
        };
        Ok(match platform {
            "local" | "tpm" | "azure-vtpm" => layout(
                AkSource::Persistent(AK_PERSISTENT_HANDLE),
                Some(AK_CERT_NV_INDEX),
                None,
                false,
            ),
            // The HCL report vouches for the AK; the AK certificate is not read.
            "azure-snp" | "azure-tdx" => layout(
                AkSource::Persistent(AK_PERSISTENT_HANDLE),
                None,
                Some(AZURE_HCL_REPORT_NV_INDEX),
                false,
            ),
            "gcp-vtpm" => layout(
                AkSource::EndorsementTemplate(vec![
                    (GCE_AK_TEMPLATE_RSA_NV_INDEX, GCE_AK_CERT_RSA_NV_INDEX),
                    (GCE_AK_TEMPLATE_ECC_NV_INDEX, GCE_AK_CERT_ECC_NV_INDEX),
                ]),
                None,
                None,
                false,
            ),
            "aws-nitrotpm" => layout(AkSource::CreatedUnderEk, None, None, true),
            other => return Err(Error::UnknownPlatform(other.to_string())),
        })
    }
}
