//! Verification of the hardware (or hypervisor) report that roots a piece
//! of evidence: an AWS Nitro attestation document, or the HCL report of an
//! Azure confidential VM with the SEV-SNP report or TD quote behind it.
//! Each yields the key the vTPM quotes must be signed by (if any), the
//! certificate path that vouches for it, and the report itself.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use blindfold_crypto::{ct_eq, CryptoProvider, Digest, HashAlg, PublicKey};
use blindfold_nitro::{
    AttestationDocument, DocumentKind, NitroOptions, NitroRoots, NitroVerifier, VerifiedDocument,
};
use blindfold_snp::{AmdRoots, SnpOptions, SnpVerifier, VerifiedSnpReport};
use blindfold_tdx::{IntelRoots, TdxOptions, TdxVerifier, VerifiedTdQuote};
use blindfold_tpm::{Freshness, PcrIndex, PcrValues};
use blindfold_x509::{CertSummary, ChainCache};

use crate::error::{Error, InputError, VerifyError};
use crate::evidence::hcl::{HclReport, HclReportType};
use crate::evidence::nitro::document_ak;
use crate::evidence::HardwareEvidence;
use crate::platform::Platform;

/// What the caller allows for hardware reports.
#[derive(Debug, Clone)]
pub struct HardwareOptions {
    /// The oldest a Nitro attestation document may be at the verification
    /// time (`--max-age`; default 10 minutes).
    pub max_age: Duration,
    /// Whether a debug-mode Nitro enclave, SEV-SNP guest policy or TD is
    /// accepted; the report says so either way.
    pub debug: DebugPlatform,
    /// Intel's TDX collateral (TCB Info, QE Identity, their issuer chain)
    /// as files: with it a TD quote's TCB status is judged.
    pub tdx_collateral: Option<blindfold_tdx::TdxCollateral>,
}

/// Whether a platform in debug mode (its memory open to the host or the
/// parent instance) is accepted: a named choice, refused by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DebugPlatform {
    /// A debug-mode platform fails verification.
    #[default]
    Refused,
    /// It verifies, reported as debug (and never affirming).
    Allowed,
}

impl Default for HardwareOptions {
    fn default() -> Self {
        HardwareOptions {
            max_age: blindfold_nitro::DEFAULT_MAX_AGE,
            debug: DebugPlatform::Refused,
            tdx_collateral: None,
        }
    }
}

/// A verified hardware report.
#[derive(Debug, Clone)]
pub enum HardwareReport {
    /// An AWS Nitro attestation document (enclave or NitroTPM).
    Nitro(Box<VerifiedDocument>),
    /// An Azure SEV-SNP VM's SNP report (through its HCL report).
    Snp(Box<VerifiedSnpReport>),
    /// An Azure TDX VM's TD quote (through its HCL report).
    Tdx(Box<VerifiedTdQuote>),
}

impl HardwareReport {
    /// True when the platform reports a debug mode (allowed by the caller).
    pub fn debug(&self) -> bool {
        match self {
            HardwareReport::Nitro(d) => d.debug(),
            HardwareReport::Snp(r) => r.debug(),
            HardwareReport::Tdx(q) => q.debug(),
        }
    }
}

/// What a verified hardware report vouches for.
pub(crate) struct HardwareAnchor {
    pub(crate) report: HardwareReport,
    /// The key quotes must be signed by (`None`: the report names none).
    pub(crate) ak: Option<PublicKey>,
    /// The vendor certificate path, signer first.
    pub(crate) chain: Vec<CertSummary>,
    /// PCRs the report itself carries (Nitro).
    pub(crate) pcrs: Option<PcrValues>,
}

/// What every hardware check needs from the verification around it.
pub(crate) struct HardwareCheck<'a> {
    pub(crate) freshness: &'a Freshness,
    pub(crate) at: SystemTime,
    pub(crate) options: &'a HardwareOptions,
    pub(crate) provider: &'static dyn CryptoProvider,
    pub(crate) cache: Option<&'a Arc<ChainCache>>,
    pub(crate) roots: HardwareRoots<'a>,
}

