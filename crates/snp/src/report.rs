//! The `ATTESTATION_REPORT` structure (AMD SEV-SNP firmware ABI
//! specification, table "ATTESTATION_REPORT structure"): parsing only.

use std::fmt;

use blindfold_crypto::Signature;

use crate::error::Error;
use crate::product::ProductLine;

/// Length of a report: 0x4A0 bytes.
pub const REPORT_LEN: usize = 0x4A0;
/// Length of the signed part (everything before the signature).
pub const SIGNED_LEN: usize = 0x2A0;
/// Lowest report version parsed.
pub const MIN_VERSION: u32 = 2;
/// Highest report version parsed.
pub const MAX_VERSION: u32 = 5;
/// `SIGNATURE_ALGO` of ECDSA P-384 with SHA-384.
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;

// Offsets of the fields (all little-endian).
const VERSION: usize = 0x00;
const GUEST_SVN: usize = 0x04;
const POLICY: usize = 0x08;
const FAMILY_ID: usize = 0x10;
const IMAGE_ID: usize = 0x20;
const VMPL: usize = 0x30;
const SIGNATURE_ALGO: usize = 0x34;
const CURRENT_TCB: usize = 0x38;
const PLATFORM_INFO: usize = 0x40;
const KEY_INFO: usize = 0x48;
const REPORT_DATA: usize = 0x50;
const MEASUREMENT: usize = 0x90;
const HOST_DATA: usize = 0xC0;
const ID_KEY_DIGEST: usize = 0xE0;
const AUTHOR_KEY_DIGEST: usize = 0x110;
const REPORT_ID: usize = 0x140;
const REPORT_ID_MA: usize = 0x160;
const REPORTED_TCB: usize = 0x180;
const CPUID_FAM_ID: usize = 0x188;
const CPUID_MOD_ID: usize = 0x189;
const CPUID_STEP: usize = 0x18A;
const CHIP_ID: usize = 0x1A0;
const COMMITTED_TCB: usize = 0x1E0;
const CURRENT_FW: usize = 0x1E8;
const COMMITTED_FW: usize = 0x1EC;
const LAUNCH_TCB: usize = 0x1F0;
const LAUNCH_MIT_VECTOR: usize = 0x1F8;
const CURRENT_MIT_VECTOR: usize = 0x200;
const SIG_R: usize = 0x2A0;
const SIG_S: usize = 0x2E8;
/// Each of `r` and `s` is stored in a 72-byte little-endian field.
const SIG_COMPONENT_LEN: usize = 72;
/// P-384 scalars are 48 bytes.
const P384_LEN: usize = 48;

/// The guest policy (`POLICY`), as the guest owner set it at launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuestPolicy(pub u64);

impl GuestPolicy {
    /// Bit 19: the hypervisor may debug the guest (read its memory).
    pub const DEBUG_BIT: u32 = 19;

    /// The 64-bit policy.
    pub fn raw(&self) -> u64 {
        self.0
    }

    /// Whether the policy allows debugging (bit 19).
    pub fn debug_allowed(&self) -> bool {
        self.0 & (1 << Self::DEBUG_BIT) != 0
    }

    /// Bit 18: a migration agent may be associated with the guest (it can
    /// export the guest's memory to another machine).
    pub const MIGRATE_MA_BIT: u32 = 18;

    /// Whether the policy allows a migration agent (bit 18).
    pub fn migrate_ma_allowed(&self) -> bool {
        self.0 & (1 << Self::MIGRATE_MA_BIT) != 0
    }
}

/// A TCB version (security patch levels) decoded from its 64-bit form.
/// The layout depends on the product line: Milan and Genoa put the boot
/// loader in byte 0, the TEE in byte 1, SNP in byte 6 and microcode in
/// byte 7; Turin adds an FMC level in byte 0 and moves the boot loader,
/// TEE and SNP to bytes 1, 2 and 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcbVersion {
    /// FMC (Turin only).
    pub fmc: Option<u8>,
    /// PSP boot loader SPL.
    pub bootloader: u8,
    /// PSP OS (TEE) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Lowest microcode patch level of all cores.
    pub microcode: u8,
    /// The 64-bit value as in the report.
    pub raw: u64,
}

