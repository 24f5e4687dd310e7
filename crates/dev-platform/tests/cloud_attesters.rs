//! The attester's per-cloud backends against an swtpm provisioned in each
//! cloud's NV layout, with a test CA shaped like that cloud's chain (nobody
//! holds the keys behind the real AK certificates): the evidence the
//! enclave's own code makes (`blindfold_attester::evidence::quoted`) is
//! verified end to end by the verifier that checks real cloud evidence,
//! anchored through its test-only roots (feature `test-roots`). Each
//! backend also shows what it refuses.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::SystemTime;

use blindfold_attest::{
    Error, Evidence, Platform, TestRoots, TrustBasis, Verifier, VerifyError, VerifyOptions,
};
use blindfold_attester::evidence::{quoted, StartState};
use blindfold_attester::layout::{
    AZURE_HCL_REPORT_NV_INDEX, GCE_AK_CERT_RSA_NV_INDEX, GCE_AK_TEMPLATE_RSA_NV_INDEX,
};
use blindfold_attester::{gce_ak_template, AkAlgorithm, PlatformLayout, ReportSource, Tpm, AK_CERT_NV_INDEX};
use blindfold_crypto::PublicKey;
use blindfold_dev_platform::{init, start, RunningSwtpm};
use blindfold_protocol::{EvidenceV1, PlatformReportV1, RuntimeEvent, RuntimeLog, RUNTIME_PCR};
use blindfold_tpm::{Freshness, TpmPublic};
use blindfold_x509::{Certificate, TrustStore};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// OID of `tcg-kp-AIKCertificate`.
const TCG_KP_AIK_CERTIFICATE: &[u64] = &[2, 23, 133, 8, 3];

struct Platformed {
    _dir: tempfile::TempDir,
    swtpm: RunningSwtpm,
    tpm: Tpm,
    /// The AK `init` made at Azure's handle.
    azure_handle_ak: Vec<u8>,
}

/// A fresh swtpm (EK certificate, SHA-256 and SHA-384 banks, an RSA AK at
/// Azure's handle), open.
fn swtpm() -> Platformed {
    let dir = tempfile::tempdir().unwrap();
    let info = init(&dir.path().join("p"), AkAlgorithm::Rsa2048).unwrap();
    let swtpm = start(&dir.path().join("p")).unwrap();
    let tpm = Tpm::open(swtpm.tcti()).unwrap();
    Platformed {
        _dir: dir,
        swtpm,
        tpm,
        azure_handle_ak: info.ak_public,
    }
}

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn root(organization: &str, cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let cert = Ca::params(organization, cn).self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn intermediate(&self, organization: &str, cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let cert = Ca::params(organization, cn)
            .signed_by(&key, &self.cert, &self.key)
            .unwrap();
        Ca { cert, key }
    }

    fn params(organization: &str, cn: &str) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::OrganizationName, organization);
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p
    }

    /// An AK certificate for the key in `ak_public` (`TPMT_PUBLIC`).
    fn certify(&self, ak_public: &[u8], cn: &str) -> Vec<u8> {
        let spki = TpmPublic::parse_tpmt(ak_public)
            .unwrap()
            .key
            .to_spki_der()
            .unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::Other(
            TCG_KP_AIK_CERTIFICATE.to_vec(),
        )];
        let spki = rcgen::SubjectPublicKeyInfo::from_der(&spki).unwrap();
        p.signed_by(&spki, &self.cert, &self.key).unwrap().der().to_vec()
    }

    fn certificate(&self) -> Certificate {
        Certificate::from_der(self.cert.der()).unwrap()
    }
}