/// Roots in place of the bundled ones (`None`: bundled), set only by a
/// verifier with test roots.
#[derive(Clone, Copy)]
pub(crate) struct HardwareRoots<'a> {
    pub(crate) amd: Option<&'a AmdRoots>,
    pub(crate) nitro: Option<&'a NitroRoots>,
    pub(crate) intel: Option<&'a IntelRoots>,
}

pub(crate) fn verify_hardware(
    hardware: &HardwareEvidence,
    platform: Platform,
    check: &HardwareCheck<'_>,
) -> Result<HardwareAnchor, Error> {
    let HardwareCheck {
        at,
        options,
        provider,
        cache,
        roots,
        ..
    } = *check;
    let anchor = match hardware {
        HardwareEvidence::NitroDocument(document) => nitro(document, check),
        HardwareEvidence::AzureSnp { hcl_report, vcek } => {
            let hcl = HclReport::parse(hcl_report)?;
            expect_type(&hcl, HclReportType::Snp)?;
            let vcek = vcek.as_deref().ok_or(Error::Verify(VerifyError::NoVcek))?;
            let snp_options = SnpOptions {
                allow_debug: options.debug == DebugPlatform::Allowed,
                // The HCL runs at VMPL 0; a report from another level could
                // carry report data the guest OS chose.
                required_vmpl: Some(0),
                product_line: None,
            };
            let mut verifier =
                SnpVerifier::new(roots.amd.unwrap_or(AmdRoots::bundled())).with_provider(provider);
            if let Some(cache) = cache {
                verifier = verifier.with_chain_cache(cache.clone());
            }
            let report = verifier
                .verify(&hcl.hardware_report, vcek, at, &snp_options)
                .map_err(|e| Error::Verify(VerifyError::Snp(e)))?;
            check_binding("SNP report_data", &report.report().report_data(), &hcl, provider)?;
            Ok(HardwareAnchor {
                chain: report.chain().to_vec(),
                ak: Some(hcl.ak),
                report: HardwareReport::Snp(Box::new(report)),
                pcrs: None,
            })
        }
        HardwareEvidence::AzureTdx { hcl_report, td_quote } => {
            let hcl = HclReport::parse(hcl_report)?;
            expect_type(&hcl, HclReportType::Tdx)?;
            let mut verifier =
                TdxVerifier::new(roots.intel.unwrap_or(IntelRoots::bundled())).with_provider(provider);
            if let Some(cache) = cache {
                verifier = verifier.with_chain_cache(cache.clone());
            }
            let quote = verifier
                .verify(
                    td_quote,
                    at,
                    &TdxOptions {
                        allow_debug: options.debug == DebugPlatform::Allowed,
                        collateral: options.tdx_collateral.clone(),
                    },
                )
                .map_err(|e| Error::Verify(VerifyError::Tdx(e)))?;
            check_binding(
                "TD quote report_data",
                &quote.quote().body.report_data,
                &hcl,
                provider,
            )?;
            Ok(HardwareAnchor {
                chain: quote.pck_chain().to_vec(),
                ak: Some(hcl.ak),
                report: HardwareReport::Tdx(Box::new(quote)),
                pcrs: None,
            })
        }
    }?;
    // The platform the layout claimed must be the one the report proves.
    let proven = match &anchor.report {
        HardwareReport::Nitro(d) if d.kind() == DocumentKind::Enclave => Platform::AwsNitroEnclave,
        HardwareReport::Nitro(_) => Platform::AwsNitroTpm,
        HardwareReport::Snp(_) => Platform::AzureSnp,
        HardwareReport::Tdx(_) => Platform::AzureTdx,
    };
    if proven != platform {
        return Err(Error::Verify(VerifyError::PlatformMismatch {
            expected: platform,
            actual: proven,
        }));
    }
    Ok(anchor)
}