impl TcbVersion {
    /// Decodes `raw` in the layout of `line`.
    pub fn decode(raw: u64, line: ProductLine) -> TcbVersion {
        let b = raw.to_le_bytes();
        match line {
            ProductLine::Milan | ProductLine::Genoa => TcbVersion {
                fmc: None,
                bootloader: b[0],
                tee: b[1],
                snp: b[6],
                microcode: b[7],
                raw,
            },
            ProductLine::Turin => TcbVersion {
                fmc: Some(b[0]),
                bootloader: b[1],
                tee: b[2],
                snp: b[3],
                microcode: b[7],
                raw,
            },
        }
    }
}

impl fmt::Display for TcbVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fmc) = self.fmc {
            write!(f, "fmc={fmc} ")?;
        }
        write!(
            f,
            "bootloader={} tee={} snp={} microcode={}",
            self.bootloader, self.tee, self.snp, self.microcode
        )
    }
}

/// The CPU the report was made on (report version 3 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cpuid {
    /// Family (extended family + family), e.g. 0x19.
    pub family: u8,
    /// Model (extended model and model), e.g. 0x01.
    pub model: u8,
    /// Stepping.
    pub stepping: u8,
}

impl Cpuid {
    /// The product line this family and model belong to, if known: Milan
    /// is family 0x19 models 0x00–0x0F, Genoa family 0x19 models 0x10–0x1F
    /// and 0xA0–0xAF, Turin family 0x1A models 0x00–0x11.
    pub fn product_line(&self) -> Option<ProductLine> {
        match (self.family, self.model) {
            (0x19, 0x00..=0x0F) => Some(ProductLine::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(ProductLine::Genoa),
            (0x1A, 0x00..=0x11) => Some(ProductLine::Turin),
            _ => None,
        }
    }
}

/// A firmware version (`CURRENT_*` / `COMMITTED_*` build, minor, major).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FirmwareVersion {
    /// Major.
    pub major: u8,
    /// Minor.
    pub minor: u8,
    /// Build.
    pub build: u8,
}

/// The key that signed a report (`SIGNING_KEY`, bits 4:2 at 0x48).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningKey {
    /// The chip's Versioned Chip Endorsement Key.
    Vcek,
    /// A Versioned Loaded Endorsement Key (cloud-provider loaded).
    Vlek,
    /// No key: the report is unsigned.
    None,
    /// A value the specification reserves.
    Reserved(u8),
}

impl fmt::Display for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigningKey::Vcek => f.write_str("the VCEK"),
            SigningKey::Vlek => f.write_str("a VLEK"),
            SigningKey::None => f.write_str("no key (unsigned)"),
            SigningKey::Reserved(v) => write!(f, "reserved signing key value {v}"),
        }
    }
}

/// A parsed SEV-SNP attestation report. Parsing checks only the shape
/// (length, version); [`crate::SnpVerifier`] checks the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct SnpReport {
    bytes: Box<[u8; REPORT_LEN]>,
    /// The product line used to decode TCB versions.
    tcb_line: ProductLine,
}

impl fmt::Debug for SnpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnpReport")
            .field("version", &self.version())
            .field("guest_svn", &self.guest_svn())
            .field("policy", &self.policy())
            .field("vmpl", &self.vmpl())
            .field("measurement", &hex::encode(self.measurement()))
            .field("report_data", &hex::encode(self.report_data()))
            .field("reported_tcb", &self.reported_tcb())
            .field("chip_id", &hex::encode(self.chip_id()))
            .finish_non_exhaustive()
    }
}

