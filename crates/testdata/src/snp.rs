//! Generated SEV-SNP reports for tests: an AMD-shaped PKI (test ARK → ASK
//! "SEV-<line>" → VCEK with hwID and TCB extensions, all ECDSA P-384;
//! never bundled anywhere), version 3 reports signed by its VCEK, and
//! Azure HCL reports around them whose runtime data names a vTPM AK. Real
//! reports verify only to AMD's roots; these verify only to their own.

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P384_SHA384,
};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};

/// An SNP report's length.
pub const REPORT_LEN: usize = 0x4A0;
/// The bytes the report's signature covers.
pub const SIGNED_LEN: usize = 0x2A0;
/// The chip id the generated reports and VCEKs carry.
pub const CHIP_ID: [u8; 64] = [0x42; 64];
/// REPORTED_TCB in the Milan/Genoa layout: boot loader 3, TEE 0, SNP 8, microcode 115.
pub const TCB: [u8; 8] = [3, 0, 0, 0, 0, 0, 8, 115];
/// CPUID family, model, stepping of a Milan part.
pub const MILAN_CPUID: (u8, u8, u8) = (0x19, 0x01, 0x01);
/// CPUID family, model, stepping of a Genoa part.
pub const GENOA_CPUID: (u8, u8, u8) = (0x19, 0x11, 0x01);

/// A generated AMD-shaped PKI.
pub struct Pki {
    /// ASK and ARK, PEM (what `AmdRoots::from_chain_pem` takes).
    pub chain_pem: String,
    /// The VCEK (DER).
    pub vcek_der: Vec<u8>,
    /// The VCEK's key (signs reports).
    pub vcek_key: KeyPair,
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Advanced Micro Devices");
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = name(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = date_time_ymd(2024, 1, 1);
    p.not_after = date_time_ymd(2030, 1, 1);
    p
}

/// A DER INTEGER 0..=255, as AMD encodes each SPL extension.
fn der_u8(v: u8) -> Vec<u8> {
    if v < 0x80 {
        vec![0x02, 0x01, v]
    } else {
        vec![0x02, 0x02, 0x00, v]
    }
}

/// ARK-`line` → SEV-`line` → SEV-VCEK with hwID `hw_id` and TCB `tcb`
/// (boot loader, TEE, SNP, microcode). `line` is a product line's name
/// (`Milan`, `Genoa`).
pub fn pki(line: &str, hw_id: &[u8], tcb: [u8; 4]) -> Pki {
    let ark_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("ARK key");
    let ark = ca_params(&format!("ARK-{line}"))
        .self_signed(&ark_key)
        .expect("ARK");
    let ask_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("ASK key");
    let ask = ca_params(&format!("SEV-{line}"))
        .signed_by(&ask_key, &ark, &ark_key)
        .expect("ASK");

    let vcek_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("VCEK key");
    let mut p = CertificateParams::default();
    p.distinguished_name = name("SEV-VCEK");
    p.not_before = date_time_ymd(2024, 1, 1);
    p.not_after = date_time_ymd(2030, 1, 1);
    let amd = |arc: &[u64]| [&[1, 3, 6, 1, 4, 1, 3704, 1][..], arc].concat();
    // AMD puts the 64 raw bytes of the chip id in hwID's extnValue.
    p.custom_extensions = vec![
        CustomExtension::from_oid_content(&amd(&[4]), hw_id.to_vec()),
        CustomExtension::from_oid_content(&amd(&[3, 1]), der_u8(tcb[0])),
        CustomExtension::from_oid_content(&amd(&[3, 2]), der_u8(tcb[1])),
        CustomExtension::from_oid_content(&amd(&[3, 3]), der_u8(tcb[2])),
        CustomExtension::from_oid_content(&amd(&[3, 8]), der_u8(tcb[3])),
    ];
    let vcek = p.signed_by(&vcek_key, &ask, &ask_key).expect("VCEK");
    Pki {
        chain_pem: format!("{}{}", ask.pem(), ark.pem()),
        vcek_der: vcek.der().to_vec(),
        vcek_key,
    }
}

/// A Milan PKI for [`CHIP_ID`] and [`TCB`].
pub fn milan_pki() -> Pki {
    pki("Milan", &CHIP_ID, [TCB[0], TCB[1], TCB[6], TCB[7]])
}

/// A version 3 report at `vmpl` (debug policy if `debug`) on a `cpuid`
/// part, carrying `report_data`, signed by `key`.
pub fn signed_report(
    key: &KeyPair,
    vmpl: u32,
    debug: bool,
    cpuid: (u8, u8, u8),
    report_data: &[u8; 64],
) -> Vec<u8> {
    let mut r = vec![0u8; REPORT_LEN];
    r[0x00..0x04].copy_from_slice(&3u32.to_le_bytes());
    let policy: u64 = 0x3_0000 | if debug { 1 << 19 } else { 0 };
    r[0x08..0x10].copy_from_slice(&policy.to_le_bytes());
    r[0x30..0x34].copy_from_slice(&vmpl.to_le_bytes());
    r[0x34..0x38].copy_from_slice(&1u32.to_le_bytes());
    for offset in [0x38, 0x180, 0x1E0, 0x1F0] {
        r[offset..offset + 8].copy_from_slice(&TCB);
    }
    r[0x50..0x90].copy_from_slice(report_data);
    r[0x90..0xC0].copy_from_slice(&[0xCD; 48]);
    (r[0x188], r[0x189], r[0x18A]) = cpuid;
    r[0x1A0..0x1E0].copy_from_slice(&CHIP_ID);
    sign(&mut r, key);
    r
}

/// Signs bytes 0..0x2A0 and stores r and s as 72-byte little-endian fields.
pub fn sign(r: &mut [u8], key: &KeyPair) {
    let rng = SystemRandom::new();
    let signer = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &key.serialize_der(), &rng)
        .expect("VCEK key as PKCS#8");
    let sig = signer.sign(&rng, &r[..SIGNED_LEN]).expect("signature");
    let (sig_r, sig_s) = sig.as_ref().split_at(48);
    let mut le = |offset: usize, be: &[u8]| {
        r[offset..offset + 72].fill(0);
        for (i, b) in be.iter().rev().enumerate() {
            r[offset + i] = *b;
        }
    };
    le(0x2A0, sig_r);
    le(0x2E8, sig_s);
}