fn nitro(document: &AttestationDocument, check: &HardwareCheck<'_>) -> Result<HardwareAnchor, Error> {
    let HardwareCheck {
        freshness,
        at,
        options,
        provider,
        cache,
        roots,
    } = *check;
    let roots = match roots.nitro {
        Some(roots) => roots,
        None => NitroRoots::bundled().map_err(|e| Error::Verify(VerifyError::Nitro(e)))?,
    };
    let mut verifier = NitroVerifier::new(roots).with_provider(provider);
    if let Some(cache) = cache {
        verifier = verifier.with_chain_cache(cache.clone());
    }
    let nitro_options = NitroOptions {
        nonce: match freshness {
            Freshness::Nonce(n) => Some(n.clone()),
            Freshness::DangerNotChecked => None,
        },
        max_age: options.max_age,
        allow_debug: options.debug == DebugPlatform::Allowed,
    };
    let document = verifier
        .verify_document(document.clone(), at, &nitro_options)
        .map_err(|e| Error::Verify(VerifyError::Nitro(e)))?;
    let mut pcrs = PcrValues::new();
    for (index, value) in &document.document().pcrs {
        let digest = Digest::new(HashAlg::Sha384, value)
            .ok_or_else(|| Error::Input(InputError::EvidenceFormat("a Nitro PCR is not 48 bytes".into())))?;
        pcrs.insert(PcrIndex(*index), digest);
    }
    let ak = match (document.kind(), &document.document().public_key) {
        (DocumentKind::NitroTpm, Some(key)) => Some(document_ak(key)?),
        _ => None,
    };
    Ok(HardwareAnchor {
        chain: document.chain().to_vec(),
        ak,
        report: HardwareReport::Nitro(Box::new(document)),
        pcrs: Some(pcrs),
    })
}

fn expect_type(hcl: &HclReport, expected: HclReportType) -> Result<(), Error> {
    if hcl.report_type != expected {
        return Err(Error::Input(InputError::EvidenceFormat(format!(
            "the HCL report holds a {:?} report, the evidence layout a {expected:?} one",
            hcl.report_type
        ))));
    }
    Ok(())
}

/// The hardware report's report data must be the hash of the HCL runtime
/// data (which names `HCLAkPub`), zero-padded: that is what ties the vTPM's
/// AK to the hardware.
fn check_binding(
    what: &'static str,
    report_data: &[u8; 64],
    hcl: &HclReport,
    provider: &dyn CryptoProvider,
) -> Result<(), Error> {
    // The hash, then zeros: the whole 64 bytes are pinned, none left free.
    let hash = provider.hash(hcl.runtime_data_hash, &[&hcl.runtime_data]);
    let mut expected = hash.as_bytes().to_vec();
    expected.resize(report_data.len(), 0);
    if !ct_eq(&expected, report_data) {
        return Err(Error::Verify(VerifyError::HclBinding {
            report_data: what,
            expected: hex::encode(expected),
            actual: hex::encode(report_data),
        }));
    }
    Ok(())
}

/// What a report shows of a verified hardware report
/// (`docs/attestation-report.md`, "hardware"): JSON through `Serialize`
/// (tagged by `kind`), one line of text through `Display`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind")]
pub enum HardwareSummary {
    /// An AWS Nitro Enclaves attestation document.
    #[serde(rename = "aws-nitro-enclave")]
    NitroEnclave(NitroSummary),
    /// A NitroTPM attestation document.
    #[serde(rename = "aws-nitrotpm")]
    NitroTpm(NitroSummary),
    /// An AMD SEV-SNP attestation report.
    #[serde(rename = "sev-snp")]
    Snp(SnpSummary),
    /// An Intel TDX quote.
    #[serde(rename = "tdx")]
    Tdx(TdxSummary),
}

/// A Nitro attestation document's fields.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NitroSummary {
    /// The issuing module.
    pub module_id: String,
    /// When it was issued, RFC 3339.
    pub issued_at: String,
    /// Debug mode (PCRs all zero).
    pub debug: bool,
    /// Whether its nonce was checked.
    pub nonce_checked: bool,
    /// Chosen by whoever asked for the document: informative only (hex).
    pub public_key: Option<String>,
    /// Chosen by whoever asked for the document: informative only (hex).
    pub user_data: Option<String>,
}

