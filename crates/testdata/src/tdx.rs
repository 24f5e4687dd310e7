//! Generated TDX quotes for tests: a key chain ("Test SGX Root" → "Test
//! PCK", ECDSA P-256; never bundled anywhere), a QE report signed by the
//! PCK key and binding a generated attestation key, and a v4 quote over a
//! TD report whose fields the test chooses. Real quotes verify only to
//! Intel's root; these verify only to their own.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};

/// Bytes of a TD report body (TDX 1.0).
const TD_REPORT_BODY_LEN: usize = 584;
/// Bytes of an SGX report body (the QE report).
const QE_REPORT_LEN: usize = 384;
/// MRSIGNER of Intel's TD quoting enclave.
pub const INTEL_TD_QE_MRSIGNER: &str = "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5";

/// A generated key chain standing in for Intel's.
pub struct TestPki {
    /// The root certificate (PEM): the only anchor these quotes verify to.
    pub root_pem: String,
    /// PCK leaf then root (PEM), as a quote carries them.
    pub chain_pem: String,
    /// The PCK key (signs QE reports).
    pub pck: EcdsaKeyPair,
}

impl TestPki {
    /// A fresh chain.
    pub fn generate() -> TestPki {
        let alg = &rcgen::PKCS_ECDSA_P256_SHA256;
        let root_key = KeyPair::generate_for(alg).expect("root key");
        let mut root = CertificateParams::new(vec![]).expect("root params");
        root.distinguished_name.push(DnType::CommonName, "Test SGX Root");
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root_cert = root.self_signed(&root_key).expect("root certificate");
        let leaf_key = KeyPair::generate_for(alg).expect("leaf key");
        let mut leaf = CertificateParams::new(vec![]).expect("leaf params");
        leaf.distinguished_name.push(DnType::CommonName, "Test PCK");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let leaf_cert = leaf
            .signed_by(&leaf_key, &root_cert, &root_key)
            .expect("leaf certificate");
        let pck = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &leaf_key.serialize_der(),
            &SystemRandom::new(),
        )
        .expect("PCK key");
        TestPki {
            root_pem: root_cert.pem(),
            chain_pem: format!("{}{}", leaf_cert.pem(), root_cert.pem()),
            pck,
        }
    }
}

/// A fresh P-256 key.
pub fn generated_key() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("key")
}

fn sign(key: &EcdsaKeyPair, message: &[u8]) -> Vec<u8> {
    key.sign(&SystemRandom::new(), message)
        .expect("signature")
        .as_ref()
        .to_vec()
}

/// What goes into a generated quote.
pub struct QuoteSpec<'a> {
    /// TD_ATTRIBUTES (bit 0: debug).
    pub td_attributes: u64,
    /// RTMR 0 to 3.
    pub rtmrs: [[u8; 48]; 4],
    /// The key that signs the QE report (the PCK key, unless a test forges).
    pub qe_signer: &'a EcdsaKeyPair,
    /// The QE's MRSIGNER (Intel's TD QE unless a test says otherwise).
    pub qe_mr_signer: [u8; 32],
    /// REPORTDATA.
    pub report_data: [u8; 64],
}

impl<'a> QuoteSpec<'a> {
    /// A non-debug TD with zero RTMRs and report data `0x42…`, quoted by
    /// Intel's TD QE identity.
    pub fn new(pki: &'a TestPki) -> QuoteSpec<'a> {
        let mut qe_mr_signer = [0u8; 32];
        qe_mr_signer.copy_from_slice(&hex::decode(INTEL_TD_QE_MRSIGNER).expect("hex"));
        QuoteSpec {
            td_attributes: 0,
            rtmrs: [[0; 48]; 4],
            qe_signer: &pki.pck,
            qe_mr_signer,
            report_data: [0x42; 64],
        }
    }
}

/// A v4 TDX quote: MRTD `0x11…`, the rest from `spec`.
pub fn td_quote(pki: &TestPki, spec: &QuoteSpec<'_>) -> Vec<u8> {
    let ak = generated_key();
    let ak_public = &ak.public_key().as_ref()[1..]; // drop the 0x04 of the uncompressed point
    assert_eq!(ak_public.len(), 64);

    let mut header = Vec::new();
    header.extend(4u16.to_le_bytes());
    header.extend(2u16.to_le_bytes());
    header.extend(0x81u32.to_le_bytes());
    header.extend([0u8; 4]);
    header.extend(hex::decode("939a7233f79c4ca9940a0db3957f0607").expect("hex"));
    header.extend([0u8; 20]);
    let mut body = vec![0u8; TD_REPORT_BODY_LEN];
    body[120..128].copy_from_slice(&spec.td_attributes.to_le_bytes());
    body[136..184].fill(0x11); // MRTD
    for (i, rtmr) in spec.rtmrs.iter().enumerate() {
        body[328 + 48 * i..376 + 48 * i].copy_from_slice(rtmr);
    }
    body[520..584].copy_from_slice(&spec.report_data);

    let auth_data: Vec<u8> = (0..32u8).collect();
    let mut qe_report = vec![0u8; QE_REPORT_LEN];
    // Intel's TD QE identity: ATTRIBUTES (INIT | MODE64BIT | PROVISIONKEY, XFRM), MRSIGNER, ISVPRODID 2.
    qe_report[48..64].copy_from_slice(&hex::decode("1500000000000000e700000000000000").expect("hex"));
    qe_report[128..160].copy_from_slice(&spec.qe_mr_signer);
    qe_report[256..258].copy_from_slice(&2u16.to_le_bytes());
    let binding = ring::digest::digest(&ring::digest::SHA256, &[ak_public, &auth_data].concat());
    qe_report[320..352].copy_from_slice(binding.as_ref());

    let mut cert = Vec::new();
    cert.extend(&qe_report);
    cert.extend(sign(spec.qe_signer, &qe_report));
    cert.extend((auth_data.len() as u16).to_le_bytes());
    cert.extend(&auth_data);
    cert.extend(5u16.to_le_bytes());
    cert.extend((pki.chain_pem.len() as u32).to_le_bytes());
    cert.extend(pki.chain_pem.as_bytes());

    let signed = [header, body].concat();
    let mut sig = Vec::new();
    sig.extend(sign(&ak, &signed));
    sig.extend(ak_public);
    sig.extend(6u16.to_le_bytes());
    sig.extend((cert.len() as u32).to_le_bytes());
    sig.extend(cert);

    let mut out = signed;
    out.extend((sig.len() as u32).to_le_bytes());
    out.extend(sig);
    out
}