/// What the runtime does at start for `platform`: the platform's AK
/// loaded as its layout says, one runtime event in PCR 15.
fn start_state(p: &mut Platformed, platform: &str) -> StartState {
    let layout = PlatformLayout::for_platform(platform).unwrap();
    let ak = p.tpm.load_ak(&layout).unwrap();
    let banks = p.tpm.active_banks().unwrap();
    let event = RuntimeEvent::model("cloud-test", &[7; 32]);
    let digests: Vec<_> = banks.iter().map(|b| event.digest(*b)).collect();
    p.tpm.extend(RUNTIME_PCR, &digests).unwrap();
    StartState {
        banks: banks.clone(),
        log: RuntimeLog {
            events: vec![event],
            banks,
        },
        ak_public: ak.public,
        ak_cert_chain: ak.certificate.into_iter().collect(),
        layout,
        platform_report: None,
        tcti: p.swtpm.tcti().to_string(),
        platform: platform.to_string(),
        firmware_log: None,
    }
}

const QUALIFYING: [u8; 32] = [0x5A; 32];

/// The modulus and exponent of the RSA AK `init` made at Azure's handle
/// (what an HCL report's `HCLAkPub` names).
fn rsa_ak(p: &mut Platformed) -> (Vec<u8>, u32) {
    let PublicKey::Rsa { modulus, exponent } =
        TpmPublic::parse_tpmt(&p.tpm.ak_public().unwrap()).unwrap().key
    else {
        panic!("an RSA AK")
    };
    (modulus, exponent)
}

/// Verifies `evidence` as a client would (through its JSON), expecting
/// `platform` and anchored in `roots`.
fn verify(evidence: &EvidenceV1, platform: Platform, verifier: &Verifier) -> Result<TrustBasis, Error> {
    verify_with(evidence, platform, verifier, Vec::new())
}

/// [`verify`] with AK intermediates supplied at run time.
fn verify_with(
    evidence: &EvidenceV1,
    platform: Platform,
    verifier: &Verifier,
    ak_intermediates: Vec<Certificate>,
) -> Result<TrustBasis, Error> {
    let parsed = Evidence::parse(&evidence.to_json())?;
    let options = VerifyOptions {
        platform: Some(platform),
        freshness: Some(Freshness::Nonce(QUALIFYING.to_vec())),
        at: SystemTime::now(),
        tpm_anchor: None,
        ak_intermediates,
        replay: Default::default(),
        hardware: Default::default(),
    };
    let verified = verifier.verify(&parsed, &options)?;
    assert!(verified.runtime_log().is_some());
    Ok(verified.trust_basis())
}

fn vtpm_roots(platform: Platform, root: &Ca, intermediates: &[&Ca]) -> Verifier {
    Verifier::new().danger_with_test_roots(TestRoots {
        vtpm: vec![(
            platform,
            TrustStore::new(vec![root.certificate()])
                .with_intermediates(intermediates.iter().map(|c| c.certificate()).collect()),
        )],
        ..TestRoots::default()
    })
}