/// The runtime data of an Azure HCL report naming an RSA AK (`HCLAkPub`,
/// big-endian modulus and exponent) as a JWK. Shorter than Azure's (no
/// `HCLEkPub`): an swtpm NV index holds at most 2048 bytes.
pub fn hcl_runtime_data(ak_modulus: &[u8], ak_exponent: u32) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let e = ak_exponent.to_be_bytes();
    let e = &e[e.iter().position(|b| *b != 0).unwrap_or(3)..];
    serde_json::to_vec(&serde_json::json!({
        "keys": [
            {"kid": "HCLAkPub", "key_ops": ["sign"], "kty": "RSA", "n": b64(ak_modulus), "e": b64(e)}
        ],
        "vm-configuration": {"console-enabled": false, "secure-boot": true, "tpm-enabled": true}
    }))
    .expect("JSON")
}

/// An HCL report: the 32-byte header ("HCLA"), the hardware report in its
/// 1184 bytes, the IGVM request-data header (report type 2 = SNP, 4 = TDX;
/// runtime data hashed with SHA-256), the runtime data, zero padding.
pub fn hcl_report(hardware_report: &[u8], report_type: u32, runtime_data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"HCLA");
    out.extend_from_slice(&2u32.to_le_bytes()); // version
    out.extend_from_slice(&(REPORT_LEN as u32).to_le_bytes());
    out.extend_from_slice(&2u32.to_le_bytes()); // request type
    out.resize(32, 0);
    let mut hw = hardware_report.to_vec();
    hw.resize(1184, 0);
    out.extend_from_slice(&hw);
    let data_size = 20 + runtime_data.len() as u32;
    out.extend_from_slice(&data_size.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // version
    out.extend_from_slice(&report_type.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // SHA-256
    out.extend_from_slice(&(runtime_data.len() as u32).to_le_bytes());
    out.extend_from_slice(runtime_data);
    out.resize(out.len() + 16, 0);
    out
}

/// The report data binding `runtime_data`: its SHA-256, zero padded.
pub fn report_data_for(runtime_data: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(ring::digest::digest(&ring::digest::SHA256, runtime_data).as_ref());
    out
}
