//! Parsing: a DCAP v4 TDX quote into typed parts, with a bounded reader
//! that names the field it was reading and rejects trailing bytes.

use blindfold_x509::{parse_certificates, Certificate};

use crate::error::Error;

/// Length of the quote header.
pub const HEADER_LEN: usize = 48;
/// Length of a TD 1.0 report body.
pub const TD_REPORT_BODY_LEN: usize = 584;
/// Length of an SGX report body (the QE report).
pub const QE_REPORT_LEN: usize = 384;
/// Quote version this crate parses.
pub const QUOTE_VERSION: u16 = 4;
/// Attestation key type ECDSA-256-with-P-256.
pub const ATTESTATION_KEY_TYPE_ECDSA_P256: u16 = 2;
/// TEE type of a TDX quote (0x00 is SGX).
pub const TEE_TYPE_TDX: u32 = 0x81;
/// Certification data type: QE report certification data.
pub const CERT_DATA_QE_REPORT: u16 = 6;
/// Certification data type: PCK certificate chain (PEM).
pub const CERT_DATA_PCK_CHAIN: u16 = 5;

/// A bounded reader over a byte slice: every read names its field, and
/// [`Reader::finish`] refuses left-over bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Error> {
        if self.bytes.len() < n {
            return Err(Error::Truncated {
                field,
                needed: n,
                available: self.bytes.len(),
            });
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A reader over the next `len` bytes.
    fn sub(&mut self, len: usize, field: &'static str) -> Result<Reader<'a>, Error> {
        Ok(Reader::new(self.take(len, field)?))
    }

    /// Consumes the rest when it is all zero bytes (returning how many);
    /// anything else is [`Error::TrailingBytes`].
    fn zero_padding(self, field: &'static str) -> Result<usize, Error> {
        if self.bytes.iter().all(|b| *b == 0) {
            Ok(self.bytes.len())
        } else {
            Err(Error::TrailingBytes {
                field,
                count: self.bytes.len(),
            })
        }
    }

    fn finish(self, field: &'static str) -> Result<(), Error> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes {
                field,
                count: self.bytes.len(),
            })
        }
    }
}

/// Widens a length field read from the quote. u32 fits usize on every
/// target this crate builds for; were it not to, usize::MAX makes the
/// following read fail as a truncation of that field.
fn len32(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// The 48-byte quote header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteHeader {
    /// Quote format version (4).
    pub version: u16,
    /// Attestation key type (2: ECDSA-256-with-P-256).
    pub attestation_key_type: u16,
    /// TEE type (0x81: TDX).
    pub tee_type: u32,
    /// QE security version (reserved in TDX v4 quotes).
    pub qe_svn: u16,
    /// PCE security version (reserved in TDX v4 quotes).
    pub pce_svn: u16,
    /// Vendor of the quoting enclave (Intel's is 939a7233f79c4ca9940a0db3957f0607).
    pub qe_vendor_id: [u8; 16],
    /// Custom data from the quoting enclave (platform identifier).
    pub user_data: [u8; 20],
}

/// TD_ATTRIBUTES, a 64-bit little-endian bit field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TdAttributes(pub u64);

impl TdAttributes {
    /// Bit 0: the TD runs in debug mode (its memory is readable by the host).
    pub fn debug(&self) -> bool {
        self.0 & 1 == 1
    }
}

/// The TD report (TD 1.0 layout, 584 bytes): what the TD measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdReportBody {
    /// TEE TCB security versions.
    pub tee_tcb_svn: [u8; 16],
    /// Measurement of the TDX module.
    pub mr_seam: [u8; 48],
    /// Signer of the TDX module (zero for Intel's).
    pub mr_signer_seam: [u8; 48],
    /// TDX module attributes.
    pub seam_attributes: [u8; 8],
    /// TD attributes (debug bit and others).
    pub td_attributes: TdAttributes,
    /// Extended features allowed in the TD (XFAM).
    pub xfam: [u8; 8],
    /// Measurement of the initial TD contents (MRTD).
    pub mr_td: [u8; 48],
    /// Software-defined configuration ID.
    pub mr_config_id: [u8; 48],
    /// Software-defined owner ID.
    pub mr_owner: [u8; 48],
    /// Software-defined owner configuration.
    pub mr_owner_config: [u8; 48],
    /// Runtime measurement registers 0–3.
    pub rtmr: [[u8; 48]; 4],
    /// Data the TD bound into the report.
    pub report_data: [u8; 64],
}