#[test]
fn azure_trusted_launch_evidence_verifies_under_an_azure_shaped_chain() {
    let mut p = swtpm();
    let root = Ca::root(
        "Microsoft Corporation",
        "Test Azure Virtual TPM Root Certificate Authority 2023",
    );
    let intermediate = root.intermediate("Microsoft Corporation", "Test Global Virtual TPM CA - 01");
    let ak_public = p.tpm.ak_public().unwrap();
    p.tpm
        .write_nv(AK_CERT_NV_INDEX, &intermediate.certify(&ak_public, "test-vm-id"))
        .unwrap();
    let state = start_state(&mut p, "azure-vtpm");
    let evidence = quoted(&mut p.tpm, &state, &QUALIFYING).unwrap();
    // The leaf only: the intermediate (which expires and rotates) is not
    // baked into the image; the verifier holds it.
    assert_eq!(evidence.ak_cert_chain.len(), 1);
    assert_eq!(evidence.platform, "azure-vtpm");
    assert!(evidence.platform_report.is_none());

    let ours = vtpm_roots(Platform::AzureVtpm, &root, &[&intermediate]);
    assert_eq!(
        verify(&evidence, Platform::AzureVtpm, &ours).unwrap(),
        TrustBasis::Hypervisor
    );

    // A verifier whose bundle lacks the intermediate (one the cloud issued
    // since its build) finds no path, until the intermediate is supplied
    // at run time; supplied alone, it anchors nothing.
    let root_only = vtpm_roots(Platform::AzureVtpm, &root, &[]);
    let e = verify(&evidence, Platform::AzureVtpm, &root_only).unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::Chain(_))), "{e}");
    assert_eq!(
        verify_with(
            &evidence,
            Platform::AzureVtpm,
            &root_only,
            vec![intermediate.certificate()]
        )
        .unwrap(),
        TrustBasis::Hypervisor
    );
    let e = verify_with(
        &evidence,
        Platform::AzureVtpm,
        &Verifier::new(),
        vec![intermediate.certificate(), root.certificate()],
    )
    .unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::Chain(_))), "{e}");

    // Azure's real root does not vouch for a test certificate.
    let e = verify(&evidence, Platform::AzureVtpm, &Verifier::new()).unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::Chain(_))), "{e}");
    // Nor does another test chain of the same shape.
    let other = Ca::root(
        "Microsoft Corporation",
        "Test Azure Virtual TPM Root Certificate Authority 2023",
    );
    let other_intermediate = other.intermediate("Microsoft Corporation", "Test Global Virtual TPM CA - 01");
    let e = verify(
        &evidence,
        Platform::AzureVtpm,
        &vtpm_roots(Platform::AzureVtpm, &other, &[&other_intermediate]),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::Chain(_))), "{e}");
    // A test root for another platform is no root for this one.
    let gcp_only = vtpm_roots(Platform::GcpVtpm, &root, &[&intermediate]);
    let e = verify(&evidence, Platform::AzureVtpm, &gcp_only).unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::Chain(_))), "{e}");
}

#[test]
fn a_platform_without_its_nv_layout_fails_at_start() {
    let mut p = swtpm();
    let e = p
        .tpm
        .load_ak(&PlatformLayout::for_platform("gcp-vtpm").unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("0x01c10001"), "{e}");
    let e = p
        .tpm
        .load_ak(&PlatformLayout::for_platform("azure-snp").unwrap())
        .and_then(|_| p.tpm.hcl_report(AZURE_HCL_REPORT_NV_INDEX))
        .unwrap_err();
    assert!(e.to_string().contains("0x01400001"), "{e}");
    let e = PlatformLayout::for_platform("aws-nitro-enclave").unwrap_err();
    assert!(e.to_string().contains("aws-nitro-enclave"), "{e}");
}

#[test]
fn gce_evidence_uses_the_ak_made_from_the_nv_template() {
    let mut p = swtpm();
    let template = gce_ak_template(AkAlgorithm::Rsa2048).unwrap();
    p.tpm.write_nv(GCE_AK_TEMPLATE_RSA_NV_INDEX, &template).unwrap();
    let ak_public = p.tpm.endorsement_primary_public(&template).unwrap();
    let root = Ca::root("Google LLC", "Test EK/AK CA Root");
    let intermediate = root.intermediate("Google LLC", "Test EK/AK CA Intermediate");
    p.tpm
        .write_nv(
            GCE_AK_CERT_RSA_NV_INDEX,
            &intermediate.certify(&ak_public, "test-instance"),
        )
        .unwrap();

    let state = start_state(&mut p, "gcp-vtpm");
    // The same template gives the same key: the one the certificate names,
    // not the Azure-handle AK the platform also holds.
    assert_eq!(state.ak_public, ak_public);
    assert_ne!(state.ak_public, p.azure_handle_ak);
    let evidence = quoted(&mut p.tpm, &state, &QUALIFYING).unwrap();
    let ours = vtpm_roots(Platform::GcpVtpm, &root, &[&intermediate]);
    assert_eq!(
        verify(&evidence, Platform::GcpVtpm, &ours).unwrap(),
        TrustBasis::Hypervisor
    );

    // A certificate for another key: the quote's key is not the certified one.
    let other = gce_ak_template(AkAlgorithm::EccP256).unwrap();
    let other_public = p.tpm.endorsement_primary_public(&other).unwrap();
    p.tpm
        .write_nv(
            GCE_AK_CERT_RSA_NV_INDEX,
            &intermediate.certify(&other_public, "test-instance"),
        )
        .unwrap();
    let state = start_state_again(&mut p, "gcp-vtpm");
    let evidence = quoted(&mut p.tpm, &state, &QUALIFYING).unwrap();
    let e = verify(&evidence, Platform::GcpVtpm, &ours).unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::AkMismatch { .. })), "{e}");
}

