//! `TPM_ALG_ID` values used by the parsers (TPM 2.0 Part 2, 6.3).

/// `TPM_ALG_RSA`.
pub const RSA: u16 = 0x0001;
/// `TPM_ALG_NULL`.
pub const NULL: u16 = 0x0010;
/// `TPM_ALG_RSASSA`.
pub const RSASSA: u16 = 0x0014;
/// `TPM_ALG_RSAES`.
pub const RSAES: u16 = 0x0015;
/// `TPM_ALG_RSAPSS`.
pub const RSAPSS: u16 = 0x0016;
/// `TPM_ALG_OAEP`.
pub const OAEP: u16 = 0x0017;
/// `TPM_ALG_ECDSA`.
pub const ECDSA: u16 = 0x0018;
/// `TPM_ALG_ECDH`.
pub const ECDH: u16 = 0x0019;
/// `TPM_ALG_ECDAA`.
pub const ECDAA: u16 = 0x001A;
/// `TPM_ALG_ECC`.
pub const ECC: u16 = 0x0023;