/// The quoting enclave's SGX report body (384 bytes), signed by the PCK key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QeReport {
    /// CPU security version.
    pub cpu_svn: [u8; 16],
    /// MISCSELECT.
    pub misc_select: u32,
    /// Enclave attributes.
    pub attributes: [u8; 16],
    /// Measurement of the QE.
    pub mr_enclave: [u8; 32],
    /// Hash of the QE signer's key.
    pub mr_signer: [u8; 32],
    /// Product ID of the QE.
    pub isv_prod_id: u16,
    /// Security version of the QE.
    pub isv_svn: u16,
    /// SHA-256(attestation key || QE auth data) || 32 zero bytes.
    pub report_data: [u8; 64],
    raw: Vec<u8>,
}

impl QeReport {
    /// The 384 bytes the PCK key signed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }
}

/// The quote's signature data (ECDSA P-256, certification data type 6).
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteSignatureData {
    /// ECDSA signature `r || s` (big-endian) over header || TD report.
    pub signature: [u8; 64],
    /// The attestation public key `x || y` (big-endian).
    pub attestation_key: [u8; 64],
    /// The QE report.
    pub qe_report: QeReport,
    /// ECDSA signature `r || s` over the QE report, by the PCK key.
    pub qe_report_signature: [u8; 64],
    /// QE authentication data, hashed into the QE report's report_data.
    pub qe_auth_data: Vec<u8>,
    /// The PCK certificate chain as carried (leaf first); not trusted by itself.
    pub pck_chain: Vec<Certificate>,
}

/// A parsed (not verified) TDX quote.
#[derive(Debug, Clone, PartialEq)]
pub struct TdQuote {
    /// The header.
    pub header: QuoteHeader,
    /// The TD report.
    pub body: TdReportBody,
    /// Signature, attestation key, QE report and PCK chain.
    pub signature_data: QuoteSignatureData,
    /// Header || body exactly as received: the bytes the attestation key signed.
    signed: Vec<u8>,
    /// Zero bytes after the signature data.
    padding: usize,
}

impl TdQuote {
    /// Parses a DCAP v4 TDX quote: header (version 4, ECDSA P-256 key,
    /// TEE type 0x81), TD 1.0 report, signature data length, signature
    /// data (signature, attestation key, QE report certification data with
    /// a PEM PCK chain). Every length is checked; trailing bytes inside the
    /// signature data are an error. After the signature data only zero
    /// bytes may follow: quotes read from a fixed-size buffer carry them
    /// (Azure's TD quotes do; the sample has 70), they are signed by no
    /// one and counted in [`TdQuote::padding_len`]; a non-zero byte there
    /// is [`Error::TrailingBytes`].
    pub fn parse(bytes: &[u8]) -> Result<TdQuote, Error> {
        let mut r = Reader::new(bytes);
        let header = parse_header(r.sub(HEADER_LEN, "header")?)?;
        let body = parse_body(r.sub(TD_REPORT_BODY_LEN, "TD report")?)?;
        // Both reads above succeeded, so the quote is at least this long.
        let signed = bytes.get(..HEADER_LEN + TD_REPORT_BODY_LEN).unwrap_or_default();

        let sig_len = len32(r.u32("signature data length")?);
        let sig = r.sub(sig_len, "signature data")?;
        let padding = r.zero_padding("signature data")?;
        let signature_data = parse_signature_data(sig)?;
        Ok(TdQuote {
            header,
            body,
            signature_data,
            signed: signed.to_vec(),
            padding,
        })
    }

    /// Zero bytes that followed the signature data (see [`TdQuote::parse`]).
    pub fn padding_len(&self) -> usize {
        self.padding
    }

    /// Header || TD report as received (the bytes the quote signature covers).
    pub fn signed_bytes(&self) -> &[u8] {
        &self.signed
    }
}

fn parse_header(mut r: Reader<'_>) -> Result<QuoteHeader, Error> {
    let version = r.u16("header.version")?;
    if version != QUOTE_VERSION {
        return Err(Error::UnsupportedVersion { version });
    }
    let attestation_key_type = r.u16("header.attestation_key_type")?;
    if attestation_key_type != ATTESTATION_KEY_TYPE_ECDSA_P256 {
        return Err(Error::UnsupportedAttestationKeyType {
            actual: attestation_key_type,
        });
    }
    let tee_type = r.u32("header.tee_type")?;
    if tee_type != TEE_TYPE_TDX {
        return Err(Error::NotTdx { tee_type });
    }
    let header = QuoteHeader {
        version,
        attestation_key_type,
        tee_type,
        qe_svn: r.u16("header.qe_svn")?,
        pce_svn: r.u16("header.pce_svn")?,
        qe_vendor_id: r.array("header.qe_vendor_id")?,
        user_data: r.array("header.user_data")?,
    };
    r.finish("header")?;
    Ok(header)
}