/// [`start_state`] on a TPM whose PCR 15 is already extended: the log
/// carries both events.
fn start_state_again(p: &mut Platformed, platform: &str) -> StartState {
    let mut state = start_state(p, platform);
    state
        .log
        .events
        .insert(0, RuntimeEvent::model("cloud-test", &[7; 32]));
    state
}

#[test]
fn azure_snp_evidence_carries_the_hcl_report_and_verifies_to_amd_shaped_roots() {
    use blindfold_testdata::snp;
    let mut p = swtpm();
    let (modulus, exponent) = rsa_ak(&mut p);
    let pki = snp::milan_pki();
    let hcl = |modulus: &[u8]| {
        let runtime_data = snp::hcl_runtime_data(modulus, exponent);
        let report = snp::signed_report(
            &pki.vcek_key,
            0,
            false,
            snp::MILAN_CPUID,
            &snp::report_data_for(&runtime_data),
        );
        snp::hcl_report(&report, 2, &runtime_data)
    };
    p.tpm.write_nv(AZURE_HCL_REPORT_NV_INDEX, &hcl(&modulus)).unwrap();

    let mut state = start_state(&mut p, "azure-snp");
    // What the runtime collects at start: the HCL report from NV, the VCEK
    // from the metadata service.
    state.platform_report = Some(PlatformReportV1::AzureSnp {
        hcl_report: p.tpm.hcl_report(AZURE_HCL_REPORT_NV_INDEX).unwrap(),
        vcek: pki.vcek_der.clone(),
    });
    assert!(
        state.ak_cert_chain.is_empty(),
        "the HCL report vouches for the AK"
    );
    let evidence = quoted(&mut p.tpm, &state, &QUALIFYING).unwrap();
    let amd =
        blindfold_snp::AmdRoots::from_chain_pem(blindfold_snp::ProductLine::Milan, pki.chain_pem.as_bytes())
            .unwrap();
    let ours = Verifier::new().danger_with_test_roots(TestRoots {
        amd: Some(amd),
        ..TestRoots::default()
    });
    assert_eq!(
        verify(&evidence, Platform::AzureSnp, &ours).unwrap(),
        TrustBasis::Cvm
    );
    // AMD's real roots do not vouch for a test VCEK.
    let e = verify(&evidence, Platform::AzureSnp, &Verifier::new()).unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::Snp(_))), "{e}");

    // An HCL report naming another AK: the quote's key is not the one the
    // hardware vouches for.
    let mut state = start_state_again(&mut p, "azure-snp");
    state.platform_report = Some(PlatformReportV1::AzureSnp {
        hcl_report: hcl(&[0xC3; 256]),
        vcek: pki.vcek_der.clone(),
    });
    let evidence = quoted(&mut p.tpm, &state, &QUALIFYING).unwrap();
    let e = verify(&evidence, Platform::AzureSnp, &ours).unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::AkMismatch { .. })), "{e}");
    // Without its report the evidence names no anchor at all.
    state.platform_report = None;
    let evidence = quoted(&mut p.tpm, &state, &QUALIFYING).unwrap();
    let e = verify(&evidence, Platform::AzureSnp, &ours).unwrap_err();
    assert!(e.to_string().contains("without its hardware report"), "{e}");
}