fn array<const N: usize>(bytes: &[u8; REPORT_LEN], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    // Offsets are the constants above, all within REPORT_LEN.
    out.copy_from_slice(&bytes[offset..offset + N]);
    out
}

impl SnpReport {
    /// Parses a report: exactly [`REPORT_LEN`] bytes, version
    /// [`MIN_VERSION`] to [`MAX_VERSION`]. TCB versions are decoded in the
    /// layout of the product line the CPUID fields name (version 3 and
    /// later), else in the Milan/Genoa layout; the verifier re-decodes them
    /// for the VCEK's product line.
    pub fn parse(bytes: &[u8]) -> Result<SnpReport, Error> {
        let bytes: [u8; REPORT_LEN] = bytes.try_into().map_err(|_| Error::ReportLength {
            expected: REPORT_LEN,
            actual: bytes.len(),
        })?;
        let version = u32::from_le_bytes(array(&bytes, VERSION));
        if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion {
                actual: version,
                min: MIN_VERSION,
                max: MAX_VERSION,
            });
        }
        let mut report = SnpReport {
            bytes: Box::new(bytes),
            tcb_line: ProductLine::Milan,
        };
        if let Some(line) = report.cpuid().and_then(|c| c.product_line()) {
            report.tcb_line = line;
        }
        Ok(report)
    }

    /// Decodes TCB versions in the layout of `line` from now on (the
    /// verifier calls this with the VCEK's product line).
    pub(crate) fn set_tcb_line(&mut self, line: ProductLine) {
        self.tcb_line = line;
    }

    fn u32_at(&self, offset: usize) -> u32 {
        u32::from_le_bytes(array(&self.bytes, offset))
    }

    fn u64_at(&self, offset: usize) -> u64 {
        u64::from_le_bytes(array(&self.bytes, offset))
    }

    fn tcb_at(&self, offset: usize) -> TcbVersion {
        TcbVersion::decode(self.u64_at(offset), self.tcb_line)
    }

    /// The whole report as given.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..]
    }

    /// The bytes the signature covers: 0x000 to 0x2A0.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.bytes[..SIGNED_LEN]
    }

    /// `VERSION`.
    pub fn version(&self) -> u32 {
        self.u32_at(VERSION)
    }

    /// `GUEST_SVN`.
    pub fn guest_svn(&self) -> u32 {
        self.u32_at(GUEST_SVN)
    }

    /// `POLICY`.
    pub fn policy(&self) -> GuestPolicy {
        GuestPolicy(self.u64_at(POLICY))
    }

    /// `FAMILY_ID`.
    pub fn family_id(&self) -> [u8; 16] {
        array(&self.bytes, FAMILY_ID)
    }

    /// `IMAGE_ID`.
    pub fn image_id(&self) -> [u8; 16] {
        array(&self.bytes, IMAGE_ID)
    }

    /// `VMPL`: the privilege level that requested the report.
    pub fn vmpl(&self) -> u32 {
        self.u32_at(VMPL)
    }

    /// `SIGNATURE_ALGO` (1: ECDSA P-384 with SHA-384).
    pub fn signature_algo(&self) -> u32 {
        self.u32_at(SIGNATURE_ALGO)
    }

    /// `CURRENT_TCB`.
    pub fn current_tcb(&self) -> TcbVersion {
        self.tcb_at(CURRENT_TCB)
    }

    /// `PLATFORM_INFO` (SMT enabled, TSME enabled, ...).
    pub fn platform_info(&self) -> u64 {
        self.u64_at(PLATFORM_INFO)
    }

    /// `AUTHOR_KEY_EN` (bit 0 at 0x48): the ID block was signed by an author key.
    pub fn author_key_en(&self) -> bool {
        self.u32_at(KEY_INFO) & 1 != 0
    }

    /// `MASK_CHIP_KEY` (bit 1 at 0x48): the firmware masked the chip key
    /// (the signature is then all zero).
    pub fn mask_chip_key(&self) -> bool {
        self.u32_at(KEY_INFO) & 2 != 0
    }

    /// `SIGNING_KEY` (bits 4:2 at 0x48).
    pub fn signing_key(&self) -> SigningKey {
        match (self.u32_at(KEY_INFO) >> 2) & 0b111 {
            0 => SigningKey::Vcek,
            1 => SigningKey::Vlek,
            7 => SigningKey::None,
            // Masked to three bits above.
            v => SigningKey::Reserved(v as u8),
        }
    }

    /// `REPORT_DATA`: the 64 bytes the guest asked to be signed.
    pub fn report_data(&self) -> [u8; 64] {
        array(&self.bytes, REPORT_DATA)
    }

    /// `MEASUREMENT`: the launch digest.
    pub fn measurement(&self) -> [u8; 48] {
        array(&self.bytes, MEASUREMENT)
    }

    /// `HOST_DATA`: data the host gave at launch.
    pub fn host_data(&self) -> [u8; 32] {
        array(&self.bytes, HOST_DATA)
    }

    /// `ID_KEY_DIGEST`: SHA-384 of the ID block's signing key.
    pub fn id_key_digest(&self) -> [u8; 48] {
        array(&self.bytes, ID_KEY_DIGEST)
    }

    /// `AUTHOR_KEY_DIGEST`: SHA-384 of the ID block's author key.
    pub fn author_key_digest(&self) -> [u8; 48] {
        array(&self.bytes, AUTHOR_KEY_DIGEST)
    }

    /// `REPORT_ID`.
    pub fn report_id(&self) -> [u8; 32] {
        array(&self.bytes, REPORT_ID)
    }

    /// `REPORT_ID_MA`: the migration agent's report id.
    pub fn report_id_ma(&self) -> [u8; 32] {
        array(&self.bytes, REPORT_ID_MA)
    }

    /// `REPORTED_TCB`: the TCB the VCEK was derived from.
    pub fn reported_tcb(&self) -> TcbVersion {
        self.tcb_at(REPORTED_TCB)
    }

    /// `CPUID_FAM_ID`, `CPUID_MOD_ID`, `CPUID_STEP` (version 3 and later).
    pub fn cpuid(&self) -> Option<Cpuid> {
        (self.version() >= 3).then(|| Cpuid {
            family: self.bytes[CPUID_FAM_ID],
            model: self.bytes[CPUID_MOD_ID],
            stepping: self.bytes[CPUID_STEP],
        })
    }

    /// `CHIP_ID`: all zero when the platform masks it (`MASK_CHIP_ID`).
    pub fn chip_id(&self) -> [u8; 64] {
        array(&self.bytes, CHIP_ID)
    }

    /// Whether `CHIP_ID` is all zero (masked by the platform's `MASK_CHIP_ID`).
    pub fn chip_id_masked(&self) -> bool {
        self.bytes[CHIP_ID..CHIP_ID + 64].iter().all(|b| *b == 0)
    }

    /// `COMMITTED_TCB`.
    pub fn committed_tcb(&self) -> TcbVersion {
        self.tcb_at(COMMITTED_TCB)
    }

    /// `CURRENT_BUILD`, `CURRENT_MINOR`, `CURRENT_MAJOR`.
    pub fn current_firmware(&self) -> FirmwareVersion {
        self.firmware_at(CURRENT_FW)
    }

    /// `COMMITTED_BUILD`, `COMMITTED_MINOR`, `COMMITTED_MAJOR`.
    pub fn committed_firmware(&self) -> FirmwareVersion {
        self.firmware_at(COMMITTED_FW)
    }

    fn firmware_at(&self, offset: usize) -> FirmwareVersion {
        FirmwareVersion {
            build: self.bytes[offset],
            minor: self.bytes[offset + 1],
            major: self.bytes[offset + 2],
        }
    }

    /// `LAUNCH_TCB`.
    pub fn launch_tcb(&self) -> TcbVersion {
        self.tcb_at(LAUNCH_TCB)
    }

    /// `LAUNCH_MIT_VECTOR` (version 5 and later).
    pub fn launch_mit_vector(&self) -> Option<u64> {
        (self.version() >= 5).then(|| self.u64_at(LAUNCH_MIT_VECTOR))
    }

    /// `CURRENT_MIT_VECTOR` (version 5 and later).
    pub fn current_mit_vector(&self) -> Option<u64> {
        (self.version() >= 5).then(|| self.u64_at(CURRENT_MIT_VECTOR))
    }

    /// The signature as big-endian P-384 `r` and `s`: each is stored as 72
    /// little-endian bytes, of which the top 24 must be zero. `None` when
    /// they are not.
    pub fn signature(&self) -> Option<Signature> {
        let component = |offset: usize| -> Option<Vec<u8>> {
            let le = &self.bytes[offset..offset + SIG_COMPONENT_LEN];
            let (low, high) = le.split_at(P384_LEN);
            if high.iter().any(|b| *b != 0) {
                return None;
            }
            Some(low.iter().rev().copied().collect())
        };
        Some(Signature::Ecdsa {
            r: component(SIG_R)?,
            s: component(SIG_S)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcb_layout_depends_on_the_product_line() {
        let raw = u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]);
        let milan = TcbVersion::decode(raw, ProductLine::Milan);
        assert_eq!(
            (milan.fmc, milan.bootloader, milan.tee, milan.snp, milan.microcode),
            (None, 1, 2, 7, 8)
        );
        let turin = TcbVersion::decode(raw, ProductLine::Turin);
        assert_eq!(
            (turin.fmc, turin.bootloader, turin.tee, turin.snp, turin.microcode),
            (Some(1), 2, 3, 4, 8)
        );
    }

    #[test]
    fn cpuid_names_the_product_line() {
        let line = |family, model| {
            Cpuid {
                family,
                model,
                stepping: 0,
            }
            .product_line()
        };
        assert_eq!(line(0x19, 0x01), Some(ProductLine::Milan));
        assert_eq!(line(0x19, 0x11), Some(ProductLine::Genoa));
        assert_eq!(line(0x19, 0xA0), Some(ProductLine::Genoa));
        assert_eq!(line(0x1A, 0x02), Some(ProductLine::Turin));
        assert_eq!(line(0x19, 0x50), None);
        assert_eq!(line(0x17, 0x01), None);
    }

    #[test]
    fn migrate_ma_is_policy_bit_18() {
        assert!(GuestPolicy(1 << 18).migrate_ma_allowed());
        assert!(!GuestPolicy(1 << 19).migrate_ma_allowed());
        // 0x30000, the usual base policy (bits 16-17), allows neither.
        assert!(!GuestPolicy(0x3_0000).migrate_ma_allowed() && !GuestPolicy(0x3_0000).debug_allowed());
    }

    #[test]
    fn debug_is_policy_bit_19() {
        assert!(GuestPolicy(0x3_0000 | 1 << 19).debug_allowed());
        assert!(!GuestPolicy(0x3_001f).debug_allowed());
    }

    #[test]
    fn turin_reports_decode_tcb_in_the_turin_layout() {
        let mut bytes = vec![0u8; REPORT_LEN];
        bytes[0] = 3;
        (bytes[CPUID_FAM_ID], bytes[CPUID_MOD_ID]) = (0x1A, 0x02);
        bytes[REPORTED_TCB..REPORTED_TCB + 8].copy_from_slice(&[1, 2, 3, 4, 0, 0, 0, 9]);
        let report = SnpReport::parse(&bytes).ok();
        let tcb = report.map(|r| r.reported_tcb());
        assert_eq!(
            tcb.map(|t| (t.fmc, t.bootloader, t.snp, t.microcode)),
            Some((Some(1), 2, 4, 9))
        );
    }
}