fn parse_body(mut r: Reader<'_>) -> Result<TdReportBody, Error> {
    let body = TdReportBody {
        tee_tcb_svn: r.array("TD report.tee_tcb_svn")?,
        mr_seam: r.array("TD report.mr_seam")?,
        mr_signer_seam: r.array("TD report.mr_signer_seam")?,
        seam_attributes: r.array("TD report.seam_attributes")?,
        td_attributes: TdAttributes(r.u64("TD report.td_attributes")?),
        xfam: r.array("TD report.xfam")?,
        mr_td: r.array("TD report.mr_td")?,
        mr_config_id: r.array("TD report.mr_config_id")?,
        mr_owner: r.array("TD report.mr_owner")?,
        mr_owner_config: r.array("TD report.mr_owner_config")?,
        rtmr: [
            r.array("TD report.rtmr0")?,
            r.array("TD report.rtmr1")?,
            r.array("TD report.rtmr2")?,
            r.array("TD report.rtmr3")?,
        ],
        report_data: r.array("TD report.report_data")?,
    };
    r.finish("TD report")?;
    Ok(body)
}

fn parse_qe_report(raw: &[u8]) -> Result<QeReport, Error> {
    let mut r = Reader::new(raw);
    let cpu_svn = r.array("QE report.cpu_svn")?;
    let misc_select = r.u32("QE report.misc_select")?;
    r.take(28, "QE report.reserved1")?;
    let attributes = r.array("QE report.attributes")?;
    let mr_enclave = r.array("QE report.mr_enclave")?;
    r.take(32, "QE report.reserved2")?;
    let mr_signer = r.array("QE report.mr_signer")?;
    r.take(96, "QE report.reserved3")?;
    let isv_prod_id = r.u16("QE report.isv_prod_id")?;
    let isv_svn = r.u16("QE report.isv_svn")?;
    r.take(60, "QE report.reserved4")?;
    let report_data = r.array("QE report.report_data")?;
    r.finish("QE report")?;
    Ok(QeReport {
        cpu_svn,
        misc_select,
        attributes,
        mr_enclave,
        mr_signer,
        isv_prod_id,
        isv_svn,
        report_data,
        raw: raw.to_vec(),
    })
}

fn parse_signature_data(mut r: Reader<'_>) -> Result<QuoteSignatureData, Error> {
    let signature = r.array("quote signature")?;
    let attestation_key = r.array("attestation key")?;
    let cert_type = r.u16("certification data type")?;
    if cert_type != CERT_DATA_QE_REPORT {
        return Err(Error::UnsupportedCertificationDataType {
            field: "certification data",
            expected: CERT_DATA_QE_REPORT,
            actual: cert_type,
        });
    }
    let cert_len = len32(r.u32("certification data size")?);
    let mut cert = r.sub(cert_len, "certification data")?;
    r.finish("certification data")?;

    let qe_report = parse_qe_report(cert.take(QE_REPORT_LEN, "QE report")?)?;
    let qe_report_signature = cert.array("QE report signature")?;
    let auth_len = usize::from(cert.u16("QE auth data size")?);
    let qe_auth_data = cert.take(auth_len, "QE auth data")?.to_vec();
    let inner_type = cert.u16("QE certification data type")?;
    if inner_type != CERT_DATA_PCK_CHAIN {
        return Err(Error::UnsupportedCertificationDataType {
            field: "QE certification data",
            expected: CERT_DATA_PCK_CHAIN,
            actual: inner_type,
        });
    }
    let chain_len = len32(cert.u32("QE certification data size")?);
    let pem = cert.take(chain_len, "PCK certificate chain")?;
    cert.finish("QE certification data")?;
    let pck_chain = parse_certificates(pem).map_err(Error::PckCertificates)?;
    Ok(QuoteSignatureData {
        signature,
        attestation_key,
        qe_report,
        qe_report_signature,
        qe_auth_data,
        pck_chain,
    })
}