#[test]
fn azure_tdx_evidence_carries_the_hcl_report_and_the_td_quote() {
    use blindfold_testdata::{snp, tdx};
    let mut p = swtpm();
    let (modulus, exponent) = rsa_ak(&mut p);
    let runtime_data = snp::hcl_runtime_data(&modulus, exponent);
    // The HCL report holds the TD report (type 4); the TD quote made from
    // it carries the same report data: the runtime data's hash.
    let mut td_report = vec![0u8; 1024];
    td_report[128..192].copy_from_slice(&snp::report_data_for(&runtime_data));
    let hcl = snp::hcl_report(&td_report, 4, &runtime_data);
    p.tpm.write_nv(AZURE_HCL_REPORT_NV_INDEX, &hcl).unwrap();
    let pki = tdx::TestPki::generate();
    let quote = |report_data: [u8; 64]| {
        let mut spec = tdx::QuoteSpec::new(&pki);
        spec.report_data = report_data;
        tdx::td_quote(&pki, &spec)
    };

    let mut state = start_state(&mut p, "azure-tdx");
    let hcl_report = p.tpm.hcl_report(AZURE_HCL_REPORT_NV_INDEX).unwrap();
    state.platform_report = Some(PlatformReportV1::AzureTdx {
        hcl_report: hcl_report.clone(),
        td_quote: quote(snp::report_data_for(&runtime_data)),
    });
    let evidence = quoted(&mut p.tpm, &state, &QUALIFYING).unwrap();
    let ours = Verifier::new().danger_with_test_roots(TestRoots {
        intel: Some(blindfold_tdx::IntelRoots::from_pem(pki.root_pem.as_bytes()).unwrap()),
        ..TestRoots::default()
    });
    assert_eq!(
        verify(&evidence, Platform::AzureTdx, &ours).unwrap(),
        TrustBasis::Cvm
    );
    let e = verify(&evidence, Platform::AzureTdx, &Verifier::new()).unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::Tdx(_))), "{e}");
    // A TD quote over other report data does not bind this HCL report.
    state.platform_report = Some(PlatformReportV1::AzureTdx {
        hcl_report,
        td_quote: quote([0x42; 64]),
    });
    let evidence = quoted(&mut p.tpm, &state, &QUALIFYING).unwrap();
    let e = verify(&evidence, Platform::AzureTdx, &ours).unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::HclBinding { .. })), "{e}");
}

#[test]
fn a_quote_over_another_nonce_is_refused_on_a_cloud_platform_too() {
    let mut p = swtpm();
    let root = Ca::root("Microsoft Corporation", "Test root");
    let ak_public = p.tpm.ak_public().unwrap();
    p.tpm
        .write_nv(AK_CERT_NV_INDEX, &root.certify(&ak_public, "vm"))
        .unwrap();
    let state = start_state(&mut p, "azure-vtpm");
    let evidence = quoted(&mut p.tpm, &state, &[0x11; 32]).unwrap();
    let e = verify(
        &evidence,
        Platform::AzureVtpm,
        &vtpm_roots(Platform::AzureVtpm, &root, &[]),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::Quote { .. })), "{e}");
}