/// An SEV-SNP report's fields.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnpSummary {
    /// Milan, Genoa, ...
    pub product_line: String,
    /// The report's format version.
    pub report_version: u32,
    /// The launch measurement (hex).
    pub measurement: String,
    /// HOST_DATA (hex).
    pub host_data: String,
    /// The privilege level that asked.
    pub vmpl: u32,
    /// The guest policy (hex).
    pub guest_policy: String,
    /// Whether the policy allows debugging.
    pub debug: bool,
    /// The reported TCB.
    pub reported_tcb: String,
    /// The chip (hex).
    pub chip_id: String,
}

/// A TDX quote's fields.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TdxSummary {
    /// MRTD (hex).
    pub mr_td: String,
    /// RTMR 0-3 (hex).
    pub rtmr: Vec<String>,
    /// TD attributes (hex).
    pub td_attributes: String,
    /// Whether the TD is debuggable.
    pub debug: bool,
    /// What was known of the platform's TCB.
    pub tcb_status: String,
}

impl HardwareSummary {
    /// The summary of a verified report.
    pub fn of(report: &HardwareReport) -> HardwareSummary {
        match report {
            HardwareReport::Nitro(d) => {
                let doc = d.document();
                let summary = NitroSummary {
                    module_id: doc.module_id.clone(),
                    issued_at: humantime::format_rfc3339_millis(d.issued_at()).to_string(),
                    debug: d.debug(),
                    nonce_checked: d.nonce_checked(),
                    public_key: doc.public_key.as_ref().map(hex::encode),
                    user_data: doc.user_data.as_ref().map(hex::encode),
                };
                match d.kind() {
                    DocumentKind::Enclave => HardwareSummary::NitroEnclave(summary),
                    DocumentKind::NitroTpm => HardwareSummary::NitroTpm(summary),
                }
            }
            HardwareReport::Snp(r) => {
                let report = r.report();
                HardwareSummary::Snp(SnpSummary {
                    product_line: r.product_line().name().to_string(),
                    report_version: report.version(),
                    measurement: hex::encode(report.measurement()),
                    host_data: hex::encode(report.host_data()),
                    vmpl: report.vmpl(),
                    guest_policy: format!("{:#x}", report.policy().raw()),
                    debug: r.debug(),
                    reported_tcb: format!("{:?}", report.reported_tcb()),
                    chip_id: hex::encode(report.chip_id()),
                })
            }
            HardwareReport::Tdx(q) => {
                let body = &q.quote().body;
                HardwareSummary::Tdx(TdxSummary {
                    mr_td: hex::encode(body.mr_td),
                    rtmr: body.rtmr.iter().map(hex::encode).collect(),
                    td_attributes: format!("{:#018x}", body.td_attributes.0),
                    debug: q.debug(),
                    tcb_status: if let Some(v) = q.tcb() {
                        format!(
                            "platform {}, QE {} (collateral valid until {})",
                            v.platform, v.qe, v.next_update
                        )
                    } else {
                        "not checked: TCB collateral cannot be fetched here (no network); the PCK chain and QE report were verified".into()
                    },
                })
            }
        }
    }
}

impl std::fmt::Display for HardwareSummary {
    /// `KIND: the fields that identify it`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HardwareSummary::NitroEnclave(n) => {
                write!(f, "aws-nitro-enclave: {}, issued {}", n.module_id, n.issued_at)
            }
            HardwareSummary::NitroTpm(n) => {
                write!(f, "aws-nitrotpm: {}, issued {}", n.module_id, n.issued_at)
            }
            HardwareSummary::Snp(s) => write!(
                f,
                "sev-snp: {}, VMPL {}, measurement {}",
                s.product_line, s.vmpl, s.measurement
            ),
            HardwareSummary::Tdx(t) => write!(f, "tdx: MRTD {}", t.mr_td),
        }
    }
}