#[test]
fn nitrotpm_evidence_is_the_quote_and_a_document_naming_its_ak_and_nonce() {
    use blindfold_testdata::nitro::{document, DocumentSpec};
    let mut p = swtpm();
    let mut state = start_state(&mut p, "aws-nitrotpm");
    assert!(state.ak_cert_chain.is_empty(), "nobody certifies a NitroTPM AK");
    assert_ne!(state.ak_public, p.azure_handle_ak, "a fresh AK");
    let sha384: Vec<(u8, Vec<u8>)> = p
        .tpm
        .read_pcrs(&[blindfold_crypto::HashAlg::Sha384], &(0..16).collect::<Vec<_>>())
        .unwrap()
        .banks()
        .flat_map(|(_, values)| {
            values
                .iter()
                .map(|(i, d)| (i.0 as u8, d.as_bytes().to_vec()))
                .collect::<Vec<_>>()
        })
        .collect();
    let ak_spki = TpmPublic::parse_tpmt(&state.ak_public)
        .unwrap()
        .key
        .to_spki_der()
        .unwrap();
    // The NSM stands in here (swtpm has no vendor command): a document
    // signed by a test chain, with what the enclave asks for in it.
    let nsm = |nonce: &[u8], public_key: &[u8], pcrs: &[(u8, Vec<u8>)]| {
        document(&DocumentSpec {
            algorithm: coset::iana::Algorithm::ES384,
            nitrotpm: true,
            pcrs: pcrs.to_vec(),
            nonce: Some(nonce.to_vec()),
            public_key: Some(public_key.to_vec()),
            timestamp_ms: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
        })
    };
    // The document is made per quote from the qualifying data; the
    // stand-in answers before the quote instead: the layout asks for no
    // document, and the quote covers the SHA-384 bank, as NitroTPM's does.
    assert_eq!(
        state.layout.quoted_banks(),
        Some(&[blindfold_crypto::HashAlg::Sha384][..])
    );
    state.layout.report = ReportSource::None;
    state.banks = vec![blindfold_crypto::HashAlg::Sha384];
    let check = |state: &mut StartState, tpm: &mut Tpm, (doc, root): (Vec<u8>, Vec<u8>)| {
        state.platform_report = Some(PlatformReportV1::NitroDocument { document: doc });
        let evidence = quoted(tpm, state, &QUALIFYING).unwrap();
        let verifier = Verifier::new().danger_with_test_roots(TestRoots {
            nitro: Some(blindfold_nitro::NitroRoots::from_certificates(vec![
                Certificate::from_der(&root).unwrap(),
            ])),
            ..TestRoots::default()
        });
        verify(&evidence, Platform::AwsNitroTpm, &verifier)
    };
    assert_eq!(
        check(&mut state, &mut p.tpm, nsm(&QUALIFYING, &ak_spki, &sha384)).unwrap(),
        TrustBasis::Hypervisor
    );
    // Another session's document.
    let e = check(&mut state, &mut p.tpm, nsm(&[0x11; 32], &ak_spki, &sha384)).unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::Nitro(_))), "{e}");
    // A document naming another key than the one that signed the quote.
    let other = PublicKey::rsa(&[0xC5; 256], 65537).to_spki_der().unwrap();
    let e = check(&mut state, &mut p.tpm, nsm(&QUALIFYING, &other, &sha384)).unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::AkMismatch { .. })), "{e}");
    // PCRs the quote does not show.
    let mut moved = sha384.clone();
    moved[15].1 = vec![0xEE; 48];
    let e = check(&mut state, &mut p.tpm, nsm(&QUALIFYING, &ak_spki, &moved)).unwrap_err();
    assert!(e.to_string().contains("15"), "{e}");
}

/// The RSA template is GCE's: a real GCE AK's public area (go-tpm-tools'
/// COS 85 attestation) has the same type, name algorithm, attributes and
/// parameters; only the unique field (the key) follows.
#[test]
fn the_gce_template_matches_a_real_gce_ak() {
    let sample = std::fs::read(
        blindfold_testdata::shared_dir()
            .join("gcp-vtpm/gce-cos85-attestation-nonce9009/gce-cos-85-nonce9009.pb"),
    )
    .unwrap();
    let template = gce_ak_template(AkAlgorithm::Rsa2048).unwrap();
    // type, nameAlg, objectAttributes, empty authPolicy, symmetric NULL,
    // RSASSA-SHA256, 2048 bits, default exponent; then the unique's size.
    let parameters = &template[..22];
    assert_eq!(hex::encode(&parameters[4..8]), "00050072");
    assert!(
        sample.windows(parameters.len()).any(|w| w == parameters),
        "no AK with these parameters in the GCE sample"
    );
}