/// The PCRs of evidence whose hardware report carries PCRs of its own
/// (NitroTPM): the report's, after checking the quoted ones against them.
/// The quote's key is whatever the document's requester chose, so only the
/// PCRs the document itself carries are trusted: a quote may select no
/// other bank and no other index, and must agree where it selects.
pub(crate) fn merge_reported_pcrs(quoted: PcrValues, reported: &PcrValues) -> Result<PcrValues, Error> {
    for (bank, values) in quoted.banks() {
        for (index, value) in values {
            match reported.get(bank, *index) {
                None => {
                    return Err(Error::Verify(VerifyError::PcrNotInHardwareReport {
                        index: index.0,
                        bank,
                    }))
                }
                Some(document) if document != value => {
                    return Err(Error::Verify(VerifyError::HardwarePcrMismatch {
                        index: index.0,
                        bank,
                        document: document.to_hex(),
                        quote: value.to_hex(),
                    }))
                }
                Some(_) => {}
            }
        }
    }
    Ok(reported.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pcrs(values: &[(HashAlg, u32, u8)]) -> PcrValues {
        let mut p = PcrValues::new();
        for (bank, index, byte) in values {
            let len = Digest::zero(*bank).as_bytes().len();
            p.insert(PcrIndex(*index), Digest::new(*bank, &vec![*byte; len]).unwrap());
        }
        p
    }

    #[test]
    fn quoted_pcrs_must_be_the_documents() {
        let document = pcrs(&[(HashAlg::Sha384, 0, 1), (HashAlg::Sha384, 4, 2)]);
        // No quote, or a quote agreeing on a subset: the document's PCRs.
        assert_eq!(
            merge_reported_pcrs(PcrValues::new(), &document).unwrap(),
            document
        );
        let subset = pcrs(&[(HashAlg::Sha384, 4, 2)]);
        assert_eq!(merge_reported_pcrs(subset, &document).unwrap(), document);
        // A differing value.
        let e = merge_reported_pcrs(pcrs(&[(HashAlg::Sha384, 4, 3)]), &document).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Verify(VerifyError::HardwarePcrMismatch { index: 4, .. })
            ),
            "{e:?}"
        );
        // An index the document does not carry.
        let e = merge_reported_pcrs(pcrs(&[(HashAlg::Sha384, 15, 9)]), &document).unwrap_err();
        assert_eq!(
            e,
            Error::Verify(VerifyError::PcrNotInHardwareReport {
                index: 15,
                bank: HashAlg::Sha384
            })
        );
        // Another bank, even at an index the document carries.
        let e = merge_reported_pcrs(pcrs(&[(HashAlg::Sha256, 0, 1)]), &document).unwrap_err();
        assert_eq!(
            e,
            Error::Verify(VerifyError::PcrNotInHardwareReport {
                index: 0,
                bank: HashAlg::Sha256
            })
        );
    }

    /// An HCL report (SNP type) whose runtime data names a small RSA key.
    fn hcl_report() -> HclReport {
        let runtime = br#"{"keys":[{"kid":"HCLAkPub","kty":"RSA","e":"AQAB","n":"wQ"}]}"#;
        let mut bytes = b"HCLA".to_vec();
        bytes.resize(32 + 1184, 0);
        for field in [20 + runtime.len() as u32, 1, 2, 1, runtime.len() as u32] {
            bytes.extend(field.to_le_bytes());
        }
        bytes.extend(runtime);
        HclReport::parse(&bytes).unwrap()
    }

    #[test]
    fn report_data_must_be_the_runtime_hash_then_zeros() {
        let hcl = hcl_report();
        let provider = blindfold_crypto::default_provider();
        let hash = provider.hash(HashAlg::Sha256, &[&hcl.runtime_data]);
        let mut report_data = [0u8; 64];
        report_data[..32].copy_from_slice(hash.as_bytes());
        check_binding("report_data", &report_data, &hcl, provider).unwrap();
        // A byte after the hash: nothing of the 64 is left free.
        report_data[40] = 1;
        let e = check_binding("report_data", &report_data, &hcl, provider).unwrap_err();
        assert!(
            matches!(e, Error::Verify(VerifyError::HclBinding { .. })),
            "{e:?}"
        );
        // Another hash.
        report_data[40] = 0;
        report_data[0] ^= 1;
        let e = check_binding("report_data", &report_data, &hcl, provider).unwrap_err();
        assert!(
            matches!(e, Error::Verify(VerifyError::HclBinding { .. })),
            "{e:?}"
        );
    }
}
